"""What the ``harness`` command prints: tables and lines made from results documents."""

from __future__ import annotations

from tabulate import tabulate


def pct(x: float) -> str:
    return f"{100 * x:.2f}"


def uar_text(value: float, missing: list, classes: int) -> str:
    """UAR as printed everywhere: ``UAR*`` with the class count when some classes had no samples."""
    if not missing:
        return pct(value)
    return f"{pct(value)}* ({classes - len(missing)}/{classes} classes)"


def summary_table(document: dict) -> str:
    """One row per evaluated split; a task with several folds gets a mean +- std row after them."""
    rows = []
    model = document["model"]["name"]
    fold_of = {k: spec for spec, agg in document.get("aggregates", {}).items() for k in agg["splits"]}
    for key, t in document["tasks"].items():
        m, ci = t["metrics"], t["metrics"]["uar_ci95"]
        rows.append([key, model, t["frame_protocol"]["name"], t["counts"]["evaluated"],
                     uar_text(m["uar"], m["missing_classes"], len(t["classes"])),
                     pct(m["war"]), pct(m["macro_f1"]), f"{pct(ci[0])}-{pct(ci[1])}" if ci else "-",
                     pct(m["invalid_rate"]), t["counts"]["failed"], t["timings"].get("clips_per_s", "-")])
        spec = fold_of.get(key)
        if spec and document["aggregates"][spec]["splits"][-1] == key:
            a = document["aggregates"][spec]
            rows.append([f"{spec} (mean of {len(a['splits'])})", model, a["frame_protocol"]["name"], a["n"],
                         f"{pct(a['uar_mean'])}+-{pct(a['uar_std'])}",
                         f"{pct(a['war_mean'])}+-{pct(a['war_std'])}", pct(a["macro_f1_mean"]), "-", "-",
                         a["failed"], "-"])
    table = tabulate(rows, headers=["task", "model", "frames", "n", "UAR", "WAR", "macro-F1",
                                    "UAR 95% CI", "invalid %", "failed", "clips/s"],
                     disable_numparse=True)
    if any(t["metrics"]["missing_classes"] for t in document["tasks"].values()):
        table += ("\n* UAR over the classes that have samples in the evaluated subset only; it is not "
                  "comparable with a full-class UAR")
    return table


def timing_line(t: dict) -> str:
    """Start-up, loop and total apart: a loop rate that includes importing torch would mislead."""
    rate = f", {t['loop_clips_per_s']:.1f} clips/s" if t.get("loop_clips_per_s") else ""
    return (f"time: start-up {t['startup_s']:.1f} s (model load {t.get('model_load_s', 0.0):.1f} s), "
            f"loop {t['loop_s']:.1f} s for {t.get('clips', 0)} clips{rate}, total {t['total_s']:.1f} s")


def per_class_table(document: dict, keys: list[str]) -> str:
    """Recall of each class (rows) in each evaluated split (columns), with predictions made."""
    tasks = [document["tasks"][k] for k in keys]
    rows = []
    for i, cls in enumerate(tasks[0]["per_class"]):
        row = [cls["class"]]
        for t in tasks:
            c = t["per_class"][i]
            row.append(f"{pct(c['recall'])} ({c['support']})" if len(tasks) == 1 else pct(c["recall"]))
        row.append(sum(t["per_class"][i]["predicted"] for t in tasks))
        rows.append(row)
    invalid = sum(t["counts"]["invalid"] for t in tasks)
    failed = sum(t["counts"]["failed"] for t in tasks)
    rows.append(["(invalid / failed)"] + ["" for _ in tasks] + [f"{invalid} / {failed}"])
    headers = ["class"] + ([k.rsplit("/", 1)[-1] for k in keys] if len(keys) > 1 else ["recall"]) + ["predicted"]
    return tabulate(rows, headers=headers, disable_numparse=True)


def render_messages(messages: list[dict], video: str) -> str:
    """Chat messages as text, every line as the model gets it, with a marker where media goes."""
    lines = []
    for message in messages:
        parts = []
        for part in message["content"]:
            if part.get("type") == "video":
                parts.append(f"<video: {video}>")
            elif part.get("type") == "image":
                parts.append(f"<image: frame {part.get('frame')}>")
            else:
                parts.append(part["text"])
        text = "\n".join(parts).splitlines() or [""]
        label = f"  {message['role']}:"
        lines.append(f"{label:<10} {text[0]}")
        lines += [f"{'':<10} {line}" for line in text[1:]]
    return "\n".join(lines)


