"""Frame sampling: which decoded frames a protocol keeps, in which order.

Everything here is a pure function of the clip's frame count, its frame
rate, the protocol and the sample id, so every model and every rerun sees
the same frames.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import replace

import numpy as np

from harness.errors import MediaError, UsageError
from harness.types import FrameProtocol


def stable_seed(*parts: object) -> int:
    """A 64-bit seed from any values, identical across processes and runs."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def _uniform(total: int, k: int) -> list[int]:
    return [int(i) for i in np.linspace(0, total - 1, k).round().astype(int)]


def select_indices(total: int, protocol: FrameProtocol, sample_id: str = "",
                   fps: float | None = None, timestamps: list[float] | None = None,
                   apex: tuple[float, float] | None = None) -> list[int]:
    """Frame positions to keep from a clip of ``total`` decoded frames.

    ``timestamps`` are the display times of all ``total`` frames (seconds,
    ascending); without them a clip at ``fps`` is assumed regular. Strategies
    that mean time (``fps``) select by those times: the nearest frame to each
    point of a regular grid, never the same frame twice. Count strategies
    (``uniform``, ``segment``, ``dense``) repeat frames of a clip shorter than
    K, so models always see K frames; ``uniform`` with K=1 takes the middle.
    """
    if total < 1:
        raise ValueError("a clip with no frames cannot be sampled")
    k = protocol.num_frames
    if protocol.strategy == "uniform":
        indices = [(total - 1) // 2] if k == 1 else _uniform(total, k)
    elif protocol.strategy == "segment":
        bounds = np.linspace(0, total, k + 1)
        if protocol.pick == "middle":
            indices = [min(total - 1, int((lo + hi) / 2)) for lo, hi in zip(bounds, bounds[1:])]
        else:
            rng = np.random.default_rng(stable_seed(protocol.seed, "segment", sample_id))
            indices = [min(total - 1, int(lo + rng.random() * max(hi - lo, 1)))
                       for lo, hi in zip(bounds, bounds[1:])]
    elif protocol.strategy == "dense":
        start = max(0, (total - k) // 2)
        indices = [min(total - 1, start + i) for i in range(k)]
    elif protocol.strategy == "fps":
        indices = _by_time(total, protocol, fps, timestamps)
    elif protocol.strategy == "apex":
        indices = _at_apex(total, k, fps, timestamps, apex)
    else:  # all
        indices = list(range(total)) if not k or total <= k else _uniform(total, k)
    if protocol.order == "reversed":
        indices.reverse()
    elif protocol.order == "shuffled":
        rng = np.random.default_rng(stable_seed(protocol.seed, sample_id))
        indices = [indices[i] for i in rng.permutation(len(indices))]
    return indices


def measured_rate(times) -> float | None:
    """A clip's mean frame rate from its display times (None for one frame or no span)."""
    if len(times) < 2 or times[-1] <= times[0]:
        return None
    return (len(times) - 1) / (times[-1] - times[0])


def _at_apex(total: int, k: int, fps: float | None, timestamps: list[float] | None,
             apex: tuple[float, float] | None) -> list[int]:
    """The K frames nearest the middle of the annotated apex window, in time order."""
    if apex is None:
        raise MediaError("the apex strategy needs an annotated apex window, and this sample has none")
    times = np.asarray(timestamps if timestamps is not None else [i / fps for i in range(total)] if fps else [],
                       dtype=float)
    if len(times) != total:
        raise MediaError("the apex strategy needs the frames' times, and this clip has no time base")
    middle = (apex[0] + apex[1]) / 2
    nearest = np.argsort(np.abs(times - middle), kind="stable")[:k]
    return sorted(int(i) for i in nearest)


def _by_time(total: int, protocol: FrameProtocol, fps: float | None,
             timestamps: list[float] | None) -> list[int]:
    """The ``fps`` strategy: nearest frames to a regular time grid, without duplicates."""
    if timestamps is None:
        if not fps:
            raise MediaError("this clip has no time base (no frame rate), so the fps strategy "
                             "cannot sample it; use uniform or segment sampling")
        timestamps = [i / fps for i in range(total)]
    times = np.asarray(timestamps, dtype=float)
    if len(times) != total:
        raise ValueError(f"{len(times)} timestamps for {total} frames")
    source = measured_rate(times)
    target = protocol.fps
    if source is not None and target > source * 1.001:
        if protocol.above_source != "cap":
            raise MediaError(f"the fps strategy asks for {target:g} fps but this clip runs at "
                             f"{source:.3g} fps: it would repeat frames. Choose fps <= {source:.3g}, "
                             f"or add above_source=cap to take every frame (recorded in the protocol name)")
        grid = times.copy()
    else:
        span = times[-1] - times[0]
        grid = times[0] + np.arange(int(np.floor(span * target + 1e-9)) + 1) / target
    k = protocol.num_frames
    if k and len(grid) > k:  # a long clip: keep the cap, spread over the whole clip in time
        grid = np.linspace(times[0], times[-1], k)
    # nearest frame to each grid point (ties go to the earlier frame)
    right = np.clip(np.searchsorted(times, grid), 1, max(total - 1, 1))
    left = right - 1
    pick = np.where(np.abs(times[np.minimum(right, total - 1)] - grid) < np.abs(times[left] - grid),
                    np.minimum(right, total - 1), left) if total > 1 else np.zeros(len(grid), int)
    seen: set[int] = set()
    out = []
    for i in map(int, pick):
        if i not in seen:
            seen.add(i)
            out.append(i)
    return out


def target_size(width: int, height: int, protocol: FrameProtocol) -> tuple[int, int]:
    """The size frames are resized to once, while decoding (never upscaled by max_pixels)."""
    if protocol.short_side and min(width, height) != protocol.short_side:
        scale = protocol.short_side / min(width, height)
    elif protocol.max_pixels and width * height > protocol.max_pixels:
        scale = (protocol.max_pixels / (width * height)) ** 0.5
    else:
        return width, height
    return max(1, int(width * scale + 0.5)), max(1, int(height * scale + 0.5))


_KEYS = {"uniform": "strategy", "segment": "strategy", "dense": "strategy", "all": "strategy", "apex": "strategy",
         "fps": "strategy", "max": "num_frames", "frames": "num_frames", "pick": "pick",
         "order": "order", "seed": "seed", "size": "short_side", "pixels": "max_pixels",
         "above_source": "above_source", "nominal": "nominal_fps"}
#: Bounds of a preset's numbers: a frame count a model could take, a frame side a decoder can make.
MAX_FRAMES = 4096
MAX_SIDE = 8192
#: Bounds of a rate: one frame in 100 s at the slowest (a clip is seconds long), a high-speed camera at the fastest.
MIN_RATE, MAX_RATE = 0.01, 1000.0


def _whole(text: str, item: str, value: str, low: int, high: int, what: str, where: str = "--frames") -> int:
    try:
        number = int(value)
    except ValueError:
        raise UsageError(f"{where} {text!r}: {item!r}: {what} must be a whole number, got {value!r}") from None
    if not low <= number <= high:
        raise UsageError(f"{where} {text!r}: {item!r}: {what} must be between {low} and {high}")
    return number


def _rate(text: str, item: str, value: str, what: str, where: str = "--frames") -> float:
    try:
        number = float(value)
    except ValueError:
        raise UsageError(f"{where} {text!r}: {item!r}: {what} must be a number, got {value!r}") from None
    if not (math.isfinite(number) and MIN_RATE <= number <= MAX_RATE):
        raise UsageError(f"{where} {text!r}: {item!r}: {what} must be between {MIN_RATE:g} and {MAX_RATE:g} frames "
                         f"per second, got {value}")
    return number


def frame_changes(text: str, where: str = "--frames") -> dict:
    """The fields a ``--frames`` preset sets, each checked for its type and range (a usage error
    naming the item otherwise); no task's default protocol is needed for this."""
    changes: dict = {}
    for item in (i.strip() for i in text.split(",")):
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep and key.isdigit():
            changes.update(strategy="uniform",
                           num_frames=_whole(text, item, key, 1, MAX_FRAMES, "the frame count", where=where))
            continue
        if key not in _KEYS:
            raise UsageError(f"{where}: unknown item {item!r}; use e.g. 16, segment=16, dense=16, "
                             f"fps=5,max=32, all, order=reversed, size=224")
        field = _KEYS[key]
        if field == "strategy":
            changes["strategy"] = key
            if key == "fps":
                changes["fps"] = _rate(text, item, value, "the target rate", where=where) if sep else None
                changes.setdefault("num_frames", None)
            elif key == "all":
                if sep:
                    raise UsageError(f"{where} {text!r}: 'all' takes no value; cap it with all,max=K")
                changes.setdefault("num_frames", None)
            elif key == "apex":
                changes["num_frames"] = (_whole(text, item, value, 1, MAX_FRAMES, "the frame count", where=where)
                                         if sep else 1)
            elif sep:
                changes["num_frames"] = _whole(text, item, value, 1, MAX_FRAMES, "the frame count", where=where)
        elif not sep:
            raise UsageError(f"{where} {text!r}: {key} needs a value ({key}=...)")
        elif field == "num_frames":
            changes[field] = _whole(text, item, value, 1, MAX_FRAMES, "the frame count", where=where)
        elif field == "seed":
            changes[field] = _whole(text, item, value, 0, 2 ** 63 - 1, "the seed", where=where)
        elif field == "short_side":
            changes[field] = _whole(text, item, value, 2, MAX_SIDE, "the shorter side in pixels", where=where)
        elif field == "max_pixels":
            changes[field] = _whole(text, item, value, 4, MAX_SIDE * MAX_SIDE, "the pixel count", where=where)
        elif field == "nominal_fps":
            changes[field] = _rate(text, item, value, "the nominal rate", where=where)
        else:  # pick, order, above_source: words, checked by the protocol
            changes[field] = value
    return changes


def parse_frames(text: str, base: FrameProtocol, where: str = "--frames") -> FrameProtocol:
    """Apply a ``--frames`` preset to a task's default protocol.

    ``16`` (uniform 16), ``segment=16``, ``segment=16,pick=random``, ``dense=16``,
    ``fps=5,max=32``, ``all``, plus ``order=reversed|shuffled``, ``seed=S``,
    ``size=224`` (shorter side) or ``pixels=50176``, ``above_source=cap`` (fps
    above a clip's rate takes every frame instead of failing the clip),
    ``nominal=2`` (the clock stated for media without a time base). Unnamed
    fields keep the task's defaults. Every value is checked for its type and range.
    """
    changes = frame_changes(text, where)
    try:
        return replace(base, **changes)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{where} {text!r}: {exc}") from None
