"""Tiny copies of the micro-expression releases, laid out as distributed, quirks included.

Faces are drawn by the synthetic renderer, each frame's expression intensity
rising from the onset to the apex frame and falling to the offset frame; the
annotation files are real ``.xlsx`` files written with openpyxl, with each
release's header and spelling. The quirks the readers must survive:

- CASME II: ``Subject`` as text (``'01'``), two blank header columns, a ``/``
  apex (sub04 EP12_01f), an apex equal to its onset (sub05 EP09_05f), frames
  ``img46.jpg`` in ``CASME2_RAW_selected`` and ``reg_img46.jpg`` in
  ``Cropped``, where one clip keeps the ``img`` prefix;
- SAMM: 13 rows of notes and the header in row 14 of sheet ``MICRO_ONLY``,
  subjects as ``'006'`` and as the number 7, frame numbers padded to 5 or 4
  digits, grayscale frames, and 028_4_1's apex outside its clip;
- CAS(ME)^3: whole recordings with missing frames, two expressions of one
  recording, a repeated row, an offset before its onset, an onset at frame 0;
- SMIC: no annotation sheet, the label in the folder, camera-counter frame
  numbers (``image0612345.bmp``, cropped ``reg_image...``), HS, VIS and NIR,
  and a ``non_micro`` folder that is not part of the recognition set;
- MMEW: frames numbered from 1 under ``Micro_Expression/<emotion>/<clip>``;
- MEGC 2019: ``combined_3class_gt.csv`` as published (an empty ``,,,`` line
  after each row), naming SMIC ``s01``/``s01_ne_01`` and SAMM subject ``6``.

    python -m harness.testing.microexpr_releases OUT_DIR   # OUT_DIR/CASME2, SAMM, CASME3, SMIC, MMEW, MEGC2019
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from harness.testing.face import FaceRenderer

SIZE = 32
LEVELS = 5  # intensity levels drawn per clip (frames share the encoded image of their level)
_DRAW_AS = {"happiness": "happy", "happy": "happy", "disgust": "disgust", "repression": "sad", "surprise": "surprise",
            "others": "neutral", "other": "neutral", "fear": "fear", "sadness": "sad", "sad": "sad",
            "anger": "angry", "contempt": "disgust", "negative": "angry", "positive": "happy"}


def _images(emotion: str, seed: int, fmt: str, gray: bool) -> list[bytes]:
    """The clip's face at ``LEVELS`` intensities from neutral to apex, encoded once."""
    renderer = FaceRenderer(SIZE, _DRAW_AS[emotion.lower()], np.random.default_rng([seed, 7]))
    out = []
    for level in range(LEVELS):
        image = Image.fromarray(renderer.frame(level / (LEVELS - 1), 0.0))
        if gray:
            image = image.convert("L")
        buffer = io.BytesIO()
        image.save(buffer, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
        out.append(buffer.getvalue())
    return out


def _level(n: int, onset: int, apex: int | None, offset: int) -> int:
    apex = apex if apex is not None and onset <= apex <= offset else (onset + offset) // 2
    if n < onset or n > offset:
        return 0
    rise = (n - onset) / max(apex - onset, 1) if n <= apex else (offset - n) / max(offset - apex, 1)
    return int(round(max(0.0, min(1.0, rise)) * (LEVELS - 1)))


def write_frames(folder: Path, names: dict[int, str], emotion: str, onset: int, apex: int | None, offset: int,
                 seed: int, fmt: str = "JPEG", gray: bool = False) -> None:
    """Frames ``names`` (number -> file name) of one clip or recording."""
    images = _images(emotion, seed, fmt, gray)
    folder.mkdir(parents=True, exist_ok=True)
    for n, name in names.items():
        (folder / name).write_bytes(images[_level(n, onset, apex, offset)])


def write_xlsx(path: Path, sheet: str, rows: list[list]) -> None:
    import openpyxl
    book = openpyxl.Workbook()
    book.active.title = sheet
    for row in rows:
        book.active.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)


