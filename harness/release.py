"""Reading official dataset releases: where the root is, split files, safe paths.

Shared by the DFEW, FERV39k and MAFW task plugins. Every problem is a
DataError or UsageError that names the file, the line and what to do.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Iterable

from harness.context import Context
from harness.errors import DataError, UsageError
from harness.params import check_params  # noqa: F401  (tasks import it from here)

DATA_ENV = "HARNESS_DATA_DIR"


def find_root(task: str, params: dict, context: Context, folder_names: Iterable[str],
              marker: str, layout: str) -> Path:
    """The dataset root: ``root=`` parameter, else a folder under ``--data-dir``.

    ``marker`` is a path inside the root that identifies the release. Fails
    before any work starts, saying where it looked and what layout it expects.
    """
    looked: list[Path] = []
    if params.get("root"):
        candidates = [Path(str(params["root"])).expanduser()]
    elif context.data_dir:
        base = Path(context.data_dir).expanduser()
        candidates = [base / name for name in folder_names] + [base]
    else:
        raise UsageError(f"{task}: no data location given. Pass --data-dir DIR (or set "
                         f"{DATA_ENV}) with the release in DIR/{next(iter(folder_names))}, or "
                         f"{task}:root=PATH. Expected layout under the root:\n{layout}")
    for root in candidates:
        looked.append(root)
        if (root / marker).exists():
            return root
    where = "\n".join(f"  {p}" for p in looked)
    raise UsageError(f"{task}: dataset not found. Looked for {marker!r} in:\n{where}\n"
                     f"Expected layout under the root:\n{layout}")


def read_text_lines(path: Path, encodings: tuple[str, ...] = ("utf-8-sig",)) -> list[tuple[int, str]]:
    """Numbered non-empty lines, CRLF or LF, in the first encoding that decodes the file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc}") from None
    for encoding in encodings:
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise DataError(f"{path}: not readable as {' or '.join(encodings)}")
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]


def under(root: Path, path: Path) -> bool:
    """Whether ``path`` lies under ``root`` once links and ``..`` are resolved."""
    resolved, base = path.resolve(), root.resolve()
    return resolved == base or base in resolved.parents


def inside(root: Path, relative: str, where: str) -> Path:
    """``root / relative``, refused if it would escape the root (``..``, absolute paths)."""
    if os.path.isabs(relative) or "\\" in relative:
        raise DataError(f"{where}: path {relative!r} must be relative to the data root {root}")
    if not under(root, root / relative):
        raise DataError(f"{where}: path {relative!r} escapes the data root {root} (through '..' or a link); "
                        f"refusing it: clips must lie under the data root")
    return root / relative


def check_unique(ids: list[tuple[str, str]]) -> None:
    """``(id, where)`` pairs; a repeated id is an error naming both places."""
    seen: dict[str, str] = {}
    for sample_id, where in ids:
        if sample_id in seen:
            raise DataError(f"{where}: duplicate sample id {sample_id!r} (first at {seen[sample_id]})")
        seen[sample_id] = where


def nonempty(samples: list, path: Path | str) -> list:
    """A split file that lists no clips (a header and nothing else) is an error, not a UAR of 0."""
    if not samples:
        raise DataError(f"{path}: the split file lists no samples; an empty split cannot be evaluated "
                        f"(is the file truncated, or the wrong one?)")
    return samples


def parse_folds(task: str, value, count: int = 5) -> list[int]:
    """``fold=3`` -> [3]; ``fold=all`` (default) -> [1..5]."""
    if value in (None, "all"):
        return list(range(1, count + 1))
    try:
        folds = [int(value)]
    except (TypeError, ValueError):
        folds = []
    if not folds or not 1 <= folds[0] <= count:
        raise UsageError(f"{task}: fold must be 1..{count} or all, got {value!r}")
    return folds


def _prior_when_readable(read):
    """``training_prior`` of a release task, reading the training list only as a source of the prior:
    a run evaluates the test split, so a training list that cannot be used (a header and nothing else,
    a bad row) must not stop it. It gives no prior (None) and a warning naming the file; a model that
    needs the prior then says so itself, and every other model runs."""
    @functools.wraps(read)
    def training_prior(self, split: str):
        try:
            return read(self, split)
        except DataError as exc:
            warned = self.__dict__.setdefault("_prior_warned", set())
            if split not in warned:
                warned.add(split)
                print(f"harness: warning: {self.name}: the training list of {split} is not used: {exc}; "
                      f"no training prior (models that answer from it refuse the run)", file=sys.stderr)
            return None

    training_prior._prior_when_readable = True
    return training_prior


class ReleaseTask:
    """Mixin for tasks that read an official release: parameters, media choice, folds.

    Subclasses define ``_read_split(split)`` and ``_locate()`` (which finds
    the root or raises, saying what layout is expected) and call ``_setup``
    from ``__init__``. The data is looked for only when needed, so a task can
    be described without it; :meth:`prepare` looks for it before a run starts.
    Each split file is parsed once per task instance, and only a split that is
    evaluated stops a run when it is broken: a subclass's ``training_prior``
    reads its training list only for the prior, and a training list that lists
    no clips (or cannot be read) gives no prior and a warning instead.
    """

    official_counts: dict[str, int] = {}
    media_fps: dict[str, float | None] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("training_prior")
        if own is not None and not getattr(own, "_prior_when_readable", False):
            cls.training_prior = _prior_when_readable(own)

    def _setup(self, params: dict, context: Context, allowed: tuple[str, ...]) -> None:
        check_params(self.name, params, allowed)
        self._params = dict(params)
        self._context = context
        self._cache: dict[str, list] = {}
        self._root: Path | None = None

    @property
    def root(self) -> Path:
        if self._root is None:
            self._root = self._locate()
        return self._root

    def prepare(self) -> None:
        """Find the data and parse every evaluated split: errors surface before any work."""
        for split in self.splits():
            self.samples(split)

    def _media(self, choices: tuple[str, ...], default: str) -> str:
        media = str(self._params.get("media", default))
        if media not in choices:
            raise UsageError(f"{self.name}: media must be one of {', '.join(choices)}, got {media!r}")
        return media

    def _fps(self, media: str) -> float | None:
        """The frame rate of frame folders: fps=... if given, else the release's known rate."""
        if "fps" in self._params:
            value = self._params["fps"]
            if value in (None, "none", "None"):
                return None
            try:
                return float(value)
            except (TypeError, ValueError):
                raise UsageError(f"{self.name}: fps must be a number or none, got {value!r}") from None
        return self.media_fps.get(media)

    def samples(self, split: str | None = None):
        split = split or self.splits()[0]
        if split not in self.splits():
            raise UsageError(f"{self.name}: no split {split!r}; this instance has {self.splits()}")
        if split not in self._cache:
            self._cache[split] = self._read_split(split)
        return self._cache[split]

    def sample_count(self) -> int | None:
        try:
            return sum(len(self.samples(s)) for s in self.splits())
        except (DataError, UsageError):
            return None  # the data is not there (or broken): `harness data check` says why

    def expected_counts(self) -> dict[str, int | None]:
        """Official sample counts of the evaluated splits (None where unknown)."""
        return {s: self.official_counts.get(s) for s in self.splits()}
