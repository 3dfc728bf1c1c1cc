"""Tiny copies of the DFEW, FERV39k and MAFW releases, laid out exactly as distributed.

Real clips are drawn by the synthetic face renderer and written with PyAV
(mp4; DFEW's and MAFW's with a quiet sound track, as theirs carry one) and
Pillow (JPEG frame folders); the split files follow each release's
format, quirks included (DFEW's header and 1-based labels and its two
spellings of the split folder, FERV39k's space-separated ``.csv``, MAFW's
CRLF lines and its GBK, tab-separated captioned variant).

    python -m harness.testing.releases OUT_DIR     # OUT_DIR/DFEW, OUT_DIR/FERV39k, OUT_DIR/MAFW
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

from harness.emotions import BASIC7, MAFW11
from harness.frames.video import write_mp4
from harness.testing.face import FaceRenderer, clip_spec, intensity_at

FPS = 25
# MAFW's extra classes drawn with the nearest basic expression.
_DRAW_AS = {"anger": "angry", "happiness": "happy", "sadness": "sad", "contempt": "disgust",
            "anxiety": "fear", "helplessness": "sad", "disappointment": "sad"}


def _frames(label: str, seed: int, size: int) -> np.ndarray:
    rng = np.random.default_rng([seed, 99])
    expression = _DRAW_AS.get(label, label)
    clip = clip_spec("x", expression, rng, micro_share=0.0, duration=(2.0, 2.4))
    renderer = FaceRenderer(size, expression, np.random.default_rng([seed, 98]))
    count = int(round(clip["duration"] * FPS))
    return np.stack([renderer.frame(intensity_at(i / FPS, clip), i / FPS) for i in range(count)])


def _sound(frames: np.ndarray, seed: int) -> np.ndarray:
    """A clip's sound track, as the real DFEW and MAFW clips carry one: quiet seeded noise (stereo, 44.1 kHz)."""
    n = int(round(len(frames) / FPS * 44100))
    noise = 0.02 * np.random.default_rng([seed, 97]).standard_normal(n).astype(np.float32)
    return np.stack([noise, noise])


