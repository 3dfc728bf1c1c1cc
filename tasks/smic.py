"""SMIC: 164 micro-expressions of 16 subjects at 100 fps (HS), 71 of 8 at 25 fps (VIS, NIR) (Li et al., FG 2013).

Release layout (checked against public loaders of the MEGC 2019 composite, which turn its
``s01_ne_01`` into ``SMIC_all_raw/HS/s1/micro/negative/s1_ne_01``, and a SMIC frame reader pointed
at ``SMIC_all_raw/HS/s2/micro/surprise/s2_sur_02/``)::

    SMIC_all_raw/HS/s1/micro/negative/s1_ne_01/image0612345.bmp ...   (media=raw, default)
    SMIC_all_cropped/HS/s1/micro/negative/s1_ne_01/reg_image0612345.bmp (media=cropped)

The label is the folder (negative, positive, surprise); there is no annotation sheet and no apex in
the original release, so a clip is its whole folder and carries onset and offset times but no apex
window (``micro`` is not set, and the ``apex`` frame protocol fails these clips). Frame numbers are
the camera's counters, so a clip starts at whatever number its first file has.

A clip's frames are its folder's run of consecutive numbers (gaps of up to ``MAX_FRAME_GAP`` held);
an image file outside the run (a copy ``image0612345 (1).bmp``, a far-off number) is ignored and
named by ``harness data check``, as is a folder under ``micro/`` whose name is not one of the three
labels (``Negative``, ``neg``): labels are the exact folder names, nothing is guessed. Folders are
checked to lie under the root (no link out of it).
"""

from __future__ import annotations

from pathlib import Path

import harness
from harness.params import Param
from harness.tasks.microexpr_clips import frame_run
from harness.tasks.microexpr_task import MEGC3, Expression, MicroExpressionTask, Problem
from harness.tasks.release_paths import contained

CAMERAS = {"HS": 100.0, "VIS": 25.0, "NIR": 25.0}
MEDIA = {"raw": "SMIC_all_raw", "cropped": "SMIC_all_cropped"}
EMOTIONS = ("negative", "positive", "surprise")
LAYOUT = """  SMIC_all_raw/HS/s1/micro/negative/s1_ne_01/image0612345.bmp   (camera=HS|VIS|NIR, media=raw)
  SMIC_all_cropped/HS/s1/micro/negative/s1_ne_01/reg_image0612345.bmp   (media=cropped)"""


class SMICTask(MicroExpressionTask):
    name = "smic"
    dataset = "smic"
    description = "SMIC micro-expressions (HS 100 fps, VIS/NIR 25 fps; negative, positive, surprise; no apex)"
    folder_names = ("SMIC", "smic")
    layout = LAYOUT
    class_sets = {"3": MEGC3}
    default_classes = "3"
    PARAMS = {**MicroExpressionTask.COMMON,
              "classes": Param(str, "3 (negative, positive, surprise: SMIC's own)", ("3",)),
              "camera": Param(str, "HS (100 fps, default), VIS or NIR (25 fps)", tuple(CAMERAS)),
              "media": Param(str, "raw (SMIC_all_raw, default) or cropped (SMIC_all_cropped)", tuple(MEDIA))}

    def __init__(self, params, context):
        super().__init__(params, context)
        self.camera = self.values.get("camera", "HS")
        self.media = self.values.get("media", "raw")
        self.fps = CAMERAS[self.camera]
        self.official_counts = {"3": {"HS": 164, "VIS": 71, "NIR": 71}[self.camera]}

    def _is_root(self, path: Path) -> bool:
        return (path / MEDIA[self.media] / self.camera).is_dir()

    def params(self) -> dict:
        return {**super().params(), "camera": self.camera, "media": self.media}

    def numbers(self, folder: Path) -> dict[int, str]:
        """The clip's run of frames (:func:`frame_run`); the files outside it are reported, not shown."""
        if folder not in self._frames:
            self._frames[folder], strays = frame_run(folder)
            if strays:
                run = self._frames[folder]
                where = f"frames {min(run)}..{max(run)}" if run else "no run of frames"
                shown = ", ".join(strays[:5]) + (f" and {len(strays) - 5} more" if len(strays) > 5 else "")
                self._problems.append(Problem(str(folder.relative_to(self.root)), "-", folder.name,
                                              f"{len(strays)} image file(s) outside the clip's {where}: {shown}",
                                              "ignored (not shown to models); remove them from the folder"))
        return self._frames[folder]

    def _expressions(self) -> list[Expression]:
        base = self.root / MEDIA[self.media] / self.camera
        out = []
        for subject in sorted((p for p in base.iterdir() if p.is_dir()), key=lambda p: _number(p.name)):
            micro = subject / "micro"
            if micro.is_dir():
                for other in sorted(p.name for p in micro.iterdir() if p.is_dir() and p.name not in EMOTIONS):
                    self._problems.append(Problem(str((micro / other).relative_to(self.root)), "-", other,
                                                  f"folder {other!r} is not a label (labels are the folders "
                                                  f"{', '.join(EMOTIONS)}, spelled exactly)", "skipped"))
            for emotion in EMOTIONS:
                folder = micro / emotion
                if not folder.is_dir():
                    continue
                for clip in sorted(p for p in folder.iterdir() if p.is_dir()):
                    relative = f"{subject.name}/micro/{emotion}/{clip.name}"
                    where = f"{MEDIA[self.media]}/{self.camera}/{relative}"
                    clip = contained(base, relative, where)
                    numbers = self.numbers(clip)
                    first, last = (min(numbers), max(numbers)) if numbers else (0, 0)
                    out.append(Expression(key=clip.name, subject=subject.name, raw_label=emotion, folder=clip,
                                          onset=first, apex=None, offset=last, file=where, row="-",
                                          meta={"camera": self.camera}, has_apex=False))
        return out


def _number(name: str) -> tuple:
    digits = "".join(ch for ch in name if ch.isdigit())
    return (int(digits) if digits else 0, name)


@harness.hookimpl
def harness_register_tasks(register):
    register("smic", SMICTask, description=SMICTask.description)
