"""The ``synthetic`` task: procedurally drawn faces, offline and deterministic.

Each clip shows a cartoon face whose brows, eyes and mouth move along an
onset-apex-offset trajectory towards one of DFEW's seven expressions, in
DFEW's long-tailed class proportions. A ``micro`` share of the expressive
clips hold their apex only 0.25-0.5 s: sparse frame sampling misses those, so
the per-group metrics (``micro`` / ``macro`` / ``neutral``) show it.

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
from harness.emotions import BASIC7, DFEW_SHARES, SYNONYMS
from harness.errors import UsageError
from harness.task import ClassPrior, Task, TaskContext
from harness.types import FrameProtocol, Sample
from harness.video import write_mp4

GENERATOR_VERSION = 2

# Apex action parameters per class: brow raise, inner-brow tilt, eye opening,
# smile (mouth corners up), mouth opening, mouth width, upper-lip raise, nose wrinkle.
_PARAMS = ("brow_raise", "brow_tilt", "eye_open", "smile", "mouth_open", "mouth_width",
           "lip_raise", "wrinkle")
_APEX = {
    "happy":    (0.1, 0.0, -0.35, 1.0, 0.35, 0.3, 0.0, 0.0),
    "sad":      (0.0, 0.9, -0.35, -0.9, 0.0, -0.1, 0.0, 0.0),
    "neutral":  (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    "angry":    (-0.8, -1.0, 0.1, -0.3, 0.0, -0.35, 0.0, 0.2),
    "surprise": (1.0, 0.2, 0.9, 0.0, 1.0, -0.35, 0.0, 0.0),
    "disgust":  (-0.4, -0.3, -0.4, -0.4, 0.15, 0.0, 1.0, 1.0),
    "fear":     (0.8, 0.8, 0.9, -0.3, 0.45, 0.5, 0.0, 0.0),
}


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


def clip_spec(clip_id: str, label: str, rng: np.random.Generator, micro_share: float,
              duration: tuple[float, float] = (3.0, 4.0)) -> dict[str, Any]:
    """One clip's length and onset-apex-offset timing (seconds); ``label`` is one of BASIC7."""
    length = float(rng.uniform(*duration))
    micro = bool(label != "neutral" and rng.random() < micro_share)
    if micro:
        onset, apex, offset = rng.uniform(0.04, 0.08), rng.uniform(0.25, 0.5), rng.uniform(0.04, 0.08)
    else:
        onset, apex, offset = rng.uniform(0.15, 0.3), rng.uniform(0.7, 1.1), rng.uniform(0.15, 0.3)
    start = float(rng.uniform(0.05, max(0.05, length - (onset + apex + offset) - 0.05)))
    return {
        "id": clip_id, "label": label, "micro": micro, "duration": round(length, 4),
        "onset_start": round(start, 4), "apex_start": round(start + onset, 4),
        "apex_end": round(start + onset + apex, 4),
        "offset_end": round(start + onset + apex + offset, 4),
        "intensity": round(float(rng.uniform(0.75, 1.0)), 4) if label != "neutral" else 0.0,
    }


def intensity_at(t: float, clip: dict[str, Any]) -> float:
    """Onset-apex-offset trajectory: 0 before, a linear rise, a plateau, a linear fall."""
    a, b, c, d = clip["onset_start"], clip["apex_start"], clip["apex_end"], clip["offset_end"]
    if t <= a or t >= d:
        return 0.0
    if t < b:
        return clip["intensity"] * (t - a) / (b - a)
    if t <= c:
        return clip["intensity"]
    return clip["intensity"] * (d - t) / (d - c)


