"""Run files: ``harness run --config FILE`` takes its options from YAML or JSON, and a file may hold a grid.

A study is many runs; typing each is how runs get lost and options drift. A run file holds
the options of ``harness run`` under their own names (``model_args`` or ``model-args``; a
mapping or list where the command line takes ``k=v,...`` or a comma list)::

    tasks: synthetic:n=60
    model: hf
    model_args: {preset: qwen2.5-vl-7b, batch_size: 4}
    output_path: study
    log_samples: true
    mlflow_args: {tracking_uri: "http://127.0.0.1:5000", experiment: dfer}

The command line overrides the file (``harness run --config study.yaml --limit 10``).

**Grids.** ``grid:`` maps an axis to a list of values; the runs are every combination, in
the order written (the last axis varies fastest). A value is an option's value, or a
mapping of several options that go together::

    grid:
      model: [majority, prior, {model: hf, model_args: {preset: tiny-qwen2-vl}}]
      frames: [uniform8, "segment=16"]
      audio: [off, on]

``runs:`` is a list of option mappings instead (each merged over the file's top level),
for studies that are not a product. The runs go one after another in one process, sharing
the response cache (each with ``launcher: ray`` if asked); one that fails does not stop the
rest, and the summary names it.

**Repeating a run.** Every results file records the options it ran with, resolved from the
command line and any file (``config.resolved``): ``harness run --config RESULTS.json``
runs it again.

Every value goes through the same parser as the command line, so a file is checked exactly
as typed options are (before any work, all runs of a grid first), and an unknown key is an
error naming the file and the key.
"""

from __future__ import annotations

import argparse
import difflib
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import UsageError

#: Options that are not run options: how the file itself is read.
NOT_OPTIONS = {"config", "dry_run", "command", "help"}


@dataclass(frozen=True)
class PlannedRun:
    """One run of a file: a label (the grid values that make it) and its options as command-line words."""

    label: str
    words: list[str]


def _read(path: Path) -> Any:
    if not path.is_file():
        raise UsageError(f"--config {path}: {'not a file' if path.exists() else 'no such file'}")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"--config {path}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise UsageError(f"--config {path}: {where}not valid YAML ({getattr(exc, 'problem', exc)})") from None


def _actions(command: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """The run command's options by name (argparse keeps them in ``_actions``, unchanged since Python 3.2)."""
    return {a.dest: a for a in command._actions if a.dest not in NOT_OPTIONS and a.option_strings}


def _key(raw: Any, actions: dict[str, argparse.Action], where: str) -> str:
    key = str(raw).strip().replace("-", "_")
    if key not in actions:
        close = difflib.get_close_matches(key, list(actions), n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise UsageError(f"{where}: {raw!r} is not an option of harness run{hint}")
    return key


def _text(value: Any, key: str, where: str) -> str:
    """An option's value as the command line would hold it."""
    if isinstance(value, dict):
        return ",".join(f"{k}={_text(v, key, where)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ",".join(_text(v, key, where) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        raise UsageError(f"{where}: {key} is empty; give it a value or leave it out")
    return str(value)


def words_of(options: dict[str, Any], actions: dict[str, argparse.Action], where: str) -> list[str]:
    """Options (file keys already checked) as command-line words, for the parser to check and type."""
    words: list[str] = []
    for key, value in options.items():
        action = actions[key]
        flag = action.option_strings[-1]
        if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
            if not isinstance(value, bool):
                raise UsageError(f"{where}: {key} is true or false, got {value!r}")
            if value != action.default:
                words.append(flag)
        elif isinstance(action, argparse._AppendAction):
            for item in value if isinstance(value, list) else [value]:
                words += [flag, _text(item, key, where)]
        elif value is None and action.default is None:
            continue  # an option left at its default (a resolved record writes these as null)
        else:
            words += [flag, _text(value, key, where)]
    return words


def _mapping(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise UsageError(f"{where}: expected a mapping of options, got {type(value).__name__}")
    return value


def plan(path: str | Path, parser: argparse.ArgumentParser) -> list[PlannedRun]:
    """The runs a file holds, in order (one for a plain file or a results file)."""
    path = Path(path)
    data = _read(path)
    actions = _actions(parser)
    if isinstance(data, dict) and "schema_version" in data and "config" in data:  # a results file
        resolved = data["config"].get("resolved") if isinstance(data["config"], dict) else None
        if not isinstance(resolved, dict):
            raise UsageError(f"--config {path}: this results file does not record its resolved options "
                             f"(written before run files existed); rerun it from its 'command'")
        data = resolved
    data = _mapping(data, f"--config {path}")
    base = {_key(k, actions, f"{path}: {k}"): v for k, v in data.items() if k not in ("grid", "runs")}
    if "grid" in data and "runs" in data:
        raise UsageError(f"{path}: give either grid: or runs:, not both")
    variants: list[tuple[str, dict]] = [("", {})]
    if "grid" in data:
        grid = _mapping(data["grid"], f"{path}: grid")
        axes = []
        for axis, values in grid.items():
            if not isinstance(values, list) or not values:
                raise UsageError(f"{path}: grid: {axis}: expected a non-empty list of values")
            choices = []
            for i, value in enumerate(values):
                where = f"{path}: grid: {axis}[{i}]"
                if isinstance(value, dict):
                    options = {_key(k, actions, where): v for k, v in value.items()}
                else:
                    options = {_key(axis, actions, where): value}
                choices.append((_label(axis, value), options))
            axes.append(choices)
        variants = [(" ".join(label for label, _ in combo), {k: v for _, o in combo for k, v in o.items()})
                    for combo in itertools.product(*axes)]
    elif "runs" in data:
        if not isinstance(data["runs"], list) or not data["runs"]:
            raise UsageError(f"{path}: runs: expected a non-empty list of option mappings")
        variants = []
        for i, item in enumerate(data["runs"]):
            where = f"{path}: runs[{i}]"
            options = {_key(k, actions, where): v for k, v in _mapping(item, where).items()}
            variants.append((f"run {i + 1}", options))
    planned = []
    for label, options in variants:
        merged = {**base, **options}
        planned.append(PlannedRun(label, words_of(merged, actions, f"{path}{': ' + label if label else ''}")))
    return planned


def _label(axis: str, value: Any) -> str:
    if isinstance(value, dict):
        shown = value.get(axis, value.get(axis.replace("_", "-")))
        if shown is None:
            shown = ",".join(f"{k}={_text(v, k, axis)}" for k, v in value.items())
        elif isinstance(value.get("model_args"), dict) and axis == "model":
            shown = f"{shown}({_text(value['model_args'], 'model_args', axis)})"
        return f"{axis}={shown}"
    return f"{axis}={_text(value, axis, axis)}"


def resolved(args: argparse.Namespace, parser: argparse.ArgumentParser) -> dict[str, Any]:
    """The options a run ran with, every one (defaults included), as a run file holds them: what
    ``config.resolved`` records so that ``--config RESULTS.json`` repeats the run."""
    out = {}
    for dest in _actions(parser):
        value = getattr(args, dest, None)
        out[dest] = list(value) if isinstance(value, list) else value
    return out
