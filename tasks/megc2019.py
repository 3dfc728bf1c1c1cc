"""The MEGC 2019 composite: 442 micro-expressions of SMIC-HS, CASME II and SAMM in three classes.

Membership and labels are the challenge's public ground-truth file, ``combined_3class_gt.csv``
(Facial-Micro-ExpressionGC/MEGC2019, published there as ``images/combined_3class_gt-2.csv``): no
header, one ``db,subject,filename,class`` row per clip, class 0 negative, 1 positive, 2 surprise; the
published copy has an empty ``,,,`` line after every row. 442 clips of 68 subjects (SMIC-HS 164,
CASME II 145, SAMM 133; negative 250, positive 109, surprise 83). It names SMIC clips ``s01`` /
``s01_ne_01`` where the disk has ``s1`` / ``s1_ne_01``, and SAMM subjects ``6`` where the disk has
``006``. The clips themselves, their onset/apex/offset and corrections come from each dataset's own
task (``casme2``, ``samm``, ``smic:camera=HS``), so a composite clip is timed exactly as in its dataset.

The challenge scores **UF1 and UAR** on predictions pooled over all samples (per-class F1 and recall
from pooled TP, FP, FN, then averaged over the three classes), also per source dataset: UF1 is the
harness's macro-F1 on the task; ``pooled_scores(rows)`` gives both, overall and per dataset (the
``dataset`` group of the results also carries each dataset's UAR). The LBP-TOP baseline of the
challenge description scores UF1 0.5882, UAR 0.5785 on the composite (trained leave-one-subject-out,
unlike a zero-shot model).

Files: ``gt=PATH`` (default ``MEGC2019/combined_3class_gt.csv`` or ``combined_3class_gt.csv`` under
--data-dir); each dataset where its own task finds it, or ``casme2_root=``, ``samm_root=``, ``smic_root=``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import harness
from harness.context import Context
from harness.errors import DataError, UsageError
from harness.params import Param, check_args
from harness.release import read_text_lines
from harness.tasks.casme2 import CASME2Task, subject_folder
from harness.tasks.microexpr_task import MEGC3, OneSplit, Problem, aliases_for, pooled_scores
from harness.tasks.samm import SAMMTask
from harness.tasks.smic import SMICTask
from harness.types import FrameProtocol, Sample

GT_NAMES = ("combined_3class_gt.csv", "combined_3class_gt-2.csv")
SOURCES = ("casme2", "samm", "smic")


def disk_key(db: str, subject: str, filename: str) -> str:
    """The sample id the source dataset's task gives a ground-truth row: ``casme2,sub01,EP02_01f`` ->
    ``sub01/EP02_01f``; ``smic,s01,s01_ne_01`` -> ``s1_ne_01``; ``samm,6,006_1_2`` -> ``006_1_2``."""
    if db == "casme2":
        return f"{subject_folder(subject)}/{filename}"
    if db == "smic":
        digits = subject.lstrip("sS")
        disk = f"s{int(digits)}" if digits.isdigit() else subject
        return disk + filename[len(subject):] if filename.startswith(subject) else filename
    return filename


class MEGC2019Task(OneSplit):
    name = "megc2019"
    version = "1"
    description = "MEGC 2019 composite: SMIC-HS + CASME II + SAMM, negative/positive/surprise (442 clips)"
    classes = MEGC3
    aliases = aliases_for(MEGC3)
    frame_protocol = FrameProtocol(strategy="segment", num_frames=16)
    PARAMS = {"gt": Param(str, "combined_3class_gt.csv (default: under --data-dir or its MEGC2019 folder)"),
              "casme2_root": Param(str, "CASME II release folder"), "samm_root": Param(str, "SAMM release folder"),
              "smic_root": Param(str, "SMIC release folder"),
              "casme2_media": Param(str, "raw (default) or cropped", ("raw", "cropped")),
              "smic_media": Param(str, "raw (default) or cropped", ("raw", "cropped")),
              "apex_window": Param(float, "seconds of the apex window centred on the apex (default 0.1)"),
              "corrections": Param(str, "default or none (each dataset's correction tables)", ("default", "none"))}

    def __init__(self, params: dict[str, Any], context: Context):
        self.values = check_args(self.name, params, self.PARAMS)
        self.context = context
        shared = {k: self.values[k] for k in ("apex_window", "corrections") if k in self.values}

        def sub(prefix: str, extra: dict) -> dict:
            out = {**shared, **extra}
            for key in ("root", "media"):
                if f"{prefix}_{key}" in self.values:
                    out[key] = self.values[f"{prefix}_{key}"]
            return out
        self.sources = {"casme2": CASME2Task(sub("casme2", {"classes": "7"}), context),
                        "samm": SAMMTask(sub("samm", {"classes": "8"}), context),
                        "smic": SMICTask(sub("smic", {"camera": "HS"}), context)}
        self.version = "+".join(["1", *(t.ident for s in self.sources.values() for t in s.tables)])
        self._samples: list[Sample] | None = None
        self._problems: list[Problem] = []
        self._left_out: Counter = Counter()
        self._gt: Path | None = None

    def gt_file(self) -> Path:
        if self._gt is None:
            if self.values.get("gt"):
                candidates = [Path(str(self.values["gt"])).expanduser()]
            elif self.context.data_dir:
                base = Path(self.context.data_dir).expanduser()
                candidates = [d / n for d in (base / "MEGC2019", base) for n in GT_NAMES]
            else:
                raise UsageError(f"{self.name}: no data location given: pass --data-dir DIR (with "
                                 f"DIR/MEGC2019/combined_3class_gt.csv) or {self.name}:gt=PATH")
            found = next((c for c in candidates if c.is_file()), None)
            if found is None:
                raise UsageError(f"{self.name}: the ground-truth file is missing; looked for "
                                 f"{', '.join(map(str, candidates))}")
            self._gt = found
        return self._gt

    @property
    def root(self) -> Path:
        """The folder of the ground-truth file (each dataset has its own root: ``params()['sources']``)."""
        return self.gt_file().parent

    def expected_counts(self) -> dict[str, int | None]:
        return {"test": 442}

    def group(self, sample: Sample) -> str | None:
        return sample.meta.get("dataset")

    def params(self) -> dict[str, Any]:
        return {"gt": str(self._gt or self.values.get("gt") or ""), "left_out": dict(self._left_out),
                "sources": {name: task.params() for name, task in self.sources.items()}}

    def annotation_problems(self, split: str | None = None) -> list[dict[str, Any]]:
        """The ground-truth file's problems and the source annotations' problems of its clips."""
        self.samples(split)
        return [p.to_dict() for p in self._problems]

    def pooled_scores(self, rows: Sequence[dict], by: str | None = "dataset") -> dict[str, Any]:
        """UF1 and UAR pooled over all samples, and per source dataset (:func:`pooled_scores`)."""
        return pooled_scores(rows, self.classes, by)

    def _build(self) -> list[Sample]:
        path = self.gt_file()
        by_source = {name: {s.id: s for s in task.samples()} for name, task in self.sources.items()}
        problems = {name: {p["key"]: p for p in task.annotation_problems()} for name, task in self.sources.items()}
        samples, seen, wanted = [], {}, {name: set() for name in SOURCES}
        clips: dict[tuple[str, str], int] = {}
        for number, line in read_text_lines(path):
            fields = [f.strip() for f in line.split(",")]
            if not any(fields):
                continue  # the published copy's empty ",,," lines
            where = f"{path}:{number}"
            if number == 1 and fields[0].lower() in ("dataset", "db", "data"):
                continue  # a header some tools add
            if len(fields) != 4:
                raise DataError(f"{where}: expected 'db,subject,filename,class', got {line!r}")
            db, subject, filename, cls = fields
            if db not in SOURCES:
                raise DataError(f"{where}: unknown dataset {db!r}; the composite's are {', '.join(SOURCES)}")
            if cls not in ("0", "1", "2"):
                raise DataError(f"{where}: class {cls!r} must be 0 (negative), 1 (positive) or 2 (surprise)")
            sample_id = f"{db}/{subject}/{filename}"
            if sample_id in seen:
                raise DataError(f"{where}: duplicate clip {sample_id!r} (first at line {seen[sample_id]})")
            seen[sample_id] = number
            key = disk_key(db, subject, filename)
            if (db, key) in clips:  # 's01'/'s1', '6'/'006': one clip written two ways
                raise DataError(f"{where}: {db} {subject},{filename} is the clip of line {clips[db, key]} "
                                f"({db} {key}) written another way; each clip must be listed once")
            clips[db, key] = number
            wanted[db].add(key)
            source = by_source[db].get(key)
            if source is None:
                known = problems[db].get(key)
                reason = (f"{db} {key}: {known['reason']}" if known
                          else f"{db} {key}: not among the {db} task's clips (annotation or frame folder missing)")
                self._problems.append(Problem(path.name, number, sample_id, reason, "left out"))
                self._left_out["not found in its dataset"] += 1
                continue
            meta = {**source.meta, "dataset": db, "subject": f"{db}/{subject}", "source_id": source.id,
                    "source_label": source.label}
            samples.append(Sample(id=sample_id, label=MEGC3[int(cls)], media=source.media, fps=source.fps,
                                  meta=meta))
        for db in SOURCES:  # the source annotations' problems of the composite's own clips
            self._problems += [Problem(**p) for key, p in problems[db].items() if key in wanted[db]
                               and p["action"] != "left out"]
        if not samples:
            raise DataError(f"{path}: the ground-truth file lists no clip that could be found")
        return samples


@harness.hookimpl
def harness_register_tasks(register):
    register("megc2019", MEGC2019Task, description=MEGC2019Task.description)
