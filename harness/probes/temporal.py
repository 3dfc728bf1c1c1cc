"""``temporal``: what the model gets from time, and how sampling density helps or hurts it.

Runs, all at the command's settings otherwise:

- **frame-rate sweep**: the ``fps`` strategy at a grid of rates (``rates``,
  default 1|2|3|5|8|12, cap ``max`` frames, default 32, recorded): UAR, WAR,
  micro-expression UAR, the visual tokens and frames per clip (the cost side),
  and the **best rates**: the rate with the highest UAR and every rate a
  paired, class-stratified bootstrap test (Holm-adjusted over the rates)
  cannot tell from it, since the top of six correlated UARs is no winner;
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
  least one sampled frame inside the apex window;
- **sampling artefacts** (model-free, on tasks that annotate the expression's
  time): a point whose sampled frames show no expression in any clip of any
  class (2 uniform frames are a clip's first and last, which the synthetic
  generator always draws neutral) is flagged: its UAR measures the sampling,
  not the model.

Protocols a task cannot take (fps on media without a time base, the apex on
a task without apex annotations) are skipped and recorded.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.compare import holm_bounded, paired_uar_difference
from harness.frames.sampling import stable_seed
from harness.probe import Probe, ProbeContext, RunRows, Variant
from harness.probes.common import ROUNDS, missing_note, pct, pct_ci, pyplot, row_metrics, save, uar_label

ALPHA = 0.05  # a rate is told apart from the best one when its Holm-adjusted paired p is below this


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


def expressive_coverage(rows: list[dict]) -> dict[str, Any] | None:
    """Share of expressive clips (any class but a neutral face) with a sampled frame showing the expression:
    inside ``onset_start``-``offset_end`` where the task gives them, else inside the apex window. None when
    the task does not annotate the expression's time."""
    expressive = [r for r in rows if r.get("timestamps") and "apex_start" in (r.get("meta") or {})
                  and (r["meta"].get("intensity", 1.0) or 0.0) > 0]
    if not expressive:
        return None
    window = "onset-offset" if "onset_start" in expressive[0]["meta"] else "apex"
    start, end = ("onset_start", "offset_end") if window == "onset-offset" else ("apex_start", "apex_end")
    by_class: dict[str, list[int]] = {}  # class -> [clips with an expressive frame, clips]
    for r in expressive:
        counts = by_class.setdefault(r["label"], [0, 0])
        counts[0] += any(r["meta"][start] <= t <= r["meta"][end] for t in r["timestamps"])
        counts[1] += 1
    return {"share": sum(h for h, _ in by_class.values()) / len(expressive), "clips": len(expressive),
            "window": window, "by_class": {c: h / n for c, (h, n) in by_class.items()}}


