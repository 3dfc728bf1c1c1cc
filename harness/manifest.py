"""Tasks defined by data rather than code: rows of (id, media path, label).

Shared by YAML-defined tasks and Hugging Face ``datasets``-backed tasks. The
class list is fixed by the definition; a label outside it (after the
optional ``label_map`` and case-insensitive matching) is an error naming the
row; media paths must stay inside the media root; ids must be unique.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import DataError
from harness.release import check_unique, inside, under
from harness.task import Task
from harness.types import Sample


@dataclass(frozen=True)
class Row:
    media: str
    label: Any
    id: str | None
    where: str  # "file:line" or "dataset[row]", for error messages


def build_samples(rows: list[Row], classes: tuple[str, ...], media_root: Path,
                  label_map: dict | None = None, fps: float | None = None,
                  absolute_ok: bool = False) -> list[Sample]:
    """Samples from rows. Relative media paths are taken from ``media_root`` and must stay inside
    it; absolute ones are accepted as they are with ``absolute_ok`` (no data root was declared, or a
    ``datasets`` Video column stores them), otherwise only when they lie under ``media_root``."""
    lookup = {c.lower(): c for c in classes}
    label_map = {str(k): v for k, v in (label_map or {}).items()}
    samples, ids = [], []
    for row in rows:
        raw = str(row.label).strip()
        mapped = label_map.get(raw, raw)
        label = lookup.get(str(mapped).strip().lower())
        if label is None:
            raise DataError(f"{row.where}: unknown label {raw!r}; the classes are {', '.join(classes)}"
                            + (" (after label_map)" if label_map else ""))
        if not row.media or not str(row.media).strip():
            raise DataError(f"{row.where}: empty media path")
        path = str(row.media).strip()
        if "\0" in path or not path.isprintable():
            raise DataError(f"{row.where}: media path {path[:80]!r} holds a NUL byte or control characters; "
                            f"no file is named so")
        if Path(path).is_absolute():
            media = Path(path) if absolute_ok else _under(media_root, path, row.where)
        else:
            media = inside(media_root, path, row.where)
        sample_id = str(row.id).strip() if row.id not in (None, "") else str(row.media).strip()
        samples.append(Sample(id=sample_id, label=label, media=str(media), fps=fps))
        ids.append((sample_id, row.where))
    check_unique(ids)
    return samples


def _under(root: Path, path: str, where: str) -> Path:
    """An absolute path, refused unless it lies under the declared data root."""
    if not under(root, Path(path)):
        raise DataError(f"{where}: absolute path {path!r} is outside the data root {root}, and with a data root "
                        f"every clip must lie under it. Move the clip under {root}, name it relative to it, or "
                        f"drop the data root (media_root) to accept absolute paths anywhere")
    return Path(path)


class ManifestTask(Task):
    """A single-split task whose rows are read once, on first use, by :meth:`_read`."""

    _samples: list[Sample] | None = None

    @abc.abstractmethod
    def _read(self) -> list[Sample]:
        """Read and check every row (called once)."""

    def samples(self, split: str | None = None) -> list[Sample]:
        if self._samples is None:
            self._samples = self._read()
        return self._samples

    def prepare(self) -> None:
        self.samples()

    def sample_count(self) -> int | None:
        return len(self.samples())  # a missing or broken manifest raises, naming the file and row
