"""``choices``: does the order of the answer options change the answer?

The same clips are asked with N seeded permutations of the options (default
5). Reported: UAR for each permutation and its spread (min, max, standard
deviation), the share of clips whose answer changes across permutations, and
the position bias: the share of answers given at each displayed position
against the uniform 1/K, with a chi-square goodness-of-fit test. Peers report
one fixed order and never say how much it matters; a model that reads the
options' content, not their place, shows no spread and no position bias.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from harness.probe import Probe, ProbeContext, RunRows, Variant
from harness.probes.common import finite, missing_note, pyplot, row_metrics, save, uar_label


class ChoicesProbe(Probe):
    name = "choices"
    description = "answer-option order: UAR spread over N permutations, answers that change, position bias"
    PARAMS = ("n",)

    def __init__(self, params: dict[str, Any]):
        super().__init__(params)
        self.n = int(params.get("n", 5))
        if self.n < 2:
            raise ValueError("n must be at least 2 permutations")

    def variants(self, context: ProbeContext) -> list[Variant]:
        return [Variant(f"perm{j}", choice_order="shuffled", choice_seed=context.seed * 1000 + j)
                for j in range(1, self.n + 1)]

    def compute(self, runs: dict[str, RunRows], context: ProbeContext) -> dict[str, Any]:
        classes = context.classes
        names = [f"perm{j}" for j in range(1, self.n + 1)]
        per_run = {name: row_metrics(runs[name].rows, classes) for name in names}
        uars = np.array([per_run[n]["uar"] for n in names])
        answers: dict[str, list] = {}
        positions = np.zeros(len(classes), dtype=int)
        for name in names:
            for r in runs[name].rows:
                answers.setdefault(r["id"], []).append(r["prediction"] if r["status"] == "ok" else r["status"])
                if r["status"] == "ok" and r.get("choices"):
                    positions[r["choices"].index(r["prediction"])] += 1
        changed = sum(1 for a in answers.values() if len(set(a)) > 1)
        answered = int(positions.sum())
        expected = answered / len(classes)
        test = stats.chisquare(positions) if answered and positions.any() else None
        return {
            "permutations": self.n,
            "missing_classes": per_run[names[0]]["missing_classes"], "class_count": len(classes),
            "uar": {n: per_run[n]["uar"] for n in names}, "war": {n: per_run[n]["war"] for n in names},
            "uar_min": float(uars.min()), "uar_max": float(uars.max()), "uar_std": float(uars.std(ddof=1)),
            "uar_spread": float(uars.max() - uars.min()),
            "changed_share": changed / len(answers) if answers else 0.0, "clips": len(answers),
            "position_counts": positions.tolist(),
            "position_share": (positions / answered).tolist() if answered else [0.0] * len(classes),
            "uniform_share": 1.0 / len(classes),
            "first_position_ratio": (positions[0] / expected) if expected else None,
            "chi_square": {"statistic": finite(test.statistic) if test else None,
                           "p": finite(test.pvalue) if test else None},
        }

    def summary(self, f: dict[str, Any]) -> list[tuple[str, str]]:
        missing = f.get("missing_classes", [])
        return [(uar_label(f"UAR over {f['permutations']} option orders", missing),
                 f"{100 * f['uar_min']:.1f}-{100 * f['uar_max']:.1f} (sd {100 * f['uar_std']:.1f})"),
                ("clips whose answer changes", f"{100 * f['changed_share']:.1f}%"),
                ("answers at the first position", f"{100 * f['position_share'][0]:.1f}% "
                                                  f"(uniform {100 * f['uniform_share']:.1f}%)"),
                ("position bias chi-square p", "-" if f["chi_square"]["p"] is None else f"{f['chi_square']['p']:.3g}")
                ] + missing_note(missing, f.get("class_count", 0))

    def plot(self, f: dict[str, Any], context: ProbeContext, stem: str) -> list[str]:
        plt = pyplot()
        fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.2))
        k = len(f["position_share"])
        left.bar(range(1, k + 1), [100 * s for s in f["position_share"]])
        left.axhline(100 * f["uniform_share"], color="black", linestyle="--", label="uniform")
        left.set_xlabel("position of the chosen option")
        left.set_ylabel("% of answers")
        left.legend(fontsize=7)
        right.bar(range(1, f["permutations"] + 1), [100 * u for u in f["uar"].values()], color="tab:green")
        right.set_xlabel("option permutation")
        right.set_ylabel("UAR %")
        fig.suptitle(f"{context.model} on {context.task_name}: answer-option order", fontsize=10)
        return save(fig, stem)
