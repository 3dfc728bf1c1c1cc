"""``harness data check``: is a local copy of a release complete and readable?

For each evaluated split: the split file parses, its sample count matches
the official release, every referenced clip or frame folder exists, and a
seeded sample of them decodes with the task's frame protocol. A task that can
say what is wrong with its annotation (an ``annotation_problems(split)`` method
returning dicts with ``file``, ``row`` and ``reason``, optionally ``key`` and
``action``) has those problems listed too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from harness.errors import DataError, MediaError
from harness.frames.folder import list_frames
from harness.frames.load import load_frames
from harness.task import Task


@dataclass
class CheckReport:
    rows: list[list] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _media_problem(path: str) -> str | None:
    if os.path.isdir(path):
        return None if list_frames(path) else f"{path}: frame folder holds no images"
    if os.path.isfile(path):
        return None if os.path.getsize(path) > 0 else f"{path}: empty file"
    return f"{path}: missing"


def _annotation_problems(task: Task, split: str, shown: int) -> list[str]:
    """The task's own account of its annotation's problems, one line each: file, row, reason."""
    method = getattr(task, "annotation_problems", None)
    if not callable(method):
        return []
    found = method(split)
    lines = [f"{split}: {p['file']} row {p['row']}" + (f" ({p['key']})" if p.get("key") else "")
             + f": {p['reason']}" + (f"; {p['action']}" if p.get("action") else "") for p in found[:shown]]
    if len(found) > shown:
        lines.append(f"{split}: ... and {len(found) - shown} more annotation problems")
    return lines


def check(task: Task, decode: int = 20, seed: int = 0, shown: int = 10) -> CheckReport:
    report = CheckReport()
    expected = task.expected_counts() if hasattr(task, "expected_counts") else {}
    for split in task.splits():
        try:
            samples = task.samples(split)
        except DataError as exc:
            report.problems.append(f"{split}: {exc}")
            report.rows.append([split, "unreadable", expected.get(split) or "-", "-", "-"])
            continue
        report.problems += _annotation_problems(task, split, shown)
        official = expected.get(split)
        if official is not None and len(samples) != official:
            report.problems.append(f"{split}: {len(samples)} samples, the official release has {official}")
        missing = [(s, p) for s in samples if (p := _media_problem(s.media))]
        for sample, problem in missing[:shown]:
            report.problems.append(f"{split}: sample {sample.id}: {problem}")
        if len(missing) > shown:
            report.problems.append(f"{split}: ... and {len(missing) - shown} more samples with missing media")
        present = [s for s in samples if os.path.exists(s.media)]
        rng = np.random.default_rng(seed)
        picked = [present[i] for i in sorted(rng.choice(len(present), size=min(decode, len(present)),
                                                        replace=False))] if present else []
        bad = 0
        for sample in picked:
            try:
                load_frames(sample, task.frame_protocol)
            except (MediaError, ValueError, OSError) as exc:
                bad += 1
                report.problems.append(f"{split}: sample {sample.id}: does not decode: {exc}")
        report.rows.append([split, len(samples), official if official is not None else "-",
                            len(missing), f"{len(picked) - bad}/{len(picked)}"])
    return report
