"""Label-prior baselines: the floor of every leaderboard.

``majority`` always answers the most frequent class of the task's training
data; ``prior`` draws from the training class distribution; ``uniform`` draws
uniformly from the choices. The training prior is what a model could know
(DFEW's and MAFW's train folds, FERV39k's train list, the synthetic
generator's shares); a task without one refuses them. ``majority-oracle`` and
``prior-oracle`` use the evaluated split's own counts instead: an oracle
that no model has, kept under that name for reference only. Draws are seeded
per sample (run seed and sample id), so predictions do not depend on batch
size or order.
"""

from __future__ import annotations

import abc
from typing import Any

import numpy as np

import harness
from harness.errors import UsageError
from harness.frames.sampling import stable_seed
from harness.model import Model, Workload
from harness.params import Param, check_args
from harness.types import Request, Response


class _Baseline(Model):
    batch_size = 64
    cacheable = False  # an answer costs less than a cache lookup, and depends on the split's prior

    PARAMS = {"seed": Param(int, "the draws' seed (default: the run's --seed)"),
              "batch_size": Param(int, "requests per call (default 64)")}

    def __init__(self, args: dict[str, Any]):
        args = check_args(f"model {self.name}", args, self.PARAMS, "argument")
        self._seed_arg = args.get("seed")
        self.seed = int(self._seed_arg or 0)
        self.batch_size = args.get("batch_size", self.batch_size)
        self.workload: Workload | None = None

    def predict(self, requests: list[Request]) -> list[Response]:
        return [Response(text=self.answer(r)) for r in requests]

    oracle = False  # True: the evaluated split's own class counts (an oracle), else the training prior

    def counts(self) -> dict[str, float]:
        """The class distribution this baseline answers from."""
        w = self.workload
        if w is None:
            return {}
        if self.oracle:
            return dict(w.class_counts)
        if w.train_prior is None:
            raise UsageError(f"model {self.name!r}: task {w.task!r} ships no training split, so there is no "
                             f"training prior to answer from. {self.name}-oracle uses the evaluated split's "
                             f"own class counts instead (an oracle, marked as such)")
        return dict(w.train_prior)

    def identity(self) -> dict[str, Any]:
        return {"id": self.name, "kind": "baseline", "args": {"seed": self.seed},
                "prior": "evaluated split (oracle)" if self.oracle else "training split"}

    def prepare(self, workload: Workload) -> None:
        # An explicit seed=... model argument wins over the run's --seed.
        self.seed = int(self._seed_arg) if self._seed_arg is not None else workload.seed
        self.workload = workload
        self.counts()  # a task without a training prior fails here, before any answer

    def classes(self, request: Request) -> tuple[str, ...]:
        """The task's class order, so answers do not change when the prompt shuffles choices."""
        return self.workload.choices if self.workload else request.choices

    @abc.abstractmethod
    def answer(self, request: Request) -> str:
        """The class name this baseline answers for one request."""


class Majority(_Baseline):
    name = "majority"

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "args": {}}

    def answer(self, request: Request) -> str:
        counts = self.counts()
        order = list(self.classes(request))
        # Ties go to the class the task lists first, whatever order the prompt shows.
        return max(order, key=lambda c: (counts.get(c, 0), -order.index(c)))


class Prior(_Baseline):
    name = "prior"

    def answer(self, request: Request) -> str:
        counts = self.counts()
        classes = self.classes(request)
        weights = np.array([counts.get(c, 0) for c in classes], dtype=float)
        if weights.sum() == 0:
            weights[:] = 1.0
        rng = np.random.default_rng(stable_seed(self.seed, request.sample_id))
        return classes[rng.choice(len(weights), p=weights / weights.sum())]


class MajorityOracle(Majority):
    name = "majority-oracle"
    oracle = True


class PriorOracle(Prior):
    name = "prior-oracle"
    oracle = True


class Uniform(_Baseline):
    name = "uniform"

    def counts(self) -> dict[str, float]:
        return {}

    def identity(self) -> dict[str, Any]:
        return {"id": self.name, "kind": "baseline", "args": {"seed": self.seed}}

    def answer(self, request: Request) -> str:
        classes = self.classes(request)
        rng = np.random.default_rng(stable_seed(self.seed, request.sample_id))
        return classes[rng.integers(len(classes))]


@harness.hookimpl
def harness_register_models(register):
    register("majority", Majority, description="Always the most frequent class of the task's training data")
    register("prior", Prior, description="Draws from the training data's class prior (seeded per sample)")
    register("majority-oracle", MajorityOracle, description="ORACLE: the most frequent class of the evaluated "
             "split itself (for reference; no model knows this)")
    register("prior-oracle", PriorOracle, description="ORACLE: draws from the evaluated split's own class "
             "prior (seeded per sample)")
    register("uniform", Uniform, description="Draws uniformly from the classes (seeded per sample)")
