"""The ``synthetic`` task: procedurally drawn faces, offline and deterministic.

Each clip shows a cartoon face whose brows, eyes and mouth move along an
onset-apex-offset trajectory towards one of DFEW's seven expressions, in
DFEW's long-tailed class proportions. A ``micro`` share of the expressive
clips hold their apex only 0.25-0.5 s: sparse frame sampling misses those, so
the per-group metrics (``micro`` / ``macro`` / ``neutral``) show it.

With ``sound=true`` every clip also carries an AAC sound track (44.1 kHz
stereo): faint noise and, by class, a tone whose pitch names an emotion that
agrees with the face, contradicts it or is absent
(:mod:`harness.testing.sound`; ``sound_cue`` and ``sound_class`` in each
sample's metadata), so ``--audio on`` and the ``modality`` probe have a known
effect to find.

Clips are written as H.264 mp4 into ``$HARNESS_CACHE/synthetic/...`` on first
use and reused; a missing or corrupt clip is regenerated (each clip depends
only on the seed and its index).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

import harness
from harness.context import Context
from harness.emotions import BASIC7, DFEW_SHARES, SYNONYMS
from harness.errors import UsageError
from harness.frames.video import write_mp4
from harness.params import Param, check_args
from harness.task import ClassPrior, Task
from harness.testing.face import clip_spec, render_clip
from harness.testing.sound import RATE as SOUND_RATE
from harness.testing.sound import cue_of, render_sound
from harness.types import FrameProtocol, Sample

GENERATOR_VERSION = 2
#: Parameter bounds: beyond them a value is a typo that would exhaust memory or disk, not a task.
MAX_CLIPS = 1_000_000
MIN_SIZE, MAX_SIZE = 16, 1024
MAX_FPS = 240

def class_counts(n: int) -> dict[str, int]:
    """DFEW's class shares applied to ``n`` clips (largest remainder, each class at least once)."""
    if n < len(BASIC7):
        raise UsageError(f"synthetic: n must be at least {len(BASIC7)} (one clip per class), got {n}")
    raw = {c: DFEW_SHARES[c] * n for c in BASIC7}
    counts = {c: max(1, int(raw[c])) for c in BASIC7}
    by_remainder = sorted(BASIC7, key=lambda c: raw[c] - int(raw[c]), reverse=True)
    i = 0
    while sum(counts.values()) < n:
        counts[by_remainder[i % len(BASIC7)]] += 1
        i += 1
    while sum(counts.values()) > n:  # only when the minimum of one pushed us over
        largest = max(counts, key=counts.get)
        counts[largest] -= 1
    return counts


