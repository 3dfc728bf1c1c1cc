"""Frame folders: clips released as one image file per frame (DFEW, FERV39k, MAFW).

Files are ordered by natural sort (``2.jpg`` before ``10.jpg``); only the
sampled files are read, JPEGs with libjpeg-turbo through simplejpeg (about
1.5x faster than Pillow, DESIGN.md section 8) and other formats with Pillow.
The frame rate is a task fact passed in by the caller: None means the
folder has no real time base.
"""

from __future__ import annotations

import os
import re

import numpy as np
import simplejpeg
from PIL import Image

from harness.errors import MediaError
from harness.frames.sampling import select_indices, target_size
from harness.types import FrameProtocol, Frames

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")


_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str):
    return [int(part) if part.isdigit() else part.lower() for part in _DIGITS.split(name)]


def list_frames(folder: str) -> list[str]:
    """Image files of a frame folder in natural order."""
    try:
        names = [n for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXTENSIONS)]
    except FileNotFoundError:
        raise MediaError(f"{folder}: frame folder not found") from None
    except NotADirectoryError:
        raise MediaError(f"{folder}: not a folder") from None
    stems = [n.rsplit(".", 1)[0] for n in names]
    if all(stem.isdigit() for stem in stems):  # the common case, 1.jpg ... 847.jpg: a cheap sort
        return [n for _, n in sorted(zip(map(int, stems), names))]
    return sorted(names, key=natural_key)


def _read_image(path: str) -> np.ndarray:
    if path.lower().endswith((".jpg", ".jpeg")):
        with open(path, "rb") as f:
            data = f.read()
        try:
            return simplejpeg.decode_jpeg(data, colorspace="RGB")
        except ValueError:
            pass  # e.g. a CMYK or progressive oddity: let Pillow try
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def read_frame_folder(folder: str, protocol: FrameProtocol, sample_id: str = "",
                      fps: float | None = None, apex: tuple[float, float] | None = None) -> Frames:
    names = list_frames(folder)
    if not names:
        raise MediaError(f"{folder}: no image files ({', '.join(IMAGE_EXTENSIONS)}) in the frame folder")
    if protocol.needs_time_base and not fps:
        raise MediaError(f"{folder}: this frame folder has no time base (its frames are not at a "
                         f"known rate), so fps sampling cannot be used; use uniform or segment")
    try:
        indices = select_indices(len(names), protocol, sample_id, fps, apex=apex)
    except MediaError as exc:
        raise MediaError(f"{folder}: {exc}") from None
    images: dict[int, np.ndarray] = {}
    size = None
    for i in indices:
        if i in images:
            continue
        path = os.path.join(folder, names[i])
        try:
            image = _read_image(path)
        except (OSError, ValueError) as exc:
            raise MediaError(f"{path}: cannot read image: {exc}") from None
        if size is None:
            size = target_size(image.shape[1], image.shape[0], protocol)
        if (image.shape[1], image.shape[0]) != size:  # resized once, here
            image = np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR))
        images[i] = image
    shapes = {a.shape for a in images.values()}
    if len(shapes) > 1:
        raise MediaError(f"{folder}: frames have different sizes {sorted(shapes)}")
    # A declared rate is the task's knowledge; without one, the protocol's stated nominal clock
    # (recorded in its name) is used, never a library's default.
    clock, time_base = (fps, "declared") if fps else (protocol.nominal_fps, "nominal")
    if not clock:
        clock, time_base = None, "none"
    timestamps = [round(i / clock, 6) for i in indices] if clock else None
    return Frames(array=np.stack([images[i] for i in indices]), indices=indices,
                  timestamps=timestamps, fps=clock, total_frames=len(names), time_base=time_base,
                  duration=round(len(names) / clock, 6) if clock else None)
