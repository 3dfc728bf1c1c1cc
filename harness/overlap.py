"""Clips two tasks share, found by their content: ``harness data overlap TASK_A TASK_B``.

Benchmarks re-use each other's clips. MME-Emotion's in-the-wild recognition
task draws on DFEW and MAFW (its ``ER-Wild`` questions name ``DFEW/video/...``
and ``MAFW/video/...`` clips; FunAudioLLM/MME-Emotion,
``MME-Emotion-Dataset/dataset-readme.md``), so a model tuned on one may be
tested on its own training clips in the other, and a study that reports both
counts the same clip twice. File names cannot be trusted to say which clip is which
(MME-Emotion's DFEW clips are named ``2271.mp4`` where DFEW's own are five-digit
``02271.mp4``-style names) and copies may be re-encoded, so clips are matched by
what they show.

**The signature of a clip** is computed from ``K`` frames (default 32) taken
uniformly from its first to its last decoded frame, so a copy at another frame
rate samples the same moments. Each frame gives

- *structure*: the DCT perceptual hash (pHash) of the frame's luma: resized (area
  average) to 32x32, 2-D DCT-II, the 8x8 lowest frequencies, one bit per
  coefficient, set when it exceeds their median (DC left out of the median);
- *colour layout*: the frame averaged down to 8x8 cells in YCbCr (the grid of
  MPEG-7's colour layout descriptor);
- *detail*: the luma averaged down to 16x16 cells, kept whole (256 bytes). This
  is what tells two clips of one face apart: a pHash and a colour layout hardly
  change when the same face, in front of the same camera, smiles instead of
  frowning, but a 16x16 luma grid does, frame by frame.

and the clip's decoded frame size. A frame with almost no luma variation (a fade
to black) carries no structure.

**Two clips match when they agree frame by frame along the clip.** Frames are
aligned as a copy cut at either end would line up: one clip may hold up to ``C``
more frames' worth of picture than the other at its start and at its end (``C``
is a seventh of the clip rounded up, one sampling step of the old eight-frame
signature: 5 of 32 frames), the frames in between spread evenly, and each aligned
frame may take its partner's neighbour (a dropped or re-timed frame). An aligned
frame *agrees* when

- *detail*: the mean of the 8 largest of the 256 cell differences between the
  two 16x16 luma grids, each less its own mean (so a brighter copy still
  agrees), is at most 12 levels of 255 (``FINE_THRESHOLD``). A clip under 64
  pixels on a side holds no 16x16 detail to speak of, so a pair with one is
  compared on 8x8 grids (the 2 largest of 64 cell differences, at most 10
  levels; ``"level": "coarse"`` in its evidence);
- *structure*: at most ``structure`` of the 64 pHash bits differ (default 0.35;
  unrelated frames sit near 0.5; not checked where either frame is flat);
- *colour*: the mean absolute colour-layout difference is at most ``colour``
  (default 0.03 of the range).

A pair matches when, under its best alignment, at most a tenth of the compared
frames disagree (3 of 32: a fast onset caught a frame early in one copy), at
least a quarter of them carry structure on both sides, and the clips' *still
pictures* (the per-cell median over time of each clip's 16x16 grid, less each
frame's mean) differ by more than ``STATIC_THRESHOLD`` (18 levels) in at most 7
of the 256 cells. The report gives the evidence of every pair: the alignment, and
per aligned frame both frame numbers, the detail, structure and colour distances
and whether the frames agree.

**Measured** (tests/test_overlap.py, bench/overlap_scale.py; docs/benchmarks.md). On
two sets of 300 clips of three rendered faces (same face, background and camera;
other expressions, timings and head motion) with 20 planted copies re-encoded at
other sizes, bitrates and frame rates, with dropped frames and cut by up to one
step, the rule of hash version 1 (mean pHash and colour distances over 8 frames)
found every copy among 31,624 pairs (precision 0.0006); this one finds 19 of the
20 and nothing else (precision 1.0). What it cannot do: tell apart clips whose
frames look the same at 16x16 (with the heads held still, two takes differ only in
an expression a few pixels wide: precision 0.045 there, against 0.0008 before),
find copies so compressed that their detail is gone in more than a tenth of the
frames (crf 36 to 38 at 80 pixels), or find copies cropped, padded or mirrored.

**Matching is indexed, not quadratic.** The still-picture condition bounds a
matching pair: at most 7 cells differ by more than ``STATIC_THRESHOLD``. Eight
disjoint groups of 6 cells are fixed, so every matching pair has a group in
which all 6 cells agree within the threshold (pigeonhole), and each cell is
binned at twice the threshold, so a value within the threshold of another falls
in its bin or the neighbouring bin on its side. Clips of B are filed by group and
bins; each clip of A looks up the 64 bin combinations of each group. The
candidates hold **every pair that meets the still-picture condition**, whatever
the data (:func:`candidates`; the tests check that the indexed and the all-pairs
matchers return the same pairs), and only candidates are verified, in chunks, so
memory grows with the two tasks' sizes, not with their product. How much the index
prunes depends on how alike the still pictures are: clips of one face all become
candidates, and there the work is quadratic again, as it must be.

The report lists each pair with both clips' task, split, id and label, and flags
pairs whose labels disagree (labels are compared as emotion concepts, so DFEW's
``happy`` and MAFW's ``happiness`` agree; see :func:`harness.lexicon.concept_of`).
:func:`overlap_note` turns a saved report and a model's declared training data
into the note a results file can carry.

Signatures are kept under ``$HARNESS_CACHE/overlap`` keyed by the clip's path,
size and modification time, the frame count and the signature version, so a
second comparison against the same task decodes nothing.
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
import zipfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from harness.errors import DataError, MediaError, UsageError
from harness.frames.load import load_frames
from harness.lexicon import concept_of
from harness.types import FrameProtocol, Sample

HASH_VERSION = 2  # 1: 8 frames of pHash and colour layout; 2: adds the 16x16 luma grid and the frame size
REPORT_FORMAT = "harness-overlap/1"
DEFAULT_FRAMES = 32
MIN_FRAMES, MAX_FRAMES = 8, 128
STRUCTURE_THRESHOLD = 0.35  # fraction of the 64 pHash bits an agreeing frame may differ in
COLOUR_THRESHOLD = 0.03  # mean colour-layout difference of an agreeing frame, a fraction of the range
FINE_THRESHOLD = 12.0  # levels: mean of the 8 largest 16x16 cell differences of an agreeing frame
COARSE_THRESHOLD = 10.0  # levels: mean of the 2 largest 8x8 cell differences, pairs with a clip under SMALL_SIDE
STATIC_THRESHOLD = 18.0  # levels: the still pictures may differ by more than this in at most 7 cells
DISAGREE_SHARE = 0.1  # of a clip's frames, that may disagree in a matching pair (3 of 32)
SMALL_SIDE = 64  # pixels: a clip smaller than this on a side is compared on the 8x8 grid
FLAT_STD = 2.0  # luma standard deviation (0-255) below which a frame carries no structure
_HASH_SIDE, _LOW, _GRID, _FINE = 32, 8, 8, 16
_TOP_FINE, _TOP_COARSE, _STATIC_RANK = 8, 2, 8
_GROUPS, _GROUP_CELLS = 8, 6  # the index: 8 disjoint groups of 6 of the 256 cells (8 > 7 cells allowed off)


# --- signatures -------------------------------------------------------------------------------

@dataclass
class Signature:
    """One clip's hashes: ``bits`` (K,) uint64 pHash per frame, ``flat`` (K,) frames without
    structure, ``colour`` (K, 8, 8, 3) uint8 colour layout, ``fine`` (K, 16, 16) uint8 luma grid,
    ``size`` (height, width) of the decoded frames."""

    bits: np.ndarray
    flat: np.ndarray
    colour: np.ndarray
    fine: np.ndarray
    size: tuple[int, int]


def frame_hash(image: np.ndarray) -> tuple[int, bool, np.ndarray, np.ndarray]:
    """The structure hash (64-bit pHash of the luma), whether the frame is flat, the 8x8 YCbCr
    colour layout and the 16x16 luma grid of one RGB uint8 frame."""
    from PIL import Image
    from scipy.fft import dctn

    picture = Image.fromarray(np.ascontiguousarray(image))
    grey = picture.convert("L")
    luma = np.asarray(grey.resize((_HASH_SIDE, _HASH_SIDE), Image.Resampling.BOX), dtype=np.float64)
    low = dctn(luma, norm="ortho")[:_LOW, :_LOW].ravel()
    bits = low > np.median(low[1:])
    value = int.from_bytes(np.packbits(bits).tobytes(), "big")
    colour = np.asarray(picture.convert("YCbCr").resize((_GRID, _GRID), Image.Resampling.BOX), dtype=np.uint8)
    fine = np.asarray(grey.resize((_FINE, _FINE), Image.Resampling.BOX), dtype=np.uint8)
    return value, bool(luma.std() < FLAT_STD), colour, fine


def signature_of(frames: np.ndarray) -> Signature:
    """The signature of decoded frames (T, H, W, 3)."""
    hashed = [frame_hash(f) for f in frames]
    return Signature(bits=np.array([h[0] for h in hashed], dtype=np.uint64),
                     flat=np.array([h[1] for h in hashed], dtype=bool),
                     colour=np.stack([h[2] for h in hashed]), fine=np.stack([h[3] for h in hashed]),
                     size=(int(frames.shape[1]), int(frames.shape[2])))


def protocol(frames: int = DEFAULT_FRAMES) -> FrameProtocol:
    """The frames a signature is made of: ``frames`` spread uniformly over the clip."""
    return FrameProtocol(strategy="uniform", num_frames=frames)


def clip_signature(media: str, fps: float | None, frames: int = DEFAULT_FRAMES) -> Signature:
    """Decode ``frames`` frames of a video file or frame folder and hash them."""
    decoded = load_frames(Sample(id=os.path.basename(media), label="", media=media, fps=fps), protocol(frames))
    return signature_of(decoded.array)


class SignatureCache:
    """Signatures on disk, one ``.npz`` per (clip file, frame count, signature version); unreadable
    entries are misses."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def key(self, media: str, frames: int) -> str | None:
        try:
            st = os.stat(media)
        except OSError:
            return None
        identity = {"v": HASH_VERSION, "path": os.path.abspath(media), "size": st.st_size,
                    "mtime": st.st_mtime_ns, "frames": frames}
        if os.path.isdir(media):
            identity["files"] = len(os.listdir(media))
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npz"

    def get(self, key: str) -> Signature | None:
        try:
            with np.load(self._path(key), allow_pickle=False) as data:
                size = data["size"]
                return Signature(bits=data["bits"], flat=data["flat"], colour=data["colour"], fine=data["fine"],
                                 size=(int(size[0]), int(size[1])))
        except (OSError, ValueError, KeyError, IndexError, EOFError, zipfile.BadZipFile):
            return None

    def put(self, key: str, signature: Signature) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
        with open(tmp, "wb") as f:
            np.savez(f, bits=signature.bits, flat=signature.flat, colour=signature.colour, fine=signature.fine,
                     size=np.array(signature.size, dtype=np.int64))
        os.replace(tmp, path)


