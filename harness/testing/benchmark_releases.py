"""Tiny copies of the MME-Emotion and EmoBench-M releases, laid out as published, and re-encoded
copies of clips for testing ``harness data overlap``.

MME-Emotion (FunAudioLLM/MME-Emotion, ``MME-Emotion-Dataset/``): ``<TASK>/question/<TASK_>.json``,
JSON lists of ``{"video_id", "label", "label_set"}`` with each source's published label set and
spelling (DFEW's unpadded ``DFEW/video/2271.mp4``, MAFW's ``MAFW/video/03052.mp4``, CAER's
``CAER/video/test_Disgust_0072.avi``, IEMOCAP's capitalised labels), ``ML-ER``'s comma-joined
multi-labels; the clips at their ``video_id`` under the root.

EmoBench-M (Emo-gml/EmoBench-M README, "Dataset Structure"): ``benchmark_json/<NAME>.json``,
JSON lists of ``{"id", "video", "conversations": [human, gpt]}``, the clips under
``dataset/<FOLDER>/videos/...`` (``SIMS.json``'s under ``dataset/SIMS_test``). The human turns
follow the wording of the repository's published example instruction; the transcripts are
made up.

Clips are drawn by the synthetic face renderer (H.264 mp4, or MPEG-4 Part 2 in AVI where the
release names ``.avi``), with seeds of their own, so none repeats a clip of
:mod:`harness.testing.releases` unless a copy is planted on purpose with :class:`Copy`.

    python -m harness.testing.benchmark_releases OUT_DIR
        # OUT_DIR/DFEW (tiny, videos only), OUT_DIR/MME-Emotion with six DFEW clips planted in
        # its ER-Wild questions re-encoded at other sizes, bitrates and frame rates (one under
        # another label), OUT_DIR/EmoBench-M
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import av
import numpy as np
from PIL import Image

from harness.emotions import BASIC7
from harness.frames.video import read_frames
from harness.lexicon import concept_of
from harness.testing.face import FaceRenderer, clip_spec, intensity_at
from harness.testing.releases import make_dfew
from harness.types import FrameProtocol

FPS = 25
_BASIC_OF_CONCEPT = {"anger": "angry", "disgust": "disgust", "fear": "fear", "happiness": "happy",
                     "neutral": "neutral", "sadness": "sad", "surprise": "surprise", "contempt": "disgust",
                     "anxiety": "fear", "helplessness": "sad", "disappointment": "sad"}
_BASIC_OF_WORD = {"positive": "happy", "negative": "sad", "weak positive": "happy", "strong positive": "happy",
                  "weak negative": "sad", "strong negative": "angry", "true": "happy", "false": "neutral",
                  "frustration": "angry", "excited": "happy", "other": "neutral"}

# Label sets as the release's question files publish them (their order and spelling).
DFEW_SET = ("neutral", "happy", "angry", "sad", "fear", "surprise", "disgust")
MAFW_SET = ("disappointment", "disgust", "fear", "sadness", "contempt", "anxiety", "helplessness", "happiness",
            "neutral", "anger", "surprise")
CAER_SET = ("disgust", "anger", "surprise", "neutral", "fear", "happy", "sad")
IEMOCAP_SET = ("Anger", "Sadness", "Surprise", "Happiness", "Excited", "Fear", "Frustration", "Neutral", "Other")
ML_ER_SET = ("disappointment", "fear", "contempt", "disgust", "sadness", "anger", "anxiety", "happiness", "surprise",
             "helplessness")


def draw(label: str, seed: int, size: int = 64, duration: tuple[float, float] = (2.0, 2.4)) -> np.ndarray:
    """A synthetic face clip (T, H, W, 3) showing the basic expression nearest ``label``."""
    word = label.strip().lower()
    expression = word if word in BASIC7 else _BASIC_OF_WORD.get(word) or \
        _BASIC_OF_CONCEPT.get(concept_of(word) or "", "neutral")
    rng = np.random.default_rng([seed, 7, 1])
    clip = clip_spec("x", expression, rng, micro_share=0.0, duration=duration)
    renderer = FaceRenderer(size, expression, np.random.default_rng([seed, 7, 2]))
    count = int(round(clip["duration"] * FPS))
    return np.stack([renderer.frame(intensity_at(i / FPS, clip), i / FPS) for i in range(count)])


def write_clip(path: str | Path, frames: np.ndarray, fps: float = FPS, crf: int = 23,
               bit_rate: int | None = None) -> Path:
    """Write RGB frames as H.264 mp4 (``crf``, or ``bit_rate`` bits/s) or, for ``.avi``, MPEG-4 Part 2
    in AVI (``bit_rate``, default 400 kbit/s); written to a temporary name and renamed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    t, h, w, _ = frames.shape
    avi = path.suffix.lower() == ".avi"
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}{path.suffix}")
    with av.open(str(tmp), "w", format="avi" if avi else "mp4") as container:
        stream = container.add_stream("mpeg4" if avi else "libx264", rate=int(round(fps)))
        stream.width, stream.height, stream.pix_fmt = w - w % 2, h - h % 2, "yuv420p"
        if avi:
            stream.bit_rate = bit_rate or 400_000
        elif bit_rate:
            stream.bit_rate = bit_rate
            stream.options = {"preset": "veryfast", "x264-params": "rc-lookahead=0:mbtree=0"}
        else:
            stream.options = {"preset": "veryfast", "crf": str(crf), "x264-params": "rc-lookahead=0:mbtree=0"}
        stream.codec_context.thread_count = 1
        for image in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image[:h - h % 2, :w - w % 2]), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    os.replace(tmp, path)
    return path


