"""Frame sampling: which decoded frames a protocol keeps, in which order.

Everything here is a pure function of the clip's frame count, its frame
rate, the protocol and the sample id, so every model and every rerun sees
the same frames.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

import numpy as np

from harness.errors import MediaError, UsageError
from harness.params import parse_value
from harness.types import FrameProtocol


def stable_seed(*parts: object) -> int:
    """A 64-bit seed from any values, identical across processes and runs."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def _uniform(total: int, k: int) -> list[int]:
    return [int(i) for i in np.linspace(0, total - 1, k).round().astype(int)]


def select_indices(total: int, protocol: FrameProtocol, sample_id: str = "",
                   fps: float | None = None) -> list[int]:
    """Frame positions to keep from a clip of ``total`` decoded frames at ``fps``.

    A clip shorter than K repeats frames under ``uniform``, ``segment`` and
    ``dense``, so models always see K frames.
    """
    if total < 1:
        raise ValueError("a clip with no frames cannot be sampled")
    k = protocol.num_frames
    if protocol.strategy == "uniform":
        indices = _uniform(total, k)
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
        if not fps:
            raise MediaError("this clip has no time base (no frame rate), so the fps strategy "
                             "cannot sample it; use uniform or segment sampling")
        step = fps / protocol.fps
        indices = [int(round(j * step)) for j in range(int((total - 1) / step) + 1)]
        if k and len(indices) > k:  # a long clip: keep the cap, spread over the whole clip
            indices = _uniform(total, k)
    else:  # all
        indices = list(range(total)) if not k or total <= k else _uniform(total, k)
    if protocol.order == "reversed":
        indices.reverse()
    elif protocol.order == "shuffled":
        rng = np.random.default_rng(stable_seed(protocol.seed, sample_id))
        indices = [indices[i] for i in rng.permutation(len(indices))]
    return indices


def target_size(width: int, height: int, protocol: FrameProtocol) -> tuple[int, int]:
    """The size frames are resized to once, while decoding (never upscaled by max_pixels)."""
    if protocol.short_side and min(width, height) != protocol.short_side:
        scale = protocol.short_side / min(width, height)
    elif protocol.max_pixels and width * height > protocol.max_pixels:
        scale = (protocol.max_pixels / (width * height)) ** 0.5
    else:
        return width, height
    return max(1, int(width * scale + 0.5)), max(1, int(height * scale + 0.5))


_KEYS = {"uniform": "strategy", "segment": "strategy", "dense": "strategy", "all": "strategy",
         "fps": "strategy", "max": "num_frames", "frames": "num_frames", "pick": "pick",
         "order": "order", "seed": "seed", "size": "short_side", "pixels": "max_pixels"}


def parse_frames(text: str, base: FrameProtocol) -> FrameProtocol:
    """Apply a ``--frames`` preset to a task's default protocol.

    ``16`` (uniform 16), ``segment=16``, ``segment=16,pick=random``, ``dense=16``,
    ``fps=5,max=32``, ``all``, plus ``order=reversed|shuffled``, ``seed=S``,
    ``size=224`` (shorter side) or ``pixels=50176``. Unnamed fields keep the
    task's defaults.
    """
    changes: dict = {}
    for item in (i.strip() for i in text.split(",")):
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep and key.isdigit():
            changes.update(strategy="uniform", num_frames=int(key))
            continue
        if key not in _KEYS:
            raise UsageError(f"--frames: unknown item {item!r}; use e.g. 16, segment=16, dense=16, "
                             f"fps=5,max=32, all, order=reversed, size=224")
        field = _KEYS[key]
        if field == "strategy":
            changes["strategy"] = key
            if key == "fps":
                changes["fps"] = float(value) if sep else None
                changes.setdefault("num_frames", None)
            elif key == "all":
                changes.setdefault("num_frames", None)
            elif sep:
                changes["num_frames"] = int(value)
        else:
            changes[field] = parse_value(value)
    try:
        return replace(base, **changes)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"--frames {text!r}: {exc}") from None
