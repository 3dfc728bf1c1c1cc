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


def test_runs_under_different_backend_releases_are_two_rows_each_showing_its_release(runs, tmp_path):
    """transformers 5.10-5.24 showed Qwen3-VL another prompt than 5.25: such runs never merge silently."""
    paths = []
    for version in ("5.24.0", "5.25.0"):
        doc = json.loads(runs["majority"].read_text())
        doc["model"]["identity"]["engine"] = "hf"
        doc["model"].setdefault("provenance", {})["transformers"] = version
        doc["run_id"] = f"run-{version}"
        paths.append(tmp_path / f"{version}.json")
        paths[-1].write_text(json.dumps(doc))
    board, _ = leaderboard.add(tmp_path / "board.json", paths)
    assert sorted(r["backend_version"] for r in measured(board)) == ["5.24.0", "5.25.0"]
    table = leaderboard.table(board)
    assert "(hf 5.24.0)" in table and "(hf 5.25.0)" in table


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


# --- every row states its input modality (issue 23, item 6) ---


def with_audio(source: Path, folder: Path, name: str = "audio.json", rate: int = 16000, rename: bool = True) -> Path:
    """The results file of ``source`` as an ``--audio on`` run writes it: ``config.audio`` on, each task's
    frame protocol with ``audio_rate`` and ``+audio16k`` in its name (the same answers: only the record)."""
    document = json.loads(source.read_text())
    document["config"]["audio"] = "on"
    document["run_id"] += "-audio"
    for task in document["tasks"].values():
        task["frame_protocol"]["audio_rate"] = rate
        if rename:
            task["frame_protocol"]["name"] += f"+audio{rate / 1000:g}k"
    path = folder / name
    path.write_text(json.dumps(document))
    results.load(path)  # a valid results file
    return path


def test_an_audio_run_is_a_video_audio_row_apart_from_its_pictures_only_twin(runs, tmp_path, run_cli):
    audio = with_audio(runs["prior"], tmp_path)
    board_path = tmp_path / "board.json"
    board, added = leaderboard.add(board_path, [runs["prior"], audio])
    rows = measured(board)
    assert added == 2 and len(rows) == 2  # same model, task, prompt and frames: only the sound differs
    by_modality = {r["modality"]: r for r in rows}
    assert set(by_modality) == {"video", "video+audio"}
    assert by_modality["video"]["frame_protocol"] == "uniform8"
    assert by_modality["video+audio"]["frame_protocol"] == "uniform8+audio16k"
    assert by_modality["video"]["key"] != by_modality["video+audio"]["key"]
    # every row states it; baselines (one pair per task, shared by both) take no input
    assert all("modality" in r for r in board["rows"])
    assert [r["modality"] for r in board["rows"] if r["kind"] == "baseline"] == [None, None]
    assert results.load(board_path, "leaderboard") == leaderboard.load_board(board_path)
    # a newer audio run replaces the audio row only
    newer = json.loads(audio.read_text())
    newer.update(created_at="2999-01-01T00:00:00+00:00", run_id="newer-audio")
    (tmp_path / "newer.json").write_text(json.dumps(newer))
    board, added = leaderboard.add(board_path, [tmp_path / "newer.json"])
    assert added == 1 and {r["modality"]: r["run_id"] for r in measured(board)} == {
        "video": json.loads(runs["prior"].read_text())["run_id"], "video+audio": "newer-audio"}
    r = run_cli("leaderboard", "show", "--board", str(board_path))
    assert r.code == 0 and "uniform8+audio16k" in r.out


def test_a_partial_audio_run_does_not_compete_with_a_complete_pictures_only_row(runs, tmp_path, cache_dir):
    board_path = tmp_path / "board.json"
    leaderboard.add(board_path, [runs["majority"]])
    evaluate_once(tmp_path / "limited", model="majority", limit=12)
    partial = with_audio(next((tmp_path / "limited").glob("results_*.json")), tmp_path)
    board, added = leaderboard.add(board_path, [partial], allow_partial=True)
    assert added == 1 and sorted((r["modality"], r["partial"]) for r in measured(board)) == [
        ("video", False), ("video+audio", True)]


@pytest.mark.parametrize("rename, rate", [(False, 16000), (True, None)])
def test_a_protocol_whose_name_and_audio_rate_disagree_is_refused(runs, tmp_path, rename, rate):
    document = json.loads(runs["prior"].read_text())
    for task in document["tasks"].values():
        if rate:
            task["frame_protocol"]["audio_rate"] = rate
        if rename:
            task["frame_protocol"]["name"] += "+audio16k"
    path = tmp_path / "disagrees.json"
    path.write_text(json.dumps(document))
    board_path = tmp_path / "board.json"
    leaderboard.add(board_path, [runs["majority"]])
    before = board_path.read_bytes()
    with pytest.raises(DataError, match=r"disagrees\.json: frame protocol 'uniform8.*disagree on whether the sound"):
        leaderboard.add(board_path, [path])
    assert board_path.read_bytes() == before


def test_rows_of_an_older_board_gain_their_modality_when_it_is_known(runs, tmp_path):
    board_path = tmp_path / "board.json"
    leaderboard.add(board_path, [runs["prior"], with_audio(runs["prior"], tmp_path)])
    leaderboard.add_reported(board_path, REPORTED)
    old = json.loads(board_path.read_text())
    for row in old["rows"]:
        del row["modality"]  # a board written before rows stated it
    board_path.write_text(json.dumps(old))
    board = leaderboard.load_board(board_path)
    assert sorted(r["modality"] for r in measured(board)) == ["video", "video+audio"]
    assert {r["modality"] for r in board["rows"] if r["kind"] == "baseline"} == {None}
    assert all("modality" not in r for r in board["rows"] if r["kind"] == "reported")  # not guessed
    # reporting the file again replaces its rows (keyed without the modality then) instead of doubling them
    board, added = leaderboard.add_reported(board_path, REPORTED)
    reported = [r for r in board["rows"] if r["kind"] == "reported"]
    assert len(reported) == added == 18 and all(r["modality"] in leaderboard.MODALITIES for r in reported)


