"""MME-Emotion: the recognition part of the 2025 emotional-intelligence benchmark for MLLMs.

Release (FunAudioLLM/MME-Emotion on GitHub, ``MME-Emotion-Dataset/``; the whole
dataset, clips included, on the Hugging Face Hub as ``Karl28/MME-Emotion``, per
the repository README's news of 2026-01): eight tasks, each a folder with
``question/<TASK>.json`` (the task's folder name with ``-`` written ``_``:
``ER-Wild/question/ER_Wild.json``) and ``audio_clue/<TASK>_qwen2_audio_clues.json``
(audio descriptions its judge reads; not used here). A question file is a JSON
list of ``{"video_id": "DFEW/video/2271.mp4", "label": "angry", "label_set":
[...]}``; ``video_id`` is a path relative to the video folder the authors'
scripts take as ``--video_dir`` (``eval_cot/<TASK>/code/eval_cot_gpt4o.py``
opens ``os.path.join(video_dir, video_id)``). Its first component names the
source dataset, and every question of one source carries the same
``label_set``: in ``ER-Wild``, CAER's ``disgust, anger, surprise, neutral, fear,
happy, sad``, MAFW's eleven (``disappointment ... surprise``), DFEW's
``neutral, happy, angry, sad, fear, surprise, disgust`` (checked in the stored
``ER_Wild.json``); ``ER-Lab`` holds IEMOCAP with capitalised labels
(``Anger ... Other``).

**What is scored, and what is not.** The authors score every answer with
GPT-4o (``gpt-4o-2024-11-20``) as judge: the answer is first cut into steps
(``extract_step/``), then the judge rates each step 0/1; the last step's rating
("1 if the predicted emotion matches the ground truth emotion label") is the
*recognition score*, the mean of the others the *reasoning score*, and their
mix with ``--alpha 0.5`` the *CoT score* (``eval_cot/<TASK>/metrics/cal_metrics.py``).
The recognition score is a label match, which this task scores without a judge:
the answer is read by the harness's answer parser over the question's label
set, and its accuracy is WAR. The reasoning and CoT scores need the judge and
the audio clues; they are not computed and nothing stands in for them
(``params()`` says so in every results file). ``ML-ER`` is multi-label
(``"label": "anger,disgust"``) and its recognition step earns partial credit
C/K from the judge; it is refused rather than scored as single-label.

**One label set per task instance.** A harness task has one class list, so an
instance evaluates one source of one task: ``mme-emotion:subset=ER-Wild,source=DFEW``
(the default: ``source`` is DFEW in ER-Wild), ``source=MAFW``, ``source=CAER``, ... ``source=all`` is accepted
when every question of the subset shares one label set (e.g. ``ER-Lab``). The
subset's recognition score over several sources is the accuracy over all of
their questions: :func:`recognition_score` pools per-source results.

**Prompts.** The release publishes no fixed question text for the evaluated
model (questions are a clip and its label set); the one prompt text it does
publish is its agents' system prompt, kept here as the ``mme-emotion``
template (that system prompt and the label set as the choices), beside the
harness's ``names``, ``letters`` and ``open`` (default ``names``).

Licence: the task issue names the code MIT; the stored copy of the repository
checked for this module holds no licence file, so confirm it there. The clips
come from their source datasets (DFEW, MAFW, IEMOCAP, CAER, MELD, ...), each under
its own terms. See docs/benchmarks.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import harness
from harness.context import Context
from harness.emotions import standard_synonyms
from harness.errors import DataError, UsageError
from harness.prompts import DEFAULT_TEMPLATES, PromptTemplate
from harness.release import ReleaseTask, check_unique, find_root, nonempty
from harness.task import Task
from harness.tasks.release_paths import check_same_clips, contained, read_json
from harness.types import FrameProtocol, Sample

#: The eight tasks (folder names) of the release; all but ML-ER are single-label.
SUBSETS = ("ER-Lab", "ER-Wild", "Noise-ER", "FG-ER", "ML-ER", "SA", "FG-SA", "IR")
MULTI_LABEL = {"ML-ER"}

#: Label sets seen in the stored question files, so a task can be described before its data is read.
KNOWN_LABEL_SETS = {
    ("ER-Wild", "DFEW"): ("neutral", "happy", "angry", "sad", "fear", "surprise", "disgust"),
    ("ER-Wild", "MAFW"): ("disappointment", "disgust", "fear", "sadness", "contempt", "anxiety", "helplessness",
                          "happiness", "neutral", "anger", "surprise"),
    ("ER-Wild", "CAER"): ("disgust", "anger", "surprise", "neutral", "fear", "happy", "sad"),
    ("ER-Wild", "MELD"): ("neutral", "surprise", "joy", "disgust", "anger", "fear", "sadness"),
    ("ER-Lab", "IEMOCAP"): ("anger", "sadness", "surprise", "happiness", "excited", "fear", "frustration",
                            "neutral", "other"),
}

#: The system prompt of the authors' evaluation agents (extract_step/ and eval_cot/ scripts).
PUBLISHED_SYSTEM = ("You are an expert in affective computing and very good at handling tasks related to "
                    "emotion recognition.")
PUBLISHED = PromptTemplate(
    name="mme-emotion", kind="names", system=PUBLISHED_SYSTEM,
    user="What emotion does the person in the video show? Choose one of: {choices}. Answer with one word.",
)

NOT_SCORED = "reasoning and CoT scores need the authors' GPT-4o judge and audio clues: not computed"

LAYOUT = """  ER-Wild/question/ER_Wild.json          ([{"video_id", "label", "label_set"}, ...]; one per task folder)
  ER-Lab/question/ER_Lab.json ... IR/question/IR.json
  DFEW/video/2271.mp4 ...                 (clips at their video_id, under the root or videos=DIR)"""


def question_file(subset: str) -> str:
    """``ER-Wild`` -> ``ER-Wild/question/ER_Wild.json``."""
    return f"{subset}/question/{subset.replace('-', '_')}.json"


def source_of(video_id: str) -> str:
    """The source dataset a question's clip comes from: the first component of its ``video_id``."""
    return video_id.replace("\\", "/").split("/", 1)[0]


