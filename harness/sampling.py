"""Frame sampling: which decoded frames a protocol keeps, in which order."""

from __future__ import annotations

import hashlib

import numpy as np

from harness.types import FrameProtocol


def stable_seed(*parts: object) -> int:
    """A 64-bit seed from any values, identical across processes and runs."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def select_indices(total: int, protocol: FrameProtocol, sample_id: str = "") -> list[int]:
    """Frame positions to keep from a clip of ``total`` decoded frames.

    ``uniform``: K positions evenly spread from the first to the last frame
    (a clip shorter than K repeats frames, so models always see K).
    """
    if total < 1:
        raise ValueError("a clip with no frames cannot be sampled")
    k = protocol.num_frames
    indices = [int(i) for i in np.linspace(0, total - 1, k).round().astype(int)]
    if protocol.order == "reversed":
        indices.reverse()
    elif protocol.order == "shuffled":
        rng = np.random.default_rng(stable_seed(protocol.seed, sample_id))
        indices = [indices[i] for i in rng.permutation(len(indices))]
    return indices
