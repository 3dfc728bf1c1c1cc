"""How often the 95% UAR interval covers the true UAR on long-tailed confusion matrices (run by hand).

    python bench/coverage.py [--reps 5000] [--rounds 1000] [--seed 0]

Each scenario fixes the classes' supports (long-tailed, the smallest class
3 clips) and each class's true row of the confusion matrix (its recall on
the diagonal, the errors spread over the other classes in proportion to
their share, a little of them invalid). A replicate draws every class's
clips' answers from its true row, computes the UAR and its interval exactly
as ``harness run`` does (:func:`harness.metrics.from_confusion` and
:func:`harness.metrics.posterior_intervals`: each class's row drawn from its
posterior, so its recall from its Jeffreys Beta), and checks whether the
interval holds the true UAR (the mean of the true recalls). The same for
macro-F1, whose estimand is the F1 of the expected confusion counts (given
for information: it is not a claim of the docs). For contrast, the
class-stratified percentile bootstrap the harness used before (it resamples
a class at 0% or 100% recall as a constant) is measured on the same
replicates. Writes ``bench/results/coverage.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Callable

import numpy as np

from harness import metrics

# The synthetic task's 240 clips in DFEW's shares: happy, sad, neutral, angry, surprise, disgust, fear.
SYNTHETIC = (50, 39, 55, 45, 30, 3, 18)
INVALID_SHARE = 0.05  # of each class's errors


def rows_for(supports: np.ndarray, recall: np.ndarray) -> np.ndarray:
    """True confusion rows (k x k + 2): recall on the diagonal, errors toward the larger classes."""
    k = len(supports)
    share = supports / supports.sum()
    rows = np.zeros((k, k + 2))
    for c in range(k):
        other = share.copy()
        other[c] = 0.0
        other /= other.sum()
        rows[c, :k] = (1 - recall[c]) * (1 - INVALID_SHARE) * other
        rows[c, k] = (1 - recall[c]) * INVALID_SHARE
        rows[c, c] = recall[c]
    return rows


def long_tail(rng: np.random.Generator, k: int, total: int, smallest: int = 3) -> np.ndarray:
    """Zipf-like supports summing to about ``total``, the rarest class exactly ``smallest`` clips."""
    shares = 1.0 / np.arange(1, k + 1) ** rng.uniform(1.0, 2.0)
    counts = np.maximum(smallest, np.round(shares / shares.sum() * total)).astype(int)
    counts[-1] = smallest
    return counts


Scenario = Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]]


def _synthetic_uniform(rng):
    s = np.array(SYNTHETIC)
    return s, rng.uniform(0.2, 0.95, len(s))


def _synthetic_collapse(rng):
    # head classes (happy, neutral, angry, sad) read well, medium (surprise, fear) half, the 3 disgust clips never
    return np.array(SYNTHETIC), np.array([0.9, 0.85, 0.95, 0.88, 0.55, 0.0, 0.4])


def _synthetic_oracle(rng):
    return np.array(SYNTHETIC), np.array([1.0, 0.97, 1.0, 0.95, 1.0, 1.0, 0.9])


def _synthetic_extremes(rng):
    s = np.array(SYNTHETIC)
    return s, rng.choice([0.0, 0.05, 0.5, 0.95, 1.0], len(s))


def _small_long_tail(rng):
    return np.array([12, 8, 6, 5, 3, 3, 3]), rng.uniform(0.0, 1.0, 7)


def _random_long_tail(rng):
    k = int(rng.integers(5, 12))
    s = long_tail(rng, k, int(rng.integers(60, 600)))
    return s, rng.beta(0.7, 0.7, k)  # much mass near 0% and 100%


def _three_per_class(rng):
    return np.full(7, 3), rng.uniform(0.0, 1.0, 7)


SCENARIOS: dict[str, tuple[str, Scenario]] = {
    "synthetic-uniform": ("the synthetic task's supports (3 to 55 clips), recalls uniform in 20-95%", _synthetic_uniform),
    "synthetic-collapse": ("the synthetic task's supports, the collapse control's shape: head 85-95%, "
                           "medium 40-55%, the 3-clip tail class 0%", _synthetic_collapse),
    "synthetic-oracle": ("the synthetic task's supports, near-perfect: recalls 90-100%, the 3-clip tail "
                         "class 100%", _synthetic_oracle),
    "synthetic-extremes": ("the synthetic task's supports, each recall one of 0, 5, 50, 95, 100%",
                           _synthetic_extremes),
    "small-long-tail": ("40 clips: supports 12, 8, 6, 5, 3, 3, 3, recalls uniform in 0-100%", _small_long_tail),
    "random-long-tail": ("5-11 classes, Zipf supports over 60-600 clips with the rarest class at 3 clips, "
                         "recalls Beta(0.7, 0.7)", _random_long_tail),
    "three-per-class": ("7 classes of 3 clips each (the class-balanced subset's size), recalls uniform "
                        "in 0-100%", _three_per_class),
}


def _old_stratified_bootstrap(confusion: np.ndarray, rounds: int, rng: np.random.Generator) -> list[float]:
    """The interval the harness used before: each class's clips resampled within the class."""
    support = confusion.sum(axis=1)
    present = np.flatnonzero(support > 0)
    hits = np.diag(confusion[:, :len(support)])[present]
    draws = rng.binomial(support[present][None, :], (hits / support[present])[None, :],
                         size=(rounds, len(present))) / support[present][None, :]
    return [float(np.percentile(draws.mean(axis=1), 2.5)), float(np.percentile(draws.mean(axis=1), 97.5))]


