"""What the micro-expression tasks share: labels, validation, corrections, placement, pooled scores.

Each dataset module (``casme2``, ``samm``, ``casme3``, ``smic``, ``mmew``) says
where its release is and turns its annotation rows into :class:`Expression`
records; this module does the rest the same way for all of them:

- **labels**: the release's emotion words map to a canonical class; the
  ``classes`` parameter picks the dataset's native set or the MEGC 2019
  three classes (negative = repression, anger, contempt, disgust, fear,
  sadness; positive = happiness; surprise); an expression outside the chosen
  set is left out and counted;
- **annotation quality** (reported by ``harness data check`` with file, row and
  reason, see :meth:`MicroExpressionTask.annotation_problems`): a missing or
  impossible onset or offset, an offset before its onset, a repeated clip (the
  same frame folder once resolved, and for whole recordings the same onset
  number: :meth:`MicroExpressionTask.clip_identity`), or a clip with no frame
  on disk cannot be placed and is left out; one clip with two labels is an
  error naming both rows; a missing apex
  or one outside onset..offset leaves the clip without apex metadata; frames
  missing at a clip's ends shorten it (reported), inside it they are held
  (counted per sample);
- **corrections** (:mod:`harness.tasks.microexpr_corrections`) are applied by
  key before any of that, and recorded;
- **apex metadata**: onset, apex and offset in seconds on the clip's clock and
  an apex window (``apex_window`` seconds centred on the apex, default 0.1)
  in ``apex_start``/``apex_end``, with ``micro`` set where the apex is known,
  so the temporal probe's apex coverage and the ``apex`` frame protocol work
  exactly as on the synthetic task;
- **pooled scores** (:func:`pooled_scores`): UF1 and UAR over every sample's
  prediction pooled, overall and per source dataset (the MEGC 2019 metric).
"""

from __future__ import annotations

import abc
import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from harness import metrics
from harness.context import Context
from harness.errors import DataError, UsageError
from harness.frames.sampling import select_indices
from harness.lexicon import CLASS_NAMES, CONCEPTS, synonyms_for, words
from harness.params import Param, check_args
from harness.task import Task
from harness.tasks.microexpr_clips import Span, context_window, frame_numbers, present_span, show, timing
from harness.tasks.microexpr_corrections import entries_by_key, tables_for
from harness.tasks.microexpr_sheets import FrameValue, frame_value
from harness.tasks.release_paths import clip_identity
from harness.types import FrameProtocol, Sample

#: The MEGC 2019 composite's grouping of emotions into three classes (its recognition challenge
#: description, Facial-Micro-ExpressionGC/MEGC2019); "others" has no class there.
MEGC3 = ("negative", "positive", "surprise")
MEGC_GROUP = {"anger": "negative", "contempt": "negative", "disgust": "negative", "fear": "negative",
              "sadness": "negative", "repression": "negative", "happiness": "positive", "surprise": "surprise"}

#: Emotion words as the releases write them (lower case) -> the concept they name.
RAW_LABELS = {
    "happiness": "happiness", "happy": "happiness", "disgust": "disgust", "repression": "repression",
    "surprise": "surprise", "others": "others", "other": "others", "fear": "fear", "sadness": "sadness",
    "sad": "sadness", "anger": "anger", "angry": "anger", "contempt": "contempt",
    "negative": "negative", "positive": "positive",
}

LEFT_OUT_CLASS = "not in the protocol's classes"
LEFT_OUT_PLACE = "cannot be placed"

#: Answer words for the classes with no entry in the lexicon.
EXTRA_ALIASES = {"repression": ("repressed", "suppressed", "suppression", "repress"),
                 "others": ("other",)}


def aliases_for(classes: tuple[str, ...]) -> dict[str, str]:
    """Answer words for ``classes``: the lexicon's, and for the MEGC three classes every emotion word
    mapped through the same grouping that maps the labels (an answer "disgusted" reads as negative)."""
    if set(classes) == set(MEGC3):
        out = {}
        for concept, group in MEGC_GROUP.items():
            lexicon = words(concept) if concept in CONCEPTS else ()
            for word in (*lexicon, *CLASS_NAMES.get(concept, ()), *EXTRA_ALIASES.get(concept, ())):
                out.setdefault(word.lower(), group)
        return {w: c for w, c in out.items() if w not in classes}
    out = dict(synonyms_for(classes))
    for cls, extra in EXTRA_ALIASES.items():
        if cls in classes:
            out.update({w: cls for w in extra})
    return out