def _write_folder(folder: Path, frames: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(frames, start=1):  # 1.jpg, 2.jpg, ... 10.jpg: natural sort matters
        Image.fromarray(image).save(folder / f"{i}.jpg", quality=90)


def _interpolate16(frames: np.ndarray) -> np.ndarray:
    positions = np.linspace(0, len(frames) - 1, 16).round().astype(int)
    return frames[positions]


def make_dfew(root: str | Path, per_class: int = 1, size: int = 64, split_folder: str = "single-labeled",
              pad_ids: bool = True, media: tuple[str, ...] = ("video", "frames", "frames16"),
              seed: int = 0) -> Path:
    """``per_class`` test clips of every class in each of the 5 folds."""
    root = Path(root)
    split_dir = root / "EmoLabel_DataSplit" / f"test({split_folder})"
    train_dir = root / "EmoLabel_DataSplit" / f"train({split_folder})"
    split_dir.mkdir(parents=True, exist_ok=True)
    train_dir.mkdir(parents=True, exist_ok=True)
    number = 0
    tests = {}
    for fold in range(1, 6):
        rows = ["video_name,label"]
        for label_id, label in enumerate(BASIC7, start=1):
            for _ in range(per_class):
                number += 1
                name = f"{number:05d}" if pad_ids else str(number)
                rows.append(f"{name},{label_id}")
                frames = _frames(label, seed * 100000 + number, size)
                if "video" in media:
                    (root / "Clip" / "original").mkdir(parents=True, exist_ok=True)
                    write_mp4(str(root / "Clip" / "original" / f"{name}.mp4"), frames, fps=FPS,
                              audio=_sound(frames, number))
                if "frames" in media:
                    _write_folder(root / "Clip" / "clip_224x224" / name, frames)
                if "frames16" in media:
                    _write_folder(root / "Clip" / "clip_224x224_16f" / name, _interpolate16(frames))
        (split_dir / f"set_{fold}.csv").write_text("\n".join(rows) + "\n")
        tests[fold] = rows[1:]
    for fold in range(1, 6):  # as in the release: each fold trains on the other folds' test clips
        rows = ["video_name,label"] + [r for k, part in tests.items() if k != fold for r in part]
        (train_dir / f"set_{fold}.csv").write_text("\n".join(rows) + "\n")
    return root


def make_ferv39k(root: str | Path, per_class: int = 2, size: int = 64,
                 scenes: tuple[str, ...] = ("Action", "Daily"), seed: int = 0) -> Path:
    """``per_class`` test clips of every class, spread over ``scenes``."""
    root = Path(root)
    lines, number = [], 0
    for label in BASIC7:
        for k in range(per_class):
            number += 1
            scene, emotion = scenes[k % len(scenes)], label.capitalize()
            clip = f"{scene}/{emotion}/{number:04d}"
            lines.append(f"{clip} {emotion}")
            _write_folder(root / "2_ClipsforFaceCrop" / clip, _frames(label, seed * 100000 + number, size)[::3])
    split_dir = root / "4_setups" / "All_scenes"
    split_dir.mkdir(parents=True, exist_ok=True)
    (split_dir / "test_All.csv").write_text("\n".join(lines) + "\n")
    # a long-tailed training list (its clips are not needed: only its labels are read)
    train = [f"Train/{label.capitalize()}/{i:04d} {label.capitalize()}"
             for label, count in zip(BASIC7, (20, 16, 24, 18, 8, 3, 4)) for i in range(count)]
    (split_dir / "train_All.csv").write_text("\n".join(train) + "\n")
    return root


def make_mafw(root: str | Path, per_class: int = 1, size: int = 64, frames: bool = True,
              seed: int = 0) -> Path:
    """``per_class`` test clips of every class in each of the 5 folds, both protocols."""
    root = Path(root)
    number = 0
    folds = {}
    for fold in range(1, 6):
        plain, captioned = [], []
        for label in MAFW11:
            for _ in range(per_class):
                number += 1
                name = f"{number:05d}"
                clip = _frames(label, seed * 100000 + number, size)
                (root / "data" / "clips").mkdir(parents=True, exist_ok=True)
                write_mp4(str(root / "data" / "clips" / f"{name}.mp4"), clip, fps=FPS, audio=_sound(clip, number))
                if frames:
                    _write_folder(root / "data" / "frames" / name, clip)
                plain.append(f"{name}.mp4 {label}")
                if label != "neutral":
                    captioned.append(f"{name}.mp4\t{label}\t一个人看起来{label}")
        for variant, lines, encoding in (("no_caption", plain, "utf-8"), ("with_caption", captioned, "gbk")):
            folder = root / "Train & Test Set" / "single" / variant / f"set_{fold}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "test.txt").write_bytes("".join(f"{x}\r\n" for x in lines).encode(encoding))
        folds[fold] = (plain, captioned)
    for fold in range(1, 6):  # each fold trains on the other folds' test clips
        for variant, index, encoding in (("no_caption", 0, "utf-8"), ("with_caption", 1, "gbk")):
            lines = [x for k, part in folds.items() if k != fold for x in part[index]]
            folder = root / "Train & Test Set" / "single" / variant / f"set_{fold}"
            (folder / "train.txt").write_bytes("".join(f"{x}\r\n" for x in lines).encode(encoding))
    return root


def make_all(out: str | Path, **kwargs) -> Path:
    out = Path(out)
    make_dfew(out / "DFEW", **kwargs)
    make_ferv39k(out / "FERV39k", **kwargs)
    make_mafw(out / "MAFW", **kwargs)
    return out


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m harness.testing.releases OUT_DIR")
    print(make_all(sys.argv[1]))
