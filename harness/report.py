"""``harness report``: a self-contained report folder from results files alone.

No model and no data are needed: everything comes from the results documents
(and any diagnostics documents given alongside). The folder holds
``index.html`` (readable offline: figures beside it, no remote scripts or
fonts), the figures as PNG and SVG, and ``summary.md`` with the same tables
in Markdown. Every text taken from a results file (model names, prompts,
answers) is HTML-escaped.

Figures per evaluated split: the confusion matrix as a row-normalised heatmap
with counts (``invalid`` and ``failed`` columns included), per-class recall
ordered by class share with the share drawn beside it (collapse shows at a
glance), the prediction distribution against the label distribution, and
per-group metrics; per multi-split task, UAR fold by fold.

Across runs (a study: several models, frame protocols or prompts on the same task; files or folders of
them, e.g. a grid's output folder): per evaluated split that two or more runs share, the cross-model
table (UAR, WAR, macro-F1 with 95% intervals, invalid rate, visual tokens and seconds per clip, sorted
by UAR), per-class recall of every run side by side (table and one grouped figure, classes by support),
and the paired comparisons of ``harness compare`` between the runs with per-sample logs; per
multi-split task shared by two or more runs, the fold means side by side (:mod:`harness.study`; every
figure also in ``study.json``).
"""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

import numpy as np
from tabulate import tabulate

from harness import results, study
from harness.errors import DataError
from harness.probes.common import pyplot, save


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:80] or "x"


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def _md(text) -> str:
    """``text`` safe in a Markdown table cell or heading: on one line, HTML characters as entities (no
    tag or payload gets through), and the characters Markdown acts on (``|`` ends a cell, ``[`` starts
    a link, ``*``, ``_``, backticks, ``~``) escaped with a backslash, so it renders as the same text."""
    text = " ".join(str(text).split())
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def _md_rows(rows: list[list]) -> list[list[str]]:
    return [[_md(cell) for cell in row] for row in rows]


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}"


def _load(path: Path) -> tuple[str, dict]:
    data = results.read_json(path)
    config = data.get("config") if isinstance(data, dict) else None
    kind = "diagnostics" if isinstance(config, dict) and "probes" in config else "results"
    return kind, results.load(path, kind)


def confusion_figure(task: dict, title: str, stem: str) -> list[str]:
    plt = pyplot()
    matrix = np.array(task["confusion"]["matrix"], dtype=float)
    rows = np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    normalised = matrix / rows
    columns, labels = task["confusion"]["columns"], task["confusion"]["rows"]
    fig, ax = plt.subplots(figsize=(1.0 + 0.62 * len(columns), 0.9 + 0.5 * len(labels)))
    ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(labels)):
        for j in range(len(columns)):
            ax.text(j, i, f"{int(matrix[i, j])}", ha="center", va="center", fontsize=7,
                    color="white" if normalised[i, j] > 0.6 else "black")
    ax.set_xticks(range(len(columns)), columns, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel("predicted (colour: share of the row; numbers: clips)")
    ax.set_ylabel("label")
    ax.set_title(title, fontsize=9)
    return save(fig, stem)


def recall_figure(task: dict, title: str, stem: str) -> list[str]:
    plt = pyplot()
    per = sorted(task["per_class"], key=lambda c: -c["support"])
    total = max(sum(c["support"] for c in per), 1)
    x = np.arange(len(per))
    fig, ax = plt.subplots(figsize=(1.2 + 0.75 * len(per), 3.2))
    ax.bar(x - 0.2, [100 * c["recall"] for c in per], 0.4, label="recall %")
    ax.bar(x + 0.2, [100 * c["support"] / total for c in per], 0.4, label="class share %", color="tab:orange")
    ax.set_xticks(x, [c["class"] for c in per], rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 105)
    ax.legend(fontsize=7)
    ax.set_title(title + ": recall by class, most frequent first", fontsize=9)
    return save(fig, stem)


def distribution_figure(task: dict, title: str, stem: str) -> list[str]:
    plt = pyplot()
    names = list(task["prediction_distribution"])
    n = max(task["counts"]["evaluated"], 1)
    labels = {c["class"]: c["support"] for c in task["per_class"]}
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(1.2 + 0.7 * len(names), 3.2))
    ax.bar(x - 0.2, [100 * labels.get(c, 0) / n for c in names], 0.4, label="labels %", color="tab:gray")
    ax.bar(x + 0.2, [100 * task["prediction_distribution"][c] / n for c in names], 0.4, label="predictions %")
    ax.set_xticks(x, names, rotation=30, ha="right", fontsize=8)
    ax.legend(fontsize=7)
    ax.set_title(title + ": what the model answered against the labels", fontsize=9)
    return save(fig, stem)


