"""Experiment trackers: where a finished run is also logged (W&B, MLflow, Trackio, or a plugin's own).

Researchers keep their studies in a tracker, so ``harness run --wandb-args ...`` (or
``--mlflow-args``, ``--trackio-args``, ``--tracker NAME:k=v,...``) logs each run there too,
and ``harness log RESULTS.json... --to NAME`` logs runs that finished elsewhere. A tracker
is a plugin registered through ``harness_register_trackers``, like every task and model;
the built-in three live in :mod:`harness.plugins.trackers`.

What a tracker receives is the results file as written (:class:`FinishedRun`): the
figures it logs are read from it, never recomputed, so a tracker cannot show a number the
results file does not hold. Its life in a run:

1. built before any work from its declared parameters (an unknown name, a typo in an
   argument or a library that is not installed stop the command at once: exit code 2);
2. :meth:`Tracker.start` before the first clip (a tracker that cannot open its run, e.g.
   a server that is not there, is reported and dropped: the evaluation goes on);
3. :meth:`Tracker.log` after the results file is written, then :meth:`Tracker.finish`.

A tracker that fails at any step costs one warning naming it and the reason; the results
files and the exit code are those of the evaluation alone. Warnings pass through
:func:`harness.redact.redact`, so credentials in a tracking URI never reach the terminal,
and the options recorded in results (``config.resolved``) are redacted the same way.
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from harness import results
from harness.errors import UsageError
from harness.redact import redact

#: The tracker options of ``harness run`` and ``harness log`` that name a built-in tracker.
SHORTCUTS = {"wandb_args": "wandb", "mlflow_args": "mlflow", "trackio_args": "trackio"}


class Tracker:
    """Logs finished runs somewhere. Subclass it and register the class (or any factory
    ``factory(params)`` returning one) with ``harness_register_trackers``."""

    #: The name shown in warnings; set by the host from the registered name when left empty.
    name: str = ""

    def start(self, options: dict[str, Any]) -> None:
        """Open the tracker's run before the first clip: ``options`` are the run's resolved
        options (redacted). Raise if the tracker cannot be reached: the run goes on without it."""

    def log(self, run: "FinishedRun") -> str | None:
        """Log a finished run (configuration, metrics, tables, figures, files); return where it
        can be seen (a URL or a folder), or None."""
        raise NotImplementedError

    def finish(self) -> None:
        """Close the tracker's run (also called after a failed :meth:`log`)."""


