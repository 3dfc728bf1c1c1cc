"""The values that flow from tasks through frames and models to metrics."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Sample:
    """One clip to classify: its id, canonical label and where its frames live."""

    id: str
    label: str
    video: str
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class FrameProtocol:
    """How frames are chosen from a clip. The task decides; every model gets the same frames.

    It is part of every result and cache key, and ``name`` makes a leaderboard
    row describe itself (``uniform8``, ``uniform8-rev``, ``uniform16-s224``).
    """

    strategy: str = "uniform"
    num_frames: int = 8
    order: str = "natural"  # natural | reversed | shuffled
    seed: int = 0
    short_side: int | None = None  # resize once while decoding; None keeps the clip's size

    STRATEGIES = ("uniform",)
    ORDERS = ("natural", "reversed", "shuffled")

    def __post_init__(self) -> None:
        if self.strategy not in self.STRATEGIES:
            raise ValueError(f"unknown frame strategy {self.strategy!r}; "
                             f"choose one of {', '.join(self.STRATEGIES)}")
        if self.order not in self.ORDERS:
            raise ValueError(f"unknown frame order {self.order!r}; "
                             f"choose one of {', '.join(self.ORDERS)}")
        if self.num_frames < 1:
            raise ValueError(f"num_frames must be at least 1, got {self.num_frames}")
        if self.short_side is not None and self.short_side < 2:
            raise ValueError(f"short_side must be at least 2, got {self.short_side}")

    @property
    def name(self) -> str:
        text = f"{self.strategy}{self.num_frames}"
        if self.short_side:
            text += f"-s{self.short_side}"
        if self.order == "reversed":
            text += "-rev"
        elif self.order == "shuffled":
            text += f"-shuf{self.seed}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **{k: v for k, v in asdict(self).items()}}


@dataclass
class Frames:
    """Decoded RGB frames with the timing a model needs to read them as video."""

    array: np.ndarray  # (T, H, W, 3) uint8
    indices: list[int]  # positions in the decoded clip
    timestamps: list[float]  # seconds from the clip's first frame
    fps: float | None  # the clip's frame rate, None when the source has no time base
    total_frames: int  # frames actually decoded, not the container's claim


@dataclass
class Request:
    """What a model is asked about one sample.

    ``messages`` is provider-neutral chat: each message has a ``role`` and a
    list of ``content`` parts, ``{"type": "video"}`` standing for ``frames``
    and ``{"type": "text", "text": ...}``. ``choices`` is the ordered list of
    candidate answers shown in the prompt.
    """

    sample_id: str
    frames: Frames
    messages: list[dict[str, Any]]
    choices: tuple[str, ...]
    mode: str = "generate"
    seed: int = 0


@dataclass
class Response:
    """A model's answer: generated text, or one log-likelihood per choice."""

    text: str | None = None
    scores: dict[str, float] | None = None
