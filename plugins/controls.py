"""Control models for the synthetic task: models whose failures are known in advance.

A diagnostic that cannot detect a known effect is broken, and without real
VLMs in CI the probes need such models. These read the synthetic renderer's
faces from the pixels (they know how it draws: eye whites, lip colours, brow
strokes) and then fail in controlled ways:

- ``synthetic-oracle``: reads every frame's expression and answers from the
  strongest frame. Its errors come from frames that miss the expression
  (sparse sampling of a micro-expression) and from a few misread frames (with
  every frame of the default task it reads 93% of clips right).
- ``synthetic-collapse``: the oracle's evidence plus a head-class prior from
  the task's training shares (``strength``, default 2): rare classes fold
  into common ones, more so as ``strength`` rises.
- ``synthetic-first``: the oracle's evidence plus a bonus for the option shown
  first (``bias``, default 3): an answer-position bias.
- ``synthetic-budget``: the oracle with a fixed visual budget (``budget``,
  default 8 frames): more frames are averaged in consecutive groups down to
  the budget, so dense sampling dilutes a brief apex (recall falls past a peak).
- ``synthetic-trajectory``: the oracle, but it believes an expression only
  when the frames shown before the strongest one build up to it: sensitive
  to frame order (shuffled frames seldom rise).
- ``synthetic-calibrated`` / ``synthetic-overconfident``: the oracle's answer,
  switched to another class with probability ``1 - accuracy`` (default 0.7,
  seeded per sample); the calibrated one states that accuracy as its
  confidence, the over-confident one states 0.99.

- ``synthetic-listener``: the oracle with ears (``--audio on``: it takes the
  sound at 16 kHz): when it hears a cue's pitch it answers the class the pitch
  names (``trust``, default 10, outweighs what it sees), else what it sees. On
  ``synthetic:sound=true`` the sound helps it where the cue agrees with the face
  (the micro-expressions sparse frames miss), hurts it where the cue
  contradicts the face, and changes nothing where there is no cue. Under
  ``--audio off`` it is the oracle.

All answer in score mode (a log-probability per choice) and in generate mode
(the best choice as text). Only for the ``synthetic`` task: on other clips
they refuse, since they read its renderer.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

import numpy as np

import harness
from harness.errors import UsageError
from harness.frames.sampling import stable_seed
from harness.model import Model, Workload
from harness.params import Param, check_args
from harness.testing.face import APEX, READ_PARAMS, read_expression
from harness.testing.sound import hear_cue
from harness.types import Request, Response

BATCH = Param(int, "requests per call (default 32)")
SIGMA = 0.15  # the oracle's reading noise (renderer units)
MIN_INTENSITY = 0.25  # weaker than this share of a class's apex reads as neutral


_READINGS: dict[bytes, np.ndarray] = {}  # frame digest -> reading: probe variants show the same frames


def _reading(frame: np.ndarray) -> np.ndarray:
    key = hashlib.blake2b(frame.tobytes(), digest_size=16).digest()
    if key not in _READINGS:
        if len(_READINGS) > 200_000:
            _READINGS.clear()
        _READINGS[key] = read_expression(frame)
    return _READINGS[key]


def class_evidence(frames: np.ndarray, classes: tuple[str, ...]) -> np.ndarray:
    """Log-evidence per class from the frame with the strongest expression: how well a scaled copy
    of the class's apex explains what that frame shows (neutral: nothing shown)."""
    readings = np.stack([_reading(f) for f in frames])
    strongest = readings[np.argmax(np.linalg.norm(readings, axis=1))]
    out = []
    for c in classes:
        apex = np.array(APEX[c][:len(READ_PARAMS)], dtype=float)
        norm = float(apex @ apex)
        k = max(0.0, float(strongest @ apex) / norm) if norm else 0.0
        if norm and k < MIN_INTENSITY:  # too faint to be this expression: a neutral face explains it
            out.append(-float(strongest @ strongest) / (2 * SIGMA ** 2) - 1.0)
            continue
        residual = strongest - min(k, 1.0) * apex
        out.append(-float(residual @ residual) / (2 * SIGMA ** 2))
    return np.array(out)


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max()
    return x - np.log(np.exp(x).sum())


class SyntheticControl(Model):
    """The oracle; subclasses change how its evidence becomes an answer."""

    name = "synthetic-oracle"
    modes = ("generate", "score")
    batch_size = 32
    cacheable = False  # reading pixels costs less than a cache lookup
    PARAMS: dict[str, Param] = {"batch_size": BATCH}

    def __init__(self, args: dict[str, Any]):
        args = check_args(f"model {self.name}", args, self.PARAMS, "argument")
        self.args = {k: v for k, v in args.items() if k != "batch_size"}
        self.batch_size = args.get("batch_size", self.batch_size)
        self.workload: Workload | None = None
        self.seed = 0

    def identity(self) -> dict[str, Any]:
        return {"id": self.name, "kind": "control", "args": dict(sorted(self.args.items()))}

    def prepare(self, workload: Workload) -> None:
        if not workload.task.startswith("synthetic"):
            raise UsageError(f"model {self.name} reads the synthetic task's drawn faces; it cannot answer "
                             f"task {workload.task!r}")
        self.workload, self.seed = workload, workload.seed

    def predict(self, requests: list[Request]) -> list[Response]:
        out = []
        for request in requests:
            if not request.choices:  # asked to describe (a strategy's caption): say what it reads
                from harness.emotions import BASIC7
                evidence = class_evidence(request.frames.array, BASIC7)
                out.append(Response(text=f"The face shows {BASIC7[int(np.argmax(evidence))]}."))
                continue
            logp = self.log_probs(request, class_evidence(request.frames.array, request.choices))
            keys = list(request.candidates)
            best = int(np.argmax(logp))
            out.append(Response(text=keys[best], scores=dict(zip(request.choices, map(float, logp)))))
        return out

    def log_probs(self, request: Request, evidence: np.ndarray) -> np.ndarray:
        return _log_softmax(evidence)


