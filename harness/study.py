"""A study across runs: what ``harness report`` adds when its files hold several runs of one task.

A study is many results files (models x tasks x frame protocols x prompts, e.g. a grid's output
folder). For every evaluated split that two or more runs share (the same task key and the same clips,
by the task fingerprint) this module gathers:

- the **cross-model table**: one row per run, UAR, WAR and macro-F1 with their 95% intervals, the
  invalid rate, visual tokens per clip (where the model reported them) and seconds per clip of the
  loop, sorted by UAR;
- the **per-class recall** of every run side by side, classes ordered by support (the long tail);
- the **paired comparisons** of :mod:`harness.compare` between the runs that have per-sample logs
  and were made on the same clips with the same frames (the sound may differ), Holm-adjusted within
  each such set; a run without a log, or alone in its set, is named with the reason;
- per multi-split task (DFEW's five folds) shared by two or more runs, the fold means side by side.

Only numbers from the results documents and their logs are used; nothing is recomputed here that
:mod:`harness.compare` computes. Everything is ordered deterministically (UAR, then model, then
file), so the same files give the same report.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness import compare, samplelog
from harness.errors import DataError, UsageError
from harness.probes.common import pyplot, save

#: The files a folder given to ``harness report`` stands for (its top level only).
FOLDER_PATTERNS = ("results_*.json", "diagnostics_*.json")


def expand(paths: list[str | Path]) -> list[Path]:
    """Each folder replaced by its ``results_*.json`` and ``diagnostics_*.json`` files (sorted by name);
    a file named twice (or also found in a named folder) counts once, where it first appears. DataError
    for a folder that holds none."""
    out: list[Path] = []
    seen: set[Path] = set()
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = sorted({f for pattern in FOLDER_PATTERNS for f in path.glob(pattern) if f.is_file()},
                           key=lambda f: f.name)
            if not found:
                raise DataError(f"{path}: a folder with no results_*.json or diagnostics_*.json in it")
        else:
            found = [path]
        for f in found:
            resolved = f.resolve()
            if resolved not in seen:
                seen.add(resolved)
                out.append(f)
    return out


@dataclass
class Entry:
    """One evaluated split of one results file."""

    path: Path
    document: dict
    key: str
    task: dict
    label: str = ""

    @property
    def metrics(self) -> dict:
        return self.task["metrics"]


@dataclass
class Group:
    """The runs of one evaluated split (same task key, same clips) found in two or more results files."""

    key: str
    fingerprint: str
    entries: list[Entry]
    rows: list[dict] = field(default_factory=list)
    classes: list[dict] = field(default_factory=list)
    comparisons: list[dict] = field(default_factory=list)
    not_paired: list[dict] = field(default_factory=list)
    figure: str = ""


@dataclass
class AggregateGroup:
    """A multi-split task (its fold mean) found in two or more results files."""

    spec: str
    fingerprint: str
    rows: list[dict]


def model_of(document: dict) -> str:
    """The model as a reader knows it: the identity's id (``Qwen/Qwen2.5-VL-7B-Instruct``), with the
    plugin's name after it where the two differ (``... (hf)``)."""
    name, identity = document["model"]["name"], str(document["model"]["identity"].get("id", ""))
    return name if not identity or identity == name else f"{identity} ({name})"


def answer_format_of(task: dict, document: dict) -> str:
    return task["prompt"].get("answer_format") or document["config"].get("answer_format") or "free"


def audio_of(task: dict) -> str:
    rate = task["frame_protocol"].get("audio_rate")
    return f"on ({rate} Hz)" if rate else "off"


def seconds_per_clip(task: dict) -> float | None:
    """Seconds of the loop (decode, model, parse; the model's load left out) per evaluated clip."""
    n, t = task["counts"]["evaluated"], task["timings"]
    loop = t.get("loop_s")
    if loop is None:
        loop = max(0.0, t["wall_s"] - t.get("model_load_s", 0.0))
    return loop / n if n else None


