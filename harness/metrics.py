"""Classification metrics over a task's fixed class list.

Invalid answers and failed samples count as wrong and are reported, never
dropped. UAR is the mean recall over the classes that have samples in the
evaluated subset; classes without samples (e.g. under ``--limit``) are left
out of the mean and named in ``missing_classes``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

INVALID = "invalid"
FAILED = "failed"


def compute(labels: Sequence[str], predictions: Sequence[str | None], statuses: Sequence[str],
            classes: Sequence[str], seed: int = 0, n_bootstrap: int = 1000) -> dict:
    """Metrics for one evaluated subset.

    ``predictions[i]`` is a class name when ``statuses[i] == "ok"``; otherwise
    the status is ``invalid`` (unparseable answer) or ``failed`` (the sample
    could not be run).
    """
    classes = list(classes)
    k = len(classes)
    index = {c: i for i, c in enumerate(classes)}
    n = len(labels)
    y = np.array([index[label] for label in labels], dtype=np.int64)
    # Predicted column: a class, then k for invalid, k + 1 for failed.
    p = np.array([index[pred] if status == "ok" else (k if status == INVALID else k + 1)
                  for pred, status in zip(predictions, statuses)], dtype=np.int64)

    confusion = np.zeros((k, k + 2), dtype=np.int64)
    np.add.at(confusion, (y, p), 1)
    support = confusion.sum(axis=1)
    tp = np.diag(confusion[:, :k])
    predicted = confusion[:, :k].sum(axis=0)
    present = support > 0

    recall = np.divide(tp, support, out=np.zeros(k), where=present)
    precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(k), where=denom > 0)

    war = float(tp.sum() / n) if n else 0.0
    uar = float(recall[present].mean()) if present.any() else 0.0
    macro_f1 = float(f1[present].mean()) if present.any() else 0.0
    invalid = int((p == k).sum())
    failed = int((p == k + 1).sum())
    uar_ci, war_ci, f1_ci = _bootstrap(y, p, k, seed, n_bootstrap)

    return {
        "n": n,
        "war": war,
        "uar": uar,
        "macro_f1": macro_f1,
        "war_ci95": war_ci,
        "uar_ci95": uar_ci,
        "macro_f1_ci95": f1_ci,
        "classes_evaluated": int(present.sum()),
        "invalid": invalid,
        "invalid_rate": invalid / n if n else 0.0,
        "failed": failed,
        "failed_rate": failed / n if n else 0.0,
        "missing_classes": [c for c, ok in zip(classes, present) if not ok],
        "per_class": [
            {"class": c, "support": int(support[i]), "predicted": int(predicted[i]),
             "precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i])}
            for i, c in enumerate(classes)
        ],
        "confusion": {"rows": classes, "columns": classes + [INVALID, FAILED],
                      "matrix": confusion.tolist()},
        "prediction_distribution": dict(zip(classes + [INVALID, FAILED],
                                            map(int, confusion.sum(axis=0)))),
    }


def _bootstrap(y: np.ndarray, p: np.ndarray, k: int, seed: int, rounds: int):
    """Seeded percentile 95% intervals for UAR, WAR and macro-F1.

    UAR and macro-F1 are averages over classes, so their intervals come from a
    **class-stratified** bootstrap: clips are resampled within each class, every
    class keeps its support, and no resample averages over fewer classes (a
    constant predictor's UAR interval is then exactly its UAR). WAR, a mean over
    clips, uses the ordinary bootstrap over clips.
    """
    n = len(y)
    if n == 0 or rounds <= 0:
        return None, None, None
    rng = np.random.default_rng(seed)
    hit = (y == p)
    uar, war, f1 = [], [], []
    present = np.flatnonzero(np.bincount(y, minlength=k) > 0)
    members = [np.flatnonzero(y == c) for c in range(k)]
    chunk = max(1, 250_000 // n)  # about 10 MB at a time, however large the task
    for start in range(0, rounds, chunk):
        m = min(chunk, rounds - start)
        draws = rng.integers(0, n, size=(m, n), dtype=np.int64)
        war.append(hit[draws].mean(axis=1))
        # stratified: each class's clips drawn from that class only, same count
        strat = np.concatenate([idx[rng.integers(0, len(idx), size=(m, len(idx)))]
                                for idx in members if len(idx)], axis=1)
        ys, ps, correct = y[strat], p[strat], hit[strat]
        offset = (np.arange(m) * (k + 2))[:, None]
        support = np.bincount((ys + offset).ravel(), minlength=m * (k + 2)).reshape(m, k + 2)[:, :k]
        predicted = np.bincount((ps + offset).ravel(), minlength=m * (k + 2)).reshape(m, k + 2)[:, :k]
        tp = np.bincount((ys + offset).ravel(), weights=correct.ravel(),
                         minlength=m * (k + 2)).reshape(m, k + 2)[:, :k]
        recall = tp[:, present] / support[:, present]
        precision = np.divide(tp[:, present], predicted[:, present], out=np.zeros_like(recall),
                              where=predicted[:, present] > 0)
        denom = precision + recall
        f1.append(np.divide(2 * precision * recall, denom, out=np.zeros_like(recall),
                            where=denom > 0).mean(axis=1))
        uar.append(recall.mean(axis=1))
    interval = lambda v: [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))]  # noqa: E731
    return interval(np.concatenate(uar)), interval(np.concatenate(war)), interval(np.concatenate(f1))
