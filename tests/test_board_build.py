"""The tracked board is built, not edited (issue 35): every row states its training exposure, the real
benchmarks' floors come from published per-class counts, and ``harness leaderboard build`` gives the
tracked ``leaderboard/leaderboard.json`` byte for byte."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from harness import floors, leaderboard, results
from harness.errors import DataError

REPO = Path(__file__).parent.parent
TRACKED = REPO / "leaderboard" / "leaderboard.json"
REPORTED = REPO / "leaderboard" / "reported.yaml"
SOURCES = REPO / "leaderboard" / "reported_sources.yaml"


def _copy_inputs(folder: Path) -> Path:
    """The two tracked inputs of the build in ``folder``/leaderboard, as a fresh clone has them."""
    (folder / "leaderboard").mkdir(parents=True)
    for path in (REPORTED, SOURCES):
        shutil.copy(path, folder / "leaderboard" / path.name)
    return folder


def test_the_tracked_board_is_what_the_documented_build_command_writes(tmp_path, run_cli, monkeypatch):
    monkeypatch.chdir(_copy_inputs(tmp_path))
    r = run_cli("leaderboard", "build")  # the command docs/leaderboard.md gives, with its defaults
    assert r.code == 0, r.err
    built = (tmp_path / "leaderboard" / "leaderboard.json").read_bytes()
    assert built == TRACKED.read_bytes(), ("leaderboard/leaderboard.json differs from what `harness leaderboard "
                                           "build` writes: run it and commit the result")
    r = run_cli("leaderboard", "build")  # the same inputs give the same bytes (no date in a built board)
    assert (tmp_path / "leaderboard" / "leaderboard.json").read_bytes() == built
    # and any change of an input changes the board: a stale tracked file cannot pass
    text = (tmp_path / "leaderboard" / "reported.yaml").read_text(encoding="utf-8")
    (tmp_path / "leaderboard" / "reported.yaml").write_text(text.replace("war: 65.83", "war: 65.84"), encoding="utf-8")
    assert run_cli("leaderboard", "build").code == 0
    assert (tmp_path / "leaderboard" / "leaderboard.json").read_bytes() != built


def test_the_built_board_is_what_report_gives_plus_the_floors(tmp_path):
    board, added = leaderboard.add_reported(tmp_path / "b.json", REPORTED)
    tracked = results.load(TRACKED, "leaderboard")
    assert added == 18
    strip = lambda b: sorted(json.dumps(r, sort_keys=True) for r in b["rows"])  # noqa: E731
    assert strip(board) == strip(tracked) and board["floors_missing"] == tracked["floors_missing"] == []


def test_row_counts_per_kind_and_exposure_of_the_tracked_board():
    rows = results.load(TRACKED, "leaderboard")["rows"]
    kinds = {k: sum(r["kind"] == k for r in rows) for k in ("measured", "baseline", "reported")}
    assert kinds == {"measured": 0, "baseline": 6, "reported": 18}
    exposure = {}
    for r in rows:
        if r["kind"] != "baseline":
            exposure[r["trained_on"]] = exposure.get(r["trained_on"], 0) + 1
    assert exposure == {"zero-shot": 4, "train-split": 2, "not-stated": 12}
    assert all(r["trained_on"] is None for r in rows if r["kind"] == "baseline")


def test_each_reported_rows_exposure_is_its_sources():
    rows = yaml.safe_load(REPORTED.read_text(encoding="utf-8"))["reported"]
    leaderboard.check_sources(rows, SOURCES)  # every row's words are its source's, verbatim
    by_model = {}
    for r in rows:
        by_model.setdefault(r["model"], set()).add(r["trained_on"])
    assert by_model["R1-Omni-0.5B"] == {"train-split"}  # RLVR on the MAFW and DFEW training sets
    assert "training sets from the [MAFW]" in next(r for r in rows if r["model"] == "R1-Omni-0.5B")["trained_on_words"]
    assert by_model["Exp-CLIP ViT-L/14"] == by_model["Emotion-LLaMA"] == {"zero-shot"}
    for model in ("HumanOmni-0.5B", "Qwen2-VL-7B", "Qwen2-VL-72B", "VITA", "InternLM-XComposer-2.5-OL", "GPT-4o"):
        assert by_model[model] == {"not-stated"}, model  # their sources do not say
    # words that are not the source's are refused, naming the row
    wrong = [dict(r) for r in rows]
    wrong[4]["trained_on_words"] = "zero-shot on DFEW"
    with pytest.raises(DataError, match=r"row 5 of the reported file \(R1-Omni-0.5B on dfew\).*not in the excerpt"):
        leaderboard.check_sources(wrong, SOURCES)


def test_build_refuses_a_row_whose_words_are_not_its_sources(tmp_path, run_cli, monkeypatch):
    monkeypatch.chdir(_copy_inputs(tmp_path))
    path = tmp_path / "leaderboard" / "reported.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace('"Dynamic FER Zero-shot Performance"',
                                                             '"never trained on DFEW"', 1), encoding="utf-8")
    r = run_cli("leaderboard", "build")
    assert r.code == 1 and "row 1 of the reported file (Exp-CLIP ViT-L/14 on dfew)" in r.err and "Traceback" not in r.err
    assert not (tmp_path / "leaderboard" / "leaderboard.json").exists()


@pytest.mark.parametrize("field, value, expected", [
    ("trained_on", ..., "'trained_on' is a required property"),
    ("trained_on", "fine-tuned", "'fine-tuned' is not one of"),
    ("trained_on_words", ..., "'trained_on_words' is a required property"),
])
def test_a_reported_row_without_its_exposure_is_refused_naming_the_row(tmp_path, run_cli, field, value, expected):
    entries = yaml.safe_load(REPORTED.read_text(encoding="utf-8"))["reported"][:3]
    if value is ...:
        del entries[2][field]
    else:
        entries[2][field] = value
    path = tmp_path / "reported.yaml"
    path.write_text(yaml.safe_dump({"reported": entries}, allow_unicode=True), encoding="utf-8")
    with pytest.raises(DataError) as err:
        leaderboard.add_reported(tmp_path / "b.json", path)
    message = str(err.value)
    assert "(row 3: Exp-CLIP ViT-L/14 on mafw)" in message and expected in message, message
    assert "Give the row `trained_on:`" in message and all(word in message for word in leaderboard.EXPOSURES)
    assert not (tmp_path / "b.json").exists()
    r = run_cli("leaderboard", "report", "--file", str(path), "--board", str(tmp_path / "b.json"))
    assert r.code == 1 and "(row 3: Exp-CLIP ViT-L/14 on mafw)" in r.err


def test_the_exposure_vocabulary_is_the_schemas():
    defs = results.schema("leaderboard")["$defs"]
    assert defs["reported_entry"]["properties"]["trained_on"]["enum"] == list(leaderboard.EXPOSURES)
    assert defs["row"]["properties"]["trained_on"]["enum"] == [*leaderboard.EXPOSURES, None]
    assert {"trained_on", "trained_on_words"} <= set(defs["reported_entry"]["required"])


def test_a_measured_rows_exposure_comes_from_the_models_identity(tmp_path, cache_dir):
    from tests.conftest import evaluate_once

    evaluate_once(tmp_path / "run", model="majority")
    source = next((tmp_path / "run").glob("results_*.json"))
    document = json.loads(source.read_text())
    rows = leaderboard.rows_from_results(document)
    assert {(r["trained_on"], r["trained_on_words"]) for r in rows} == {
        ("not-stated", "the run's model identity does not state what the model was trained on")}
    for where in ("top", "args"):
        doc = json.loads(source.read_text())
        identity = doc["model"]["identity"]
        (identity.setdefault("args", {}) if where == "args" else identity)["trained_on"] = "train-split"
        assert {r["trained_on"] for r in leaderboard.rows_from_results(doc)} == {"train-split"}
    doc = json.loads(source.read_text())
    doc["model"]["identity"]["trained_on"] = "some"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(DataError, match=r"bad\.json: model 'majority'.*trained_on='some' is not one of: zero-shot"):
        leaderboard.add(tmp_path / "b.json", [path])


def test_floor_counts_are_the_tasks_splits():
    """Each split's published counts add up to the task's official count, in the task's classes."""
    from tasks.dfew import DFEWTask
    from tasks.ferv39k import FERV39kTask
    from tasks.mafw import MAFWTask

    for name, task in (("dfew", DFEWTask), ("ferv39k", FERV39kTask), ("mafw", MAFWTask)):
        spec = floors.PUBLISHED[name]
        assert tuple(spec["classes"]) == tuple(task.classes), name
        for split in spec["splits"]:
            assert list(split["test"]) == list(task.classes) == list(split["train"])
            assert sum(split["test"].values()) == task.official_counts[split["split"]], (name, split["split"])
        if name == "ferv39k":
            assert sum(spec["splits"][0]["train"].values()) == task.official_counts["train"]
        else:  # k-fold: each fold's test and train lists together are the whole dataset
            whole = {sum(s["test"].values()) + sum(s["train"].values()) for s in spec["splits"]}
            assert whole == {sum(task.official_counts.values())}, name


