"""``longtail``: does the model fold rare emotions into common ones?

Classes are grouped by their share of the task's **training** data (what a
model could have learned as a prior): head (share >= 1/K), tail (share <
0.5/K), medium otherwise, thresholds recorded. The probe reports per-class
recall against training share (each recall with its exact Clopper-Pearson
interval) with their Spearman rank correlation and its exact permutation
p-value, UAR per group with its interval (as ``harness run``'s UAR interval:
Jeffreys posterior draws, exact for a group of one class), the **collapse
rate** (tail-class clips predicted as a head class) with its exact interval
and the confusion mass from each rare class into each head class, prediction
share against label share (total-variation distance, head-bias ratio), the
same model's UAR on a seeded class-balanced subset (its size and interval;
WAR equals UAR there by construction), and, for score-mode
models, logit adjustment by the training prior (scores minus tau * log prior)
and contextual calibration (the model's own ``prior_correction``, where it
has one) as variants with their own UAR/WAR. A task without a training split
falls back to the evaluated split's shares and says so.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
from scipy import stats

from harness import metrics
from harness.frames.sampling import stable_seed
from harness.probe import Probe, ProbeContext, RunRows, Variant
from harness.probes.common import (
    ROUNDS,
    argmax_prediction,
    finite,
    missing_note,
    pct,
    pct_ci,
    pyplot,
    row_metrics,
    save,
    shares,
    uar_label,
)

EXACT_UP_TO = 9  # classes: Spearman's p by enumerating every pairing (9! = 362,880), else asymptotic


def groups_by_share(share: dict[str, float]) -> tuple[dict[str, str], dict[str, float]]:
    k = len(share)
    thresholds = {"head_at_least": 1.0 / k, "tail_below": 0.5 / k}
    group = {c: "head" if s >= thresholds["head_at_least"] else "tail" if s < thresholds["tail_below"] else "medium"
             for c, s in share.items()}
    return group, thresholds


def collapse_figures(rows: list[dict], classes: tuple[str, ...], group: dict[str, str],
                     predictions: list | None = None) -> dict[str, Any]:
    """Collapse rate and confusion mass from rare (tail and medium) classes into head classes."""
    preds = [r["prediction"] for r in rows] if predictions is None else predictions
    head = [c for c in classes if group[c] == "head"]
    tail_rows = [(r, p) for r, p in zip(rows, preds) if group[r["label"]] == "tail"]
    collapsed = sum(1 for _, p in tail_rows if p in head)
    rate = (collapsed / len(tail_rows)) if tail_rows else None
    mass: dict[str, dict[str, float]] = {}
    for rare in (c for c in classes if group[c] != "head"):
        mine = [p for r, p in zip(rows, preds) if r["label"] == rare]
        if mine:
            mass[rare] = {h: sum(1 for p in mine if p == h) / len(mine) for h in head}
    return {"collapse_rate": rate, "collapse_rate_ci95": metrics.clopper_pearson(collapsed, len(tail_rows)),
            "tail_samples": len(tail_rows), "tail_collapsed": collapsed, "confusion_mass": mass}


def spearman(x: list[float], y: list[float]) -> dict[str, Any]:
    """Spearman's rho with its two-sided p-value: exact (every pairing of the ranks, ties averaged) up
    to ``EXACT_UP_TO`` points, else scipy's asymptotic t approximation."""
    n = len(x)
    if n < 3 or len(set(y)) < 2 or len(set(x)) < 2:
        return {"rho": None, "p": None, "p_method": None, "classes": n}
    rho = float(stats.spearmanr(x, y).statistic)
    if n > EXACT_UP_TO:
        return {"rho": finite(rho), "p": finite(stats.spearmanr(x, y).pvalue), "p_method": "asymptotic", "classes": n}
    rx, ry = stats.rankdata(x), stats.rankdata(y)
    rx = rx - rx.mean()
    perms = np.array(list(itertools.permutations(ry)))
    perms -= perms.mean(axis=1, keepdims=True)
    rhos = perms @ rx / np.sqrt((rx @ rx) * (perms * perms).sum(axis=1))
    p = float(np.mean(np.abs(rhos) >= abs(rho) - 1e-12))
    return {"rho": finite(rho), "p": p, "p_method": f"exact ({len(perms)} pairings)", "classes": n}