# -- CASME II ------------------------------------------------------------------------------------------
#: (Subject as text, Filename, onset, apex, offset, action units, estimated emotion)
CASME2_ROWS = [
    ("01", "EP02_01f", 46, 59, 86, "12", "happiness"),
    ("01", "EP19_05f", 96, 116, 146, "4+7", "disgust"),
    ("01", "EP03_02", 16, 36, 60, "6+12", "happiness"),
    ("02", "EP09_01", 26, 56, 95, "14", "repression"),
    ("02", "EP11_01", 16, 49, 76, "1+2", "surprise"),
    ("02", "EP13_04", 21, 41, 66, "38", "others"),
    ("04", "EP12_01f", 61, "/", 121, "4", "others"),
    ("05", "EP09_05f", 31, 31, 81, "4+7", "disgust"),
    ("05", "EP03_01", 41, 71, 101, "1+4", "fear"),
    ("05", "EP04_06", 6, 36, 66, "15", "sadness"),
]
CASME2_IMG_PREFIX_IN_CROPPED = "sub01/EP03_02"  # this clip's cropped frames keep the raw 'img' prefix


def make_casme2(root: str | Path, seed: int = 0) -> Path:
    root = Path(root)
    rows = [["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None, "Action Units",
             "Estimated Emotion"]]
    for i, (subject, name, onset, apex, offset, aus, emotion) in enumerate(CASME2_ROWS):
        rows.append([subject, name, None, onset, apex, offset, None, aus, emotion])
        apex_n = apex if isinstance(apex, int) else None
        numbers = range(onset, offset + 1)
        write_frames(root / "CASME2_RAW_selected" / f"sub{subject}" / name, {n: f"img{n}.jpg" for n in numbers},
                     emotion, onset, apex_n, offset, seed * 1000 + i)
        prefix = "img" if f"sub{subject}/{name}" == CASME2_IMG_PREFIX_IN_CROPPED else "reg_img"
        write_frames(root / "Cropped" / f"sub{subject}" / name, {n: f"{prefix}{n}.jpg" for n in numbers},
                     emotion, onset, apex_n, offset, seed * 1000 + i)
    write_xlsx(root / "CASME2-coding-20140508.xlsx", "Sheet1", rows)
    return root


# -- SAMM ----------------------------------------------------------------------------------------------
#: (Subject as written, Filename, onset, apex, offset, estimated emotion, frame-number digits)
SAMM_ROWS = [
    ("006", "006_1_2", 5562, 5588, 5632, "Anger", 5),
    ("006", "006_2_4", 180, 217, 274, "Contempt", 4),
    (7, "007_6_1", 497, 511, 541, "Happiness", 4),
    (7, "007_7_1", 7030, 7056, 7070, "Surprise", 4),
    ("011", "011_1_4", 3080, 3131, 3168, "Other", 5),
    ("011", "011_2_1", 2029, 2050, 2068, "Disgust", 4),
    ("028", "028_4_1", 1071, 1150, 1134, "Anger", 4),  # apex outside the clip, as in one circulating version
    ("026", "026_3_3", 1704, 1736, 1737, "Fear", 4),
    ("032", "032_3_2", 5126, 5160, 5207, "Sadness", 4),
]


def make_samm(root: str | Path, seed: int = 0) -> Path:
    root = Path(root)
    notes = [[f"SAMM micro-expression FACS codes: note {i}"] for i in range(1, 14)]
    header = ["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame", "Duration",
              "Micro", "Action Units", "Estimated Emotion", "Objective Classes", "Notes"]
    rows = notes + [header]
    for i, (subject, name, onset, apex, offset, emotion, digits) in enumerate(SAMM_ROWS):
        rows.append([subject, name, 1, onset, apex, offset, offset - onset + 1, "Micro", "R12", emotion, 1, None])
        folder = f"{int(subject):03d}"
        write_frames(root / "SAMM" / folder / name, {n: f"{folder}_{n:0{digits}d}.jpg" for n in range(onset, offset + 1)},
                     emotion, onset, apex, offset, seed * 1000 + 100 + i, gray=True)
    write_xlsx(root / "SAMM_Micro_FACS_Codes_v2.xlsx", "MICRO_ONLY", rows)
    return root


