"""``modality``: does the sound help, hurt, or not matter? The same model, the same frames, with the
clip's sound track (``--audio on``) and without it (``--audio off``), paired clip by clip.

Figures (A = audio on, B = audio off, differences on minus off):

- UAR and macro-F1 differences with the paired, class-stratified bootstrap, and the WAR difference
  with the exact McNemar test: the tests ``harness compare`` uses (:func:`harness.compare.paired_figures`),
  over the clips answered in both runs (a clip that failed in either, e.g. without usable sound, is
  left out and counted: broken media is not an effect of the sound);
- per class: the recall difference with Newcombe's paired score interval, and a verdict from the exact McNemar
  test on that class's clips whose answer changed, Holm-adjusted over the classes where the sound
  changed an answer (one where it changed none cannot show an effect): **helps** or
  **hurts** (adjusted p below ``alpha``, default 0.05), **unchanged** (the sound turned no clip of the
  class right or wrong), or **unclear** (answers changed, but not more one way than chance explains; a small
  class often lands here: its interval says how much is left open);
- on tasks whose metadata states what each clip's sound carries (``sound_cue``: the synthetic task's
  cue agrees with the face, contradicts it or is absent), the same figures per cue: the ground truth
  a working probe must recover;
- what was heard: clips sent with sound, its mean length, spans that were a window of the clip.

Both runs go through the normal evaluator (frame and response caches make a rerun nearly free). A task
without sound or a model that takes none is refused by the audio-on run, naming the reason.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.compare import holm, mcnemar_p, paired_figures
from harness.probe import Probe, ProbeContext, RunRows, Variant
from harness.probes.common import ROUNDS, missing_note, pct, pct_ci, pyplot, row_metrics, save, uar_label

VERDICTS = ("helps", "hurts", "unchanged", "unclear")


class ModalityProbe(Probe):
    name = "modality"
    description = ("audio on vs off, paired: UAR/WAR differences with the stratified paired bootstrap and "
                   "McNemar, per class where sound helps, hurts or does not matter, per sound cue")
    PARAMS = ("alpha",)
    needs_audio = True

    def __init__(self, params: dict[str, Any]):
        super().__init__(params)
        self.alpha = float(params.get("alpha", 0.05))
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be between 0 and 1, got {self.alpha}")

    def variants(self, context: ProbeContext) -> list[Variant]:
        return [Variant("audio-off", audio="off"), Variant("audio-on", audio="on")]

    def compute(self, runs: dict[str, RunRows], context: ProbeContext) -> dict[str, Any]:
        classes = list(context.classes)
        index = {c: i for i, c in enumerate(classes)}
        on_all, off_all = runs["audio-on"].rows, {r["id"]: r for r in runs["audio-off"].rows}
        if {r["id"] for r in on_all} != set(off_all):
            raise ValueError("the audio-on and audio-off runs hold other clips; a paired comparison needs the same ones")
        # A clip that failed in either run (no usable sound, a decoder or model error) says nothing about what
        # the sound does: it is left out of the pairing, counted and named, never scored as "sound hurts".
        excluded = [r["id"] for r in on_all if r["status"] == "failed" or off_all[r["id"]]["status"] == "failed"]
        dropped = set(excluded)
        rows = [r for r in on_all if r["id"] not in dropped]
        if not rows:
            raise ValueError("every clip failed in the audio-on or the audio-off run: nothing to pair")

        def predicted(row: dict) -> int:
            return index[row["prediction"]] if row["status"] == "ok" and row["prediction"] in index else -1
        y = np.array([index[r["label"]] for r in rows])
        p_on = np.array([predicted(r) for r in rows])
        p_off = np.array([predicted(off_all[r["id"]]) for r in rows])
        ids = [r["id"] for r in rows]
        paired = paired_figures(y, p_on, p_off, classes, ids, rounds=ROUNDS, seed=context.seed)
        # classes left without a paired clip (every one of them failed in a run): named, and the UARs are
        # over the others, labelled so (UAR*), never passed off as the task's full-class UAR
        missing = [c for c in classes if not (y == index[c]).any()]
        right_on, right_off = p_on == y, p_off == y

        per_class = {}
        for name, figures in paired["per_class"].items():
            mask = y == index[name]
            only_on = int((right_on & ~right_off & mask).sum())
            only_off = int((~right_on & right_off & mask).sum())
            per_class[name] = {**figures, "only_on_right": only_on, "only_off_right": only_off,
                               "answers_changed": int(((p_on != p_off) & mask).sum()),
                               "mcnemar_p": mcnemar_p(only_on, only_off)}
        # Holm over the classes where the sound changed an answer: a class where it changed none cannot
        # show an effect either way, so it does not count against the others (Tarone's argument)
        tested = [c for c in per_class.values() if c["only_on_right"] + c["only_off_right"] > 0]
        for c, p in zip(tested, holm([c["mcnemar_p"] for c in tested])):
            c["mcnemar_p_holm"] = p
        for c in per_class.values():
            p = c.setdefault("mcnemar_p_holm", 1.0)
            if c["only_on_right"] + c["only_off_right"] == 0:  # recall unchanged (answers may have moved between wrong classes)
                c["verdict"] = "unchanged"
            elif p < self.alpha:
                c["verdict"] = "helps" if c["difference"] > 0 else "hurts"
            else:
                c["verdict"] = "unclear"

        by_cue = {}
        cues = [(r.get("meta") or {}).get("sound_cue") for r in rows]
        for cue in sorted({c for c in cues if c is not None}):
            mask = np.array([c == cue for c in cues])
            only_on = int((right_on & ~right_off & mask).sum())
            only_off = int((~right_on & right_off & mask).sum())
            by_cue[cue] = {"n": int(mask.sum()), "accuracy_off": float(right_off[mask].mean()),
                           "accuracy_on": float(right_on[mask].mean()),
                           "difference": float(right_on[mask].mean() - right_off[mask].mean()),
                           "only_on_right": only_on, "only_off_right": only_off,
                           "mcnemar_p": mcnemar_p(only_on, only_off)}

        heard = [r["audio"] for r in on_all if r.get("audio")]
        # each run's UAR interval over the paired clips (as harness run computes it), beside the paired difference
        ci_on = row_metrics(rows, context.classes, seed=context.seed, rounds=1000)["uar_ci95"]
        ci_off = row_metrics([off_all[i] for i in ids], context.classes, seed=context.seed, rounds=1000)["uar_ci95"]
        task_on, task_off = runs["audio-on"].task, runs["audio-off"].task
        return {
            "n": int(len(y)), "alpha": self.alpha, "rounds": paired["rounds"],
            "excluded_failed": {"count": len(excluded), "ids": excluded[:50]},
            "missing_classes": missing, "class_count": len(classes),
            "frame_protocol": {"on": task_on["frame_protocol"]["name"], "off": task_off["frame_protocol"]["name"]},
            "uar": {**paired["uar"], "ci95_on": ci_on, "ci95_off": ci_off},
            "war": paired["war"], "macro_f1": paired["macro_f1"], "per_class": per_class,
            "verdicts": {v: [c for c, f in per_class.items() if f["verdict"] == v] for v in VERDICTS},
            "by_sound_cue": by_cue,
            "sound": {"clips_with_sound": len(heard), "failed_on": task_on["counts"]["failed"],
                      "mean_duration_s": float(np.mean([a["duration"] for a in heard])) if heard else None,
                      "windowed": sum(a["window"] for a in heard), "padded": sum(a["padded_s"] > 0 for a in heard),
                      "rate": heard[0]["rate"] if heard else None},
            "answers_changed": int((p_on != p_off).sum()),
        }

    def summary(self, f: dict[str, Any]) -> list[tuple[str, str]]:
        u, w = f["uar"], f["war"]

        def signed(x: float) -> str:
            return f"{100 * x:+.1f}"

        def listing(verdict: str) -> str:
            names = f["verdicts"][verdict]
            if not names:
                return "-"
            return ", ".join(f"{c} {signed(f['per_class'][c]['difference'])} "
                             f"[{signed(f['per_class'][c]['ci95'][0])}, {signed(f['per_class'][c]['ci95'][1])}]"
                             for c in names)
        from harness.compare import p_text
        missing = f.get("missing_classes", [])
        lines = [(uar_label("UAR audio off / on", missing), f"{pct_ci(u['b'], u['ci95_off'])} / {pct_ci(u['a'], u['ci95_on'])}"),
                 (uar_label("UAR on - off (paired bootstrap)", missing), f"{signed(u['difference'])} [{signed(u['ci95'][0])}, "
                                                     f"{signed(u['ci95'][1])}], p {p_text(u['p'], u['p_bound'])}"),
                 ("WAR on - off (McNemar)", f"{signed(w['difference'])}: only on right {w['only_a_right']}, only off "
                                            f"right {w['only_b_right']}, p {w['mcnemar_p']:.4g}"),
                 ("sound helps (Holm)", listing("helps")), ("sound hurts (Holm)", listing("hurts")),
                 ("unclear", listing("unclear")), ("unchanged", ", ".join(f["verdicts"]["unchanged"]) or "-")]
        if f["by_sound_cue"]:
            lines.append(("accuracy off -> on by sound cue", "  ".join(
                f"{cue}: {pct(g['accuracy_off'])} -> {pct(g['accuracy_on'])} (n={g['n']})"
                for cue, g in f["by_sound_cue"].items())))
        if f["excluded_failed"]["count"]:
            lines.append(("! left out", f"{f['excluded_failed']['count']} clips failed in one of the runs (e.g. no usable "
                                        f"sound) and are not paired: the figures above are over {f['n']} clips"))
        lines += missing_note(missing, f.get("class_count", 0))
        s = f["sound"]
        lines.append(("sound sent", f"{s['clips_with_sound']} clips at {s['rate']} Hz, mean "
                                    f"{s['mean_duration_s'] or 0:.2f} s, {s['windowed']} windowed, "
                                    f"{s['failed_on']} failed with audio on"))
        return lines

    def plot(self, f: dict[str, Any], context: ProbeContext, stem: str) -> list[str]:
        plt = pyplot()
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.4), gridspec_kw={"width_ratios": [1, 3]})
        u = f["uar"]
        values = [100 * u["b"], 100 * u["a"]]
        errors = [[100 * (u["b"] - u["ci95_off"][0]), 100 * (u["a"] - u["ci95_on"][0])],
                  [100 * (u["ci95_off"][1] - u["b"]), 100 * (u["ci95_on"][1] - u["a"])]] \
            if u["ci95_off"] and u["ci95_on"] else None
        left.bar(["audio off", "audio on"], values, yerr=errors, capsize=4, color=["tab:gray", "tab:blue"])
        left.set_ylim(0, 105)
        left.set_ylabel("UAR % (95% interval)")
        left.set_title(f"on - off {100 * u['difference']:+.1f} [{100 * u['ci95'][0]:+.1f}, "
                       f"{100 * u['ci95'][1]:+.1f}]", fontsize=8)
        names = list(f["per_class"])
        diffs = [100 * f["per_class"][c]["difference"] for c in names]
        low = [d - 100 * f["per_class"][c]["ci95"][0] for d, c in zip(diffs, names)]
        high = [100 * f["per_class"][c]["ci95"][1] - d for d, c in zip(diffs, names)]
        colours = {"helps": "tab:green", "hurts": "tab:red", "unchanged": "lightgray", "unclear": "tab:orange"}
        right.bar(names, diffs, yerr=[low, high], capsize=3,
                  color=[colours[f["per_class"][c]["verdict"]] for c in names])
        right.axhline(0, color="black", linewidth=0.8)
        right.set_ylim(-105, 105)
        right.set_ylabel("recall on - off, points")
        right.tick_params(axis="x", labelrotation=30, labelsize=8)
        handles = [plt.Rectangle((0, 0), 1, 1, color=colour) for colour in colours.values()]
        right.legend(handles, [f"{v} (Holm McNemar)" if v in ("helps", "hurts") else v for v in colours],
                     fontsize=7, loc="lower left")
        fig.suptitle(f"{context.model} on {context.task_name}: the same frames with and without their sound",
                     fontsize=10)
        return save(fig, stem)
