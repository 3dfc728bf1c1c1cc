"""``temporal``: what the model gets from time, and how sampling density helps or hurts it.

Runs, all at the command's settings otherwise:

- **frame-rate sweep**: the ``fps`` strategy at a grid of rates (``rates``,
  default 1|2|3|5|8|12, cap ``max`` frames, default 32, recorded): UAR, WAR,
  micro-expression UAR, the visual tokens and frames per clip (the cost side),
  and the best rate with its bootstrap interval;
- **frame-count sweep**: uniform K (``counts``, default 1|2|4|8|16|32);
- **order**: natural, reversed and shuffled frames, told a natural clip (the
  timing contract), with temporal sensitivity = UAR(natural) - UAR(shuffled)
  and its paired, class-stratified bootstrap interval; a model that ignores
  order scores near zero;
- **single frame**: the middle frame alone and, on tasks that annotate the
  apex (the synthetic task), the apex frame alone: how much of the score a
  video model gets from one image;
- **apex coverage** (model-free: it depends only on which frames a protocol
  picks): for each rate and count, the share of micro-expression clips with at
  least one sampled frame inside the apex window.

Protocols a task cannot take (fps on media without a time base, the apex on
a task without apex annotations) are skipped and recorded.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.compare import paired_uar_difference
from harness.probe import Probe, ProbeContext, RunRows, Variant
from harness.probes.common import pyplot, row_metrics, save


def _numbers(value: Any, default: tuple) -> tuple:
    if value is None:
        return default
    return tuple(float(v) if "." in str(v) else int(v) for v in str(value).split("|") if str(v).strip())


def apex_coverage(rows: list[dict]) -> dict[str, Any] | None:
    """Share of micro-expression clips with a sampled frame inside the apex window (None: no apex)."""
    micro = [r for r in rows if (r.get("meta") or {}).get("micro") and r.get("timestamps")]
    if not micro:
        return None
    hit = sum(1 for r in micro
              if any(r["meta"]["apex_start"] <= t <= r["meta"]["apex_end"] for t in r["timestamps"]))
    return {"share": hit / len(micro), "clips": len(micro)}


class TemporalProbe(Probe):
    name = "temporal"
    description = "frame-rate and frame-count sweeps, frame order, single frame, apex coverage of micro-expressions"
    PARAMS = ("rates", "counts", "max")

    def __init__(self, params: dict[str, Any]):
        super().__init__(params)
        self.rates = _numbers(params.get("rates"), (1, 2, 3, 5, 8, 12))
        self.counts = _numbers(params.get("counts"), (1, 2, 4, 8, 16, 32))
        self.cap = int(params.get("max", 32))

    def variants(self, context: ProbeContext) -> list[Variant]:
        out = [Variant(f"fps{r:g}", frames=f"fps={r:g},max={self.cap}", optional=True) for r in self.rates]
        out += [Variant(f"k{k}", frames=f"{k}", optional=True) for k in self.counts]
        out += [Variant("order-natural", frames="order=natural"),
                Variant("order-reversed", frames="order=reversed"),
                Variant("order-shuffled", frames=f"order=shuffled,seed={context.seed}"),
                Variant("single-middle", frames="1")]
        if context.extra.get("apex"):
            out.append(Variant("single-apex", frames="apex"))
        return out

    def _point(self, run: RunRows, classes: tuple[str, ...]) -> dict[str, Any]:
        if run.skipped:
            return {"skipped": run.skipped}
        m = row_metrics(run.rows, classes)
        groups = run.task.get("groups", {})
        frames = [len(r["frame_indices"]) for r in run.rows if r.get("frame_indices")]
        return {"uar": m["uar"], "war": m["war"], "uar_ci95": run.task["metrics"]["uar_ci95"],
                "micro_uar": groups.get("micro", {}).get("uar"), "micro_uar_ci95": groups.get("micro", {}).get("uar_ci95"),
                "visual_tokens_per_clip": run.task.get("visual_tokens_per_clip"),
                "frames_per_clip": float(np.mean(frames)) if frames else None,
                "frame_protocol": run.task["frame_protocol"]["name"], "apex_coverage": apex_coverage(run.rows)}

    def compute(self, runs: dict[str, RunRows], context: ProbeContext) -> dict[str, Any]:
        classes = context.classes
        fps = {f"{r:g}": self._point(runs[f"fps{r:g}"], classes) for r in self.rates}
        counts = {str(k): self._point(runs[f"k{k}"], classes) for k in self.counts}
        measured = {r: p for r, p in fps.items() if "uar" in p}
        best = max(measured, key=lambda r: measured[r]["uar"]) if measured else None
        order = {o: self._point(runs[f"order-{o}"], classes) for o in ("natural", "reversed", "shuffled")}
        index = {c: i for i, c in enumerate(classes)}
        natural, shuffled = runs["order-natural"].rows, {r["id"]: r for r in runs["order-shuffled"].rows}
        y = np.array([index[r["label"]] for r in natural])

        def preds(rows: list[dict]) -> np.ndarray:
            return np.array([index[r["prediction"]] if r["status"] == "ok" else -1 for r in rows])
        sensitivity = paired_uar_difference(y, preds(natural), preds([shuffled[r["id"]] for r in natural]),
                                            len(classes), rounds=1000, seed=context.seed)
        single = {"middle": self._point(runs["single-middle"], classes)}
        if "single-apex" in runs:
            single["apex"] = self._point(runs["single-apex"], classes)
        else:
            single["apex"] = {"skipped": "the task has no apex annotations"}
        best_video = max([p["uar"] for p in list(measured.values()) + [c for c in counts.values() if "uar" in c]],
                         default=None)
        return {"rates": fps, "counts": counts, "cap": self.cap,
                "best_rate": {"fps": best, "uar": measured[best]["uar"], "uar_ci95": measured[best]["uar_ci95"]}
                if best else None,
                "order": order, "temporal_sensitivity": sensitivity, "single": single,
                "single_share_of_best": {k: (v["uar"] / best_video if "uar" in v and best_video else None)
                                         for k, v in single.items()}}

    def summary(self, f: dict[str, Any]) -> list[tuple[str, str]]:
        pct = lambda x: "-" if x is None else f"{100 * x:.1f}"  # noqa: E731

        def curve(points: dict) -> str:
            return "  ".join(f"{k}:{pct(p.get('uar'))}" if "uar" in p else f"{k}:-" for k, p in points.items())

        def micro(points: dict) -> str:
            return "  ".join(f"{k}:{pct(p.get('micro_uar'))}/{pct((p.get('apex_coverage') or {}).get('share'))}"
                             for k, p in points.items() if "uar" in p)
        s = f["temporal_sensitivity"]
        lines = [("UAR by fps", curve(f["rates"])), ("micro UAR / apex coverage by fps", micro(f["rates"])),
                 ("UAR by frame count", curve(f["counts"]))]
        if f["best_rate"]:
            ci = f["best_rate"]["uar_ci95"]
            lines.append(("best rate", f"{f['best_rate']['fps']} fps, UAR {pct(f['best_rate']['uar'])}"
                                       + (f" [{pct(ci[0])}, {pct(ci[1])}]" if ci else "")))
        lines += [("UAR natural / reversed / shuffled", " / ".join(pct(f["order"][o].get("uar"))
                                                                   for o in ("natural", "reversed", "shuffled"))),
                  ("temporal sensitivity", f"{100 * s['difference']:+.1f} [{100 * s['ci95'][0]:+.1f}, "
                                           f"{100 * s['ci95'][1]:+.1f}]"),
                  ("one frame: middle / apex", f"{pct(f['single']['middle'].get('uar'))} / "
                                               f"{pct(f['single']['apex'].get('uar'))}")]
        return lines

    def plot(self, f: dict[str, Any], context: ProbeContext, stem: str) -> list[str]:
        plt = pyplot()
        fig, (left, middle, right) = plt.subplots(1, 3, figsize=(11, 3.3))
        rates = [r for r, p in f["rates"].items() if "uar" in p]
        if rates:
            xs = [float(r) for r in rates]
            left.plot(xs, [100 * f["rates"][r]["uar"] for r in rates], "o-", label="UAR")
            if any(f["rates"][r]["micro_uar"] is not None for r in rates):
                left.plot(xs, [100 * (f["rates"][r]["micro_uar"] or 0) for r in rates], "s-", label="micro UAR")
            if any(f["rates"][r]["apex_coverage"] for r in rates):
                left.plot(xs, [100 * (f["rates"][r]["apex_coverage"] or {}).get("share", 0) for r in rates], "k--",
                          label="apex coverage")
            left.set_xlabel("frames per second")
            left.set_ylabel("%")
            left.set_ylim(0, 105)
            left.legend(fontsize=7)
        counts = [k for k, p in f["counts"].items() if "uar" in p]
        middle.plot([int(k) for k in counts], [100 * f["counts"][k]["uar"] for k in counts], "o-", label="UAR")
        if any(f["counts"][k]["micro_uar"] is not None for k in counts):
            middle.plot([int(k) for k in counts], [100 * (f["counts"][k]["micro_uar"] or 0) for k in counts], "s-",
                        label="micro UAR")
        middle.set_xscale("log", base=2)
        middle.set_xlabel("uniform frames per clip")
        middle.set_ylim(0, 105)
        middle.legend(fontsize=7)
        bars = [("natural", f["order"]["natural"].get("uar")), ("reversed", f["order"]["reversed"].get("uar")),
                ("shuffled", f["order"]["shuffled"].get("uar")), ("middle frame", f["single"]["middle"].get("uar")),
                ("apex frame", f["single"]["apex"].get("uar"))]
        right.bar([b for b, _ in bars], [100 * (v or 0) for _, v in bars], color="tab:purple")
        right.tick_params(axis="x", labelrotation=30, labelsize=7)
        right.set_ylim(0, 105)
        right.set_ylabel("UAR %")
        fig.suptitle(f"{context.model} on {context.task_name}: sampling density, order and single frames",
                     fontsize=10)
        return save(fig, stem)
