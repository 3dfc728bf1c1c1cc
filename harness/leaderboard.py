"""The leaderboard: one row per model x task x frame protocol x prompt template.

Rows come only from results files that pass the schema; a newer run
replaces an older row with the same key; the board itself is validated
before it is written, atomically.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

from tabulate import tabulate

from harness import results


def empty_board() -> dict:
    return {"schema_version": 1, "updated_at": None, "rows": []}


def load_board(path: str | Path) -> dict:
    return results.load(path, "leaderboard") if Path(path).exists() else empty_board()


def _template_label(prompt: dict) -> str:
    shuffled = prompt.get("choice_order") == "shuffled"
    return prompt["name"] + ("+shuffled" if shuffled else "")


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
        key = json.dumps([model["identity"], task, protocol["name"], template], sort_keys=True)
        return {"key": key, "task": task, "task_version": version, "task_fingerprint": fingerprint,
                "frame_protocol": protocol["name"], "prompt_template": template, **common, **values}

    for spec, task in document["tasks"].items():
        m = task["metrics"]
        rows.append(row(spec, task["version"], task["fingerprint"], task["frame_protocol"], task["prompt"],
                        uar=m["uar"], war=m["war"], macro_f1=m["macro_f1"], uar_ci95=m["uar_ci95"],
                        war_ci95=m["war_ci95"], n=task["counts"]["evaluated"],
                        invalid_rate=m["invalid_rate"], failed=task["counts"]["failed"], splits=1,
                        uar_std=None, war_std=None))
    for spec, agg in document.get("aggregates", {}).items():
        rows.append(row(spec, agg["version"], agg["fingerprint"], agg["frame_protocol"], agg["prompt"],
                        uar=agg["uar_mean"], war=agg["war_mean"], macro_f1=agg["macro_f1_mean"],
                        uar_ci95=None, war_ci95=None, n=agg["n"], invalid_rate=agg["invalid_rate"],
                        failed=agg["failed"], splits=len(agg["splits"]), uar_std=agg["uar_std"],
                        war_std=agg["war_std"]))
    return rows


def add(board_path: str | Path, result_paths: list[str | Path]) -> tuple[dict, int]:
    """Merge results files into the board. Every file is validated first: one bad file
    leaves the board untouched (DataError names the file and field)."""
    documents = [results.load(p, "results") for p in result_paths]
    board = load_board(board_path)
    by_key = {row["key"]: row for row in board["rows"]}
    added = 0
    for document in documents:
        for row in rows_from_results(document):
            old = by_key.get(row["key"])
            if old is None or row["created_at"] >= old["created_at"]:
                by_key[row["key"]] = row
                added += 1
    board["rows"] = sorted(by_key.values(), key=_rank_key)
    board["updated_at"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    results.write_json(board_path, board, "leaderboard")
    return board, added


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
        out.append([r["task"], rank, r["model"], r["frame_protocol"], r["prompt_template"],
                    _pct(r["uar"]), _pct(r["war"]), _pct(r["macro_f1"]), spread, r["n"],
                    _pct(r["invalid_rate"])])
    headers = ["task", "#", "model", "frames", "prompt", "UAR", "WAR", "macro-F1", "UAR 95% CI / std",
               "n", "invalid %"]
    return tabulate(out, headers=headers, tablefmt=fmt, disable_numparse=True)
