"""Where things live for one command: handed to every plugin factory and registration hook.

One object instead of environment variables or globals: the CLI reads the
environment once (``$HARNESS_CACHE``, ``$HARNESS_DATA_DIR``) and the options
that override it, and every task, model, probe and strategy factory receives
the result, so ``--cache-dir`` reaches a model's built checkpoint and a
probe's plot cache as surely as a task's generated clips.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def default_cache_dir() -> Path:
    """``$HARNESS_CACHE``, else ``~/.cache/harness``."""
    return Path(os.environ.get("HARNESS_CACHE") or Path.home() / ".cache" / "harness")


@dataclass(frozen=True)
class Context:
    """What the host tells plugin factories about the environment.

    ``cache_dir``: generated data (synthetic clips, frames, responses, built checkpoints, plots);
    ``data_dir``: the root of local dataset copies; ``include_paths``: folders of YAML task
    definitions (``--include-path``)."""

    cache_dir: Path = field(default_factory=default_cache_dir)
    data_dir: Path | None = None
    include_paths: tuple[Path, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "cache_dir", Path(self.cache_dir))
        object.__setattr__(self, "include_paths", tuple(Path(p) for p in self.include_paths))

    @classmethod
    def from_options(cls, cache_dir: str | Path | None = None, data_dir: str | Path | None = None,
                     include_paths=()) -> Context:
        """The context of a command: its options, else the environment's defaults."""
        cache = cache_dir or os.environ.get("HARNESS_CACHE")
        data = data_dir or os.environ.get("HARNESS_DATA_DIR")
        return cls(cache_dir=Path(cache).resolve() if cache else default_cache_dir(),
                   data_dir=Path(data).resolve() if data else None,
                   include_paths=tuple(Path(p).resolve() for p in include_paths))
