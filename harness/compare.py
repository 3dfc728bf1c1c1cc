"""Paired comparison of runs on the same clips, valid for UAR.

UAR is a mean of per-class recalls, not a mean of per-sample scores, so
per-sample paired tests (a paired t-test on 0/1 correctness) do not apply to
it and an unpaired test ignores that both models saw the same clips. Here:

- **UAR and macro-F1 differences**: a paired, class-stratified bootstrap.
  Each round resamples clips within each class (every class keeps its
  support) and uses the same clips for both runs; the 95% interval is the
  percentile interval of the differences, and the two-sided p-value is
  ``min(1, 2 * min(P(d <= 0), P(d >= 0)))`` over the rounds. That p is read
  off the bootstrap distribution of the difference, which is centred on the
  observed difference, not on the null (a percentile-interval p-value, not a
  test of resamples drawn under the null); and R rounds cannot resolve it
  below 1/R: when no round crosses zero it is reported as ``p < 1/R``
  (``p`` = 1/R with ``p_bound`` true), Holm-adjusted values likewise.
- **WAR difference**: the exact McNemar test on the discordant clips (``b``:
  only A right, ``c``: only B right; a two-sided binomial test of b out of
  b + c at 1/2).
- **Per-class recall differences** with Newcombe's paired score interval (a class's clips are few:
  the bootstrap's percentile interval collapses to a point when every clip moved the same way).
- **More than two runs**: every pair, with Holm-adjusted p-values per test.
- **Macro-F1** of each run averages over the classes with samples and the
  classes that run predicted (a class answered without support has F1 0), as
  :mod:`harness.metrics` does.

Runs are comparable only on the same samples: the same task fingerprint
(sample ids and labels) and frame protocol; anything else is refused,
naming the field that differs. The sound may differ: a run with
``--audio on`` pairs with the same frames without it (what the
``modality`` probe does). Invalid and failed answers count as wrong,
as everywhere.
"""

from __future__ import annotations

import csv
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from harness import results, samplelog
from harness.errors import UsageError


@dataclass
class Run:
    path: Path
    document: dict
    key: str
    task: dict
    rows: list[dict]

    @property
    def label(self) -> str:
        """The model and file; ``with sound`` for an ``--audio on`` run (runs that differ only in sound pair)."""
        sound = " with sound" if self.task["frame_protocol"].get("audio_rate") else ""
        return f"{self.document['model']['name']}{sound} ({self.path.name})"


def load_run(path: str | Path, task: str | None = None) -> Run:
    path = Path(path)
    document = results.load(path)
    keys = list(document["tasks"])
    if task is None:
        if len(keys) != 1:
            raise UsageError(f"{path}: holds tasks {', '.join(keys)}; say which with --task")
        task = keys[0]
    if task not in document["tasks"]:
        raise UsageError(f"{path}: no task {task!r}; it has {', '.join(keys)}")
    result = document["tasks"][task]
    return Run(path, document, task, result, samplelog.samples_of(path, result, task))


def check_comparable(a: Run, b: Run) -> None:
    """Refuse runs that were not made on the same samples with the same frames, naming the field."""
    for field, get in (("task fingerprint", lambda r: r.task["fingerprint"]),
                       # the frames must be the same; the sound may differ (audio on vs off: the modality question)
                       ("frame protocol", lambda r: pictures(r.task["frame_protocol"]["name"])),
                       ("class list", lambda r: r.task["classes"])):
        if get(a) != get(b):
            raise UsageError(f"cannot compare {a.path.name} and {b.path.name}: their {field} differs "
                             f"({get(a)!r} vs {get(b)!r}); a paired comparison needs the same samples and frames")
    if [r["id"] for r in a.rows] != [r["id"] for r in b.rows] and \
            sorted(r["id"] for r in a.rows) != sorted(r["id"] for r in b.rows):
        raise UsageError(f"cannot compare {a.path.name} and {b.path.name}: their per-sample logs hold other sample ids")


def pictures(protocol_name: str) -> str:
    """A frame protocol's name without its sound (``uniform8+audio16k`` -> ``uniform8``)."""
    return protocol_name.split("+audio", 1)[0]


