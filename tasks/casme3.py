"""CAS(ME)^3 Part A: 860 micro-expressions coded on whole recordings at 30 fps (Li et al., IEEE TPAMI 2022).

Release layout (checked against public loaders: tvaranka/meb ``config/dataset_config.py`` and
``tools/create_sym_links.sh`` read ``part_A/annotation/cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx`` and
``part_A/data/...``; a CASME3 preprocessing script reads ``data/<variant>/<Subject>/<Filename>/color/
{N}.jpg`` and skips missing frames; another loader reports ``spNO.216_e_0/0.jpg does not exist``)::

    part_A/annotation/cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx   sheet label
    part_A/data/<variant>/spNO.1/a/color/1.jpg ...                  whole recordings, some frames missing

The sheet's columns are ``Subject | Filename | Onset | Apex | Offset | AU | Objective class | emotion``;
``N`` is the annotation's frame index. (Subject, Filename) is not unique, since a recording holds
several expressions, so the onset is part of the sample id (``spNO.1/a/123``). A handful of rows have
impossible frame numbers (an offset before its onset, frame 0): they are reported and, if they cannot
be placed, left out. ``<variant>`` is the one folder under ``part_A/data`` (name it with ``variant=``
when there are several).

Because the recordings are whole, an expression can be shown inside a longer **context window**:
``window=3`` shows 3 s around each expression, the expression starting at a seeded position in it
(``window_seed=``; recorded per sample as ``window_first_frame``, ``window_position`` and the times
on the window's clock). That is how a model meets a micro-expression in the wild.

Classes: ``classes=7`` (default: happiness, disgust, fear, anger, sadness, surprise, others, from the
``emotion`` column), ``4`` (positive, negative, surprise, others), ``3`` (the MEGC 2019 grouping).
"""

from __future__ import annotations

from pathlib import Path

import harness
from harness.errors import DataError, UsageError
from harness.params import Param
from harness.tasks.microexpr_sheets import frame_value, read_rows
from harness.tasks.microexpr_task import MEGC3, Expression, MicroExpressionTask
from harness.tasks.release_paths import contained

ANNOTATION = "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx"
ANNOTATION_DIRS = ("part_A/annotation", "part_A", "annotation", ".")
LAYOUT = """  part_A/annotation/cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx   (sheet label)
  part_A/data/<variant>/spNO.1/a/color/1.jpg ...                  (whole recordings)"""


class CASME3Task(MicroExpressionTask):
    name = "casme3"
    dataset = "casme3"
    description = "CAS(ME)^3 Part A micro-expressions (30 fps; 7, 4 or MEGC 3 classes); window=S for context"
    fps = 30.0
    folder_names = ("CASME3", "CAS(ME)3", "CAS(ME)^3", "casme3")
    layout = LAYOUT
    class_sets = {"7": ("happiness", "disgust", "fear", "anger", "sadness", "surprise", "others"),
                  "4": ("positive", "negative", "surprise", "others"),
                  "3": MEGC3}
    default_classes = "7"
    official_counts = {"7": 860}
    clip_per_folder = False  # a folder is a recording: the onset tells its clips apart
    PARAMS = {**MicroExpressionTask.COMMON,
              "classes": Param(str, "7 (default), 4 or 3 (MEGC 2019 grouping)", ("7", "4", "3")),
              "window": Param(float, "seconds of context around each expression (default: onset to offset)", low=0, high=600),
              "window_seed": Param(int, "seed of where each expression sits in its window (default 0)"),
              "variant": Param(str, "the folder under part_A/data (default: the only one)"),
              "annotation": Param(str, f"the label file (default {ANNOTATION}, looked for in part_A/annotation)")}

    def __init__(self, params, context):
        super().__init__(params, context)
        window = self.values.get("window")
        if window is not None and window <= 0:
            raise UsageError(f"{self.name}: window is a length in seconds (> 0), got {window}")
        self.window = window
        self.window_seed = int(self.values.get("window_seed", 0))

    def _is_root(self, path: Path) -> bool:
        return (path / "part_A" / "data").is_dir()

    def annotation_file(self) -> Path:
        name = str(self.values.get("annotation", ANNOTATION))
        candidates = [self.root / d / name for d in ANNOTATION_DIRS]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise DataError(f"{self.name}: annotation {name!r} not found; looked in "
                            f"{', '.join(str(c.parent) for c in candidates)}")
        return found

    def data_dir(self) -> Path:
        base = self.root / "part_A" / "data"
        if self.values.get("variant"):
            folder = base / str(self.values["variant"])
            if not folder.is_dir():
                raise UsageError(f"{self.name}: no folder {folder}")
            return folder
        variants = sorted(p for p in base.iterdir() if p.is_dir())
        if len(variants) != 1:
            raise UsageError(f"{self.name}: {base} holds {len(variants)} folders "
                             f"({', '.join(p.name for p in variants) or 'none'}); name one with variant=")
        return variants[0]

    def params(self) -> dict:
        out = super().params()
        if self._root is not None and self._samples is not None:
            out["variant"] = self.data_dir().name
        return out

    def _expressions(self) -> list[Expression]:
        path = self.annotation_file()
        rows = read_rows(path, ("subject", "filename", "onset", "apex", "offset", "emotion"),
                         ("action_units", "objective_class"), sheet="label")
        data = self.data_dir()
        out = []
        for row in rows:
            subject, filename = row.text("subject"), row.text("filename")
            if not subject or not filename:
                raise DataError(f"{row.where}: Subject and Filename must both be given")
            onset = frame_value(row.cells["onset"]).number  # '040' and 40 are one onset
            out.append(Expression(key=f"{subject}/{filename}/{row.text('onset') if onset is None else onset}",
                                  subject=subject,
                                  raw_label=row.text("emotion"),
                                  folder=contained(data, (subject, filename, "color"), row.where),
                                  onset=row.cells["onset"], apex=row.cells["apex"], offset=row.cells["offset"],
                                  file=f"{path.name} [{row.sheet}]", row=row.number,
                                  meta={"action_units": row.text("action_units"),
                                        "objective_class": row.text("objective_class"), "recording": filename}))
        return out


@harness.hookimpl
def harness_register_tasks(register):
    register("casme3", CASME3Task, description=CASME3Task.description)