def _signed(x: float) -> str:
    return f"{100 * x:+.2f}"


def _p(value: float, bound: bool = False) -> str:
    """A p-value with 4 decimals (an exact one below 0.0001 in scientific notation), or ``< 1/rounds``
    where the bootstrap cannot resolve it: never ``0.0000``."""
    if bound:
        return f"< {value:.2g}"
    return f"{value:.4f}" if value >= 1e-4 or value == 0 else f"{value:.1e}"


def compare_tables(pairs: list[dict], key: str, rounds: int) -> str:
    """The paired comparison of ``harness compare``: one row per pair, then per-class recall for one pair."""
    rows = []
    for c in pairs:
        u, w, f = c["uar"], c["war"], c["macro_f1"]
        rows.append([c["a"], c["b"], c["n"],
                     f"{_signed(u['difference'])} [{_signed(u['ci95'][0])}, {_signed(u['ci95'][1])}]",
                     _p(u["p"], u.get("p_bound", False))
                     + (f" ({_p(u['p_holm'], u.get('p_holm_bound', False))})" if len(pairs) > 1 else ""),
                     f"{_signed(w['difference'])}", f"{w['only_a_right']}/{w['only_b_right']}",
                     _p(w["mcnemar_p"]) + (f" ({_p(w['p_holm'])})" if len(pairs) > 1 else ""),
                     f"{_signed(f['difference'])} [{_signed(f['ci95'][0])}, {_signed(f['ci95'][1])}]"])
    holm = " (Holm)" if len(pairs) > 1 else ""
    lines = [f"task {key}: A minus B, in points; {rounds} paired class-stratified bootstrap rounds",
             tabulate(rows, headers=["A", "B", "n", "UAR diff [95% CI]", f"UAR p{holm}", "WAR diff",
                                     "only A/B right", f"McNemar p{holm}", "macro-F1 diff [95% CI]"],
                      disable_numparse=True),
             f"UAR p: read off the bootstrap distribution of the difference (centred on the observed difference, "
             f"not on the null); {rounds} rounds cannot resolve p below 1/{rounds}, so a p that no round "
             f"reaches is printed as '< {1 / rounds:.2g}'"]
    if len(pairs) == 1:
        c = pairs[0]
        lines += ["\nper-class recall difference (A minus B) [95% CI]",
                  tabulate([[k, v["support"], f"{100 * v['recall_a']:.1f}", f"{100 * v['recall_b']:.1f}",
                             f"{_signed(v['difference'])} [{_signed(v['ci95'][0])}, {_signed(v['ci95'][1])}]"]
                            for k, v in c["per_class"].items()],
                           headers=["class", "n", "recall A", "recall B", "difference"], disable_numparse=True),
                  f"\n{len(c['disagreements'])} clip(s) answered differently"]
    return "\n".join(lines)


def planned_runs(runs) -> str:
    """The runs a command will make (``harness run --config``, ``--dry-run``): their number first,
    then each with its options as a command line."""
    import shlex

    lines = [f"{len(runs)} run{'s' if len(runs) != 1 else ''}:"]
    for i, run in enumerate(runs, 1):
        label = f" [{run.label}]" if run.label else ""
        lines.append(f"  {i}.{label} harness run {shlex.join(run.words)}")
    return "\n".join(lines)


def run_outcomes(outcomes) -> str:
    """The end of a grid: each run with its exit code and, for a failed one, why."""
    rows = [[i, run.label or "-", {0: "ok", 1: "failed samples or error", 2: "usage error"}.get(code, code),
             (error.splitlines() or [""])[0][:120]] for i, (run, code, error) in enumerate(outcomes, 1)]
    failed = sum(1 for _, code, _ in outcomes if code)
    head = f"{len(outcomes)} runs: {len(outcomes) - failed} ok, {failed} not" if failed else f"{len(outcomes)} runs: all ok"
    return head + "\n" + tabulate(rows, headers=["run", "grid values", "outcome", "error"], disable_numparse=True)