def _true_macro_f1(supports: np.ndarray, rows: np.ndarray) -> float:
    k = len(supports)
    expected = supports[:, None] * rows
    tp = np.diag(expected[:, :k])
    predicted = expected[:, :k].sum(axis=0)
    f1 = 2 * tp / (supports + predicted)
    return float(f1.mean())


def simulate(name: str, reps: int, rounds: int, seed: int = 0) -> dict:
    description, scenario = SCENARIOS[name]
    rng = np.random.default_rng([seed, sum(map(ord, name))])
    hit_uar = hit_f1 = hit_old = 0
    widths, smallest = [], []
    for rep in range(reps):
        supports, recall = scenario(rng)
        rows = rows_for(supports.astype(float), recall)
        confusion = np.stack([rng.multinomial(n, r / r.sum()) for n, r in zip(supports, rows)])
        point = metrics.from_confusion(confusion)
        uar_ci, f1_ci = metrics.posterior_intervals(confusion, point["uar"], point["macro_f1"], seed + rep, rounds)
        true_uar, true_f1 = float(recall.mean()), _true_macro_f1(supports.astype(float), rows)
        hit_uar += uar_ci[0] <= true_uar <= uar_ci[1]
        hit_f1 += f1_ci[0] <= true_f1 <= f1_ci[1]
        old = _old_stratified_bootstrap(confusion, rounds, rng)
        hit_old += old[0] <= true_uar <= old[1]
        widths.append(uar_ci[1] - uar_ci[0])
        smallest.append(int(supports.min()))
    se = float(np.sqrt(0.95 * 0.05 / reps))
    return {"scenario": name, "description": description, "replicates": reps, "rounds": rounds,
            "smallest_class": min(smallest), "uar_coverage": hit_uar / reps, "monte_carlo_se": se,
            "uar_mean_width": float(np.mean(widths)), "macro_f1_coverage": hit_f1 / reps,
            "old_stratified_bootstrap_uar_coverage": hit_old / reps}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=1000, help="posterior draws per interval (harness run's default)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "coverage.json"))
    args = ap.parse_args()
    started = time.perf_counter()
    out = []
    for name in SCENARIOS:
        r = simulate(name, args.reps, args.rounds, args.seed)
        out.append(r)
        print(f"{name:20s} UAR coverage {100 * r['uar_coverage']:5.1f}% (old bootstrap "
              f"{100 * r['old_stratified_bootstrap_uar_coverage']:5.1f}%), mean width {100 * r['uar_mean_width']:.1f} "
              f"points, macro-F1 {100 * r['macro_f1_coverage']:5.1f}%")
    document = {"nominal": 0.95, "method": "each present class's confusion row drawn from its posterior "
                                           "(Jeffreys on recall), 2.5-97.5 percentiles of the drawn UAR, "
                                           "widened to contain the estimate",
                "seconds": round(time.perf_counter() - started, 1), "scenarios": out}
    Path(args.out).write_text(json.dumps(document, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
