"""FERV39k: 7 classes, 22 scenes; the official test split of 7,847 clips.

Split files ``4_setups/All_scenes/{train,test}_All.csv``: despite the name,
space-separated with no header, ``Action/Sad/0010 Sad`` (scene/emotion/clip,
then the class name). Media: ``2_ClipsforFaceCrop/<Scene>/<Emotion>/<clip>/*.jpg``.
The face-crop folders carry no frame rate, so fps sampling needs ``fps=...``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import harness
from harness.context import Context
from harness.emotions import BASIC7, SYNONYMS
from harness.errors import DataError, UsageError
from harness.release import ReleaseTask, check_unique, find_root, inside, nonempty, read_text_lines
from harness.task import ClassPrior, Task
from harness.types import FrameProtocol, Sample

SPLIT_DIR = "4_setups/All_scenes"
MEDIA_DIR = "2_ClipsforFaceCrop"
LAYOUT = """  4_setups/All_scenes/test_All.csv      ('Action/Sad/0010 Sad' per line)
  2_ClipsforFaceCrop/Action/Sad/0010/*.jpg"""


class FERV39kTask(ReleaseTask, Task):
    name = "ferv39k"
    version = "1"
    description = "FERV39k official test split (7 classes, 22 scenes)"
    classes = BASIC7
    aliases = SYNONYMS
    frame_protocol = FrameProtocol(strategy="segment", num_frames=16)
    official_counts = {"test": 7847, "train": 31088}
    media_fps = {"frames": None}

    def __init__(self, params: dict, context: Context):
        self._setup(params, context, ("split", "root", "fps"))
        self.split = str(params.get("split", "test"))
        if self.split not in ("test", "train"):
            raise UsageError(f"{self.name}: split must be test or train, got {self.split!r}")
        self.fps = self._fps("frames")
        self.has_time_base = self.fps is not None

    def _locate(self) -> Path:
        return find_root(self.name, self._params, self._context, ("FERV39k", "FERV39K", "ferv39k"),
                         SPLIT_DIR, LAYOUT)

    def params(self) -> dict:
        return {"split": self.split, "root": str(self._root or self._params.get("root") or ""),
                "fps": self.fps}

    def training_prior(self, split: str) -> ClassPrior | None:
        """Label counts of the official training list, ``train_All.csv``."""
        path = self.root / SPLIT_DIR / "train_All.csv"
        if not path.is_file():
            return None
        counts = Counter(s.label for s in (self.samples("train") if self.split == "train"
                                           else self._read_split("train")))
        return ClassPrior({c: counts.get(c, 0) for c in self.classes},
                          f"{path.relative_to(self.root)} ({sum(counts.values())} clips)")

    def _read_split(self, split: str) -> list[Sample]:
        path = self.root / SPLIT_DIR / f"{split}_All.csv"
        if not path.is_file():
            raise DataError(f"{path}: split file missing")
        lookup = {c.lower(): c for c in self.classes}
        samples, ids = [], []
        for number, line in read_text_lines(path):
            where = f"{path}:{number}"
            fields = line.split()
            if len(fields) != 2:
                raise DataError(f"{where}: expected 'Scene/Emotion/clip Label', got {line!r}")
            clip, label = fields
            if label.lower() not in lookup:
                raise DataError(f"{where}: unknown label {label!r}; FERV39k labels are "
                                f"{', '.join(c.capitalize() for c in self.classes)}")
            media = inside(self.root / MEDIA_DIR, clip, where)
            samples.append(Sample(id=clip, label=lookup[label.lower()], media=str(media), fps=self.fps,
                                  meta={"scene": clip.split("/")[0]}))
            ids.append((clip, where))
        check_unique(ids)
        return nonempty(samples, path)


@harness.hookimpl
def harness_register_tasks(register):
    register("ferv39k", FERV39kTask, description=FERV39kTask.description)