@dataclass
class FinishedRun:
    """A results file as a tracker sees it: the document, its files, and its figures flattened."""

    document: dict
    results_path: Path
    sample_paths: dict[str, Path] = field(default_factory=dict)

    @classmethod
    def from_file(cls, path: str | Path) -> "FinishedRun":
        """A run read back from its results file, with its per-sample logs where they lie beside it."""
        path = Path(path)
        document = results.load(path)
        samples = {key: path.parent / task["samples_file"] for key, task in document["tasks"].items()
                   if task.get("samples_file") and (path.parent / task["samples_file"]).is_file()}
        return cls(document, path, samples)

    @property
    def name(self) -> str:
        """The run's name in a tracker: the results file's run id."""
        return self.document["run_id"]

    def params(self) -> dict[str, str]:
        """The run's configuration flattened to ``section.key: text``: the options, the model's
        identity, each task's parameters, frame protocol and prompt, and the harness version."""
        doc = self.document
        flat: dict[str, str] = {"harness.version": doc["harness"]["version"],
                                "harness.git_revision": str(doc["harness"].get("git_revision")),
                                "model.name": doc["model"]["name"]}
        _flatten(flat, "config", {k: v for k, v in doc["config"].items() if k != "resolved"})
        _flatten(flat, "model.identity", doc["model"]["identity"])
        for key, task in doc["tasks"].items():
            _flatten(flat, f"task.{key}.params", task.get("params") or {})
            _flatten(flat, f"task.{key}.frame_protocol", task.get("frame_protocol") or {})
            flat[f"task.{key}.prompt"] = (task.get("prompt") or {}).get("name", "")
            flat[f"task.{key}.fingerprint"] = str(task.get("fingerprint"))
        for name in ("torch", "transformers", "vllm"):
            version = doc["environment"]["packages"].get(name)
            if version:
                flat[f"environment.{name}"] = version
        return {k: redact(v) for k, v in flat.items()}

    def metrics(self) -> dict[str, float]:
        """Every summary figure of every task as ``TASK/NAME``: UAR, WAR, macro-F1 and their 95%
        interval bounds, the invalid and failed rates, and the counts."""
        out: dict[str, float] = {}
        for key, task in self.document["tasks"].items():
            m = task["metrics"]
            for name in ("uar", "war", "macro_f1"):
                if m.get(name) is not None:
                    out[f"{key}/{name}"] = float(m[name])
                interval = m.get(f"{name}_ci95")
                if interval:
                    out[f"{key}/{name}_ci95_low"], out[f"{key}/{name}_ci95_high"] = map(float, interval)
            for name in ("invalid_rate", "failed_rate"):
                if m.get(name) is not None:
                    out[f"{key}/{name}"] = float(m[name])
            for name, value in task["counts"].items():
                out[f"{key}/n_{name}"] = float(value)
        return out

    def per_class(self, key: str) -> tuple[list[str], list[list[Any]]]:
        """The per-class table of task ``key``: columns and rows (recall with its interval)."""
        columns = ["class", "support", "predicted", "precision", "recall", "f1", "recall_ci95_low",
                   "recall_ci95_high"]
        rows = []
        for c in self.document["tasks"][key]["per_class"]:
            low, high = c.get("recall_ci95") or (None, None)
            rows.append([c["class"], c["support"], c["predicted"], c["precision"], c["recall"], c["f1"], low, high])
        return columns, rows

    def confusion(self, key: str) -> tuple[list[str], list[list[Any]]]:
        """The confusion matrix of task ``key`` as a table: one row per label, one column per prediction
        (``invalid`` and ``failed`` included)."""
        confusion = self.document["tasks"][key]["confusion"]
        return (["label", *confusion["columns"]],
                [[label, *row] for label, row in zip(confusion["rows"], confusion["matrix"])])

    def samples(self, key: str) -> tuple[list[str], list[list[Any]]]:
        """The per-sample rows of task ``key`` (empty without ``--log-samples``)."""
        columns = ["index", "id", "label", "prediction", "status", "rule", "answer"]
        path = self.sample_paths.get(key)
        if path is None:
            return columns, []
        rows = []
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    row = json.loads(line)
                    rows.append([row.get("index"), row.get("id"), row.get("label"), row.get("prediction"),
                                 row.get("status"), row.get("rule"), row.get("answer")])
        return columns, rows

    def figures(self, folder: Path) -> dict[str, Path]:
        """The run's figures drawn into ``folder`` as PNG (the same drawings as ``harness report``):
        per task, the confusion matrix and per-class recall."""
        from harness import report

        out = {}
        for key, task in self.document["tasks"].items():
            stem = folder / results.slug(key)
            title = f"{self.document['model']['name']} on {key}"
            for kind, draw in (("confusion", report.confusion_figure), ("recall", report.recall_figure)):
                paths = draw(task, title, str(stem) + "_" + kind)
                out[f"{key}/{kind}"] = Path(next(p for p in paths if str(p).endswith(".png")))
        return out