def groups_figure(task: dict, title: str, stem: str) -> list[str]:
    plt = pyplot()
    groups = task["groups"]
    x = np.arange(len(groups))
    fig, ax = plt.subplots(figsize=(1.5 + 0.9 * len(groups), 3))
    ax.bar(x - 0.2, [100 * g["uar"] for g in groups.values()], 0.4, label="UAR %")
    ax.bar(x + 0.2, [100 * g["war"] for g in groups.values()], 0.4, label="WAR %")
    ax.set_xticks(x, [f"{k}\n(n={g['n']})" for k, g in groups.items()], fontsize=8)
    ax.set_ylim(0, 105)
    ax.legend(fontsize=7)
    ax.set_title(title + ": by group", fontsize=9)
    return save(fig, stem)


def folds_figure(document: dict, spec: str, aggregate: dict, title: str, stem: str) -> list[str]:
    plt = pyplot()
    values = [100 * document["tasks"][k]["metrics"]["uar"] for k in aggregate["splits"]]
    fig, ax = plt.subplots(figsize=(1.5 + 0.7 * len(values), 3))
    ax.bar(range(len(values)), values)
    ax.axhline(100 * aggregate["uar_mean"], color="black", linestyle="--",
               label=f"mean {100 * aggregate['uar_mean']:.2f} +- {100 * aggregate['uar_std']:.2f}")
    ax.set_xticks(range(len(values)), [k.rsplit("/", 1)[-1] for k in aggregate["splits"]], fontsize=8)
    ax.set_ylabel("UAR %")
    ax.legend(fontsize=7)
    ax.set_title(title + ": UAR fold by fold", fontsize=9)
    return save(fig, stem)


def _table_rows(document: dict) -> list[list[str]]:
    rows = []
    for key, t in document["tasks"].items():
        m = t["metrics"]
        uar = _pct(m["uar"]) + ("*" if m["missing_classes"] else "")
        ci = m["uar_ci95"]
        rows.append([key, document["model"]["name"], t["frame_protocol"]["name"], t["prompt"]["name"],
                     str(t["counts"]["evaluated"]), uar, _pct(m["war"]), _pct(m["macro_f1"]),
                     f"{_pct(ci[0])}-{_pct(ci[1])}" if ci else "-", _pct(m["invalid_rate"]),
                     str(t["counts"]["failed"])])
    for spec, a in document.get("aggregates", {}).items():
        rows.append([f"{spec} (mean of {len(a['splits'])})", document["model"]["name"],
                     a["frame_protocol"]["name"], a["prompt"]["name"], str(a["n"]),
                     f"{_pct(a['uar_mean'])} +- {_pct(a['uar_std'])}", f"{_pct(a['war_mean'])} +- {_pct(a['war_std'])}",
                     _pct(a["macro_f1_mean"]), "-", _pct(a["invalid_rate"]), str(a["failed"])])
    return rows


HEADERS = ["task", "model", "frames", "prompt", "n", "UAR", "WAR", "macro-F1", "UAR 95% CI", "invalid %", "failed"]

STYLE = """body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px;text-align:left}
th{background:#f3f3f3}img{max-width:100%;margin:6px 0}figure{display:inline-block;margin:0 12px 12px 0;vertical-align:top}
h2{border-bottom:1px solid #ddd;padding-bottom:4px}code{background:#f5f5f5;padding:1px 3px}.note{color:#666;font-size:13px}"""


def _html_table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def build(paths: list[str | Path], out: Path, rounds: int = 2000, seed: int = 0) -> Path:
    """Write the report folder ``out`` for ``paths`` (results and diagnostics files, or folders of them);
    return the path of ``index.html``. ``rounds`` and ``seed`` are those of the paired bootstrap
    (:func:`harness.compare.compare_many`) between runs of the same task.

    Figures are drawn with matplotlib's math text off: a model or class named ``$x^2$`` is drawn as
    those characters, and an unbalanced ``$`` cannot stop the report."""
    import matplotlib

    pyplot()
    with matplotlib.rc_context({"text.parse_math": False, "text.usetex": False}):
        return _build(paths, out, rounds, seed)


