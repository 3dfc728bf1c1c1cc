"""Leaderboard merge, ranking, replacement by newer runs, and refusal of bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import leaderboard, results
from harness.errors import DataError
from tests.conftest import evaluate_once


@pytest.fixture(scope="module")
def runs(cache_dir, tmp_path_factory):
    """Results files of three baselines on the same task."""
    out = tmp_path_factory.mktemp("board-runs")
    for model in ("majority", "prior", "uniform"):
        evaluate_once(out / model, model=model)
    return {m: next((out / m).glob("results_*.json")) for m in ("majority", "prior", "uniform")}


def measured(board: dict) -> list[dict]:
    return [r for r in board["rows"] if r.get("kind", "measured") == "measured"]


def test_tracked_board_is_valid():
    board = results.load(Path(__file__).parent.parent / "leaderboard" / "leaderboard.json", "leaderboard")
    assert board["schema_version"] == 1


def test_merge_ranks_by_uar_and_a_newer_run_replaces_an_older_one(runs, tmp_path):
    board_path = tmp_path / "board.json"
    board, added = leaderboard.add(board_path, list(runs.values()))
    assert added == 3 and len(measured(board)) == 3
    uars = [r["uar"] for r in measured(board)]
    assert uars == sorted(uars, reverse=True)
    results.load(board_path, "leaderboard")

    newer = json.loads(runs["majority"].read_text())
    newer["created_at"] = "2999-01-01T00:00:00+00:00"
    newer["run_id"] = "newer"
    newer_path = tmp_path / "newer.json"
    newer_path.write_text(json.dumps(newer))
    board, _ = leaderboard.add(board_path, [newer_path])
    assert len(measured(board)) == 3
    majority = [r for r in board["rows"] if r["model"] == "majority"]
    assert [r["run_id"] for r in majority] == ["newer"]
    # Adding the older file again does not bring the old row back.
    board, _ = leaderboard.add(board_path, [runs["majority"]])
    assert [r["run_id"] for r in board["rows"] if r["model"] == "majority"] == ["newer"]

    table = leaderboard.table(board)
    assert "UAR" in table and "majority" in table and "uniform8" in table


def test_a_different_frame_protocol_is_a_different_row(runs, tmp_path):
    other = json.loads(runs["prior"].read_text())
    for task in other["tasks"].values():
        task["frame_protocol"]["name"] = "uniform16"
        task["frame_protocol"]["num_frames"] = 16
    path = tmp_path / "other.json"
    path.write_text(json.dumps(other))
    board, _ = leaderboard.add(tmp_path / "board.json", [runs["prior"], path])
    assert sorted(r["frame_protocol"] for r in measured(board)) == ["uniform16", "uniform8"]


def test_an_invalid_results_file_is_refused_and_the_board_is_unchanged(runs, tmp_path, run_cli):
    board_path = tmp_path / "board.json"
    leaderboard.add(board_path, [runs["majority"]])
    before = board_path.read_bytes()
    bad = json.loads(runs["uniform"].read_text())
    next(iter(bad["tasks"].values()))["metrics"]["uar"] = "high"
    bad_path = tmp_path / "bad.json"
    bad_path.write_text(json.dumps(bad))
    with pytest.raises(DataError, match=r"bad\.json.*metrics\.uar"):
        leaderboard.add(board_path, [runs["prior"], bad_path])
    assert board_path.read_bytes() == before
    r = run_cli("leaderboard", "add", str(runs["prior"]), str(bad_path), "--board", str(board_path))
    assert r.code == 1 and "bad.json" in r.err
    assert board_path.read_bytes() == before


def test_cli_add_and_show(runs, tmp_path, run_cli):
    board_path = tmp_path / "b.json"
    r = run_cli("leaderboard", "add", *map(str, runs.values()), "--board", str(board_path))
    assert r.code == 0 and "3 row(s)" in r.out
    r = run_cli("leaderboard", "show", "--board", str(board_path))
    assert r.code == 0
    lines = [line for line in r.out.splitlines() if "synthetic" in line and "[baseline]" not in line]
    assert len(lines) == 3 and lines[0].split()[1] == "1"


def test_partial_runs_are_refused_and_never_replace_a_complete_row(runs, tmp_path, cache_dir):
    board_path = tmp_path / "board.json"
    leaderboard.add(board_path, [runs["majority"]])
    before = board_path.read_bytes()
    limited = evaluate_once(tmp_path / "limited", model="majority", limit=12)
    limited_path = next((tmp_path / "limited").glob("results_*.json"))
    shard = evaluate_once(tmp_path / "shard", model="majority", shard=(1, 4))
    shard_path = next((tmp_path / "shard").glob("results_*.json"))
    assert limited and shard
    for path, reason in ((limited_path, "--limit 12"), (shard_path, "shard 1/4")):
        with pytest.raises(DataError, match=f"partial run.*{reason}"):
            leaderboard.add(board_path, [path])
        assert board_path.read_bytes() == before
    # Allowed explicitly: the shard's row is marked partial and does not touch the complete row
    board, added = leaderboard.add(board_path, [shard_path], allow_partial=True)
    assert added == 0 and len(measured(board)) == 1 and not measured(board)[0]["partial"]
    other = tmp_path / "other.json"
    board, added = leaderboard.add(other, [limited_path], allow_partial=True)
    assert added == 1 and measured(board)[0]["partial"] and "(partial)" in leaderboard.table(board)


def test_the_row_key_includes_the_task_fingerprint(runs, tmp_path):
    relabelled = json.loads(runs["majority"].read_text())
    for task in relabelled["tasks"].values():
        task["fingerprint"] = "0" * 16  # other annotations, same task name and protocol
    path = tmp_path / "relabelled.json"
    path.write_text(json.dumps(relabelled))
    board, _ = leaderboard.add(tmp_path / "board.json", [runs["majority"], path])
    assert len(measured(board)) == 2


def test_uar_over_fewer_classes_is_marked(cache_dir, tmp_path):
    evaluate_once(tmp_path / "few", model="majority", limit=8)  # some classes have no samples
    path = next((tmp_path / "few").glob("results_*.json"))
    board, _ = leaderboard.add(tmp_path / "b.json", [path], allow_partial=True)
    row = measured(board)[0]
    assert row["classes_evaluated"] < row["classes_total"] == 7
    assert f"* ({row['classes_evaluated']}/7 classes)" in leaderboard.table(board)


_PUBLISH = """
import sys
from harness import leaderboard
for path in sys.argv[2:]:
    leaderboard.add(sys.argv[1], [path])