@dataclass(frozen=True)
class Copy:
    """A clip of another release planted in a copy, re-encoded: ``size`` (width, height), ``crf``
    or ``bit_rate``, ``fps`` (the frame rate written), ``drop_every`` (drop every n-th frame, as a
    conversion to a lower frame rate does)."""

    source: str  # the clip to copy
    video_id: str  # where the copy goes (a path under the release root)
    label: str  # the label the copy's release gives it
    size: tuple[int, int] = (96, 96)
    crf: int = 30
    bit_rate: int | None = None
    fps: float = FPS
    drop_every: int = 0


def reencode(copy: Copy, root: str | Path) -> Path:
    """Decode ``copy.source`` and write it to ``root / copy.video_id`` at another size and bitrate."""
    frames = read_frames(copy.source, FrameProtocol(strategy="all", num_frames=None)).array
    if copy.drop_every > 1:
        frames = np.stack([f for i, f in enumerate(frames) if i % copy.drop_every != copy.drop_every - 1])
    resized = np.stack([np.asarray(Image.fromarray(f).resize(copy.size, Image.Resampling.BILINEAR)) for f in frames])
    return write_clip(Path(root) / copy.video_id, resized, fps=copy.fps, crf=copy.crf, bit_rate=copy.bit_rate)


def _questions(entries: list[dict]) -> str:
    return json.dumps(entries, indent=2, ensure_ascii=False) + "\n"


def make_mme_emotion(root: str | Path, per_class: int = 1, size: int = 64, seed: int = 0,
                     copies: Sequence[Copy] = ()) -> Path:
    """``per_class`` clips of every label of ER-Wild's CAER, MAFW and DFEW sources and of ER-Lab's
    IEMOCAP, three ML-ER questions, and ``copies`` appended to ER-Wild (under the source their
    ``video_id`` names, with that source's label set)."""
    root = Path(root)
    number = 0

    def clip(video_id: str, label: str) -> None:
        nonlocal number
        number += 1
        write_clip(root / video_id, draw(label, seed * 1_000_003 + 50_000 + number, size))

    sets = {"CAER": CAER_SET, "MAFW": MAFW_SET, "DFEW": DFEW_SET}
    wild: list[dict] = []
    for label in CAER_SET:
        for k in range(per_class):
            video_id = f"CAER/video/test_{label.capitalize()}_{k + 1:04d}.avi"
            clip(video_id, label)
            wild.append({"video_id": video_id, "label": label, "label_set": list(CAER_SET)})
    for i, label in enumerate(MAFW_SET * per_class):
        video_id = f"MAFW/video/{7000 + i:05d}.mp4"
        clip(video_id, label)
        wild.append({"video_id": video_id, "label": label, "label_set": list(MAFW_SET)})
    for i, label in enumerate(DFEW_SET * per_class):
        video_id = f"DFEW/video/{9000 + i}.mp4"
        clip(video_id, label)
        wild.append({"video_id": video_id, "label": label, "label_set": list(DFEW_SET)})
    for copy in copies:
        source = copy.video_id.split("/", 1)[0]
        if copy.label not in sets.get(source, ()):
            raise ValueError(f"{copy.video_id}: label {copy.label!r} is not in {source}'s label set")
        reencode(copy, root)
        wild.append({"video_id": copy.video_id, "label": copy.label, "label_set": list(sets[source])})
    lab = []
    for label in IEMOCAP_SET * per_class:
        video_id = f"IEMOCAP/video/Ses05F_impro0{len(lab) % 9 + 1}_F{len(lab):03d}.mp4"
        clip(video_id, label)
        lab.append({"video_id": video_id, "label": label, "label_set": list(IEMOCAP_SET)})
    multi = [{"video_id": f"MAFW/video/{7000 + i:05d}.mp4", "label": label, "label_set": list(ML_ER_SET)}
             for i, label in enumerate(("anger,disgust", "fear,surprise", "sadness,helplessness,disappointment"))]
    for folder, entries in (("ER-Wild", wild), ("ER-Lab", lab), ("ML-ER", multi)):
        path = root / folder / "question" / f"{folder.replace('-', '_')}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_questions(entries))
    return root


