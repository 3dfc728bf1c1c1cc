"""``calibration`` (score mode): does the model's confidence mean what it says?

Each clip's candidate scores become probabilities (softmax over the task's
classes). Reported: expected calibration error (equal-width bins over the
top probability, bin count recorded), the multi-class Brier score, per-class
ECE (one-vs-rest), the reliability diagram's bins, and the same after
**cross-fitted** temperature scaling (a variant, never the main number): the
clips are dealt into ``folds`` seeded folds (default 5), a temperature is
fitted on all folds but one and applied to the one left out, so every clip is
held out exactly once and the scaled ECE is measured on all of them (one
random half would make the figure depend on the split: on one run, T ranged
0.28-0.56 over ten halves). ECE before and after, and their paired change,
carry percentile bootstrap intervals over clips (``ROUNDS`` rounds, seeded).
Clips without scores (failed, or a generate-mode model) are left out and
counted.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import optimize

from harness.frames.sampling import stable_seed
from harness.probe import Probe, ProbeContext, RunRows, Variant
from harness.probes.common import ROUNDS, pyplot, save


def probabilities(rows: list[dict], classes: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(logits, label index, kept row positions) of the rows that have every class's score."""
    logits, labels, kept = [], [], []
    for i, r in enumerate(rows):
        scores = r.get("scores") or {}
        if all(c in scores for c in classes):
            logits.append([scores[c] for c in classes])
            labels.append(classes.index(r["label"]))
            kept.append(i)
    return np.array(logits, dtype=float).reshape(-1, len(classes)), np.array(labels, dtype=int), kept


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def ece(confidence: np.ndarray, correct: np.ndarray, bins: int) -> tuple[float, list[dict]]:
    """Expected calibration error over equal-width confidence bins, and the bins themselves."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    total, table = 0.0, []
    for b in range(bins):
        mask = which == b
        if not mask.any():
            continue
        conf, acc = float(confidence[mask].mean()), float(correct[mask].mean())
        total += mask.sum() / len(confidence) * abs(acc - conf)
        table.append({"low": float(edges[b]), "high": float(edges[b + 1]), "n": int(mask.sum()),
                      "confidence": conf, "accuracy": acc})
    return float(total), table


def ece_draws(confidence: np.ndarray, correct: np.ndarray, bins: int, draws: np.ndarray) -> np.ndarray:
    """ECE of each bootstrap draw (rows of clip indices), vectorised: sum over bins of |hits - confidence|, / n."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    rounds, n = draws.shape
    cell = (which[draws] + bins * np.arange(rounds)[:, None]).ravel()
    conf = np.bincount(cell, weights=confidence[draws].ravel(), minlength=rounds * bins).reshape(rounds, bins)
    hits = np.bincount(cell, weights=correct[draws].ravel(), minlength=rounds * bins).reshape(rounds, bins)
    return np.abs(hits - conf).sum(axis=1) / n


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature that minimises the negative log-likelihood of ``labels`` (bounded, log scale)."""
    def nll(log_t: float) -> float:
        p = softmax(logits, np.exp(log_t))
        return float(-np.log(np.maximum(p[np.arange(len(labels)), labels], 1e-12)).mean())

    return float(np.exp(optimize.minimize_scalar(nll, bounds=(-4.0, 4.0), method="bounded").x))


def cross_fitted(logits: np.ndarray, labels: np.ndarray, folds: int, seed: int) -> tuple[np.ndarray, list[float]]:
    """Temperature-scaled probabilities of every clip, each from a temperature fitted without its fold."""
    n = len(labels)
    folds = max(2, min(folds, n))
    order = np.random.default_rng(seed).permutation(n)
    probs = np.zeros_like(logits, dtype=float)
    temperatures = []
    for held in np.array_split(order, folds):
        fit = np.setdiff1d(order, held)
        t = fit_temperature(logits[fit], labels[fit])
        temperatures.append(t)
        probs[held] = softmax(logits[held], t)
    return probs, temperatures


def calibration_figures(probs: np.ndarray, labels: np.ndarray, bins: int) -> dict[str, Any]:
    k = probs.shape[1]
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(float)
    value, table = ece(confidence, correct, bins)
    onehot = np.eye(k)[labels]
    per_class = {}
    for c in range(k):
        per_class[c] = ece(probs[:, c], onehot[:, c], bins)[0]
    return {"ece": value, "brier": float(((probs - onehot) ** 2).sum(axis=1).mean()),
            "accuracy": float(correct.mean()), "mean_confidence": float(confidence.mean()),
            "reliability": table, "per_class_ece_index": per_class}


class CalibrationProbe(Probe):
    name = "calibration"
    description = "confidence calibration (score mode): ECE, Brier, per-class ECE, reliability diagram, " \
                  "cross-fitted temperature scaling, ECE with bootstrap intervals"
    PARAMS = ("bins", "folds")

    def __init__(self, params: dict[str, Any]):
        super().__init__(params)
        self.bins = int(params.get("bins", 15))
        self.folds = int(params.get("folds", 5))
        if self.bins < 1 or self.folds < 2:
            raise ValueError("bins must be at least 1 and folds at least 2")

    def variants(self, context: ProbeContext) -> list[Variant]:
        return [Variant("main")]

    def compute(self, runs: dict[str, RunRows], context: ProbeContext) -> dict[str, Any]:
        rows, classes = runs["main"].rows, context.classes
        logits, labels, kept = probabilities(rows, classes)
        if len(kept) < 2:
            return {"applicable": False, "reason": "the model gave no class scores (calibration needs "
                                                   "score mode)", "bins": self.bins}
        main = calibration_figures(softmax(logits), labels, self.bins)
        main["per_class_ece"] = {classes[i]: v for i, v in main.pop("per_class_ece_index").items()}
        # temperature scaling, cross-fitted: every clip scaled by a temperature fitted without it
        scaled, temperatures = cross_fitted(logits, labels, self.folds, stable_seed(context.seed, "calibration-folds"))
        after = calibration_figures(scaled, labels, self.bins)
        before_p = softmax(logits)
        rng = np.random.default_rng(stable_seed(context.seed, "calibration-bootstrap"))
        chunk, ece_b, ece_a = max(1, 250_000 // len(kept)), [], []  # about 2 MB of indices at a time
        for start in range(0, ROUNDS, chunk):
            draws = rng.integers(0, len(kept), size=(min(chunk, ROUNDS - start), len(kept)))
            ece_b.append(ece_draws(before_p.max(axis=1), (before_p.argmax(axis=1) == labels).astype(float),
                                   self.bins, draws))
            ece_a.append(ece_draws(scaled.max(axis=1), (scaled.argmax(axis=1) == labels).astype(float),
                                   self.bins, draws))
        ece_b, ece_a = np.concatenate(ece_b), np.concatenate(ece_a)
        interval = lambda v: [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))]  # noqa: E731
        return {"applicable": True, "bins": self.bins, "n": len(kept), "left_out": len(rows) - len(kept),
                **{k: main[k] for k in ("ece", "brier", "accuracy", "mean_confidence", "reliability",
                                        "per_class_ece")},
                "ece_ci95": interval(ece_b), "bootstrap_rounds": ROUNDS,
                "temperature_scaled": {"method": "cross-fitted", "folds": len(temperatures),
                                       "temperature": float(np.median(temperatures)), "temperatures": temperatures,
                                       "eval_n": len(kept),
                                       "ece_before": main["ece"], "ece_after": after["ece"],
                                       "ece_before_ci95": interval(ece_b), "ece_after_ci95": interval(ece_a),
                                       "ece_change_ci95": interval(ece_a - ece_b),
                                       "brier_before": main["brier"], "brier_after": after["brier"],
                                       "accuracy_after": after["accuracy"],
                                       "reliability_after": after["reliability"]}}

    def summary(self, f: dict[str, Any]) -> list[tuple[str, str]]:
        if not f["applicable"]:
            return [("calibration", f["reason"])]
        t = f["temperature_scaled"]
        ci = lambda v: f"[{v[0]:.3f}, {v[1]:.3f}]"  # noqa: E731
        return [(f"ECE ({f['bins']} bins) / Brier", f"{f['ece']:.3f} {ci(f['ece_ci95'])} / {f['brier']:.3f}"),
                ("accuracy vs mean confidence", f"{f['accuracy']:.3f} vs {f['mean_confidence']:.3f}"),
                (f"temperature ({t['folds']}-fold cross-fitted)",
                 f"{t['temperature']:.2f} (folds {min(t['temperatures']):.2f}-{max(t['temperatures']):.2f})"),
                ("ECE after scaling, every clip held out once",
                 f"{t['ece_after']:.3f} {ci(t['ece_after_ci95'])}, change {t['ece_after'] - t['ece_before']:+.3f} "
                 f"{ci(t['ece_change_ci95'])}")]

    def plot(self, f: dict[str, Any], context: ProbeContext, stem: str) -> list[str]:
        if not f["applicable"]:
            return []
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(4.2, 4))
        ax.plot([0, 1], [0, 1], color="black", linestyle="--", linewidth=1, label="perfect calibration")
        bins = f["reliability"]
        ax.bar([(b["low"] + b["high"]) / 2 for b in bins], [b["accuracy"] for b in bins],
               width=[b["high"] - b["low"] for b in bins], alpha=0.7, edgecolor="black", label="accuracy")
        ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], "o", color="tab:red", markersize=3)
        ax.set_xlabel("confidence")
        ax.set_ylabel("accuracy")
        ax.set_title(f"{context.model}: ECE {f['ece']:.3f}", fontsize=10)
        ax.legend(fontsize=7)
        return save(fig, stem)
