"""``calibration`` (score mode): does the model's confidence mean what it says?

Each clip's candidate scores become probabilities (softmax over the task's
classes). Reported: expected calibration error (equal-width bins over the
top probability, bin count recorded), the multi-class Brier score, per-class
ECE (one-vs-rest), the reliability diagram's bins, and the same after
temperature scaling fitted on a seeded half of the clips and measured on the
other half (a variant, never the main number). Clips without scores (failed,
or a generate-mode model) are left out and counted.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import optimize

from harness.frames.sampling import stable_seed
from harness.probe import Probe, ProbeContext, RunRows, Variant
from harness.probes.common import pyplot, save


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
                  "temperature scaling on a held-out half"
    PARAMS = ("bins",)

    def __init__(self, params: dict[str, Any]):
        super().__init__(params)
        self.bins = int(params.get("bins", 15))

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
        # temperature scaling: fitted on a seeded half, measured on the other half
        rng = np.random.default_rng(stable_seed(context.seed, "calibration-split"))
        order = rng.permutation(len(kept))
        fit, held = order[: len(order) // 2], order[len(order) // 2:]

        def nll(log_t: float) -> float:
            p = softmax(logits[fit], np.exp(log_t))
            return float(-np.log(np.maximum(p[np.arange(len(fit)), labels[fit]], 1e-12)).mean())

        best = optimize.minimize_scalar(nll, bounds=(-4.0, 4.0), method="bounded")
        temperature = float(np.exp(best.x))
        before = calibration_figures(softmax(logits[held]), labels[held], self.bins)
        after = calibration_figures(softmax(logits[held], temperature), labels[held], self.bins)
        return {"applicable": True, "bins": self.bins, "n": len(kept), "left_out": len(rows) - len(kept),
                **{k: main[k] for k in ("ece", "brier", "accuracy", "mean_confidence", "reliability",
                                        "per_class_ece")},
                "temperature_scaled": {"temperature": temperature, "fit_n": int(len(fit)), "eval_n": int(len(held)),
                                       "ece_before": before["ece"], "ece_after": after["ece"],
                                       "brier_before": before["brier"], "brier_after": after["brier"]}}

    def summary(self, f: dict[str, Any]) -> list[tuple[str, str]]:
        if not f["applicable"]:
            return [("calibration", f["reason"])]
        t = f["temperature_scaled"]
        return [(f"ECE ({f['bins']} bins) / Brier", f"{f['ece']:.3f} / {f['brier']:.3f}"),
                ("accuracy vs mean confidence", f"{f['accuracy']:.3f} vs {f['mean_confidence']:.3f}"),
                (f"held-out ECE, temperature {t['temperature']:.2f}", f"{t['ece_before']:.3f} -> {t['ece_after']:.3f}")]

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