class TemporalProbe(Probe):
    name = "temporal"
    description = "frame-rate and frame-count sweeps, frame order, single frame, apex coverage of micro-expressions"
    PARAMS = ("rates", "counts", "max", "windows")

    def __init__(self, params: dict[str, Any]):
        super().__init__(params)
        self.rates = _numbers(params.get("rates"), (1, 2, 3, 5, 8, 12))
        self.counts = _numbers(params.get("counts"), (1, 2, 4, 8, 16, 32))
        self.cap = int(params.get("max", 32))
        # context windows (seconds) for tasks that place each expression inside a longer stretch of its
        # recording (casme3:window=S): empty by default; a task without the parameter skips them, recorded
        self.windows = _numbers(params.get("windows"), ())

    def variants(self, context: ProbeContext) -> list[Variant]:
        out = [Variant(f"fps{r:g}", frames=f"fps={r:g},max={self.cap}", optional=True) for r in self.rates]
        out += [Variant(f"k{k}", frames=f"{k}", optional=True) for k in self.counts]
        out += [Variant("order-natural", frames="order=natural"),
                Variant("order-reversed", frames="order=reversed"),
                Variant("order-shuffled", frames=f"order=shuffled,seed={context.seed}"),
                Variant("single-middle", frames="1")]
        if context.extra.get("apex"):
            out.append(Variant("single-apex", frames="apex"))
        out += [Variant(f"window{w:g}", task_params=(("window", w),), optional=True) for w in self.windows]
        return out

    def _point(self, run: RunRows, classes: tuple[str, ...]) -> dict[str, Any]:
        if run.skipped:
            return {"skipped": run.skipped}
        m = row_metrics(run.rows, classes)
        groups = run.task.get("groups", {})
        frames = [len(r["frame_indices"]) for r in run.rows if r.get("frame_indices")]
        expressive = expressive_coverage(run.rows)
        artefact = expressive is not None and expressive["share"] == 0.0
        return {"uar": m["uar"], "war": m["war"], "uar_ci95": run.task["metrics"]["uar_ci95"],
                "micro_uar": groups.get("micro", {}).get("uar"), "micro_uar_ci95": groups.get("micro", {}).get("uar_ci95"),
                "visual_tokens_per_clip": run.task.get("visual_tokens_per_clip"),
                "frames_per_clip": float(np.mean(frames)) if frames else None,
                "frame_protocol": run.task["frame_protocol"]["name"], "apex_coverage": apex_coverage(run.rows),
                "expressive_coverage": expressive, "sampling_artefact": artefact,
                "missing_classes": m["missing_classes"]}

    def _best_rates(self, runs: dict[str, RunRows], measured: dict[str, dict], classes: tuple[str, ...],
                    seed: int) -> dict[str, Any] | None:
        """The rate with the highest UAR and the rates a paired test cannot tell from it (Holm over the rates)."""
        if not measured:
            return None
        best = max(measured, key=lambda r: measured[r]["uar"])
        index = {c: i for i, c in enumerate(classes)}
        top = runs[f"fps{best}"].rows
        y = np.array([index[r["label"]] for r in top])

        def preds(rows: list[dict]) -> np.ndarray:
            by_id = {r["id"]: r for r in rows}
            return np.array([index[by_id[r["id"]]["prediction"]] if by_id[r["id"]]["status"] == "ok" else -1
                             for r in top])
        others = [r for r in measured if r != best]
        tests = {r: paired_uar_difference(y, preds(top), preds(runs[f"fps{r}"].rows), len(classes), rounds=ROUNDS,
                                          seed=stable_seed(seed, "best-rate", r)) for r in others}
        adjusted, bounds = holm_bounded([tests[r]["p"] for r in others], [tests[r]["p_bound"] for r in others])
        for r, p, bound in zip(others, adjusted, bounds):
            tests[r].update(p_holm=p, p_holm_bound=bound)
        tied = [best] + [r for r in others if tests[r]["p_holm"] >= ALPHA]
        return {"fps": best, "uar": measured[best]["uar"], "uar_ci95": measured[best]["uar_ci95"],
                "indistinguishable": sorted(tied, key=float), "alpha": ALPHA,
                "test": "paired class-stratified bootstrap of UAR(best) - UAR(rate), Holm-adjusted over the rates",
                "versus": tests}

    def compute(self, runs: dict[str, RunRows], context: ProbeContext) -> dict[str, Any]:
        classes = context.classes
        fps = {f"{r:g}": self._point(runs[f"fps{r:g}"], classes) for r in self.rates}
        counts = {str(k): self._point(runs[f"k{k}"], classes) for k in self.counts}
        measured = {r: p for r, p in fps.items() if "uar" in p}
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
        points = {**{f"{r} fps": p for r, p in fps.items()}, **{f"K={k}": p for k, p in counts.items()},
                  **{f"{o} order": p for o, p in order.items()}, **{f"{s} frame": p for s, p in single.items()}}
        windows = {f"{w:g}": self._point(runs[f"window{w:g}"], classes) for w in self.windows}
        return {"rates": fps, "counts": counts, "cap": self.cap, "windows": windows,
                "best_rate": self._best_rates(runs, measured, classes, context.seed),
                "sampling_artefacts": [name for name, p in points.items() if p.get("sampling_artefact")],
                "missing_classes": order["natural"].get("missing_classes", []), "class_count": len(classes),
                "order": order, "temporal_sensitivity": sensitivity, "single": single,
                "single_share_of_best": {k: (v["uar"] / best_video if "uar" in v and best_video else None)
                                         for k, v in single.items()}}

    def summary(self, f: dict[str, Any]) -> list[tuple[str, str]]:
        missing = f.get("missing_classes", [])

        def curve(points: dict) -> str:  # "!": a sampling artefact (no sampled frame shows an expression)
            return "  ".join(f"{k}:{pct(p.get('uar'))}{'!' if p.get('sampling_artefact') else ''}"
                             if "uar" in p else f"{k}:-" for k, p in points.items())

        def micro(points: dict) -> str:
            return "  ".join(f"{k}:{pct(p.get('micro_uar'))}/{pct((p.get('apex_coverage') or {}).get('share'))}"
                             for k, p in points.items() if "uar" in p)
        s = f["temporal_sensitivity"]
        lines = [(uar_label("UAR by fps", missing), curve(f["rates"])),
                 (uar_label("micro UAR / apex coverage by fps", missing), micro(f["rates"])),
                 (uar_label("UAR by frame count", missing), curve(f["counts"]))]
        if f.get("windows"):
            lines.append((uar_label("UAR / apex coverage by window (s)", missing),
                          "  ".join(f"{k}:{pct(p.get('uar'))}/{pct((p.get('apex_coverage') or {}).get('share'))}"
                                    if "uar" in p else f"{k}:-" for k, p in f["windows"].items())))
        if f.get("sampling_artefacts"):
            lines.append(("! sampling artefact", f"{', '.join(f['sampling_artefacts'])}: no sampled frame shows an "
                                                 f"expression in any clip; the UAR measures the sampling, not the model"))
        b = f["best_rate"]
        if b:
            lines.append(("best rates (paired test, Holm)",
                          f"{', '.join(b['indistinguishable'])} fps not distinguishable; highest {b['fps']} fps, "
                          f"UAR {pct_ci(b['uar'], b['uar_ci95'])}"))
        lines += [(uar_label("UAR natural / reversed / shuffled", missing),
                   " / ".join(pct(f["order"][o].get("uar")) for o in ("natural", "reversed", "shuffled"))),
                  ("temporal sensitivity", f"{100 * s['difference']:+.1f} [{100 * s['ci95'][0]:+.1f}, "
                                           f"{100 * s['ci95'][1]:+.1f}]"),
                  (uar_label("one frame: middle / apex UAR", missing), f"{pct(f['single']['middle'].get('uar'))} / "
                                                                       f"{pct(f['single']['apex'].get('uar'))}")]
        return lines + missing_note(missing, f.get("class_count", 0))

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
        artefacts = [k for k in counts if f["counts"][k].get("sampling_artefact")]
        if artefacts:
            middle.plot([int(k) for k in artefacts], [100 * f["counts"][k]["uar"] for k in artefacts], "x",
                        color="tab:red", markersize=10, label="sampling artefact (no expressive frame)")
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