def _reported_file(folder: Path, *entries: dict) -> Path:
    import yaml

    base = {"model": "X", "task": "dfew", "uar": 40.0, "war": 50.0, "source": "org/repo:README.md",
            "protocol": "zero-shot", "input": "video and audio", "modality": "video+audio",
            "trained_on": "zero-shot", "trained_on_words": "zero-shot", "answer_mapping": "generated",
            "status": "as stated"}
    rows = [{k: v for k, v in {**base, **e}.items() if v is not ...} for e in entries]  # ...: left out
    path = folder / "reported.yaml"
    path.write_text(yaml.safe_dump({"reported": rows}, allow_unicode=True))
    return path


def test_a_reported_row_without_a_known_modality_is_refused_with_the_fix(tmp_path, run_cli):
    board_path = tmp_path / "b.json"
    leaderboard.add_reported(board_path, _reported_file(tmp_path, {}))
    before = board_path.read_bytes()
    for modality, expected in ((..., "'modality' is a required property"), (None, "None is not one of"),
                               ("audio-visual", "'audio-visual' is not one of")):
        path = _reported_file(tmp_path, {"model": "Fine"}, {"model": "Y", "task": "mafw", "modality": modality})
        with pytest.raises(DataError) as err:
            leaderboard.add_reported(board_path, path)
        message = str(err.value)
        assert message.startswith(f"{path}: $.reported[1]") and "(row 2: Y on mafw)" in message, message
        assert expected in message and "Give the row `modality:`" in message, message
        assert all(word in message for word in leaderboard.MODALITIES)
        assert board_path.read_bytes() == before
        r = run_cli("leaderboard", "report", "--file", str(path), "--board", str(board_path))
        assert r.code == 1 and "(row 2: Y on mafw)" in r.err and "Traceback" not in r.err
    # another field's error names the row too, without the modality's advice
    path = _reported_file(tmp_path, {"status": "guessed"})
    with pytest.raises(DataError, match=r"\$\.reported\[0\]\.status \(row 1: X on dfew\): 'guessed'") as err:
        leaderboard.add_reported(board_path, path)
    assert "modality" not in str(err.value)


def test_reported_rows_differing_only_in_modality_are_two_rows(tmp_path):
    path = _reported_file(tmp_path, {"input": "video frames; no audio", "modality": "video", "uar": 30.0},
                          {"input": "video and audio", "modality": "video+audio"})
    board, added = leaderboard.add_reported(tmp_path / "b.json", path)
    reported = [r for r in board["rows"] if r["kind"] == "reported"]
    assert added == 2 and sorted(r["modality"] for r in reported) == ["video", "video+audio"]
    assert len({r["key"] for r in reported}) == 2


def test_the_modality_vocabulary_is_the_schemas():
    defs = results.schema("leaderboard")["$defs"]
    assert defs["reported_entry"]["properties"]["modality"]["enum"] == list(leaderboard.MODALITIES)
    assert defs["row"]["properties"]["modality"]["enum"] == [*leaderboard.MODALITIES, None]
    assert "modality" in defs["reported_entry"]["required"]


def test_each_reported_rows_modality_is_what_its_input_says():
    """The one word agrees with the row's words: features for pre-extracted features, video+audio where
    the input names the sound (not 'no audio'), video otherwise; a reading beyond the source's words
    is said in the notes."""
    import yaml

    rows = yaml.safe_load(REPORTED.read_text(encoding="utf-8"))["reported"]
    for r in rows:
        words = r["input"].lower()
        expected = ("features" if "features" in words else
                    "video+audio" if "audio" in words and "no audio" not in words else "video")
        assert r["modality"] == expected, (r["model"], r["task"], r["input"], r["modality"])
        if r["source"] == "HumanMLLM/HumanOmni:README.md":  # the table's Modalities column: V or AV
            assert ("Modalities column: AV" in r["input"]) == (r["modality"] == "video+audio"), r["model"]
        if r["model"] in ("Emotion-LLaMA", "R1-Omni-0.5B", "HumanOmni-0.5B"):  # read, not stated per row
            assert r["notes"].startswith(f"Modality '{r['modality']}': "), r["model"]
    assert {r["modality"] for r in rows} == set(leaderboard.MODALITIES)


def test_real_runs_with_and_without_sound_are_two_rows(cache_dir, tmp_path, run_cli):
    """The same model, task, frames and prompt, run with --audio on and off (the synthetic task's clips
    carry a sound track): a video+audio row and a video row, under their own protocol names."""
    paths = []
    for audio in ("on", "off"):
        evaluate_once(tmp_path / audio, model="synthetic-listener", tasks="synthetic:n=7,sound=true", audio=audio)
        paths.append(next((tmp_path / audio).glob("results_*.json")))
    assert json.loads(paths[0].read_text())["config"]["audio"] == "on"
    board_path = tmp_path / "board.json"
    r = run_cli("leaderboard", "add", *map(str, paths), "--board", str(board_path))
    assert r.code == 0 and "2 row(s) added" in r.out, r
    rows = measured(leaderboard.load_board(board_path))
    assert sorted((r["frame_protocol"], r["modality"]) for r in rows) == [
        ("uniform8", "video"), ("uniform8+audio16k", "video+audio")]