def natural(text: str) -> list:
    """A sort key that puts ``fold2`` before ``fold10`` and ``n=20`` before ``n=100``."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text) if part]


def _labels(entries: list[Entry]) -> None:
    """A short, unique label per run: the model, then whichever of frames, prompt, answer format and
    sound differ among the runs, then the file name where two would still read the same."""
    facets = [lambda e: e.task["frame_protocol"]["name"], lambda e: e.task["prompt"]["name"],
              lambda e: answer_format_of(e.task, e.document),
              lambda e: "with sound" if e.task["frame_protocol"].get("audio_rate") else "no sound"]
    varying = [f for f in facets if len({f(e) for e in entries}) > 1]
    for e in entries:
        e.label = ", ".join([model_of(e.document)] + [f(e) for f in varying])
    counts: dict[str, int] = {}
    for e in entries:
        counts[e.label] = counts.get(e.label, 0) + 1
    for e in entries:
        if counts[e.label] > 1:
            e.label = f"{e.label} ({e.path.name})"


def _row(e: Entry) -> dict[str, Any]:
    m, t = e.metrics, e.task
    timings = t["timings"]
    return {"run": e.label, "model": model_of(e.document), "file": e.path.name,
            "frames": t["frame_protocol"]["name"], "prompt": t["prompt"]["name"],
            "answer_format": answer_format_of(t, e.document), "audio": audio_of(t),
            "n": t["counts"]["evaluated"],
            "uar": m["uar"], "uar_ci95": m.get("uar_ci95"), "war": m["war"], "war_ci95": m.get("war_ci95"),
            "macro_f1": m["macro_f1"], "macro_f1_ci95": m.get("macro_f1_ci95"),
            "missing_classes": list(m["missing_classes"]), "invalid_rate": m["invalid_rate"],
            "failed": t["counts"]["failed"], "visual_tokens_per_clip": t.get("visual_tokens_per_clip"),
            "seconds_per_clip": seconds_per_clip(t),
            "from_response_cache": int(timings.get("from_response_cache") or 0),
            "has_log": bool(t.get("samples_file"))}


def _order(e: Entry) -> tuple:
    return (-e.metrics["uar"], -e.metrics["war"], model_of(e.document), e.path.name, e.key)


def _classes(entries: list[Entry]) -> list[dict]:
    """Each class (most clips first, ties in the task's order) with its support and every run's recall."""
    first = entries[0].task
    order = sorted(range(len(first["per_class"])), key=lambda i: (-first["per_class"][i]["support"], i))
    total = max(first["counts"]["evaluated"], 1)
    recalls = [{c["class"]: c["recall"] for c in e.task["per_class"]} for e in entries]
    return [{"class": first["per_class"][i]["class"], "support": first["per_class"][i]["support"],
             "share": first["per_class"][i]["support"] / total,
             "recall": [r.get(first["per_class"][i]["class"]) for r in recalls]} for i in order]


def _log_problem(e: Entry) -> str | None:
    name = e.task.get("samples_file")
    if not name:
        return "no per-sample log (run it with --log-samples to pair it)"
    if not (e.path.parent / name).is_file():
        return f"its per-sample log {name} is not beside the results file"
    return None


def _pair(group: Group, rounds: int, seed: int) -> None:
    """The paired comparisons of :func:`harness.compare.compare_many` within each set of runs that
    compare would accept (same clips, same frames, same classes); the others are named with the reason."""
    sets: dict[tuple, list[Entry]] = {}
    for e in group.entries:
        problem = _log_problem(e)
        if problem:
            group.not_paired.append({"run": e.label, "file": e.path.name, "reason": problem})
            continue
        frames = compare.pictures(e.task["frame_protocol"]["name"])
        sets.setdefault((frames, tuple(e.task["classes"])), []).append(e)
    for (frames, _), members in sets.items():
        if len(members) < 2:
            e = members[0]
            group.not_paired.append({"run": e.label, "file": e.path.name,
                                     "reason": f"no other run with a per-sample log on these clips with frames "
                                               f"{frames} (a paired comparison needs the same frames)"})
            continue
        runs = [compare.Run(e.path, e.document, e.key, e.task, samplelog.samples_of(e.path, e.task, e.key))
                for e in members]
        try:
            pairs = compare.compare_many(runs, rounds, seed)
        except UsageError as exc:  # e.g. logs that hold other sample ids: noted, the report goes on
            for e in members:
                group.not_paired.append({"run": e.label, "file": e.path.name, "reason": str(exc)})
            continue
        for pair, (a, b) in zip(pairs, itertools.combinations(members, 2)):
            pair["a_run"], pair["b_run"] = a.label, b.label
        group.comparisons.append({"frames": frames, "runs": [e.label for e in members],
                                  "files": [e.path.name for e in members], "rounds": rounds,
                                  "seed": seed, "pairs": pairs})


def recall_figure(group: Group, stem: str) -> list[str]:
    """Grouped bars: classes on the x axis by support (most frequent first), one series per run."""
    plt = pyplot()
    k, runs = len(group.classes), len(group.entries)
    width = 0.8 / runs
    x = np.arange(k)
    fig, ax = plt.subplots(figsize=(min(40.0, 2.0 + k * (0.3 * runs + 0.5)), 3.6))
    colours = plt.get_cmap("tab10" if runs <= 10 else "tab20")
    for j, e in enumerate(group.entries):
        ax.bar(x - 0.4 + width * (j + 0.5), [100 * (c["recall"][j] or 0.0) for c in group.classes], width,
               label=e.label,
               color=colours(j % colours.N))
    ax.plot(x, [100 * c["share"] for c in group.classes], color="black", marker="_", markersize=14,
            linestyle=":", linewidth=0.8, label="class share %")
    ax.set_xticks(x, [f"{c['class']}\nn={c['support']}" for c in group.classes], fontsize=8)
    ax.set_ylim(0, 105)
    ax.set_ylabel("recall %")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(f"{group.key}: recall by class, most frequent first (n = clips of the class)", fontsize=9)
    return save(fig, stem)


def build(runs: list[tuple[Path, dict]], figures: Path | None = None, rounds: int = 2000,
          seed: int = 0) -> tuple[list[Group], list[AggregateGroup]]:
    """The study of the results documents ``runs`` ((path, document), in the order given): the groups of
    evaluated splits that two or more of them share, and the multi-split tasks likewise. With
    ``figures`` (a folder), each group's per-class recall figure is drawn there."""
    found: dict[tuple[str, str], list[Entry]] = {}
    for path, document in runs:
        for key, task in document["tasks"].items():
            found.setdefault((key, task["fingerprint"]), []).append(Entry(path, document, key, task))
    keys_with = {}
    for key, fingerprint in found:
        keys_with.setdefault(key, []).append(fingerprint)
    groups = []
    for (key, fingerprint), entries in sorted(found.items(), key=lambda item: (natural(item[0][0]), item[0][1])):
        if len(entries) < 2:
            continue
        entries.sort(key=_order)
        _labels(entries)
        group = Group(key, fingerprint, entries)
        group.rows = [_row(e) for e in entries]
        group.classes = _classes(entries)
        if len(keys_with[key]) > 1:
            group.key = f"{key} (clips {fingerprint[:8]})"  # the same task on other clips (e.g. --limit)
        _pair(group, rounds, seed)
        groups.append(group)
    if figures is not None:
        for index, group in enumerate(groups):
            stem = figures / f"study{index}_{_slug(group.key)}_recall"
            group.figure = next(p for p in recall_figure(group, str(stem)) if p.endswith(".png"))
    return groups, _aggregates(runs)


def _aggregates(runs: list[tuple[Path, dict]]) -> list[AggregateGroup]:
    found: dict[tuple[str, str], list[tuple[Path, dict, dict]]] = {}
    for path, document in runs:
        for spec, aggregate in document.get("aggregates", {}).items():
            found.setdefault((spec, aggregate["fingerprint"]), []).append((path, document, aggregate))
    out = []
    for (spec, fingerprint), members in sorted(found.items(), key=lambda item: (natural(item[0][0]), item[0][1])):
        if len(members) < 2:
            continue
        members.sort(key=lambda m: (-m[2]["uar_mean"], -m[2]["war_mean"], model_of(m[1]), m[0].name))
        rows = [{"model": model_of(d), "file": p.name, "frames": a["frame_protocol"]["name"],
                 "prompt": a["prompt"]["name"], "splits": len(a["splits"]), "n": a["n"],
                 "uar_mean": a["uar_mean"], "uar_std": a["uar_std"], "war_mean": a["war_mean"],
                 "war_std": a["war_std"], "macro_f1_mean": a["macro_f1_mean"],
                 "macro_f1_std": a["macro_f1_std"], "invalid_rate": a["invalid_rate"], "failed": a["failed"]}
                for p, d, a in members]
        out.append(AggregateGroup(spec, fingerprint, rows))
    return out


def to_json(groups: list[Group], aggregates: list[AggregateGroup]) -> dict:
    """Every figure of the study as plain data (``study.json`` in the report folder): the per-clip
    disagreements of each pair are counted, not listed (``harness compare --csv`` lists them)."""
    tasks = []
    for g in groups:
        comparisons = [{**c, "pairs": [{**{k: v for k, v in p.items() if k != "disagreements"},
                                        "disagreements": len(p["disagreements"])} for p in c["pairs"]]}
                       for c in g.comparisons]
        tasks.append({"task": g.key, "fingerprint": g.fingerprint, "runs": g.rows, "per_class": g.classes,
                      "comparisons": comparisons, "not_paired": g.not_paired,
                      "figure": f"figures/{Path(g.figure).name}" if g.figure else None})
    return {"tasks": tasks, "aggregates": [{"task": a.spec, "fingerprint": a.fingerprint, "runs": a.rows}
                                           for a in aggregates]}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:80] or "x"
