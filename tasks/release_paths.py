"""Paths read from a release's own files, checked the same way by every reader.

A path in an annotation (a CASME II ``Filename``, an MME-Emotion ``video_id``, ...) or a folder met
while walking a release (SMIC) is joined to its root by :func:`contained`, which refuses what would
leave the root: an absolute path, ``..``, or a link out of it (the check the DFEW, FERV39k and MAFW
readers use, :func:`harness.release.inside`), and a NUL or other control character, which the
operating system cannot take in a path. Two entries are the same clip when they name the same file
or folder once resolved (:func:`clip_identity`): ``video//1.mp4`` and ``./video/1.mp4`` are one clip.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from harness.errors import DataError
from harness.release import inside


def contained(root: Path, relative: str | tuple[str, ...], where: str) -> Path:
    """``root / relative``, refused (a :class:`DataError` naming ``where``) if it would leave ``root``
    or cannot be a path. ``relative`` may be given as parts (a subject and a file name from two cells),
    each of which must be relative: ``('sub01', '/data/x')`` is refused, not read as ``sub01/data/x``."""
    parts = (relative,) if isinstance(relative, str) else tuple(relative)
    for part in parts:
        if os.path.isabs(part) or "\\" in part:
            raise DataError(f"{where}: path {part!r} must be relative to the data root {root}")
    relative = "/".join(parts)
    if any(ord(ch) < 32 for ch in relative):
        raise DataError(f"{where}: path {relative!r} holds a control character (NUL, newline, ...); no file "
                        f"can have that name: correct the entry")
    return inside(root, relative, where)


def clip_identity(path: Path | str) -> str:
    """The clip a path names, as one string: links, ``..``, ``.`` and repeated ``/`` resolved."""
    return os.path.normcase(os.path.realpath(path))


def check_same_clips(entries: list[tuple[Path | str, str, str]]) -> None:
    """``(path, as written, where)`` per entry: two entries naming one clip are an error naming both."""
    seen: dict[str, tuple[str, str]] = {}
    for path, written, where in entries:
        identity = clip_identity(path)
        if identity in seen:
            first, first_where = seen[identity]
            raise DataError(f"{where}: {written!r} is the clip {first!r} of {first_where} written another way; "
                            f"each clip must be listed once (remove one entry)")
        seen[identity] = (written, where)


def read_json(path: Path, what: str) -> Any:
    """A release's JSON file, any failure to read it a one-line :class:`DataError` naming the file: nesting
    deeper than Python can parse, a number too long to convert and memory running out are errors of the
    file like a syntax error."""
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise DataError(f"{path}: {what} missing") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        raise DataError(f"{path}: not a readable JSON {what}: {str(exc).splitlines()[0][:200]}") from None
    except RecursionError:
        raise DataError(f"{path}: not a readable JSON {what}: nested too deeply to parse") from None
    except MemoryError:
        raise DataError(f"{path}: not a readable JSON {what}: too large to hold in memory") from None
