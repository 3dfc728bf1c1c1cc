"""The harness command end to end: runs, failures, exit codes and listings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

from harness import results
from tests.conftest import read_results


def test_run_on_30_synthetic_clips_writes_valid_results_and_sample_logs(run_cli, tmp_path):
    r = run_cli("run", "--tasks", "synthetic:n=30,seed=3", "--model", "majority",
                "--output-path", str(tmp_path), "--log-samples", "--no-progress")
    assert r.code == 0, r.err
    assert "synthetic:n=30,seed=3" in r.out and "UAR" in r.out and "per-class recall" in r.out
    doc = read_results(tmp_path)
    results.validate(doc)
    task = doc["tasks"]["synthetic:n=30,seed=3"]
    assert task["counts"] == {"total": 30, "evaluated": 30, "failed": 0, "invalid": 0}
    assert task["frame_protocol"]["name"] == "uniform8"
    assert task["prompt"]["choices"] == task["classes"]
    assert doc["model"]["identity"]["id"] == "majority"
    assert doc["command"][:2] == ["harness", "run"]
    assert {p["name"] for p in doc["environment"]["plugins"]} >= {"synthetic", "baselines"}

    rows = [json.loads(line) for line in (tmp_path / task["samples_file"]).read_text().splitlines()]
    assert len(rows) == 30
    counts = Counter(row["label"] for row in rows)
    top = max(task["classes"], key=lambda c: (counts[c], -task["classes"].index(c)))
    assert {row["prediction"] for row in rows} == {top}
    assert task["metrics"]["war"] == counts[top] / 30
    for row in rows:
        assert row["status"] == "ok" and row["rule"] == "exact" and row["raw"] == top
        assert len(row["frame_indices"]) == 8 and len(row["timestamps"]) == 8
        assert len(row["prompt_hash"]) == 16
        assert row["group"] in {"micro", "macro", "neutral"}


def test_results_are_reproducible_for_a_seed(run_cli, tmp_path):
    docs = []
    for name in ("a", "b"):
        r = run_cli("run", "--tasks", "synthetic:n=30,seed=3", "--model", "prior", "--seed", "4",
                    "--output-path", str(tmp_path / name), "--no-progress")
        assert r.code == 0, r.err
        docs.append(read_results(tmp_path / name)["tasks"]["synthetic:n=30,seed=3"])
    for key in ("metrics", "per_class", "confusion", "fingerprint"):
        assert docs[0][key] == docs[1][key]


def test_a_corrupt_clip_becomes_a_failed_sample_and_the_run_completes(run_cli, tmp_path):
    r = run_cli("run", "-p", "corrupt_task", "--tasks", "corrupt-clips",
                "--model", "uniform", "--output-path", str(tmp_path), "--log-samples", "--no-progress")
    assert r.code == 1  # evaluation errors: results are written, the exit code says so
    assert "failed: corrupt-clips: bad:" in r.err and "bad.mp4" in r.err
    task = read_results(tmp_path)["tasks"]["corrupt-clips"]
    assert task["counts"]["failed"] == 1 and task["counts"]["evaluated"] == 9
    assert task["failures"][0]["id"] == "bad"
    assert task["confusion"]["matrix"][0][-1] == 1  # the "happy" row, "failed" column
    rows = [json.loads(x) for x in (tmp_path / task["samples_file"]).read_text().splitlines()]
    bad = next(row for row in rows if row["id"] == "bad")
    assert bad["status"] == "failed" and bad["prediction"] is None and "bad.mp4" in bad["error"]
    assert sum(row["status"] != "failed" for row in rows) == 8


def test_strict_stops_at_the_first_failed_sample(run_cli, tmp_path):
    r = run_cli("run", "-p", "corrupt_task", "--tasks", "corrupt-clips", "--model", "uniform",
                "--output-path", str(tmp_path), "--strict", "--no-progress")
    assert r.code == 1
    assert "sample bad" in r.err and "--strict" in r.err
    assert not list(tmp_path.glob("results_*.json"))


def test_two_tasks_in_one_run_with_decode_workers(run_cli, tmp_path):
    r = run_cli("run", "--tasks", "synthetic:n=30,seed=3,synthetic:n=12,seed=1", "--model", "uniform",
                "--output-path", str(tmp_path), "--decode-workers", "2", "--no-progress")
    assert r.code == 0, r.err
    doc = read_results(tmp_path)
    assert list(doc["tasks"]) == ["synthetic:n=30,seed=3", "synthetic:n=12,seed=1"]
    assert doc["tasks"]["synthetic:n=12,seed=1"]["counts"]["evaluated"] == 12


def test_decode_workers_do_not_change_results(run_cli, tmp_path):
    out = {}
    for workers in ("0", "2"):
        r = run_cli("run", "--tasks", "synthetic:n=30,seed=3", "--model", "prior", "--log-samples",
                    "--output-path", str(tmp_path / workers), "--decode-workers", workers, "--no-progress")
        assert r.code == 0, r.err
        task = read_results(tmp_path / workers)["tasks"]["synthetic:n=30,seed=3"]
        lines = (tmp_path / workers / task["samples_file"]).read_text().splitlines()
        out[workers] = [{k: v for k, v in json.loads(x).items()} for x in lines]
    assert out["0"] == out["2"]


def test_limit_keeps_the_first_samples_and_names_missing_classes(run_cli, tmp_path):
    r = run_cli("run", "--tasks", "synthetic:n=30,seed=3", "--model", "majority", "--limit", "5",
                "--output-path", str(tmp_path), "--no-progress")
    assert r.code == 0, r.err
    task = read_results(tmp_path)["tasks"]["synthetic:n=30,seed=3"]
    assert task["counts"]["total"] == 30 and task["counts"]["evaluated"] == 5
    assert task["metrics"]["missing_classes"]  # 5 clips cannot cover 7 classes


def test_usage_errors_exit_2_with_suggestions(run_cli, tmp_path):
    r = run_cli("run", "--tasks", "synthetc", "--model", "majority", "--output-path", str(tmp_path))
    assert r.code == 2 and "Did you mean 'synthetic'" in r.err
    r = run_cli("run", "--tasks", "synthetic", "--model", "majorty", "--output-path", str(tmp_path))
    assert r.code == 2 and "'majority'" in r.err
    r = run_cli("run", "--tasks", "synthetic", "--model", "majority", "--model-args", "oops")
    assert r.code == 2 and "key=value" in r.err
    r = run_cli("run", "--tasks", "synthetic:bogus=1", "--model", "majority")
    assert r.code == 2 and "bogus" in r.err
    r = run_cli("run", "--model", "majority")
    assert r.code == 2
    assert not list(tmp_path.glob("*"))  # nothing ran, nothing written


def test_list_and_show(run_cli):
    r = run_cli("list", "tasks")
    assert r.code == 0 and "synthetic" in r.out and "dfer-harness" not in r.out
    r = run_cli("list", "models")
    assert r.code == 0 and all(m in r.out for m in ("majority", "prior", "uniform"))
    r = run_cli("list", "plugins")
    assert r.code == 0 and "dfer-harness" in r.out and "built-in" in r.out
    r = run_cli("show", "task", "synthetic:n=50")
    assert r.code == 0
    assert "happy, sad, neutral, angry, surprise, disgust, fear" in r.out
    assert "uniform8" in r.out and "'names' (default)" in r.out and "samples:     50" in r.out
    assert "sound:       none (--audio on is refused)" in r.out  # the synthetic task without sound=true


def test_validate_command(run_cli, results_doc, tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(results_doc))
    r = run_cli("validate", str(good))
    assert r.code == 0 and "valid" in r.out
    broken = json.loads(json.dumps(results_doc))
    del broken["tasks"]["synthetic:n=30,seed=3"]["metrics"]["uar"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(broken))
    r = run_cli("validate", str(good), str(bad))
    assert r.code == 1
    assert "bad.json" in r.err and "metrics" in r.err and "'uar' is a required property" in r.err


def test_console_script_is_installed():
    exe = os.path.join(os.path.dirname(sys.executable), "harness")
    proc = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("dfer-harness ")


def test_uar_over_fewer_classes_is_marked_in_the_summary(run_cli, tmp_path):
    r = run_cli("run", "--tasks", "synthetic:n=30,seed=3", "--model", "majority", "--limit", "6",
                "--output-path", str(tmp_path), "--no-progress")
    assert r.code == 0, r.err
    assert "* (" in r.out and "/7 classes)" in r.out and "not comparable" in r.out


def test_show_task_prints_the_prompt_as_the_model_gets_it_letters_included(run_cli):
    r = run_cli("show", "task", "synthetic")
    assert r.code == 0
    letters = r.out.split("prompt template 'letters'")[1].split("prompt template")[0]
    assert "<video: 8 frames, uniform8>" in letters
    assert "A. happy\n" in letters and "G. fear\n" in letters and "A = happy" in letters
    assert "Choose one of: happy, sad, neutral, angry, surprise, disgust, fear." in r.out


def test_python_dash_m_harness_is_the_harness_command():
    r = subprocess.run([sys.executable, "-m", "harness", "list", "models"], capture_output=True, text=True)
    assert r.returncode == 0 and "majority" in r.stdout


def test_a_source_checkout_finds_its_tasks_and_plugins_without_an_editable_install():
    """A non-editable install run from the repository root imports ./harness, whose tasks/ and
    plugins/ live beside it: they must still be harness.tasks and harness.plugins."""
    root = Path(__file__).resolve().parent.parent
    code = ("import sys\n"
            "sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f).lower()]\n"
            "import harness.tasks.dfew, harness.plugins.baselines\n"
            "print(harness.tasks.dfew.__file__)\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.strip()) == root / "tasks" / "dfew.py"