@dataclass
class Expression:
    """One annotated micro-expression, as a dataset module reads it (values not yet checked)."""

    key: str  # the sample id
    subject: str
    raw_label: str  # the emotion as the release writes it
    folder: Path  # the frame folder (a clip, or a whole recording)
    onset: Any  # cell values as read: numbers, '/', None
    apex: Any
    offset: Any
    file: str  # where the row is, for problems
    row: int | str
    meta: dict[str, Any] = field(default_factory=dict)
    has_apex: bool = True  # False: the release annotates no apex (SMIC)


@dataclass(frozen=True)
class Problem:
    """An annotation problem: where (file, row), which sample, what is wrong and what was done."""

    file: str
    row: int | str
    key: str
    reason: str
    action: str

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "row": self.row, "key": self.key, "reason": self.reason, "action": self.action}


def pooled_scores(rows: Sequence[dict], classes: Sequence[str], by: str | None = "dataset") -> dict[str, Any]:
    """UF1 and UAR of per-sample rows pooled over all samples (MEGC 2019): per-class F1 and recall from
    the pooled TP, FP and FN, then averaged over the classes present; also per value of ``meta[by]``.

    UF1 equals the harness's macro-F1 on the same rows (F1 = 2TP / (2TP + FP + FN)); an invalid or failed
    answer counts as a miss of its true class. ``rows`` are per-sample log rows (``label``,
    ``prediction``, ``status``, ``meta``), as :func:`harness.samplelog.read_samples` returns them."""
    def score(part: Sequence[dict]) -> dict[str, Any]:
        m = metrics.compute([r["label"] for r in part], [r["prediction"] for r in part],
                            [r["status"] for r in part], classes, n_bootstrap=0)
        return {"n": m["n"], "uf1": m["macro_f1"], "uar": m["uar"], "missing_classes": m["missing_classes"]}
    out = score(rows)
    if by:
        values = sorted({str((r.get("meta") or {}).get(by)) for r in rows})
        out["by_" + by] = {v: score([r for r in rows if str((r.get("meta") or {}).get(by)) == v]) for v in values}
    return out


def sampled_coverage(samples: Sequence[Sample], protocol: FrameProtocol) -> dict[str, Any]:
    """Model-free coverage of a frame protocol: the share of clips whose sampled frames include one
    inside the apex window (of the clips with an apex) and one inside onset..offset (of all clips).

    It needs no decoding: the frames a protocol picks depend only on the clip's frame count, rate and
    id (:func:`harness.frames.sampling.select_indices`), and their times are the frame-folder reader's.
    The temporal probe's ``apex_coverage`` computes the first figure from a run's logged timestamps."""
    clips = apex_clips = apex_hits = expression_hits = 0
    for sample in samples:
        meta = sample.meta or {}
        if not meta.get("clip_frames"):
            continue  # missing media: no frames to pick
        picked = select_indices(meta["clip_frames"], protocol, sample.id, sample.fps)
        times = [round(i / sample.fps, 6) for i in picked]
        clips += 1
        expression_hits += any(meta["onset_s"] <= t <= meta["offset_s"] for t in times)
        if "apex_start" in meta:
            apex_clips += 1
            apex_hits += any(meta["apex_start"] <= t <= meta["apex_end"] for t in times)
    return {"protocol": protocol.name, "clips": clips, "expression": expression_hits / clips if clips else None,
            "apex_clips": apex_clips, "apex": apex_hits / apex_clips if apex_clips else None}


class OneSplit(Task):
    """A task with one evaluated split, ``test``, whose samples ``_build()`` makes once (then kept)."""

    _samples: list[Sample] | None = None

    @abc.abstractmethod
    def _build(self) -> list[Sample]:
        """The split's samples, read from the release."""

    def splits(self) -> list[str]:
        return ["test"]

    def samples(self, split: str | None = None) -> list[Sample]:
        if split not in (None, "test"):
            raise UsageError(f"{self.name}: no split {split!r}; this task has one split, test")
        if self._samples is None:
            self._samples = self._build()
        return self._samples

    def prepare(self) -> None:
        self.samples()

    def sample_count(self) -> int | None:
        try:
            return len(self.samples())
        except (DataError, UsageError):
            return None  # not there or broken: `harness data check` says why


