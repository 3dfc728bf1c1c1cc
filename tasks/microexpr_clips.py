"""Placing an annotated micro-expression on its frames, so models are told true times.

The releases number frames in the file names (``img46.jpg``, ``006_05562.jpg``,
``reg_image0612345.bmp``, ``123.jpg``) and the annotations use those numbers.
A clip is a run of consecutive frame numbers shown at the release's declared
rate, so the frame at number ``n`` of a clip starting at ``start`` is told
``(n - start) / fps`` seconds (the frame-folder reader's clock, DESIGN.md
section 4). Three things break a plain reading of a release folder, and each
is handled here and recorded:

- the folder holds more than the clip (CAS(ME)^3 whole recordings, a context
  window): the clip's frames are shown through a *view*, a folder of links
  named ``000001.jpg ...`` under the harness cache, one per frame number;
- frames are missing inside the clip (CAS(ME)^3 has gaps): the view shows the
  last present frame in the gap (``held`` frames, counted per sample), so every
  later frame keeps its true time;
- frames are missing at the clip's ends (a folder that stops before the
  annotated offset): the clip is shown from the first to the last present
  frame, and the annotation's times stay relative to that first frame.

A folder that holds exactly the clip's frames in order is used as it is.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.frames.folder import IMAGE_EXTENSIONS, list_frames
from harness.frames.sampling import stable_seed

_LAST_NUMBER = re.compile(r"(\d+)(?!.*\d)")
#: The most frame numbers a clip's run of frames may skip at once (missing frames are held); a file beyond a
#: larger gap is not one of the clip's frames.
MAX_FRAME_GAP = 10


def frame_numbers(folder: Path) -> dict[int, str]:
    """Frame number -> file name for every image in ``folder`` (the last run of digits in the name:
    ``img46.jpg`` and ``reg_img46.jpg`` are 46, ``006_05562.jpg`` is 5562). Empty when the folder is
    missing. A number two files share keeps the first in name order."""
    try:
        names = sorted(n for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXTENSIONS))
    except (FileNotFoundError, NotADirectoryError):
        return {}
    out: dict[int, str] = {}
    for name in names:
        match = _LAST_NUMBER.search(name.rsplit(".", 1)[0])
        if match:
            out.setdefault(int(match.group(1)), name)
    return out


def frame_run(folder: Path) -> tuple[dict[int, str], list[str]]:
    """A folder that *is* a clip (SMIC): its frames, and the image files that are not among them.

    The frames are the files named like most of the folder's (``image#.bmp``) whose numbers form the
    longest run without a gap of more than :data:`MAX_FRAME_GAP` numbers. Anything else is a stray, for
    the caller to report and ignore: a file manager's copy (``image0612345 (1).bmp``, read as frame 1),
    or a file numbered far from the rest, would otherwise stretch the clip to hundreds of thousands of
    frames."""
    try:
        names = sorted(n for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXTENSIONS))
    except (FileNotFoundError, NotADirectoryError):
        return {}, []
    pattern = {n: _LAST_NUMBER.sub("#", n.rsplit(".", 1)[0]) + "." + n.rsplit(".", 1)[-1].lower() for n in names}
    common = Counter(p for n, p in pattern.items() if "#" in p).most_common(1)
    numbered: dict[int, str] = {}
    strays = []
    for name in names:
        if not common or pattern[name] != common[0][0]:
            strays.append(name)
            continue
        number = int(_LAST_NUMBER.search(name.rsplit(".", 1)[0]).group(1))
        if number in numbered:
            strays.append(name)
        else:
            numbered[number] = name
    runs: list[list[int]] = []
    for number in sorted(numbered):
        if runs and number - runs[-1][-1] <= MAX_FRAME_GAP + 1:
            runs[-1].append(number)
        else:
            runs.append([number])
    longest = max(runs, key=len) if runs else []
    keep = set(longest)
    strays += [name for number, name in numbered.items() if number not in keep]
    return {n: numbered[n] for n in longest}, sorted(strays)


@dataclass(frozen=True)
class Span:
    """The frame numbers a clip shows, ``first`` to ``last`` inclusive, and how it got them."""

    first: int
    last: int
    held: int  # frame numbers inside the span with no file, shown as the last present frame
    cut_start: int  # frames the wanted span lost at its start (no file), 0 normally
    cut_end: int  # ... and at its end

    @property
    def frames(self) -> int:
        return self.last - self.first + 1


def present_span(numbers: dict[int, str], first: int, last: int) -> Span | None:
    """The part of ``first..last`` that has frames on disk, or None when it has none."""
    inside = [n for n in numbers if first <= n <= last]
    if not inside:
        return None
    lo, hi = min(inside), max(inside)
    return Span(lo, hi, held=(hi - lo + 1) - len(inside), cut_start=lo - first, cut_end=last - hi)


@dataclass(frozen=True)
class Window:
    """A context window around an expression: its frames and where the expression sits in it."""

    first: int
    last: int
    position: float  # the seeded draw in [0, 1) that placed the expression
    note: str | None  # why the window differs from the one asked for (short recording, long expression)


def context_window(key: str, onset: int, offset: int, record_first: int, record_last: int, fps: float,
                   seconds: float, seed: int) -> Window:
    """A window of ``seconds`` around ``onset..offset`` inside the recording ``record_first..record_last``.

    The expression's start falls at a seeded position in the window (the same for a key and seed on
    every run); a window that would leave the recording is moved inside it. A recording shorter than
    the window is shown whole, and a window shorter than the expression shows the expression.
    """
    length = max(1, int(round(seconds * fps)))
    expression = offset - onset + 1
    position = float(np.random.default_rng(stable_seed(seed, "window", key)).random())
    if length <= expression:
        return Window(onset, offset, position, f"the window ({seconds:g} s) is not longer than the expression "
                                               f"({expression} frames): the expression alone is shown")
    recording = record_last - record_first + 1
    if recording <= length:
        return Window(record_first, record_last, position,
                      f"the recording ({recording} frames) is shorter than the window: shown whole")
    slack = length - expression
    first = onset - int(position * (slack + 1))
    first = min(max(first, record_first), record_last - length + 1)
    return Window(first, first + length - 1, position, None)


def show(folder: Path, numbers: dict[int, str], first: int, last: int, views: Path) -> str:
    """The frame folder a model reads for frames ``first..last`` of ``folder``: the folder itself when it
    holds exactly those frames in that order, else a view of links under ``views`` (made once, reused)."""
    span = range(first, last + 1)
    if len(numbers) == len(span) and all(n in numbers for n in span):
        listed = list_frames(str(folder))
        if listed == [numbers[n] for n in span]:
            return str(folder)
    try:
        stamp = os.stat(folder).st_mtime_ns
    except OSError:
        stamp = 0
    wanted = [numbers.get(n, "") for n in span]
    digest = hashlib.sha256("\n".join([str(Path(folder).resolve()), str(first), str(last), str(stamp), *wanted])
                            .encode()).hexdigest()[:20]
    target = views / digest
    if target.is_dir():
        if len(os.listdir(target)) == len(span):
            return str(target)
        shutil.rmtree(target, ignore_errors=True)  # not the view this clip needs: made again
    views.mkdir(parents=True, exist_ok=True)
    tmp = views / f".{digest}.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    current = None
    for i, n in enumerate(span, start=1):
        current = numbers.get(n, current)  # a gap shows the last present frame (the span starts on one)
        source = Path(folder).resolve() / current
        link = tmp / f"{i:06d}{Path(current).suffix}"
        try:
            os.symlink(source, link)
        except OSError:  # a file system without links: copy
            shutil.copyfile(source, link)
    try:
        os.rename(tmp, target)
    except OSError:  # another process made it first
        shutil.rmtree(tmp, ignore_errors=True)
    return str(target)


def seconds(frame: int, first: int, fps: float) -> float:
    """The time of frame number ``frame`` on the clock of a clip starting at ``first``: the frame-folder
    reader's arithmetic (``round(i / fps, 6)``), so an annotated frame and a sampled one compare equal."""
    return round((frame - first) / fps, 6)


def timing(first: int, last: int, fps: float, onset: int, apex: int | None, offset: int,
           apex_window: float) -> dict:
    """Onset, apex and offset in seconds on the clip's clock, and the apex window the temporal probe
    checks (``apex_start``/``apex_end``: ``apex_window`` seconds centred on the apex, narrowed to stay
    centred inside onset..offset); without an apex, no apex window."""
    out = {"onset_s": seconds(onset, first, fps), "offset_s": seconds(offset, first, fps),
           "clip_s": round((last - first + 1) / fps, 6)}
    if apex is None:
        return out
    apex_s = seconds(apex, first, fps)
    half = min(apex_window / 2, apex_s - out["onset_s"], out["offset_s"] - apex_s)
    out.update(apex_s=apex_s, apex_start=round(apex_s - half, 6), apex_end=round(apex_s + half, 6))
    return out