def _flatten(out: dict[str, str], prefix: str, value: Any) -> None:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            _flatten(out, f"{prefix}.{k}", v)
    else:
        out[prefix] = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def specs(args) -> list[tuple[str, dict[str, Any]]]:
    """The trackers a command's options name, in order, each once: ``--tracker NAME[:k=v,...]``
    (repeatable), ``--wandb-args``/``--mlflow-args``/``--trackio-args`` and ``harness log``'s ``--to``."""
    from harness.params import parse_kv, parse_tasks

    found: dict[str, dict[str, Any]] = {}

    def add(name: str, params: dict[str, Any], flag: str) -> None:
        if name in found:
            raise UsageError(f"{flag}: tracker {name!r} is named twice; give its arguments once")
        found[name] = params

    for text in getattr(args, "tracker", None) or []:
        parsed = parse_tasks(text)
        if len(parsed) != 1:
            raise UsageError(f"--tracker {text!r}: one tracker per --tracker, as NAME or NAME:k=v,...")
        add(parsed[0].name, dict(parsed[0].params), "--tracker")
    for option, name in SHORTCUTS.items():
        text = getattr(args, option, None)
        if text is not None:
            add(name, parse_kv(text, f"{name} argument"), "--" + option.replace("_", "-"))
    for name in getattr(args, "to", None) or []:
        if name not in found:
            found[name] = {}
    return list(found.items())


class Trackers:
    """The trackers of one command: each failure is a warning naming the tracker, never an error."""

    def __init__(self, trackers: Iterable[Tracker], stream=None):
        self.active = list(trackers)
        self.stream = stream
        self.failed: list[tuple[str, str]] = []
        self.where: dict[str, str] = {}

    @classmethod
    def build(cls, host, named: list[tuple[str, dict[str, Any]]]) -> "Trackers":
        """Each named tracker built through the host (declared arguments checked, before any work)."""
        built = []
        for name, params in named:
            tracker = host.build("tracker", name, params)
            if not isinstance(tracker, Tracker):
                raise UsageError(f"tracker {name!r}: its factory returned {type(tracker).__name__}, "
                                 f"not a harness.Tracker")
            tracker.name = tracker.name or name
            built.append(tracker)
        return cls(built)

    def __bool__(self) -> bool:
        return bool(self.active)

    def _warn(self, tracker: Tracker, step: str, exc: BaseException) -> None:
        reason = redact(f"{type(exc).__name__}: {exc}".strip())
        reason = " ".join(reason.split())[:500]
        self.failed.append((tracker.name, reason))
        print(f"harness: warning: tracker {tracker.name} failed {step} ({reason}); it is left out of this "
              f"run, whose results are written as usual", file=self.stream or sys.stderr)

    def start(self, options: dict[str, Any]) -> None:
        for tracker in list(self.active):
            try:
                tracker.start(options)
            except Exception as exc:  # a tracker never costs the evaluation
                self._warn(tracker, "to start", exc)
                self._finish(tracker)
                self.active.remove(tracker)

    def log(self, run: FinishedRun) -> None:
        for tracker in list(self.active):
            try:
                where = tracker.log(run)
                if where:
                    self.where[tracker.name] = redact(str(where))
            except Exception as exc:
                self._warn(tracker, "to log the run", exc)
                self.active.remove(tracker)
            finally:
                self._finish(tracker)

    def _finish(self, tracker: Tracker) -> None:
        try:
            tracker.finish()
        except Exception as exc:
            if tracker.name not in {name for name, _ in self.failed}:
                self._warn(tracker, "to close its run", exc)

    def abandon(self) -> None:
        """Close every open tracker run (the evaluation stopped before there were results to log)."""
        for tracker in self.active:
            self._finish(tracker)
        self.active = []


def log_files(host, paths: list[str], named: list[tuple[str, dict[str, Any]]]) -> Trackers:
    """``harness log``: each results file logged to each tracker as its own tracker run."""
    if not named:
        raise UsageError("name a tracker: --to NAME, --tracker NAME:k=v,... or --wandb-args/--mlflow-args/"
                         "--trackio-args")
    runs = [FinishedRun.from_file(p) for p in paths]  # every file read and checked before any logging
    done = Trackers([])
    for run in runs:
        trackers = Trackers.build(host, named)
        trackers.start(run.document["config"].get("resolved") or {"command": run.document["command"]})
        trackers.log(run)
        done.failed += trackers.failed
        done.where.update({f"{run.name} -> {name}": where for name, where in trackers.where.items()})
    return done


def scratch() -> tempfile.TemporaryDirectory:
    """A folder for figures drawn for a tracker (removed after logging)."""
    return tempfile.TemporaryDirectory(prefix="harness-track-")
