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
from harness.frames.audio import frames_span, read_audio
from harness.frames.sampling import measured_rate, select_indices, target_size
from harness.types import FrameProtocol, Frames


def read_frames(path: str, protocol: FrameProtocol, sample_id: str = "",
                apex: tuple[float, float] | None = None) -> Frames:
    """Decode ``path`` and return the frames that ``protocol`` selects, as RGB uint8.

    Times are the decoded frames' presentation times in display order: the
    decoder hands frames out in display order, but some files store their
    timestamps in decode order, so the times are sorted before they are paired
    with the frames. They count from the first displayed frame. The clip's rate
    is measured from them; the container's claim is only a fallback (one frame,
    or no timestamps) and is kept in ``header_fps`` when it disagrees.
    """
    if not os.path.isfile(path):
        raise MediaError(f"{path}: file not found")
    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise MediaError(f"{path}: no video stream")
            stream = container.streams.video[0]
            stream.codec_context.thread_count = 1  # parallelism comes from worker processes
            rate = stream.average_rate or stream.guessed_rate
            time_base = stream.time_base
            decoded, damaged = [], 0
            for packet in container.demux(stream):
                # Packet by packet: a damaged or truncated packet costs its own frames, not the clip's.
                try:
                    decoded.extend(packet.decode())
                except av.error.InvalidDataError:
                    damaged += 1
    except MediaError:
        raise
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise MediaError(f"{path}: cannot decode: {exc}") from exc
    if not decoded:
        raise MediaError(f"{path}: the video stream holds no decodable frames"
                         + (f" ({damaged} damaged packets)" if damaged else ""))

    header = float(rate) if rate else None
    times = _display_times(decoded, time_base, header)
    origin = min(f.pts for f in decoded) * float(time_base) if times is not None else 0.0
    fps = measured_rate(times) if times is not None else None
    if fps is None:
        fps = header
    if times is None:  # no usable timestamps at all: the header's rate is all there is
        if not header:
            raise MediaError(f"{path}: the frames carry no timestamps and the container states no "
                             f"frame rate, so the clip has no time base")
        times = [i / header for i in range(len(decoded))]
    try:
        indices = select_indices(len(decoded), protocol, sample_id, fps, times, apex)
    except MediaError as exc:
        raise MediaError(f"{path}: {exc}") from None
    width, height = target_size(decoded[0].width, decoded[0].height, protocol)
    reformatter = VideoReformatter()
    converted: dict[int, np.ndarray] = {}
    for i in indices:
        if i not in converted:
            frame = reformatter.reformat(decoded[i], width=width, height=height,
                                         format="rgb24", threads=1)
            converted[i] = frame.to_ndarray()
    array = np.stack([converted[i] for i in indices])
    period = (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else (1 / fps if fps else 0.0)
    disagrees = header is not None and fps is not None and abs(header - fps) > 0.01 * fps
    timestamps = [round(times[i], 6) for i in indices]
    duration = round(times[-1] + period, 6)
    audio = None
    if protocol.audio_rate:  # the sound over the frames' span, from the same container
        start, end, window = frames_span(timestamps, period, duration,
                                         covers_clip=protocol.covers_clip)
        audio = read_audio(path, protocol.audio_rate, start, end, origin, window,
                           aligned=protocol.order == "natural", clip_end=duration)
    return Frames(array=array, indices=indices, timestamps=timestamps,
                  fps=round(fps, 6) if fps else None, total_frames=len(decoded), time_base="decoded",
                  duration=duration, header_fps=header if disagrees else None, audio=audio)


def _display_times(decoded, time_base: Fraction | None, header: float | None) -> list[float] | None:
    """Seconds of every decoded frame from the first displayed one, ascending; None without pts."""
    pts = [f.pts for f in decoded]
    if time_base is None or any(p is None for p in pts):
        return None
    unit = float(time_base)  # float arithmetic: Fractions per frame cost 10% of decoding time
    seconds = sorted(p * unit for p in pts)
    return [s - seconds[0] for s in seconds]


def write_mp4(path: str, frames: np.ndarray, fps: int = 25, crf: int = 23, audio: np.ndarray | None = None,
              audio_rate: int = 44100) -> None:
    """Write RGB uint8 frames (T, H, W, 3) as an H.264 mp4, deterministically; with ``audio``
    (float samples in [-1, 1], shape (N,) for mono or (channels, N)), an AAC sound track beside them.

    Written to a temporary name first and renamed, so a reader never sees a half-written clip.
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
        sound = None
        if audio is not None:
            planar = np.atleast_2d(np.asarray(audio, dtype=np.float32))
            sound = container.add_stream("aac", rate=audio_rate)
            sound.layout = "mono" if planar.shape[0] == 1 else "stereo"
            sound.codec_context.thread_count = 1
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        if sound is not None:
            step = 1024  # AAC's frame size
            for at in range(0, planar.shape[1], step):
                chunk = np.ascontiguousarray(planar[:, at:at + step])
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=sound.layout.name)
                frame.sample_rate, frame.pts = audio_rate, at
                for packet in sound.encode(frame):
                    container.mux(packet)
            for packet in sound.encode():
                container.mux(packet)
    os.replace(tmp, path)
