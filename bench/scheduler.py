"""Scheduler benchmarks: end-to-end overhead, warm-cache reruns, memory (run by hand, never in tests).

    python bench/scheduler.py [--clips 500] [--repeats 3]

1. ``harness run --model majority`` (a model that costs nothing) as a whole
   command, against a plain Python script that decodes the same 8 frames of
   the same clips with PyAV: the harness's own overhead.
2. Cold against warm: ``tiny-qwen-vl`` (score mode) on the same clips, first
   with empty caches, then the same command again (frames and answers cached;
   the model's weights are never loaded).
3. Peak resident memory of a 2,000-clip run against a 200-clip run (majority).
Every figure is the median of ``--repeats`` runs of a fresh process.
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

from tabulate import tabulate

HARNESS = str(Path(sys.executable).with_name("harness"))

PLAIN = """
import sys, av, numpy as np
from harness.context import Context
from harness.tasks.synthetic import SyntheticTask
samples = SyntheticTask({"n": int(sys.argv[1]), "seed": 9}, Context(cache_dir=sys.argv[2])).samples()
for s in samples:
    with av.open(s.media) as c:
        frames = list(c.decode(video=0))
    keep = np.linspace(0, len(frames) - 1, 8).round().astype(int)
    np.stack([frames[i].to_ndarray(format="rgb24") for i in keep])
"""


def timed(cmd: list[str], env: dict) -> float:
    """Wall seconds of one child process."""
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def peak_rss(cmd: list[str], env: dict) -> int:
    """Peak RSS (kB) of one fresh child, measured by GNU time-like wait4 accounting."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise RuntimeError(f"{cmd} failed")
    return usage.ru_maxrss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default="bench/results/scheduler.json")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="harness-bench-"))
    env = {**os.environ, "HARNESS_CACHE": str(work / "cache")}
    n = args.clips
    task = f"synthetic:n={n},seed=9"
    subprocess.run([sys.executable, "-c", PLAIN, str(n), str(work / "cache")], env=env, check=True)  # clips

    plain = statistics.median(timed([sys.executable, "-c", PLAIN, str(n), str(work / "cache")], env)
                              for _ in range(args.repeats))
    majority = [HARNESS, "run", "--tasks", task, "--model", "majority", "--no-frame-cache", "--no-progress",
                "--output-path", str(work / "out")]
    ours = statistics.median(timed(majority, env) for _ in range(args.repeats))

    vlm = [HARNESS, "run", "--tasks", task, "--model", "tiny-qwen-vl", "--model-args", "mode=score",
           "--no-progress", "--output-path", str(work / "out")]
    subprocess.run([HARNESS, "list", "models"], env=env, check=True, stdout=subprocess.DEVNULL)
    colds, warms = [], []
    for _ in range(args.repeats):
        for sub in ("frames", "responses.sqlite", "responses.sqlite-wal", "responses.sqlite-shm"):
            target = work / "cache" / sub
            shutil.rmtree(target, ignore_errors=True) if target.is_dir() else target.unlink(missing_ok=True)
        colds.append(timed(vlm, env))
        warms.append(timed(vlm, env))
    cold, warm = statistics.median(colds), statistics.median(warms)

    small = [HARNESS, "run", "--tasks", "synthetic:n=200,seed=9", "--model", "majority", "--no-frame-cache",
             "--no-progress", "--output-path", str(work / "out")]
    large = [HARNESS, "run", "--tasks", "synthetic:n=2000,seed=9", "--model", "majority", "--no-frame-cache",
             "--no-progress", "--output-path", str(work / "out")]
    subprocess.run(large, env=env, check=True, stdout=subprocess.DEVNULL)  # generate the 2,000 clips first
    rss_small = statistics.median(peak_rss(small, env) for _ in range(args.repeats))
    rss_large = statistics.median(peak_rss(large, env) for _ in range(args.repeats))

    rows = [
        [f"harness run, majority, {n} clips", f"{ours:.2f} s", f"plain decode loop {plain:.2f} s",
         f"{ours / plain:.2f}x"],
        [f"tiny-qwen-vl score, {n} clips: cold -> warm rerun", f"{warm:.2f} s", f"cold {cold:.2f} s",
         f"{cold / warm:.1f}x faster"],
        ["peak RSS, majority: 2,000 clips vs 200", f"{rss_large / 1024:.0f} MB", f"{rss_small / 1024:.0f} MB",
         f"{rss_large / rss_small:.2f}x"],
    ]
    print(f"{os.cpu_count()} cores, medians of {args.repeats} fresh processes")
    print(tabulate(rows, headers=["what", "harness", "reference", "ratio"], disable_numparse=True))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"clips": n, "repeats": args.repeats, "plain_decode_s": plain, "harness_majority_s": ours,
                               "overhead_ratio": ours / plain, "cold_s": cold, "warm_s": warm,
                               "warm_speedup": cold / warm, "rss_200_kb": rss_small, "rss_2000_kb": rss_large,
                               "rss_ratio": rss_large / rss_small}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