def _compute(job: tuple[str, float | None, int]) -> tuple[Signature | None, str | None]:
    media, fps, frames = job
    try:
        return clip_signature(media, fps, frames), None
    except MediaError as exc:
        return None, str(exc)
    except Exception as exc:  # a decoder failure of one clip must not stop the comparison
        return None, f"{media}: {type(exc).__name__}: {exc}"


# --- the clips of a task -----------------------------------------------------------------------

@dataclass(frozen=True)
class Clip:
    """One clip of one task's split."""

    task: str  # the task spec, e.g. "mme-emotion:source=DFEW"
    split: str
    id: str
    label: str
    media: str
    fps: float | None = None

    def ref(self) -> dict[str, Any]:
        return {"task": self.task, "split": self.split, "id": self.id, "label": self.label, "media": self.media}


def clips_of(task, spec: str) -> list[Clip]:
    """Every sample of every evaluated split of ``task`` (a :class:`harness.Task`)."""
    out = []
    for split in task.splits():
        for s in task.samples(split):
            out.append(Clip(task=spec, split=split, id=s.id, label=s.label, media=s.media, fps=s.fps))
    return out


def signatures(clips: Sequence[Clip], frames: int = DEFAULT_FRAMES, cache_dir: str | Path | None = None,
               workers: int | None = None) -> tuple[dict[str, Signature], dict[str, str]]:
    """Signatures by media path, and the reason for each clip that could not be decoded.

    ``workers``: decoding processes (default: up to the core count, none for fewer than 32
    clips); 0 decodes in this process."""
    cache = SignatureCache(Path(cache_dir) / "overlap") if cache_dir else None
    found: dict[str, Signature] = {}
    failed: dict[str, str] = {}
    todo: dict[str, tuple[str, float | None, int]] = {}
    for clip in clips:
        if clip.media in found or clip.media in todo:
            continue
        key = cache.key(clip.media, frames) if cache else None
        hit = cache.get(key) if key else None
        if hit is not None and len(hit.bits) == frames and hit.fine.shape == (frames, _FINE, _FINE):
            found[clip.media] = hit
        else:
            todo[clip.media] = (clip.media, clip.fps, frames)
    if workers is None:
        workers = 0 if len(todo) < 32 else min(os.cpu_count() or 1, 16)
    jobs = list(todo.values())
    if workers > 0 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            results = list(pool.map(_compute, jobs, chunksize=max(1, len(jobs) // (workers * 8))))
    else:
        results = [_compute(job) for job in jobs]
    for (media, _, _), (signature, error) in zip(jobs, results):
        if signature is None:
            failed[media] = error or "no frames"
            continue
        found[media] = signature
        key = cache.key(media, frames) if cache else None
        if key:
            try:
                cache.put(key, signature)
            except OSError:
                pass  # a read-only cache only slows the next comparison
    return found, failed


# --- options -------------------------------------------------------------------------------------

def check_options(frames: int | None = None, workers: int | None = None, show: int | None = None,
                  structure: float | None = None, colour: float | None = None) -> None:
    """The options of ``harness data overlap``, checked before any work; a one-line
    :class:`UsageError` names the option and its range.

    ``frames`` 8..128: fewer than 8 frames cannot follow an expression along a clip (two clips of
    one face differ in a few frames of it), and more than 128 exceed the frame count of a typical
    clip (2 to 5 s at 25 to 30 fps), adding decoding and matching time without adding evidence.
    ``workers`` 0..the core count; ``show`` at least 0; thresholds fractions strictly between 0 and 1."""
    if frames is not None and not MIN_FRAMES <= frames <= MAX_FRAMES:
        raise UsageError(f"--frames must be between {MIN_FRAMES} and {MAX_FRAMES}, got {frames}")
    cores = os.cpu_count() or 1
    if workers is not None and not 0 <= workers <= cores:
        raise UsageError(f"--workers must be between 0 and {cores} (the cores of this machine), got {workers}")
    if show is not None and show < 0:
        raise UsageError(f"--show must be at least 0, got {show}")
    for flag, value in (("--threshold", structure), ("--colour-threshold", colour)):
        if value is not None and not (math.isfinite(value) and 0 < value < 1):
            raise UsageError(f"{flag} must be a fraction between 0 and 1 (exclusive), got {value}")


# --- matching ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Thresholds:
    """What an agreeing frame and a matching pair may differ by (see the module docstring)."""

    structure: float = STRUCTURE_THRESHOLD
    colour: float = COLOUR_THRESHOLD
    fine: float = FINE_THRESHOLD
    coarse: float = COARSE_THRESHOLD
    static: float = STATIC_THRESHOLD
    disagree: float = DISAGREE_SHARE


class Side:
    """One task's signatures stacked for matching: ``bits`` (n, K) uint64, ``flat`` (n, K),
    ``colour`` (n, K, 192) uint8, ``fine`` (n, K, 256) uint8, ``small`` (n,) clips under
    ``SMALL_SIDE`` pixels; derived: each frame's mean luma and each clip's still picture (the
    per-cell median over time of its 16x16 grid less each frame's mean)."""

    def __init__(self, bits: np.ndarray, flat: np.ndarray, colour: np.ndarray, fine: np.ndarray,
                 small: np.ndarray, chunk: int = 2048):
        n = len(bits)
        self.bits = np.ascontiguousarray(bits, dtype=np.uint64)
        self.flat = np.ascontiguousarray(flat, dtype=bool)
        self.colour = np.ascontiguousarray(colour, dtype=np.uint8).reshape(n, self.bits.shape[1] if n else 0, -1)
        self.fine = np.ascontiguousarray(fine, dtype=np.uint8).reshape(n, self.bits.shape[1] if n else 0, -1)
        self.small = np.ascontiguousarray(small, dtype=bool)
        self.mean = np.zeros(self.bits.shape, np.float32)
        self.still = np.zeros((n, _FINE * _FINE), np.float32)
        for start in range(0, n, chunk):
            grid = self.fine[start:start + chunk].astype(np.float32)
            mean = grid.mean(axis=2)
            self.mean[start:start + chunk] = mean
            self.still[start:start + chunk] = np.median(grid - mean[..., None], axis=1)

    def __len__(self) -> int:
        return len(self.bits)

    @property
    def frames(self) -> int:
        return self.bits.shape[1]

    @classmethod
    def of(cls, sigs: Sequence[Signature]) -> Side:
        if not sigs:
            return cls(np.zeros((0, 0), np.uint64), np.zeros((0, 0), bool), np.zeros((0, 0, 192), np.uint8),
                       np.zeros((0, 0, 256), np.uint8), np.zeros(0, bool))
        return cls(np.stack([s.bits for s in sigs]), np.stack([s.flat for s in sigs]),
                   np.stack([s.colour.reshape(len(s.bits), -1) for s in sigs]),
                   np.stack([s.fine.reshape(len(s.bits), -1) for s in sigs]),
                   np.array([min(s.size) < SMALL_SIDE for s in sigs], dtype=bool))


def alignments(frames: int) -> tuple[int, list[tuple[np.ndarray, np.ndarray, dict[str, list[int]]]]]:
    """The ways two clips of ``frames`` samples may line up: (``C``, [(frames of A, frames of B,
    which clip holds how many frames' worth more at its start and end)]). One clip may hold up to
    ``C`` (a seventh of the clip) more at either end; the frames in between spread evenly."""
    extra = max(1, math.ceil((frames - 1) / 7))
    p = np.arange(frames)
    out = []
    for c0 in range(extra + 1):
        for c1 in range(extra + 1):
            span = frames - 1 - c0 - c1
            # A shows part of B: B holds c0 frames' worth more at its start and c1 at its end
            out.append((p, np.rint(c0 + p * span / (frames - 1)).astype(int), {"a_more": [0, 0], "b_more": [c0, c1]}))
            if c0 or c1:  # B shows part of A
                q = (p - c0) * (frames - 1) / span
                keep = (q > -0.5) & (q < frames - 0.5)
                out.append((p[keep], np.rint(q[keep]).astype(int), {"a_more": [c0, c1], "b_more": [0, 0]}))
    return extra, out


def _index_cells() -> np.ndarray:
    """The index's 8 disjoint groups of 6 cells of the 16x16 grid, fixed (seeded), spread over it."""
    order = np.random.default_rng(20240533).permutation(_FINE * _FINE)
    return order[:_GROUPS * _GROUP_CELLS].reshape(_GROUPS, _GROUP_CELLS)


def _kth_largest(values: np.ndarray, k: int) -> np.ndarray:
    return np.partition(values, -k, axis=-1)[..., -k]


def candidates(a: Side, b: Side, static: float = STATIC_THRESHOLD, same_task: bool = False,
               chunk: int = 4096) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Pairs (indices into ``a`` and ``b``) that may meet the appearance condition, in chunks.

    Exact: every pair whose still pictures differ by more than ``static`` in at most 7 cells is
    among them (of 8 disjoint groups of cells, one then agrees within ``static`` in all its cells;
    each cell is binned at a width of twice the threshold, so the partner's value lies in the bin
    or the neighbouring bin on its side, and every combination of the two is looked up). The bins
    are taken a hair wider than twice the threshold so that rounding cannot lose a pair."""
    if not len(a) or not len(b):
        return
    cells = _index_cells()
    margin = static * (1 + 1e-6) + 1e-3
    width = 2 * margin
    base = int(math.ceil(520 / width)) + 3
    powers = base ** np.arange(_GROUP_CELLS, dtype=np.int64)
    combos = np.array(np.meshgrid(*[[0, 1]] * _GROUP_CELLS, indexing="ij")).reshape(_GROUP_CELLS, -1).T.astype(bool)

    def binned(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        shifted = values.astype(np.float64) + 260.0
        bins = np.floor(shifted / width).astype(np.int64)
        return bins, shifted - bins * width < margin  # in the lower half: the neighbour below

    tables = []
    for group in cells:
        keys = binned(b.still[:, group])[0] @ powers
        order = np.argsort(keys, kind="stable")
        tables.append((keys[order], order))
    for start in range(0, len(a), chunk):
        rows_a, rows_b = [], []
        for group, (keys_b, order_b) in zip(cells, tables):
            bins, lower = binned(a.still[start:start + chunk][:, group])
            neighbour = np.where(lower, bins - 1, bins + 1)
            keys = np.where(combos[None], neighbour[:, None, :], bins[:, None, :]) @ powers  # (m, 32)
            lo = np.searchsorted(keys_b, keys, "left").ravel()
            counts = np.searchsorted(keys_b, keys, "right").ravel() - lo
            total = int(counts.sum())
            if not total:
                continue
            which = np.repeat(np.arange(len(counts)), counts)
            offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
            rows_a.append(start + which // len(combos))
            rows_b.append(order_b[lo[which] + offsets])
        if not rows_a:
            continue
        pair = np.unique(np.concatenate(rows_a) * len(b) + np.concatenate(rows_b))
        ia, ib = pair // len(b), pair % len(b)
        if same_task:
            keep = ia < ib
            ia, ib = ia[keep], ib[keep]
        if len(ia):
            yield ia, ib


def all_pairs(a: Side, b: Side, same_task: bool = False, chunk: int = 1 << 20) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Every pair, in chunks: what :func:`candidates` is checked against."""
    rows = max(1, chunk // max(1, len(b)))
    for start in range(0, len(a), rows):
        ia, ib = np.divmod(np.arange(start * len(b), min(len(a), start + rows) * len(b)), len(b))
        if same_task:
            keep = ia < ib
            ia, ib = ia[keep], ib[keep]
        if len(ia):
            yield ia, ib


def _frame_table(a: Side, b: Side, ia: np.ndarray, ib: np.ndarray, reach: int, coarse: bool,
                 th: Thresholds) -> dict[str, np.ndarray]:
    """Per pair, per frame of A, per offset -reach..reach of B's frame: detail, colour and structure
    distances, whether either frame is flat, and whether the frames agree."""
    n, k = len(ia), a.frames
    width = 2 * reach + 1
    grid_a = a.fine[ia].astype(np.float32) - a.mean[ia][..., None]
    grid_b = b.fine[ib].astype(np.float32) - b.mean[ib][..., None]
    top, limit = _TOP_FINE, th.fine
    if coarse:
        half = _FINE // 2
        grid_a = grid_a.reshape(n, k, half, 2, half, 2).mean(axis=(3, 5)).reshape(n, k, -1)
        grid_b = grid_b.reshape(n, k, half, 2, half, 2).mean(axis=(3, 5)).reshape(n, k, -1)
        top, limit = _TOP_COARSE, th.coarse
    colour_a, colour_b = a.colour[ia].astype(np.int16), b.colour[ib].astype(np.int16)
    bits_a, bits_b = a.bits[ia], b.bits[ib]
    flat_a, flat_b = a.flat[ia], b.flat[ib]
    fine = np.full((n, k, width), np.inf, np.float32)
    colour = np.full((n, k, width), np.inf, np.float32)
    structure = np.full((n, k, width), 64, np.int16)
    flat = np.ones((n, k, width), bool)
    for j, d in enumerate(range(-reach, reach + 1)):
        lo, hi = max(0, -d), min(k, k - d)
        if lo >= hi:
            continue
        diff = np.abs(grid_a[:, lo:hi] - grid_b[:, lo + d:hi + d])
        fine[:, lo:hi, j] = np.partition(diff, -top, axis=-1)[..., -top:].mean(axis=-1)
        colour[:, lo:hi, j] = np.abs(colour_a[:, lo:hi] - colour_b[:, lo + d:hi + d]).mean(axis=-1) / 255
        structure[:, lo:hi, j] = np.bitwise_count(bits_a[:, lo:hi] ^ bits_b[:, lo + d:hi + d])
        flat[:, lo:hi, j] = flat_a[:, lo:hi] | flat_b[:, lo + d:hi + d]
    agree = (fine <= limit) & (colour <= th.colour) & ((structure <= int(th.structure * 64)) | flat)
    return {"fine": fine, "colour": colour, "structure": structure, "flat": flat, "agree": agree}


@dataclass
class Match:
    """A pair that matched (indices into the two sides) and its evidence."""

    a: int
    b: int
    evidence: dict[str, Any]


def _verify(a: Side, b: Side, ia: np.ndarray, ib: np.ndarray, still: np.ndarray, th: Thresholds) -> list[Match]:
    """The pairs (which meet the appearance condition, ``still`` their appearance distances) that
    agree frame by frame, with their evidence."""
    k = a.frames
    extra, ways = alignments(k)
    reach = max(int(np.abs(q - p).max()) for p, q, _ in ways) + 1
    allowed, need = max(1, int(k * th.disagree)), max(1, math.ceil(k / 4))
    out: list[Match] = []
    for coarse in (False, True):
        pick = (a.small[ia] | b.small[ib]) == coarse
        if not pick.any():
            continue
        sa, sb, sstill = ia[pick], ib[pick], still[pick]
        table = _frame_table(a, b, sa, sb, reach, coarse, th)
        agree, fine = table["agree"], table["fine"]
        best = np.full(len(sa), np.inf)
        chosen = np.zeros(len(sa), int)
        for w, (p, q, _) in enumerate(ways):
            col = q - p + reach
            cols = np.stack([col - 1, col, col + 1])  # each frame may take its partner's neighbour
            ok = agree[:, p[None], cols].any(axis=1)
            near = np.where(agree[:, p[None], cols], fine[:, p[None], cols], np.inf).min(axis=1)
            near = np.where(ok, near, fine[:, p[None], cols].min(axis=1))
            usable = (~table["flat"][:, p, col]).sum(axis=1)
            bad = (~ok).sum(axis=1)
            score = np.where((bad <= allowed) & (usable >= need), bad * 1e6 + near.mean(axis=1), np.inf)
            better = score < best
            best[better], chosen[better] = score[better], w
        for r in np.nonzero(np.isfinite(best))[0]:
            p, q, cut = ways[chosen[r]]
            col = q - p + reach
            cols = np.stack([col - 1, col, col + 1])
            ok_here = agree[r][p[None], cols]
            cost = np.where(ok_here, 0.0, 1e6) + fine[r][p[None], cols]
            pick_j = cols[cost.argmin(axis=0), np.arange(len(p))]
            frames_b = p + pick_j - reach
            flat_here = table["flat"][r, p, pick_j]
            bits = table["structure"][r, p, pick_j]
            evidence = {
                "level": "coarse" if coarse else "fine",
                "alignment": {side: list(more) for side, more in cut.items()},
                "frames_compared": int(len(p)),
                "frames_agree": int(agree[r, p, pick_j].sum()),
                "still": round(float(sstill[r]), 2),
                "a_frame": p.tolist(), "b_frame": frames_b.tolist(),
                "detail": [round(float(x), 2) for x in fine[r, p, pick_j]],
                "structure_bits": [None if f else int(x) for f, x in zip(flat_here, bits)],
                "colour": [round(float(x), 5) for x in table["colour"][r, p, pick_j]],
                "agree": [bool(x) for x in agree[r, p, pick_j]],
            }
            out.append(Match(int(sa[r]), int(sb[r]), evidence))
    return out


def match(a: Side, b: Side, thresholds: Thresholds = Thresholds(), same_task: bool = False, method: str = "index",
          chunk: int = 1024, stats: dict[str, int] | None = None) -> list[Match]:
    """Every pair of clips of ``a`` and ``b`` that matches (see the module docstring).

    ``method``: ``index`` (candidates from :func:`candidates`) or ``all`` (every pair; the same
    result, for checking); ``same_task``: ``a`` and ``b`` are one task (each pair once, no clip
    with itself); ``stats`` gets the counts of candidates, of pairs meeting the appearance
    condition and of matches. Memory is bounded by ``chunk`` pairs at a time, whatever the sizes."""
    if method not in ("index", "all"):
        raise ValueError(f"unknown matching method {method!r} (index or all)")
    if a.frames != b.frames and len(a) and len(b):
        raise DataError(f"overlap: signatures of {a.frames} and {b.frames} frames cannot be compared")
    stats = stats if stats is not None else {}
    stats.setdefault("candidates", 0)
    stats.setdefault("appearance", 0)
    source = candidates(a, b, thresholds.static, same_task) if method == "index" else all_pairs(a, b, same_task)
    out: list[Match] = []
    for ia, ib in source:
        stats["candidates"] += len(ia)
        for start in range(0, len(ia), chunk * 16):
            # the appearance condition is cheap: checked on bigger slices, the frames ``chunk`` pairs at a time
            sa, sb = ia[start:start + chunk * 16], ib[start:start + chunk * 16]
            still = _kth_largest(np.abs(a.still[sa] - b.still[sb]), _STATIC_RANK)
            near = still <= thresholds.static
            sa, sb, still = sa[near], sb[near], still[near]
            stats["appearance"] += len(sa)
            for s in range(0, len(sa), chunk):
                out.extend(_verify(a, b, sa[s:s + chunk], sb[s:s + chunk], still[s:s + chunk], thresholds))
    stats["matches"] = len(out)
    out.sort(key=lambda m: (m.a, m.b))
    return out


def labels_agree(a: str, b: str) -> bool:
    """Whether two tasks' labels name the same emotion (``happy`` and ``happiness`` do)."""
    ca, cb = concept_of(a), concept_of(b)
    if ca is not None and cb is not None:
        return ca == cb
    return a.strip().lower() == b.strip().lower()


@dataclass
class Pair:
    """Two clips that show the same thing, and the evidence: the alignment and, per aligned frame,
    the detail, structure and colour distances and whether the frames agree."""

    a: Clip
    b: Clip
    structure: float  # mean fraction of differing pHash bits over the aligned frames with structure
    colour: float  # mean colour-layout difference over the aligned frames
    detail: float = 0.0  # mean detail distance (levels) over the aligned frames
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def labels_agree(self) -> bool:
        return labels_agree(self.a.label, self.b.label)

    @property
    def frames(self) -> str:
        """``agreeing/compared`` frames, for a table."""
        return f"{self.evidence.get('frames_agree', 0)}/{self.evidence.get('frames_compared', 0)}"

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a.ref(), "b": self.b.ref(), "structure": round(self.structure, 4),
                "colour": round(self.colour, 5), "detail": round(self.detail, 2), "labels_agree": self.labels_agree,
                "evidence": self.evidence}


def _pair(clip_a: Clip, clip_b: Clip, m: Match) -> Pair:
    ev = m.evidence
    bits = [x for x in ev["structure_bits"] if x is not None]
    return Pair(clip_a, clip_b, structure=float(np.mean(bits)) / 64 if bits else float("nan"),
                colour=float(np.mean(ev["colour"])), detail=float(np.mean(ev["detail"])), evidence=ev)


@dataclass
class Report:
    """The result of one comparison: the pairs found, and what could not be compared."""

    task_a: str
    task_b: str
    clips_a: dict[str, int]  # clips per split
    clips_b: dict[str, int]
    pairs: list[Pair]
    frames: int
    structure: float
    colour: float
    failures: list[dict[str, str]] = field(default_factory=list)  # clips that did not decode
    uninformative: list[dict[str, str]] = field(default_factory=list)  # clips with no structure to compare
    stats: dict[str, int] = field(default_factory=dict)  # candidates, appearance, matches

    @property
    def disagreements(self) -> list[Pair]:
        return [p for p in self.pairs if not p.labels_agree]

    def to_dict(self) -> dict[str, Any]:
        th = Thresholds(structure=self.structure, colour=self.colour)
        extra, _ = alignments(self.frames)
        return {
            "format": REPORT_FORMAT,
            "task_a": {"spec": self.task_a, "clips": self.clips_a},
            "task_b": {"spec": self.task_b, "clips": self.clips_b},
            "method": {"hash_version": HASH_VERSION, "frames": self.frames, "frame_choice": "uniform",
                       "rule": "frame by frame: at most disagreeing_frames_allowed aligned frames may disagree; the "
                               "still pictures may differ beyond appearance_threshold in at most 7 of 256 cells",
                       "structure": "64-bit DCT pHash of luma (32x32, 8x8 lowest frequencies, median)",
                       "colour": "8x8 YCbCr colour layout",
                       "detail": f"16x16 luma grid less its mean: mean of the {_TOP_FINE} largest cell differences "
                                 f"(8x8 and the {_TOP_COARSE} largest for clips under {SMALL_SIDE} px)",
                       "structure_threshold": self.structure, "colour_threshold": self.colour,
                       "detail_threshold": th.fine, "coarse_detail_threshold": th.coarse,
                       "appearance_threshold": th.static, "disagreeing_frames_allowed": max(1, int(self.frames * th.disagree)),
                       "alignment_extra_frames": extra, "alignment_shift": 1, "index": "cell groups (exact)"},
            "counts": {"pairs": len(self.pairs), "label_disagreements": len(self.disagreements),
                       "clips_a_shared": len({p.a.media for p in self.pairs}),
                       "clips_b_shared": len({p.b.media for p in self.pairs}),
                       "failed": len(self.failures), "uninformative": len(self.uninformative),
                       "candidates": self.stats.get("candidates"),
                       "appearance_agrees": self.stats.get("appearance")},
            "pairs": [p.to_dict() for p in self.pairs],
            "failures": self.failures,
            "uninformative": self.uninformative,
        }

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
        tmp.write_text(json.dumps(self.to_dict(), indent=1, ensure_ascii=False) + "\n")
        os.replace(tmp, path)
        return path


def _per_split(clips: Iterable[Clip]) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in clips:
        out[c.split] = out.get(c.split, 0) + 1
    return out


def _stack(clips: Sequence[Clip], found: dict[str, Signature]) -> tuple[list[Clip], Side]:
    kept = [c for c in clips if c.media in found]
    return kept, Side.of([found[c.media] for c in kept])


def find_pairs(clips_a: Sequence[Clip], clips_b: Sequence[Clip], found: dict[str, Signature],
               structure: float = STRUCTURE_THRESHOLD, colour: float = COLOUR_THRESHOLD,
               same_task: bool = False, method: str = "index", thresholds: Thresholds | None = None,
               stats: dict[str, int] | None = None) -> list[Pair]:
    """Pairs of clips that agree frame by frame (see the module docstring), best first.

    ``same_task``: ``clips_a`` and ``clips_b`` are the same list (duplicates inside one task):
    a clip is not paired with itself and each pair is reported once. ``thresholds`` overrides
    ``structure`` and ``colour`` and sets the others."""
    th = thresholds or Thresholds(structure=structure, colour=colour)
    kept_a, side_a = _stack(clips_a, found)
    kept_b, side_b = (kept_a, side_a) if same_task else _stack(clips_b, found)
    if not kept_a or not kept_b:
        return []
    pairs = [_pair(kept_a[m.a], kept_b[m.b], m)
             for m in match(side_a, side_b, th, same_task=same_task, method=method, stats=stats)]
    pairs.sort(key=lambda p: (p.detail, p.colour, p.a.split, p.a.id, p.b.id))
    return pairs


def compare(task_a, spec_a: str, task_b, spec_b: str, frames: int = DEFAULT_FRAMES,
            structure: float = STRUCTURE_THRESHOLD, colour: float = COLOUR_THRESHOLD,
            cache_dir: str | Path | None = None, workers: int | None = None) -> Report:
    """Find the clips ``task_a`` and ``task_b`` (built :class:`harness.Task` instances, with the
    specs they were built from) share, over all their evaluated splits."""
    check_options(frames=frames, workers=workers, structure=structure, colour=colour)
    a, b = clips_of(task_a, spec_a), clips_of(task_b, spec_b)
    for spec, clips in ((spec_a, a), (spec_b, b)):
        if not clips:
            raise DataError(f"overlap: task {spec} has no samples")
    same = spec_a == spec_b
    found, failed = signatures(a if same else [*a, *b], frames, cache_dir, workers)
    failures = [{**c.ref(), "error": failed[c.media]} for c in (a if same else [*a, *b]) if c.media in failed]
    need = max(1, math.ceil(frames / 4))
    uninformative = [c.ref() for c in (a if same else [*a, *b])
                     if c.media in found and found[c.media].flat.sum() > frames - need]
    stats: dict[str, int] = {}
    pairs = find_pairs(a, a if same else b, found, structure, colour, same_task=same, stats=stats)
    return Report(task_a=spec_a, task_b=spec_b, clips_a=_per_split(a), clips_b=_per_split(b), pairs=pairs,
                  frames=frames, structure=structure, colour=colour, failures=failures, uninformative=uninformative,
                  stats=stats)


# --- overlap notes for results -------------------------------------------------------------------

def load_report(path: str | Path) -> dict[str, Any]:
    """A report written by ``harness data overlap --output``."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not a readable overlap report: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != REPORT_FORMAT:
        raise DataError(f"{path}: not an overlap report (expected format {REPORT_FORMAT!r})")
    data.setdefault("source", str(path))
    return data


def _task_name(spec: str) -> str:
    return spec.split(":", 1)[0].strip().lower()


def _declared(entry: str) -> tuple[str, str | None]:
    """``dfew`` (every split of the report's side) or ``dfew/fold2`` (that split only)."""
    name, _, split = entry.strip().partition("/")
    return _task_name(name), (split or None)


def overlap_note(report: dict[str, Any], training_data: Sequence[str], task: str, split: str | None = None,
                 sample_ids: Iterable[str] | None = None) -> dict[str, Any] | None:
    """The note a result carries when the model's training data is declared.

    ``report``: a loaded overlap report (:func:`load_report`); ``training_data``: what the model
    was trained on, as task names (``dfew``: every clip of that side of the report) or task/split
    (``dfew/fold2``: only the clips of that split); ``task``: the evaluated task's name or spec;
    ``split``: the evaluated split, ``sample_ids``: the evaluated samples (both optional: without
    them every clip of the report's side counts). Returns None when the report does not pair the
    evaluated task with declared training data, else how many evaluated clips the training data
    holds (zero is a finding too: the check was made)."""
    sides = {"a": report["task_a"]["spec"], "b": report["task_b"]["spec"]}
    evaluated = _task_name(task)
    wanted = None if sample_ids is None else set(sample_ids)
    for trained_side, other in (("a", "b"), ("b", "a")):
        if _task_name(sides[other]) != evaluated:
            continue
        if split is not None and split not in report[f"task_{other}"]["clips"]:
            continue  # the report did not look at the evaluated split
        entries = [(name, sp) for name, sp in map(_declared, training_data) if name == _task_name(sides[trained_side])]
        if not entries:
            continue
        splits = None if any(sp is None for _, sp in entries) else {sp for _, sp in entries}
        seen: dict[str, dict[str, Any]] = {}
        for pair in report["pairs"]:
            trained, tested = pair[trained_side], pair[other]
            if splits is not None and trained["split"] not in splits:
                continue
            if split is not None and tested["split"] != split:
                continue
            if wanted is not None and tested["id"] not in wanted:
                continue
            item = seen.setdefault(tested["id"], {"id": tested["id"], "label": tested["label"], "in_training": []})
            item["in_training"].append({"split": trained["split"], "id": trained["id"], "label": trained["label"],
                                        "labels_agree": pair["labels_agree"]})
        total = len(wanted) if wanted is not None else (
            report[f"task_{other}"]["clips"].get(split) if split is not None
            else sum(report[f"task_{other}"]["clips"].values()))
        clips = sorted(seen.values(), key=lambda x: x["id"])
        return {
            "report": report.get("source"),
            "training_data": [e for e in training_data if _declared(e)[0] == _task_name(sides[trained_side])],
            "trained_task": sides[trained_side],
            "evaluated_task": sides[other],
            "evaluated_clips_in_training": len(clips),
            "evaluated_clips": total,
            "share": round(len(clips) / total, 6) if total else None,
            "label_disagreements": sum(1 for c in clips if not all(t["labels_agree"] for t in c["in_training"])),
            "clips": clips,
        }
    return None


def notes_for_results(document: dict[str, Any], reports: Sequence[dict[str, Any]], training_data: Sequence[str],
                      sample_ids: dict[str, Sequence[str]] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Overlap notes for every task result of a results document (keyed as its ``tasks``), from
    saved reports and the model's declared training data; results with no note are left out.
    ``sample_ids`` (by the same keys) narrows each note to the samples a run evaluated (a run
    with ``--limit`` or a shard); without it a note counts the whole evaluated split."""
    out: dict[str, list[dict[str, Any]]] = {}
    for key, result in document.get("tasks", {}).items():
        ids = (sample_ids or {}).get(key)
        notes = []
        for report in reports:
            note = overlap_note(report, training_data, result["name"], split=result.get("split"), sample_ids=ids)
            if note is not None:
                notes.append(note)
        if notes:
            out[key] = notes
    return out
