"""dfer-harness: evaluate vision-language models on dynamic facial expression recognition."""

import time as _time
from importlib import metadata as _metadata

#: When the harness was first imported: a command's start-up is counted from here.
STARTED = _time.perf_counter()

try:
    __version__ = _metadata.version("dfer-harness")
except _metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

import pluggy as _pluggy

#: Decorator for plugin hook implementations: ``@harness.hookimpl``.
hookimpl = _pluggy.HookimplMarker("harness")

__all__ = ["__version__", "hookimpl"]
