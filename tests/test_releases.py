"""DFEW, FERV39k and MAFW read from tiny copies laid out exactly like the releases."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.context import Context
from harness.errors import DataError, UsageError
from harness.tasks.dfew import DFEWTask
from harness.tasks.ferv39k import FERV39kTask
from harness.tasks.mafw import MAFWTask
from harness.testing.releases import make_dfew, make_ferv39k, make_mafw
from tests.conftest import read_results


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("releases")
    make_dfew(root / "DFEW")
    make_ferv39k(root / "FERV39k")
    make_mafw(root / "MAFW")
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


def test_dfew_folds_labels_and_media(data):
    task = DFEWTask({}, ctx(data))
    assert task.splits() == ["fold1", "fold2", "fold3", "fold4", "fold5"]
    fold1 = task.samples("fold1")
    assert [s.id for s in fold1] == ["00001", "00002", "00003", "00004", "00005", "00006", "00007"]
    assert [s.label for s in fold1] == ["happy", "sad", "neutral", "angry", "surprise", "disgust", "fear"]
    assert all(Path(s.media).is_file() and s.media.endswith(".mp4") for s in fold1)
    one = DFEWTask({"fold": 3}, ctx(data))
    assert one.splits() == ["fold3"] and one.samples()[0].id == "00015"
    frames = DFEWTask({"media": "frames"}, ctx(data)).samples("fold1")
    assert Path(frames[0].media).is_dir() and frames[0].fps == 25.0
    f16 = DFEWTask({"media": "frames16"}, ctx(data))
    assert f16.samples("fold1")[0].fps is None and not f16.has_time_base
    with pytest.raises(UsageError, match="fold must be"):
        DFEWTask({"fold": 6}, ctx(data))
    with pytest.raises(UsageError, match="media must be"):
        DFEWTask({"media": "audio"}, ctx(data))


def test_dfew_accepts_the_other_folder_spelling_and_ids_without_zeros(tmp_path):
    make_dfew(tmp_path / "DFEW", split_folder="single_labeled", pad_ids=False, media=("video",))
    samples = DFEWTask({}, ctx(tmp_path)).samples("fold1")
    assert samples[0].id == "00001" and samples[0].media.endswith("original/1.mp4")
    assert Path(samples[0].media).is_file()
    # Padded ids in the CSV, unpadded file names on disk (and the other way round).
    csv = tmp_path / "DFEW/EmoLabel_DataSplit/test(single_labeled)/set_1.csv"
    csv.write_text(csv.read_text().replace("\n1,", "\n00001,"))
    assert Path(DFEWTask({}, ctx(tmp_path)).samples("fold1")[0].media).is_file()


def test_ferv39k_reads_the_space_separated_csv(data):
    task = FERV39kTask({}, ctx(data))
    samples = task.samples()
    assert len(samples) == 14 and task.splits() == ["test"]
    assert samples[0].id == "Action/Happy/0001" and samples[0].label == "happy"
    assert samples[0].meta["scene"] == "Action" and Path(samples[0].media).is_dir()
    assert samples[0].fps is None and not task.has_time_base
    assert FERV39kTask({"fps": 10}, ctx(data)).has_time_base


def test_mafw_crlf_and_the_gbk_captioned_variant(data):
    raw = (data / "MAFW/Train & Test Set/single/no_caption/set_1/test.txt").read_bytes()
    assert b"\r\n" in raw
    task = MAFWTask({}, ctx(data))
    fold1 = task.samples("fold1")
    assert len(fold1) == 11 and fold1[0].id == "00001" and fold1[0].label == "anger"
    assert "neutral" in task.classes and len(task.classes) == 11
    captioned = MAFWTask({"caption": "true"}, ctx(data))
    assert "neutral" not in captioned.classes and len(captioned.classes) == 10
    samples = captioned.samples("fold1")
    assert len(samples) == 10 and samples[0].meta["caption"] == "一个人看起来anger"
    frames = MAFWTask({"media": "frames", "fold": 2}, ctx(data)).samples()
    assert Path(frames[0].media).is_dir()
    moved = MAFWTask({"clips": "elsewhere"}, ctx(data)).samples("fold1")
    assert "/elsewhere/" in moved[0].media


def test_unknown_label_names_file_line_and_label(copy):
    root = copy("DFEW")
    csv = root / "DFEW/EmoLabel_DataSplit/test(single-labeled)/set_2.csv"
    lines = csv.read_text().splitlines()
    lines[2] = lines[2].split(",")[0] + ",9"
    csv.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"set_2\.csv:3: unknown label '9'"):
        DFEWTask({}, ctx(root)).prepare()

    root = copy("FERV39k")
    split = root / "FERV39k/4_setups/All_scenes/test_All.csv"
    split.write_text(split.read_text().replace("Action/Sad/0003 Sad", "Action/Sad/0003 Gloomy"))
    with pytest.raises(DataError, match=r"test_All\.csv:3: unknown label 'Gloomy'"):
        FERV39kTask({}, ctx(root)).samples()


def test_paths_escaping_the_root_and_duplicate_ids_are_refused(copy):
    root = copy("FERV39k")
    split = root / "FERV39k/4_setups/All_scenes/test_All.csv"
    original = split.read_text()
    split.write_text(original + "../../../etc/passwd Happy\n")
    with pytest.raises(DataError, match="escapes the data root"):
        FERV39kTask({}, ctx(root)).samples()
    split.write_text(original + original.splitlines()[0] + "\n")
    with pytest.raises(DataError, match=r"test_All\.csv:15: duplicate sample id 'Action/Happy/0001' "
                                        r"\(first at .*test_All\.csv:1\)"):
        FERV39kTask({}, ctx(root)).samples()


def test_missing_root_fails_before_any_work_with_the_expected_layout(run_cli, tmp_path):
    r = run_cli("run", "--tasks", "dfew", "--model", "majority", "--data-dir", str(tmp_path / "nowhere"),
                "--output-path", str(tmp_path / "out"))
    assert r.code == 2
    assert "dataset not found" in r.err and "nowhere/DFEW" in r.err and "Clip/original" in r.err
    r = run_cli("run", "--tasks", "mafw", "--model", "majority", "--output-path", str(tmp_path / "out"))
    assert r.code == 2 and "--data-dir" in r.err
    assert not (tmp_path / "out").exists()


def test_show_task_works_without_the_data(run_cli):
    r = run_cli("show", "task", "dfew")
    assert r.code == 0 and "data not present" in r.out and "segment16" in r.out


def test_a_missing_clip_becomes_a_failed_sample(copy, run_cli):
    root = copy("DFEW")
    (root / "DFEW/Clip/original/00009.mp4").unlink()
    r = run_cli("run", "--tasks", "dfew:fold=2", "--model", "majority", "--data-dir", str(root),
                "--output-path", str(root / "out"), "--no-progress")
    assert r.code == 1
    task = read_results(root / "out")["tasks"]["dfew:fold=2"]
    assert task["counts"]["failed"] == 1 and task["counts"]["evaluated"] == 7
    assert task["failures"][0]["id"] == "00009" and "file not found" in task["failures"][0]["error"]


def test_fps_sampling_is_refused_on_media_without_a_time_base(data, run_cli, tmp_path):
    r = run_cli("run", "--tasks", "dfew:media=frames16", "--model", "majority", "--data-dir", str(data),
                "--frames", "fps=5", "--output-path", str(tmp_path))
    assert r.code == 2 and "no time base" in r.err
    r = run_cli("run", "--tasks", "dfew:media=frames16,fold=1", "--model", "majority", "--data-dir",
                str(data), "--frames", "16", "--output-path", str(tmp_path), "--no-progress")
    assert r.code == 0, r.err


def test_all_three_benchmarks_with_folds_and_means(data, run_cli, tmp_path):
    r = run_cli("run", "--tasks", "dfew,ferv39k,mafw", "--model", "majority", "--data-dir", str(data),
                "--output-path", str(tmp_path), "--no-progress")
    assert r.code == 0, r.err
    assert "dfew (mean of 5)" in r.out and "mafw (mean of 5)" in r.out
    doc = read_results(tmp_path)
    assert list(doc["tasks"]) == [f"dfew/fold{k}" for k in range(1, 6)] + ["ferv39k"] + [
        f"mafw/fold{k}" for k in range(1, 6)]
    dfew = doc["aggregates"]["dfew"]
    assert dfew["n"] == 35 and dfew["uar_mean"] == pytest.approx(1 / 7) and dfew["uar_std"] == 0
    assert doc["aggregates"]["mafw"]["uar_mean"] == pytest.approx(1 / 11)
    assert doc["tasks"]["mafw/fold1"]["classes"][0] == "anger"

    r = run_cli("leaderboard", "add", str(next(tmp_path.glob("results_*.json"))), "--board",
                str(tmp_path / "board.json"))
    assert r.code == 0
    board = json.loads((tmp_path / "board.json").read_text())
    mean_row = next(row for row in board["rows"] if row["task"] == "dfew" and row.get("kind", "measured") == "measured")
    assert mean_row["splits"] == 5 and mean_row["n"] == 35 and mean_row["uar_std"] == 0


def test_data_check(data, copy, run_cli, monkeypatch):
    r = run_cli("data", "check", "dfew", "--data-dir", str(data))
    assert r.code == 1  # a tiny copy is not the official release
    assert "7 samples, the official release has 2341" in r.out and "7/7" in r.out

    monkeypatch.setattr(DFEWTask, "official_counts", {f"fold{k}": 7 for k in range(1, 6)})
    r = run_cli("data", "check", "dfew", "--data-dir", str(data))
    assert r.code == 0 and "complete" in r.out

    root = copy("DFEW")
    (root / "DFEW/Clip/original/00003.mp4").unlink()
    (root / "DFEW/Clip/original/00004.mp4").write_bytes(b"truncated")
    r = run_cli("data", "check", "dfew:fold=1", "--data-dir", str(root))
    assert r.code == 1
    assert "sample 00003" in r.out and "missing" in r.out
    assert "sample 00004" in r.out and "does not decode" in r.out

    r = run_cli("data", "check", "ferv39k", "--data-dir", str(data))
    assert r.code == 1 and "14 samples, the official release has 7847" in r.out


def test_a_split_file_with_a_header_and_no_rows_is_an_error_naming_it(copy, run_cli):
    root = copy("DFEW")
    csv = root / "DFEW/EmoLabel_DataSplit/test(single-labeled)/set_3.csv"
    csv.write_text("video_name,label\n")
    r = run_cli("run", "--tasks", "dfew:fold=3", "--model", "majority", "--data-dir", str(root),
                "--output-path", str(root / "out"), "--no-progress")
    assert r.code != 0 and "set_3.csv" in r.err and "lists no samples" in r.err
    assert not (root / "out").exists()
    root = copy("MAFW")
    split = root / "MAFW/Train & Test Set/single/no_caption/set_2/test.txt"
    split.write_text("")
    with pytest.raises(DataError, match=r"set_2/test\.txt: the split file lists no samples"):
        MAFWTask({"fold": 2}, ctx(root)).prepare()


def test_dfew_and_mafw_clips_carry_their_sound_and_ferv39k_and_frame_folders_do_not(data, tmp_path):
    from harness import host
    from harness.errors import UsageError
    from harness.frames.video import read_frames
    from harness.params import parse_tasks
    from harness.plan import RunConfig, plan_run
    from harness.types import FrameProtocol

    h = host.load([])
    on = {"audio": "on", "data_dir": data, "cache_dir": tmp_path, "output_path": tmp_path}
    plans, _ = plan_run(h, RunConfig(tasks=parse_tasks("dfew:fold=1,mafw:fold=1"), model="majority", **on))
    assert [p.task.has_audio for p in plans] == [True, True]
    for plan in plans:
        clip = plan.task.samples(plan.task.splits()[0])[0].media
        audio = read_frames(clip, FrameProtocol(num_frames=8, audio_rate=16000)).audio
        assert audio.rate == 16000 and audio.source_channels == 2 and not audio.window
    for spec in ("dfew:fold=1,media=frames", "ferv39k", "mafw:fold=1,media=frames"):
        with pytest.raises(UsageError, match="carry no sound track"):
            plan_run(h, RunConfig(tasks=parse_tasks(spec), model="majority", **on))