def _build(paths: list[str | Path], out: Path, rounds: int, seed: int) -> Path:
    out = Path(out)
    files = study.expand(paths)
    documents = [(p, *_load(p)) for p in files]
    (out / "figures").mkdir(parents=True, exist_ok=True)
    (out / "study.json").unlink(missing_ok=True)  # never one left from an earlier report in this folder
    body: list[str] = []
    markdown: list[str] = ["# dfer-harness report", ""]
    runs = [(p, d) for p, kind, d in documents if kind == "results"]
    if runs:
        rows = [r for _, d in runs for r in _table_rows(d)]
        body.append("<h2>Summary</h2>" + _html_table(HEADERS, rows))
        body.append('<p class="note">UAR* : averaged over the classes that have samples in the evaluated subset '
                    'only. Invalid and failed answers count as wrong.</p>')
        markdown += ["## Summary", "", tabulate(_md_rows(rows), headers=HEADERS, tablefmt="github", disable_numparse=True),
                     ""]
        groups, aggregates = study.build(runs, out / "figures", rounds, seed)
        if groups or aggregates:
            _study_section(out, groups, aggregates, body, markdown)
            data = study.to_json(groups, aggregates)
            (out / "study.json").write_bytes(results.json_bytes(out / "study.json", data, indent=1,
                                                                ensure_ascii=False) + b"\n")
    for index, (path, document) in enumerate(runs):
        model = document["model"]["name"]
        body.append(f"<h2>{html.escape(model)} <span class='note'>({html.escape(path.name)}, "
                    f"harness {html.escape(document['harness']['version'])})</span></h2>")
        markdown += [f"## {_md(model)} ({_md(path.name)})", ""]
        identity = json.dumps(document["model"]["identity"], sort_keys=True)
        body.append(f"<p class='note'>model identity: <code>{html.escape(identity)}</code></p>")
        for key, task in document["tasks"].items():
            title = f"{model} on {key}"
            stem = out / "figures" / f"r{index}_{_slug(key)}"
            figures = confusion_figure(task, title, f"{stem}_confusion")
            figures += recall_figure(task, title, f"{stem}_recall")
            figures += distribution_figure(task, title, f"{stem}_predictions")
            if task["groups"]:
                figures += groups_figure(task, title, f"{stem}_groups")
            body.append(f"<h3>{html.escape(key)}</h3>")
            prompt = task["prompt"]
            body.append(f"<p class='note'>frames <code>{html.escape(task['frame_protocol']['name'])}</code>, prompt "
                        f"<code>{html.escape(prompt['name'])}</code>: {html.escape(prompt['rendered'])}</p>")
            per_class = [[c["class"], c["support"], _pct(c["recall"]), _pct(c["precision"]), _pct(c["f1"]),
                          c["predicted"]] for c in task["per_class"]]
            headers = ["class", "support", "recall %", "precision %", "F1 %", "predicted"]
            body.append(_html_table(headers, per_class))
            markdown += [f"### {_md(key)}", "", tabulate(_md_rows(per_class), headers=headers, tablefmt="github",
                                                         disable_numparse=True), ""]
            if task["failures"]:
                body.append(_html_table(["failed sample", "error"],
                                        [[f["id"], f["error"]] for f in task["failures"][:50]]))
            body.extend(_figure(out, p) for p in figures if p.endswith(".png"))
        for spec, aggregate in document.get("aggregates", {}).items():
            stem = out / "figures" / f"r{index}_{_slug(spec)}_folds"
            body.append(f"<h3>{html.escape(spec)}: folds</h3>")
            body.extend(_figure(out, p) for p in folds_figure(document, spec, aggregate, f"{model} on {spec}",
                                                              str(stem)) if p.endswith(".png"))
    for index, (path, kind, document) in enumerate(documents):
        if kind != "diagnostics":
            continue
        body.append(f"<h2>diagnostics: {html.escape(document['model']['name'])} "
                    f"<span class='note'>({html.escape(path.name)})</span></h2>")
        markdown += [f"## diagnostics: {_md(document['model']['name'])}", ""]
        for key, task in document["tasks"].items():
            for name, probe in task["probes"].items():
                body.append(f"<h3>{html.escape(key)}: {html.escape(name)}</h3>")
                body.append(_html_table(["figure", "value"], probe["summary"]))
                markdown += [f"### {_md(key)}: {_md(name)}", "", tabulate(_md_rows(probe["summary"]),
                                                                         headers=["figure", "value"],
                                                                         tablefmt="github", disable_numparse=True), ""]
                for plot in probe["plots"]:
                    source = _inside(path, plot)
                    if plot.endswith(".png") and source.is_file():
                        target = out / "figures" / f"d{index}_{_slug(Path(plot).name)}"
                        shutil.copyfile(source, target)
                        body.append(_figure(out, str(target)))
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>dfer-harness report</title>"
            f"<style>{STYLE}</style></head><body><h1>dfer-harness report</h1>{''.join(body)}</body></html>")
    (out / "index.html").write_text(page, encoding="utf-8")
    (out / "summary.md").write_text("\n".join(markdown) + "\n", encoding="utf-8")
    return out / "index.html"


