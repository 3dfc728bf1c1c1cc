"""Results documents: built, validated against the JSON Schema, written atomically."""

from __future__ import annotations

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

RESULTS_SCHEMA_VERSION = 2  # 2: a task's `timing` became `time_told`
_PACKAGES = ("numpy", "av", "pluggy", "jsonschema", "tabulate", "tqdm", "pillow", "simplejpeg",
             "torch", "torchvision", "transformers", "tokenizers", "safetensors", "huggingface_hub",
             "vllm", "httpx")


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


def load(path: str | Path, schema_name: str = "results") -> dict:
    """Read and validate a results (or leaderboard) file; DataError names file and field."""
    try:
        with open(path, encoding="utf-8") as f:
            document = json.load(f, parse_constant=_reject_constant)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except ValueError as exc:
        raise DataError(f"{path}: not valid JSON: {exc}") from None
    try:
        validate(document, schema_name)
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None
    return document


def write_json(path: str | Path, document: Any, schema_name: str | None = None) -> None:
    """Validate (when a schema is named), then write atomically: readers never see half a file."""
    if schema_name:
        validate(document, schema_name)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(document, f, indent=1, ensure_ascii=False, allow_nan=False)
        f.write("\n")
    os.replace(tmp, path)


def slug(text: str) -> str:
    """``text`` as a file-name part: results, sample logs and diagnostics are named with it."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "model"


def write_jsonl(path: str | Path, rows: list[dict]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n")
    os.replace(tmp, path)


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
