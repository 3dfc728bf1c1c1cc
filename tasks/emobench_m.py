"""EmoBench-M: the classification scenarios of the 2025 multimodal emotional-intelligence benchmark.

Release (Emo-gml/EmoBench-M README, "Dataset" and "Dataset Structure"; data on
Google Drive, code Apache-2.0)::

    EmoBench-M/
      benchmark_json/<NAME>.json      13 files: FGMSA, MC-EIU, MELD, MOSEI, MOSI, MUSTARD,
                                      RAVDSS_song, RAVDSS_speech, SIMS, ch-simsv2s, funny,
                                      mer2023, smile
      dataset/<FOLDER>/videos/...     the clips; FOLDER is NAME, except SIMS -> SIMS_test

Each JSON file is a list of ``{"id": "0", "video": "videos/ch-simsv2s/aqgy4_0004/00023.mp4",
"conversations": [{"from": "human", "value": "<video>\\nThe person in the video says: ...
Determine the emotion conveyed..."}, {"from": "gpt", "value": "negative"}]}``: the
label is the answer turn; ``video`` is relative to ``dataset/<FOLDER>/``.

**Scored here**: the eleven classification files, with the categories of the
authors' evaluation config (``EmoBench-M-eval.py``: FGMSA's five sentiment
strengths, MELD's seven emotions, mer2023's six, RAVDSS song's six and speech's
eight, MOSI/MOSEI/SIMS/ch-simsv2s's three sentiments, MUSTARD's and funny's
true/false). Their metric is accuracy with weighted precision, recall and F1
(scikit-learn ``average="weighted"``) over the answers that name a category;
:func:`emobench_metrics` computes exactly that from a harness result, beside the
harness's UAR/WAR (which count an unreadable answer as wrong, where the
authors' script leaves it out). **Not scored**: ``MC-EIU`` (emotion and intent
judged jointly, two labels per clip) and ``smile`` (laughter reasoning, a
generated explanation scored by BLEU-4, ROUGE-L and BERTScore); a task instance
refuses them and says why.

**Prompts.** The published question is per clip (it quotes the transcript),
so it cannot be one template: samples keep it in ``meta["question"]`` and the
``published-question`` strategy (registered here) sends it verbatim with the
video in place of its ``<video>`` token. The ``emobench-m`` template is the
published instruction without the transcript ("Determine the emotion
conveyed. ... Choose one of the following labels as your final answer: ...
Respond in the format: {'emotion': 'label'}.", from the repository's
``Need output example/emotion_classification.json``); the harness's ``names``
template is the default.

EmoBench-M is audio-visual and its questions quote what is said; the
harness's models see frames only, so numbers here are vision-only and not
the published ones. See docs/benchmarks.md.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import numpy as np

import harness
from harness.context import Context
from harness.emotions import standard_synonyms
from harness.errors import DataError, StrategyError, UsageError
from harness.prompts import DEFAULT_TEMPLATES, PromptTemplate
from harness.release import ReleaseTask, check_unique, find_root, nonempty
from harness.strategy import Strategy
from harness.task import Task
from harness.tasks.release_paths import contained, read_json
from harness.types import FrameProtocol, Request, Sample

SENTIMENT3 = ("neutral", "negative", "positive")
TRUE_FALSE = ("true", "false")

#: Classification files: (folder under dataset/, categories as the authors' evaluation config lists them).
SUBSETS: dict[str, tuple[str, tuple[str, ...]]] = {
    "FGMSA": ("FGMSA", ("weak negative", "strong negative", "neutral", "strong positive", "weak positive")),
    "ch-simsv2s": ("ch-simsv2s", SENTIMENT3),
    "MOSI": ("MOSI", SENTIMENT3),
    "SIMS": ("SIMS_test", SENTIMENT3),
    "funny": ("funny", TRUE_FALSE),
    "MUSTARD": ("MUSTARD", TRUE_FALSE),
    "MELD": ("MELD", ("neutral", "surprise", "fear", "sadness", "joy", "disgust", "anger")),
    "mer2023": ("mer2023", ("happy", "sad", "neutral", "angry", "worried", "surprise")),
    "RAVDSS_song": ("RAVDSS_song", ("neutral", "calm", "happy", "sad", "angry", "fearful")),
    "RAVDSS_speech": ("RAVDSS_speech", ("neutral", "calm", "happy", "sad", "angry", "fearful", "surprised", "disgust")),
    "MOSEI": ("MOSEI", SENTIMENT3),
}
#: Files that are not single-label classification, and why they are not scored.
UNSCORED = {
    "MC-EIU": "emotion and intent are judged jointly (two labels per clip, the authors' 'joint' mode)",
    "smile": "laughter reasoning is a generated explanation scored by BLEU-4, ROUGE-L and BERTScore",
}

PUBLISHED = PromptTemplate(
    name="emobench-m", kind="names", system="",
    user=("Determine the emotion conveyed. Do not provide any additional explanations or extra content. "
          "Choose one of the following labels as your final answer: {choices}. "
          "Respond in the format: {{'emotion': 'label'}}."),
)

LAYOUT = """  benchmark_json/mer2023.json ...        ([{"id", "video", "conversations": [human, gpt]}, ...])
  dataset/mer2023/videos/...             (clips at their "video" path under dataset/<FOLDER>/)
  dataset/SIMS_test/videos/...           (SIMS.json's clips)"""


#: The longest answer turn read as a ``{'emotion': 'label'}`` literal (longer ones are taken as text, so a
#: huge literal cannot exhaust memory in ``ast.literal_eval``; the published ones are under 40 characters).
MAX_ANSWER_CHARS = 1000


def answer_label(value: Any) -> str:
    """The label of an answer turn: ``negative``, or the published format ``{'emotion': 'negative'}``."""
    text = str(value).strip()
    if text.startswith("{") and text.endswith("}") and len(text) <= MAX_ANSWER_CHARS:
        try:
            parsed = ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            parsed = None
        if isinstance(parsed, dict) and len(parsed) == 1:
            text = str(next(iter(parsed.values())))
    return re.sub(r"\s+", " ", text.strip().strip(".").strip()).lower()


def _short(value: Any, limit: int = 80) -> str:
    """A value for a one-line message: its repr, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


class EmoBenchMTask(ReleaseTask, Task):
    name = "emobench-m"
    version = "1"
    description = ("EmoBench-M classification scenario (subset=NAME, default mer2023; 11 scored, MC-EIU and "
                   "smile not); frames only, no audio")
    frame_protocol = FrameProtocol(strategy="segment", num_frames=16)
    prompt_templates = {**DEFAULT_TEMPLATES, PUBLISHED.name: PUBLISHED}

    def __init__(self, params: dict, context: Context):
        self._setup(params, context, ("subset", "root", "videos"))
        self.subset = str(params.get("subset", "mer2023"))
        if self.subset in UNSCORED:
            raise UsageError(f"{self.name}: {self.subset} is not scored by this task: {UNSCORED[self.subset]}. "
                             f"Classification subsets: {', '.join(SUBSETS)}")
        if self.subset not in SUBSETS:
            raise UsageError(f"{self.name}: subset must be one of {', '.join(SUBSETS)}, got {self.subset!r}")
        self.folder, self.classes = SUBSETS[self.subset]
        self.aliases = standard_synonyms(self.classes)

    def splits(self) -> list[str]:
        return [self.subset]

    def params(self) -> dict:
        return {"subset": self.subset, "root": str(self._root or self._params.get("root") or ""),
                "videos": str(self._params.get("videos") or "")}

    def _locate(self) -> Path:
        return find_root(self.name, self._params, self._context, ("EmoBench-M", "emobench-m", "EmoBench_M"),
                         f"benchmark_json/{self.subset}.json", LAYOUT)

    def _videos(self) -> Path:
        given = self._params.get("videos")
        return Path(str(given)).expanduser() if given else self.root / "dataset" / self.folder

    def _read_split(self, split: str) -> list[Sample]:
        path = self.root / "benchmark_json" / f"{self.subset}.json"
        data = read_json(path, "annotation file")
        if not isinstance(data, list):
            raise DataError(f"{path}: expected a JSON list of samples, got {type(data).__name__}")
        videos = self._videos()
        samples, ids = [], []
        for i, entry in enumerate(data):
            where = f"{path}[{i}]"
            if not isinstance(entry, dict) or "video" not in entry or "conversations" not in entry:
                raise DataError(f"{where}: expected an object with id, video and conversations")
            turns = entry["conversations"]
            if not isinstance(turns, list):
                raise DataError(f"{where}: conversations must be a list of turns, got {type(turns).__name__}")
            human = [t for t in turns if isinstance(t, dict) and t.get("from") == "human"]
            answer = [t for t in turns if isinstance(t, dict) and t.get("from") == "gpt"]
            if len(human) != 1 or len(answer) != 1:
                raise DataError(f"{where}: expected one human turn and one gpt (answer) turn, got "
                                f"{[t.get('from') if isinstance(t, dict) else t for t in turns]}")
            label = answer_label(answer[0].get("value", ""))
            if label not in self.classes:
                raise DataError(f"{where}: answer {_short(answer[0].get('value'))} is not one of {self.subset}'s "
                                f"categories ({', '.join(self.classes)})")
            sample_id = str(entry.get("id", i)).strip()
            media = contained(videos, str(entry["video"]).strip(), where)
            samples.append(Sample(id=sample_id, label=label, media=str(media),
                                  meta={"question": str(human[0].get("value", ""))}))
            ids.append((sample_id, where))
        check_unique(ids)
        return nonempty(samples, path)


class PublishedQuestion(Strategy):
    """The benchmark's own question for each clip, verbatim: ``meta["question"]`` with the video
    where its ``<video>`` token is (before the text when it has none)."""

    name = "published-question"
    description = "each sample's published question verbatim (EmoBench-M), the video at its <video> token"

    def build(self, sample, frames, choices, context):
        question = (sample.meta or {}).get("question")
        if not question:
            raise StrategyError(f"sample {sample.id}: the task publishes no question for it "
                                f"(published-question needs samples with meta['question'])")
        before, token, after = question.partition("<video>")
        parts: list[dict[str, Any]] = []
        if token and before.strip():
            parts.append({"type": "text", "text": before.strip()})
        parts.append({"type": "video"})
        parts.append({"type": "text", "text": (after if token else before).strip()})
        messages = [{"role": "user", "content": parts}]
        return Request(sample_id=sample.id, frames=frames, messages=messages, choices=choices, mode=context.mode,
                       seed=context.seed, answer_keys=())


def emobench_metrics(task_result: dict[str, Any]) -> dict[str, Any]:
    """EmoBench-M's classification metrics from a harness task result (a ``tasks`` entry of a
    results file): accuracy and weighted precision, recall and F1 as the authors' script computes
    them (scikit-learn, ``average="weighted"``, ``zero_division=0``, over the answers that name a
    category: invalid and failed samples left out), and the same over every sample (invalid
    and failed counted wrong, as the harness's WAR does)."""
    classes = task_result["classes"]
    matrix = np.array(task_result["confusion"]["matrix"], dtype=np.int64)  # rows: labels; columns: classes + invalid, failed
    k = len(classes)
    valid = matrix[:, :k]

    def scores(m: np.ndarray, n: int) -> dict[str, float]:
        support = m.sum(axis=1)  # with the invalid and failed columns: every sample of the label
        tp = np.diag(m[:, :k])
        predicted = m[:, :k].sum(axis=0)
        precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
        recall = np.divide(tp, support, out=np.zeros(k), where=support > 0)
        denom = precision + recall
        f1 = np.divide(2 * precision * recall, denom, out=np.zeros(k), where=denom > 0)
        weights = support / n if n else np.zeros(k)
        return {"accuracy": float(tp.sum() / n) if n else 0.0, "precision": float((weights * precision).sum()),
                "recall": float((weights * recall).sum()), "f1_score": float((weights * f1).sum()), "n": int(n)}

    return {"official": scores(valid, int(valid.sum())), "all_samples": scores(matrix, int(matrix.sum())),
            "left_out": int(matrix[:, k:].sum())}


@harness.hookimpl
def harness_register_tasks(register):
    register("emobench-m", EmoBenchMTask, description=EmoBenchMTask.description)


@harness.hookimpl
def harness_register_strategies(register):
    register(PublishedQuestion.name, PublishedQuestion, description=PublishedQuestion.description)