# -- CAS(ME)^3 Part A ----------------------------------------------------------------------------------
CASME3_VARIANT = "Compressed_version1_seperate_compress"
#: recording -> (frames, missing frame numbers)
CASME3_RECORDINGS = {("spNO.1", "a"): (300, (57, 58, 200)), ("spNO.1", "b"): (150, ()),
                     ("spNO.2", "a"): (240, (150,))}
#: (Subject, Filename, onset, apex, offset, AU, emotion)
CASME3_ROWS = [
    ("spNO.1", "a", 40, 45, 52, "12", "happy"),
    ("spNO.1", "a", 55, 60, 66, "9", "disgust"),  # frames 57 and 58 are missing: held
    ("spNO.1", "a", 120, 124, 130, "1+2", "surprise"),
    ("spNO.1", "b", 20, 26, 33, "1+4", "fear"),
    ("spNO.1", "b", 100, 104, 98, "4", "anger"),  # offset before onset: cannot be placed
    ("spNO.2", "a", 100, 103, 109, "4", "anger"),
    ("spNO.2", "a", 200, 205, 212, "15", "sad"),
    ("spNO.2", "a", 230, 234, 239, "38", "others"),  # near the recording's end: a window is moved inside it
    ("spNO.2", "a", 0, 3, 8, "6+12", "happy"),  # frame 0 does not exist: shown from frame 1
    ("spNO.1", "a", 40, 45, 52, "12", "happy"),  # the first row again: a duplicate key
]


def make_casme3(root: str | Path, seed: int = 0) -> Path:
    root = Path(root)
    rows = [["Subject", "Filename", "Onset", "Apex", "Offset", "AU", "Objective class", "emotion"]]
    rows += [[s, f, on, ap, off, au, 1, emo] for s, f, on, ap, off, au, emo in CASME3_ROWS]
    write_xlsx(root / "part_A" / "annotation" / "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx", "label", rows)
    for i, ((subject, name), (count, missing)) in enumerate(CASME3_RECORDINGS.items()):
        first = next(r for r in CASME3_ROWS if r[:2] == (subject, name))
        write_frames(root / "part_A" / "data" / CASME3_VARIANT / subject / name / "color",
                     {n: f"{n}.jpg" for n in range(1, count + 1) if n not in missing},
                     first[6], first[2], first[3], first[4], seed * 1000 + 200 + i)
    return root


# -- SMIC ----------------------------------------------------------------------------------------------
#: camera -> clips (subject folder, emotion folder, clip name, frames)
SMIC_CLIPS = {
    "HS": [("s1", "negative", "s1_ne_01", 30), ("s1", "negative", "s1_ne_02", 26), ("s1", "positive", "s1_po_01", 34),
           ("s1", "surprise", "s1_sur_01", 28), ("s2", "positive", "s2_po_01", 31), ("s2", "surprise", "s2_sur_01", 25),
           ("s3", "negative", "s3_ne_01", 40)],
    "VIS": [("s1", "negative", "s1_ne_01", 8), ("s1", "positive", "s1_po_01", 9), ("s1", "surprise", "s1_sur_01", 7)],
    "NIR": [("s1", "negative", "s1_ne_01", 8), ("s1", "positive", "s1_po_01", 9), ("s1", "surprise", "s1_sur_01", 7)],
}