def _signed(x: float) -> str:
    return f"{100 * x:+.2f}"


def _p(value: float, bound: bool = False) -> str:
    """A p-value as ``harness compare`` prints it: 4 decimals, ``< 1/rounds`` where the bootstrap cannot
    resolve it (never ``0.0000``)."""
    if bound:
        return f"< {value:.2g}"
    return f"{value:.4f}" if value >= 1e-4 or value == 0 else f"{value:.1e}"


def _with_interval(value: float, interval: list[float] | None, star: bool = False) -> str:
    text = _pct(value) + ("*" if star else "")
    return f"{text} ({_pct(interval[0])}, {_pct(interval[1])})" if interval else text


def study_table(group: study.Group) -> tuple[list[str], list[list[str]]]:
    """The cross-model table of one task: headers and rows (best UAR first)."""
    sound = any(r["audio"] != "off" for r in group.rows)
    headers = ["#", "model", "frames", "prompt", "answer format"] + (["audio"] if sound else []) + \
        ["n", "UAR (95% CI)", "WAR (95% CI)", "macro-F1 (95% CI)", "invalid %", "visual tokens/clip", "s/clip",
         "file"]
    rows = []
    for rank, r in enumerate(group.rows, 1):
        seconds = "-" if r["seconds_per_clip"] is None else f"{r['seconds_per_clip']:.4f}"
        tokens = r["visual_tokens_per_clip"]
        rows.append([str(rank), r["model"], r["frames"], r["prompt"], r["answer_format"]]
                    + ([r["audio"]] if sound else [])
                    + [str(r["n"]), _with_interval(r["uar"], r["uar_ci95"], bool(r["missing_classes"])),
                       _with_interval(r["war"], r["war_ci95"]), _with_interval(r["macro_f1"], r["macro_f1_ci95"]),
                       _pct(r["invalid_rate"]), "-" if tokens is None else f"{tokens:.1f}",
                       seconds + ("\u2020" if r["from_response_cache"] else ""), r["file"]])
    return headers, rows


def recall_table(group: study.Group) -> tuple[list[str], list[list[str]]]:
    """Per-class recall (%) of every run, classes by support (most clips first)."""
    headers = ["class", "support", "share %"] + [e.label for e in group.entries]
    rows = [[c["class"], str(c["support"]), _pct(c["share"])] + [_pct(r) for r in c["recall"]]  # None: "-"
            for c in group.classes]
    return headers, rows


PAIR_HEADERS = ["A", "B", "n", "UAR diff (95% CI)", "UAR p", "WAR diff", "only A/B right", "McNemar p",
                "macro-F1 diff (95% CI)"]


def pair_table(comparison: dict) -> tuple[list[str], list[list[str]]]:
    """The paired comparisons of one set of runs, as ``harness compare`` prints them (A minus B, points)."""
    pairs = comparison["pairs"]
    holm = len(pairs) > 1
    rows = []
    for c in pairs:
        u, w, f = c["uar"], c["war"], c["macro_f1"]
        rows.append([c["a_run"], c["b_run"], str(c["n"]),
                     f"{_signed(u['difference'])} ({_signed(u['ci95'][0])}, {_signed(u['ci95'][1])})",
                     _p(u["p"], u["p_bound"]) + (f" ({_p(u['p_holm'], u['p_holm_bound'])})" if holm else ""),
                     _signed(w["difference"]), f"{w['only_a_right']}/{w['only_b_right']}",
                     _p(w["mcnemar_p"]) + (f" ({_p(w['p_holm'])})" if holm else ""),
                     f"{_signed(f['difference'])} ({_signed(f['ci95'][0])}, {_signed(f['ci95'][1])})"])
    headers = [h + (" (Holm)" if holm and h.endswith(" p") else "") for h in PAIR_HEADERS]
    return headers, rows


