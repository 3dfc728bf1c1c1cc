"""Overhead of ``--launcher ray`` against a plain run of the same command (run by hand).

    python bench/ray_overhead.py [--clips 500] [--shards 4] [--repeats 3]

Both are whole ``harness run`` commands with the majority baseline on the
synthetic task (clips rendered beforehand, frame cache warm, as in a rerun
over a prepared dataset); the Ray command starts a local Ray instance itself,
so its time includes Ray's start-up and shutdown. Medians of the repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(args: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "harness.cli", *args], check=True, capture_output=True, env=env)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=500)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="harness-ray-bench-"))
    env = {**os.environ, "HARNESS_CACHE": str(work / "cache")}
    task = f"synthetic:n={args.clips},seed=11"
    common = ["run", "--tasks", task, "--model", "majority", "--no-progress", "--bootstrap", "200"]
    timed(common + ["--output-path", str(work / "warm")], env)  # renders the clips, fills the frame cache
    plain, spread = [], []
    for i in range(args.repeats):
        plain.append(timed(common + ["--output-path", str(work / f"plain{i}")], env))
        spread.append(timed(common + ["--output-path", str(work / f"ray{i}"), "--launcher", "ray",
                                      "--shards", str(args.shards)], env))
    record = {"clips": args.clips, "shards": args.shards, "repeats": args.repeats,
              "plain_s": statistics.median(plain), "ray_s": statistics.median(spread),
              "ratio": statistics.median(spread) / statistics.median(plain), "plain_all": plain, "ray_all": spread}
    print(json.dumps(record, indent=1))
    Path("bench/results/ray_overhead.json").write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