def test_the_floors_are_computed_from_the_counts():
    by = {(r["task"], r["model"].split(" (")[0]): r for t in floors.PUBLISHED for r in floors.rows(t)}
    dfew_folds = [(534, 2341), (534, 2341), (534, 2340), (534, 2339), (533, 2336)]
    majority = by[("dfew", "majority class")]
    assert majority["model"] == "majority class (neutral)" and majority["uar"] == pytest.approx(1 / 7)
    assert majority["war"] == pytest.approx(sum(a / b for a, b in dfew_folds) / 5) and majority["splits"] == 5
    assert by[("dfew", "chance")]["uar"] == by[("dfew", "chance")]["war"] == pytest.approx(1 / 7)
    assert by[("ferv39k", "majority class")]["war"] == pytest.approx(1958 / 7847)
    assert by[("ferv39k", "majority class")]["uar_std"] is None  # one split
    mafw = by[("mafw", "majority class")]
    assert mafw["model"] == "majority class (sadness)" and mafw["uar"] == pytest.approx(1 / 11)
    assert mafw["war"] == pytest.approx(sum(294 / n for n in (1839, 1837, 1833, 1832, 1831)) / 5)
    for r in by.values():
        assert r["kind"] == "baseline" and r["basis"].startswith("computed") and floors.REPOSITORY in r["basis"]
        assert r["counts_source"]["commit"] == floors.COMMIT and len(r["per_split"]) == r["splits"]
    # the same figures as the board computes from a results file's counts
    support = floors.PUBLISHED["ferv39k"]["splits"][0]["test"]
    measured = {"kind": "measured", "task": "ferv39k", "task_fingerprint": "f", "class_support": support,
                "training_majority": "neutral", "classes_total": 7, "model": "m", "uar": 0.3, "war": 0.3}
    from_results = {r["model"]: r for r in leaderboard.baseline_rows({"rows": [measured]})}
    assert len(from_results) == 2  # a task with results gets its floors from them, not twice
    for r in from_results.values():
        published = by[("ferv39k", r["model"].split(" (")[0])]
        assert (r["uar"], r["war"], r["macro_f1"]) == pytest.approx(
            (published["uar"], published["war"], published["macro_f1"]))