def plan(n: int, seed: int, micro_share: float) -> list[dict[str, Any]]:
    """Labels and expression timing of every clip: cheap, and fixed by (n, seed)."""
    labels = [c for c, k in class_counts(n).items() for _ in range(k)]
    order = np.random.default_rng([seed, 0]).permutation(len(labels))
    return [clip_spec(f"{i + 1:05d}", labels[j], np.random.default_rng([seed, 1, i]), micro_share)
            for i, j in enumerate(order)]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class SyntheticTask(Task):
    name = "synthetic"
    version = f"1-gen{GENERATOR_VERSION}"
    description = "Procedurally drawn face clips in DFEW's 7 classes and long-tailed shares (offline)"
    classes = BASIC7
    aliases = SYNONYMS
    frame_protocol = FrameProtocol(strategy="uniform", num_frames=8)

    PARAMS = {"n": Param(int, "clips (default 240)"), "seed": Param(int, "generator seed (default 0)"),
              "micro": Param(float, "share of expressive clips whose apex lasts 0.25-0.5 s (default 0.3)"),
              "size": Param(int, "frame side in pixels (default 112)"), "fps": Param(int, "frame rate (default 25)"),
              "sound": Param(bool, "clips carry a sound track whose cue agrees with, contradicts or is absent from "
                                   "the face, by class (default false)")}

    def __init__(self, params: dict[str, Any], context: Context):
        values = check_args("synthetic", params, self.PARAMS)
        self.n = values.get("n", 240)
        self.seed = values.get("seed", 0)
        self.micro = values.get("micro", 0.3)
        self.size = values.get("size", 112)
        self.fps = values.get("fps", 25)
        self.sound = values.get("sound", False)
        self.has_audio = self.sound
        if not 0.0 <= self.micro <= 1.0:
            raise UsageError(f"synthetic: micro is a share between 0 and 1, got {self.micro}")
        if not MIN_SIZE <= self.size <= MAX_SIZE or self.size % 2:
            raise UsageError(f"synthetic: size must be an even number of pixels from {MIN_SIZE} to {MAX_SIZE}, "
                             f"got {self.size}")
        if not 1 <= self.fps <= MAX_FPS:
            raise UsageError(f"synthetic: fps must be a frame rate from 1 to {MAX_FPS}, got {self.fps}")
        if not 0 <= self.seed < 2 ** 63:
            raise UsageError(f"synthetic: seed must be a whole number from 0 to 2**63-1, got {self.seed}")
        if self.n > MAX_CLIPS:
            raise UsageError(f"synthetic: n must be at most {MAX_CLIPS} clips, got {self.n}")
        class_counts(self.n)  # validates n
        self.root = (Path(context.cache_dir) / "synthetic" /
                     (f"gen{GENERATOR_VERSION}-n{self.n}-seed{self.seed}-micro{self.micro:g}"
                      f"-{self.size}px-{self.fps}fps" + ("-sound" if self.sound else "")))

    def params(self) -> dict[str, Any]:
        params = {"n": self.n, "seed": self.seed, "micro": self.micro, "size": self.size, "fps": self.fps}
        if self.sound:  # only when on: results made before sound existed keep their record
            params["sound"] = True
        return params

    def sample_count(self) -> int | None:
        return self.n  # generated on first use, so always available

    def training_prior(self, split: str) -> ClassPrior | None:
        """The generator's class shares (DFEW's): what a model could know about this task."""
        return ClassPrior(dict(DFEW_SHARES), "the synthetic generator's class shares (DFEW's)")

    def group(self, sample: Sample) -> str | None:
        if sample.label == "neutral":
            return "neutral"
        return "micro" if sample.meta.get("micro") else "macro"

    def samples(self, split: str | None = None) -> list[Sample]:
        clips = plan(self.n, self.seed, self.micro)
        manifest = self._read_manifest()
        (self.root / "clips").mkdir(parents=True, exist_ok=True)
        hashes = {}
        for index, clip in enumerate(clips):
            path = self.root / "clips" / f"{clip['id']}.mp4"
            digest = _sha256(path) if path.is_file() else None
            if digest is None or digest != manifest.get(clip["id"]):
                frames = render_clip(clip, self.seed, index, self.size, self.fps)
                track = render_sound(clip, self.seed, index, len(frames) / self.fps) if self.sound else None
                write_mp4(str(path), frames, fps=self.fps, audio=track, audio_rate=SOUND_RATE)
                digest = _sha256(path)
            hashes[clip["id"]] = digest
        if hashes != manifest:
            self._write_manifest(hashes)
        return [Sample(id=c["id"], label=c["label"], media=str(self.root / "clips" / f"{c['id']}.mp4"),
                       meta={**{k: c[k] for k in ("micro", "duration", "apex_start", "apex_end", "intensity")},
                             **(cue_of(c["label"]) if self.sound else {})})
                for c in clips]

    def _read_manifest(self) -> dict[str, str]:
        try:
            data = json.loads((self.root / "manifest.json").read_text())
            return dict(data["sha256"])
        except (OSError, ValueError, KeyError, TypeError):
            return {}

    def _write_manifest(self, hashes: dict[str, str]) -> None:
        tmp = self.root / f"manifest.json.tmp{os.getpid()}"
        tmp.write_text(json.dumps({"generator_version": GENERATOR_VERSION, "params": self.params(),
                                   "sha256": hashes}, indent=1))
        os.replace(tmp, self.root / "manifest.json")


@harness.hookimpl
def harness_register_tasks(register):
    register("synthetic", SyntheticTask, description=SyntheticTask.description)
