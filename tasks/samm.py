"""SAMM: 159 micro-expressions of 32 subjects, grayscale, 200 fps (Davison et al., IEEE TAC 2018).

Release layout (checked against public loaders: tvaranka/meb ``meb/datasets/datasets.py`` reads the
sheet's header from its 14th row, ``df.loc[12]`` after pandas took row 1 as a header, and frames from
``SAMM/{subject}/{Filename}/``; davidnvq/me_recognition ``datasets/samm_apex.csv`` lists
``006/006_1_2/006_05562.jpg`` for onset 5562, and ``006_0180.jpg`` for onset 180: the frame number's
padding varies, so the number is read from the name, not formatted)::

    SAMM_Micro_FACS_Codes_v2.xlsx       sheet MICRO_ONLY: notes in rows 1-13, the header in row 14
    SAMM/006/006_1_2/006_05562.jpg ...  (or the subject folders directly under the root)

Header: ``Subject | Filename | Inducement Code | Onset Frame | Apex Frame | Offset Frame | Duration |
Micro | Action Units | Estimated Emotion | Objective Classes | Notes``; the subject is ``006`` or ``6``.
Two circulating versions differ on the apex of 028_4_1 and 032_3_1 (one puts it outside the clip:
the ``samm-apex`` correction table). Emotions: Anger, Contempt, Happiness, Surprise, Other(s),
Disgust, Fear, Sadness.

Classes: ``classes=5`` (default: anger, contempt, happiness, surprise, others, the common 5-class
protocol, 136 clips: Anger 57, Contempt 12, Happiness 26, Surprise 15, Other 26, as a public 5-class
loader counts them), ``8`` (all 159), ``3`` (the MEGC 2019 grouping: 133 clips, the composite's SAMM
share).
"""

from __future__ import annotations

from pathlib import Path

import harness
from harness.errors import DataError
from harness.params import Param
from harness.tasks.microexpr_sheets import read_rows
from harness.tasks.microexpr_task import MEGC3, AnnotationAtRoot, Expression, MicroExpressionTask
from harness.tasks.release_paths import contained

ANNOTATION = "SAMM_Micro_FACS_Codes_v2.xlsx"
LAYOUT = """  SAMM_Micro_FACS_Codes_v2.xlsx        (sheet MICRO_ONLY, header in row 14)
  SAMM/006/006_1_2/006_05562.jpg ...   (or 006/006_1_2/... directly under the root)"""


def subject_folder(subject: str) -> str:
    """``6``, ``'6'`` or ``'006'`` -> ``'006'``."""
    text = subject.strip()
    return f"{int(text):03d}" if text.isdigit() else text


class SAMMTask(AnnotationAtRoot, MicroExpressionTask):
    default_annotation = ANNOTATION
    name = "samm"
    dataset = "samm"
    description = "SAMM micro-expressions (200 fps, grayscale; 5, 8 or MEGC 3 classes), onset-to-offset clips"
    fps = 200.0
    folder_names = ("SAMM", "samm")
    layout = LAYOUT
    class_sets = {"5": ("anger", "contempt", "happiness", "surprise", "others"),
                  "8": ("anger", "contempt", "happiness", "surprise", "others", "disgust", "fear", "sadness"),
                  "3": MEGC3}
    default_classes = "5"
    official_counts = {"5": 136, "8": 159, "3": 133}
    PARAMS = {**MicroExpressionTask.COMMON,
              "classes": Param(str, "5 (default), 8 or 3 (MEGC 2019 grouping)", ("5", "8", "3")),
              "annotation": Param(str, f"the coding file under the root (default {ANNOTATION})")}

    def frames_dir(self) -> Path:
        nested = self.root / "SAMM"
        return nested if nested.is_dir() else self.root

    def _expressions(self) -> list[Expression]:
        path = self.annotation_file()
        rows = read_rows(path, ("subject", "filename", "onset", "apex", "offset", "emotion"),
                         ("action_units", "objective_class"), sheet="MICRO_ONLY")
        frames = self.frames_dir()
        out = []
        for row in rows:
            subject, filename = row.text("subject"), row.text("filename")
            if not subject or not filename:
                raise DataError(f"{row.where}: Subject and Filename must both be given")
            folder = subject_folder(subject)
            out.append(Expression(key=filename.rstrip("/"), subject=folder, raw_label=row.text("emotion"),
                                  folder=contained(frames, (folder, filename), row.where), onset=row.cells["onset"],
                                  apex=row.cells["apex"], offset=row.cells["offset"],
                                  file=f"{path.name} [{row.sheet}]", row=row.number,
                                  meta={"action_units": row.text("action_units"),
                                        "objective_class": row.text("objective_class")}))
        return out


@harness.hookimpl
def harness_register_tasks(register):
    register("samm", SAMMTask, description=SAMMTask.description)
