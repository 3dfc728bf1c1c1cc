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
from harness.model import Model, Workload
from harness.sampling import stable_seed
from harness.types import Request, Response

# The renderer's apex parameters (tasks/synthetic.py), without the nose wrinkle the oracle does not read.
_PARAMS = ("brow_raise", "brow_tilt", "eye_open", "smile", "mouth_open", "mouth_width", "lip_raise")
SIGMA = 0.15  # the oracle's reading noise (renderer units)
MIN_INTENSITY = 0.25  # weaker than this share of a class's apex reads as neutral


def read_expression(frame: np.ndarray) -> np.ndarray:
    """The renderer's expression parameters read from one drawn frame (zeros when unreadable)."""
    from scipy import ndimage  # here, not at import: listing plugins stays light
    h, w = frame.shape[:2]
    s = w / 112.0
    img = frame.astype(np.int16)
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    # The face: pixels of the skin colour read off a cheek, holes (eyes, brows, mouth) filled in.
    cheek = img[int(h / 2 + 6 * s):int(h / 2 + 11 * s), int(w / 2 + 8 * s):int(w / 2 + 13 * s)].reshape(-1, 3)
    skin = np.median(cheek, axis=0)
    face = ndimage.binary_fill_holes((np.abs(img - skin) < 40).all(axis=2))
    labels, n = ndimage.label(face)
    centre = labels[int(h / 2 + 8 * s), int(w / 2 + 10 * s)]
    if centre == 0:
        return np.zeros(len(_PARAMS))
    face = labels == centre
    white = (r > 200) & (g > 200) & (b > 200) & face
    labels, n = ndimage.label(white)
    if n == 0:
        return np.zeros(len(_PARAMS))
    sizes = ndimage.sum(white, labels, range(1, n + 1))
    ys, xs = np.nonzero(np.isin(labels, np.nonzero(sizes >= 3)[0] + 1))
    if len(xs) < 6:
        return np.zeros(len(_PARAMS))
    cx = float((xs.min() + xs.max()) / 2)
    heights, rows = [], []
    for side in (xs < cx, xs >= cx):
        if side.sum() < 3:
            return np.zeros(len(_PARAMS))
        heights.append(ys[side].max() - ys[side].min() + 1)
        rows.append(ys[side].mean())
    eye_open = (np.mean(heights) / 2 / (3.5 * s) - 1) / 0.6
    eye_y = float(np.mean(rows))
    # mouth: lips and the open cavity, near where the renderer puts them
    not_skin = (np.abs(img - skin) >= 40).any(axis=2)
    redness = (r - g) - (skin[0] - skin[1])
    lips = (redness > 20) & (g < skin[1] - 10) & (r > 90)  # (150, 40, 50): redder than the skin
    cavity = (r < 100) & (g < 45) & (b < 50) & (r - g > 20)  # (60, 15, 20)
    mouth = (lips | cavity) & not_skin
    window = np.zeros_like(mouth)
    window[int(eye_y + 14 * s):int(eye_y + 46 * s), max(0, int(cx - 24 * s)):int(cx + 24 * s) + 1] = True
    mouth &= window & face
    mys, mxs = np.nonzero(mouth)
    if len(mxs) < 4:
        return np.zeros(len(_PARAMS))
    left, right = mxs.min(), mxs.max()
    half = (right - left + 1) / 2
    middle = (left + right) / 2

    def edges(u: float) -> tuple[float, float]:
        col = int(round(middle + u * half))
        found = np.nonzero(mouth[:, max(col - 1, 0):col + 2].any(axis=1))[0]
        return (found.min(), found.max()) if len(found) else (np.nan, np.nan)

    t0, b0 = edges(0.0)
    tl, bl = edges(-0.7)
    tr, br = edges(0.7)
    top = ((tl + tr) / 2 - t0) / (s * 0.49)  # = -5 smile + 2.1 open
    bottom = ((bl + br) / 2 - b0) / (s * 0.49)  # = -5 smile - 7 open
    mouth_open = (top - bottom) / 9.1
    smile = -(top - 2.1 * mouth_open) / 5
    lip_raise = -((tr - tl) / s) / (2.5 * 1.4)
    width = (half / (12 * s) - 1) / 0.35
    # brows: the dark stroke nearest above each eye, at its inner and outer ends
    dark = (r < 80) & (g < 70) & (b < 70)
    window = np.zeros_like(dark)
    window[max(0, int(eye_y - 28 * s)):int(eye_y + 0.5 * s), max(0, int(cx - 23 * s)):int(cx + 23 * s) + 1] = True
    dark &= window & face
    raise_, tilt = [], []
    for side in (-1, 1):
        def row_at(x: float) -> float:
            col = int(round(x))
            found = np.nonzero(dark[:, max(col - 1, 0):col + 2].any(axis=1))[0]
            if not len(found):
                return np.nan
            return float(found[found >= found.max() - 3 * s].mean())
        outer, inner = row_at(cx + side * 20 * s), row_at(cx + side * 6 * s)
        raise_.append(((eye_y - outer) / s - 9) / 5)
        tilt.append(((outer - inner) / s) / 4)
    values = np.array([np.nanmean(raise_) if not np.all(np.isnan(raise_)) else 0.0,
                       np.nanmean(tilt) if not np.all(np.isnan(tilt)) else 0.0,
                       eye_open, smile, mouth_open, width, lip_raise], dtype=float)
    return np.nan_to_num(values)


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
    from harness.tasks.synthetic import _APEX
    readings = np.stack([_reading(f) for f in frames])
    strongest = readings[np.argmax(np.linalg.norm(readings, axis=1))]
    out = []
    for c in classes:
        apex = np.array(_APEX[c][:len(_PARAMS)], dtype=float)
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
    ARGS: dict[str, type] = {}

    def __init__(self, args: dict[str, Any]):
        unknown = set(args) - set(self.ARGS) - {"batch_size"}
        if unknown:
            raise UsageError(f"model {self.name}: unknown argument(s) {', '.join(sorted(unknown))}; "
                             f"it takes {', '.join(self.ARGS) or 'no arguments'}")
        self.args = {k: self.ARGS[k](v) for k, v in args.items() if k in self.ARGS}
        self.batch_size = int(args.get("batch_size", self.batch_size))
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
            keys = list(request.answer_keys or request.choices)
            best = int(np.argmax(logp))
            out.append(Response(text=keys[best], scores=dict(zip(request.choices, map(float, logp)))))
        return out

    def log_probs(self, request: Request, evidence: np.ndarray) -> np.ndarray:
        return _log_softmax(evidence)


