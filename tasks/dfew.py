"""DFEW: 7 classes, 5-fold protocol over 11,697 single-labelled clips.

Split files ``EmoLabel_DataSplit/test(single-labeled)/set_K.csv`` (some copies
spell it ``single_labeled``) with header ``video_name,label``; labels 1..7 =
happy, sad, neutral, angry, surprise, disgust, fear. Media: ``Clip/original``
(mp4), ``Clip/clip_224x224`` (face frames at the clip's rate) or
``Clip/clip_224x224_16f`` (16 time-interpolated frames: no time base).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import harness
from harness.context import Context
from harness.emotions import BASIC7, SYNONYMS
from harness.errors import DataError, UsageError
from harness.release import ReleaseTask, check_unique, find_root, inside, nonempty, parse_folds, read_text_lines
from harness.task import ClassPrior, Task
from harness.types import FrameProtocol, Sample

LABELS = dict(enumerate(BASIC7, start=1))
SPLIT_DIRS = ("EmoLabel_DataSplit/test(single-labeled)", "EmoLabel_DataSplit/test(single_labeled)")
TRAIN_DIRS = ("EmoLabel_DataSplit/train(single-labeled)", "EmoLabel_DataSplit/train(single_labeled)")
MEDIA_DIRS = {"video": "Clip/original", "frames": "Clip/clip_224x224", "frames16": "Clip/clip_224x224_16f"}
LAYOUT = """  EmoLabel_DataSplit/test(single-labeled)/set_1.csv ... set_5.csv   (video_name,label)
  Clip/original/00001.mp4 ...            (media=video, default)
  Clip/clip_224x224/00001/*.jpg ...      (media=frames)
  Clip/clip_224x224_16f/00001/*.jpg ...  (media=frames16)"""


class DFEWTask(ReleaseTask, Task):
    name = "dfew"
    version = "1"
    description = "DFEW 5-fold test sets (7 classes); dfew:fold=K for one fold"
    classes = BASIC7
    aliases = SYNONYMS
    frame_protocol = FrameProtocol(strategy="segment", num_frames=16)
    official_counts = {"fold1": 2341, "fold2": 2341, "fold3": 2340, "fold4": 2339, "fold5": 2336}
    # Face frames keep the original clip's rate; 25 fps unless fps=... says otherwise.
    media_fps = {"frames": 25.0, "frames16": None}

    def __init__(self, params: dict, context: Context):
        self._setup(params, context, ("fold", "media", "root", "fps"))
        self.folds = parse_folds(self.name, params.get("fold"))
        self.media = self._media(tuple(MEDIA_DIRS), "video")
        self.fps = self._fps(self.media)
        self.has_audio = self.media == "video"  # the clips keep their sound track; frame folders have none
        self.has_time_base = self.media == "video" or self.fps is not None

    def _locate(self) -> Path:
        root = find_root(self.name, self._params, self._context, ("DFEW", "dfew"), "EmoLabel_DataSplit",
                         LAYOUT)
        if not any((root / d).is_dir() for d in SPLIT_DIRS):
            raise UsageError(f"{self.name}: no test split folder in {root}/EmoLabel_DataSplit "
                             f"(looked for {' and '.join(Path(d).name for d in SPLIT_DIRS)})")
        return root

    def params(self) -> dict:
        return {"fold": self.folds[0] if len(self.folds) == 1 else "all", "media": self.media,
                "root": str(self._root or self._params.get("root") or ""), "fps": self.fps}

    def splits(self) -> list[str]:
        return [f"fold{k}" for k in self.folds]

    def _read_split(self, split: str) -> list[Sample]:
        split_dir = next(self.root / d for d in SPLIT_DIRS if (self.root / d).is_dir())
        path = split_dir / f"set_{split[4:]}.csv"
        if not path.is_file():
            raise DataError(f"{path}: split file missing (the 5-fold protocol needs set_1.csv ... set_5.csv)")
        return self._read_file(path)

    def training_prior(self, split: str) -> ClassPrior | None:
        """Label counts of the fold's training list, ``train(single-labeled)/set_K.csv``."""
        for folder in TRAIN_DIRS:
            path = self.root / folder / f"set_{split[4:]}.csv"
            if path.is_file():
                counts = Counter(s.label for s in self._read_file(path))
                return ClassPrior({c: counts.get(c, 0) for c in self.classes},
                                  f"{path.relative_to(self.root)} ({sum(counts.values())} clips)")
        return None

    def _read_file(self, path: Path) -> list[Sample]:
        lines = read_text_lines(path)
        if not lines or lines[0][1].replace(" ", "").lower() != "video_name,label":
            raise DataError(f"{path}:1: expected the header 'video_name,label'")
        media_dir = self.root / MEDIA_DIRS[self.media]
        samples, ids = [], []
        for number, line in lines[1:]:
            where = f"{path}:{number}"
            fields = [f.strip() for f in line.split(",")]
            if len(fields) != 2:
                raise DataError(f"{where}: expected 'video_name,label', got {line!r}")
            name, label = fields
            try:
                cls = LABELS[int(label)]
            except (ValueError, KeyError):
                raise DataError(f"{where}: unknown label {label!r}; DFEW labels are 1..7 "
                                f"({', '.join(f'{k}={v}' for k, v in LABELS.items())})") from None
            sample_id = name.zfill(5) if name.isdigit() else name
            samples.append(Sample(id=sample_id, label=cls, media=str(self._media_path(media_dir, name, where)),
                                  fps=self.fps))
            ids.append((sample_id, where))
        check_unique(ids)
        return nonempty(samples, path)

    def _media_path(self, media_dir: Path, name: str, where: str) -> Path:
        """Copies differ in zero-padding: try ``00001`` then ``1``; missing media fails at decode time."""
        stems = [name.zfill(5), str(int(name))] if name.isdigit() else [name]
        suffix = ".mp4" if self.media == "video" else ""
        candidates = [inside(media_dir, stem + suffix, where) for stem in dict.fromkeys(stems)]
        return next((c for c in candidates if c.exists()), candidates[0])


@harness.hookimpl
def harness_register_tasks(register):
    register("dfew", DFEWTask, description=DFEWTask.description)