"""


def test_two_publishing_processes_never_lose_a_row(runs, tmp_path):
    import subprocess
    import sys

    groups = []
    for model in ("majority", "prior"):
        group = []
        for j in range(20):  # distinct rows: each copy under another task name, added once
            doc = json.loads(runs[model].read_text())
            doc["tasks"] = {f"{k}-{j}": {**v, "spec": f"{v['spec']}-{j}"} for k, v in doc["tasks"].items()}
            path = tmp_path / f"{model}-{j}.json"
            path.write_text(json.dumps(doc))
            group.append(str(path))
        groups.append(group)
    board = tmp_path / "shared.json"
    procs = [subprocess.Popen([sys.executable, "-c", _PUBLISH, str(board), *group]) for group in groups]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    rows = measured(results.load(board, "leaderboard"))
    assert len(rows) == 40  # every row survived the concurrent read-modify-writes


REPORTED = Path(__file__).parent.parent / "leaderboard" / "reported.yaml"
REPORTED_SOURCES = Path(__file__).parent.parent / "leaderboard" / "reported_sources.yaml"


def _read_off(check: dict, excerpt: str) -> tuple[str, str]:
    """UAR and WAR as the source writes them, read off the verbatim excerpt as the check says."""
    lines = excerpt.splitlines()
    if check["kind"] == "log":
        start = next(i for i, line in enumerate(lines) if check["section"] in line)
        at = next(i for i in range(start + 1, len(lines)) if lines[i].strip() == check["label"])
        uar, war = lines[at + 1].strip().removeprefix("UAR/WAR: ").split("/")
        return uar, war
    if check["kind"] == "text":
        import re

        def find(phrase: str) -> str:
            pattern = re.escape(phrase).replace(r"\{\}", r"([0-9]+\.[0-9]+)")
            return re.search(pattern, excerpt).group(1)

        return find(check["uar"]), find(check["war"])
    assert check["kind"] == "table", check
    table = [[c.strip().strip("*").strip() for c in line.strip().strip("|").split("|")]
             for line in lines if line.lstrip().startswith("|")]
    header = next(r for r in table if check["uar"] in r and check["war"] in r)
    (row,) = [r for r in table if r[0] == check["row"]]
    return row[header.index(check["uar"])], row[header.index(check["war"])]


def _source_mismatches(rows: list[dict], sources: dict) -> list[str]:
    checks = {(c["model"], c["task"], c["source"]): c for c in sources["checks"]}
    problems = []
    for r in rows:
        key = (r["model"], r["task"], r["source"])
        if key not in checks:
            problems.append(f"{key}: no check against its source")
            continue
        uar, war = _read_off(checks.pop(key), sources["sources"][r["source"]]["excerpt"])
        if (f"{r['uar']:.2f}", f"{r['war']:.2f}") != (uar, war):
            problems.append(f"{key}: row says {r['uar']:.2f} / {r['war']:.2f}, source says {uar} / {war}")
    problems += [f"{key}: check without a row" for key in checks]
    return problems


def test_reported_rows_say_what_their_sources_say(tmp_path):
    import yaml

    rows = yaml.safe_load(REPORTED.read_text(encoding="utf-8"))["reported"]
    sources = yaml.safe_load(REPORTED_SOURCES.read_text(encoding="utf-8"))
    assert _source_mismatches(rows, sources) == []
    assert {r["source"] for r in rows} == set(sources["sources"])
    # The file loads into a board as it is, one reported row each.
    board, added = leaderboard.add_reported(tmp_path / "b.json", REPORTED)
    assert added == len(rows) == len([r for r in board["rows"] if r["kind"] == "reported"])
    # A row that claims any other number than its source's is caught, whichever source it cites.
    for i, r in enumerate(rows):
        for field in ("uar", "war"):
            wrong = [dict(x) for x in rows]
            wrong[i][field] = round(r[field] + 0.01, 2)
            assert len(_source_mismatches(wrong, sources)) == 1, (r["model"], r["task"], field)
    missing = [dict(x, model=x["model"] + " (other)") if j == 0 else x for j, x in enumerate(rows)]
    assert len(_source_mismatches(missing, sources)) == 2  # the row has no check; its check has no row


def test_reported_rows_state_what_each_figure_is():
    import yaml

    rows = yaml.safe_load(REPORTED.read_text(encoding="utf-8"))["reported"]
    for r in rows:
        if r["model"] == "HumanOmni-0.5B":  # R1-Omni's README marks the sets in-distribution, no more
            assert "not trained" not in r["protocol"] and "in-distribution" in r["protocol"]
        if r["model"].startswith("Exp-CLIP"):  # the run log, not the paper's table
            assert "Run-log figure, not the paper's table" in r["notes"]
        if r["source"] == "HumanMLLM/HumanOmni:README.md":
            assert "does not say whether the evaluation is zero-shot" in r["protocol"]
