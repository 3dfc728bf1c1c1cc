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
    decode_workers: int = 0  # processes decoding clips beside the model (they need cores too)
    prefetch: bool = False  # a prefetch thread preprocesses the next batch beside the model


@dataclass
class Check:
    """One check of a model's contract with the harness (``harness check model``): whether it holds, what
    was found, and the fix where it does not."""

    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        fix = f"\n     fix: {self.fix}" if self.fix and not self.ok else ""
        return f"{'ok  ' if self.ok else 'FAIL'} {self.name}: {self.detail}{fix}"


class Model(abc.ABC):
    """A model that answers batches of requests.

    ``batch_size`` is how many requests it wants per call; ``modes`` the
    request modes it supports (``generate``, ``score``); ``mode`` the one the
    user chose for it (None: the task's). Requests arrive resolved
    (:mod:`harness.request_rules`): ``request.mode`` is the mode to answer in
    and ``request.told`` what to tell the model about time.

    A factory may declare its arguments as ``PARAMS = {"name": harness.Param(type, help)}``
    (on the class, or ``register(..., params=...)``): the host then refuses unknown or
    mistyped arguments with "did you mean" before the model is built, and hands them
    over converted to their types.
    """

    name: str = ""
    batch_size: int = 1
    modes: tuple[str, ...] = ("generate",)
    mode: str | None = None
    #: Reasoning stripped from answers before parsing, as ``parsing.reasoning_tags`` reads it
    #: (None: the default tags; a preset of a reasoning model may name its own). --reasoning-tags wins.
    reasoning_tags: str | None = None
    #: How it can constrain a generated answer (``--answer-format``): free always; choice (exactly one
    #: candidate) and json (``{"answer": <candidate>}``) where the backend enforces them while decoding.
    answer_formats: tuple[str, ...] = ("free",)
    cacheable: bool = True  # answers may be kept in the response cache (False: cheaper to recompute)
    sampling: bool = False  # answers depend on the request's seed (non-greedy decoding)
    #: Seconds spent loading so far (imports, weights, an engine's start): a plugin that loads lazily,
    #: inside its first ``predict``, adds them here so that they count as start-up, not loop time.
    load_s: float = 0.0

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

    def time_family(self) -> str | None:
        """The family whose time input this model takes (``harness.frames.time_told``: qwen2.5-vl,
        qwen3-vl, qwen2-vl, generic). The core computes what each request's frames are told for it
        (``request.told``) and logs exactly that. None: the model takes no time (images only)."""
        return None

    def audio_rate(self) -> int | None:
        """The sample rate (Hz) at which this model takes a video's sound (``--audio on``): the core
        decodes the track mono at this rate and hands it over as ``request.frames.audio``. None (the
        default): the model takes no sound, and ``--audio on`` is refused before any work."""
        return None

    def check_audio(self) -> None:
        """Called once under ``--audio on``, before any work: refuse (a :class:`harness.errors.UsageError`
        naming the fix) when the backend cannot take the sound as its ``audio_rate()`` promises, e.g. an
        engine or server release that mixes up audio-in-video. Default: nothing to check."""

    def check(self) -> list[Check]:
        """The checks ``harness check model`` runs on what this model would load (a checkpoint's chat
        template, tokenizer and processor files), without loading weights. Default: none to run."""
        return []

    def prepare(self, workload: Workload) -> None:
        """Called once per task before its first batch."""

    def close(self) -> None:
        """Release what the model holds outside this process's memory (an engine's processes and the
        threads that talk to them), now rather than at interpreter exit, where a library's background
        thread can still be running while Python tears down. Called once by whoever built the model,
        after its last call, also when the run failed. Default: nothing held."""

    @abc.abstractmethod
    def predict(self, requests: list[Request]) -> list[Response]:
        """One response per request, in the same order."""

    def preprocess(self, requests: list[Request]) -> Any:
        """Optional: the CPU work a batch needs before the model runs (resizing, patching, the chat
        template, tokenizing), returned as the model's inputs. The scheduler calls it in its prefetch
        thread for the next batch while ``predict_preprocessed`` runs the current one, so it must not
        touch what the model's own calls use (the weights, a tokenizer they share). None (the
        default): ``predict`` does all the work."""
        return None

    def predict_preprocessed(self, requests: list[Request], inputs: Any) -> list[Response]:
        """``predict``, given what ``preprocess`` returned for these same requests."""
        return self.predict(requests)


def close_models(models) -> None:
    """``close()`` each model, in order; one that fails to close costs a warning, never the results
    already written or the rest of the models."""
    import sys
    for model in models:
        try:
            model.close()
        except Exception as exc:  # the run's results are on disk: a failed teardown must not hide them
            print(f"harness: warning: closing model {getattr(model, 'name', '') or type(model).__name__} failed: "
                  f"{type(exc).__name__}: {exc}", file=sys.stderr)