def _arrays(a: Run, b: Run) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], list[str]]:
    classes = list(a.task["classes"])
    index = {c: i for i, c in enumerate(classes)}
    by_id = {r["id"]: r for r in b.rows}
    ids = [r["id"] for r in a.rows]
    y = np.array([index[r["label"]] for r in a.rows])

    def predicted(row: dict) -> int:  # -1: invalid or failed, always wrong
        return index[row["prediction"]] if row["status"] == "ok" and row["prediction"] in index else -1
    pa = np.array([predicted(r) for r in a.rows])
    pb = np.array([predicted(by_id[i]) for i in ids])
    return y, pa, pb, classes, ids


def _recalls(y: np.ndarray, p: np.ndarray, k: int, draws: np.ndarray) -> np.ndarray:
    """Per-class recall for each bootstrap draw (rows of sample indices): shape (rounds, k)."""
    ys, hit = y[draws], (y == p)[draws]
    out = np.zeros((draws.shape[0], k))
    for c in range(k):
        mask = ys == c
        n = mask.sum(axis=1)
        out[:, c] = np.where(n > 0, (hit & mask).sum(axis=1) / np.maximum(n, 1), np.nan)
    return out


def _macro_f1(y: np.ndarray, p: np.ndarray, k: int, draws: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Macro-F1 of each draw over the present classes and those ``p`` predicts without support (F1 0)."""
    unsupported = np.setdiff1d(np.unique(p[p >= 0]), present)
    ys, ps = y[draws], p[draws]
    f1 = np.zeros((draws.shape[0], len(present) + len(unsupported)))
    for j, c in enumerate(present):
        tp = ((ys == c) & (ps == c)).sum(axis=1)
        predicted, support = (ps == c).sum(axis=1), (ys == c).sum(axis=1)
        precision = np.where(predicted > 0, tp / np.maximum(predicted, 1), 0.0)
        recall = np.where(support > 0, tp / np.maximum(support, 1), 0.0)
        denom = precision + recall
        f1[:, j] = np.where(denom > 0, 2 * precision * recall / np.where(denom > 0, denom, 1), 0.0)
    return f1.mean(axis=1)


def _p_value(diffs: np.ndarray) -> tuple[float, bool]:
    """Two-sided percentile-bootstrap p-value and whether it is only a bound: when no round crosses
    zero the rounds cannot resolve it, and it is reported as ``p < 1/rounds`` (value 1/rounds, bound)."""
    p = float(min(1.0, 2 * min((diffs <= 0).mean(), (diffs >= 0).mean())))
    if p == 0.0:
        return 1.0 / len(diffs), True
    return p, False


def p_text(p: float, bound: bool = False, digits: int = 4) -> str:
    """``0.0123``, or ``< 0.0005`` for a p-value that is only bounded by the bootstrap's resolution."""
    return f"< {p:.{digits}g}" if bound else f"{p:.{digits}f}"


def _interval(values: np.ndarray) -> list[float]:
    return [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))]