class MicroExpressionTask(OneSplit):
    """Base of the micro-expression tasks: one evaluated split (``test``) of onset-to-offset clips
    (or context windows) from frame folders at the release's declared rate.

    Subclasses set ``dataset``, ``fps``, ``folder_names``, ``layout``, ``class_sets`` and implement
    :meth:`_is_root` and :meth:`_expressions`."""

    dataset = ""
    fps = 0.0
    folder_names: tuple[str, ...] = ()
    layout = ""
    class_sets: dict[str, tuple[str, ...]] = {}
    default_classes = ""
    official_counts: dict[str, int] = {}  # class set -> rows of the official protocol
    frame_protocol = FrameProtocol(strategy="segment", num_frames=16)
    version_base = "1"
    clip_per_folder = True  # False: a folder is a whole recording holding several clips (CAS(ME)^3)

    COMMON = {"root": Param(str, "the release's folder (default: a folder named for it under --data-dir)"),
              "classes": Param(str, "class set"),
              "apex_window": Param(float, "seconds of the apex window centred on the apex (default 0.1)", low=0, high=10),
              "corrections": Param(str, "correction tables: default, none, or names joined by +")}
    PARAMS: dict[str, Param] = COMMON

    def __init__(self, params: dict[str, Any], context: Context):
        self.values = check_args(self.name, params, self.PARAMS)
        self.context = context
        self.class_set = str(self.values.get("classes", self.default_classes))
        if self.class_set not in self.class_sets:
            raise UsageError(f"{self.name}: classes must be one of {', '.join(self.class_sets)}, got {self.class_set!r}")
        self.classes = self.class_sets[self.class_set]
        self.aliases = aliases_for(self.classes)
        self.apex_window = float(self.values.get("apex_window", 0.1))
        if self.apex_window < 0:
            raise UsageError(f"{self.name}: apex_window is a length in seconds (>= 0), got {self.apex_window}")
        self.tables = tables_for(self.name, self.dataset, self.values.get("corrections"))
        self.version = "+".join([self.version_base, *(t.ident for t in self.tables)])
        self.window: float | None = None  # seconds of context (CAS(ME)^3 sets it)
        self.window_seed = 0
        self._root: Path | None = None
        self._samples: list[Sample] | None = None
        self._problems: list[Problem] = []
        self._left_out: Counter = Counter()
        self._applied: list[str] = []
        self._held = 0
        self._frames: dict[Path, dict[int, str]] = {}

    # -- where the release is -------------------------------------------------------------------------
    @property
    def root(self) -> Path:
        if self._root is None:
            self._root = self._locate()
        return self._root

    def _locate(self) -> Path:
        if self.values.get("root"):
            candidates = [Path(str(self.values["root"])).expanduser()]
        elif self.context.data_dir:
            base = Path(self.context.data_dir).expanduser()
            candidates = [base / n for n in self.folder_names] + [base]
        else:
            raise UsageError(f"{self.name}: no data location given. Pass --data-dir DIR with the release in "
                             f"DIR/{self.folder_names[0]}, or {self.name}:root=PATH. Expected layout under the "
                             f"root:\n{self.layout}")
        for root in candidates:
            if root.is_dir() and self._is_root(root):
                return root
        where = "\n".join(f"  {p}" for p in candidates)
        raise UsageError(f"{self.name}: dataset not found. Looked in:\n{where}\nExpected layout under the root:\n"
                         f"{self.layout}")

    @abc.abstractmethod
    def _is_root(self, path: Path) -> bool:
        """Whether ``path`` holds this release (where its annotation or media are expected)."""

    @abc.abstractmethod
    def _expressions(self) -> list[Expression]:
        """Every annotated expression of the release, in the annotation's order."""

    def annotation_file(self) -> Path | None:
        """The annotation file read (recorded with its hash), or None (SMIC has none)."""
        return None

    def expected_counts(self) -> dict[str, int | None]:
        return {"test": self.official_counts.get(self.class_set)}

    def group(self, sample: Sample) -> str | None:
        return "micro"

    def annotation_problems(self, split: str | None = None) -> list[dict[str, Any]]:
        """Problems of the annotation that no correction table accounts for: file, row, key, reason and
        what was done (left out, kept without apex, shortened). ``harness data check`` lists them."""
        self.samples(split)
        return [p.to_dict() for p in self._problems]

    def params(self) -> dict[str, Any]:
        out = {"classes": self.class_set, "apex_window": self.apex_window,
               "corrections": [t.ident for t in self.tables], "corrections_applied": list(self._applied),
               "root": str(self._root or self.values.get("root") or ""), "fps": self.fps,
               "left_out": dict(self._left_out), "held_frames": self._held}
        try:
            path = self.annotation_file() if self._root else None
        except (DataError, UsageError, IndexError):
            path = None  # described before the release is found, or without its annotation file
        if path is not None and path.is_file():
            out["annotation"] = path.name
            out["annotation_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        if self.window:
            out.update(window=self.window, window_seed=self.window_seed)
        return out

    def pooled_scores(self, rows: Sequence[dict], by: str | None = "dataset") -> dict[str, Any]:
        """:func:`pooled_scores` over this task's classes."""
        return pooled_scores(rows, self.classes, by)

    # -- labels ----------------------------------------------------------------------------------------
    def concept(self, raw: str, where: str) -> str:
        concept = RAW_LABELS.get(raw.strip().lower())
        if concept is None:
            raise DataError(f"{where}: unknown emotion {raw!r}; {self.dataset} labels are "
                            f"{', '.join(sorted({k for k, v in RAW_LABELS.items() if v in self.native()}))}")
        return concept

    def native(self) -> tuple[str, ...]:
        return max(self.class_sets.values(), key=len)

    def label_of(self, concept: str) -> str | None:
        """The class of ``concept`` in the chosen class set, or None (left out)."""
        if set(self.classes) == set(MEGC3) and concept not in MEGC3:
            return MEGC_GROUP.get(concept)
        if self.class_set == "4":  # positive / negative / surprise / others (CAS(ME)^3's 4 classes)
            return MEGC_GROUP.get(concept, "others" if concept == "others" else None)
        return concept if concept in self.classes else None

    # -- building samples ------------------------------------------------------------------------------
    def numbers(self, folder: Path) -> dict[int, str]:
        if folder not in self._frames:
            self._frames[folder] = frame_numbers(folder)
        return self._frames[folder]

    def clip_identity(self, e: Expression) -> tuple:
        """What makes two rows one clip: the frame folder once resolved (``EP02_01f/`` and ``EP02_01f``,
        a link and its target are one), and where the folder is a whole recording (CAS(ME)^3) the onset
        as a number (``040`` and ``40`` are one)."""
        identity: tuple = (clip_identity(e.folder),)
        if not self.clip_per_folder:
            onset = frame_value(e.onset)
            identity += (onset.number if onset.number is not None else str(e.onset),)
        return identity

    def _build(self) -> list[Sample]:
        corrections = entries_by_key(self.tables)
        samples: list[Sample] = []
        seen: dict[str, int | str] = {}
        clips: dict[tuple, tuple[Expression, str]] = {}
        for e in self._expressions():
            where = f"{e.file} row {e.row}"
            concept = self.concept(e.raw_label, where)
            identity = self.clip_identity(e)
            if identity in clips:
                first, first_concept = clips[identity]
                if first_concept != concept:
                    raise DataError(f"{where}: {e.key!r} is the clip of row {first.row} ({first.key!r}) with another "
                                    f"label ({e.raw_label!r} here, {first.raw_label!r} there); a clip has one label: "
                                    f"correct or remove one row")
                self._leave_out(e, f"duplicate key {e.key!r} (first at row {first.row})" if e.key == first.key else
                                f"the clip of row {first.row} ({first.key!r}) written another way ({e.key!r})")
                continue
            clips[identity] = (e, concept)
            label = self.label_of(concept)
            if label is None:
                self._left_out[LEFT_OUT_CLASS] += 1
                continue
            if e.key in seen:
                self._leave_out(e, f"duplicate key {e.key!r} (first at row {seen[e.key]})")
                continue
            seen[e.key] = e.row
            sample = self._sample(e, label, corrections.get(e.key, []))
            if sample is not None:
                samples.append(sample)
        if not samples:
            raise DataError(f"{self.name}: no expression of the annotation could be placed in the "
                            f"{self.class_set}-class protocol (root {self.root})")
        return samples

    def _leave_out(self, e: Expression, reason: str) -> None:
        self._problems.append(Problem(e.file, e.row, e.key, reason, "left out"))
        self._left_out[LEFT_OUT_PLACE] += 1

    def _sample(self, e: Expression, label: str, corrections: list) -> Sample | None:
        values = {"onset": frame_value(e.onset), "offset": frame_value(e.offset),
                  "apex": frame_value(e.apex) if e.has_apex else FrameValue(None)}
        applied = []
        for table, c in corrections:
            if c.when == "always" or _invalid(c.field, values):
                old = e.__dict__[c.field] if values[c.field].number is None else values[c.field].number
                values[c.field] = FrameValue(c.value, None if c.value is not None else "withdrawn")
                applied.append(f"{c.field} {old!r} -> {c.value!r} ({table.ident})")
        self._applied += [f"{e.key}: {a}" for a in applied]
        onset, offset, apex = values["onset"], values["offset"], values["apex"]
        for name, value in (("onset", onset), ("offset", offset)):
            if value.number is None:
                self._leave_out(e, f"{name} {value.problem}")
                return None
        if offset.number < onset.number:
            self._leave_out(e, f"offset {offset.number} is before onset {onset.number}")
            return None
        apex_frame = apex.number
        if e.has_apex and apex_frame is None and apex.problem != "withdrawn":
            self._problems.append(Problem(e.file, e.row, e.key, f"apex {apex.problem}",
                                          "kept without apex metadata"))
        elif apex_frame is not None and not onset.number <= apex_frame <= offset.number:
            self._problems.append(Problem(e.file, e.row, e.key, f"apex {apex_frame} is outside onset..offset "
                                          f"({onset.number}..{offset.number})", "kept without apex metadata"))
            apex_frame = None
        meta = {"dataset": self.dataset, "subject": e.subject, "raw_label": e.raw_label,
                "onset_frame": onset.number, "apex_frame": apex_frame, "offset_frame": offset.number,
                "expression": "micro", **e.meta}
        if applied:
            meta["corrections"] = applied
        numbers = self.numbers(e.folder)
        if not numbers:  # missing media: kept, so the run fails it and `data check` reports it
            return Sample(id=e.key, label=label, media=str(e.folder), fps=self.fps, meta=meta)
        span = present_span(numbers, onset.number, offset.number)
        if span is None:
            self._leave_out(e, f"no frame of {onset.number}..{offset.number} in {e.folder} "
                               f"(it holds frames {min(numbers)}..{max(numbers)})")
            return None
        if span.cut_start or span.cut_end:
            self._problems.append(Problem(e.file, e.row, e.key, f"frames {onset.number}..{offset.number} are "
                                          f"annotated but {e.folder} has only {span.first}..{span.last} of them",
                                          f"kept, shown from {span.first} to {span.last}"))
        shown = span
        if self.window:
            w = context_window(e.key, span.first, span.last, min(numbers), max(numbers), self.fps, self.window,
                               self.window_seed)
            shown = present_span(numbers, w.first, w.last) or span
            meta.update(window_s=round(shown.frames / self.fps, 6), window_asked_s=self.window,
                        window_first_frame=shown.first, window_last_frame=shown.last,
                        window_position=round(w.position, 6))
            if w.note:
                meta["window_note"] = w.note
        meta.update(self._timing(shown, onset.number, apex_frame, offset.number))
        self._held += shown.held
        media = show(e.folder, numbers, shown.first, shown.last,
                     Path(self.context.cache_dir) / "microexpr-views" / self.dataset)
        return Sample(id=e.key, label=label, media=media, fps=self.fps, meta=meta)

    def _timing(self, shown: Span, onset: int, apex: int | None, offset: int) -> dict[str, Any]:
        out = {"clip_first_frame": shown.first, "clip_last_frame": shown.last, "clip_frames": shown.frames,
               "held_frames": shown.held, **timing(shown.first, shown.last, self.fps, onset, apex, offset,
                                                   self.apex_window)}
        out["micro"] = "apex_start" in out  # the temporal probe's apex coverage counts these clips
        return out


def _invalid(name: str, values: dict[str, FrameValue]) -> bool:
    """Whether the value of ``name`` is missing or impossible given the others (for ``when=invalid``)."""
    onset, apex, offset = values["onset"].number, values["apex"].number, values["offset"].number
    if values[name].number is None:
        return True
    if name == "offset" and onset is not None:
        return offset < onset
    if name == "apex" and onset is not None and offset is not None:
        return not onset <= apex <= offset
    return False


class AnnotationAtRoot:
    """For a release whose coding spreadsheet lies at its root (SAMM, MMEW): that file marks the root,
    and ``annotation=`` names another one. Mixed in before :class:`MicroExpressionTask`."""

    default_annotation: str = ""

    def _is_root(self, path: Path) -> bool:
        return (path / str(self.values.get("annotation", self.default_annotation))).is_file()

    def annotation_file(self) -> Path:
        return self.root / str(self.values.get("annotation", self.default_annotation))
