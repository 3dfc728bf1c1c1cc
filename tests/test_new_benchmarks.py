"""MME-Emotion and EmoBench-M read from tiny copies laid out as the authors publish them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from harness.context import Context
from harness.errors import DataError, StrategyError, UsageError
from harness.frames.load import load_frames
from harness.strategy import StrategyContext
from harness.tasks.emobench_m import SUBSETS, EmoBenchMTask, PublishedQuestion, answer_label, emobench_metrics
from harness.tasks.mme_emotion import KNOWN_LABEL_SETS, MMEEmotionTask, recognition_score
from harness.testing.benchmark_releases import DFEW_SET, IEMOCAP_SET, MAFW_SET, make_emobench_m, make_mme_emotion
from tests.conftest import read_results


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("benchmarks")
    make_mme_emotion(root / "MME-Emotion")
    make_emobench_m(root / "EmoBench-M")
    return root


@pytest.fixture
def copy(data, tmp_path):
    """A private copy of one release, for tests that break it."""
    def make(name: str) -> Path:
        shutil.copytree(data / name, tmp_path / name)
        return tmp_path
    return make


def ctx(root: Path) -> Context:
    return Context(cache_dir=root / ".cache", data_dir=root)


# --- MME-Emotion ----------------------------------------------------------------------------------

def test_mme_emotion_default_is_er_wild_dfew_with_its_published_label_set(data):
    task = MMEEmotionTask({}, ctx(data))
    assert task.splits() == ["ER-Wild/DFEW"] and task.classes == DFEW_SET == KNOWN_LABEL_SETS[("ER-Wild", "DFEW")]
    samples = task.samples()
    assert [s.id for s in samples][:2] == ["DFEW/video/9000.mp4", "DFEW/video/9001.mp4"]
    assert [s.label for s in samples] == list(DFEW_SET)
    assert all(Path(s.media).is_file() and s.meta["source"] == "DFEW" for s in samples)
    assert samples[0].media == str(data / "MME-Emotion" / "DFEW" / "video" / "9000.mp4")
    assert task.aliases["happiness"] == "happy" and task.aliases["furious"] == "angry"
    params = task.params()
    assert params["scores"] == "recognition" and "GPT-4o judge" in params["not_scored"]
    assert "reasoning scores need a judge" in task.description
    assert load_frames(samples[0], task.frame_protocol).array.shape[0] == 16


def test_mme_emotion_sources_and_label_sets(data):
    mafw = MMEEmotionTask({"source": "MAFW"}, ctx(data))
    assert mafw.classes == MAFW_SET and len(mafw.samples()) == 11 and mafw.splits() == ["ER-Wild/MAFW"]
    caer = MMEEmotionTask({"source": "CAER"}, ctx(data)).samples()
    assert caer[0].id == "CAER/video/test_Disgust_0001.avi" and load_frames(caer[0], mafw.frame_protocol).array.size
    lab = MMEEmotionTask({"subset": "ER-Lab"}, ctx(data))  # one source: no source= needed
    assert lab.classes == tuple(c.lower() for c in IEMOCAP_SET) and lab.samples()[0].label == "anger"
    assert lab.splits() == ["ER-Lab/all"]
    mixed = MMEEmotionTask({"source": "all"}, ctx(data))
    with pytest.raises(UsageError, match=r"mixes sources with different label sets(.|\n)*source=MAFW: 11 questions"):
        mixed.samples()
    with pytest.raises(UsageError, match="no questions from source 'MELD'; its sources are CAER \\(7\\)"):
        MMEEmotionTask({"source": "MELD"}, ctx(data)).samples()


def test_mme_emotion_refuses_what_needs_a_judge_and_bad_parameters(data):
    with pytest.raises(UsageError, match="ML-ER is multi-label(.|\n)*partial credit C/K(.|\n)*GPT-4o judge"):
        MMEEmotionTask({"subset": "ML-ER"}, ctx(data))
    with pytest.raises(UsageError, match="subset must be one of ER-Lab, ER-Wild"):
        MMEEmotionTask({"subset": "ER-wild"}, ctx(data))
    with pytest.raises(UsageError, match="unknown parameter|not a parameter|did you mean"):
        MMEEmotionTask({"sorce": "DFEW"}, ctx(data))


def test_mme_emotion_missing_release_says_where_and_what(tmp_path):
    task = MMEEmotionTask({}, ctx(tmp_path))
    assert task.sample_count() is None and task.classes == DFEW_SET  # describable without its data
    with pytest.raises(UsageError, match="ER-Wild/question/ER_Wild.json"):
        task.prepare()


def test_mme_emotion_broken_question_files(copy):
    root = copy("MME-Emotion")
    path = root / "MME-Emotion" / "ER-Wild" / "question" / "ER_Wild.json"
    entries = json.loads(path.read_text())
    last = len(entries) - 1

    def write(change) -> MMEEmotionTask:
        changed = json.loads(json.dumps(entries))
        change(changed)
        path.write_text(json.dumps(changed))
        return MMEEmotionTask({}, ctx(root))

    with pytest.raises(DataError, match=rf"ER_Wild.json\[{last}\]: label 'contempt' is not in its label_set"):
        write(lambda e: e[-1].update(label="contempt")).samples()
    with pytest.raises(DataError, match=rf"\[{last}\]: label_set .* differs from the one"):
        write(lambda e: e[-1].update(label_set=e[-1]["label_set"][:-1])).samples()
    with pytest.raises(DataError, match=r"escapes the data root|must be relative"):
        write(lambda e: e[-1].update(video_id="DFEW/../../../outside.mp4")).samples()
    with pytest.raises(DataError, match="duplicate sample id 'DFEW/video/9000.mp4'"):
        write(lambda e: e.append(dict(e[-7]))).samples()
    with pytest.raises(DataError, match=r"\[0\]: missing label_set"):
        write(lambda e: e[0].pop("label_set")).samples()
    path.write_text("{not json")
    with pytest.raises(DataError, match="not a readable JSON question file"):
        MMEEmotionTask({}, ctx(root)).samples()


def test_recognition_score_pools_sources_like_the_authors_script():
    def result(spec, matrix):
        return {"spec": spec, "counts": {"evaluated": int(np.sum(matrix))}, "confusion": {"matrix": matrix}}

    dfew = result("mme-emotion:source=DFEW", [[2, 0, 0, 1], [1, 1, 0, 0]])  # 3 of 5 right
    mafw = result("mme-emotion:source=MAFW", [[1, 0, 0, 0], [0, 0, 2, 0]])  # 1 of 3 right
    score = recognition_score([dfew, mafw])
    assert score["recognition_score"] == pytest.approx(4 / 8) and score["n"] == 8
    with pytest.raises(DataError):
        recognition_score([])


# --- EmoBench-M ----------------------------------------------------------------------------------

def test_emobench_m_reads_the_conversation_json(data):
    task = EmoBenchMTask({}, ctx(data))
    assert task.subset == "mer2023" and task.classes == SUBSETS["mer2023"][1] and task.splits() == ["mer2023"]
    samples = task.samples()
    assert [s.id for s in samples] == ["0", "1", "2", "3", "4", "5"]
    assert [s.label for s in samples] == list(task.classes)
    assert samples[0].media == str(data / "EmoBench-M" / "dataset" / "mer2023" / "videos" / "MER2023" /
                                   "sample_00000001.mp4")
    assert samples[0].meta["question"].startswith("<video>\nThe person in the video says: ")
    assert task.aliases["anxious"] == "worried"  # the lexicon's anxiety words read as mer2023's 'worried'
    sims = EmoBenchMTask({"subset": "SIMS"}, ctx(data)).samples()  # SIMS.json's clips live in dataset/SIMS_test
    assert all("/dataset/SIMS_test/videos/SIMS/" in s.media and Path(s.media).is_file() for s in sims)
    speech = EmoBenchMTask({"subset": "RAVDSS_speech"}, ctx(data)).samples()
    assert Path(speech[7].media).name == "01-01-07-01-01-01-01.mp4" and speech[7].label == "disgust"  # RAVDESS: 07
    assert EmoBenchMTask({"subset": "FGMSA"}, ctx(data)).samples()[0].label == "weak negative"


def test_emobench_m_refuses_joint_and_generation_files(data):
    with pytest.raises(UsageError, match="MC-EIU is not scored(.|\n)*emotion and intent are judged jointly"):
        EmoBenchMTask({"subset": "MC-EIU"}, ctx(data))
    with pytest.raises(UsageError, match="smile is not scored(.|\n)*BLEU-4, ROUGE-L and BERTScore"):
        EmoBenchMTask({"subset": "smile"}, ctx(data))
    with pytest.raises(UsageError, match="subset must be one of FGMSA"):
        EmoBenchMTask({"subset": "RAVDSS-speech"}, ctx(data))
    with pytest.raises(UsageError, match="benchmark_json/MELD.json"):
        EmoBenchMTask({"subset": "MELD"}, ctx(data)).prepare()  # not in the tiny copy: says what it looked for


def test_emobench_m_answer_turns_and_broken_files(copy):
    assert answer_label("negative") == "negative" and answer_label(" Weak  Negative. ") == "weak negative"
    assert answer_label("{'emotion': 'happy'}") == "happy"
    root = copy("EmoBench-M")
    path = root / "EmoBench-M" / "benchmark_json" / "mer2023.json"
    entries = json.loads(path.read_text())

    def write(change) -> EmoBenchMTask:
        changed = json.loads(json.dumps(entries))
        change(changed)
        path.write_text(json.dumps(changed))
        return EmoBenchMTask({}, ctx(root))

    with pytest.raises(DataError, match=r"mer2023.json\[2\]: answer 'bored' is not one of mer2023's categories"):
        write(lambda e: e[2]["conversations"][1].update(value="bored")).samples()
    with pytest.raises(DataError, match=r"\[1\]: expected one human turn and one gpt"):
        write(lambda e: e[1]["conversations"].pop()).samples()
    with pytest.raises(DataError, match="duplicate sample id '0'"):
        write(lambda e: e[1].update(id="0")).samples()
    with pytest.raises(DataError, match="escapes the data root|must be relative"):
        write(lambda e: e[0].update(video="../../benchmark_json/mer2023.json")).samples()
    path.write_text("[]")
    with pytest.raises(DataError, match="lists no samples"):
        EmoBenchMTask({}, ctx(root)).samples()


def test_published_question_strategy_sends_the_question_verbatim(data):
    task = EmoBenchMTask({"subset": "RAVDSS_speech"}, ctx(data))
    sample = task.samples()[3]
    frames = load_frames(sample, task.frame_protocol)
    context = StrategyContext(template=task.prompt_templates["names"], mode="generate", seed=0)
    request = PublishedQuestion({}).build(sample, frames, tuple(task.classes), context)
    parts = request.messages[0]["content"]
    assert [p["type"] for p in parts] == ["video", "text"]
    assert parts[1]["text"] == sample.meta["question"].split("<video>\n", 1)[1]
    assert request.choices == tuple(task.classes) and request.answer_keys == ()
    mme = MMEEmotionTask({}, ctx(data)).samples()[0]
    with pytest.raises(StrategyError, match="publishes no question"):
        PublishedQuestion({}).build(mme, frames, DFEW_SET, context)


def test_emobench_metrics_match_scikit_learn():
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

    classes = ["neutral", "negative", "positive"]
    labels = ["neutral"] * 5 + ["negative"] * 4 + ["positive"] * 3
    answers = ["neutral", "neutral", "negative", None, "positive", "negative", "negative", "neutral", None,
               "positive", "negative", "failed"]
    matrix = np.zeros((3, 5), dtype=int)
    for label, answer in zip(labels, answers):
        column = {None: 3, "failed": 4}.get(answer, classes.index(answer) if answer in classes else 3)
        matrix[classes.index(label), column] += 1
    result = emobench_metrics({"classes": classes, "confusion": {"matrix": matrix.tolist()}})
    valid = [(t, p) for t, p in zip(labels, answers) if p in classes]  # the authors' script drops the rest
    y, p = [t for t, _ in valid], [q for _, q in valid]
    official = result["official"]
    assert official["n"] == len(valid) == 9 and result["left_out"] == 3
    assert official["accuracy"] == pytest.approx(accuracy_score(y, p))
    for name, fn in (("precision", precision_score), ("recall", recall_score), ("f1_score", f1_score)):
        assert official[name] == pytest.approx(fn(y, p, average="weighted", zero_division=0))
    everything = result["all_samples"]
    assert everything["n"] == 12 and everything["accuracy"] == pytest.approx(5 / 12)
    filled = [q if q in classes else "unreadable" for q in answers]
    assert everything["f1_score"] == pytest.approx(
        f1_score(labels, filled, labels=classes, average="weighted", zero_division=0))


# --- both, through the command line ----------------------------------------------------------------

def test_listed_run_and_checked_from_the_command_line(data, run_cli, tmp_path):
    listed = run_cli("list", "tasks")
    assert "mme-emotion" in listed.out and "emobench-m" in listed.out
    assert "published-question" in run_cli("list", "strategies").out
    check = run_cli("data", "check", "emobench-m:subset=RAVDSS_speech", "--data-dir", str(data))
    assert check.code == 0 and "8/8" in check.out, check.out
    result = run_cli("run", "--tasks", "mme-emotion,emobench-m:subset=FGMSA", "--model", "majority-oracle",
                     "--data-dir", str(data), "--output-path", str(tmp_path), "--bootstrap", "0", "--no-progress")
    assert result.code == 0, result.err
    doc = read_results(tmp_path)
    mme, emo = doc["tasks"]["mme-emotion"], doc["tasks"]["emobench-m:subset=FGMSA"]
    assert mme["classes"] == list(DFEW_SET) and mme["split"] == "ER-Wild/DFEW" and mme["counts"]["evaluated"] == 7
    assert mme["params"]["not_scored"].startswith("reasoning and CoT scores")
    assert emo["classes"] == list(SUBSETS["FGMSA"][1]) and emo["counts"]["evaluated"] == 5
    # every class once: the split's most frequent class is right once, so UAR = WAR = 1/K
    assert mme["metrics"]["uar"] == pytest.approx(1 / 7) and emo["metrics"]["war"] == pytest.approx(1 / 5)
    assert emobench_metrics(emo)["official"]["accuracy"] == pytest.approx(1 / 5)
    assert recognition_score([mme])["recognition_score"] == pytest.approx(mme["metrics"]["war"])
    prompted = run_cli("show", "task", "emobench-m:subset=FGMSA", "--data-dir", str(data))
    assert "prompt template 'emobench-m'" in prompted.out and "{'emotion': 'label'}" in prompted.out
    shown = run_cli("show", "task", "mme-emotion", "--data-dir", str(data))
    assert "prompt template 'mme-emotion'" in shown.out and "expert in affective computing" in shown.out
