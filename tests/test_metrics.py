"""Metrics against hand-computed values and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support, recall_score

from harness import metrics

CLASSES = ["a", "b", "c"]


def test_hand_computed_case_with_an_invalid_answer():
    labels = ["a", "a", "b", "b", "c"]
    preds = ["a", "b", "b", None, "a"]
    status = ["ok", "ok", "ok", "invalid", "ok"]
    m = metrics.compute(labels, preds, status, CLASSES, n_bootstrap=0)
    assert m["macro_f1_ci95"] is None and m["per_class"][0]["recall_ci95"] is not None  # exact: no draws needed
    assert m["war"] == pytest.approx(2 / 5)
    assert m["uar"] == pytest.approx((1 / 2 + 1 / 2 + 0) / 3)
    assert m["macro_f1"] == pytest.approx((0.5 + 0.5 + 0) / 3)
    assert m["invalid"] == 1 and m["invalid_rate"] == pytest.approx(0.2)
    per = {c["class"]: c for c in m["per_class"]}
    assert per["a"]["precision"] == pytest.approx(0.5) and per["a"]["predicted"] == 2
    assert per["c"]["recall"] == 0 and per["c"]["support"] == 1
    assert m["confusion"]["columns"] == ["a", "b", "c", "invalid", "failed"]
    assert m["confusion"]["matrix"] == [[1, 1, 0, 0, 0], [0, 1, 0, 1, 0], [1, 0, 0, 0, 0]]
    assert m["prediction_distribution"] == {"a": 2, "b": 2, "c": 0, "invalid": 1, "failed": 0}
    assert m["uar_ci95"] is None and m["war_ci95"] is None


def test_failed_samples_count_as_wrong_and_are_reported_apart_from_invalid():
    m = metrics.compute(["a", "b"], ["a", None], ["ok", "failed"], CLASSES, n_bootstrap=0)
    assert m["war"] == 0.5 and m["failed"] == 1 and m["invalid"] == 0
    assert m["uar"] == pytest.approx(0.5)  # recall a=1, b=0; c has no samples


def test_a_class_without_samples_is_left_out_of_the_mean_and_named():
    m = metrics.compute(["a", "a", "b"], ["a", "c", "b"], ["ok"] * 3, CLASSES, n_bootstrap=0)
    assert m["missing_classes"] == ["c"]
    assert m["uar"] == pytest.approx((0.5 + 1.0) / 2)
    # Predicting the missing class still costs precision of nobody and recall of "a".
    assert {c["class"]: c["predicted"] for c in m["per_class"]}["c"] == 1


@pytest.mark.parametrize("case", range(25))
def test_matches_scikit_learn_on_random_cases(case):
    rng = np.random.default_rng(case)
    classes = ["happy", "sad", "neutral", "angry", "surprise", "disgust", "fear"]
    n = int(rng.integers(5, 300))
    present = rng.choice(classes, size=int(rng.integers(2, 8)), replace=False)
    labels = list(rng.choice(present, size=n))
    statuses = list(rng.choice(["ok", "ok", "ok", "ok", "invalid", "failed"], size=n))
    preds = [str(rng.choice(classes)) if s == "ok" else None for s in statuses]
    m = metrics.compute(labels, preds, statuses, classes, seed=case, n_bootstrap=100)

    y_pred = [p if s == "ok" else f"__{s}__" for p, s in zip(preds, statuses)]
    have = [c for c in classes if c in set(labels)]
    counted = [c for c in classes if c in set(labels) | set(preds)]  # supported or predicted: F1 0 counts
    assert m["war"] == pytest.approx(accuracy_score(labels, y_pred))
    assert m["uar"] == pytest.approx(recall_score(labels, y_pred, labels=have, average="macro",
                                                  zero_division=0))
    assert m["macro_f1"] == pytest.approx(f1_score(labels, y_pred, labels=counted, average="macro",
                                                   zero_division=0))
    p, r, f, s = precision_recall_fscore_support(labels, y_pred, labels=classes, zero_division=0)
    per = m["per_class"]
    assert [c["precision"] for c in per] == pytest.approx(list(p))
    assert [c["recall"] for c in per] == pytest.approx(list(r))
    assert [c["f1"] for c in per] == pytest.approx(list(f))
    assert [c["support"] for c in per] == list(s)
    cm = confusion_matrix(labels, y_pred, labels=classes + ["__invalid__", "__failed__"])
    assert m["confusion"]["matrix"] == cm[: len(classes)].tolist()
    assert m["missing_classes"] == [c for c in classes if c not in set(labels)]
    lo, hi = m["uar_ci95"]
    assert 0 <= lo <= m["uar"] <= hi <= 1
    assert m["macro_f1_ci95"][0] <= m["macro_f1"] <= m["macro_f1_ci95"][1]


def test_macro_f1_counts_a_class_predicted_without_support_as_zero():
    """Under --limit: 5 happy + 5 sad clips, 2 answered "disgust" (a class with no clips here)."""
    labels = ["happy"] * 5 + ["sad"] * 5
    preds = ["happy"] * 5 + ["sad"] * 3 + ["disgust"] * 2
    classes = ["happy", "sad", "disgust", "fear"]
    m = metrics.compute(labels, preds, ["ok"] * 10, classes, n_bootstrap=200)
    assert m["macro_f1"] == pytest.approx(f1_score(labels, preds, average="macro"))  # sklearn's default: 0.583
    assert m["macro_f1"] == pytest.approx((1 + 0.75 + 0) / 3) and m["macro_f1_classes"] == 3
    assert m["uar"] == pytest.approx((1 + 0.6) / 2) and m["missing_classes"] == ["disgust", "fear"]
    assert m["macro_f1_ci95"][1] < 0.875  # the old figure (F1 of the supported classes only) is outside
    assert metrics.from_confusion(m["confusion"]["matrix"])["macro_f1"] == pytest.approx(m["macro_f1"])


def test_bootstrap_intervals_are_seeded_and_bracket_the_estimate():
    rng = np.random.default_rng(0)
    labels = list(rng.choice(CLASSES, size=400))
    preds = [lab if rng.random() < 0.6 else str(rng.choice(CLASSES)) for lab in labels]
    status = ["ok"] * 400
    a = metrics.compute(labels, preds, status, CLASSES, seed=1)
    b = metrics.compute(labels, preds, status, CLASSES, seed=1)
    c = metrics.compute(labels, preds, status, CLASSES, seed=2)
    assert a["uar_ci95"] == b["uar_ci95"] and a["war_ci95"] == b["war_ci95"]
    assert a["uar_ci95"] != c["uar_ci95"]
    assert a["uar_ci95"][0] < a["uar"] < a["uar_ci95"][1]
    assert a["war_ci95"][0] < a["war"] < a["war_ci95"][1]
    # About +-5 points for 400 samples: the interval is neither empty nor absurd.
    assert 0.03 < a["war_ci95"][1] - a["war_ci95"][0] < 0.15


def test_the_uar_interval_of_a_constant_predictor_carries_the_uncertainty_of_its_small_classes():
    """A class at 0% or 100% recall is not a constant: 0/3 is compatible with up to 71% recall. Resampling
    within classes gave this predictor the interval [1/3, 1/3]; posterior draws do not."""
    labels = ["a"] * 50 + ["b"] * 40 + ["c"] * 3
    m = metrics.compute(labels, ["a"] * len(labels), ["ok"] * len(labels), CLASSES, seed=1, n_bootstrap=1000)
    assert m["uar"] == pytest.approx(1 / 3)
    lo, hi = m["uar_ci95"]
    assert lo <= 1 / 3 and hi > 1 / 3 + 0.1  # c's 0/3 alone allows about 0.7 / 3 more
    assert hi < 1 / 3 + 0.71 / 3 + 0.1 / 3  # and not much more: a and b are well measured
    assert m["macro_f1_ci95"][1] > m["macro_f1"] + 0.05
    assert m["war_ci95"][0] < m["war"] < m["war_ci95"][1]  # WAR is a mean over clips: ordinary bootstrap
    per = {c["class"]: c for c in m["per_class"]}
    assert per["c"]["recall_ci95"] == pytest.approx([0.0, 0.7076], abs=1e-4)  # exact, 0/3
    assert per["a"]["recall_ci95"][1] == 1.0 and per["a"]["recall_ci95"][0] == pytest.approx(0.9289, abs=1e-4)


def test_stratified_intervals_cover_the_estimate_and_are_seeded():
    rng = np.random.default_rng(0)
    labels = list(rng.choice(CLASSES, size=300, p=[0.6, 0.3, 0.1]))
    preds = [y if rng.random() < 0.7 else str(rng.choice(CLASSES)) for y in labels]
    m = metrics.compute(labels, preds, ["ok"] * 300, CLASSES, seed=4, n_bootstrap=400)
    again = metrics.compute(labels, preds, ["ok"] * 300, CLASSES, seed=4, n_bootstrap=400)
    assert m["uar_ci95"] == again["uar_ci95"] and m["macro_f1_ci95"] == again["macro_f1_ci95"]
    assert m["uar_ci95"][0] <= m["uar"] <= m["uar_ci95"][1]
    assert m["macro_f1_ci95"][0] <= m["macro_f1"] <= m["macro_f1_ci95"][1]
    assert m["classes_evaluated"] == 3
