"""What ``--audio on`` costs in decoding, against a plain PyAV loop (run by hand, never in tests).

    python bench/audio_decode.py [--clips 60] [--repeats 3] [--out bench/results/audio_decode.json]

Source: the synthetic task's clips with sound (112x112 H.264 at 25 fps, 3-4 s, AAC 44.1 kHz stereo).
Times, medians of ``--repeats`` runs, in this process (no workers), frame cache off, 8 uniform frames:
- plain pictures: a hand-written PyAV loop (decode every frame, convert the 8 sampled ones);
- plain pictures + sound: the same, then a second pass over the container decoding the audio stream
  and resampling it to 16 kHz mono with one ``AudioResampler`` (the reference for the sound);
- harness pictures / harness pictures + sound: ``decodepool.decoded`` with ``--audio off`` / ``on``
  (the exact code a run uses, span cut, checks and all).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
from av.audio.resampler import AudioResampler
from tabulate import tabulate

from harness.context import Context
from harness.decodepool import decoded
from harness.tasks.synthetic import SyntheticTask
from harness.types import FrameProtocol, Sample

RATE = 16000


def plain(samples: list[Sample], sound: bool) -> int:
    heard = 0
    for s in samples:
        with av.open(s.media) as c:
            frames = list(c.decode(video=0))
        keep = np.linspace(0, len(frames) - 1, 8).round().astype(int)
        np.stack([frames[i].to_ndarray(format="rgb24") for i in keep])
        if sound:
            resampler = AudioResampler(format="flt", layout="mono", rate=RATE)
            with av.open(s.media) as c:
                chunks = [o.to_ndarray().reshape(-1) for f in c.decode(audio=0) for o in resampler.resample(f)]
            chunks += [o.to_ndarray().reshape(-1) for o in resampler.resample(None)]
            heard += len(np.concatenate(chunks))
    return heard


def harness(samples: list[Sample], sound: bool) -> int:
    protocol = FrameProtocol(num_frames=8, audio_rate=RATE if sound else None)
    heard = 0
    for _, frames, error, _, _ in decoded(samples, protocol, 0, None):
        assert error is None, error
        heard += len(frames.audio.samples) if frames.audio is not None else 0
    return heard


def timed(fn, repeats: int) -> float:
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cache-dir", default=None, help="where the synthetic clips are generated (default: a temp folder)")
    parser.add_argument("--out", default="bench/results/audio_decode.json")
    args = parser.parse_args(argv)
    cache = args.cache_dir or tempfile.mkdtemp(prefix="bench-audio-")
    samples = SyntheticTask({"n": args.clips, "sound": True}, Context(cache_dir=Path(cache))).samples()
    plain(samples, True)  # warm the page cache
    seconds = {name: timed(lambda f=f, s=s: f(samples, s), args.repeats)
               for name, f, s in (("plain pictures", plain, False), ("plain pictures + sound", plain, True),
                                  ("harness pictures", harness, False), ("harness pictures + sound", harness, True))}
    result = {
        "clips": len(samples), "repeats": args.repeats, "python": sys.version.split()[0], "pyav": av.__version__,
        "machine": platform.platform(), "seconds": {k: round(v, 4) for k, v in seconds.items()},
        "clips_per_s": {k: round(len(samples) / v, 1) for k, v in seconds.items()},
        "sound_costs_plain": round(seconds["plain pictures + sound"] / seconds["plain pictures"], 3),
        "sound_costs_harness": round(seconds["harness pictures + sound"] / seconds["harness pictures"], 3),
        "harness_over_plain_pictures": round(seconds["harness pictures"] / seconds["plain pictures"], 3),
        "harness_over_plain_with_sound": round(seconds["harness pictures + sound"] / seconds["plain pictures + sound"], 3),
    }
    print(tabulate([[k, f"{v:.3f}", result["clips_per_s"][k]] for k, v in seconds.items()],
                   headers=["loop", "seconds", "clips/s"]))
    print(json.dumps({k: v for k, v in result.items() if k.startswith(("sound", "harness_"))}, indent=1))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
