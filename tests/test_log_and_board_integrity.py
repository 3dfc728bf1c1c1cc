"""Issue 33, items 12 and 13: a per-sample row must say what its status implies (no row the schema
accepts may crash ``harness merge``), a board's measured rows must agree with their own confusion
matrix whenever a board is read or published, and a results file forged consistently (counts moved
onto the diagonal, samples beyond the run's split) is refused by ``validate``."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from harness import leaderboard, metrics, parsing, publish, results, samplelog
from harness.errors import DataError
from harness.merge import merge
from tests.conftest import evaluate_once

TASK = "synthetic:n=30,seed=3"


# -- item 12: per-sample rows --------------------------------------------------------------------

@pytest.fixture(scope="module")
def shards(cache_dir, tmp_path_factory) -> list[Path]:
    """Two shards of one run (with their per-sample logs), to merge."""
    out = tmp_path_factory.mktemp("log-shards")
    folders = []
    for i in range(2):
        folder = out / f"shard{i}"
        evaluate_once(folder, model="uniform", log_samples=True, shard=(i, 2))
        folders.append(folder)
    return folders


def log_of(folder: Path) -> Path:
    return next(folder.glob("samples_*.jsonl"))


def copied(shards: list[Path], tmp_path: Path) -> list[Path]:
    out = []
    for folder in shards:
        target = tmp_path / folder.name
        target.mkdir()
        for f in folder.iterdir():
            (target / f.name).write_bytes(f.read_bytes())
        out.append(target)
    return out


def _failed(row: dict) -> None:
    row.update(status="failed", prediction="happy", rule=None, raw=None, error=None)


def _ok_with_error(row: dict) -> None:
    row.update(status="ok", prediction=row["label"], rule="exact", error="model error: timeout")


def _audio(row: dict) -> None:
    row["audio"] = {"present": True, "rate": 16000, "duration": 1.0, "span": [9, 1], "window": True,
                    "source_rate": 48000, "source_channels": 2, "padded_s": 0.0, "aligned": True, "rms": 0.1}


# (change to the first row, what the one-line error must say)
BAD_ROWS = [
    (lambda r: r.update(status="ok", prediction=None, rule="exact", error=None), r"status 'ok'.*prediction is null"),
    (lambda r: r.update(status="ok", prediction="banana", rule="exact", error=None),
     r"prediction 'banana' is not one of the task's classes"),
    (lambda r: r.update(label="banana"), r"label 'banana' is not one of the task's classes"),
    (_failed, r"status 'failed'.*prediction"),
    (lambda r: r.update(status="failed", prediction=None, rule=None, raw=None, error=None),
     r"status 'failed'.*no error"),
    (_ok_with_error, r"status 'ok'.*error"),
    (lambda r: r.update(rule="guess"), r"rule 'guess' is not one of"),
    (_audio, r"audio.span \[9, 1\].*ends before it starts"),
    ("duplicate-index", r"index 0 .*also line 1"),
]


def _break(path: Path, change) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    if change == "duplicate-index":
        first = min(rows, key=lambda r: r["index"])
        other = next(r for r in rows if r is not first)
        rows.remove(first)
        rows.insert(0, first)
        other["index"] = first["index"]
        first["index"] = other["index"] = 0
    else:
        change(rows[0])
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.mark.parametrize("change, message", BAD_ROWS)
def test_a_contradictory_row_is_refused_naming_file_and_line_never_a_traceback(shards, tmp_path, run_cli,
                                                                                change, message):
    folders = copied(shards, tmp_path)
    log = log_of(folders[0])
    _break(log, change)
    document = results.read_json(next(folders[0].glob("results_*.json")))  # load() would read the log too
    task = document["tasks"][TASK]
    with pytest.raises(DataError, match=message):
        results.load(next(folders[0].glob("results_*.json")))
    with pytest.raises(DataError, match=message) as info:
        samplelog.samples_of(next(folders[0].glob("results_*.json")), task, TASK)
    text = str(info.value)
    assert f"{log}:" in text and "\n" not in text
    with pytest.raises(DataError, match=message):
        merge(folders, tmp_path / "merged")
    r = run_cli("merge", *map(str, folders), "--output-path", str(tmp_path / "merged-cli"))
    assert r.code == 1 and "Traceback" not in r.err and log.name in r.err, r
    assert not (tmp_path / "merged-cli").exists() or not list((tmp_path / "merged-cli").glob("results_*"))


def test_every_row_the_harness_writes_passes_and_merges(shards, tmp_path):
    out = merge(shards, tmp_path / "merged")
    rows = samplelog.read_samples(out.sample_paths[TASK], classes=out.document["tasks"][TASK]["classes"])
    assert len(rows) == 30 and {r["status"] for r in rows} <= {"ok", "invalid", "failed"}


def test_the_schema_names_exactly_the_parsers_rules():
    schema = results.schema("samples")
    assert set(schema["properties"]["rule"]["enum"]) == set(parsing.RULES) | {None}


def test_a_row_that_reaches_the_metrics_unchecked_is_a_data_error_not_a_key_error():
    with pytest.raises(DataError, match="label 'banana'"):
        metrics.compute(["banana"], ["happy"], ["ok"], ["happy", "sad"])
    with pytest.raises(DataError, match="prediction 'banana'"):
        metrics.compute(["happy"], ["banana"], ["ok"], ["happy", "sad"])
    with pytest.raises(DataError, match="prediction None"):
        metrics.compute(["happy"], [None], ["ok"], ["happy", "sad"])


def test_merge_refuses_two_shards_holding_the_same_index(shards, tmp_path):
    folders = copied(shards, tmp_path)
    a, b = log_of(folders[0]), log_of(folders[1])
    first = json.loads(a.read_text().splitlines()[0])
    rows_b = [json.loads(line) for line in b.read_text().splitlines()]
    rows_b[0]["index"] = first["index"]
    b.write_text("".join(json.dumps(r) + "\n" for r in rows_b))
    with pytest.raises(DataError, match=f"index {first['index']}"):
        merge(folders, tmp_path / "merged")


# -- item 13: boards and results files -----------------------------------------------------------

@pytest.fixture(scope="module")
def run(cache_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("integrity-run")
    evaluate_once(out, model="prior", log_samples=True)
    return next(out.glob("results_*.json"))


def measured(board: dict) -> dict:
    return next(r for r in board["rows"] if r.get("kind", "measured") == "measured" and r.get("confusion"))


@pytest.mark.parametrize("field, change", [
    ("uar", lambda r: r.update(uar=0.99)),
    ("war", lambda r: r.update(war=0.99)),
    ("macro_f1", lambda r: r.update(macro_f1=0.99)),
    ("n", lambda r: r.update(n=r["n"] + 100)),
    ("per_class_recall", lambda r: r["per_class_recall"].update({next(iter(r["per_class_recall"])): 1.0})),
    ("class_support", lambda r: r["class_support"].update({next(iter(r["class_support"])): 99})),
])
def test_an_edited_measured_row_is_neither_shown_nor_published(run, tmp_path, run_cli, field, change):
    board_path = tmp_path / "board.json"
    leaderboard.add(board_path, [run])
    assert run_cli("leaderboard", "show", "--board", str(board_path)).code == 0
    board = json.loads(board_path.read_text())
    row = measured(board)
    change(row)
    board_path.write_text(json.dumps(board))
    with pytest.raises(DataError, match=rf"{row['model']}.*{row['task']}.*\.{field}\b.*confusion") as info:
        leaderboard.load_board(board_path)
    assert "\n" not in str(info.value) and str(board_path) in str(info.value)
    r = run_cli("leaderboard", "show", "--board", str(board_path))
    assert r.code == 1 and f".{field}" in r.err and "Traceback" not in r.err, r
    site = tmp_path / "site"
    r = run_cli("leaderboard", "publish", "--board", str(board_path), "--to", str(site))
    assert r.code == 1 and f".{field}" in r.err and "Traceback" not in r.err, r
    assert not site.exists() or not any(site.iterdir())
    with pytest.raises(DataError, match=rf"\.{field}\b"):
        publish.publish(board_path, str(tmp_path / "site2"))


def test_the_issues_row_uar_099_beside_its_6990_matrix_is_refused(run, tmp_path):
    board_path = tmp_path / "board.json"
    leaderboard.add(board_path, [run])
    board = json.loads(board_path.read_text())
    row = measured(board)
    truth = row["uar"]
    row["uar"] = 0.99
    board_path.write_text(json.dumps(board))
    with pytest.raises(DataError, match=f"uar: 0.99 does not match {truth:.6g}"):
        leaderboard.load_board(board_path)


def test_a_row_outside_its_own_interval_is_refused(run, tmp_path):
    board_path = tmp_path / "board.json"
    leaderboard.add(board_path, [run])
    board = json.loads(board_path.read_text())
    measured(board)["uar_ci95"] = [0.0, 0.01]
    board_path.write_text(json.dumps(board))
    with pytest.raises(DataError, match=r"uar_ci95.*outside"):
        leaderboard.load_board(board_path)


def test_reported_and_floor_rows_stay_accepted(run, tmp_path, run_cli):
    shipped = Path(__file__).resolve().parent.parent / "leaderboard" / "leaderboard.json"
    board = leaderboard.load_board(shipped)  # reported rows and computed floors, no confusion matrix
    assert {r.get("kind") for r in board["rows"]} >= {"reported", "baseline"}
    board_path = tmp_path / "board.json"
    board_path.write_text(shipped.read_text())
    leaderboard.add(board_path, [run])  # measured, reported and floor rows together
    r = run_cli("leaderboard", "show", "--board", str(board_path))
    assert r.code == 0, r.err
    publish.publish(board_path, str(tmp_path / "site"))
    assert (tmp_path / "site" / "leaderboard.json").exists()


def forge(task: dict, matrix: list[list[int]]) -> None:
    """Everything a forger recomputes from a new matrix by hand (the intervals are left as they were)."""
    classes = task["classes"]
    f = results.matrix_figures(matrix)
    task["confusion"]["matrix"] = matrix
    task["counts"].update(evaluated=f["n"], invalid=f["invalid"], failed=f["failed"])
    task["metrics"].update(war=f["war"], uar=f["uar"], macro_f1=f["macro_f1"][1],
                           invalid_rate=f["invalid"] / f["n"], failed_rate=f["failed"] / f["n"],
                           missing_classes=[c for c, s in zip(classes, f["support"]) if not s])
    for i, c in enumerate(task["per_class"]):
        c.update(support=f["support"][i], predicted=f["predicted"][i], recall=f["recall"][i],
                 precision=f["precision"][i], f1=f["f1"][i])
    columns = classes + ["invalid", "failed"]
    task["prediction_distribution"] = {c: sum(row[j] for row in matrix) for j, c in enumerate(columns)}
    task["failures"] = []
    task["rules"] = {"exact": f["n"] - f["failed"]}


def forged(run: Path, folder: Path, change, keep_log: bool = False) -> Path:
    document = json.loads(run.read_text())
    task = document["tasks"][TASK]
    if not keep_log:
        task["samples_file"] = None
    change(task)
    path = folder / ("forged.json" if not keep_log else run.name.replace("results_", "results_forged_"))
    if keep_log:
        path = run.parent / path.name
    path.write_text(json.dumps(document))
    return path


def _diagonal(task: dict) -> None:
    matrix = copy.deepcopy(task["confusion"]["matrix"])
    k = len(matrix)
    forge(task, [[sum(row) if j == i else 0 for j in range(k + 2)] for i, row in enumerate(matrix)])


def _hundred_more(task: dict) -> None:
    matrix = copy.deepcopy(task["confusion"]["matrix"])
    for i in range(len(matrix)):
        matrix[i][i] += 100 // len(matrix) + (1 if i < 100 % len(matrix) else 0)
    forge(task, matrix)


def test_a_genuine_file_still_validates(run, run_cli):
    results.load(run)
    r = run_cli("validate", str(run))
    assert r.code == 0 and "valid" in r.out


@pytest.mark.parametrize("change, message", [
    (_diagonal, r"uar_ci95: .* outside it"),
    (_hundred_more, r"counts.evaluated: 130 .*counts.total 30"),
])
def test_a_consistently_forged_file_is_refused_by_validate(run, tmp_path, run_cli, change, message):
    bad = forged(run, tmp_path, change)
    with pytest.raises(DataError, match=message):
        results.load(bad)
    r = run_cli("validate", str(bad))
    assert r.code == 1 and "forged.json" in r.err and "Traceback" not in r.err, r


def test_a_forged_total_is_caught_by_the_per_sample_log_beside_it(run, tmp_path):
    def more(task):  # a forger who also recomputes every interval: only the log beside the file tells
        _hundred_more(task)
        task["counts"]["total"] += 100
        m, matrix = task["metrics"], task["confusion"]["matrix"]
        m["uar_ci95"], m["macro_f1_ci95"] = metrics.posterior_intervals(np.array(matrix), m["uar"], m["macro_f1"], 0, 200)
        for i, c in enumerate(task["per_class"]):
            c["recall_ci95"] = metrics.clopper_pearson(matrix[i][i], c["support"])

    bad = forged(run, tmp_path, more, keep_log=True)
    try:
        with pytest.raises(DataError, match=r"per-sample log .* holds 30 samples"):
            results.load(bad)
    finally:
        bad.unlink()
