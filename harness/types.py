"""The values that flow from tasks through frames and models to metrics."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Sample:
    """One clip to classify: its id, canonical label and where its frames live.

    ``media`` is a video file or a folder of frame images. For a folder,
    ``fps`` is the task's knowledge of its frame rate (None: no real time
    base, e.g. time-interpolated frames); videos carry their own rate.
    """

    id: str
    label: str
    media: str
    fps: float | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class FrameProtocol:
    """How frames are chosen from a clip. The task decides; every model gets the same frames.

    Strategies: ``uniform`` (K frames spread from first to last), ``segment``
    (one per equal segment: its middle, or a seeded random frame), ``fps``
    (a target rate, capped at ``num_frames``), ``dense`` (K consecutive frames
    around the centre), ``all`` (every frame, capped at ``num_frames`` if set),
    ``apex`` (the K frames nearest the middle of the expression's apex, for
    tasks that annotate it: the "apex frame alone" probe).
    It is part of every result and cache key, and ``name`` makes a leaderboard
    row describe itself (``uniform8``, ``fps5-max32``, ``segment16-s224-rev``).
    """

    strategy: str = "uniform"
    num_frames: int | None = 8
    fps: float | None = None  # target rate of the ``fps`` strategy
    pick: str = "middle"  # segment: middle | random
    order: str = "natural"  # natural | reversed | shuffled
    seed: int = 0
    short_side: int | None = None  # resize once while decoding; None keeps the clip's size
    max_pixels: int | None = None  # or: shrink until width * height fits
    above_source: str = "refuse"  # fps above a clip's own rate: refuse | cap (take every frame, recorded)
    nominal_fps: float | None = None  # the stated clock of media without a time base (recorded in the name)
    audio_rate: int | None = None  # --audio on: the sound track too, mono at this rate (Hz); None: pictures only

    STRATEGIES = ("uniform", "segment", "fps", "dense", "all", "apex")
    ORDERS = ("natural", "reversed", "shuffled")

    def __post_init__(self) -> None:
        if self.strategy not in self.STRATEGIES:
            raise ValueError(f"unknown frame strategy {self.strategy!r}; "
                             f"choose one of {', '.join(self.STRATEGIES)}")
        if self.order not in self.ORDERS:
            raise ValueError(f"unknown frame order {self.order!r}; "
                             f"choose one of {', '.join(self.ORDERS)}")
        if self.pick not in ("middle", "random"):
            raise ValueError(f"segment pick must be middle or random, got {self.pick!r}")
        if self.strategy in ("uniform", "segment", "dense", "apex") and not self.num_frames:
            raise ValueError(f"the {self.strategy} strategy needs a frame count")
        if self.num_frames is not None and self.num_frames < 1:
            raise ValueError(f"num_frames must be at least 1, got {self.num_frames}")
        if self.strategy == "fps" and not (self.fps and self.fps > 0):
            raise ValueError("the fps strategy needs a positive target rate (fps=...)")
        if self.short_side is not None and self.short_side < 2:
            raise ValueError(f"short_side must be at least 2, got {self.short_side}")
        if self.max_pixels is not None and self.max_pixels < 4:
            raise ValueError(f"max_pixels must be at least 4, got {self.max_pixels}")
        if self.short_side and self.max_pixels:
            raise ValueError("choose one resize policy: short_side or max_pixels")
        if self.above_source not in ("refuse", "cap"):
            raise ValueError(f"above_source must be refuse or cap, got {self.above_source!r}")
        if self.nominal_fps is not None and not self.nominal_fps > 0:
            raise ValueError(f"nominal_fps must be positive, got {self.nominal_fps}")
        if self.audio_rate is not None and (isinstance(self.audio_rate, bool) or not isinstance(self.audio_rate, int)
                                            or not 1000 <= self.audio_rate <= 192_000):
            raise ValueError(f"audio_rate must be a whole number of Hz from 1000 to 192000, got {self.audio_rate!r}")

    @property
    def covers_clip(self) -> bool:
        """Its frames spread over the whole clip (uniform, segment, fps, all), so with two or more of
        them they stand for all of it (and ``--audio on`` sends the whole clip's sound); dense and apex
        frames stand for their own stretch."""
        return self.strategy in ("uniform", "segment", "fps", "all")

    @property
    def needs_time_base(self) -> bool:
        return self.strategy in ("fps", "apex")

    @property
    def name(self) -> str:
        if self.strategy == "fps":
            text = f"fps{self.fps:g}" + (f"-max{self.num_frames}" if self.num_frames else "")
            if self.above_source == "cap":
                text += "-cap"
        elif self.strategy == "all":
            text = "all" + (f"-max{self.num_frames}" if self.num_frames else "")
        else:
            text = f"{self.strategy}{self.num_frames}"
            if self.strategy == "segment" and self.pick == "random":
                text += f"-rand{self.seed}"
        if self.short_side:
            text += f"-s{self.short_side}"
        if self.max_pixels:
            text += f"-p{self.max_pixels}"
        if self.order == "reversed":
            text += "-rev"
        elif self.order == "shuffled":
            text += f"-shuf{self.seed}"
        if self.nominal_fps:
            text += f"-nominal{self.nominal_fps:g}fps"
        if self.audio_rate:
            text += f"+audio{self.audio_rate / 1000:g}k"
        return text

    def to_dict(self) -> dict[str, Any]:
        out = {"name": self.name, **asdict(self)}
        if out["audio_rate"] is None:  # pictures only: the record (and every cache key) as before audio existed
            del out["audio_rate"]
        return out


@dataclass
class Audio:
    """A clip's sound over the span its sampled frames cover, mono float32 in [-1, 1] at ``rate``.

    ``start`` and ``end`` are seconds on the frames' clock (from the clip's first displayed frame):
    the first sampled frame's time to the last one's plus one frame period, so the sound is the
    stretch of the clip the frames show. ``window`` is True when that is not the whole clip (dense
    or apex sampling, a context window), which the per-sample log states.
    """

    samples: np.ndarray  # (N,) float32, mono
    rate: int  # samples per second, the model family's rate
    start: float  # seconds on the frames' clock
    end: float
    source_rate: int  # the track's own rate before resampling
    source_channels: int  # its channels before the down-mix to mono
    window: bool = False  # the span is a part of the clip, not all of it
    padded_s: float = 0.0  # silence added where the track started late or ended early (within tolerance)
    aligned: bool = True  # the frames are shown in time order, as the sound plays (False: reversed or shuffled frames)

    @property
    def duration(self) -> float:
        return len(self.samples) / self.rate

    def to_log(self) -> dict[str, Any]:
        """What the per-sample log records about the sound a model was given."""
        return {"present": True, "rate": self.rate, "duration": round(self.duration, 6),
                "span": [round(self.start, 6), round(self.end, 6)], "window": self.window,
                "source_rate": self.source_rate, "source_channels": self.source_channels,
                "padded_s": round(self.padded_s, 6), "aligned": self.aligned,
                "rms": round(float(np.sqrt(np.mean(np.square(self.samples, dtype=np.float64)))), 6)
                if len(self.samples) else 0.0}


@dataclass
class Frames:
    """Decoded RGB frames with the timing a model needs to read them as video.

    ``time_base`` says where the times come from: ``decoded`` (the frames'
    presentation times), ``declared`` (a frame folder at a rate the task
    knows), ``nominal`` (media without a time base, on the protocol's stated
    clock) or ``none`` (no clock at all: no model can be told a time).
    """

    array: np.ndarray  # (T, H, W, 3) uint8
    indices: list[int]  # positions in the decoded clip, display order
    timestamps: list[float] | None  # seconds from the clip's first displayed frame; None without a clock
    fps: float | None  # the clip's mean frame rate (measured from decoded times), None without a clock
    total_frames: int  # frames actually decoded, not the container's claim
    time_base: str = "decoded"
    duration: float | None = None  # the whole clip's length in seconds on the same clock
    header_fps: float | None = None  # what the container claimed, kept when it disagrees with the measured rate
    digest: str | None = None  # content hash of ``array`` (response-cache keys), kept in the frame cache
    audio: Audio | None = None  # the sound over the frames' span (--audio on), else None

    def content_digest(self) -> str:
        """A hash of the pixels and the sound, computed once (the frame cache stores it with the frames)."""
        if self.digest is None:
            import hashlib
            h = hashlib.blake2b(self.array.tobytes(), digest_size=16)
            if self.audio is not None:
                h.update(b"audio%d" % self.audio.rate)
                h.update(np.ascontiguousarray(self.audio.samples, dtype=np.float32).tobytes())
            self.digest = h.hexdigest()
        return self.digest


@dataclass
class Request:
    """What a model is asked about one sample, resolved by the core before a backend sees it.

    ``messages`` is provider-neutral chat: each message has a ``role`` and a
    list of ``content`` parts, ``{"type": "video"}`` standing for ``frames``,
    ``{"type": "image", "frame": i}`` for frame ``i`` of ``frames`` as a still
    image, and ``{"type": "text", "text": ...}``. ``choices`` is the ordered list of
    candidate answers shown in the prompt; ``answer_keys`` what the prompt
    asks the model to write for each of them (option letters), empty when
    the answer is the class name itself.

    The evaluator settles ``mode`` (``generate`` or ``score``, by one rule for
    every backend: :func:`harness.request_rules.resolve`) and ``told``, what
    the model's time family is told about the frames' times
    (:class:`harness.frames.time_told.Told`, None when the request has no video
    or the model takes no time). A backend only translates a resolved request
    into its wire format: the per-sample log records ``told`` as sent.
    """

    sample_id: str
    frames: Frames
    messages: list[dict[str, Any]]
    choices: tuple[str, ...]
    mode: str = "generate"
    seed: int = 0
    answer_keys: tuple[str, ...] = ()
    mode_required: bool = False  # True: answer in ``mode`` even if the model was set to another (captions)
    notes: dict[str, Any] = field(default_factory=dict)  # what a strategy wants logged per sample
    told: Any = None  # harness.frames.time_told.Told, set by the core
    answer_format: str = "free"  # free | choice | json: how a generated answer is constrained (set by the core)
    resolved: bool = False  # True once the core settled mode, answer format and time told

    @property
    def has_video(self) -> bool:
        """Whether a message shows ``frames`` as one video."""
        return any(p.get("type") == "video" for m in self.messages for p in m["content"])

    @property
    def has_audio(self) -> bool:
        """Whether the video carries its sound (``frames.audio``, under --audio on): a backend sends it
        with the video, or refuses the request; it never drops it."""
        return self.frames.audio is not None and self.has_video

    @property
    def still_frames(self) -> list[int]:
        """Indices into ``frames`` shown as still images, in the order the messages name them."""
        return [p["frame"] for m in self.messages for p in m["content"] if p.get("type") == "image"]

    @property
    def candidates(self) -> tuple[str, ...]:
        """What the model is asked to write for each choice: its option letter, or its name."""
        return tuple(self.answer_keys or self.choices)

    def answer_schema(self) -> dict[str, Any]:
        """The JSON object a ``json`` answer must be: ``{"answer": <one of the candidates>}``."""
        return {"type": "object", "properties": {"answer": {"type": "string", "enum": list(self.candidates)}},
                "required": ["answer"], "additionalProperties": False}

    def constrained_answers(self) -> list[str]:
        """Every text a constrained answer may be: the candidates (``choice``), or each candidate as
        the compact JSON object of :meth:`answer_schema` (``json``); empty when the answer is free."""
        if self.answer_format == "choice":
            return list(self.candidates)
        if self.answer_format == "json":
            import json
            return [json.dumps({"answer": c}, ensure_ascii=False) for c in self.candidates]
        return []


@dataclass
class Response:
    """A model's answer: generated text, or one log-likelihood per choice.

    ``variants`` holds alternative answers the model also reports, by name
    (e.g. ``prior_corrected``); each gets its own metrics in the results.
    ``meta`` carries facts about the answer worth logging per sample (the
    visual tokens it took, probability mass a score could not see).
    ``error`` marks a request the model could not answer (a server's 4xx,
    retries exhausted): that sample fails with this message, is never cached,
    and the run goes on.
    """

    text: str | None = None
    scores: dict[str, float] | None = None
    variants: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # e.g. visual_tokens, a score's missing mass
