"""Run files (``harness run --config FILE``): options from a file, grids of runs, repeating a run from
its results file, and every check the command line gets, before any work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

TASK = "synthetic:n=20,seed=3"


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _results(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("results_*.json"))]


def test_a_grid_is_every_combination_counted_before_any_work(run_cli, tmp_path):
    out = tmp_path / "study"
    study = _write(tmp_path / "study.yaml", f"""
tasks: {TASK}
output_path: {out}
bootstrap: 50
log_samples: true
grid:
  model: [majority, prior]
  frames: ["8", "segment=4"]
""")
    dry = run_cli("run", "--config", str(study), "--dry-run")
    assert dry.code == 0, dry
    assert dry.out.splitlines()[0] == "4 runs:"
    assert "[model=prior frames=segment=4]" in dry.out and "--frames segment=4" in dry.out
    assert not out.exists()  # a dry run does no work

    result = run_cli("run", "--config", str(study))
    assert result.code == 0, result
    assert result.out.splitlines()[0] == "4 runs:"  # the count comes before the first run's output
    assert "4 runs: all ok" in result.out
    documents = _results(out)
    assert len(documents) == 4  # two runs of one model within a second each keep their own file
    made = sorted((d["config"]["model"], d["tasks"][TASK]["frame_protocol"]["name"]) for d in documents)
    assert made == [("majority", "segment4"), ("majority", "uniform8"), ("prior", "segment4"), ("prior", "uniform8")]
    for document in documents:
        resolved = document["config"]["resolved"]
        assert resolved["model"] == document["config"]["model"] and resolved["bootstrap"] == 50
        assert resolved["log_samples"] is True


def test_the_command_line_overrides_the_file(run_cli, tmp_path):
    study = _write(tmp_path / "run.yaml", f"tasks: {TASK}\nmodel: majority\nlimit: 12\nbootstrap: 0\n"
                                          f"output_path: {tmp_path / 'out'}\n")
    result = run_cli("run", "--config", str(study), "--limit", "5", "--model", "prior")
    assert result.code == 0, result
    [document] = _results(tmp_path / "out")
    assert document["config"]["limit"] == 5 and document["config"]["model"] == "prior"
    assert document["tasks"][TASK]["counts"]["evaluated"] == 5


def test_a_results_file_repeats_its_run(run_cli, tmp_path):
    first = run_cli("run", "--tasks", TASK, "--model", "prior", "--frames", "segment=4", "--bootstrap", "100",
                    "--seed", "7", "--output-path", str(tmp_path / "a"))
    assert first.code == 0, first
    [path] = sorted((tmp_path / "a").glob("results_*.json"))
    again = run_cli("run", "--config", str(path), "--output-path", str(tmp_path / "b"))
    assert again.code == 0, again
    [a], [b] = _results(tmp_path / "a"), _results(tmp_path / "b")
    for field in ("metrics", "fingerprint", "frame_protocol", "prompt", "per_class"):
        assert a["tasks"][TASK][field] == b["tasks"][TASK][field], field
    assert b["config"]["resolved"] == {**a["config"]["resolved"], "output_path": str(tmp_path / "b")}


def test_options_a_run_records_are_masked_where_they_hold_secrets(run_cli, tmp_path):
    study = _write(tmp_path / "run.yaml", f"tasks: {TASK}\nmodel: majority\nbootstrap: 0\n"
                                          f"ray_address: ray://admin:hunter22@10.0.0.1:10001\n"
                                          f"output_path: {tmp_path / 'out'}\n")
    result = run_cli("run", "--config", str(study))
    assert result.code == 0, result
    text = next((tmp_path / "out").glob("results_*.json")).read_text()
    assert "hunter22" not in text and "hunter22" not in result.out + result.err
    assert json.loads(text)["config"]["resolved"]["ray_address"] == "ray://***@10.0.0.1:10001"


def test_runs_lists_runs_that_are_not_a_product(run_cli, tmp_path):
    study = _write(tmp_path / "runs.yaml", f"""
tasks: {TASK}
bootstrap: 0
output_path: {tmp_path / 'out'}
runs:
  - {{model: majority}}
  - {{model: prior, limit: 6}}