def aggregate_table(group: study.AggregateGroup) -> tuple[list[str], list[list[str]]]:
    headers = ["#", "model", "frames", "prompt", "n", "UAR mean +- std", "WAR mean +- std", "macro-F1 mean +- std",
               "invalid %", "failed", "file"]
    rows = [[str(rank), r["model"], r["frames"], r["prompt"], str(r["n"]),
             f"{_pct(r['uar_mean'])} +- {_pct(r['uar_std'])}", f"{_pct(r['war_mean'])} +- {_pct(r['war_std'])}",
             f"{_pct(r['macro_f1_mean'])} +- {_pct(r['macro_f1_std'])}", _pct(r["invalid_rate"]), str(r["failed"]),
             r["file"]] for rank, r in enumerate(group.rows, 1)]
    return headers, rows


def _study_section(out: Path, groups: list[study.Group], aggregates: list[study.AggregateGroup],
                   body: list[str], markdown: list[str]) -> None:
    def table(headers: list[str], rows: list[list[str]]) -> None:
        body.append(_html_table(headers, rows))
        markdown.extend([tabulate(_md_rows(rows), headers=[_md(h) for h in headers], tablefmt="github",
                                  disable_numparse=True), ""])

    def note(text: str) -> None:
        body.append(f"<p class='note'>{html.escape(text)}</p>")
        markdown.extend([_md(text), ""])

    body.append("<h2>Across runs</h2>")
    markdown += ["## Across runs", ""]
    note("Per evaluated split that two or more runs share (same task, same clips). Percent; intervals are "
         "each run's own 95% intervals; UAR* averages over the classes with samples only. s/clip: the loop "
         "(decode, model, parse) per clip, the model's load left out; \u2020: some answers came from the "
         "response cache, so the time is not the model's. visual tokens/clip: '-' where the model did not "
         "report them.")
    for group in groups:
        body.append(f"<h3>{html.escape(group.key)} <span class='note'>({group.rows[0]['n']} clips, "
                    f"{len(group.rows)} runs)</span></h3>")
        markdown += [f"### {_md(group.key)} ({group.rows[0]['n']} clips, {len(group.rows)} runs)", ""]
        table(*study_table(group))
        body.append("<h4>Per-class recall</h4>")
        markdown += ["#### Per-class recall (%), classes by support", ""]
        table(*recall_table(group))
        if group.figure:
            body.append(_figure(out, group.figure))
        body.append("<h4>Paired comparisons</h4>")
        markdown += ["#### Paired comparisons", ""]
        for comparison in group.comparisons:
            rounds = comparison["rounds"]
            note(f"Frames {comparison['frames']}: A minus B, in points; {rounds} paired class-stratified bootstrap "
                 f"rounds (UAR, macro-F1; p read off the bootstrap distribution of the difference, centred on the "
                 f"observed difference, not on the null; below 1/{rounds} it is printed as '< {1 / rounds:.2g}'), "
                 f"exact McNemar test (WAR); Holm-adjusted in parentheses over the pairs of this table.")
            table(*pair_table(comparison))
        if not group.comparisons:
            note("No pair of these runs could be compared clip by clip.")
        for item in group.not_paired:
            run = item["run"] if item["file"] in item["run"] else f"{item['run']} ({item['file']})"
            note(f"not paired: {run}: {item['reason']}")
    for aggregate in aggregates:
        body.append(f"<h3>{html.escape(aggregate.spec)}: mean over splits <span class='note'>"
                    f"({len(aggregate.rows)} runs)</span></h3>")
        markdown += [f"### {_md(aggregate.spec)}: mean over splits ({len(aggregate.rows)} runs)", ""]
        table(*aggregate_table(aggregate))


def _inside(document: Path, plot: str) -> Path:
    """The figure a diagnostics file names, which must lie in that file's folder (a relative path, no
    ``..`` or link leading out): a crafted file cannot copy ``../../secret.png`` into a report."""
    folder = document.parent.resolve()
    source = document.parent / plot
    if Path(plot).is_absolute() or "\\" in plot or "\0" in plot or folder not in source.resolve().parents:
        raise DataError(f"{document}: figure {plot!r} lies outside the diagnostics file's folder {folder}; "
                        f"refusing to copy it into the report")
    return source


def _figure(out: Path, path: str) -> str:
    relative = Path(path).relative_to(out).as_posix()
    svg = relative[:-4] + ".svg"
    return (f"<figure><a href='{html.escape(svg)}'><img src='{html.escape(relative)}' "
            f"alt='{html.escape(Path(path).stem)}'></a></figure>")
