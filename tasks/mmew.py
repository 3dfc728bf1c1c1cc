"""MMEW: 300 micro-expressions of 36 subjects at 90 fps (Ben et al., IEEE TPAMI 2021).

Release layout (checked against public loaders: tvaranka/meb reads ``MMEW_Micro_Exp.xlsx`` and frames
from ``Micro_Expression/{Estimated Emotion}/{Filename}/``; another loader reads frames ``1.jpg`` up to
the offset frame from ``Micro_Expression/<emotion>/<Filename>/``; a third documents
``MMEW_Final/Micro_Expression/anger/S13-07-001/1.jpg`` beside ``MMEW_Micro_Exp.xlsx``)::

    MMEW_Micro_Exp.xlsx                              Subject, Filename, OnsetFrame, ApexFrame, OffsetFrame,
                                                     Action Units, Estimated Emotion, remarks
    Micro_Expression/anger/S13-07-001/1.jpg ...      (frames numbered from 1; the annotation uses them)

``Micro_Expression`` may also sit in ``MMEW/`` or ``MMEW_Final/`` under the root. The layout was checked
against public loaders only, not a copy of the release: ``harness data check mmew`` says whether a
copy matches it.

Classes: ``classes=7`` (default: happiness, anger, surprise, disgust, fear, sadness, others), ``3``
(the MEGC 2019 grouping, others left out).
"""

from __future__ import annotations

from pathlib import Path

import harness
from harness.errors import DataError, UsageError
from harness.params import Param
from harness.tasks.microexpr_sheets import read_rows
from harness.tasks.microexpr_task import MEGC3, AnnotationAtRoot, Expression, MicroExpressionTask
from harness.tasks.release_paths import contained

ANNOTATION = "MMEW_Micro_Exp.xlsx"
FRAME_DIRS = ("Micro_Expression", "MMEW/Micro_Expression", "MMEW_Final/Micro_Expression")
LAYOUT = """  MMEW_Micro_Exp.xlsx                           (Subject, Filename, OnsetFrame, ApexFrame, OffsetFrame, ...)
  Micro_Expression/anger/S13-07-001/1.jpg ...   (frames numbered from 1)"""


class MMEWTask(AnnotationAtRoot, MicroExpressionTask):
    default_annotation = ANNOTATION
    name = "mmew"
    dataset = "mmew"
    description = "MMEW micro-expressions (90 fps; 7 or MEGC 3 classes), onset-to-offset clips"
    fps = 90.0
    folder_names = ("MMEW", "MMEW_Final", "mmew")
    layout = LAYOUT
    class_sets = {"7": ("happiness", "anger", "surprise", "disgust", "fear", "sadness", "others"), "3": MEGC3}
    default_classes = "7"
    official_counts = {"7": 300}
    PARAMS = {**MicroExpressionTask.COMMON,
              "classes": Param(str, "7 (default) or 3 (MEGC 2019 grouping)", ("7", "3")),
              "annotation": Param(str, f"the coding file under the root (default {ANNOTATION})")}

    def frames_dir(self) -> Path:
        for d in FRAME_DIRS:
            if (self.root / d).is_dir():
                return self.root / d
        raise UsageError(f"{self.name}: no Micro_Expression folder in {self.root} (looked for "
                         f"{', '.join(FRAME_DIRS)}); expected layout:\n{LAYOUT}")

    def _expressions(self) -> list[Expression]:
        path = self.annotation_file()
        rows = read_rows(path, ("subject", "filename", "onset", "apex", "offset", "emotion"), ("action_units",))
        frames = self.frames_dir()
        out = []
        for row in rows:
            subject, filename, emotion = row.text("subject"), row.text("filename"), row.text("emotion")
            if not subject or not filename:  # a merged Subject cell reads blank below its first row
                raise DataError(f"{row.where}: Subject and Filename must both be given (a blank or merged "
                                f"cell gives none); write the subject in every row")
            folder = contained(frames, (emotion, filename), row.where)
            if not folder.is_dir() and (frames / emotion.lower() / filename).is_dir():
                folder = contained(frames, (emotion.lower(), filename), row.where)
            out.append(Expression(key=filename.rstrip("/"), subject=subject, raw_label=emotion, folder=folder,
                                  onset=row.cells["onset"], apex=row.cells["apex"], offset=row.cells["offset"],
                                  file=f"{path.name} [{row.sheet}]", row=row.number,
                                  meta={"action_units": row.text("action_units")}))
        return out


@harness.hookimpl
def harness_register_tasks(register):
    register("mmew", MMEWTask, description=MMEWTask.description)
