"""The leaderboard: one row per model x task x frame protocol x prompt template x task fingerprint.

Every row states what the model was given as ``modality``, one word of :data:`MODALITIES`
(measured rows: from the run's frame protocol; reported rows: as their source says; baselines,
which take no input: null). Rows that differ only in modality never share a key.

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

#: What a row's model was given, the ``modality`` of every row (the schema's enum says the same).
MODALITIES = {
    "video": "video frames only, no sound",
    "video+audio": "video frames and the clip's sound track",
    "features": "pre-extracted features such as audio and visual encoder outputs, not raw frames or sound",
}


def empty_board() -> dict:
    return {"schema_version": 1, "updated_at": None, "rows": []}


def load_board(path: str | Path) -> dict:
    """The board at ``path`` (empty if there is none). Rows of boards written before rows stated their
    modality gain it where it is known: measured rows from their frame protocol's name (``+audio16k``
    is the sound track), baselines null; a reported row keeps none until its file is reported again."""
    board = results.load(path, "leaderboard") if Path(path).exists() else empty_board()
    for row in board["rows"]:
        kind = row.get("kind", "measured")
        if "modality" not in row and kind != "reported":
            row["modality"] = None if kind == "baseline" else (
                "video+audio" if "+audio" in row.get("frame_protocol", "") else "video")
    return board


def modality_of(protocol: dict) -> str:
    """A measured row's modality: ``video+audio`` when its frame protocol sent the sound track
    (``audio_rate``, and ``+audio...`` in its name), else ``video``. A protocol whose name and
    ``audio_rate`` disagree is refused: the name keys the row, so it must say what was sent."""
    audio = protocol.get("audio_rate") is not None
    if audio != ("+audio" in protocol["name"]):
        raise DataError(f"frame protocol {protocol['name']!r} "
                        + (f"has audio_rate {protocol['audio_rate']} but its name lacks '+audio'" if audio else
                           "names audio ('+audio') but has no audio_rate")
                        + ": the name and the record disagree on whether the sound was sent (an edited file?)")
    return "video+audio" if audio else "video"


def _template_label(prompt: dict) -> str:
    """The prompt as a row shows it: the template, then what changes answers besides it (a shuffled
    candidate order, answers constrained while decoding), so such runs never share a row."""
    shuffled = prompt.get("choice_order") == "shuffled"
    constrained = prompt.get("answer_format", "free")
    return prompt["name"] + ("+shuffled" if shuffled else "") + ("" if constrained == "free" else f"+{constrained}")


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
    identity = model["identity"]
    provenance = model.get("provenance") or {}
    backend = identity.get("engine") or identity.get("kind") or model["plugin"].get("name")
    backend_version = (identity.get("server_version") or identity.get("engine_version")
                       or provenance.get("transformers"))
    common = {"kind": "measured", "model": model["name"], "model_identity": identity,
              "created_at": document["created_at"], "run_id": document["run_id"],
              "harness_version": document["harness"]["version"],
              "harness_commit": document["harness"].get("git_revision"),
              "model_revision": identity.get("revision"), "backend": backend, "backend_version": backend_version}
    rows = []

    def row(task: str, version: str, fingerprint: str, protocol: dict, prompt: dict, **values) -> dict:
        template = _template_label(prompt)
        # the protocol's name carries its sound ("+audio16k"): rows differing only in modality never merge;
        # nor do runs under different backend releases (transformers 5.10-5.24 showed Qwen3-VL another prompt)
        key = json.dumps([model["identity"], task, protocol["name"], template, fingerprint]
                         + ([backend_version] if backend_version else []), sort_keys=True)
        return {"key": key, "task": task, "task_version": version, "task_fingerprint": fingerprint,
                "frame_protocol": protocol["name"], "modality": modality_of(protocol), "prompt_template": template,
                **common, **values}

    for spec, task in document["tasks"].items():
        m = task["metrics"]
        reasons = partial_reasons(document, task)
        strategy = (task.get("strategy") or {}).get("name", "default")
        prompt = {**task["prompt"], "name": task["prompt"]["name"] + ("" if strategy == "default" else f"+{strategy}")}
        n = task["counts"]["evaluated"]
        prior = (task.get("training_prior") or {}).get("counts") or {}
        rows.append(row(spec, task["version"], task["fingerprint"], task["frame_protocol"], prompt,
                        uar=m["uar"], war=m["war"], macro_f1=m["macro_f1"], uar_ci95=m["uar_ci95"],
                        war_ci95=m["war_ci95"], n=n,
                        invalid_rate=m["invalid_rate"], failed=task["counts"]["failed"], splits=1,
                        uar_std=None, war_std=None, classes_total=len(task["classes"]),
                        classes_evaluated=len(task["classes"]) - len(m["missing_classes"]),
                        partial=bool(reasons), partial_reasons=reasons,
                        per_class_recall={c["class"]: c["recall"] for c in task["per_class"]},
                        class_support={c["class"]: c["support"] for c in task["per_class"]},
                        confusion=task["confusion"], frames_words=frames_in_words(task["frame_protocol"]),
                        visual_tokens_per_clip=task.get("visual_tokens_per_clip"),
                        seconds_per_clip=round(task["timings"]["wall_s"] / n, 6) if n else None,
                        training_majority=max(prior, key=prior.get) if any(prior.values()) else None))
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


def frames_in_words(protocol: dict) -> str:
    """A frame protocol as a reader would say it: "16 segment middles", "5 fps (at most 32)"."""
    s, k = protocol["strategy"], protocol.get("num_frames")
    text = {"uniform": f"{k} frames spread evenly", "segment": f"middle frames of {k} equal segments",
            "dense": f"{k} consecutive frames", "apex": f"{k} frame(s) at the apex",
            "fps": f"{protocol.get('fps') or 0:g} frames per second" + (f" (at most {k})" if k else ""),
            "all": "every frame" + (f" (at most {k})" if k else "")}.get(s, s)
    if protocol.get("order", "natural") != "natural":
        text += f", {protocol['order']} order"
    if protocol.get("short_side"):
        text += f", short side {protocol['short_side']} px"
    if protocol.get("nominal_fps"):
        text += f", told {protocol['nominal_fps']:g} fps (no time base)"
    return text


def baseline_rows(board: dict) -> list[dict]:
    """Chance and majority-class rows for every task with measured rows, computed from its class
    counts (never typed in). Chance: a uniform guess, in expectation. Majority: always the most
    frequent class of the training data where the results record it, else of the evaluated split."""
    out = []
    seen = set()
    for r in board["rows"]:
        if r.get("kind", "measured") != "measured" or not r.get("class_support"):
            continue
        key = (r["task"], r.get("task_fingerprint"))
        if key in seen:
            continue
        seen.add(key)
        support = {c: n for c, n in r["class_support"].items()}
        n = sum(support.values())
        present = [c for c, v in support.items() if v > 0]
        k = len(support)
        share = {c: support[c] / n for c in support} if n else {c: 0.0 for c in support}
        chance_f1 = sum(2 * share[c] * (1 / k) / (share[c] + 1 / k) for c in present) / len(present) if present else 0.0
        common = {"kind": "baseline", "task": r["task"], "task_fingerprint": r.get("task_fingerprint"),
                  "frame_protocol": "-", "modality": None, "prompt_template": "-", "n": n, "splits": r.get("splits", 1),
                  "classes_total": r.get("classes_total"), "classes_evaluated": len(present)}
        out.append({**common, "key": json.dumps(["baseline", "chance", r["task"], r.get("task_fingerprint")]),
                    "model": "chance (uniform guess)", "uar": 1 / k if k else 0.0, "war": 1 / k if k else 0.0,
                    "macro_f1": chance_f1, "basis": f"expected score of a uniform guess over {k} classes"})
        majority = r.get("training_majority") if r.get("training_majority") in support else None
        basis = "the training split's most frequent class"
        if majority is None:
            majority, basis = max(support, key=support.get), "the evaluated split's most frequent class (an oracle)"
        s = share.get(majority, 0.0)
        out.append({**common, "key": json.dumps(["baseline", "majority", r["task"], r.get("task_fingerprint")]),
                    "model": f"majority class ({majority})", "uar": (1 / len(present)) if majority in present else 0.0,
                    "war": s, "macro_f1": (2 * s / (1 + s)) / len(present) if present else 0.0, "basis": basis})
    return out


def add_reported(board_path: str | Path, path: str | Path) -> tuple[dict, int]:
    """Merge reported rows (numbers from papers or model cards, YAML or JSON) into the board."""
    import yaml

    try:
        text = Path(path).read_text(encoding="utf-8")
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, not a YAML or JSON file") from None
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); expected YAML or JSON") from None
    try:
        data = yaml.safe_load(text) if str(path).endswith((".yaml", ".yml")) else json.loads(text)
    except (ValueError, yaml.YAMLError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: not valid YAML/JSON: {first}") from None
    board_schema = results.schema("leaderboard")
    validator = results.validator_for({"$schema": board_schema["$schema"], "$defs": board_schema["$defs"],
                                       "$ref": "#/$defs/reported_file"})
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        raise DataError(_reported_error(path, data, errors[0]))
    rows, legacy = [], set()
    for entry in data["reported"]:
        # the modality is part of the key: a source's figures with and without sound are two rows
        rows.append({"kind": "reported", "key": json.dumps(["reported", entry["model"], entry["task"],
                                                            entry["source"], entry["modality"]]),
                     "model": entry["model"], "task": entry["task"], "uar": entry["uar"] / 100,
                     "war": entry["war"] / 100,
                     "macro_f1": entry["macro_f1"] / 100 if entry.get("macro_f1") is not None else None,
                     "n": entry.get("n"), "frame_protocol": entry["input"], "prompt_template": "-",
                     **{k: entry[k] for k in ("source", "protocol", "input", "modality", "answer_mapping", "status")},
                     "notes": entry.get("notes", "")})
        legacy.add(json.dumps(["reported", entry["model"], entry["task"], entry["source"]]))
    with locked(board_path):
        board = load_board(board_path)
        # rows of this file added before reported rows stated a modality (keyed without it) are replaced
        by_key = {r["key"]: r for r in board["rows"] if r["key"] not in legacy}
        for row in rows:
            by_key[row["key"]] = row
        board["rows"] = sorted(by_key.values(), key=_rank_key)
        board["updated_at"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        results.write_json(board_path, board, "leaderboard")
    return board, len(rows)


def _reported_error(path, data, error) -> str:
    """A schema error of a reported file: the file, the row (its place, model and task) and, for the
    modality, the fix."""
    where = list(error.absolute_path)
    row = ""
    if len(where) >= 2 and where[0] == "reported" and isinstance(where[1], int):
        entry = data["reported"][where[1]]
        if isinstance(entry, dict):
            row = f" (row {where[1] + 1}: {entry.get('model', '?')} on {entry.get('task', '?')})"
    text = f"{path}: {error.json_path}{row}: {error.message}"
    if where[2:3] == ["modality"] or (error.validator == "required" and "'modality'" in error.message):
        words = "; ".join(f"{k} ({v})" for k, v in MODALITIES.items())
        text += (f". Give the row `modality:` as its source states the model's input, one of: {words}; "
                 f"keep the words in `input`")
    return text


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


def add(board_path: str | Path, result_paths: list[str | Path], allow_partial: bool = False,
        notes: list[str] | None = None) -> tuple[dict, int]:
    """Merge results files into the board. Every file is validated first (schema, figures recomputed
    from its confusion matrix, dates): one bad file, or a partial run without ``allow_partial``,
    leaves the board untouched (DataError says why). A row that is not added because the board
    holds a newer run of it is named in ``notes`` (when given), never dropped silently."""
    documents = [(p, results.load(p, "results")) for p in result_paths]
    new_rows = []
    for path, document in documents:
        if document.get("aborted"):
            raise DataError(f"{path}: this run was aborted ({document['aborted']['reason'].splitlines()[0]}); "
                            f"it is no leaderboard result. Rerun the same command: its answers are cached")
        try:
            document_rows = rows_from_results(document)
        except DataError as exc:
            raise DataError(f"{path}: {exc}") from None
        for row in document_rows:
            if row["partial"] and not allow_partial:
                raise DataError(f"{path}: {row['task']} is a partial run ({'; '.join(row['partial_reasons'])}); "
                                f"a leaderboard row must cover the whole split. Merge the shards first "
                                f"(harness merge), rerun without --limit, or pass --allow-partial to add it "
                                f"as a marked partial row")
            new_rows.append((path, row))
    notes = notes if notes is not None else []
    with locked(board_path):
        board = load_board(board_path)
        by_key = {row["key"]: row for row in board["rows"]}
        complete = {_slot(r) for r in board["rows"] if not r.get("partial") and r.get("kind", "measured") == "measured"}
        added = 0
        for path, row in new_rows:
            if row["partial"] and _slot(row) in complete:
                notes.append(f"{path}: {row['model']} on {row['task']} is partial and the board holds a complete "
                             f"row of it: not added")
                continue  # a partial run never replaces a complete one
            old = by_key.get(row["key"])
            if old is None or _when(row) >= _when(old):
                by_key[row["key"]] = row
                added += 1
            else:
                notes.append(f"{path}: {row['model']} on {row['task']} ({row['created_at']}) is older than the "
                             f"board's row of it (run {old.get('run_id')}, {old.get('created_at')}): kept the newer")
        board["rows"] = [r for r in by_key.values() if r.get("kind") != "baseline"]
        board["rows"] = sorted(board["rows"] + baseline_rows(board), key=_rank_key)
        board["updated_at"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        results.write_json(board_path, board, "leaderboard")
    return board, added


_OLDEST = _dt.datetime.min.replace(tzinfo=_dt.timezone.utc)


def _when(row: dict) -> _dt.datetime:
    """When a row's run was made, as a date (not a string: "zzzz" sorts after every year). A row of an
    older board whose date does not parse counts as the oldest, so any genuine run replaces it."""
    try:
        return results.parse_time(row.get("created_at"))
    except DataError:
        return _OLDEST


def _slot(row: dict) -> str:
    """Model x task x protocol x template: where a partial row would compete with a complete one."""
    return json.dumps([row.get("model_identity"), row["task"], row.get("frame_protocol"),
                       row.get("prompt_template")], sort_keys=True)


def _rank_key(row: dict):
    return (row["task"], -row["uar"], -row["war"], -(row.get("macro_f1") or 0.0), row["model"])


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
        ci = r.get("uar_ci95")
        spread = (f"{_pct(ci[0])}-{_pct(ci[1])}" if ci else
                  f"+-{_pct(r['uar_std'])} over {r['splits']}" if r.get("uar_std") is not None else "-")
        uar = _pct(r["uar"])
        if r.get("classes_evaluated") is not None and r["classes_evaluated"] < r["classes_total"]:
            uar += f"* ({r['classes_evaluated']}/{r['classes_total']} classes)"
        model = r["model"] + (" (partial)" if r.get("partial") else "")
        if r.get("backend_version"):  # which release produced it (one may change what a family sees)
            model += f" ({r.get('backend') or 'backend'} {r['backend_version']})"
        kind = r.get("kind", "measured")
        if kind != "measured":
            model += f" [{kind}]"
        out.append([r["task"], rank, model, r.get("frame_protocol", "-"), r.get("prompt_template", "-"),
                    uar, _pct(r["war"]), "-" if r.get("macro_f1") is None else _pct(r["macro_f1"]), spread,
                    "-" if r.get("n") is None else r["n"],
                    _pct(r["invalid_rate"]) if r.get("invalid_rate") is not None else "-"])
    headers = ["task", "#", "model", "frames", "prompt", "UAR", "WAR", "macro-F1", "UAR 95% CI / std",
               "n", "invalid %"]
    return tabulate(out, headers=headers, tablefmt=fmt, disable_numparse=True)