def make_smic(root: str | Path, seed: int = 0) -> Path:
    root = Path(root)
    for c, (camera, clips) in enumerate(SMIC_CLIPS.items()):
        for i, (subject, emotion, name, count) in enumerate(clips):
            start = 612345 + 1000 * i  # camera counters
            numbers = range(start, start + count)
            for media, prefix in (("SMIC_all_raw", "image"), ("SMIC_all_cropped", "reg_image")):
                write_frames(root / media / camera / subject / "micro" / emotion / name,
                             {n: f"{prefix}{n:07d}.bmp" for n in numbers}, emotion, start, None, start + count - 1,
                             seed * 1000 + 300 + 10 * c + i, fmt="BMP")
        write_frames(root / "SMIC_all_raw" / camera / "s1" / "non_micro" / "negative" / "s1_ne_01",
                     {n: f"image{n:07d}.bmp" for n in range(1, 6)}, "negative", 1, None, 5, seed, fmt="BMP")
    return root


# -- MMEW ----------------------------------------------------------------------------------------------
#: (Subject, Filename, onset, apex, offset, AU, estimated emotion)
MMEW_ROWS = [
    (1, "S01-01-001", 1, 12, 30, "AU12", "happiness"),
    (1, "S01-07-001", 1, 9, 24, "AU1+AU2", "surprise"),
    (2, "S02-03-001", 1, 15, 36, "AU9", "disgust"),
    (2, "S02-05-001", 1, 10, 27, "AU1+AU4", "fear"),
    (3, "S03-00-001", 1, 8, 22, "AU14", "others"),
    (3, "S03-04-001", 1, 11, 25, "AU4", "anger"),
    (4, "S04-06-001", 1, 13, 33, "AU15", "sadness"),
]


def make_mmew(root: str | Path, seed: int = 0) -> Path:
    root = Path(root)
    rows = [["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Action Units", "Estimated Emotion",
             "remarks"]]
    for i, (subject, name, onset, apex, offset, aus, emotion) in enumerate(MMEW_ROWS):
        rows.append([subject, name, onset, apex, offset, aus, emotion, None])
        write_frames(root / "Micro_Expression" / emotion / name, {n: f"{n}.jpg" for n in range(onset, offset + 1)},
                     emotion, onset, apex, offset, seed * 1000 + 400 + i)
    write_xlsx(root / "MMEW_Micro_Exp.xlsx", "Sheet1", rows)
    return root


# -- MEGC 2019 -----------------------------------------------------------------------------------------
#: rows of combined_3class_gt.csv: db, subject, filename, class (0 negative, 1 positive, 2 surprise)
MEGC_ROWS = [
    ("casme2", "sub01", "EP02_01f", 1), ("casme2", "sub01", "EP19_05f", 0), ("casme2", "sub02", "EP09_01", 0),
    ("casme2", "sub02", "EP11_01", 2), ("casme2", "sub05", "EP09_05f", 0),
    ("smic", "s01", "s01_ne_01", 0), ("smic", "s01", "s01_po_01", 1), ("smic", "s01", "s01_sur_01", 2),
    ("smic", "s02", "s02_sur_01", 2), ("smic", "s03", "s03_ne_01", 0),
    ("samm", "6", "006_1_2", 0), ("samm", "6", "006_2_4", 0), ("samm", "7", "007_6_1", 1),
    ("samm", "7", "007_7_1", 2), ("samm", "28", "028_4_1", 0),
]


def make_megc(root: str | Path) -> Path:
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "combined_3class_gt.csv").write_text("".join(f"{d},{s},{f},{c}\n,,,\n" for d, s, f, c in MEGC_ROWS))
    return root


def make_all(out: str | Path, seed: int = 0) -> Path:
    out = Path(out)
    make_casme2(out / "CASME2", seed)
    make_samm(out / "SAMM", seed)
    make_casme3(out / "CASME3", seed)
    make_smic(out / "SMIC", seed)
    make_mmew(out / "MMEW", seed)
    make_megc(out / "MEGC2019")
    return out


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m harness.testing.microexpr_releases OUT_DIR")
    print(make_all(sys.argv[1]))
