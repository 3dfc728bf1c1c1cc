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

**The signature of a clip** is computed from ``K`` frames (default 8) taken
uniformly from its first to its last decoded frame, so a copy at another frame
rate samples the same moments. Each frame gives two perceptual hashes:

- *structure*: the classic DCT perceptual hash (pHash) of the frame's luma:
  resized (area average) to 32x32, 2-D DCT-II, the 8x8 lowest frequencies, one
  bit per coefficient, set when it exceeds their median (DC left out of the
  median): 64 bits that survive resizing, re-encoding and brightness changes;
- *colour layout*: the frame averaged down to 8x8 cells in YCbCr (the grid of
  MPEG-7's colour layout descriptor), kept as 192 bytes. Faces framed alike (every
  close-up on a dark background) share most structure bits; their colours differ.

A frame with almost no luma variation (a fade to black) carries no structure
and is left out of the structure comparison.

**Two clips match** when, over their aligned frames (each frame of A compared
with the frame at the same position in B or one step either side, so a copy cut
by up to one sampling step still lines up), the mean fraction of differing
structure bits is at most ``structure`` (default 0.3; unrelated clips sit near
0.5) and the mean absolute colour-layout difference is at most ``colour``
(default 0.012 of the full range, about 3 levels in 255). Both thresholds are
options; the test suite measures precision and recall on planted copies
re-encoded at other sizes, bitrates and frame rates (tests/test_overlap.py).

