"""The model contract: what a model plugin's factory returns."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

from harness.types import Request, Response


@dataclass(frozen=True)
class Workload:
    """What a model is told about a task before its requests arrive.

    ``train_prior`` is the class distribution of the task's training data
    (None when the task ships none), with ``prior_source`` saying where it
    comes from: what a label-prior baseline may know. ``class_counts`` is the
    label distribution of the evaluated split itself: only the explicitly
    named oracle baselines use it; a real model must ignore both.
    """

    task: str
    choices: tuple[str, ...]
    num_requests: int
    class_counts: dict[str, int] = field(default_factory=dict)
    seed: int = 0
    train_prior: dict[str, float] | None = None
    prior_source: str | None = None


class Model(abc.ABC):
    """A model that answers batches of requests.

    ``batch_size`` is how many requests it wants per call; ``modes`` the
    request modes it supports (``generate``, ``score``).
    """

    name: str = ""
    batch_size: int = 1
    modes: tuple[str, ...] = ("generate",)
    cacheable: bool = True  # answers may be kept in the response cache (False: cheaper to recompute)
    sampling: bool = False  # answers depend on the request's seed (non-greedy decoding)

    @abc.abstractmethod
    def identity(self) -> dict[str, Any]:
        """Everything that identifies this model's outputs: ``id`` plus revision,
        dtype and every argument that changes predictions. Used in results,
        leaderboard rows and cache keys."""

    def provenance(self) -> dict[str, str]:
        """Versions of the libraries that compute this model's answers (e.g. torch, transformers):
        part of every response-cache key, so an upgrade never serves answers made before it."""
        return {}

    def runtime(self) -> dict[str, Any]:
        """How this model runs where that does not change its answers (threads, concurrency, a
        server's circuit breaker): recorded in results, never part of cache keys."""
        return {}

    def timing_family(self) -> str | None:
        """The family whose time input this model's requests receive (see ``harness.timing``):
        the evaluator records what each sample was told. None: the model is told no time."""
        return None

    def prepare(self, workload: Workload) -> None:
        """Called once per task before its first batch."""

    @abc.abstractmethod
    def predict(self, requests: list[Request]) -> list[Response]:
        """One response per request, in the same order."""