class LongTailProbe(Probe):
    name = "longtail"
    description = "long-tail collapse: recall vs training share, head/medium/tail UAR, collapse rate, " \
                  "class-balanced UAR, logit adjustment (score mode)"
    PARAMS = ("tau", "contextual")

    def __init__(self, params: dict[str, Any]):
        super().__init__(params)
        self.tau = float(params.get("tau", 1.0))
        self.contextual = str(params.get("contextual", "true")).lower() in ("1", "true", "yes")

    def variants(self, context: ProbeContext) -> list[Variant]:
        out = [Variant("main")]
        if self.contextual:  # the model's own contextual calibration, where it has one
            out.append(Variant("contextual", model_args=(("prior_correction", "true"),), optional=True))
        return out

    def compute(self, runs: dict[str, RunRows], context: ProbeContext) -> dict[str, Any]:
        rows, classes = runs["main"].rows, context.classes
        if context.training_prior:
            prior, source, fallback = context.training_prior, context.prior_source, False
        else:
            prior = {c: sum(1 for r in rows if r["label"] == c) for c in classes}
            source, fallback = "the evaluated split's own labels (the task ships no training split)", True
        share = shares(prior, classes)
        group, thresholds = groups_by_share(share)
        main = row_metrics(rows, classes)
        present = [c for c in classes if main["support"][c] > 0]
        recalls = [main["recall"][c] for c in present]
        n = len(rows)
        pred_share = {c: main["predicted"].get(c, 0) / n for c in classes}
        label_share = {c: main["support"][c] / n for c in classes}
        off_list = (main["predicted"].get("invalid", 0) + main["predicted"].get("failed", 0)) / n
        tvd = 0.5 * (sum(abs(pred_share[c] - label_share[c]) for c in classes) + off_list)
        head = [c for c in classes if group[c] == "head"]
        true_head = sum(label_share[c] for c in head)
        figures: dict[str, Any] = {
            "prior_source": source, "prior_is_test_fallback": fallback,
            "training_share": share, "groups": group, "thresholds": thresholds,
            "recall": main["recall"], "recall_ci95": main["recall_ci95"], "hits": main["hits"],
            "support": main["support"], "missing_classes": main["missing_classes"],
            "spearman": spearman([share[c] for c in present], recalls),
            "uar": main["uar"], "war": main["war"],
            "group_uar": self._group_uar(main, group, present),
            "group_uar_ci95": self._group_uar_ci(main, group, present, context.seed),
            **collapse_figures(rows, classes, group),
            "prediction_share": pred_share, "label_share": label_share, "off_list_share": off_list,
            "total_variation": tvd,
            "head_bias_ratio": (sum(pred_share[c] for c in head) / true_head) if true_head else None,
            "balanced": self._balanced(rows, classes, context.seed),
        }
        scored = [r for r in rows if r.get("scores")]
        if scored and len(scored) == len([r for r in rows if r["status"] != "failed"]):
            shift = {c: self.tau * math.log(max(share[c], 1e-12)) for c in classes}
            preds = [argmax_prediction(r.get("scores"), classes, shift) for r in rows]
            adjusted = row_metrics(rows, classes, preds)
            figures["logit_adjusted"] = {"tau": self.tau, "uar": adjusted["uar"], "war": adjusted["war"],
                                         "recall": adjusted["recall"],
                                         "group_uar": self._group_uar(adjusted, group, present),
                                         "group_uar_ci95": self._group_uar_ci(adjusted, group, present, context.seed),
                                         **collapse_figures(rows, classes, group, preds)}
        contextual = runs.get("contextual")
        if contextual is not None and contextual.skipped:
            figures["contextual"] = {"skipped": contextual.skipped}
        elif contextual is not None:
            answers = [(r.get("variants") or {}).get("prior_corrected") for r in contextual.rows]
            if any(answers):
                preds = [a["prediction"] if a else None for a in answers]
                cal = row_metrics(contextual.rows, classes, preds)
                figures["contextual"] = {"uar": cal["uar"], "war": cal["war"], "recall": cal["recall"],
                                         "group_uar": self._group_uar(cal, group, present),
                                         **collapse_figures(contextual.rows, classes, group, preds)}
            else:
                figures["contextual"] = {"skipped": "the model reported no prior-corrected answers"}
        return figures

    @staticmethod
    def _group_uar(m: dict, group: dict[str, str], present: list[str]) -> dict[str, float | None]:
        out = {}
        for g in ("head", "medium", "tail"):
            members = [c for c in present if group[c] == g]
            out[g] = float(np.mean([m["recall"][c] for c in members])) if members else None
        return out

    @staticmethod
    def _group_uar_ci(m: dict, group: dict[str, str], present: list[str], seed: int) -> dict[str, list | None]:
        out = {}
        for g in ("head", "medium", "tail"):
            members = [c for c in present if group[c] == g]
            out[g] = metrics.mean_recall_interval([m["hits"][c] for c in members], [m["support"][c] for c in members],
                                                  stable_seed(seed, "group-uar", g), ROUNDS)
        return out

    @staticmethod
    def _balanced(rows: list[dict], classes: tuple[str, ...], seed: int) -> dict[str, Any]:
        """The same answers on a seeded subset with equally many clips of every present class."""
        by_class: dict[str, list[dict]] = {}
        for r in rows:
            by_class.setdefault(r["label"], []).append(r)
        per = min(len(v) for v in by_class.values())
        rng = np.random.default_rng(stable_seed(seed, "class-balanced"))
        subset = []
        for c in classes:
            members = sorted(by_class.get(c, []), key=lambda r: r["id"])
            if members:
                subset.extend(members[i] for i in sorted(rng.choice(len(members), per, replace=False)))
        m = row_metrics(subset, classes, seed=stable_seed(seed, "class-balanced-interval"), rounds=ROUNDS)
        # every class has `per` clips, so WAR equals UAR: one figure, one interval
        return {"per_class": per, "n": len(subset), "classes": len(by_class), "uar": m["uar"], "war": m["war"],
                "uar_ci95": m["uar_ci95"]}

    def summary(self, f: dict[str, Any]) -> list[tuple[str, str]]:
        missing = f.get("missing_classes", [])
        groups = ("head", "medium", "tail")
        ci = f.get("group_uar_ci95") or {}
        rho = f["spearman"]
        b = f["balanced"]
        lines = [(uar_label("UAR head / medium / tail", missing),
                  " / ".join(pct_ci(f["group_uar"][g], ci.get(g)) for g in groups)),
                 ("collapse rate (tail -> head)", pct_ci(f["collapse_rate"], f.get("collapse_rate_ci95"))
                  + (f" ({f['tail_collapsed']}/{f['tail_samples']} clips)" if f["collapse_rate"] is not None else "")),
                 ("tail recall [exact 95%]", ", ".join(
                     f"{c} {f['hits'][c]}/{f['support'][c]} {pct_ci(f['recall'][c], f['recall_ci95'][c])}"
                     for c, g in f["groups"].items() if g == "tail" and f["support"][c]) or "-"),
                 ("Spearman(recall, train share)", "-" if rho["rho"] is None else
                  f"{rho['rho']:.2f} ({'exact ' if str(rho.get('p_method')).startswith('exact') else ''}"
                  f"p = {rho['p']:.3f}, {rho['classes']} classes)"),
                 ("head-bias ratio", "-" if f["head_bias_ratio"] is None else f"{f['head_bias_ratio']:.2f}"),
                 (uar_label("class-balanced UAR (= WAR)", missing),
                  f"{pct_ci(b['uar'], b.get('uar_ci95'))} ({b['n']} clips, {b['per_class']} per class)")]
        if "logit_adjusted" in f:
            a = f["logit_adjusted"]
            lines.append((uar_label(f"logit-adjusted UAR (tau={a['tau']:g})", missing),
                          f"{pct(a['uar'])}, tail {pct_ci(a['group_uar']['tail'], a.get('group_uar_ci95', {}).get('tail'))}"
                          f", collapse {pct_ci(a['collapse_rate'], a.get('collapse_rate_ci95'))}"))
        if "contextual" in f and "uar" in f["contextual"]:
            lines.append((uar_label("contextual calibration UAR", missing), pct(f["contextual"]["uar"])))
        if f["prior_is_test_fallback"]:
            lines.append(("note", "no training split: groups use the test shares"))
        return lines + missing_note(missing, len(f["groups"]))

    def plot(self, f: dict[str, Any], context: ProbeContext, stem: str) -> list[str]:
        plt = pyplot()
        classes = sorted(context.classes, key=lambda c: -f["training_share"][c])
        x = np.arange(len(classes))
        fig, ax = plt.subplots(figsize=(7.5, 3.6))
        recall = [100 * f["recall"][c] for c in classes]
        intervals = [f.get("recall_ci95", {}).get(c) or [f["recall"][c]] * 2 for c in classes]
        ax.bar(x - 0.2, recall, 0.4, label="recall % (exact 95% interval)",
               yerr=[[r - 100 * lo for r, (lo, _) in zip(recall, intervals)],
                     [100 * hi - r for r, (_, hi) in zip(recall, intervals)]], capsize=3,
               error_kw={"linewidth": 1, "ecolor": "dimgray"})
        if "logit_adjusted" in f:
            ax.scatter(x - 0.2, [100 * f["logit_adjusted"]["recall"][c] for c in classes], marker="_", s=300,
                       color="black", label=f"recall after logit adjustment (tau={f['logit_adjusted']['tau']:g})")
        ax2 = ax.twinx()
        ax2.bar(x + 0.2, [100 * f["training_share"][c] for c in classes], 0.4, color="tab:orange",
                label="training share %")
        ax.set_xticks(x, [f"{c}\n({f['groups'][c]})" for c in classes], fontsize=8)
        ax.set_ylabel("recall %")
        ax2.set_ylabel("training share %")
        ax.set_ylim(0, 105)
        ax.set_title(f"{context.model} on {context.task_name}: recall by class, most frequent first")
        handles = ax.get_legend_handles_labels()
        handles2 = ax2.get_legend_handles_labels()
        ax.legend(handles[0] + handles2[0], handles[1] + handles2[1], fontsize=7, loc="upper right")
        return save(fig, stem)
