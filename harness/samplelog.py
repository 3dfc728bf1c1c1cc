"""The per-sample log: one typed row per evaluated sample, and the metrics that follow from rows alone.

Every number of a results document is recomputed from these rows (``harness
merge`` does exactly that for shards), and ``compare``, ``diagnose`` and its
probes read them. So the row has one definition (:class:`SampleRow`), one
schema (``harness/schemas/samples.schema.json``, checked on every write and
read) and one reader (:func:`read_samples`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, TypedDict

import numpy as np

from harness import metrics
from harness.errors import DataError
from harness.frames import time_told
from harness.parsing import RULES, rule_counts
from harness.redact import redact_all
from harness.task import fingerprint


class SampleRow(TypedDict, total=False):
    """One line of ``samples_*.jsonl``. Every key is always written (``reasoning`` is absent only
    from logs written before answers were read for reasoning, ``audio`` from runs without
    ``--audio on``); the schema says the same in JSON."""

    id: str  # the sample id, as the task's annotation names it
    index: int  # position in the evaluated split after --limit: shards merge back in this order
    label: str  # canonical class name of the ground truth
    prediction: str | None  # the canonical class the answer was read as; None when invalid or failed
    status: str  # ok | invalid | failed (invalid and failed count as wrong)
    rule: str | None  # the parsing rule that decided; None for a failed sample
    raw: str | None  # the answer text as received
    error: str | None  # why the sample failed
    reasoning: str | None  # reasoning stripped from the answer before parsing
    scores: dict[str, float] | None  # score mode: log-likelihood per class
    variants: dict[str, dict] | None  # other answers the model reported, each parsed: raw, prediction, status
    answer_meta: dict[str, Any] | None  # facts the model reported about its answer (visual_tokens, ...)
    choices: list[str] | None  # the candidates in the order shown
    frame_indices: list[int] | None  # sampled frames' positions in the decoded clip, in the order shown
    timestamps: list[float] | None  # their true times (seconds)
    told: dict[str, Any] | None  # what the model was told about time, as sent (Told.record())
    header_fps: float | None  # the container's claimed rate when it disagrees with the measured one
    audio: dict[str, Any] | None  # only under --audio on: the sound sent (harness.types.Audio.to_log()), None if failed
    strategy_notes: dict[str, Any] | None  # what a request strategy logged
    prompt_hash: str | None  # hash of the messages as built
    group: str | None  # the task's subset (micro, macro, neutral)
    meta: dict[str, Any]  # the sample's metadata from the task


@lru_cache(maxsize=1)
def _validator():
    from harness import results
    return results.validator_for(results.schema("samples"))


#: What each status implies: (prediction, rule, error) each "set" (a string) or "null".
IMPLIED = {"ok": ("set", "set", "null"), "invalid": ("null", "set", "null"), "failed": ("null", "null", "set")}
_MEANING = {"ok": "a class was read from the answer by a parsing rule, and nothing failed",
            "invalid": "the answer was read by a parsing rule and named no class, and nothing failed",
            "failed": "no answer was read (so no class and no rule), and an error says why"}


def _contradiction(row: dict) -> str | None:
    """What in ``row`` contradicts its status, or what JSON Schema cannot say (an audio span that ends
    before it starts); None when nothing does."""
    status = row.get("status")
    if status in IMPLIED:
        for field, want in zip(("prediction", "rule", "error"), IMPLIED[status]):
            value = row.get(field)
            if want == "set" and not (isinstance(value, str) and (value or field == "error")):
                what = "no error" if field == "error" else f"{field} is null"
                return f"status {status!r} but {what}: {status} means {_MEANING[status]}"
            if want == "null" and value is not None:
                return f"status {status!r} but {field} is {value!r}: {status} means {_MEANING[status]}"
    rule = row.get("rule")
    if rule is not None and rule not in RULES:
        return f"rule {rule!r} is not one of the answer parser's rules ({', '.join(RULES)})"
    for name, variant in (row.get("variants") or {}).items():
        if isinstance(variant, dict) and variant.get("status") in IMPLIED:
            has = variant.get("prediction") is not None
            if has != (variant["status"] == "ok"):
                return (f"variants.{name}: status {variant['status']!r} but prediction is {variant.get('prediction')!r} "
                        f"(only an ok answer names a class)")
    audio = row.get("audio")
    span = audio.get("span") if isinstance(audio, dict) else None
    if (isinstance(span, list) and len(span) == 2 and all(isinstance(x, (int, float)) for x in span)
            and span[1] < span[0]):
        return f"audio.span {span} ends before it starts (span is [start, end] in seconds on the frames' clock)"
    return None


def check_row(row: dict, where: str, classes: list[str] | tuple[str, ...] | None = None) -> None:
    """Raise :class:`DataError` naming ``where`` (file:line, or a sample) if ``row`` breaks the schema or
    contradicts itself (what its status implies, an audio span); with ``classes``, also if its label or
    a prediction is not one of the task's classes."""
    if isinstance(row, dict):
        problem = _contradiction(row)
        if problem:
            raise DataError(f"{where}: per-sample row: {problem}")
    errors = sorted(_validator().iter_errors(row), key=lambda e: list(e.absolute_path))
    if errors:
        raise DataError(f"{where}: per-sample row {errors[0].json_path}: {errors[0].message}")
    if classes is not None:
        known = set(classes)
        answers = [("prediction", row["prediction"])] + [(f"variants.{k}.prediction", v["prediction"])
                                                       for k, v in (row.get("variants") or {}).items()]
        for field, value in [("label", row["label"])] + answers:
            if value is not None and value not in known:
                raise DataError(f"{where}: per-sample row: {field} {value!r} is not one of the task's classes "
                                f"({', '.join(classes)})")


