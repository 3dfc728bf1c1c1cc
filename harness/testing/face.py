"""The synthetic face: a renderer that draws an expression, and a reader that reads it back.

The ``synthetic`` task draws its clips with :class:`FaceRenderer`; the
control models (``synthetic-oracle`` and friends) read the expression from
the pixels with :func:`read_expression`. They live side by side so that a
change to the drawing and to its reading is one change.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Apex action parameters per class: brow raise, inner-brow tilt, eye opening,
# smile (mouth corners up), mouth opening, mouth width, upper-lip raise, nose wrinkle.
PARAMS = ("brow_raise", "brow_tilt", "eye_open", "smile", "mouth_open", "mouth_width",
           "lip_raise", "wrinkle")
APEX = {
    "happy":    (0.1, 0.0, -0.35, 1.0, 0.35, 0.3, 0.0, 0.0),
    "sad":      (0.0, 0.9, -0.35, -0.9, 0.0, -0.1, 0.0, 0.0),
    "neutral":  (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    "angry":    (-0.8, -1.0, 0.1, -0.3, 0.0, -0.35, 0.0, 0.2),
    "surprise": (1.0, 0.2, 0.9, 0.0, 1.0, -0.35, 0.0, 0.0),
    "disgust":  (-0.4, -0.3, -0.4, -0.4, 0.15, 0.0, 1.0, 1.0),
    "fear":     (0.8, 0.8, 0.9, -0.3, 0.45, 0.5, 0.0, 0.0),
}

# The parameters the reader recovers: the renderer's, without the nose wrinkle the oracle does not read.
READ_PARAMS = ("brow_raise", "brow_tilt", "eye_open", "smile", "mouth_open", "mouth_width", "lip_raise")


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
        self.apex = dict(zip(PARAMS, APEX[label]))
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


def read_expression(frame: np.ndarray) -> np.ndarray:
    """The renderer's expression parameters read from one drawn frame (zeros when unreadable)."""
    from scipy import ndimage  # here, not at import: listing plugins stays light
    h, w = frame.shape[:2]
    s = w / 112.0
    img = frame.astype(np.int16)
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    # The face: pixels of the skin colour read off a cheek, holes (eyes, brows, mouth) filled in.
    cheek = img[int(h / 2 + 6 * s):int(h / 2 + 11 * s), int(w / 2 + 8 * s):int(w / 2 + 13 * s)].reshape(-1, 3)
    skin = np.median(cheek, axis=0)
    face = ndimage.binary_fill_holes((np.abs(img - skin) < 40).all(axis=2))
    labels, n = ndimage.label(face)
    centre = labels[int(h / 2 + 8 * s), int(w / 2 + 10 * s)]
    if centre == 0:
        return np.zeros(len(READ_PARAMS))
    face = labels == centre
    white = (r > 200) & (g > 200) & (b > 200) & face
    labels, n = ndimage.label(white)
    if n == 0:
        return np.zeros(len(READ_PARAMS))
    sizes = ndimage.sum(white, labels, range(1, n + 1))
    ys, xs = np.nonzero(np.isin(labels, np.nonzero(sizes >= 3)[0] + 1))
    if len(xs) < 6:
        return np.zeros(len(READ_PARAMS))
    cx = float((xs.min() + xs.max()) / 2)
    heights, rows = [], []
    for side in (xs < cx, xs >= cx):
        if side.sum() < 3:
            return np.zeros(len(READ_PARAMS))
        heights.append(ys[side].max() - ys[side].min() + 1)
        rows.append(ys[side].mean())
    eye_open = (np.mean(heights) / 2 / (3.5 * s) - 1) / 0.6
    eye_y = float(np.mean(rows))
    # mouth: lips and the open cavity, near where the renderer puts them
    not_skin = (np.abs(img - skin) >= 40).any(axis=2)
    redness = (r - g) - (skin[0] - skin[1])
    lips = (redness > 20) & (g < skin[1] - 10) & (r > 90)  # (150, 40, 50): redder than the skin
    cavity = (r < 100) & (g < 45) & (b < 50) & (r - g > 20)  # (60, 15, 20)
    mouth = (lips | cavity) & not_skin
    window = np.zeros_like(mouth)
    window[int(eye_y + 14 * s):int(eye_y + 46 * s), max(0, int(cx - 24 * s)):int(cx + 24 * s) + 1] = True
    mouth &= window & face
    mys, mxs = np.nonzero(mouth)
    if len(mxs) < 4:
        return np.zeros(len(READ_PARAMS))
    left, right = mxs.min(), mxs.max()
    half = (right - left + 1) / 2
    middle = (left + right) / 2

    def edges(u: float) -> tuple[float, float]:
        col = int(round(middle + u * half))
        found = np.nonzero(mouth[:, max(col - 1, 0):col + 2].any(axis=1))[0]
        return (found.min(), found.max()) if len(found) else (np.nan, np.nan)

    t0, b0 = edges(0.0)
    tl, bl = edges(-0.7)
    tr, br = edges(0.7)
    top = ((tl + tr) / 2 - t0) / (s * 0.49)  # = -5 smile + 2.1 open
    bottom = ((bl + br) / 2 - b0) / (s * 0.49)  # = -5 smile - 7 open
    mouth_open = (top - bottom) / 9.1
    smile = -(top - 2.1 * mouth_open) / 5
    lip_raise = -((tr - tl) / s) / (2.5 * 1.4)
    width = (half / (12 * s) - 1) / 0.35
    # brows: the dark stroke nearest above each eye, at its inner and outer ends
    dark = (r < 80) & (g < 70) & (b < 70)
    window = np.zeros_like(dark)
    window[max(0, int(eye_y - 28 * s)):int(eye_y + 0.5 * s), max(0, int(cx - 23 * s)):int(cx + 23 * s) + 1] = True
    dark &= window & face
    raise_, tilt = [], []
    for side in (-1, 1):
        def row_at(x: float) -> float:
            col = int(round(x))
            found = np.nonzero(dark[:, max(col - 1, 0):col + 2].any(axis=1))[0]
            if not len(found):
                return np.nan
            return float(found[found >= found.max() - 3 * s].mean())
        outer, inner = row_at(cx + side * 20 * s), row_at(cx + side * 6 * s)
        raise_.append(((eye_y - outer) / s - 9) / 5)
        tilt.append(((outer - inner) / s) / 4)
    values = np.array([np.nanmean(raise_) if not np.all(np.isnan(raise_)) else 0.0,
                       np.nanmean(tilt) if not np.all(np.isnan(tilt)) else 0.0,
                       eye_open, smile, mouth_open, width, lip_raise], dtype=float)
    return np.nan_to_num(values)