The report lists each pair with both clips' task, split, id and label, and flags
pairs whose labels disagree (labels are compared as emotion concepts, so DFEW's
``happy`` and MAFW's ``happiness`` agree; see :func:`harness.lexicon.concept_of`).
:func:`overlap_note` turns a saved report and a model's declared training data
into the note a results file can carry.

Signatures are kept under ``$HARNESS_CACHE/overlap`` keyed by the clip's path,
size and modification time and the frame count, so a second comparison against
the same task decodes nothing.
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
from typing import Any, Iterable, Sequence

import numpy as np

from harness.errors import DataError, MediaError, UsageError
from harness.frames.load import load_frames
from harness.lexicon import concept_of
from harness.types import FrameProtocol, Sample

HASH_VERSION = 1
REPORT_FORMAT = "harness-overlap/1"
DEFAULT_FRAMES = 8
STRUCTURE_THRESHOLD = 0.3
COLOUR_THRESHOLD = 0.012
FLAT_STD = 2.0  # luma standard deviation (0-255) below which a frame carries no structure
_HASH_SIDE, _LOW, _GRID = 32, 8, 8


# --- signatures -------------------------------------------------------------------------------

@dataclass
class Signature:
    """One clip's perceptual hashes: ``bits`` (K,) uint64 pHash per frame, ``flat`` (K,) frames
    without structure, ``colour`` (K, 8, 8, 3) uint8 colour layout."""

    bits: np.ndarray
    flat: np.ndarray
    colour: np.ndarray


def frame_hash(image: np.ndarray) -> tuple[int, bool, np.ndarray]:
    """The structure hash (64-bit pHash of the luma), whether the frame is flat, and the 8x8
    YCbCr colour layout of one RGB uint8 frame."""
    from PIL import Image
    from scipy.fft import dctn

    picture = Image.fromarray(np.ascontiguousarray(image))
    luma = np.asarray(picture.convert("L").resize((_HASH_SIDE, _HASH_SIDE), Image.Resampling.BOX), dtype=np.float64)
    low = dctn(luma, norm="ortho")[:_LOW, :_LOW].ravel()
    bits = low > np.median(low[1:])
    value = int.from_bytes(np.packbits(bits).tobytes(), "big")
    colour = np.asarray(picture.convert("YCbCr").resize((_GRID, _GRID), Image.Resampling.BOX), dtype=np.uint8)
    return value, bool(luma.std() < FLAT_STD), colour


def signature_of(frames: np.ndarray) -> Signature:
    """The signature of decoded frames (T, H, W, 3)."""
    hashed = [frame_hash(f) for f in frames]
    return Signature(bits=np.array([h[0] for h in hashed], dtype=np.uint64),
                     flat=np.array([h[1] for h in hashed], dtype=bool),
                     colour=np.stack([h[2] for h in hashed]))


def protocol(frames: int = DEFAULT_FRAMES) -> FrameProtocol:
    """The frames a signature is made of: ``frames`` spread uniformly over the clip."""
    return FrameProtocol(strategy="uniform", num_frames=frames)


def clip_signature(media: str, fps: float | None, frames: int = DEFAULT_FRAMES) -> Signature:
    """Decode ``frames`` frames of a video file or frame folder and hash them."""
    decoded = load_frames(Sample(id=os.path.basename(media), label="", media=media, fps=fps), protocol(frames))
    return signature_of(decoded.array)


class SignatureCache:
    """Signatures on disk, one ``.npz`` per (clip file, frame count); unreadable entries are misses."""

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
                return Signature(bits=data["bits"], flat=data["flat"], colour=data["colour"])
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return None

    def put(self, key: str, signature: Signature) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
        with open(tmp, "wb") as f:
            np.savez(f, bits=signature.bits, flat=signature.flat, colour=signature.colour)
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
        if hit is not None and len(hit.bits) == frames:
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


# --- matching ------------------------------------------------------------------------------------

def _stack(clips: Sequence[Clip], found: dict[str, Signature]) -> tuple[list[Clip], np.ndarray, np.ndarray, np.ndarray]:
    kept = [c for c in clips if c.media in found]
    if not kept:
        return kept, np.zeros((0, 0), np.uint64), np.zeros((0, 0), bool), np.zeros((0, 0, _GRID, _GRID, 3), np.uint8)
    bits = np.stack([found[c.media].bits for c in kept])
    flat = np.stack([found[c.media].flat for c in kept])
    colour = np.stack([found[c.media].colour for c in kept])
    return kept, bits, flat, colour


def structure_distances(bits_a: np.ndarray, flat_a: np.ndarray, bits_b: np.ndarray, flat_b: np.ndarray,
                        shift: int = 1) -> np.ndarray:
    """(len(A), len(B)) mean fraction of differing pHash bits over aligned frames (each frame of A
    against B's frame at the same position or up to ``shift`` steps either side, the nearest kept);
    NaN where fewer than a quarter of the frames (at least one) carry structure on both sides."""
    na, k = bits_a.shape
    nb = bits_b.shape[0]
    need = max(1, math.ceil(k / 4))
    best = np.full((na, nb, k), np.inf)
    for s in range(-shift, shift + 1):
        lo, hi = max(0, -s), min(k, k - s)
        if lo >= hi:
            continue
        diff = np.bitwise_count(bits_a[:, None, lo:hi] ^ bits_b[None, :, lo + s:hi + s]).astype(np.float64) / 64
        diff[flat_a[:, None, lo:hi] | flat_b[None, :, lo + s:hi + s]] = np.inf
        best[:, :, lo:hi] = np.minimum(best[:, :, lo:hi], diff)
    usable = np.isfinite(best)
    count = usable.sum(axis=2)
    total = np.where(usable, best, 0.0).sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
    mean[count < need] = np.nan
    return mean


def colour_distances(colour_a: np.ndarray, colour_b: np.ndarray, shift: int = 1) -> np.ndarray:
    """Mean absolute colour-layout difference (0..1) of matched clip pairs, frames aligned as for
    structure: ``colour_a`` and ``colour_b`` are (N, K, 8, 8, 3), compared row by row."""
    n, k = colour_a.shape[:2]
    a = colour_a.reshape(n, k, -1).astype(np.int16)
    b = colour_b.reshape(n, k, -1).astype(np.int16)
    best = np.full((n, k), np.inf)
    for s in range(-shift, shift + 1):
        lo, hi = max(0, -s), min(k, k - s)
        if lo >= hi:
            continue
        diff = np.abs(a[:, lo:hi] - b[:, lo + s:hi + s]).mean(axis=2) / 255
        best[:, lo:hi] = np.minimum(best[:, lo:hi], diff)
    return best.mean(axis=1)


def labels_agree(a: str, b: str) -> bool:
    """Whether two tasks' labels name the same emotion (``happy`` and ``happiness`` do)."""
    ca, cb = concept_of(a), concept_of(b)
    if ca is not None and cb is not None:
        return ca == cb
    return a.strip().lower() == b.strip().lower()


@dataclass
class Pair:
    a: Clip
    b: Clip
    structure: float
    colour: float

    @property
    def labels_agree(self) -> bool:
        return labels_agree(self.a.label, self.b.label)

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a.ref(), "b": self.b.ref(), "structure": round(self.structure, 4),
                "colour": round(self.colour, 5), "labels_agree": self.labels_agree}


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

    @property
    def disagreements(self) -> list[Pair]:
        return [p for p in self.pairs if not p.labels_agree]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": REPORT_FORMAT,
            "task_a": {"spec": self.task_a, "clips": self.clips_a},
            "task_b": {"spec": self.task_b, "clips": self.clips_b},
            "method": {"hash_version": HASH_VERSION, "frames": self.frames, "frame_choice": "uniform",
                       "structure": "64-bit DCT pHash of luma (32x32, 8x8 lowest frequencies, median)",
                       "colour": "8x8 YCbCr colour layout", "structure_threshold": self.structure,
                       "colour_threshold": self.colour, "alignment_shift": 1},
            "counts": {"pairs": len(self.pairs), "label_disagreements": len(self.disagreements),
                       "clips_a_shared": len({p.a.media for p in self.pairs}),
                       "clips_b_shared": len({p.b.media for p in self.pairs}),
                       "failed": len(self.failures), "uninformative": len(self.uninformative)},
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


