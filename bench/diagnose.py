"""How much a cached rerun of ``harness diagnose`` costs against the first run (run by hand).

    python bench/diagnose.py [--clips 120] [--repeats 3]

The tiny Qwen2.5-VL in score mode (its answers go to the response cache) on
the synthetic task, with the longtail, choices and calibration probes: the
first run computes every variant (the main run, the contextual-calibration
model variant and 5 option orders); a rerun takes every answer from the
response cache and every frame from the frame cache. Both are timed inside
one process (``diagnose()`` with a fresh host each time, model construction
included), and as whole commands.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import diagnose, evaluator, host
from harness.params import parse_tasks


def once(cache: Path, out: Path, clips: int) -> float:
    config = evaluator.RunConfig(tasks=parse_tasks(f"synthetic:n={clips},seed=7"), model="tiny-qwen-vl",
                                 model_args={"mode": "score", "threads": 2}, output_path=out, progress=False,
                                 cache_dir=cache, bootstrap=200)
    start = time.perf_counter()
    diagnose.diagnose(host.load([]), diagnose.DiagnoseConfig(config, diagnose.parse_probes(
        "longtail,choices,calibration")))
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=120)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default="bench/results/diagnose.json")
    args = ap.parse_args()
    firsts, seconds, commands = [], [], []
    for _ in range(args.repeats):
        work = Path(tempfile.mkdtemp(prefix="harness-diag-"))
        os.environ["HARNESS_CACHE"] = str(work / "cache")
        once(work / "cache", work / "warm", 7)  # renders the clips and builds the checkpoint: not timed
        shutil.rmtree(work / "cache" / "frames", ignore_errors=True)
        (work / "cache" / "responses.sqlite").unlink(missing_ok=True)
        firsts.append(once(work / "cache", work / "a", args.clips))
        seconds.append(once(work / "cache", work / "b", args.clips))
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "harness.cli", "diagnose", "--tasks", f"synthetic:n={args.clips},seed=7",
                        "--model", "tiny-qwen-vl", "--model-args", "mode=score,threads=2", "--output-path",
                        str(work / "c"), "--no-progress", "--bootstrap", "200"], check=True, capture_output=True,
                       env={**os.environ, "HARNESS_CACHE": str(work / "cache")})
        commands.append(time.perf_counter() - start)
        shutil.rmtree(work, ignore_errors=True)
    first, second, command = (statistics.median(x) for x in (firsts, seconds, commands))
    record = {"clips": args.clips, "repeats": args.repeats, "first_s": first, "cached_rerun_s": second,
              "speedup": first / second, "cached_rerun_whole_command_s": command}
    print(json.dumps(record, indent=1))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