def write_samples(path: str | Path, rows: list[SampleRow]) -> None:
    """Write a per-sample log atomically, every row checked against the schema first (secrets masked:
    a server may echo a key into an error)."""
    path = Path(path)
    rows = redact_all(rows)
    for row in rows:
        check_row(row, f"{path.name} (sample {row.get('id')!r})")
    lines = []
    for row in rows:  # every line is made before the file is opened: a bad one costs no half-written log
        try:
            lines.append(json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n")
        except (TypeError, ValueError) as exc:
            raise DataError(f"{path.name}: sample {row.get('id')!r} has a value JSON cannot hold: {exc}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.writelines(lines)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def plain(value: Any) -> Any:
    """``value`` as plain JSON: numpy scalars and arrays as Python numbers and lists, non-finite floats
    as None (JSON has no NaN), tuples as lists. What a task's sample metadata or a model's answer facts
    hold can then always be logged."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy scalar or array
        return plain(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def read_samples(path: str | Path, classes: list[str] | tuple[str, ...] | None = None) -> list[SampleRow]:
    """The rows of a per-sample log, each checked against the schema and for what its status implies
    (:func:`check_row`; with ``classes``, labels and predictions among them), and each index once.
    Errors name file and line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DataError(f"{path}: cannot read the per-sample log: {exc}") from None
    rows = []
    lines_of: dict[int, int] = {}  # index -> the line that holds it
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise DataError(f"{path}:{number}: not a JSON line: {exc}") from None
        check_row(row, f"{path}:{number}", classes)
        if row["index"] in lines_of:
            raise DataError(f"{path}:{number}: per-sample row: index {row['index']} appears twice (also line "
                            f"{lines_of[row['index']]}); each sample of the split has one position")
        lines_of[row["index"]] = number
        rows.append(row)
    return rows


def samples_of(results_path: str | Path, task_result: dict, key: str) -> list[SampleRow]:
    """The per-sample rows of one task of a results file (they lie beside it)."""
    if not task_result.get("samples_file"):
        raise DataError(f"{results_path}: task {key!r} has no per-sample log; rerun it with --log-samples")
    return read_samples(Path(results_path).parent / task_result["samples_file"], task_result.get("classes"))


def mean_visual_tokens(rows: list[SampleRow]) -> float | None:
    """Visual tokens per clip, over the rows whose model reported them: a frame protocol's cost."""
    counts = [r["answer_meta"]["visual_tokens"] for r in rows
              if r.get("answer_meta") and isinstance(r["answer_meta"].get("visual_tokens"), int)]
    return round(sum(counts) / len(counts), 2) if counts else None


def summarize(rows: list[SampleRow], classes: tuple[str, ...], seed: int, bootstrap: int, name: str,
              version: str, total: int, nominal_fps: float | None) -> dict:
    """Everything in a task result that follows from its per-sample rows alone.

    The evaluator and ``harness merge`` both call this, so merged shards give
    exactly the metrics of an unsharded run.
    """
    labels = [r["label"] for r in rows]
    summary = metrics.compute(labels, [r["prediction"] for r in rows], [r["status"] for r in rows], classes,
                              seed, bootstrap)
    by_group = {}
    for g in sorted({r["group"] for r in rows if r["group"] is not None}):
        part = [r for r in rows if r["group"] == g]
        m = metrics.compute([r["label"] for r in part], [r["prediction"] for r in part],
                            [r["status"] for r in part], classes, seed, bootstrap)
        # macro_f1 per group: MEGC 2019 reports UF1 (pooled macro-F1) per source dataset
        by_group[g] = {k: m[k] for k in ("n", "war", "uar", "macro_f1", "war_ci95", "uar_ci95", "invalid_rate",
                                        "missing_classes")}
    by_variant = {}
    for variant in sorted({v for r in rows for v in (r.get("variants") or {})}):
        answers = [(r.get("variants") or {}).get(variant) for r in rows]
        m = metrics.compute(labels, [a["prediction"] if a else None for a in answers],
                            [a["status"] if a else metrics.FAILED for a in answers], classes, seed, bootstrap)
        by_variant[variant] = {**{k: m[k] for k in ("war", "uar", "macro_f1", "war_ci95", "uar_ci95",
                                                    "invalid_rate")},
                               "recall": {c["class"]: c["recall"] for c in m["per_class"]},
                               "prediction_distribution": m["prediction_distribution"]}
    return {
        "fingerprint": fingerprint(name, version, [(r["id"], r["label"]) for r in rows]),
        "counts": {"total": total, "evaluated": len(rows), "failed": summary["failed"],
                   "invalid": summary["invalid"]},
        "metrics": {k: summary[k] for k in ("war", "uar", "macro_f1", "war_ci95", "uar_ci95",
                                            "macro_f1_ci95", "classes_evaluated",
                                            "invalid_rate", "failed_rate", "missing_classes")},
        "per_class": summary["per_class"],
        "confusion": summary["confusion"],
        "prediction_distribution": summary["prediction_distribution"],
        "groups": by_group,
        "variants": by_variant,
        "failures": [{"id": r["id"], "error": r["error"]} for r in rows if r["error"]],
        "rules": rule_counts(rows),
        "time_told": time_told.summarize(rows, nominal_fps),
        "visual_tokens_per_clip": mean_visual_tokens(rows),
    }


def aggregate(parts: list[dict], keys: list[str]) -> dict:
    """Mean and standard deviation (over splits, ddof=1) of UAR, WAR and macro-F1: the DFER convention."""
    n = sum(p["counts"]["evaluated"] for p in parts)
    out: dict[str, Any] = {"splits": keys, "n": n, "failed": sum(p["counts"]["failed"] for p in parts),
                           "invalid_rate": sum(p["counts"]["invalid"] for p in parts) / n if n else 0.0,
                           "fingerprint": hashlib.sha256(" ".join(p["fingerprint"] for p in parts)
                                                         .encode()).hexdigest()[:16]}
    for name in ("uar", "war", "macro_f1"):
        values = np.array([p["metrics"][name] for p in parts])
        out[f"{name}_mean"] = float(values.mean())
        out[f"{name}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    first = parts[0]
    out.update(name=first["name"], version=first["version"], frame_protocol=first["frame_protocol"],
               prompt=first["prompt"])
    return out


def audio_summary(rows: list[SampleRow], rate: int) -> dict:
    """What the samples of an ``--audio on`` run were sent: how many with their sound, over a window of
    the clip, padded at an end, and for how long on average."""
    sent = [r["audio"] for r in rows if r.get("audio")]
    return {"rate": rate, "with_sound": len(sent), "failed": sum(r["status"] == "failed" for r in rows),
            "windowed": sum(a["window"] for a in sent), "padded": sum(a["padded_s"] > 0 for a in sent),
            "mean_duration_s": round(sum(a["duration"] for a in sent) / len(sent), 6) if sent else None}