def _stratified_draws(y: np.ndarray, k: int, rounds: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(present classes, bootstrap draws): each round resamples every class's clips within the class."""
    present = np.array([c for c in range(k) if (y == c).any()])
    members = [np.flatnonzero(y == c) for c in present]
    rng = np.random.default_rng(seed)
    return present, np.concatenate([m[rng.integers(0, len(m), size=(rounds, len(m)))] for m in members], axis=1)


def paired_uar_difference(y: np.ndarray, pa: np.ndarray, pb: np.ndarray, k: int, rounds: int = 2000,
                          seed: int = 0) -> dict[str, Any]:
    """UAR(A) - UAR(B) on the same clips with the paired, class-stratified bootstrap's interval and
    p-value; predictions are class indices, -1 for invalid or failed."""
    present, draws = _stratified_draws(y, k, rounds, seed)
    d = _recalls(y, pa, k, draws)[:, present].mean(axis=1) - _recalls(y, pb, k, draws)[:, present].mean(axis=1)
    identity = np.arange(len(y))[None, :]
    point = float(np.nanmean(_recalls(y, pa, k, identity)[0][present]) -
                  np.nanmean(_recalls(y, pb, k, identity)[0][present]))
    p, bound = _p_value(d)
    return {"difference": point, "ci95": _interval(d), "p": p, "p_bound": bound, "rounds": rounds}


def compare_pair(a: Run, b: Run, rounds: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Every figure of the A-versus-B comparison (A minus B)."""
    check_comparable(a, b)
    y, pa, pb, classes, ids = _arrays(a, b)
    return {"a": a.label, "b": b.label, "task": a.key, **paired_figures(y, pa, pb, classes, ids, rounds, seed)}


def paired_figures(y: np.ndarray, pa: np.ndarray, pb: np.ndarray, classes: list[str], ids: list[str],
                   rounds: int = 2000, seed: int = 0) -> dict[str, Any]:
    """The paired figures of predictions ``pa`` and ``pb`` (class indices, -1 for invalid or failed) on
    the same clips (labels ``y``), A minus B: UAR and macro-F1 differences with the class-stratified
    bootstrap, WAR with McNemar, per-class recall differences, the clips where they disagree."""
    k = len(classes)
    present, draws = _stratified_draws(y, k, rounds, seed)
    identity = np.arange(len(y))[None, :]
    ra, rb = _recalls(y, pa, k, draws)[:, present], _recalls(y, pb, k, draws)[:, present]
    uar_d = ra.mean(axis=1) - rb.mean(axis=1)
    f1_d = _macro_f1(y, pa, k, draws, present) - _macro_f1(y, pb, k, draws, present)
    point_a, point_b = _recalls(y, pa, k, identity)[0], _recalls(y, pb, k, identity)[0]
    uar_a, uar_b = float(np.nanmean(point_a[present])), float(np.nanmean(point_b[present]))
    f1_a = float(_macro_f1(y, pa, k, identity, present)[0])
    f1_b = float(_macro_f1(y, pb, k, identity, present)[0])
    right_a, right_b = pa == y, pb == y
    only_a, only_b = int((right_a & ~right_b).sum()), int((~right_a & right_b).sum())
    mcnemar = mcnemar_p(only_a, only_b)
    per_class = {}
    for c in present:
        mask = y == c
        both, only_a_c = int((right_a & right_b & mask).sum()), int((right_a & ~right_b & mask).sum())
        only_b_c, neither = int((~right_a & right_b & mask).sum()), int((~right_a & ~right_b & mask).sum())
        per_class[classes[c]] = {"recall_a": float(point_a[c]), "recall_b": float(point_b[c]),
                                 "difference": float(point_a[c] - point_b[c]),
                                 "ci95": paired_difference_interval(both, only_a_c, only_b_c, neither),
                                 "support": int(mask.sum()), "only_a_right": only_a_c, "only_b_right": only_b_c}
    disagreements = [{"id": ids[i], "label": classes[y[i]],
                      "a": classes[pa[i]] if pa[i] >= 0 else "invalid/failed",
                      "b": classes[pb[i]] if pb[i] >= 0 else "invalid/failed"}
                     for i in np.flatnonzero(pa != pb)]
    (uar_p, uar_bound), (f1_p, f1_bound) = _p_value(uar_d), _p_value(f1_d)
    return {
        "n": int(len(y)), "rounds": rounds, "seed": seed,
        "uar": {"a": uar_a, "b": uar_b, "difference": uar_a - uar_b, "ci95": _interval(uar_d), "p": uar_p,
                "p_bound": uar_bound},
        "macro_f1": {"a": f1_a, "b": f1_b, "difference": f1_a - f1_b, "ci95": _interval(f1_d), "p": f1_p,
                     "p_bound": f1_bound},
        "war": {"a": float(right_a.mean()), "b": float(right_b.mean()),
                "difference": float(right_a.mean() - right_b.mean()),
                "only_a_right": only_a, "only_b_right": only_b, "mcnemar_p": float(mcnemar)},
        "per_class": per_class, "disagreements": disagreements,
    }


def mcnemar_p(only_a: int, only_b: int) -> float:
    """The exact two-sided McNemar p on the discordant clips (only A right, only B right); 1.0 when none."""
    n = only_a + only_b
    return float(stats.binomtest(only_a, n, 0.5).pvalue) if n else 1.0


def _wilson(k: int, n: int, z: float) -> tuple[float, float]:
    centre, half = (k + z * z / 2) / (n + z * z), z * np.sqrt(k * (n - k) / n + z * z / 4) / (n + z * z)
    return max(0.0, centre - half), min(1.0, centre + half)


def paired_difference_interval(both: int, only_a: int, only_b: int, neither: int,
                               level: float = 0.95) -> list[float]:
    """95% interval of p_A - p_B for two proportions on the same clips (a class's recall with and
    without a change): Newcombe's hybrid score interval for paired data (Newcombe 1998, Statistics in
    Medicine 17:2635, method 10), from the 2x2 counts. Unlike the bootstrap percentile interval it is
    never zero-width: 6 clips that all flipped give [-1.00, -0.45], not [-1, -1] (the same arithmetic as
    biostatUZH's ``confIntPairedProportion``)."""
    n = both + only_a + only_b + neither
    if n == 0:
        return [0.0, 0.0]
    z = float(stats.norm.ppf(0.5 + level / 2))
    p_a, p_b = (both + only_a) / n, (both + only_b) / n
    l_a, u_a = _wilson(both + only_a, n, z)
    l_b, u_b = _wilson(both + only_b, n, z)
    margins = (both + only_a) * (only_b + neither) * (both + only_b) * (only_a + neither)
    cross = both * neither - only_a * only_b
    if cross > 0:
        cross = max(cross - n / 2, 0.0)  # Newcombe's continuity correction of phi when ad > bc
    phi = cross / np.sqrt(margins) if margins else 0.0
    d = p_a - p_b
    low = d - np.sqrt(max(0.0, (p_a - l_a) ** 2 - 2 * phi * (p_a - l_a) * (u_b - p_b) + (u_b - p_b) ** 2))
    high = d + np.sqrt(max(0.0, (u_a - p_a) ** 2 - 2 * phi * (u_a - p_a) * (p_b - l_b) + (p_b - l_b) ** 2))
    return [float(max(-1.0, low)), float(min(1.0, high))]


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjustment (family-wise error), in the input order."""
    return holm_bounded(pvalues)[0]


def holm_bounded(pvalues: list[float], bounds: list[bool] | None = None) -> tuple[list[float], list[bool]]:
    """Holm's adjustment of p-values some of which are only upper bounds (``p < value``): an adjusted
    value is a bound too when the step-down maximum that sets it came from a bound."""
    bounds = bounds or [False] * len(pvalues)
    order = np.argsort(pvalues, kind="stable")
    m = len(pvalues)
    adjusted, is_bound = [0.0] * m, [False] * m
    running, running_bound = 0.0, False
    for rank, i in enumerate(order):
        value = min(1.0, (m - rank) * pvalues[i])
        if value > running or (value == running and not bounds[i]):
            running, running_bound = value, bounds[i] and value < 1.0
        adjusted[i], is_bound[i] = running, running_bound
    return adjusted, is_bound


def compare_many(runs: list[Run], rounds: int = 2000, seed: int = 0) -> list[dict[str, Any]]:
    pairs = [compare_pair(a, b, rounds, seed) for a, b in itertools.combinations(runs, 2)]
    for test, get, bound in (("uar", lambda c: c["uar"]["p"], lambda c: c["uar"]["p_bound"]),
                             ("macro_f1", lambda c: c["macro_f1"]["p"], lambda c: c["macro_f1"]["p_bound"]),
                             ("war", lambda c: c["war"]["mcnemar_p"], lambda c: False)):
        adjusted, bounds = holm_bounded([get(c) for c in pairs], [bound(c) for c in pairs])
        for c, value, is_bound in zip(pairs, adjusted, bounds):
            c[test]["p_holm"] = value
            c[test]["p_holm_bound"] = is_bound
    return pairs


def write_disagreements(path: str | Path, comparison: dict[str, Any]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "label", "answer_a", "answer_b"])
        for d in comparison["disagreements"]:
            writer.writerow([d["id"], d["label"], d["a"], d["b"]])
