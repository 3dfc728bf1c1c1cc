"""Time and size of ``harness report`` for a DFEW-sized 5-fold results file (run by hand).

    python bench/report.py

Builds a schema-valid results document of DFEW's five test folds (2341, 2341,
2340, 2339 and 2336 clips: 11,697 in all) with answers drawn from a
long-tailed confusion (3% invalid, a few failed), then times the report
(median of 3) and measures the folder it writes.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from harness import report, results, samplelog
from harness.emotions import BASIC7, DFEW_SHARES

FOLDS = (2341, 2341, 2340, 2339, 2336)


def document(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    shares = np.array([DFEW_SHARES[c] for c in BASIC7])
    shares /= shares.sum()
    plugin = {"name": "bench", "module": "bench", "dist": None, "version": None, "builtin": False}
    doc = {"schema_version": 1, "run_id": "bench", "created_at": "2026-01-01T00:00:00+00:00",
           "harness": {"version": "0.1.0", "git_revision": None}, "command": [],
           "config": {"tasks": ["dfew"], "model": "bench", "model_args": {}, "limit": None, "seed": 0,
                      "batch_size": 8},
           "environment": {"python": "3", "platform": "x", "packages": {}, "plugins": []},
           "model": {"name": "bench-model", "identity": {"id": "bench-model"}, "plugin": plugin},
           "tasks": {}, "aggregates": {}}
    keys, start = [], 0
    for fold, n in enumerate(FOLDS, start=1):
        labels = rng.choice(BASIC7, size=n, p=shares)
        rows = []
        for i, y in enumerate(labels):
            u = rng.random()
            pred, status = (y, "ok") if u < 0.55 else (("neutral", "ok") if u < 0.85 else
                                                      ((None, "invalid") if u < 0.88 else (str(rng.choice(BASIC7)), "ok")))
            if u > 0.999:
                pred, status = None, "failed"
            rows.append({"id": f"{start + i:05d}", "index": i, "label": str(y), "prediction": pred, "status": status,
                         "error": "cannot decode" if status == "failed" else None, "group": None})
        start += n
        key = f"dfew/fold{fold}"
        task = {"name": "dfew", "spec": "dfew", "version": "1", "params": {}, "split": f"fold{fold}",
                "plugin": plugin, "classes": list(BASIC7),
                "frame_protocol": {"name": "segment16", "strategy": "segment", "num_frames": 16, "order": "natural",
                                   "seed": 0},
                "prompt": {"name": "names", "kind": "names", "system": "", "user": "", "rendered": "Which emotion?",
                           "choices": list(BASIC7), "choice_order": "fixed"},
                **samplelog.summarize(rows, BASIC7, 0, 1000, "dfew", "1", n, None),
                "timings": {"wall_s": 1.0, "decode_s": 1.0, "model_s": 1.0}, "samples_file": None}
        doc["tasks"][key] = task
        keys.append(key)
    doc["aggregates"]["dfew"] = samplelog.aggregate([doc["tasks"][k] for k in keys], keys)
    path = folder / "results_bench.json"
    results.write_json(path, doc, "results")
    return path


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="harness-report-"))
    path = document(work)
    times = []
    for i in range(3):
        start = time.perf_counter()
        report.build([path], work / f"report{i}")
        times.append(time.perf_counter() - start)
    size = sum(f.stat().st_size for f in (work / "report0").rglob("*") if f.is_file())
    files = sum(1 for f in (work / "report0").rglob("*") if f.is_file())
    record = {"clips": sum(FOLDS), "results_file_bytes": path.stat().st_size, "seconds_median": statistics.median(times),
              "report_bytes": size, "report_files": files}
    print(json.dumps(record, indent=1))
    Path("bench/results/report.json").write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