def read_questions(path: Path) -> list[dict[str, Any]]:
    """The question list of one task file, each entry checked for its three fields."""
    data = read_json(path, "question file")
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list of questions, got {type(data).__name__}")
    for i, entry in enumerate(data):
        where = f"{path}[{i}]"
        if not isinstance(entry, dict):
            raise DataError(f"{where}: expected an object with video_id, label, label_set")
        missing = [k for k in ("video_id", "label", "label_set") if k not in entry]
        if missing:
            raise DataError(f"{where}: missing {', '.join(missing)}")
        if not isinstance(entry["label_set"], list) or not entry["label_set"]:
            raise DataError(f"{where}: label_set must be a non-empty list")
        for label in entry["label_set"]:
            if not isinstance(label, (str, int, float)) or not any(ch.isalnum() for ch in str(label)):
                raise DataError(f"{where}: label_set holds {label!r}, which is not an emotion word; an answer "
                                f"could not name it (correct the label_set)")
    return data


class MMEEmotionTask(ReleaseTask, Task):
    name = "mme-emotion"
    version = "1"
    description = ("MME-Emotion recognition (label match) of one source of one task, default ER-Wild/DFEW; "
                   "reasoning scores need a judge: not computed")
    frame_protocol = FrameProtocol(strategy="segment", num_frames=16)
    prompt_templates = {**DEFAULT_TEMPLATES, PUBLISHED.name: PUBLISHED}

    def __init__(self, params: dict, context: Context):
        self._setup(params, context, ("subset", "source", "root", "videos"))
        self.subset = str(params.get("subset", "ER-Wild"))
        if self.subset not in SUBSETS:
            raise UsageError(f"{self.name}: subset must be one of {', '.join(SUBSETS)}, got {self.subset!r}")
        if self.subset in MULTI_LABEL:
            raise UsageError(f"{self.name}: {self.subset} is multi-label (labels like 'anger,disgust'); its "
                             f"recognition step earns partial credit C/K from the authors' GPT-4o judge, which a "
                             f"single-label task cannot score. Choose one of "
                             f"{', '.join(s for s in SUBSETS if s not in MULTI_LABEL)}")
        default = "DFEW" if self.subset == "ER-Wild" else None
        self.source = str(params["source"]) if params.get("source") not in (None, "") else default
        self._classes: tuple[str, ...] | None = KNOWN_LABEL_SETS.get((self.subset, self.source or ""))
        self._aliases: dict[str, str] | None = None
        self._questions: list[dict[str, Any]] | None = None

    # The class list is the source's label set, read with the questions.
    @property
    def classes(self) -> tuple[str, ...]:  # type: ignore[override]
        if self._questions is None:
            try:
                self._load()
            except (DataError, UsageError):
                if self._classes is None:
                    return ()
        return self._classes or ()

    @property
    def aliases(self) -> dict[str, str]:  # type: ignore[override]
        if self._aliases is None:
            self._aliases = standard_synonyms(self.classes)
        return self._aliases

    @property
    def split_name(self) -> str:
        return f"{self.subset}/{self.source or 'all'}"

    def splits(self) -> list[str]:
        return [self.split_name]

    def params(self) -> dict:
        return {"subset": self.subset, "source": self.source or "all",
                "root": str(self._root or self._params.get("root") or ""),
                "videos": str(self._params.get("videos") or ""), "scores": "recognition", "not_scored": NOT_SCORED}

    def sample_count(self) -> int | None:
        """None when the release is not there; a question file that cannot be read, or a subset
        that needs ``source=``, says why."""
        try:
            self._root = self._root or self._locate()
        except UsageError:
            return None
        return sum(len(self.samples(s)) for s in self.splits())

    def _locate(self) -> Path:
        return find_root(self.name, self._params, self._context, ("MME-Emotion", "MME-Emotion-Dataset", "mme-emotion"),
                         question_file(self.subset), LAYOUT)

    def _videos(self) -> Path:
        given = self._params.get("videos")
        return Path(str(given)).expanduser() if given else self.root

    def _load(self) -> list[dict[str, Any]]:
        """The questions of the chosen source, their label set checked to be one."""
        if self._questions is not None:
            return self._questions
        path = self.root / question_file(self.subset)
        questions = read_questions(path)
        by_source: dict[str, list[tuple[int, dict]]] = {}
        for i, q in enumerate(questions):
            by_source.setdefault(source_of(str(q["video_id"])), []).append((i, q))
        if not by_source:
            raise DataError(f"{path}: the question file lists no questions")
        label_sets = {src: tuple(str(x).strip().lower() for x in items[0][1]["label_set"])
                      for src, items in by_source.items()}
        if self.source in (None, "all"):
            if len(set(label_sets.values())) > 1:
                raise UsageError(self._choose(path, by_source, label_sets))
            chosen = sorted(iq for items in by_source.values() for iq in items)
        elif self.source in by_source:
            chosen = by_source[self.source]
        else:
            raise UsageError(f"{self.name}: {path} has no questions from source {self.source!r}; its sources are "
                             + ", ".join(f"{s} ({len(v)})" for s, v in by_source.items()))
        classes = tuple(str(x).strip().lower() for x in chosen[0][1]["label_set"])
        for i, q in chosen:
            mine = tuple(str(x).strip().lower() for x in q["label_set"])
            if mine != classes:
                raise DataError(f"{path}[{i}]: label_set {list(q['label_set'])} differs from the one this "
                                f"source's first question has ({', '.join(classes)}); a task has one class list")
        if len(set(classes)) != len(classes):
            raise DataError(f"{path}[{chosen[0][0]}]: label_set repeats a label: {list(chosen[0][1]['label_set'])}")
        self._classes = classes
        self._aliases = None
        self._questions = [q for _, q in chosen]
        self._positions = [i for i, _ in chosen]
        self._path = path
        return self._questions

    def _choose(self, path: Path, by_source: dict, label_sets: dict) -> str:
        listed = "\n".join(f"  source={s}: {len(by_source[s])} questions, labels {', '.join(label_sets[s])}"
                           for s in by_source)
        return (f"{self.name}: {path} mixes sources with different label sets and a task has one class list; "
                f"choose one with {self.name}:subset={self.subset},source=NAME:\n{listed}")

    def _read_split(self, split: str) -> list[Sample]:
        questions = self._load()
        videos = self._videos()
        samples, ids, clips = [], [], []
        for position, q in zip(self._positions, questions):
            where = f"{self._path}[{position}]"
            video_id = str(q["video_id"]).strip()
            label = str(q["label"]).strip().lower()
            if "," in label and label not in self._classes:
                raise DataError(f"{where}: label {q['label']!r} names several emotions; this task is single-label")
            if label not in self._classes:
                raise DataError(f"{where}: label {q['label']!r} is not in its label_set ({', '.join(self._classes)})")
            media = contained(videos, video_id, where)
            samples.append(Sample(id=video_id, label=label, media=str(media),
                                  meta={"source": source_of(video_id)}))
            ids.append((video_id, where))
            clips.append((media, video_id, where))
        check_unique(ids)
        check_same_clips(clips)  # 'video//1.mp4' and './video/1.mp4' are one clip
        return nonempty(samples, self._path)


def recognition_score(task_results: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """MME-Emotion's recognition score over several task results (e.g. every source of
    ``ER-Wild``, one run each): correct answers over all questions, as the authors' metric script
    averages over every question of a task. Each result is a ``tasks`` entry of a results file."""
    correct = total = 0
    parts = []
    for result in task_results:
        n = result["counts"]["evaluated"]
        right = sum(row[i] for i, row in enumerate(result["confusion"]["matrix"]))
        correct += right
        total += n
        parts.append({"spec": result.get("spec"), "n": n, "correct": right})
    if not total:
        raise DataError("recognition_score: no evaluated questions")
    return {"recognition_score": correct / total, "n": total, "parts": parts}


@harness.hookimpl
def harness_register_tasks(register):
    register("mme-emotion", MMEEmotionTask, description=MMEEmotionTask.description)
