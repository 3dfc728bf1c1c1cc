"""Golden runs: per-sample predictions and metrics that a refactor must not change.

A fixed set of runs (every baseline and synthetic control, the tiny
Qwen2.5-VL and Qwen3-VL in both modes, one MSCE run, one ``diagnose``, one
3-shard merge) is compared field by field with ``tests/golden/*.json``,
recorded from the code before the house was rebuilt. Only fields whose
meaning a user depends on are compared, under their canonical names, so a
renamed key does not hide a changed number. Scores are compared to 1e-3 (the
tiny models' float sums may be reassociated by batching and thread counts);
everything else exactly. The records were made again once, deliberately, when
UAR and macro-F1 intervals became posterior draws and per-class recall got an
exact interval (issue 26): predictions, statuses, scores and point metrics
stayed the same.

To record them again after a deliberate change of behaviour (say which in
the commit): ``HARNESS_GOLDEN_WRITE=1 pytest tests/test_golden.py``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from harness.samplelog import read_samples

GOLDEN = Path(__file__).parent / "golden"
WRITE = os.environ.get("HARNESS_GOLDEN_WRITE") == "1"
TASK = "synthetic:n=24,seed=5"
VLM_TASK = "synthetic:n=12,seed=4"
CONTROLS = ("synthetic-oracle", "synthetic-collapse", "synthetic-first", "synthetic-budget",
            "synthetic-trajectory", "synthetic-calibrated", "synthetic-overconfident")

RUNS: dict[str, list[str]] = {
    **{name: ["--tasks", TASK, "--model", name, "--seed", "3"] for name in ("majority", "prior", "uniform")},
    **{name: ["--tasks", TASK, "--model", name, "--frames", "16"] for name in CONTROLS},
    **{f"tiny-{family}-{mode}": ["--tasks", VLM_TASK, "--model", "tiny-qwen-vl", "--model-args",
                                 f"family={family},mode={mode},max_new_tokens=6", "--batch-size", "4"]
       for family in ("qwen2.5-vl", "qwen3-vl") for mode in ("score", "generate")},
    "tiny-letters-shuffled": ["--tasks", VLM_TASK, "--model", "tiny-qwen-vl", "--model-args", "mode=score",
                              "--prompt", "letters", "--choice-order", "shuffled", "--seed", "2"],
    "msce": ["--tasks", "synthetic:n=8,seed=4", "--model", "tiny-qwen-vl", "--model-args", "mode=score",
             "--strategy", "msce:k=3,stretch=2"],
}


def _round(value):
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 4)
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_round(v) for v in value]
    return value


def _first(mapping: dict, *names):
    """A field under its new or old name (renames aside, the value must be the same)."""
    for name in names:
        if name in mapping:
            return mapping[name]
    raise KeyError(names)


def _row(row: dict) -> dict:
    return {"id": row["id"], "label": row["label"], "prediction": row["prediction"], "status": row["status"],
            "rule": row["rule"], "raw": row["raw"], "error": row["error"] is not None,
            "scores": _round(row["scores"]), "choices": row["choices"], "frame_indices": row["frame_indices"],
            "timestamps": _round(row["timestamps"]), "told": _round(_first(row, "told", "time_told")),
            "variants": row["variants"]}


def _task(task: dict, folder: Path) -> dict:
    # read through the one reader, which checks every row against samples.schema.json
    rows = read_samples(folder / task["samples_file"])
    return {"counts": task["counts"], "metrics": _round(task["metrics"]), "per_class": _round(task["per_class"]),
            "confusion": task["confusion"], "groups": _round(task["groups"]), "variants": _round(task["variants"]),
            "prediction_distribution": task["prediction_distribution"], "fingerprint": task["fingerprint"],
            "frame_protocol": task["frame_protocol"]["name"],
            "told": _round(_first(task, "time_told", "timing")), "rows": [_row(r) for r in rows]}


def _results(folder: Path) -> dict:
    [path] = sorted(folder.glob("results_*.json"))
    doc = json.loads(path.read_text())
    return {key: _task(task, folder) for key, task in doc["tasks"].items()}


def _check(name: str, got: dict) -> None:
    path = GOLDEN / f"{name}.json"
    if WRITE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
        return
    assert path.is_file(), f"{path} is missing: record it with HARNESS_GOLDEN_WRITE=1"
    want = json.loads(path.read_text())
    got = json.loads(json.dumps(got))
    # A tiny model's log-likelihoods may differ in the last digits with the machine's thread count (float
    # sums reassociated); they are compared to 1e-3, every other field exactly.
    for side in (got, want):
        for task in side.values():
            for row in task.get("rows", []) if isinstance(task, dict) else []:
                if row.get("scores"):
                    row["scores"] = {k: pytest.approx(v, abs=1e-3) for k, v in row["scores"].items()} \
                        if side is want else row["scores"]
    assert got == want


@pytest.mark.parametrize("name", sorted(RUNS))
def test_golden_run(run_cli, tmp_path, cache_dir, name):
    if name.startswith(("tiny", "msce")):
        pytest.importorskip("torch", reason="the hf extra is part of the test install (make test)")
    r = run_cli("run", *RUNS[name], "--output-path", str(tmp_path), "--log-samples", "--no-progress",
                "--bootstrap", "200")
    assert r.code == 0, r.err
    _check(name, _results(tmp_path))


def test_golden_three_shards_merged(run_cli, tmp_path, cache_dir):
    common = ["--tasks", "synthetic:n=30,seed=3", "--model", "prior", "--seed", "7", "--log-samples",
              "--no-progress", "--bootstrap", "200"]
    for i in range(3):
        r = run_cli("run", *common, "--shard", f"{i}/3", "--output-path", str(tmp_path / f"shard{i}"))
        assert r.code == 0, r.err
    r = run_cli("merge", *(str(tmp_path / f"shard{i}") for i in range(3)), "--output-path", str(tmp_path / "m"))
    assert r.code == 0, r.err
    _check("merge-3-shards", _results(tmp_path / "m"))


def test_golden_diagnose(run_cli, tmp_path, cache_dir):
    r = run_cli("diagnose", "--tasks", "synthetic", "--model", "synthetic-collapse", "--probes",
                "longtail,choices:n=4,calibration", "--output-path", str(tmp_path), "--no-progress")
    assert r.code == 0, r.err
    [path] = sorted(tmp_path.glob("diagnostics_*.json"))
    doc = json.loads(path.read_text())
    got = {key: {name: {"figures": _round(probe["figures"]), "summary": probe["summary"]}
                 for name, probe in task["probes"].items()} for key, task in doc["tasks"].items()}
    _check("diagnose", got)
