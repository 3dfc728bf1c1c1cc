"""The leaderboard: one row per model x task x frame protocol x prompt template x task fingerprint.

Rows come only from results files that pass the schema; a newer run
replaces an older row with the same key; the board itself is validated
before it is written, atomically, under a file lock (two publishers never
lose each other's rows). Partial runs (``--limit``, one shard, too many
failed samples) are refused unless explicitly allowed, and never replace a
complete row.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import json
import os
from pathlib import Path

from tabulate import tabulate

from harness import results
from harness.errors import DataError

#: A run whose failed samples exceed this share is partial (failed clips count as wrong, but a
#: board row should not rest on a broken copy of the data).
MAX_FAILED_SHARE = 0.01


def empty_board() -> dict:
    return {"schema_version": 1, "updated_at": None, "rows": []}


def load_board(path: str | Path) -> dict:
    return results.load(path, "leaderboard") if Path(path).exists() else empty_board()


def _template_label(prompt: dict) -> str:
    shuffled = prompt.get("choice_order") == "shuffled"
    return prompt["name"] + ("+shuffled" if shuffled else "")


def partial_reasons(document: dict, task: dict) -> list[str]:
    """Why a task result is not a complete evaluation of its split (empty: complete)."""
    config, reasons = document["config"], []
    if config.get("limit"):
        reasons.append(f"--limit {config['limit']}")
    if config.get("shard"):
        reasons.append(f"shard {config['shard']}")
    evaluated, failed = task["counts"]["evaluated"], task["counts"]["failed"]
    if evaluated and failed / evaluated > MAX_FAILED_SHARE:
        reasons.append(f"{failed} of {evaluated} samples failed")
    return reasons


def rows_from_results(document: dict) -> list[dict]:
    """Leaderboard rows of one (already validated) results document: one per evaluated
    split, and one per multi-split task (e.g. DFEW's 5-fold mean)."""
    model = document["model"]
    common = {"model": model["name"], "model_identity": model["identity"],
              "created_at": document["created_at"], "run_id": document["run_id"],
              "harness_version": document["harness"]["version"]}
    rows = []

    def row(task: str, version: str, fingerprint: str, protocol: dict, prompt: dict, **values) -> dict:
        template = _template_label(prompt)
        key = json.dumps([model["identity"], task, protocol["name"], template, fingerprint], sort_keys=True)
        return {"key": key, "task": task, "task_version": version, "task_fingerprint": fingerprint,
                "frame_protocol": protocol["name"], "prompt_template": template, **common, **values}

    for spec, task in document["tasks"].items():
        m = task["metrics"]
        reasons = partial_reasons(document, task)
        strategy = (task.get("strategy") or {}).get("name", "default")
        prompt = {**task["prompt"], "name": task["prompt"]["name"] + ("" if strategy == "default" else f"+{strategy}")}
        rows.append(row(spec, task["version"], task["fingerprint"], task["frame_protocol"], prompt,
                        uar=m["uar"], war=m["war"], macro_f1=m["macro_f1"], uar_ci95=m["uar_ci95"],
                        war_ci95=m["war_ci95"], n=task["counts"]["evaluated"],
                        invalid_rate=m["invalid_rate"], failed=task["counts"]["failed"], splits=1,
                        uar_std=None, war_std=None, classes_total=len(task["classes"]),
                        classes_evaluated=len(task["classes"]) - len(m["missing_classes"]),
                        partial=bool(reasons), partial_reasons=reasons))
    for spec, agg in document.get("aggregates", {}).items():
        parts = [document["tasks"][k] for k in agg["splits"]]
        reasons = sorted({r for t in parts for r in partial_reasons(document, t)})
        classes = len(parts[0]["classes"])
        rows.append(row(spec, agg["version"], agg["fingerprint"], agg["frame_protocol"], agg["prompt"],
                        uar=agg["uar_mean"], war=agg["war_mean"], macro_f1=agg["macro_f1_mean"],
                        uar_ci95=None, war_ci95=None, n=agg["n"], invalid_rate=agg["invalid_rate"],
                        failed=agg["failed"], splits=len(agg["splits"]), uar_std=agg["uar_std"],
                        war_std=agg["war_std"], classes_total=classes,
                        classes_evaluated=min(classes - len(t["metrics"]["missing_classes"]) for t in parts),
                        partial=bool(reasons), partial_reasons=reasons))
    return rows


@contextlib.contextmanager
def locked(board_path: str | Path):
    """An exclusive lock on the board for a whole read-modify-write (a ``.lock`` file beside it)."""
    lock_path = Path(f"{board_path}.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def add(board_path: str | Path, result_paths: list[str | Path], allow_partial: bool = False) -> tuple[dict, int]:
    """Merge results files into the board. Every file is validated first: one bad file, or a
    partial run without ``allow_partial``, leaves the board untouched (DataError says why)."""
    documents = [(p, results.load(p, "results")) for p in result_paths]
    new_rows = []
    for path, document in documents:
        for row in rows_from_results(document):
            if row["partial"] and not allow_partial:
                raise DataError(f"{path}: {row['task']} is a partial run ({'; '.join(row['partial_reasons'])}); "
                                f"a leaderboard row must cover the whole split. Merge the shards first "
                                f"(harness merge), rerun without --limit, or pass --allow-partial to add it "
                                f"as a marked partial row")
            new_rows.append(row)
    with locked(board_path):
        board = load_board(board_path)
        by_key = {row["key"]: row for row in board["rows"]}
        complete = {_slot(r) for r in board["rows"] if not r.get("partial")}
        added = 0
        for row in new_rows:
            if row["partial"] and _slot(row) in complete:
                continue  # a partial run never replaces a complete one
            old = by_key.get(row["key"])
            if old is None or row["created_at"] >= old["created_at"]:
                by_key[row["key"]] = row
                added += 1
        board["rows"] = sorted(by_key.values(), key=_rank_key)
        board["updated_at"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        results.write_json(board_path, board, "leaderboard")
    return board, added


def _slot(row: dict) -> str:
    """Model x task x protocol x template: where a partial row would compete with a complete one."""
    return json.dumps([row["model_identity"], row["task"], row["frame_protocol"], row["prompt_template"]],
                      sort_keys=True)


def _rank_key(row: dict):
    return (row["task"], -row["uar"], -row["war"], -row["macro_f1"], row["model"])


def _pct(x: float) -> str:
    return f"{100 * x:.2f}"


def table(board: dict, task: str | None = None, fmt: str = "simple") -> str:
    """The ranked table: per task, by UAR, then WAR, then macro-F1."""
    rows = [r for r in sorted(board["rows"], key=_rank_key) if task is None or r["task"] == task]
    out, rank, current = [], 0, None
    for r in rows:
        if r["task"] != current:
            current, rank = r["task"], 0
        rank += 1
        ci = r["uar_ci95"]
        spread = (f"{_pct(ci[0])}-{_pct(ci[1])}" if ci else
                  f"+-{_pct(r['uar_std'])} over {r['splits']}" if r.get("uar_std") is not None else "-")
        uar = _pct(r["uar"])
        if r.get("classes_evaluated") is not None and r["classes_evaluated"] < r["classes_total"]:
            uar += f"* ({r['classes_evaluated']}/{r['classes_total']} classes)"
        model = r["model"] + (" (partial)" if r.get("partial") else "")
        out.append([r["task"], rank, model, r["frame_protocol"], r["prompt_template"],
                    uar, _pct(r["war"]), _pct(r["macro_f1"]), spread, r["n"],
                    _pct(r["invalid_rate"])])
    headers = ["task", "#", "model", "frames", "prompt", "UAR", "WAR", "macro-F1", "UAR 95% CI / std",
               "n", "invalid %"]
    return tabulate(out, headers=headers, tablefmt=fmt, disable_numparse=True)
