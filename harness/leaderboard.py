"""The leaderboard: one row per model x task x frame protocol x prompt template x task fingerprint.

Every row states what the model was given as ``modality``, one word of :data:`MODALITIES`
(measured rows: from the run's frame protocol; reported rows: as their source says; baselines,
which take no input: null). Rows that differ only in modality never share a key. Every row states
what its model was trained on relative to the row's benchmark as ``trained_on``, one word of
:data:`EXPOSURES` with the source's words in ``trained_on_words`` (measured rows: the model's
identity, default ``not-stated``; reported rows: required; baselines: null).

The floors of the real benchmarks come from their published per-class counts (:mod:`harness.floors`)
wherever the board has no results file of the task to count them from; a task with neither is
named in the board's ``floors_missing``. The tracked board is built (:func:`build`), not edited.

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

from harness import floors, results
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


#: What a row's model was trained on relative to the row's benchmark, the ``trained_on`` of every
#: model row (the schema's enum says the same); baselines, which are no model, have null.
EXPOSURES = {
    "zero-shot": "no training on this benchmark",
    "train-split": "trained on this benchmark's train split",
    "overlap": "trained on data that overlaps this benchmark (e.g. clips it reuses)",
    "not-stated": "the source does not say what the model was trained on",
}
#: Exposures that make a row's score no zero-shot figure: marked wherever the row is ranked.
TRAINED = ("train-split", "overlap")


def exposure_mark(row: dict) -> str:
    """How a ranked row is marked when its model saw the benchmark ('' when it did not)."""
    return {"train-split": "trained on it", "overlap": "trained on overlapping data"}.get(row.get("trained_on"), "")


def empty_board() -> dict:
    return {"schema_version": 1, "updated_at": None, "rows": []}


def load_board(path: str | Path) -> dict:
    """The board at ``path`` (empty if there is none). Rows of boards written before rows stated their
    modality gain it where it is known: measured rows from their frame protocol's name (``+audio16k``
    is the sound track), baselines null; a reported row keeps none until its file is reported again."""
    board = results.load(path, "leaderboard") if Path(path).exists() else empty_board()
    check_rows(board, path)
    for row in board["rows"]:
        kind = row.get("kind", "measured")
        if "modality" not in row and kind != "reported":
            row["modality"] = None if kind == "baseline" else (
                "video+audio" if "+audio" in row.get("frame_protocol", "") else "video")
        if "trained_on" not in row and kind != "reported":
            if kind == "baseline":
                row["trained_on"] = None
            else:
                row["trained_on"], row["trained_on_words"] = exposure_of(row.get("model_identity") or {})
    return board


def check_rows(board: dict, path: str | Path = "board") -> None:
    """Every measured row that carries its confusion matrix must agree with it: UAR, WAR, macro-F1, n,
    failed, invalid rate, per-class recall and support recomputed from the matrix (as a results file's
    figures are, :func:`harness.results.check_figures`), and UAR inside its own 95% interval. Reported
    rows (a paper's numbers) and computed floors carry no matrix and are not checked here; nor are
    multi-split rows (a mean of splits). DataError names the board, the row and the field."""
    for i, row in enumerate(board["rows"]):
        if row.get("kind", "measured") != "measured" or not isinstance(row.get("confusion"), dict):
            continue
        where = f"{path}: rows[{i}] ({row.get('model')} on {row.get('task')}, run {row.get('run_id')})"
        matrix = row["confusion"].get("matrix")
        classes = list(row["confusion"].get("rows") or [])
        k = len(classes)
        if (not isinstance(matrix, list) or len(matrix) != k
                or any(not isinstance(r, list) or len(r) != k + 2 or any(type(v) is not int or v < 0 for v in r)
                       for r in matrix)):
            raise DataError(f"{where}.confusion: not a {k} x {k + 2} matrix of counts (classes x classes, invalid, "
                            f"failed); the board was edited or is corrupt")
        f = results.matrix_figures(matrix)

        def claim(field: str, claimed, value, exact: bool = False) -> None:
            wrong = claimed != value if exact else (not isinstance(claimed, (int, float)) or results.differs(claimed, value))
            if wrong:
                shown = value if exact else f"{value:.6g}"
                raise DataError(f"{where}.{field}: {claimed!r} does not match {shown}, recomputed from the row's own "
                                f"confusion matrix; the board was edited or is corrupt")

        claim("uar", row.get("uar"), f["uar"])
        claim("war", row.get("war"), f["war"])
        macro = row.get("macro_f1")
        if not isinstance(macro, (int, float)) or all(results.differs(macro, v) for v in f["macro_f1"]):
            claim("macro_f1", macro, f["macro_f1"][1])
        claim("n", row.get("n"), f["n"], exact=True)
        if "failed" in row:
            claim("failed", row["failed"], f["failed"], exact=True)
        if "invalid_rate" in row:
            claim("invalid_rate", row["invalid_rate"], f["invalid"] / f["n"] if f["n"] else 0.0)
        if "classes_evaluated" in row:
            claim("classes_evaluated", row["classes_evaluated"], sum(1 for s in f["support"] if s), exact=True)
        for field, figure, exact in (("class_support", "support", True), ("per_class_recall", "recall", False)):
            per_class = row.get(field)
            if per_class is None:
                continue
            if list(per_class) != classes:
                raise DataError(f"{where}.{field}: its classes {list(per_class)} are not the confusion matrix's "
                                f"rows {classes}; the board was edited or is corrupt")
            for j, c in enumerate(classes):
                claim(f"{field}[{c!r}]", per_class[c], f[figure][j], exact=exact)
        interval = row.get("uar_ci95")
        if isinstance(interval, list) and len(interval) == 2:
            results.outside(f"{where}.uar_ci95", interval, "uar", row["uar"])


def exposure_of(identity: dict) -> tuple[str, str]:
    """A measured row's training exposure: the model's ``trained_on`` (a model argument,
    ``--model-args trained_on=...``, in its identity's ``args`` or at its top level), else
    ``not-stated``. A word outside :data:`EXPOSURES` is refused naming the ones allowed."""
    args = identity.get("args") if isinstance(identity.get("args"), dict) else {}
    value = args.get("trained_on", identity.get("trained_on"))
    if value is None:
        return "not-stated", "the run's model identity does not state what the model was trained on"
    if value not in EXPOSURES:
        raise DataError(f"model {identity.get('id', '?')!r}: trained_on={value!r} is not one of: "
                        + "; ".join(f"{k} ({v})" for k, v in EXPOSURES.items()))
    return value, f"model argument trained_on={value}"


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
    trained_on, trained_on_words = exposure_of(identity)
    common = {"kind": "measured", "model": model["name"], "model_identity": identity,
              "trained_on": trained_on, "trained_on_words": trained_on_words,
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
    """Chance and majority-class rows, computed (never typed in). For every task with measured rows,
    from the class counts its results record (majority: the training data's most frequent class where
    the results record it, else the evaluated split's). For every other task on the board whose
    per-class counts a release publishes (:data:`harness.floors.PUBLISHED`), from those counts."""
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
        majority = r.get("training_majority") if r.get("training_majority") in support else None
        basis = "the training split's most frequent class"
        if majority is None:
            majority, basis = max(support, key=support.get), "the evaluated split's most frequent class (an oracle)"
        figures = floors.figures(support, majority)
        common = {"kind": "baseline", "task": r["task"], "task_fingerprint": r.get("task_fingerprint"),
                  "frame_protocol": "-", "modality": None, "trained_on": None, "prompt_template": "-", "n": n,
                  "splits": r.get("splits", 1), "classes_total": r.get("classes_total"),
                  "classes_evaluated": len(present)}
        out.append({**common, "key": json.dumps(["baseline", "chance", r["task"], r.get("task_fingerprint")]),
                    "model": "chance (uniform guess)", **figures["chance"],
                    "basis": f"expected score of a uniform guess over {k} classes"})
        out.append({**common, "key": json.dumps(["baseline", "majority", r["task"], r.get("task_fingerprint")]),
                    "model": f"majority class ({majority})", **figures["majority"], "basis": basis})
    counted = {task for task, _ in seen}
    for task in sorted({r["task"] for r in board["rows"] if r.get("kind") != "baseline"} - counted):
        if task in floors.PUBLISHED:
            out.extend(floors.rows(task))
    return out


def floors_missing(board: dict) -> list[dict]:
    """The tasks of the board's rows that have no floor: neither a results file's class counts nor
    published ones. The board says so instead of showing a number."""
    have = {r["task"] for r in board["rows"] if r.get("kind") == "baseline"}
    return [{"task": task, "why": f"no floor: no results file of {task} on this board records its class counts, "
                                  f"and no published per-class counts of its evaluated split are recorded "
                                  f"(harness/floors.py)"}
            for task in sorted({r["task"] for r in board["rows"]} - have)]


def _with_floors(board: dict) -> dict:
    """The board with its baseline rows computed afresh, ranked, and its missing floors named."""
    rows = [r for r in board["rows"] if r.get("kind") != "baseline"]
    board["rows"] = sorted(rows + baseline_rows({"rows": rows}), key=_rank_key)
    board["floors_missing"] = floors_missing(board)
    return board


def _read_data(path: str | Path):
    """A YAML or JSON file's data, or a DataError naming the file and what is wrong."""
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
        return yaml.safe_load(text) if str(path).endswith((".yaml", ".yml")) else json.loads(text)
    except (ValueError, yaml.YAMLError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: not valid YAML/JSON: {first}") from None


def reported_rows(path: str | Path) -> tuple[list[dict], set[str], list[dict]]:
    """The board rows of a reported file (validated by the leaderboard schema: a row without its
    ``modality`` or ``trained_on`` is refused naming the row), the keys its rows had on older boards,
    and the file's entries."""
    data = _read_data(path)
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
                     "n": entry.get("n"), "frame_protocol": entry.get("frames", "not stated"), "prompt_template": "-",
                     **{k: entry[k] for k in ("source", "protocol", "input", "modality", "trained_on",
                                              "trained_on_words", "answer_mapping", "status")},
                     "notes": entry.get("notes", "")})
        legacy.add(json.dumps(["reported", entry["model"], entry["task"], entry["source"]]))
    return rows, legacy, data["reported"]


def add_reported(board_path: str | Path, path: str | Path) -> tuple[dict, int]:
    """Merge reported rows (numbers from papers or model cards, YAML or JSON) into the board; the
    floors of their benchmarks come with them where published counts give them."""
    rows, legacy, _ = reported_rows(path)
    with locked(board_path):
        board = load_board(board_path)
        # rows of this file added before reported rows stated a modality (keyed without it) are replaced
        by_key = {r["key"]: r for r in board["rows"] if r["key"] not in legacy}
        for row in rows:
            by_key[row["key"]] = row
        board["rows"] = list(by_key.values())
        _with_floors(board)
        board["updated_at"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        results.write_json(board_path, board, "leaderboard")
    return board, len(rows)


def _words(text: str) -> str:
    return " ".join(text.split())


def check_sources(entries: list[dict], sources_path: str | Path) -> None:
    """Every reported row's ``trained_on_words`` are its source's own: found verbatim (spacing aside)
    in the excerpt that ``sources_path`` keeps of the file the row cites. A row whose source has no
    excerpt, or whose words are not in it, is refused naming the row."""
    data = _read_data(sources_path)
    sources = (data or {}).get("sources") or {}
    for i, entry in enumerate(entries, start=1):
        where = f"{sources_path}: row {i} of the reported file ({entry['model']} on {entry['task']})"
        source = sources.get(entry["source"])
        if not isinstance(source, dict) or not isinstance(source.get("excerpt"), str):
            raise DataError(f"{where}: no excerpt of its source {entry['source']!r} is kept; add one")
        if _words(entry["trained_on_words"]) not in _words(source["excerpt"]):
            raise DataError(f"{where}: its trained_on_words {entry['trained_on_words']!r} are not in the excerpt "
                            f"of {entry['source']}; quote the source's words")


#: The one command that regenerates the tracked board (docs/leaderboard.md).
BUILD_COMMAND = "harness leaderboard build"


def build(board_path: str | Path = "leaderboard/leaderboard.json", reported: str | Path = "leaderboard/reported.yaml",
          sources: str | Path | None = None) -> dict:
    """Write the board that ``reported`` (its rows checked against the excerpts in ``sources``,
    default ``reported_sources.yaml`` beside it) plus the computed floors give, from nothing: what
    ``harness leaderboard report --file REPORTED`` writes into an empty board, without a date, so the
    same inputs always give the same bytes. The tracked ``leaderboard/leaderboard.json`` is this."""
    rows, _, entries = reported_rows(reported)
    check_sources(entries, sources or Path(reported).with_name("reported_sources.yaml"))
    board = _with_floors({**empty_board(), "rows": rows})
    board["built_by"] = BUILD_COMMAND
    results.write_json(board_path, board, "leaderboard")  # atomic; it reads no board, so it takes no lock
    return board


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
    if where[2:3] in (["trained_on"], ["trained_on_words"]) or (
            error.validator == "required" and ("'trained_on'" in error.message or "'trained_on_words'" in error.message)):
        words = "; ".join(f"{k} ({v})" for k, v in EXPOSURES.items())
        text += (f". Give the row `trained_on:` as its source states what the model was trained on relative to "
                 f"the row's benchmark, one of: {words}; and `trained_on_words:`, the source's words for it")
    elif where[2:3] == ["modality"] or (error.validator == "required" and "'modality'" in error.message):
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
        board["rows"] = list(by_key.values())
        _with_floors(board)
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


def table(board: dict, task: str | None = None, fmt: str = "simple", zero_shot: bool = False) -> str:
    """The ranked table: per task, by UAR, then WAR, then macro-F1. A row whose model was trained on
    its benchmark (or on data overlapping it) says so beside its name, wherever it ranks.
    ``zero_shot``: rank only zero-shot rows (the floors, which are no model, stay). Tasks without a
    floor are named below the table."""
    rows = [r for r in sorted(board["rows"], key=_rank_key) if task is None or r["task"] == task]
    if zero_shot:
        rows = [r for r in rows if r.get("kind") == "baseline" or r.get("trained_on") == "zero-shot"]
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
        if exposure_mark(r):
            model += f" [{exposure_mark(r)}]"
        exposure = "-" if kind == "baseline" else (r.get("trained_on") or "not-stated")
        out.append([r["task"], rank, model, r.get("frame_protocol", "-"), r.get("prompt_template", "-"), exposure,
                    uar, _pct(r["war"]), "-" if r.get("macro_f1") is None else _pct(r["macro_f1"]), spread,
                    "-" if r.get("n") is None else r["n"],
                    _pct(r["invalid_rate"]) if r.get("invalid_rate") is not None else "-"])
    headers = ["task", "#", "model", "frames", "prompt", "trained on", "UAR", "WAR", "macro-F1", "UAR 95% CI / std",
               "n", "invalid %"]
    text = tabulate(out, headers=headers, tablefmt=fmt, disable_numparse=True)
    missing = [m for m in board.get("floors_missing") or [] if task is None or m["task"] == task]
    if zero_shot:
        hidden = len([r for r in board["rows"] if (task is None or r["task"] == task)]) - len(rows)
        text += f"\n(--zero-shot: {hidden} row(s) not zero-shot are not ranked)"
    return text + "".join(f"\n{m['task']}: {m['why']}" for m in missing)
