"""Classification metrics over a task's fixed class list.

Invalid answers and failed samples count as wrong and are reported, never
dropped. UAR is the mean recall over the classes that have samples in the
evaluated subset; classes without samples (e.g. under ``--limit``) are left
out of the mean and named in ``missing_classes``. Macro-F1 averages over the
classes that have samples **or were predicted**: a class answered without
support has F1 0 and counts (scikit-learn's default), so answering a class
absent from the subset costs macro-F1.

Intervals (95%):

- **per-class recall**: exact Clopper-Pearson (``recall_ci95``; None without
  support);
- **UAR and macro-F1**: each present class's row of the confusion matrix is
  drawn from its posterior, a Dirichlet whose prior puts 0.5 on the correct
  cell and 0.5 spread over the others, so each class's recall is drawn from
  its Jeffreys ``Beta(hits + 1/2, misses + 1/2)``; the interval is the 2.5-97.5
  percentile range of the UAR (macro-F1) of the drawn rows, with a class
  observed at 0% (100%) held there for the lower (upper) bound, widened to
  contain the estimate. A class at 0% or 100% recall still adds its
  uncertainty (a resampled constant would add none), and a UAR over one
  class is that class's exact interval. The UAR interval's coverage is
  simulated in ``bench/coverage.py`` (``bench/results/coverage.json``: at
  least 94% for a nominal 95% with classes as small as 3 clips);
- **WAR**: the ordinary bootstrap over clips.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from harness.errors import DataError

INVALID = "invalid"
FAILED = "failed"
LEVEL = 0.95  # every interval is a 95% one


def clopper_pearson(hits: int, n: int, level: float = LEVEL) -> list[float] | None:
    """Exact (Clopper-Pearson) interval of a binomial proportion ``hits / n``; None when ``n == 0``."""
    if n <= 0:
        return None
    from scipy.special import betaincinv  # lighter than scipy.stats: a run imports this module

    a = (1 - level) / 2
    lo = 0.0 if hits <= 0 else float(betaincinv(hits, n - hits + 1, a))
    hi = 1.0 if hits >= n else float(betaincinv(hits + 1, n - hits, 1 - a))
    return [lo, hi]


def from_confusion(confusion: np.ndarray) -> dict:
    """Point metrics of a ``k x (k + 2)`` confusion matrix (columns: the classes, invalid, failed).

    The one definition of WAR, UAR and macro-F1: a results file's figures can be recomputed from its
    confusion matrix with this function alone.
    """
    confusion = np.asarray(confusion, dtype=np.int64)
    k = confusion.shape[0]
    support = confusion.sum(axis=1)
    tp = np.diag(confusion[:, :k])
    predicted = confusion[:, :k].sum(axis=0)
    present = support > 0
    counted = present | (predicted > 0)  # macro-F1: a class predicted without support has F1 0 and counts
    recall = np.divide(tp, support, out=np.zeros(k), where=present)
    precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(k), where=denom > 0)
    n = int(support.sum())
    return {"n": n, "war": float(tp.sum() / n) if n else 0.0,
            "uar": float(recall[present].mean()) if present.any() else 0.0,
            "macro_f1": float(f1[counted].mean()) if counted.any() else 0.0,
            "support": support, "tp": tp, "predicted": predicted, "present": present, "counted": counted,
            "recall": recall, "precision": precision, "f1": f1}


def compute(labels: Sequence[str], predictions: Sequence[str | None], statuses: Sequence[str],
            classes: Sequence[str], seed: int = 0, n_bootstrap: int = 1000) -> dict:
    """Metrics for one evaluated subset.

    ``predictions[i]`` is a class name when ``statuses[i] == "ok"``; otherwise
    the status is ``invalid`` (unparseable answer) or ``failed`` (the sample
    could not be run). ``n_bootstrap`` is the number of rounds of every
    interval's resampling (0: no UAR, WAR or macro-F1 interval).
    """
    classes = list(classes)
    k = len(classes)
    index = {c: i for i, c in enumerate(classes)}
    n = len(labels)
    unknown = next((label for label in labels if label not in index), None)
    if unknown is not None:
        raise DataError(f"label {unknown!r} is not one of the task's classes ({', '.join(classes)})")
    y = np.array([index[label] for label in labels], dtype=np.int64)
    for pred, status in zip(predictions, statuses):
        if status not in ("ok", INVALID, FAILED):
            raise DataError(f"status {status!r} is not ok, invalid or failed")
        if status == "ok" and pred not in index:
            raise DataError(f"an ok answer's prediction {pred!r} is not one of the task's classes ({', '.join(classes)})")
    # Predicted column: a class, then k for invalid, k + 1 for failed.
    p = np.array([index[pred] if status == "ok" else (k if status == INVALID else k + 1)
                  for pred, status in zip(predictions, statuses)], dtype=np.int64)

    confusion = np.zeros((k, k + 2), dtype=np.int64)
    np.add.at(confusion, (y, p), 1)
    m = from_confusion(confusion)
    support, tp, predicted, present = m["support"], m["tp"], m["predicted"], m["present"]
    recall, precision, f1 = m["recall"], m["precision"], m["f1"]
    invalid = int((p == k).sum())
    failed = int((p == k + 1).sum())
    war_ci = _war_bootstrap(y, p, seed, n_bootstrap)
    uar_ci, f1_ci = posterior_intervals(confusion, m["uar"], m["macro_f1"], seed, n_bootstrap)

    return {
        "n": n,
        "war": m["war"],
        "uar": m["uar"],
        "macro_f1": m["macro_f1"],
        "war_ci95": war_ci,
        "uar_ci95": uar_ci,
        "macro_f1_ci95": f1_ci,
        "classes_evaluated": int(present.sum()),
        "macro_f1_classes": int(m["counted"].sum()),
        "invalid": invalid,
        "invalid_rate": invalid / n if n else 0.0,
        "failed": failed,
        "failed_rate": failed / n if n else 0.0,
        "missing_classes": [c for c, ok in zip(classes, present) if not ok],
        "per_class": [
            {"class": c, "support": int(support[i]), "predicted": int(predicted[i]),
             "precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
             "recall_ci95": clopper_pearson(int(tp[i]), int(support[i]))}
            for i, c in enumerate(classes)
        ],
        "confusion": {"rows": classes, "columns": classes + [INVALID, FAILED],
                      "matrix": confusion.tolist()},
        "prediction_distribution": dict(zip(classes + [INVALID, FAILED],
                                            map(int, confusion.sum(axis=0)))),
    }


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([int(seed) % 2 ** 63, stream])


def posterior_rows(confusion: np.ndarray, rounds: int, rng: np.random.Generator) -> np.ndarray:
    """Posterior draws of each present class's row of the confusion matrix, as probabilities.

    Shape ``(rounds, present classes, k + 2)``. Prior: 0.5 on the correct cell, 0.5 spread evenly over
    the row's other ``k + 1`` cells, so a class's drawn recall is ``Beta(hits + 1/2, misses + 1/2)``
    (Jeffreys) whatever the other cells hold.
    """
    confusion = np.asarray(confusion, dtype=float)
    k = confusion.shape[0]
    rows = np.flatnonzero(confusion.sum(axis=1) > 0)
    alpha = confusion[rows] + 0.5 / (k + 1)
    alpha[np.arange(len(rows)), rows] += 0.5 - 0.5 / (k + 1)
    g = rng.standard_gamma(np.broadcast_to(alpha, (rounds, *alpha.shape)))
    return g / g.sum(axis=2, keepdims=True)


def posterior_intervals(confusion: np.ndarray, uar: float, macro_f1: float, seed: int,
                        rounds: int) -> tuple[list[float] | None, list[float] | None]:
    """95% intervals of UAR and macro-F1 from :func:`posterior_rows` (see the module's notes).

    As in Brown, Cai and DasGupta's modified Jeffreys interval, a class observed at 0% recall is held at
    0% when the lower bound is computed, and one observed at 100% at 100% for the upper bound: the
    posterior alone would pull them off the boundary, and a UAR of classes that are truly at 100% would
    never be covered.
    """
    confusion = np.asarray(confusion, dtype=np.int64)
    k = confusion.shape[0]
    support = confusion.sum(axis=1)
    present = np.flatnonzero(support > 0)
    if rounds <= 0 or not len(present):
        return None, None
    counted = (support > 0) | (confusion[:, :k].sum(axis=0) > 0)
    hits = confusion[present, present]
    probs = posterior_rows(confusion, rounds, _rng(seed, 1))
    diagonal = (slice(None), np.arange(len(present)), present)
    low, high = probs.copy(), probs.copy()
    none, every = np.flatnonzero(hits == 0), np.flatnonzero(hits == support[present])
    low[:, none, present[none]] = 0.0  # never right: held at 0%, its errors keep their drawn shares
    low[:, none] /= np.maximum(low[:, none].sum(axis=2, keepdims=True), 1e-300)
    high[:, every] = 0.0
    high[:, every, present[every]] = 1.0  # always right: held at 100%

    def uar_draws(p: np.ndarray) -> np.ndarray:
        return p[diagonal].mean(axis=1)

    def f1_draws(p: np.ndarray) -> np.ndarray:
        expected = p * support[present][None, :, None]  # drawn counts, each class keeping its support
        tp = expected[diagonal]
        predicted = expected[:, :, present].sum(axis=1)  # of each present class, by the present classes
        f1 = 2 * tp / (support[present][None, :] + predicted)
        return f1.sum(axis=1) / counted.sum()  # classes predicted without support: F1 0, counted

    if len(present) == 1:
        uar_ci = clopper_pearson(int(hits[0]), int(support[present[0]]))
    else:
        uar_ci = _containing([_percentiles(uar_draws(low))[0], _percentiles(uar_draws(high))[1]], uar)
    f1_ci = _containing([_percentiles(f1_draws(low))[0], _percentiles(f1_draws(high))[1]], macro_f1)
    return uar_ci, f1_ci


def mean_recall_interval(hits: Sequence[int], supports: Sequence[int], seed: int = 0,
                         rounds: int = 2000) -> list[float] | None:
    """95% interval of a mean of recalls (UAR of a group of classes), as for UAR: Jeffreys draws of
    each class's recall, a class at 0% (100%) held there for the lower (upper) bound; one class: its
    exact interval. Classes without support are left out."""
    pairs = [(int(h), int(s)) for h, s in zip(hits, supports) if s > 0]
    if not pairs or rounds <= 0:
        return None
    if len(pairs) == 1:
        return clopper_pearson(*pairs[0])
    h = np.array([a for a, _ in pairs], dtype=float)
    s = np.array([b for _, b in pairs], dtype=float)
    draws = _rng(seed, 2).beta(h + 0.5, s - h + 0.5, size=(rounds, len(pairs)))
    low, high = np.where(h == 0, 0.0, draws), np.where(h == s, 1.0, draws)
    return _containing([_percentiles(low.mean(axis=1))[0], _percentiles(high.mean(axis=1))[1]],
                       float(np.mean(h / s)))


def _percentiles(values: np.ndarray) -> list[float]:
    return [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))]


def _containing(interval: list[float], estimate: float) -> list[float]:
    """The interval, widened to contain the estimate (posterior draws are pulled off 0 and 1)."""
    return [min(interval[0], estimate), max(interval[1], estimate)]


def _war_bootstrap(y: np.ndarray, p: np.ndarray, seed: int, rounds: int) -> list[float] | None:
    """Seeded percentile 95% interval of WAR, a mean over clips: the ordinary bootstrap over clips."""
    n = len(y)
    if n == 0 or rounds <= 0:
        return None
    rng = np.random.default_rng(seed)
    hit = (y == p)
    war = []
    chunk = max(1, 250_000 // n)  # about 10 MB at a time, however large the task
    for start in range(0, rounds, chunk):
        m = min(chunk, rounds - start)
        war.append(hit[rng.integers(0, n, size=(m, n), dtype=np.int64)].mean(axis=1))
    return _percentiles(np.concatenate(war))
