"""An example dfer-harness plugin: one task and one model.

- Task ``example-folder``: a dataset laid out one folder per class,
  ``ROOT/<class>/<clip>.mp4``: ``harness run --tasks example-folder:root=/data/clips ...``.
  The classes are the folder names, sorted.
- Model ``example-motion``: a non-learned heuristic that answers ``neutral``
  when the face barely moves between sampled frames and ``expressive``
  (a class name you choose) otherwise. It shows how a model reads frames.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import harness
from harness.errors import UsageError
from harness.model import Model
from harness.task import Task
from harness.types import FrameProtocol, Response, Sample


class FolderTask(Task):
    name = "example-folder"
    version = "1"
    description = "Clips laid out as ROOT/<class>/<clip>.mp4 (example plugin)"
    frame_protocol = FrameProtocol(num_frames=8)

    def __init__(self, params, context):
        if "root" not in params:
            raise UsageError("example-folder needs root=PATH (a folder with one sub-folder per class)")
        self.root = Path(str(params["root"]))
        if not self.root.is_dir():
            raise UsageError(f"example-folder: {self.root} is not a folder; expected ROOT/<class>/<clip>.mp4")
        self.classes = tuple(sorted(p.name for p in self.root.iterdir() if p.is_dir()))
        if len(self.classes) < 2:
            raise UsageError(f"example-folder: {self.root} needs at least two class folders")

    def params(self):
        return {"root": str(self.root)}

    def samples(self, split=None):
        return [Sample(id=f"{c}/{clip.stem}", label=c, media=str(clip))
                for c in self.classes for clip in sorted((self.root / c).glob("*.mp4"))]

    def sample_count(self):
        return len(self.samples())


class MotionModel(Model):
    name = "example-motion"
    batch_size = 16

    def __init__(self, args):
        self.threshold = float(args.get("threshold", 2.0))
        self.expressive = str(args.get("expressive", "happy"))

    def identity(self):
        return {"id": self.name, "args": {"threshold": self.threshold, "expressive": self.expressive}}

    def predict(self, requests):
        out = []
        for r in requests:
            frames = r.frames.array.astype(np.float32)
            motion = float(np.abs(np.diff(frames, axis=0)).mean()) if len(frames) > 1 else 0.0
            answer = "neutral" if motion < self.threshold else self.expressive
            out.append(Response(text=answer if answer in r.choices else "unknown"))
        return out


@harness.hookimpl
def harness_register_tasks(register):
    register("example-folder", FolderTask, description=FolderTask.description)


@harness.hookimpl
def harness_register_models(register):
    register("example-motion", MotionModel, description="Frame-difference heuristic (example plugin)")