def test_a_task_without_published_counts_says_so_instead_of_a_number(tmp_path, run_cli):
    entries = yaml.safe_load(REPORTED.read_text(encoding="utf-8"))["reported"][:1]
    entries[0]["task"] = "casme2"
    path = tmp_path / "reported.yaml"
    path.write_text(yaml.safe_dump({"reported": entries}, allow_unicode=True), encoding="utf-8")
    board, _ = leaderboard.add_reported(tmp_path / "b.json", path)
    assert [r["kind"] for r in board["rows"]] == ["reported"]
    assert [m["task"] for m in board["floors_missing"]] == ["casme2"]
    r = run_cli("leaderboard", "show", "--board", str(tmp_path / "b.json"))
    assert r.code == 0 and "casme2: no floor:" in r.out


def test_show_marks_rows_trained_on_their_benchmark_and_ranks_only_zero_shot_ones_on_request(run_cli):
    r = run_cli("leaderboard", "show", "--board", str(TRACKED))
    assert r.code == 0
    lines = [line for line in r.out.splitlines() if "R1-Omni-0.5B" in line]
    assert len(lines) == 2 and all("[trained on it]" in line and "train-split" in line for line in lines)
    assert "trained on" in r.out.splitlines()[0]
    r = run_cli("leaderboard", "show", "--board", str(TRACKED), "--zero-shot", "--task", "dfew")
    assert r.code == 0 and "R1-Omni" not in r.out and "GPT-4o" not in r.out
    ranked = [line.split() for line in r.out.splitlines() if line.startswith("dfew")]
    assert [row[2] for row in ranked] == ["Emotion-LLaMA", "Exp-CLIP", "majority", "chance"]
    assert [row[1] for row in ranked] == ["1", "2", "3", "4"]
    assert "7 row(s) not zero-shot are not ranked" in r.out


def test_rows_of_an_older_board_gain_their_exposure(tmp_path, cache_dir):
    from tests.conftest import evaluate_once

    evaluate_once(tmp_path / "run", model="prior")
    board_path = tmp_path / "board.json"
    leaderboard.add(board_path, list((tmp_path / "run").glob("results_*.json")))
    old = json.loads(board_path.read_text())
    for row in old["rows"]:
        row.pop("trained_on")
        row.pop("trained_on_words", None)
    board_path.write_text(json.dumps(old))
    board = leaderboard.load_board(board_path)
    assert {r["kind"]: r["trained_on"] for r in board["rows"]} == {"measured": "not-stated", "baseline": None}
