"""Label-prior baselines: the floor of every leaderboard.

``majority`` always answers the most frequent class of the evaluated split;
``prior`` draws from the split's class distribution; ``uniform`` draws
uniformly from the choices. Draws are seeded per sample (run seed and sample
id), so predictions do not depend on batch size or order.
"""

from __future__ import annotations

import abc
from typing import Any

import numpy as np

import harness
from harness.errors import UsageError
from harness.model import Model, Workload
from harness.sampling import stable_seed
from harness.types import Request, Response


class _Baseline(Model):
    batch_size = 64
    cacheable = False  # an answer costs less than a cache lookup, and depends on the split's prior

    def __init__(self, args: dict[str, Any]):
        unknown = set(args) - {"seed", "batch_size"}
        if unknown:
            raise UsageError(f"model {self.name!r} takes only seed and batch_size, "
                             f"not {', '.join(sorted(unknown))}")
        self._seed_arg = args.get("seed")
        self.seed = int(self._seed_arg or 0)
        self.batch_size = int(args.get("batch_size", self.batch_size))
        self.workload: Workload | None = None

    def identity(self) -> dict[str, Any]:
        return {"id": self.name, "kind": "baseline", "args": {"seed": self.seed}}

    def prepare(self, workload: Workload) -> None:
        # An explicit seed=... model argument wins over the run's --seed.
        self.seed = int(self._seed_arg) if self._seed_arg is not None else workload.seed
        self.workload = workload

    def predict(self, requests: list[Request]) -> list[Response]:
        return [Response(text=self.answer(r)) for r in requests]

    def classes(self, request: Request) -> tuple[str, ...]:
        """The task's class order, so answers do not change when the prompt shuffles choices."""
        return self.workload.choices if self.workload else request.choices

    @abc.abstractmethod
    def answer(self, request: Request) -> str:
        """The class name this baseline answers for one request."""


class Majority(_Baseline):
    name = "majority"

    def identity(self) -> dict[str, Any]:
        return {"id": self.name, "kind": "baseline", "args": {}}

    def answer(self, request: Request) -> str:
        counts = self.workload.class_counts if self.workload else {}
        order = list(self.classes(request))
        # Ties go to the class the task lists first, whatever order the prompt shows.
        return max(order, key=lambda c: (counts.get(c, 0), -order.index(c)))


class Prior(_Baseline):
    name = "prior"

    def answer(self, request: Request) -> str:
        counts = self.workload.class_counts if self.workload else {}
        classes = self.classes(request)
        weights = np.array([counts.get(c, 0) for c in classes], dtype=float)
        if weights.sum() == 0:
            weights[:] = 1.0
        rng = np.random.default_rng(stable_seed(self.seed, request.sample_id))
        return classes[rng.choice(len(weights), p=weights / weights.sum())]


class Uniform(_Baseline):
    name = "uniform"

    def answer(self, request: Request) -> str:
        classes = self.classes(request)
        rng = np.random.default_rng(stable_seed(self.seed, request.sample_id))
        return classes[rng.integers(len(classes))]


@harness.hookimpl
def harness_register_models(register):
    register("majority", Majority, description="Always the most frequent class of the evaluated split")
    register("prior", Prior, description="Draws from the evaluated split's class prior (seeded per sample)")
    register("uniform", Uniform, description="Draws uniformly from the classes (seeded per sample)")
