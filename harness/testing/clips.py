"""Awkward but ordinary video files whose every frame carries its own number, for timing tests.

Each frame shows its index as eight black-or-white blocks (one bit each), so a
test can read back exactly which frames a decoder returned. The writers set
presentation times by hand (milliseconds), which is how variable-frame-rate
clips, clips that start late, and files whose container header disagrees with
their frames come about in the wild.
"""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np

SIZE = 64  # frames are SIZE x SIZE pixels


def marked_frame(index: int) -> np.ndarray:
    """A frame whose blocks spell ``index`` in binary (0..255)."""
    frame = np.zeros((SIZE, SIZE, 3), np.uint8)
    for bit in range(8):
        if (index >> bit) & 1:
            row, col = divmod(bit, 4)
            frame[16 + row * 16:32 + row * 16, col * 16:(col + 1) * 16] = 255
    return frame


def read_mark(image: np.ndarray) -> int:
    """The index a marked frame spells (robust to compression and to any resize)."""
    h, w = image.shape[:2]
    value = 0
    for bit in range(8):
        row, col = divmod(bit, 4)
        y0, y1 = (16 + row * 16 + 4) * h // SIZE, (32 + row * 16 - 4) * h // SIZE
        x0, x1 = (col * 16 + 4) * w // SIZE, ((col + 1) * 16 - 4) * w // SIZE
        if image[y0:y1, x0:x1].mean() > 128:
            value |= 1 << bit
    return value


def write_timed(path: str, times_ms: list[int], container: str = "mp4", codec: str = "libx264",
                header_rate: int = 30, options: dict | None = None, stored_in_decode_order: bool = False,
                container_options: dict | None = None) -> None:
    """Write frames 0..N-1 at the given presentation times (milliseconds).

    ``header_rate`` is what the stream header claims, whatever the times say.
    ``stored_in_decode_order`` writes each packet's decode time as its
    timestamp (with B-frames, the stored times are then out of display order).
    """
    with av.open(path, "w", format=container, options=container_options or {}) as out:
        stream = out.add_stream(codec, rate=header_rate)
        stream.width = stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        stream.options = options or {"crf": "12"}
        stream.codec_context.thread_count = 1

        def mux(packets):
            for packet in packets:
                if stored_in_decode_order:
                    packet.pts = packet.dts
                out.mux(packet)

        for i, t in enumerate(times_ms):
            frame = av.VideoFrame.from_ndarray(marked_frame(i), format="rgb24")
            frame.pts, frame.time_base = int(t), Fraction(1, 1000)
            mux(stream.encode(frame))
        mux(stream.encode())


def variable_times(count: int = 60, seed: int = 0, start_ms: int = 0) -> list[int]:
    """Presentation times with gaps of 20, 40 or 80 ms (a mean of about 22 fps)."""
    rng = np.random.default_rng(seed)
    gaps = rng.choice([20, 40, 80], size=count - 1)
    return [start_ms] + [start_ms + int(x) for x in np.cumsum(gaps)]


def stored_times(path: str) -> list[float]:
    """The presentation times a file stores for its video packets, sorted: its display times."""
    with av.open(path) as c:
        stream = c.streams.video[0]
        pts = [float(p.pts * stream.time_base) for p in c.demux(stream) if p.pts is not None and p.size]
    return sorted(pts)
