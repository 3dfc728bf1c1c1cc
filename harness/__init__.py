"""dfer-harness: evaluate vision-language models on dynamic facial expression recognition.

The public API for plugin authors, importable from ``harness`` itself::

    from harness import Model, Task, Probe, Strategy, Request, Response, Sample, Frames, hookimpl

The contracts a plugin implements (:class:`Task`, :class:`Model`,
:class:`Probe`, :class:`Strategy`), the values that flow (:class:`Sample`,
:class:`Frames`, :class:`FrameProtocol`, :class:`Request`, :class:`Response`,
:class:`SampleRow`), what a factory receives (:class:`Context`,
:class:`Param` for declared parameters), and the errors with what each does
to a run (:mod:`harness.errors`). Names load on first use, so importing
``harness`` (and ``harness list``) stays light.
"""

import importlib.abc as _abc
import importlib.util as _util
import sys as _sys
import time as _time
from importlib import metadata as _metadata
from pathlib import Path as _Path

#: When the harness was first imported: a command's start-up is counted from here.
STARTED = _time.perf_counter()

try:
    __version__ = _metadata.version("dfer-harness")
except _metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

import pluggy as _pluggy  # noqa: E402  (after the version, which must not need pluggy)

#: Decorator for plugin hook implementations: ``@harness.hookimpl``.
hookimpl = _pluggy.HookimplMarker("harness")


class _BesideFinder(_abc.MetaPathFinder):
    """Installed, ``tasks/`` and ``plugins/`` are ``harness.tasks`` and ``harness.plugins``. In a
    source checkout they sit beside ``harness/``, and a non-editable install run from the
    repository root imports this ``harness/`` (the working directory comes first on sys.path),
    which would lose them: this finder, consulted last, maps them to the folders beside it."""

    def __init__(self, folders: dict):
        self.folders = folders

    def find_spec(self, fullname, path=None, target=None):
        folder = self.folders.get(fullname)
        if folder is None:
            return None
        return _util.spec_from_file_location(fullname, folder / "__init__.py",
                                             submodule_search_locations=[str(folder)])


def _map_source_layout() -> None:
    here = _Path(__file__).resolve().parent
    folders = {f"harness.{name}": here.parent / name for name in ("tasks", "plugins")
               if not (here / name).is_dir() and (here.parent / name / "__init__.py").is_file()}
    if folders and not any(isinstance(f, _BesideFinder) for f in _sys.meta_path):
        _sys.meta_path.append(_BesideFinder(folders))


_map_source_layout()

#: The curated public API: name -> the module that defines it (loaded on first use).
_PUBLIC = {
    # contracts
    "Task": "harness.task", "ClassPrior": "harness.task",
    "Model": "harness.model", "Workload": "harness.model",
    "Probe": "harness.probe", "Variant": "harness.probe", "RunRows": "harness.probe",
    "ProbeContext": "harness.probe",
    "Strategy": "harness.strategy", "StrategyContext": "harness.strategy",
    "PromptTemplate": "harness.prompts",
    "Tracker": "harness.tracking", "FinishedRun": "harness.tracking",
    # values that flow
    "Sample": "harness.types", "FrameProtocol": "harness.types", "Frames": "harness.types",
    "Request": "harness.types", "Response": "harness.types", "SampleRow": "harness.samplelog",
    "Told": "harness.frames.time_told",
    # what factories receive
    "Context": "harness.context", "Param": "harness.params",
    # errors
    "HarnessError": "harness.errors", "UsageError": "harness.errors", "DataError": "harness.errors",
    "MediaError": "harness.errors", "StrategyError": "harness.errors", "SampleFailed": "harness.errors",
    "CheckpointUnavailable": "harness.errors", "CapabilityError": "harness.errors",
    "ModelAborted": "harness.errors",
}


def __getattr__(name: str):
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])


__all__ = ["__version__", "hookimpl", *_PUBLIC]