def find_pairs(clips_a: Sequence[Clip], clips_b: Sequence[Clip], found: dict[str, Signature],
               structure: float = STRUCTURE_THRESHOLD, colour: float = COLOUR_THRESHOLD,
               same_task: bool = False, chunk: int = 64) -> list[Pair]:
    """Pairs of clips whose signatures match, by structure distance then colour.

    ``same_task``: ``clips_a`` and ``clips_b`` are the same list (duplicates inside one task):
    a clip is not paired with itself and each pair is reported once."""
    kept_a, bits_a, flat_a, colour_a = _stack(clips_a, found)
    kept_b, bits_b, flat_b, colour_b = _stack(clips_b, found)
    pairs: list[Pair] = []
    if not kept_a or not kept_b:
        return pairs
    for start in range(0, len(kept_a), chunk):
        d = structure_distances(bits_a[start:start + chunk], flat_a[start:start + chunk], bits_b, flat_b)
        rows, cols = np.nonzero(np.nan_to_num(d, nan=np.inf) <= structure)
        if same_task:
            keep = cols > rows + start
            rows, cols = rows[keep], cols[keep]
        if not len(rows):
            continue
        c = colour_distances(colour_a[start + rows], colour_b[cols])
        for r, col, cd in zip(rows, cols, c):
            if cd <= colour:
                pairs.append(Pair(kept_a[start + r], kept_b[col], float(d[r, col]), float(cd)))
    pairs.sort(key=lambda p: (p.structure, p.colour, p.a.split, p.a.id, p.b.id))
    return pairs


def compare(task_a, spec_a: str, task_b, spec_b: str, frames: int = DEFAULT_FRAMES,
            structure: float = STRUCTURE_THRESHOLD, colour: float = COLOUR_THRESHOLD,
            cache_dir: str | Path | None = None, workers: int | None = None) -> Report:
    """Find the clips ``task_a`` and ``task_b`` (built :class:`harness.Task` instances, with the
    specs they were built from) share, over all their evaluated splits."""
    if frames < 2:
        raise UsageError(f"overlap: --frames must be at least 2, got {frames}")
    if not 0 < structure < 1 or not 0 < colour < 1:
        raise UsageError("overlap: thresholds are fractions between 0 and 1")
    a, b = clips_of(task_a, spec_a), clips_of(task_b, spec_b)
    for spec, clips in ((spec_a, a), (spec_b, b)):
        if not clips:
            raise DataError(f"overlap: task {spec} has no samples")
    same = spec_a == spec_b
    found, failed = signatures(a if same else [*a, *b], frames, cache_dir, workers)
    failures = [{**c.ref(), "error": failed[c.media]} for c in (a if same else [*a, *b]) if c.media in failed]
    uninformative = [c.ref() for c in (a if same else [*a, *b])
                     if c.media in found and found[c.media].flat.sum() > frames - max(1, math.ceil(frames / 4))]
    pairs = find_pairs(a, a if same else b, found, structure, colour, same_task=same)
    return Report(task_a=spec_a, task_b=spec_b, clips_a=_per_split(a), clips_b=_per_split(b), pairs=pairs,
                  frames=frames, structure=structure, colour=colour, failures=failures, uninformative=uninformative)


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
