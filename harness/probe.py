"""The probe contract: what a probe plugin's factory returns.

A probe asks a question about a model (does it fold rare emotions into
common ones? does the order of the options change its answer?) by declaring
the **run variants** it needs, which ``harness diagnose`` runs through the
normal evaluator (so the frame and response caches make a rerun nearly free),
and then computing **figures** from their per-sample rows. It never calls a
model itself: every number it reports is recomputable from the logs.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

from harness.params import check_params


@dataclass(frozen=True)
class Variant:
    """One run a probe needs, as changes to the ``harness diagnose`` command's settings.

    ``name`` is the probe's own label for it. Two probes that need the same
    settings share one run (the key is everything but the name).
    """

    name: str
    frames: str | None = None  # a --frames preset, applied on top of the command's
    prompt: str | None = None  # a prompt template; None keeps the command's
    choice_order: str = "fixed"  # fixed | shuffled
    choice_seed: int | None = None  # the permutation's seed when shuffled
    model_args: tuple[tuple[str, str], ...] = ()  # extra model arguments (a model variant)
    optional: bool = False  # a model (or task) that refuses these arguments skips the variant, recorded
    task_params: tuple[tuple[str, object], ...] = ()  # task parameters on top of the command's (window=3)
    audio: str | None = None  # on | off: the clip's sound with its frames; None keeps the command's --audio

    def key(self) -> tuple:
        return (self.frames, self.prompt, self.choice_order, self.choice_seed, self.model_args, self.task_params) \
            + ((self.audio,) if self.audio else ())  # runs named before audio existed keep their keys


@dataclass
class RunRows:
    """One variant's outcome on one evaluated split: its task result and per-sample rows."""

    variant: Variant
    task: dict[str, Any]  # the task result of the results document
    rows: list[dict[str, Any]]  # the per-sample log lines
    results_file: str
    skipped: str | None = None  # why an optional variant did not run


@dataclass
class ProbeContext:
    """What a probe knows besides its runs: the task and the command's settings."""

    task_name: str
    split: str
    classes: tuple[str, ...]
    seed: int
    training_prior: dict[str, float] | None  # class -> count or share; None: the task ships none
    prior_source: str | None
    model: str
    mode: str | None = None  # score | generate, as the runs answered
    extra: dict[str, Any] = field(default_factory=dict)


class Probe(abc.ABC):
    """A diagnostic: the variants it needs and the figures it computes from them."""

    name: str = ""
    description: str = ""
    PARAMS: tuple[str, ...] = ()  # the parameters it takes (``--probes name:k=v``)
    #: It runs a variant with the clip's sound (``Variant(audio="on")``): ``harness diagnose`` then checks
    #: that every task carries sound and the model takes it before any variant runs.
    needs_audio: bool = False

    def __init__(self, params: dict[str, Any]):
        check_params(f"probe {self.name}", params, self.PARAMS)
        self.params = dict(params)

    @abc.abstractmethod
    def variants(self, context: ProbeContext) -> list[Variant]:
        """The runs this probe needs (``Variant("main")`` is the command's own settings)."""

    @abc.abstractmethod
    def compute(self, runs: dict[str, RunRows], context: ProbeContext) -> dict[str, Any]:
        """Figures from the runs, by variant name: plain JSON (numbers, lists, dicts)."""

    def summary(self, figures: dict[str, Any]) -> list[tuple[str, str]]:
        """A few (label, value) lines for the terminal."""
        return []

    def plot(self, figures: dict[str, Any], context: ProbeContext, path_stem: str) -> list[str]:
        """Write figure files (``path_stem`` + ``.png``/``.svg``); return their paths."""
        return []
