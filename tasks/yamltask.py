"""Tasks defined by YAML files, so users add datasets without writing Python.

Every ``*.yaml`` / ``*.yml`` file in the context's include paths
(``--include-path DIR``, repeatable; a library user passes
``Context(include_paths=...)`` to ``harness.host.load``) registers one task. A file looks like::

    task: my-clips
    manifest: clips.csv          # CSV with a header, or JSONL; relative to this file
    media_root: clips/           # optional data root: every clip must lie under it (default: the
                                 # manifest's folder, and absolute clip paths are taken as they are)
    media_column: path           # default "media"
    label_column: emotion        # default "label"
    classes: [happy, sad, neutral]
    aliases: {joyful: happy}
    frames: segment=16           # default frame protocol (a --frames preset)
    fps: 25                      # frame rate of frame folders (null: no time base)
    audio: true                  # the clips carry a sound track (--audio on may send it; default false)

See ``harness/schemas/yaml-task.schema.json`` for every field.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import harness
from harness.context import Context
from harness.emotions import standard_synonyms
from harness.errors import DataError, UsageError
from harness.frames.sampling import parse_frames
from harness.manifest import ManifestTask, Row, build_samples
from harness.prompts import DEFAULT_TEMPLATES, SYSTEM, PromptTemplate
from harness.release import check_params, nonempty
from harness.types import FrameProtocol


def load_definition(path: Path) -> dict[str, Any]:
    """Read and validate a YAML task file; errors name the file and the offending field."""
    import yaml  # a light import, but only needed when YAML tasks exist

    from harness.results import schema, validator_for

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8") from None
    except (OSError, yaml.YAMLError, RecursionError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: not a readable YAML file: {first}") from None
    errors = sorted(validator_for(schema("yaml-task")).iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        raise DataError(f"{path}: {errors[0].json_path}: {errors[0].message}")
    return data


MANIFEST_SUFFIXES = (".csv", ".jsonl", ".ndjson")


def _columns(names) -> str:
    """A header's column names as an error shows them: a few, each cut short (a file that is not a
    manifest at all, say /etc/passwd, must not be printed into the terminal)."""
    names = [str(n) for n in names or []]
    shown = [n if len(n) <= 32 and n.isprintable() else "<a long or unprintable name>" for n in names[:8]]
    return ", ".join(shown) + (f" and {len(names) - 8} more" if len(names) > 8 else "") or "none"


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save the manifest as UTF-8 "
                        f"(e.g. iconv -f latin1 -t utf-8)") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read the manifest: {exc.strerror or exc}") from None


def read_manifest(path: Path, media_column: str, label_column: str, id_column: str | None) -> list[Row]:
    if path.suffix.lower() not in MANIFEST_SUFFIXES:
        raise DataError(f"{path}: a manifest is a CSV file with a header (.csv) or JSON lines (.jsonl, .ndjson)")
    if not path.is_file():
        raise DataError(f"{path}: manifest not found")
    rows: list[Row] = []
    text = _text(path)
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise DataError(f"{where}: not valid JSON: {exc}") from None
            rows.append(_row(record, where, media_column, label_column, id_column))
        return rows
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        missing = {media_column, label_column} - set(reader.fieldnames or [])
        if missing:
            raise DataError(f"{path}:1: header lacks column(s) {', '.join(sorted(missing))}; "
                            f"it has {_columns(reader.fieldnames)}")
        for record in reader:
            rows.append(_row(record, f"{path}:{reader.line_num}", media_column, label_column, id_column))
    except csv.Error as exc:
        raise DataError(f"{path}:{reader.line_num}: not a CSV row: {exc}") from None
    return rows


def _row(record: dict, where: str, media_column: str, label_column: str, id_column: str | None) -> Row:
    if not isinstance(record, dict) or media_column not in record or label_column not in record:
        raise DataError(f"{where}: needs the fields {media_column!r} and {label_column!r}")
    return Row(media=record[media_column], label=record[label_column],
               id=record.get(id_column) if id_column else None, where=where)


def _rate(task: str, value) -> float | None:
    """``fps=`` of frame folders: a positive, finite number, or none (no time base)."""
    if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        rate = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{task}: fps must be a number of frames per second or none, got {value!r}") from None
    if not math.isfinite(rate) or rate <= 0:
        raise UsageError(f"{task}: fps must be a positive, finite number of frames per second, got {value!r}")
    return rate


class YAMLTask(ManifestTask):
    """A task whose definition is a YAML file."""

    def __init__(self, path: Path, definition: dict[str, Any], params: dict, context: Context):
        check_params(definition["task"], params, ("fps",))
        self.path = path
        self.definition = definition
        self.name = definition["task"]
        self.description = definition.get("description", f"defined in {path}")
        self.version = str(definition.get("version", "1"))
        self.classes = tuple(definition["classes"])
        # The standard emotion synonyms (happiness -> happy) come with every YAML task unless it opts
        # out with standard_synonyms: false; its own aliases take precedence.
        inherited = standard_synonyms(self.classes) if definition.get("standard_synonyms", True) else {}
        self.aliases = {**inherited, **{k.lower(): v for k, v in definition.get("aliases", {}).items()}}
        self.split = definition.get("split", "test")
        self.fps = _rate(self.name, params.get("fps", definition.get("fps")))
        self.has_time_base = True  # videos carry their rate; folders need fps (checked per clip)
        self.has_audio = bool(definition.get("audio", False))  # a clip without its track then fails, with the reason
        base = FrameProtocol(strategy="segment", num_frames=16)
        self.frame_protocol = (parse_frames(str(definition["frames"]), base, where=f"{path}: frames")
                               if "frames" in definition else base)
        templates = dict(DEFAULT_TEMPLATES)
        for name, spec in definition.get("prompts", {}).items():
            templates[name] = PromptTemplate(name=name, system=spec.get("system", SYSTEM), user=spec["user"],
                                             kind=spec.get("kind", "names"))
        self.prompt_templates = templates
        self.default_template = definition.get("default_prompt", "names")
        if self.default_template not in templates:
            raise DataError(f"{path}: default_prompt {self.default_template!r} is not one of {', '.join(templates)}")

    def params(self) -> dict:
        return {"definition": str(self.path), "fps": self.fps}

    def _read(self):
        d = self.definition
        manifest = self.path.parent / d["manifest"]
        rows = read_manifest(manifest, d.get("media_column", "media"), d.get("label_column", "label"),
                             d.get("id_column"))
        media_root = self.path.parent / d["media_root"] if "media_root" in d else manifest.parent
        # Without a declared media_root, a user's manifest may name clips anywhere by absolute path.
        return nonempty(build_samples(rows, self.classes, media_root, d.get("label_map"), self.fps,
                                      absolute_ok="media_root" not in d), manifest)


@harness.hookimpl
def harness_register_tasks(register, context: Context):
    problems = []
    for folder in context.include_paths:
        if not folder.is_dir():
            problems.append(f"--include-path {folder}: not a folder")
            continue
        for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
            try:
                definition = load_definition(path)
            except DataError as exc:  # one bad file does not hide the good ones
                problems.append(str(exc))
                continue
            register(definition["task"],
                     lambda params, context, p=path, d=definition: YAMLTask(p, d, params, context),
                     description=definition.get("description", f"YAML task {path.name}"))
    if problems:
        raise UsageError("; ".join(problems))
