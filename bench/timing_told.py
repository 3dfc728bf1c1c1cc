"""What each backend is told about time, for one variable-frame-rate clip and each protocol.

    python bench/timing_told.py [--out bench/results/timing_told.json]

The clip is a Matroska file whose header claims 30 fps while its 60 frames
arrive 20, 40 or 80 ms apart (about 22 fps on average). For each protocol the
table gives the frames' true times, what Qwen2.5-VL is told (seconds per
two-frame temporal patch), what Qwen3-VL shows in its prompt (the mean time of
each two-frame patch), and whether the vLLM in-process item and the served
request carry the same times (read back as vLLM reads them: index / fps).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from harness.frames import time_told
from harness.frames.video import read_frames
from harness.plugins.openai_server import build_body
from harness.plugins.vllm_engine import video_item
from harness.prompts import NAMES
from harness.testing.clips import variable_times, write_timed
from harness.types import FrameProtocol, Request

PROTOCOLS = {"uniform8": FrameProtocol(num_frames=8), "segment8": FrameProtocol(strategy="segment", num_frames=8),
             "dense8": FrameProtocol(strategy="dense", num_frames=8),
             "fps5": FrameProtocol(strategy="fps", fps=5, num_frames=None),
             "uniform8-rev": FrameProtocol(num_frames=8, order="reversed"),
             "uniform8-shuf": FrameProtocol(num_frames=8, order="shuffled", seed=4)}


def patches(times: list[float]) -> list[float]:
    times = times + ([times[-1]] if len(times) % 2 else [])
    return [round((times[i] + times[i + 1]) / 2, 1) for i in range(0, len(times), 2)]


def read_back(meta: dict) -> list[float]:
    return [round(i / meta["fps"], 3) for i in meta["frames_indices"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "vfr.mkv")
        write_timed(path, variable_times(60, seed=0), container="matroska", header_rate=30)
        for name, protocol in PROTOCOLS.items():
            frames = read_frames(path, protocol, "clip-7")
            q25, q3 = time_told.tell(frames, time_told.QWEN25), time_told.tell(frames, time_told.QWEN3)
            # requests as the core resolves them for each family (request.told), then each backend's wire form
            r25, r3 = (Request("clip-7", frames, NAMES.render(("a", "b")), ("a", "b"), told=q, resolved=True)
                       for q in (q25, q3))
            same = all(read_back(m) == read_back(q.metadata)
                       for q, m in ((q25, video_item(r25)[1]), (q3, video_item(r3)[1]),
                                    (q3, build_body(r3, "m")["media_io_kwargs"]["video"])))
            rows.append({"protocol": name, "measured_fps": frames.fps, "header_fps": frames.header_fps,
                         "shown_times": [round(t, 2) for t in frames.timestamps],
                         "qwen25_seconds_per_patch": round(2 / q25.metadata["fps"], 3),
                         "qwen25_exact": q25.exact, "qwen25_max_error_s": round(q25.max_error_s, 3),
                         "qwen3_prompt_times": patches(q3.times), "vllm_and_served_agree": same})
    for r in rows:
        print(json.dumps(r))
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
