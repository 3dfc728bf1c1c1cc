"""The example third-party plugin, pip-installed into the test environment, works like a built-in."""

from __future__ import annotations

import shutil
from importlib import metadata

from tests.conftest import read_results


def test_example_plugin_is_installed_as_a_distribution():
    dist = metadata.distribution("harness-example-plugin")
    eps = [ep for ep in dist.entry_points if ep.group == "harness"]
    assert [ep.name for ep in eps] == ["example"]


def test_example_plugin_is_listed(run_cli):
    r = run_cli("list", "tasks")
    assert "example-folder" in r.out
    r = run_cli("list", "plugins")
    assert "harness-example-plugin" in r.out and "third-party" in r.out


def test_example_task_and_model_run(run_cli, synthetic30, tmp_path):
    _, samples = synthetic30
    root = tmp_path / "clips"
    for s in samples:
        if s.label in ("happy", "neutral"):
            (root / s.label).mkdir(parents=True, exist_ok=True)
            shutil.copy(s.media, root / s.label / f"{s.id}.mp4")
    r = run_cli("run", "--tasks", f"example-folder:root={root}", "--model", "example-motion",
                "--model-args", "threshold=0.5", "--output-path", str(tmp_path / "out"), "--no-progress")
    assert r.code == 0, r.err
    doc = read_results(tmp_path / "out")
    task = next(iter(doc["tasks"].values()))
    assert task["classes"] == ["happy", "neutral"]
    assert task["plugin"]["dist"] == "harness-example-plugin"
    assert doc["model"]["plugin"]["dist"] == "harness-example-plugin"
    assert doc["model"]["identity"]["args"]["threshold"] == 0.5
    assert task["counts"]["evaluated"] == sum(s.label in ("happy", "neutral") for s in samples)


def test_example_probe_runs_in_harness_diagnose(run_cli, tmp_path):
    r = run_cli("list", "probes")
    assert "example-neutral-bias" in r.out and "longtail" in r.out
    r = run_cli("diagnose", "--tasks", "synthetic:n=30,seed=3", "--model", "majority",
                "--probes", "example-neutral-bias", "--output-path", str(tmp_path), "--no-progress")
    assert r.code == 0, r.err
    import json
    doc = json.loads(next(tmp_path.glob("diagnostics_*.json")).read_text())
    figures = doc["tasks"]["synthetic:n=30,seed=3"]["probes"]["example-neutral-bias"]["figures"]
    assert figures["neutral_answers"] == 1.0  # the majority class of DFEW's training shares is neutral