# EmoBench-M: (json name, folder under dataset/, video path pattern, categories, what is asked)
_EMOBENCH = (
    ("mer2023", "mer2023", "videos/MER2023/sample_{n:08d}.mp4",
     ("happy", "sad", "neutral", "angry", "worried", "surprise"), "emotion"),
    ("RAVDSS_speech", "RAVDSS_speech", "videos/RAVDSS/01-01-{code:02d}-01-01-01-{actor:02d}.mp4",
     ("neutral", "calm", "happy", "sad", "angry", "fearful", "surprised", "disgust"), "emotion"),
    ("FGMSA", "FGMSA", "videos/FGMSA/{n:04d}.mp4",
     ("weak negative", "strong negative", "neutral", "strong positive", "weak positive"), "sentiment"),
    ("SIMS", "SIMS_test", "videos/SIMS/video_{n:04d}/0001.mp4", ("neutral", "negative", "positive"), "sentiment"),
)
# RAVDESS file names code the emotion: 01 neutral, 02 calm, 03 happy, 04 sad, 05 angry, 06 fearful, 07 disgust,
# 08 surprised.
_RAVDESS_CODE = {"neutral": 1, "calm": 2, "happy": 3, "sad": 4, "angry": 5, "fearful": 6, "disgust": 7, "surprised": 8}
_LINES = ("I really did not expect to see you here today.", "We have to leave before it gets dark.",
          "That is exactly what I told them last week.", "Nobody answered the phone all morning.")


def make_emobench_m(root: str | Path, per_class: int = 1, size: int = 64, seed: int = 0) -> Path:
    """``per_class`` clips of every category of mer2023, RAVDSS_speech, FGMSA and SIMS."""
    root = Path(root)
    number = 0
    for name, folder, pattern, categories, asked in _EMOBENCH:
        entries = []
        for k in range(per_class):
            for label in categories:
                number += 1
                video = pattern.format(n=number, code=_RAVDESS_CODE.get(label, 1), actor=k + 1)
                write_clip(root / "dataset" / folder / video, draw(label, seed * 1_000_003 + 90_000 + number, size))
                question = (f"<video>\nThe person in the video says: {_LINES[number % len(_LINES)]} Determine the "
                            f"{asked} conveyed. Do not provide any additional explanations or extra content. "
                            f"Choose one of the following labels as your final answer: {', '.join(categories)}. "
                            f"Respond in the format: {{'{asked}': 'label'}}.")
                entries.append({"id": str(len(entries)), "video": video,
                                "conversations": [{"from": "human", "value": question},
                                                  {"from": "gpt", "value": label}]})
        path = root / "benchmark_json" / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(entries, indent=2, ensure_ascii=False) + "\n")
    return root


def dfew_copies(dfew_root: str | Path) -> list[Copy]:
    """Six DFEW clips (of a copy made by :func:`harness.testing.releases.make_dfew` with the
    default one clip per class and fold) as MME-Emotion plants them: unpadded ids, some named
    after another DFEW clip, re-encoded at other sizes, bitrates and frame rates; the last one
    under a label its DFEW split file does not give it."""
    clips = Path(dfew_root) / "Clip" / "original"
    dfew = dict(enumerate(("happy", "sad", "neutral", "angry", "surprise", "disgust", "fear")))

    def src(number: int) -> str:
        return str(clips / f"{number:05d}.mp4")

    def label(number: int) -> str:
        return dfew[(number - 1) % 7]

    return [
        Copy(src(1), "DFEW/video/1.mp4", label(1), size=(96, 96), crf=30),
        Copy(src(5), "DFEW/video/5.mp4", label(5), size=(48, 48), crf=36),
        Copy(src(10), "DFEW/video/2271.mp4", label(10), size=(90, 72), crf=38, fps=30),
        Copy(src(18), "DFEW/video/18.mp4", label(18), size=(80, 80), crf=28, fps=20, drop_every=5),
        Copy(src(27), "DFEW/video/3433.mp4", label(27), size=(112, 112), bit_rate=60_000),
        Copy(src(33), "DFEW/video/33.mp4", "happy" if label(33) != "happy" else "sad", size=(64, 64), crf=33),
    ]


def make_all(out: str | Path) -> Path:
    out = Path(out)
    make_dfew(out / "DFEW", media=("video",))
    make_mme_emotion(out / "MME-Emotion", copies=dfew_copies(out / "DFEW"))
    make_emobench_m(out / "EmoBench-M")
    return out


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m harness.testing.benchmark_releases OUT_DIR")
    print(make_all(sys.argv[1]))
