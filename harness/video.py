"""Video decoding with PyAV: decode once, in order, and convert only the kept frames.

DESIGN.md section 8: decoding forward from the start is faster than seeking
for clips of a few seconds, the frame count must come from the frames
actually decoded (container headers lie), and one reused single-threaded
reformatter converts frames faster than PyAV's per-frame default.
"""

from __future__ import annotations

import os
from fractions import Fraction

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from harness.errors import MediaError
from harness.sampling import select_indices, target_size
from harness.types import FrameProtocol, Frames


def read_frames(path: str, protocol: FrameProtocol, sample_id: str = "") -> Frames:
    """Decode ``path`` and return the frames that ``protocol`` selects, as RGB uint8."""
    if not os.path.isfile(path):
        raise MediaError(f"{path}: file not found")
    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise MediaError(f"{path}: no video stream")
            stream = container.streams.video[0]
            stream.codec_context.thread_count = 1  # parallelism comes from worker processes
            rate = stream.average_rate or stream.guessed_rate
            decoded = list(container.decode(stream))
            time_base = stream.time_base
    except MediaError:
        raise
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise MediaError(f"{path}: cannot decode: {exc}") from exc
    if not decoded:
        raise MediaError(f"{path}: the video stream holds no decodable frames")

    fps = float(rate) if rate else None
    indices = select_indices(len(decoded), protocol, sample_id, fps)
    first_pts = decoded[0].pts
    width, height = target_size(decoded[0].width, decoded[0].height, protocol)
    reformatter = VideoReformatter()
    converted: dict[int, np.ndarray] = {}
    for i in indices:
        if i not in converted:
            frame = reformatter.reformat(decoded[i], width=width, height=height,
                                         format="rgb24", threads=1)
            converted[i] = frame.to_ndarray()
    array = np.stack([converted[i] for i in indices])
    timestamps = [_timestamp(decoded[i].pts, first_pts, time_base, i, fps) for i in indices]
    return Frames(array=array, indices=indices, timestamps=timestamps, fps=fps,
                  total_frames=len(decoded))


def _timestamp(pts, first_pts, time_base: Fraction | None, index: int, fps: float | None) -> float:
    if pts is not None and first_pts is not None and time_base is not None:
        return round(float((pts - first_pts) * time_base), 6)
    return round(index / fps, 6) if fps else float(index)


def write_mp4(path: str, frames: np.ndarray, fps: int = 25, crf: int = 23) -> None:
    """Write RGB uint8 frames (T, H, W, 3) as an H.264 mp4, deterministically.

    Written to a temporary name first and renamed, so a reader never sees a
    half-written clip.
    """
    t, h, w, _ = frames.shape
    tmp = f"{path}.tmp{os.getpid()}"
    with av.open(tmp, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        # x264's lookahead (and the macroblock tree built on it) made the output
        # differ from run to run here; without them the bytes are reproducible.
        stream.options = {"preset": "veryfast", "crf": str(crf),
                          "x264-params": "rc-lookahead=0:mbtree=0"}
        stream.codec_context.thread_count = 1
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    os.replace(tmp, path)
