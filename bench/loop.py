"""The harness's loop and start-up against a hand-written transformers loop (run by hand, never in tests).

    python bench/loop.py [--clips 120] [--repeats 3] [--neighbour]

Both run as fresh processes on the same 120 generated clips, with the same tiny Qwen2.5-VL
checkpoint, 8 uniform frames, the same prompt, greedy decoding and 8 new tokens, caches off.
The hand loop is `bench/hand_loop.py`. Runs are interleaved (hand, harness, ... per repeat) and
each figure is a median. Reported: start-up (process start to the first clip, imports and model
load included), the loop (first to last batch), the whole command, and whether the harness's
answers equal the hand loop's, clip by clip. ``--neighbour`` repeats everything beside a busy
process that spins on one core, to show what the thread choice does under contention; the
configuration ``threads=all`` is the harness's old default (torch on every core).
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

from tabulate import tabulate

from harness.context import Context
from harness.prompts import NAMES
from harness.tasks.synthetic import SyntheticTask
from harness.testing.checkpoints import build

BIN = Path(sys.executable).parent


def hand(manifest: Path, batch: int, env: dict) -> dict:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, str(Path(__file__).with_name("hand_loop.py")), str(manifest), str(batch)],
                         capture_output=True, text=True, env=env, check=True)
    total = time.perf_counter() - start
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return {"startup_s": total - data["loop_s"], "loop_s": data["loop_s"], "total_s": total,
            "answers": data["answers"], "threads": data["torch_threads"]}


def harness(work: Path, ckpt: Path, clips: int, batch: int, dtype: str, extra: str, env: dict,
            flags: tuple[str, ...] = ()) -> dict:
    out = Path(tempfile.mkdtemp(dir=work))
    start = time.perf_counter()
    subprocess.run([str(BIN / "harness"), "run", "--tasks", f"synthetic:n={clips},seed=5", "--model", "hf",
                    "--model-args", f"pretrained={ckpt},max_new_tokens=8,dtype={dtype}{extra}",
                    "--batch-size", str(batch), "--no-cache", "--no-frame-cache", "--log-samples",
                    "--output-path", str(out), "--no-progress", *flags], capture_output=True, text=True, env=env,
                   check=True)
    total = time.perf_counter() - start
    doc = json.loads(next(out.glob("results_*.json")).read_text())
    task = next(iter(doc["tasks"].values()))
    rows = [json.loads(line) for line in (out / task["samples_file"]).read_text().splitlines()]
    answers = [r["raw"] for r in sorted(rows, key=lambda r: r["index"])]
    loop = doc["timings"]["loop_s"]
    return {"startup_s": total - loop, "loop_s": loop, "total_s": total, "answers": answers,
            "threads": doc["model"]["runtime"].get("torch_threads"),
            "inside": doc["timings"]}


IMPORTS = {"python": "pass", "import torch": "import torch",
           "+ transformers": "import torch, transformers",
           "+ processor and model classes (torchvision, torch._dynamo)":
               "from transformers import AutoModelForImageTextToText, AutoProcessor"}


def imports(work: Path, repeats: int, env: dict) -> list[dict]:
    """Seconds each library import stage takes in a fresh process, and the harness's own start-up
    (a run with a model that imports nothing): where a command's start-up goes."""
    times: dict[str, list[float]] = {name: [] for name in [*IMPORTS, "harness run, model majority (start-up)"]}
    for _ in range(repeats):
        for name, code in IMPORTS.items():
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)
            times[name].append(time.perf_counter() - start)
        out = Path(tempfile.mkdtemp(dir=work))
        subprocess.run([str(BIN / "harness"), "run", "--tasks", "synthetic:n=120,seed=5", "--model", "majority",
                        "--output-path", str(out), "--no-progress"], env=env, check=True, capture_output=True)
        doc = json.loads(next(out.glob("results_*.json")).read_text())
        times["harness run, model majority (start-up)"].append(doc["timings"]["startup_s"])
    return [{"stage": name, "seconds": statistics.median(v), "runs": v} for name, v in times.items()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=120)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--neighbour", action="store_true", help="also measure beside a busy process")
    ap.add_argument("--width", type=int, default=32, help="hidden size of the checkpoint (32: the tiny one)")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--pipeline", action="store_true",
                    help="also run the harness on every core with and without its prefetch thread")
    ap.add_argument("--out", default="bench/results/loop.json")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="harness-loop-"))
    ckpt = build("qwen2.5-vl", work / "ckpt", width=args.width, layers=args.layers)
    env = {**os.environ, "HARNESS_CACHE": str(work / "cache"), "HF_HUB_OFFLINE": "1"}
    env.pop("OMP_NUM_THREADS", None)
    task = SyntheticTask({"n": args.clips, "seed": 5}, Context(cache_dir=work / "cache"))
    samples = task.samples()
    manifest = work / "manifest.json"
    manifest.write_text(json.dumps({"checkpoint": str(ckpt), "dtype": args.dtype, "frames": 8, "max_new_tokens": 8,
                                    "clips": [s.media for s in samples],
                                    "messages": NAMES.render(tuple(task.classes))}))
    stages = imports(work, args.repeats, env) if args.width == 32 else []
    configs = {"hand loop": lambda b, e: hand(manifest, b, e),
               "harness": lambda b, e: harness(work, ckpt, args.clips, b, args.dtype, "", e),
               "harness threads=all": lambda b, e: harness(work, ckpt, args.clips, b, args.dtype,
                                                           f",threads={os.cpu_count()}", e)}
    if args.pipeline:
        configs["harness threads=all --no-prefetch"] = lambda b, e: harness(
            work, ckpt, args.clips, b, args.dtype, f",threads={os.cpu_count()}", e, ("--no-prefetch",))
    elif not args.neighbour:
        configs.pop("harness threads=all")
    records, rows = [], []
    for neighbour in ([False, True] if args.neighbour else [False]):
        busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if neighbour else None
        try:
            for batch in (1, 8):
                runs: dict[str, list[dict]] = {name: [] for name in configs}
                for _ in range(args.repeats):  # interleaved: a slow spell of the machine hits every config
                    for name, fn in configs.items():
                        runs[name].append(fn(batch, env))
                base = statistics.median(r["loop_s"] for r in runs["hand loop"])
                for name, rs in runs.items():
                    med = {k: statistics.median(r[k] for r in rs) for k in ("startup_s", "loop_s", "total_s")}
                    same = all(r["answers"] == runs["hand loop"][0]["answers"] for r in rs)
                    record = {"config": name, "batch": batch, "neighbour": neighbour, **med,
                              "loop_clips_per_s": args.clips / med["loop_s"], "loop_speedup_vs_hand": base / med["loop_s"],
                              "answers_equal_hand": same, "torch_threads": rs[0]["threads"],
                              "runs": [{k: r[k] for k in ("startup_s", "loop_s", "total_s")} for r in rs]}
                    if "inside" in rs[0]:
                        record["harness_reported"] = [r["inside"] for r in rs]
                    records.append(record)
                    rows.append([name, batch, "yes" if neighbour else "no", rs[0]["threads"],
                                 f"{med['startup_s']:.2f}", f"{med['loop_s']:.2f}",
                                 f"{args.clips / med['loop_s']:.1f}", f"{base / med['loop_s']:.2f}x",
                                 f"{med['total_s']:.2f}", "yes" if same else "NO"])
        finally:
            if busy:
                busy.kill()
    print(f"Qwen2.5-VL width {args.width}, {args.layers} layers, {args.clips} clips, 8 frames, 8 new tokens, "
          f"{args.dtype}, {os.cpu_count()} cores, "
          f"medians of {args.repeats} interleaved runs")
    print(tabulate(rows, headers=["config", "batch", "neighbour", "torch threads", "start-up s", "loop s",
                                  "loop clips/s", "loop vs hand", "total s", "same answers"], disable_numparse=True))
    print("\nstart-up, where it goes (fresh processes, medians):")
    print(tabulate([[r["stage"], f"{r['seconds']:.2f}"] for r in stages], headers=["stage", "seconds"],
                   disable_numparse=True))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"clips": args.clips, "dtype": args.dtype, "cores": os.cpu_count(),
                               "width": args.width, "layers": args.layers,
                               "repeats": args.repeats, "results": records, "startup_stages": stages}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