""")
    result = run_cli("run", "--config", str(study))
    assert result.code == 0, result
    counts = sorted((d["config"]["model"], d["tasks"][TASK]["counts"]["evaluated"]) for d in _results(tmp_path / "out"))
    assert counts == [("majority", 20), ("prior", 6)]


@pytest.mark.parametrize("text, says", [
    ("model: majority\ngrid:\n  tasks: [dfew, {task}]\n", "task parameter 'seed=3' comes before any task name"),
    ("tasks: {task}\nmodel: majority\nbootstrapp: 10\n", "'bootstrapp' is not an option of harness run (did you mean bootstrap"),
    ("tasks: {task}\nmodel: majority\nlimit: [\n", "line 4: not valid YAML"),
    ("tasks: {task}\ngrid:\n  model: majority\n", "grid: model: expected a non-empty list"),
    ("tasks: {task}\nmodel: majority\nlog_samples: maybe\n", "log_samples is true or false"),
])
def test_a_bad_file_is_refused_naming_file_and_key(run_cli, tmp_path, text, says):
    study = _write(tmp_path / "bad.yaml", text.format(task=TASK))
    result = run_cli("run", "--config", str(study), "--output-path", str(tmp_path / "out"))
    assert result.code == 2, result
    assert str(study) in result.err and says in result.err, result.err
    assert not (tmp_path / "out").exists()


def test_one_bad_run_of_a_grid_stops_the_grid_before_any_work(run_cli, tmp_path):
    study = _write(tmp_path / "grid.yaml", f"tasks: {TASK}\noutput_path: {tmp_path / 'out'}\n"
                                           f"grid:\n  model: [majority, prior]\n  batch_size: [4, 0]\n")
    result = run_cli("run", "--config", str(study))
    assert result.code == 2, result
    assert "model=majority batch_size=0" in result.err and "--batch-size must be at least 1" in result.err
    assert not (tmp_path / "out").exists()


def test_a_run_that_fails_does_not_stop_the_others(run_cli, tmp_path):
    empty = tmp_path / "no-data"
    empty.mkdir()
    study = _write(tmp_path / "grid.yaml", f"model: majority\nbootstrap: 0\ndata_dir: {empty}\n"
                                           f"output_path: {tmp_path / 'out'}\n"
                                           f"grid:\n  tasks: [dfew, '{TASK}']\n")
    result = run_cli("run", "--config", str(study))
    assert result.code == 2, result  # the grid's exit code is its worst run's (no dfew data: a usage error)
    assert "2 runs: 1 ok, 1 not" in result.out
    summary = result.out[result.out.index("2 runs: 1 ok"):]
    assert "tasks=dfew" in summary and "tasks=" + TASK in summary
    [document] = _results(tmp_path / "out")  # the second run went on after the first failed
    assert list(document["tasks"]) == [TASK]


def test_a_results_file_without_resolved_options_is_refused(run_cli, tmp_path, results_doc):
    old = dict(results_doc)
    old["config"] = {k: v for k, v in results_doc["config"].items() if k != "resolved"}
    path = _write(tmp_path / "results_old.json", json.dumps(old))
    result = run_cli("run", "--config", str(path))
    assert result.code == 2 and "does not record its resolved options" in result.err, result


def test_the_worked_example_of_the_docs_is_a_valid_grid_of_five(run_cli):
    example = Path(__file__).parents[1] / "examples" / "study.yaml"
    result = run_cli("run", "--config", str(example), "--dry-run")
    assert result.code == 0, result
    assert result.out.splitlines()[0] == "5 runs:"
    assert "--model tiny-vlm --model-args family=internvl,mode=score" in result.out
    assert "--mlflow-args tracking_uri=http://127.0.0.1:5000,experiment=dfer-study" in result.out


def test_a_merged_result_repeats_the_whole_run_not_its_first_shard(run_cli, tmp_path):
    for i in range(2):
        result = run_cli("run", "--tasks", TASK, "--model", "prior", "--bootstrap", "0", "--log-samples",
                         "--shard", f"{i}/2", "--output-path", str(tmp_path / f"s{i}"))
        assert result.code == 0, result
    merged = run_cli("merge", str(tmp_path / "s0"), str(tmp_path / "s1"), "--output-path", str(tmp_path / "m"))
    assert merged.code == 0, merged
    [document] = _results(tmp_path / "m")
    assert document["config"]["resolved"]["shard"] is None
    again = run_cli("run", "--config", str(next((tmp_path / "m").glob("results_*.json"))), "--output-path",
                    str(tmp_path / "again"))
    assert again.code == 0, again
    [rerun] = _results(tmp_path / "again")
    assert rerun["tasks"][TASK]["counts"] == document["tasks"][TASK]["counts"]
    assert rerun["tasks"][TASK]["metrics"]["uar"] == document["tasks"][TASK]["metrics"]["uar"]
