"""CASME II: 255 coded micro-expressions of 26 subjects, filmed at 200 fps (Yan et al., PLoS ONE 2014).

Release layout (checked against public loaders: tvaranka/meb ``meb/datasets/datasets.py`` reads
``CASME2_RAW_selected/sub{NN}/{Filename}/img{N}.jpg`` and the cropped
``Cropped/sub{NN}/{Filename}/reg_img{N}.jpg``; davidnvq/me_recognition
``datasets/casme_apex.csv`` lists ``sub01/EP02_01f`` with onset 46, apex 59, offset 86 as
``img46.jpg`` ... ``img86.jpg``)::

    CASME2-coding-20140508.xlsx            Sheet1, header in row 1
    CASME2_RAW_selected/sub01/EP02_01f/img46.jpg ... img86.jpg     (media=raw, default)
    Cropped/sub01/EP02_01f/reg_img46.jpg ...                       (media=cropped; some copies: img46.jpg)

``N`` is the annotation's frame number, not zero-padded, and each folder runs from the onset to the
offset frame. The header is ``Subject | Filename | (blank) | OnsetFrame | ApexFrame | OffsetFrame |
(blank) | Action Units | Estimated Emotion``; ``Subject`` is text (``'01'`` is ``sub01``). One apex is
``/`` (sub04 EP12_01f: see the ``casme2-apex`` correction table); sub05 EP09_05f's apex equals its onset
(kept: possible, if odd). ``CASME2-coding-20190701.xlsx`` adds ``Objective Classes`` (read with
``annotation=CASME2-coding-20190701.xlsx``). Some copies nest ``CASME2_RAW_selected/CASME2_RAW_selected``.

Classes: ``classes=5`` (default; happiness, disgust, repression, surprise, others: 246 clips in the
2014-05-08 file, fear and sadness left out), ``7`` (all 255), ``3`` (the MEGC 2019 grouping).
"""

from __future__ import annotations

from pathlib import Path

import harness
from harness.errors import DataError, UsageError
from harness.params import Param
from harness.tasks.microexpr_sheets import read_rows
from harness.tasks.microexpr_task import MEGC3, Expression, MicroExpressionTask
from harness.tasks.release_paths import contained

ANNOTATIONS = ("CASME2-coding-20140508.xlsx", "CASME2-coding-20190701.xlsx")
MEDIA = {"raw": "CASME2_RAW_selected", "cropped": "Cropped"}
LAYOUT = """  CASME2-coding-20140508.xlsx                     (Sheet1: Subject, Filename, OnsetFrame, ApexFrame, ...)
  CASME2_RAW_selected/sub01/EP02_01f/img46.jpg    (media=raw, default)
  Cropped/sub01/EP02_01f/reg_img46.jpg            (media=cropped)"""


def subject_folder(subject: str) -> str:
    """``'01'``, ``1`` or ``'sub01'`` -> ``'sub01'``."""
    text = subject.strip()
    if text.lower().startswith("sub"):
        text = text[3:]
    return f"sub{int(text):02d}" if text.isdigit() else f"sub{text}"


class CASME2Task(MicroExpressionTask):
    name = "casme2"
    dataset = "casme2"
    description = "CASME II micro-expressions (200 fps; 5, 7 or MEGC 3 classes), onset-to-offset clips"
    fps = 200.0
    folder_names = ("CASME2", "CASME II", "CASMEII", "casme2")
    layout = LAYOUT
    class_sets = {"5": ("happiness", "disgust", "repression", "surprise", "others"),
                  "7": ("happiness", "disgust", "repression", "surprise", "others", "fear", "sadness"),
                  "3": MEGC3}
    default_classes = "5"
    PARAMS = {**MicroExpressionTask.COMMON,
              "classes": Param(str, "5 (default), 7 or 3 (MEGC 2019 grouping)", ("5", "7", "3")),
              "media": Param(str, "raw (CASME2_RAW_selected, default) or cropped (Cropped)", ("raw", "cropped")),
              "annotation": Param(str, "the coding file under the root (default CASME2-coding-20140508.xlsx)")}

    def __init__(self, params, context):
        super().__init__(params, context)
        self.media = self.values.get("media", "raw")

    def expected_counts(self) -> dict[str, int | None]:
        """246 (5 classes) and 255 (7) clips in the 2014-05-08 coding file; unknown for other files."""
        try:
            name = self.annotation_file().name
        except (UsageError, IndexError):
            return {"test": None}  # not found: reading the samples says why
        counts = {"5": 246, "7": 255} if name == ANNOTATIONS[0] else {}
        return {"test": counts.get(self.class_set)}

    def _is_root(self, path: Path) -> bool:
        return any((path / a).is_file() for a in ANNOTATIONS) or any(path.glob("CASME2-coding-*.xlsx"))

    def annotation_file(self) -> Path:
        if self.values.get("annotation"):
            return self.root / str(self.values["annotation"])
        found = [self.root / a for a in ANNOTATIONS if (self.root / a).is_file()]
        return found[0] if found else sorted(self.root.glob("CASME2-coding-*.xlsx"))[0]

    def params(self) -> dict:
        return {**super().params(), "media": self.media}

    def media_dir(self) -> Path:
        folder = self.root / MEDIA[self.media]
        if (folder / MEDIA[self.media]).is_dir():  # some copies nest the folder in itself
            folder = folder / MEDIA[self.media]
        if not folder.is_dir():
            raise UsageError(f"{self.name}: no {MEDIA[self.media]} folder in {self.root} (media={self.media}); "
                             f"expected layout:\n{LAYOUT}")
        return folder

    def _expressions(self) -> list[Expression]:
        path = self.annotation_file()
        rows = read_rows(path, ("subject", "filename", "onset", "apex", "offset", "emotion"),
                         ("action_units", "objective_class"), sheet="Sheet1")
        media = self.media_dir()
        out = []
        for row in rows:
            subject, filename = row.text("subject"), row.text("filename")
            if not subject or not filename:
                raise DataError(f"{row.where}: Subject and Filename must both be given")
            try:
                folder_name = subject_folder(subject)
            except ValueError:
                raise DataError(f"{row.where}: Subject {subject!r} is not a subject number") from None
            meta = {"action_units": row.text("action_units")}
            if row.text("objective_class"):
                meta["objective_class"] = row.text("objective_class")
            folder = contained(media, (folder_name, filename), row.where)
            out.append(Expression(key=f"{folder_name}/{filename.rstrip('/')}", subject=folder_name,
                                  raw_label=row.text("emotion"), folder=folder,
                                  onset=row.cells["onset"], apex=row.cells["apex"], offset=row.cells["offset"],
                                  file=f"{path.name} [{row.sheet}]", row=row.number, meta=meta))
        return out


@harness.hookimpl
def harness_register_tasks(register):
    register("casme2", CASME2Task, description=CASME2Task.description)
