"""An example dfer-harness plugin: one task, one model and one diagnostic probe.

- Task ``example-folder``: a dataset laid out one folder per class,
  ``ROOT/<class>/<clip>.mp4``: ``harness run --tasks example-folder:root=/data/clips ...``.
  The classes are the folder names, sorted.
- Model ``example-motion``: a non-learned heuristic that answers ``neutral``
  when the face barely moves between sampled frames and ``expressive``
  (a class name you choose) otherwise. It shows how a model reads frames.
- Probe ``example-neutral-bias``: how much more often a model answers
  ``neutral`` than the labels say (``harness diagnose --probes example-neutral-bias``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import harness
from harness import FrameProtocol, Model, Param, Probe, Response, Sample, Task, UsageError, Variant


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
    # Declared arguments: the host refuses unknown or mistyped ones ("did you mean ...") before
    # the model is built, and hands them over converted.
    PARAMS = {"threshold": Param(float, "mean frame difference below which the face is neutral (default 2.0)"),
              "expressive": Param(str, "the answer for a moving face (default happy)")}

    def __init__(self, args):
        self.threshold = args.get("threshold", 2.0)
        self.expressive = args.get("expressive", "happy")

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


class NeutralBiasProbe(Probe):
    """How much more often the model answers "neutral" than the labels say: a one-run probe."""

    name = "example-neutral-bias"
    description = "share of neutral answers against the share of neutral labels (example plugin)"

    def variants(self, context):
        return [Variant("main")]

    def compute(self, runs, context):
        rows = runs["main"].rows
        answered = sum(1 for r in rows if r["prediction"] == "neutral") / len(rows)
        labelled = sum(1 for r in rows if r["label"] == "neutral") / len(rows)
        return {"neutral_answers": answered, "neutral_labels": labelled,
                "ratio": answered / labelled if labelled else None}

    def summary(self, figures):
        return [("neutral answers / labels", f"{figures['neutral_answers']:.2f} / {figures['neutral_labels']:.2f}")]


@harness.hookimpl
def harness_register_probes(register):
    register(NeutralBiasProbe.name, NeutralBiasProbe, description=NeutralBiasProbe.description)


@harness.hookimpl
def harness_register_tasks(register):
    register("example-folder", FolderTask, description=FolderTask.description)


@harness.hookimpl
def harness_register_models(register):
    register("example-motion", MotionModel, description="Frame-difference heuristic (example plugin)")
