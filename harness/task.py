"""The task contract: what a task plugin's factory returns."""

from __future__ import annotations

import abc
import hashlib
from dataclasses import dataclass
from typing import Any

from harness.prompts import DEFAULT_TEMPLATES, PromptTemplate
from harness.types import FrameProtocol, Sample


@dataclass(frozen=True)
class ClassPrior:
    """The class distribution a model may know without seeing the evaluated split: its training
    split's label counts (or a generator's shares), and where they come from."""

    counts: dict[str, float]
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "counts": dict(self.counts)}


class Task(abc.ABC):
    """A DFER benchmark: fixed class list, samples, frame protocol and prompts.

    Subclasses set the class attributes and implement :meth:`samples`.
    ``aliases`` maps extra words (lower case) to canonical class names for
    answer parsing. ``group`` may sort samples into named subsets (for
    example micro-expressions) that get their own metrics. A task with
    several evaluation splits (DFEW's five folds) lists them in
    :meth:`splits`; each is evaluated and reported, then averaged.
    ``has_time_base`` is False when the media has no real frame rate; such
    media are then told to models at ``nominal_fps`` (a recorded convention).
    ``has_audio`` says whether its media carry a sound track (DFEW and MAFW
    clips do, FERV39k's do not): ``--audio on`` is refused for a task without.
    """

    name: str = ""
    version: str = "1"
    description: str = ""
    classes: tuple[str, ...] = ()
    aliases: dict[str, str] = {}
    frame_protocol: FrameProtocol = FrameProtocol()
    prompt_templates: dict[str, PromptTemplate] = DEFAULT_TEMPLATES
    default_template: str = "names"
    default_mode: str = "generate"  # or "score": how models answer unless told otherwise
    split: str = "test"
    has_time_base: bool = True
    #: The clock stated for media without a time base (``has_time_base`` False): every backend is
    #: told these frames are this many per second, and the rate is in the frame protocol's name.
    nominal_fps: float = 2.0
    #: Whether the media carry their sound track, so that ``--audio on`` can send it (an instance may
    #: set it from its parameters: DFEW's frame folders carry none, its clips do).
    has_audio: bool = False

    def splits(self) -> list[str]:
        """The splits this task instance evaluates, in order."""
        return [self.split]

    @abc.abstractmethod
    def samples(self, split: str | None = None) -> list[Sample]:
        """The samples of ``split`` (default: the first of :meth:`splits`), in a stable order."""

    def training_prior(self, split: str) -> ClassPrior | None:
        """The class prior of the training data that goes with ``split`` (DFEW's and MAFW's
        train folds, FERV39k's train list), or None when the task ships none. Label-prior
        baselines and long-tail diagnostics use it; the evaluated split's own counts would be
        an oracle."""
        return None

    def prepare(self) -> None:
        """Called before a run starts: fail here (missing data, bad files), not mid-run."""

    def sample_count(self) -> int | None:
        """Samples over all evaluated splits, or None when the data is not present."""
        return None

    def group(self, sample: Sample) -> str | None:
        """The subset a sample belongs to for per-group metrics, or None."""
        return None

    def params(self) -> dict[str, Any]:
        """The task parameters that define this instance (recorded in results)."""
        return {}

    def fingerprint(self, samples: list[Sample]) -> str:
        """Hash of the task version, annotation content and sample ids."""
        return fingerprint(self.name, self.version, [(s.id, s.label) for s in samples])


def fingerprint(name: str, version: str, pairs: list[tuple[str, str]]) -> str:
    """Hash of a task's name and version and its (sample id, label) pairs in order."""
    h = hashlib.sha256(f"{name}\n{version}\n".encode())
    for sample_id, label in pairs:
        h.update(f"{sample_id}\t{label}\n".encode())
    return h.hexdigest()[:16]
