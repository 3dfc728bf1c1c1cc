"""What cutting 3 s out of a long sound track costs, decoded from the track's start or from a seek
(run by hand, never in tests).

    python bench/audio_seek.py [--minutes 10] [--repeats 3] [--out bench/results/audio_seek.json]

Source: a generated track (AAC 44.1 kHz stereo in an .m4a, written with PyAV: a slow sweep plus
noise), cut to 3 s in its middle at 16 kHz mono, as ``--audio on`` sends it. Two paths of
``harness.frames.audio.read_audio``, same arguments, in this process:
- before: ``seek=False``, the old path (decode, down-mix and resample the whole track, then cut);
- after: the default, a seek to the span less a margin, decoding only until the span's end.
Times are medians of ``--repeats``; peak memory is tracemalloc's peak over one call (numpy buffers
included, PyAV's own frame buffers not), each in a fresh child process per path. The two outputs are checked identical.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import av
import numpy as np

from harness.frames.audio import read_audio
from harness.testing.sound import write_track

RATE, SOURCE = 16000, 44100


def make_track(path: str, minutes: float) -> str:
    n = int(minutes * 60 * SOURCE)
    t = np.arange(n) / SOURCE
    rng = np.random.default_rng(0)
    left = (0.3 * np.sin(2 * np.pi * (300 + 2 * (t % 60)) * t) + 0.05 * rng.standard_normal(n)).astype(np.float32)
    return write_track(path, [np.stack([left, 0.7 * left])], rate=SOURCE)


def one(path: str, start: float, seek: bool) -> np.ndarray:
    return read_audio(path, RATE, start, start + 3.0, 0.0, True, seek=seek).samples


def _child(path: str, start: float, seek: bool, queue) -> None:
    tracemalloc.start()
    one(path, start, seek)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    queue.put({"tracemalloc_peak_mb": round(peak / 2**20, 1)})


def memory(path: str, start: float, seek: bool) -> dict:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(path, start, seek, queue))
    proc.start()
    out = queue.get()
    proc.join()
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="bench/results/audio_seek.json")
    args = parser.parse_args(argv)
    folder = tempfile.mkdtemp(prefix="bench-audio-seek-")
    made = time.perf_counter()
    path = make_track(str(Path(folder) / "long.m4a"), args.minutes)
    made = time.perf_counter() - made
    start = args.minutes * 60 / 2
    before, after = one(path, start, False), one(path, start, True)
    assert np.array_equal(before, after), "the seek path must give the whole decode's samples"
    seconds = {}
    for name, seek in (("before (whole track)", False), ("after (seek)", True)):
        runs = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            one(path, start, seek)
            runs.append(time.perf_counter() - t0)
        seconds[name] = round(statistics.median(runs), 4)
    mem = {"before (whole track)": memory(path, start, False), "after (seek)": memory(path, start, True)}
    result = {"track": f"{args.minutes:g} min AAC {SOURCE} Hz stereo (.m4a, PyAV), written in {made:.1f} s",
              "span": [start, start + 3.0], "rate": RATE, "repeats": args.repeats,
              "python": platform.python_version(), "pyav": av.__version__, "machine": platform.platform(),
              "identical": True, "seconds": seconds, "memory": mem,
              "speedup": round(seconds["before (whole track)"] / seconds["after (seek)"], 1)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    json.dump(result, sys.stdout, indent=1)
    return result


if __name__ == "__main__":
    main()
