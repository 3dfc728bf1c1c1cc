"""Frame pipeline throughput against a plain PyAV loop (run by hand, never in tests).

    python bench/frame_pipeline.py [--clips 200] [--repeats 3] [--out bench/results/frame_pipeline.json]

Sources: the synthetic task's mp4 clips (112x112, 25 fps, 3-4 s) and the same
clips as JPEG frame folders (the DFEW/FERV39k release format). For each
frame count (8, 16) it times, medians of ``--repeats`` runs:
- plain: a hand-written PyAV loop (decode every frame, convert the sampled
  ones with ``to_ndarray``), the reference;
- harness: ``decodepool.decoded`` (the exact code a run uses) with 0, 1 and
  2 decode worker processes, frame cache off;
- warm cache: the same with the frame cache filled.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
from PIL import Image
from tabulate import tabulate

from harness.context import Context
from harness.decodepool import decoded
from harness.tasks.synthetic import SyntheticTask
from harness.types import FrameProtocol, Sample


def plain_loop(samples: list[Sample], k: int) -> int:
    frames = 0
    for s in samples:
        with av.open(s.media) as c:
            decoded_frames = list(c.decode(video=0))
        keep = np.linspace(0, len(decoded_frames) - 1, k).round().astype(int)
        frames += len(np.stack([decoded_frames[i].to_ndarray(format="rgb24") for i in keep]))
    return frames


def plain_folder_loop(samples: list[Sample], k: int) -> int:
    frames = 0
    for s in samples:
        names = sorted(os.listdir(s.media), key=lambda n: int(n.split(".")[0]))
        keep = np.linspace(0, len(names) - 1, k).round().astype(int)
        frames += len(np.stack([np.asarray(Image.open(os.path.join(s.media, names[i])).convert("RGB"))
                                for i in keep]))
    return frames


def harness_loop(samples: list[Sample], protocol: FrameProtocol, workers: int, cache: str | None) -> int:
    frames = 0
    for _, got, error, _, _ in decoded(samples, protocol, workers, cache):
        if error:
            raise RuntimeError(error)
        frames += len(got.array)
    return frames


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def to_folders(samples: list[Sample], root: Path) -> list[Sample]:
    out = []
    for s in samples:
        folder = root / s.id
        folder.mkdir(parents=True, exist_ok=True)
        with av.open(s.media) as c:
            for i, f in enumerate(c.decode(video=0), start=1):
                f.to_image().save(folder / f"{i}.jpg", quality=90)
        out.append(Sample(s.id, s.label, str(folder), fps=25.0))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default="bench/results/frame_pipeline.json")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="harness-bench-"))
    task = SyntheticTask({"n": args.clips, "seed": 11}, Context(cache_dir=work))
    videos = task.samples()
    folders = to_folders(videos, work / "folders")
    rows, records = [], []
    for source, samples, plain in (("mp4", videos, plain_loop), ("jpeg folder", folders, plain_folder_loop)):
        for k in (8, 16):
            protocol = FrameProtocol(strategy="uniform", num_frames=k)
            base = timed(lambda: plain(samples, k), args.repeats)
            cases = [("plain loop", base)]
            for workers in (0, 1, 2):
                cases.append((f"harness, {workers} workers",
                              timed(lambda: harness_loop(samples, protocol, workers, None), args.repeats)))
            cache = str(work / f"cache-{source}-{k}")
            harness_loop(samples, protocol, 0, cache)  # fill
            cases.append(("harness, warm frame cache",
                          timed(lambda: harness_loop(samples, protocol, 0, cache), args.repeats)))
            for name, seconds in cases:
                clips_per_s = len(samples) / seconds
                rows.append([source, k, name, f"{clips_per_s:.1f}", f"{clips_per_s * k:.0f}",
                             f"{base / seconds:.2f}"])
                records.append({"source": source, "frames_per_clip": k, "case": name, "seconds": seconds,
                                "clips_per_s": clips_per_s, "frames_per_s": clips_per_s * k,
                                "ratio_to_plain": base / seconds})
    machine = platform.processor() or platform.machine()
    print(f"{args.clips} clips, medians of {args.repeats} runs, {os.cpu_count()} cores, {machine}")
    print(tabulate(rows, headers=["source", "frames", "pipeline", "clips/s", "frames/s", "x plain"],
                   disable_numparse=True))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"clips": args.clips, "repeats": args.repeats, "cores": os.cpu_count(),
                               "python": sys.version.split()[0], "av": av.__version__, "results": records},
                              indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