class Collapse(SyntheticControl):
    name = "synthetic-collapse"
    ARGS = {"strength": float}

    def log_probs(self, request, evidence):
        prior = (self.workload.train_prior if self.workload else None) or {}
        shares = np.array([prior.get(c, 0.0) for c in request.choices], dtype=float)
        shares = np.maximum(shares / shares.sum(), 1e-6) if shares.sum() else np.full(len(shares), 1 / len(shares))
        return _log_softmax(evidence / 20.0 + self.args.get("strength", 2.0) * np.log(shares))


class FirstOption(SyntheticControl):
    name = "synthetic-first"
    ARGS = {"bias": float}

    def log_probs(self, request, evidence):
        bonus = np.zeros(len(request.choices))
        bonus[0] = self.args.get("bias", 3.0)
        return _log_softmax(evidence / 20.0 + bonus)


class Budget(SyntheticControl):
    """A fixed visual budget: more frames than ``budget`` are averaged, in consecutive groups, down to
    the budget, as a model with a token limit pools them. Dense sampling then dilutes a brief apex."""

    name = "synthetic-budget"
    ARGS = {"budget": int}

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
    ARGS = {"tolerance": float}

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


class Calibrated(SyntheticControl):
    name = "synthetic-calibrated"
    ARGS = {"accuracy": float}
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
                      (Calibrated, "CONTROL: right with probability accuracy=0.7, and says so (calibrated)"),
                      (Overconfident, "CONTROL: right with probability accuracy=0.7, says 0.99 (over-confident)")):
        register(cls.name, cls, description=text)
