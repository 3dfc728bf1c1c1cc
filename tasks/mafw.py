"""MAFW: 11 classes, single-label 5-fold protocol over 9,172 clips.

Split files ``Train & Test Set/single/no_caption/set_K/test.txt``:
space-separated ``00025.mp4 anger``, no header, CRLF. The ``with_caption``
variant (``caption=true``) is tab-separated, GBK-encoded and has no neutral
class. Media folder names differ between copies: ``clips=`` and ``frames=``
name them relative to the root (defaults ``data/clips`` and ``data/frames``).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import harness
from harness.context import Context
from harness.emotions import MAFW11, MAFW_SYNONYMS
from harness.errors import DataError
from harness.release import ReleaseTask, check_unique, find_root, inside, nonempty, parse_folds, read_text_lines
from harness.task import ClassPrior, Task
from harness.types import FrameProtocol, Sample

SPLIT_ROOT = "Train & Test Set/single"
LAYOUT = """  Train & Test Set/single/no_caption/set_1/test.txt ... set_5   ('00025.mp4 anger' per line)
  data/clips/00025.mp4           (media=video, default; clips=DIR to change)
  data/frames/00025/*.jpg        (media=frames; frames=DIR to change)"""


class MAFWTask(ReleaseTask, Task):
    name = "mafw"
    version = "1"
    description = "MAFW single-label 5-fold test sets (11 classes); mafw:fold=K for one fold"
    classes = MAFW11
    aliases = MAFW_SYNONYMS
    frame_protocol = FrameProtocol(strategy="segment", num_frames=16)
    official_counts = {"fold1": 1839, "fold2": 1837, "fold3": 1833, "fold4": 1832, "fold5": 1831}
    media_fps = {"frames": 25.0}

    def __init__(self, params: dict, context: Context):
        self._setup(params, context, ("fold", "media", "root", "fps", "clips", "frames", "caption"))
        self.folds = parse_folds(self.name, params.get("fold"))
        self.media = self._media(("video", "frames"), "video")
        self.fps = self._fps(self.media)
        self.has_audio = self.media == "video"  # the clips keep their sound track; frame folders have none
        self.caption = str(params.get("caption", "false")).lower() in ("true", "1", "yes")
        if self.caption:  # the captioned protocol has no neutral class and other fold sizes
            self.classes = tuple(c for c in MAFW11 if c != "neutral")
            self.aliases = {k: v for k, v in MAFW_SYNONYMS.items() if v != "neutral"}
            self.official_counts = {}
        self.variant = "with_caption" if self.caption else "no_caption"
        key, default = ("frames", "data/frames") if self.media == "frames" else ("clips", "data/clips")
        self.media_subdir = str(params.get(key, default))

    def _locate(self) -> Path:
        return find_root(self.name, self._params, self._context, ("MAFW", "mafw"), SPLIT_ROOT, LAYOUT)

    def params(self) -> dict:
        return {"fold": self.folds[0] if len(self.folds) == 1 else "all", "media": self.media,
                "root": str(self._root or self._params.get("root") or ""), "media_dir": self.media_subdir,
                "fps": self.fps,
                "caption": self.caption}

    def splits(self) -> list[str]:
        return [f"fold{k}" for k in self.folds]

    def _read_split(self, split: str) -> list[Sample]:
        path = self.root / SPLIT_ROOT / self.variant / f"set_{split[4:]}" / "test.txt"
        if not path.is_file():
            raise DataError(f"{path}: split file missing")
        return self._read_file(path)

    def training_prior(self, split: str) -> ClassPrior | None:
        """Label counts of the fold's training list, ``set_K/train.txt``."""
        path = self.root / SPLIT_ROOT / self.variant / f"set_{split[4:]}" / "train.txt"
        if not path.is_file():
            return None
        counts = Counter(s.label for s in self._read_file(path))
        return ClassPrior({c: counts.get(c, 0) for c in self.classes},
                          f"{path.relative_to(self.root)} ({sum(counts.values())} clips)")

    def _read_file(self, path: Path) -> list[Sample]:
        encodings = ("utf-8-sig", "gbk") if self.caption else ("utf-8-sig",)
        samples, ids = [], []
        for number, line in read_text_lines(path, encodings):
            where = f"{path}:{number}"
            fields = line.split("\t") if self.caption else line.split()
            if len(fields) < 2 or (not self.caption and len(fields) != 2):
                raise DataError(f"{where}: expected 'CLIP.mp4 label', got {line!r}")
            name, label = fields[0].strip(), fields[1].strip().lower()
            if label not in self.classes:
                raise DataError(f"{where}: unknown label {label!r}; MAFW ({self.variant}) labels are "
                                f"{', '.join(self.classes)}")
            stem = name[:-4] if name.lower().endswith(".mp4") else name
            relative = f"{stem}.mp4" if self.media == "video" else stem
            media = inside(self.root / self.media_subdir, relative, where)
            meta = {"caption": "\t".join(fields[2:]).strip()} if self.caption and len(fields) > 2 else {}
            samples.append(Sample(id=stem, label=label, media=str(media), fps=self.fps, meta=meta))
            ids.append((stem, where))
        check_unique(ids)
        return nonempty(samples, path)


@harness.hookimpl
def harness_register_tasks(register):
    register("mafw", MAFWTask, description=MAFWTask.description)