class FaceRenderer:
    """Draws one face identity (shape, colours) at any expression intensity."""

    def __init__(self, size: int, label: str, rng: np.random.Generator):
        self.size = size
        self.apex = dict(zip(_PARAMS, _APEX[label]))
        s = size / 112.0
        self.s = s
        self.yy, self.xx = np.mgrid[0:size, 0:size].astype(np.float32)
        self.cx = size / 2 + rng.uniform(-3, 3) * s
        self.cy = size / 2 + rng.uniform(0, 4) * s
        self.rx = rng.uniform(32, 38) * s
        self.ry = rng.uniform(40, 46) * s
        self.eye_dx = rng.uniform(12, 15) * s
        self.background = rng.integers(40, 200, size=3).astype(np.uint8)
        tone = rng.uniform()  # between a light and a dark skin tone
        self.skin = (np.array([240, 200, 170]) * (1 - tone) + np.array([110, 75, 55]) * tone).astype(np.uint8)
        self.sway_phase = rng.uniform(0, 2 * np.pi)
        self._cache: dict[int, np.ndarray] = {}

    def frame(self, intensity: float, t: float) -> np.ndarray:
        key = int(round(intensity * 200))
        if key not in self._cache:
            self._cache[key] = self._draw(key / 200)
        dx = int(round(1.5 * self.s * np.sin(2 * np.pi * t / 1.7 + self.sway_phase)))
        dy = int(round(1.0 * self.s * np.sin(2 * np.pi * t / 2.3 + self.sway_phase)))
        return np.roll(self._cache[key], (dy, dx), axis=(0, 1))

    def _ellipse(self, cx, cy, rx, ry):
        return ((self.xx - cx) / rx) ** 2 + ((self.yy - cy) / ry) ** 2 <= 1.0

    def _segment(self, x0, y0, x1, y1, width):
        px, py = self.xx - x0, self.yy - y0
        vx, vy = x1 - x0, y1 - y0
        t = np.clip((px * vx + py * vy) / (vx * vx + vy * vy), 0.0, 1.0)
        return (px - t * vx) ** 2 + (py - t * vy) ** 2 <= (width / 2) ** 2

    def _draw(self, k: float) -> np.ndarray:
        p = {name: k * v for name, v in self.apex.items()}
        s, cx, cy = self.s, self.cx, self.cy
        img = np.empty((self.size, self.size, 3), np.uint8)
        img[:] = self.background
        img[self._ellipse(cx, cy, self.rx, self.ry)] = self.skin
        dark = np.array([40, 30, 30], np.uint8)
        eye_y = cy - 8 * s
        for side in (-1, 1):
            ex = cx + side * self.eye_dx
            ry = max(0.6, 3.5 * (1 + 0.6 * p["eye_open"])) * s
            white = self._ellipse(ex, eye_y, 7 * s, ry)
            img[white] = (245, 245, 245)
            img[white & self._ellipse(ex, eye_y, 2.6 * s, 2.6 * s)] = dark
            brow_y = eye_y - (9 + 5 * p["brow_raise"]) * s
            inner_y = brow_y - 4 * p["brow_tilt"] * s
            img[self._segment(cx + side * 5 * s, inner_y, cx + side * 21 * s, brow_y, 2.4 * s)] = dark
        img[self._segment(cx, eye_y + 3 * s, cx, cy + 9 * s, 1.6 * s)] = (self.skin * 0.75).astype(np.uint8)
        if p["wrinkle"] > 0.15:
            for off in (-3, 0, 3):
                img[self._segment(cx - 4 * s, eye_y + (5 + off * 0.6) * s, cx + 4 * s,
                                  eye_y + (5 + off * 0.6) * s, 0.9 * s * (1 + p["wrinkle"]))] = (
                    (self.skin * 0.6).astype(np.uint8))
        # Mouth: a centre line whose corners move up (smile) or down, opened around it.
        my = cy + (22 - 2 * p["lip_raise"]) * s
        half = 12 * (1 + 0.35 * p["mouth_width"]) * s
        u = (self.xx - cx) / half
        inside = np.abs(u) <= 1
        centre = my - 5 * p["smile"] * s * u ** 2 - 2.5 * p["lip_raise"] * s * u
        opening = 7 * p["mouth_open"] * s * (1 - u ** 2)
        lips = inside & (self.yy >= centre - 1.2 * s - 0.3 * opening) & (self.yy <= centre + 1.2 * s + opening)
        img[lips] = (150, 40, 50)
        cavity = inside & (opening > 1.5 * s) & (self.yy > centre) & (self.yy < centre + opening - 0.6 * s)
        img[cavity] = (60, 15, 20)
        return img


def render_clip(clip: dict[str, Any], seed: int, index: int, size: int, fps: int) -> np.ndarray:
    """All frames (T, H, W, 3) of one clip, deterministic in (seed, index)."""
    renderer = FaceRenderer(size, clip["label"], np.random.default_rng([seed, 2, index]))
    num = int(round(clip["duration"] * fps))
    return np.stack([renderer.frame(intensity_at(i / fps, clip), i / fps) for i in range(num)])


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class SyntheticTask(Task):
    name = "synthetic"
    version = f"1-gen{GENERATOR_VERSION}"
    description = "Procedurally drawn face clips in DFEW's 7 classes and long-tailed shares (offline)"
    classes = BASIC7
    aliases = SYNONYMS
    frame_protocol = FrameProtocol(strategy="uniform", num_frames=8)

    PARAMS = {"n": int, "seed": int, "micro": float, "size": int, "fps": int}

    def __init__(self, params: dict[str, Any], context: TaskContext):
        unknown = set(params) - set(self.PARAMS)
        if unknown:
            raise UsageError(f"synthetic: unknown parameter(s) {', '.join(sorted(unknown))}; "
                             f"it takes {', '.join(self.PARAMS)}")
        try:
            values = {k: self.PARAMS[k](v) for k, v in params.items()}
        except (TypeError, ValueError) as exc:
            raise UsageError(f"synthetic: bad parameter value: {exc}") from None
        self.n = values.get("n", 240)
        self.seed = values.get("seed", 0)
        self.micro = values.get("micro", 0.3)
        self.size = values.get("size", 112)
        self.fps = values.get("fps", 25)
        if not 0.0 <= self.micro <= 1.0:
            raise UsageError(f"synthetic: micro is a share between 0 and 1, got {self.micro}")
        if self.size < 16 or self.size % 2:
            raise UsageError(f"synthetic: size must be an even number of pixels >= 16, got {self.size}")
        class_counts(self.n)  # validates n
        self.root = (Path(context.cache_dir) / "synthetic" /
                     f"gen{GENERATOR_VERSION}-n{self.n}-seed{self.seed}-micro{self.micro:g}"
                     f"-{self.size}px-{self.fps}fps")

    def params(self) -> dict[str, Any]:
        return {"n": self.n, "seed": self.seed, "micro": self.micro, "size": self.size, "fps": self.fps}

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
                write_mp4(str(path), render_clip(clip, self.seed, index, self.size, self.fps), fps=self.fps)
                digest = _sha256(path)
            hashes[clip["id"]] = digest
        if hashes != manifest:
            self._write_manifest(hashes)
        return [Sample(id=c["id"], label=c["label"], media=str(self.root / "clips" / f"{c['id']}.mp4"),
                       meta={k: c[k] for k in ("micro", "duration", "apex_start", "apex_end", "intensity")})
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