class Collapse(SyntheticControl):
    name = "synthetic-collapse"
    PARAMS = {"strength": Param(float, "weight of the training prior (default 2.0)"), "batch_size": BATCH}

    def log_probs(self, request, evidence):
        prior = (self.workload.train_prior if self.workload else None) or {}
        shares = np.array([prior.get(c, 0.0) for c in request.choices], dtype=float)
        shares = np.maximum(shares / shares.sum(), 1e-6) if shares.sum() else np.full(len(shares), 1 / len(shares))
        return _log_softmax(evidence / 20.0 + self.args.get("strength", 2.0) * np.log(shares))


class FirstOption(SyntheticControl):
    name = "synthetic-first"
    PARAMS = {"bias": Param(float, "bonus of the first option (default 3.0)"), "batch_size": BATCH}

    def log_probs(self, request, evidence):
        bonus = np.zeros(len(request.choices))
        bonus[0] = self.args.get("bias", 3.0)
        return _log_softmax(evidence / 20.0 + bonus)


class Budget(SyntheticControl):
    """A fixed visual budget: more frames than ``budget`` are averaged, in consecutive groups, down to
    the budget, as a model with a token limit pools them. Dense sampling then dilutes a brief apex."""

    name = "synthetic-budget"
    PARAMS = {"budget": Param(int, "visual budget in frames (default 8)"), "batch_size": BATCH}

    def predict(self, requests: list[Request]) -> list[Response]:
        budget = self.args.get("budget", 8)
        pooled = []
        for r in requests:
            frames = r.frames.array
            if len(frames) > budget:
                groups = np.array_split(np.arange(len(frames)), budget)
                frames = np.stack([frames[g].astype(np.float32).mean(axis=0) for g in groups]).round().astype(np.uint8)
            pooled.append(replace(r, frames=replace(r.frames, array=frames, digest=None)))
        return super().predict(pooled)


class Trajectory(SyntheticControl):
    """Believes an expression only when it sees it build up: the frames before the strongest one, in
    the order shown, must not lose intensity. Natural order passes; shuffled frames seldom do."""

    name = "synthetic-trajectory"
    PARAMS = {"tolerance": Param(float, "trajectory tolerance (default 0.15)"), "batch_size": BATCH}

    def log_probs(self, request, evidence):
        readings = np.stack([_reading(f) for f in request.frames.array])
        intensity = np.linalg.norm(readings, axis=1)
        peak = int(np.argmax(intensity))
        tolerance = self.args.get("tolerance", 0.15)
        rising = peak > 0 and all(intensity[i + 1] >= intensity[i] - tolerance for i in range(peak))
        if not rising and "neutral" in request.choices:
            evidence = evidence.copy()
            evidence[list(request.choices).index("neutral")] = evidence.max() + 1.0
        return _log_softmax(evidence)


class Listener(SyntheticControl):
    """The oracle, plus what it hears: a cue's pitch (harness.testing.sound) outweighs the face."""

    name = "synthetic-listener"
    PARAMS = {"trust": Param(float, "weight of a heard cue (default 10.0)"), "batch_size": BATCH}

    def audio_rate(self) -> int | None:
        return 16000

    def log_probs(self, request, evidence):
        scores = evidence / 20.0
        audio = request.frames.audio if request.has_audio else None
        if audio is not None:
            heard, _ = hear_cue(audio.samples, audio.rate)
            if heard in request.choices:
                scores = scores.copy()
                scores[list(request.choices).index(heard)] += self.args.get("trust", 10.0)
        return _log_softmax(scores)


class Calibrated(SyntheticControl):
    name = "synthetic-calibrated"
    PARAMS = {"accuracy": Param(float, "target accuracy (default 0.7)"), "batch_size": BATCH}
    stated: float | None = None  # None: state the real accuracy

    def log_probs(self, request, evidence):
        k = len(request.choices)
        accuracy = self.args.get("accuracy", 0.7)
        answer = int(np.argmax(evidence))
        rng = np.random.default_rng(stable_seed(self.seed, self.name, request.sample_id))
        if rng.random() > accuracy:  # a wrong answer, at the stated rate
            answer = int(rng.choice([i for i in range(k) if i != answer]))
        confidence = self.stated if self.stated is not None else accuracy
        probs = np.full(k, (1 - confidence) / (k - 1))
        probs[answer] = confidence
        return np.log(probs)


class Overconfident(Calibrated):
    name = "synthetic-overconfident"
    stated = 0.99


@harness.hookimpl
def harness_register_models(register):
    for cls, text in ((SyntheticControl, "CONTROL: reads the synthetic faces' pixels; errs only where frames "
                                         "miss the expression"),
                      (Collapse, "CONTROL: the oracle plus a head-class prior (strength=2): long-tail collapse"),
                      (FirstOption, "CONTROL: the oracle plus a bonus for the first option shown (bias=3)"),
                      (Budget, "CONTROL: the oracle with a visual budget of 8 frames (more are averaged down)"),
                      (Trajectory, "CONTROL: the oracle, but it believes an expression only if the frames "
                                   "shown before its peak build up to it (order-sensitive)"),
                      (Listener, "CONTROL: the oracle with ears (--audio on, 16 kHz): a heard cue's pitch "
                                 "outweighs the face (synthetic:sound=true)"),
                      (Calibrated, "CONTROL: right with probability accuracy=0.7, and says so (calibrated)"),
                      (Overconfident, "CONTROL: right with probability accuracy=0.7, says 0.99 (over-confident)")):
        register(cls.name, cls, description=text)
