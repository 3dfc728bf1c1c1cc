"""Intervals that stay honest on small classes: exact per-class recall, UAR from posterior draws, and
their coverage on long-tailed confusion matrices with classes as small as 3 clips."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from harness import metrics

ROOT = Path(__file__).resolve().parent.parent


def _coverage_bench():
    spec = importlib.util.spec_from_file_location("coverage_bench", ROOT / "bench" / "coverage.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("n", [1, 3, 7, 18, 55, 240])
def test_per_class_recall_intervals_are_exact_clopper_pearson(n):
    for hits in sorted({0, 1, n // 2, n - 1, n} & set(range(n + 1))):
        ci = stats.binomtest(hits, n).proportion_ci(0.95, method="exact")
        assert metrics.clopper_pearson(hits, n) == pytest.approx([ci.low, ci.high], abs=1e-9)
    assert metrics.clopper_pearson(0, 0) is None


def test_issue_figures_zero_of_three_and_three_of_three():
    assert metrics.clopper_pearson(0, 3)[1] == pytest.approx(0.7076, abs=1e-4)  # "tail UAR 0.0" allows 71%
    assert metrics.clopper_pearson(3, 3)[0] == pytest.approx(0.2924, abs=1e-4)  # "collapse 100%" allows 29%


def test_a_class_at_zero_recall_widens_the_uar_interval():
    """The collapse control's shape: the 3 disgust clips all missed. Resampling within that class adds
    nothing (every resample is 0/3); its posterior adds the width 0/3 deserves."""
    supports = np.array([50, 39, 55, 45, 30, 3, 18])
    hits = np.array([44, 28, 54, 40, 28, 0, 1])
    confusion = np.zeros((7, 9), dtype=int)
    for c, (n, h) in enumerate(zip(supports, hits)):
        confusion[c, c] = h
        confusion[c, 2 if c != 2 else 0] += n - h
    point = metrics.from_confusion(confusion)
    base, _ = metrics.posterior_intervals(confusion, point["uar"], point["macro_f1"], 0, 4000)
    better = confusion.copy()
    better[5, 5], better[5, 2] = 3, 0  # the same, with disgust at 3/3
    p2 = metrics.from_confusion(better)
    other, _ = metrics.posterior_intervals(better, p2["uar"], p2["macro_f1"], 0, 4000)
    # 0/3 is compatible with about 70% recall, i.e. 10 UAR points over 7 classes: the upper bound says so
    assert base[1] - point["uar"] > 0.06
    assert base[0] <= point["uar"] <= base[1] and other[0] <= p2["uar"] <= other[1]
    # and the rest of the interval is the other classes' uncertainty, not an artefact of the draws
    assert base[1] - base[0] < 0.2


def test_mean_recall_interval_of_one_class_is_its_exact_interval_and_of_several_holds_the_estimate():
    assert metrics.mean_recall_interval([0], [3]) == metrics.clopper_pearson(0, 3)
    assert metrics.mean_recall_interval([3, 0], [3, 0]) == metrics.clopper_pearson(3, 3)  # no support: left out
    ci = metrics.mean_recall_interval([50, 3], [50, 3], seed=1)
    assert ci[1] == 1.0 and ci[0] < 0.95  # both at 100%: the upper bound is 100%, the lower one is not
    ci = metrics.mean_recall_interval([0, 0], [30, 3], seed=1)
    assert ci[0] == 0.0 and ci[1] > 0.2
    assert metrics.mean_recall_interval([], []) is None


def test_uar_interval_is_seeded_and_for_one_class_exact():
    labels = ["a"] * 20 + ["b"] * 5
    preds = ["a"] * 18 + ["b"] * 2 + ["b"] * 5
    one = metrics.compute(labels, preds, ["ok"] * 25, ["a", "b", "c"], seed=3, n_bootstrap=500)
    two = metrics.compute(labels, preds, ["ok"] * 25, ["a", "b", "c"], seed=3, n_bootstrap=500)
    assert one["uar_ci95"] == two["uar_ci95"] and one["macro_f1_ci95"] == two["macro_f1_ci95"]
    single = metrics.compute(["a"] * 5, ["a"] * 5, ["ok"] * 5, ["a", "b"], n_bootstrap=200)
    assert single["uar_ci95"] == pytest.approx(metrics.clopper_pearson(5, 5))  # not [1, 1]


@pytest.mark.parametrize("scenario", ["synthetic-collapse", "synthetic-oracle", "three-per-class",
                                      "random-long-tail"])
def test_uar_interval_covers_the_true_uar_on_long_tailed_matrices(scenario):
    """A shorter run of bench/coverage.py (which records 2000 replicates per scenario): the harness's own
    interval code, classes as small as 3 clips. The old class-stratified bootstrap fails this."""
    bench = _coverage_bench()
    r = bench.simulate(scenario, reps=300, rounds=500, seed=11)
    assert r["smallest_class"] == 3
    assert r["uar_coverage"] >= 0.93, r
    if scenario in ("three-per-class", "random-long-tail"):
        assert r["old_stratified_bootstrap_uar_coverage"] < 0.9  # what the harness printed before


def test_recorded_coverage_meets_the_claim_and_the_docs_state_it():
    recorded = json.loads((ROOT / "bench" / "results" / "coverage.json").read_text())
    coverage = [s["uar_coverage"] for s in recorded["scenarios"]]
    assert recorded["nominal"] == 0.95 and min(coverage) >= 0.93
    assert min(s["smallest_class"] for s in recorded["scenarios"]) == 3
    assert all(s["replicates"] >= 2000 for s in recorded["scenarios"])
    docs = (ROOT / "docs" / "results.md").read_text()
    assert f"{100 * min(coverage):.1f}%" in docs and "bench/coverage.py" in docs
