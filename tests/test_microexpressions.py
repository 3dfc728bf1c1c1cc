"""CASME II, SAMM, CAS(ME)^3, SMIC, MMEW and the MEGC 2019 composite, read from tiny copies laid out
like the releases (harness/testing/microexpr_releases.py), quirks included."""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from harness import metrics
from harness.context import Context
from harness.errors import DataError, MediaError, UsageError
from harness.frames.folder import list_frames
from harness.frames.load import load_frames
from harness.probes.temporal import apex_coverage
from harness.samplelog import read_samples
from harness.tasks.casme2 import CASME2Task
from harness.tasks.casme3 import CASME3Task
from harness.tasks.megc2019 import MEGC2019Task
from harness.tasks.microexpr_task import pooled_scores, sampled_coverage
from harness.tasks.mmew import MMEWTask
from harness.tasks.samm import SAMMTask
from harness.tasks.smic import SMICTask
from harness.testing import microexpr_releases as releases
from harness.types import FrameProtocol
from tests.conftest import read_results


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return releases.make_all(tmp_path_factory.mktemp("microexpr"))


@pytest.fixture(scope="module")
def ctx(data, tmp_path_factory) -> Context:
    return Context(cache_dir=tmp_path_factory.mktemp("microexpr-cache"), data_dir=data)


def by_id(task) -> dict:
    return {s.id: s for s in task.samples()}


def counts(task) -> dict:
    return dict(Counter(s.label for s in task.samples()))


def test_casme2_text_subjects_class_sets_and_true_times(ctx, data):
    task = CASME2Task({}, ctx)
    assert counts(task) == {"happiness": 2, "disgust": 2, "repression": 1, "surprise": 1, "others": 2}
    assert task.params()["left_out"] == {"not in the protocol's classes": 2}  # fear and sadness
    assert counts(CASME2Task({"classes": "7"}, ctx))["fear"] == 1
    assert counts(CASME2Task({"classes": "3"}, ctx)) == {"positive": 2, "negative": 5, "surprise": 1}
    s = by_id(task)["sub01/EP02_01f"]  # Subject '01' (text) is folder sub01; onset 46, apex 59, offset 86
    assert s.media == str(data / "CASME2/CASME2_RAW_selected/sub01/EP02_01f") and s.fps == 200.0
    assert (s.meta["onset_s"], s.meta["apex_s"], s.meta["offset_s"]) == (0.0, 0.065, 0.2)
    assert (s.meta["apex_start"], s.meta["apex_end"], s.meta["micro"]) == (0.015, 0.115, True)
    frames = load_frames(s, FrameProtocol(strategy="apex", num_frames=1))  # the apex frame alone
    assert frames.indices == [13] and frames.timestamps == [0.065] and frames.time_base == "declared"
    assert by_id(task)["sub05/EP09_05f"].meta["apex_start"] == 0.0  # apex at the onset: kept, window narrowed


def test_casme2_cropped_frames_with_either_prefix(ctx, data):
    cropped = by_id(CASME2Task({"media": "cropped"}, ctx))
    assert cropped["sub01/EP03_02"].media == str(data / "CASME2/Cropped/sub01/EP03_02")  # img16.jpg ...
    assert list_frames(cropped["sub01/EP02_01f"].media)[0] == "reg_img46.jpg"
    assert load_frames(cropped["sub01/EP03_02"], FrameProtocol(strategy="uniform", num_frames=4)).total_frames == 45


def test_the_slash_apex_is_a_recorded_decision_or_a_reported_problem(ctx):
    task = CASME2Task({}, ctx)
    s = by_id(task)["sub04/EP12_01f"]
    assert "apex_start" not in s.meta and s.meta["micro"] is False and s.meta["apex_frame"] is None
    assert s.meta["corrections"] == ["apex '/' -> None (casme2-apex@1)"]
    assert task.version == "1+casme2-apex@1" and task.annotation_problems() == []
    plain = CASME2Task({"corrections": "none"}, ctx)
    assert plain.version == "1" and plain.params()["corrections"] == []
    [problem] = plain.annotation_problems()
    assert problem["file"] == "CASME2-coding-20140508.xlsx [Sheet1]" and problem["row"] == 8
    assert "'/'" in problem["reason"] and problem["action"] == "kept without apex metadata"
    assert plain.fingerprint(plain.samples()) != task.fingerprint(task.samples())  # results tell them apart


def test_samm_header_in_row_14_number_subjects_padding_and_the_apex_table(ctx):
    task = SAMMTask({}, ctx)
    assert counts(task) == {"anger": 2, "contempt": 1, "happiness": 1, "surprise": 1, "others": 1}
    samples = by_id(task)
    assert samples["007_6_1"].meta["subject"] == "007"  # the subject written as the number 7
    assert samples["006_1_2"].meta["clip_frames"] == 71 and samples["006_2_4"].meta["clip_frames"] == 95
    gray = load_frames(samples["006_2_4"], FrameProtocol(strategy="uniform", num_frames=2))
    assert gray.array.shape[-1] == 3  # grayscale frames reach models as RGB
    fixed = samples["028_4_1"]
    assert fixed.meta["apex_frame"] == 1113 and fixed.meta["apex_s"] == round((1113 - 1071) / 200, 6)
    assert task.params()["corrections_applied"] == ["028_4_1: apex 1150 -> 1113 (samm-apex@1)"]
    plain = SAMMTask({"corrections": "none"}, ctx)
    [problem] = plain.annotation_problems()
    assert problem["row"] == 21 and problem["key"] == "028_4_1"  # 13 note rows, the header, 6 rows before
    assert problem["reason"] == "apex 1150 is outside onset..offset (1071..1134)"
    assert "apex_start" not in by_id(plain)["028_4_1"].meta
    assert counts(SAMMTask({"classes": "3"}, ctx)) == {"negative": 6, "positive": 1, "surprise": 1}
    assert len(SAMMTask({"classes": "8"}, ctx).samples()) == 9


def test_casme3_duplicate_keys_impossible_rows_and_missing_frames(ctx):
    task = CASME3Task({}, ctx)
    samples = by_id(task)
    assert counts(task) == {"happiness": 2, "disgust": 1, "surprise": 1, "fear": 1, "anger": 1, "sadness": 1,
                            "others": 1}
    assert {"spNO.1/a/40", "spNO.1/a/55", "spNO.1/a/120"} <= set(samples)  # one recording, three expressions
    problems = {(p["row"], p["reason"], p["action"]) for p in task.annotation_problems()}
    assert (6, "offset 98 is before onset 100", "left out") in problems
    assert any(row == 11 and "duplicate key 'spNO.1/a/40' (first at row 2)" in reason for row, reason, _ in problems)
    assert any(row == 10 and action == "kept, shown from 1 to 8" for row, _, action in problems)  # frame 0
    assert task.params()["left_out"] == {"cannot be placed": 2}
    gap = samples["spNO.1/a/55"]  # frames 57 and 58 are missing from the recording
    assert gap.meta["held_frames"] == 2 and gap.meta["clip_frames"] == 12
    names = list_frames(gap.media)
    assert [Path(os.path.realpath(Path(gap.media) / n)).name for n in names[:5]] == \
        ["55.jpg", "56.jpg", "56.jpg", "56.jpg", "59.jpg"]
    frames = load_frames(gap, FrameProtocol(strategy="all", num_frames=None))
    assert frames.timestamps[4] == round(4 / 30, 6)  # frame 59 keeps its true time after the gap
    assert np.array_equal(frames.array[2], frames.array[1])


def test_casme3_context_windows_are_seeded_recorded_and_stay_in_the_recording(ctx):
    plain = by_id(CASME3Task({}, ctx))
    windows = CASME3Task({"window": 3}, ctx)
    assert windows.params()["window"] == 3.0 and windows.params()["window_seed"] == 0
    for s in windows.samples():
        m = s.meta
        assert m["clip_frames"] == 90 and m["window_s"] == 3.0
        assert m["window_first_frame"] <= m["onset_frame"] or m["onset_frame"] < 1
        assert m["apex_s"] == round((m["apex_frame"] - m["window_first_frame"]) / 30, 6)
        assert plain[s.id].meta["apex_frame"] == m["apex_frame"]
    near_end = by_id(windows)["spNO.2/a/230"]
    assert near_end.meta["window_last_frame"] == 240  # moved inside the 240-frame recording
    again = {s.id: s.meta["window_first_frame"] for s in CASME3Task({"window": 3}, ctx).samples()}
    assert again == {s.id: s.meta["window_first_frame"] for s in windows.samples()}
    other = {s.id: s.meta["window_first_frame"] for s in CASME3Task({"window": 3, "window_seed": 1}, ctx).samples()}
    assert other != again
    with pytest.raises(UsageError, match="window"):
        CASME3Task({"window": 0}, ctx)


def test_smic_labels_from_folders_cameras_and_no_apex(ctx, data):
    hs = SMICTask({}, ctx)
    assert counts(hs) == {"negative": 3, "positive": 2, "surprise": 2}  # non_micro is not read
    s = by_id(hs)["s1_ne_01"]
    assert s.fps == 100.0 and "apex_start" not in s.meta and s.meta["offset_s"] == 0.29
    with pytest.raises(MediaError, match="apex"):
        load_frames(s, FrameProtocol(strategy="apex", num_frames=1))
    vis = SMICTask({"camera": "VIS"}, ctx)
    assert vis.fps == 25.0 and len(vis.samples()) == 3
    cropped = by_id(SMICTask({"media": "cropped"}, ctx))["s1_ne_01"]
    assert list_frames(cropped.media)[0] == "reg_image0612345.bmp"


def test_mmew_layout_and_megc_grouping(ctx):
    assert counts(MMEWTask({}, ctx)) == {"happiness": 1, "surprise": 1, "disgust": 1, "fear": 1, "others": 1,
                                         "anger": 1, "sadness": 1}
    three = MMEWTask({"classes": "3"}, ctx)
    assert counts(three) == {"positive": 1, "surprise": 1, "negative": 4}
    assert three.aliases["disgusted"] == "negative" and three.aliases["happy"] == "positive"


def test_megc2019_membership_names_and_groups(ctx, data, tmp_path):
    task = MEGC2019Task({}, ctx)
    samples = by_id(task)
    assert len(samples) == 15 and counts(task) == {"positive": 3, "negative": 8, "surprise": 4}
    assert Counter(s.meta["dataset"] for s in samples.values()) == {"casme2": 5, "smic": 5, "samm": 5}
    smic = samples["smic/s01/s01_ne_01"]  # the file's s01 is the disk's s1
    assert smic.meta["source_id"] == "s1_ne_01" and smic.media.endswith("s1/micro/negative/s1_ne_01")
    samm = samples["samm/6/006_1_2"]  # subject 6 is the folder 006
    assert samm.media.endswith("SAMM/006/006_1_2") and samm.meta["subject"] == "samm/6"
    assert task.group(samm) == "samm" and samples["samm/28/028_4_1"].meta["apex_frame"] == 1113
    gt = tmp_path / "gt.csv"
    gt.write_text((data / "MEGC2019/combined_3class_gt.csv").read_text() + "casme2,sub09,EP99_01,0\n")
    extra = MEGC2019Task({"gt": str(gt)}, ctx)
    assert len(extra.samples()) == 15 and extra.params()["left_out"] == {"not found in its dataset": 1}
    [problem] = extra.annotation_problems()
    assert problem["file"] == "gt.csv" and problem["row"] == 31 and problem["action"] == "left out"
    gt.write_text("casme2,sub01,EP02_01f,3\n")
    with pytest.raises(DataError, match="gt.csv:1: class '3'"):
        MEGC2019Task({"gt": str(gt)}, ctx).samples()


def test_pooled_uf1_and_uar_follow_the_megc_definition():
    classes = ("negative", "positive", "surprise")
    truth = ["negative"] * 4 + ["positive"] * 2 + ["surprise"] * 2
    guess = ["negative", "negative", "positive", None, "positive", "negative", "surprise", "negative"]
    rows = [{"label": t, "prediction": g, "status": "ok" if g else "invalid", "meta": {"dataset": d}}
            for t, g, d in zip(truth, guess, ["casme2", "samm"] * 4)]
    scores = pooled_scores(rows, classes)
    # pooled TP/FP/FN: negative 2/2/2, positive 1/1/1, surprise 1/0/1 -> F1 = 2TP / (2TP + FP + FN)
    f1 = [4 / 8, 2 / 4, 2 / 3]
    recall = [2 / 4, 1 / 2, 1 / 2]
    assert scores["uf1"] == pytest.approx(sum(f1) / 3) and scores["uar"] == pytest.approx(sum(recall) / 3)
    m = metrics.compute(truth, guess, [r["status"] for r in rows], classes, n_bootstrap=0)
    assert scores["uf1"] == pytest.approx(m["macro_f1"])
    assert set(scores["by_dataset"]) == {"casme2", "samm"} and scores["by_dataset"]["samm"]["n"] == 4


def test_model_free_apex_coverage_is_the_temporal_probes(ctx):
    samples = CASME3Task({"window": 3}, ctx).samples()
    for protocol in (FrameProtocol(strategy="fps", fps=5, num_frames=32), FrameProtocol(strategy="uniform",
                                                                                       num_frames=8)):
        rows = [{"meta": s.meta, "timestamps": load_frames(s, protocol).timestamps} for s in samples]
        assert sampled_coverage(samples, protocol)["apex"] == apex_coverage(rows)["share"]
    one = sampled_coverage(samples, FrameProtocol(strategy="uniform", num_frames=1))
    dense = sampled_coverage(samples, FrameProtocol(strategy="fps", fps=12, num_frames=64))
    assert one["expression"] == 0.0 and dense["expression"] == dense["apex"] == 1.0


def test_missing_frames_at_a_clip_end_shorten_it_and_are_reported(data, tmp_path):
    shutil.copytree(data / "CASME2", tmp_path / "CASME2")
    folder = tmp_path / "CASME2/CASME2_RAW_selected/sub01/EP02_01f"
    for n in range(80, 87):
        (folder / f"img{n}.jpg").unlink()
    task = CASME2Task({}, Context(cache_dir=tmp_path / "cache", data_dir=tmp_path))
    s = by_id(task)["sub01/EP02_01f"]
    assert s.meta["clip_frames"] == 34 and s.meta["offset_s"] == 0.2 and s.meta["apex_s"] == 0.065
    [problem] = task.annotation_problems()
    assert problem["action"] == "kept, shown from 46 to 79" and "46..86" in problem["reason"]


def test_bad_labels_roots_and_parameters_are_named(ctx, data, tmp_path):
    import openpyxl
    shutil.copytree(data / "MMEW", tmp_path / "MMEW")
    book = openpyxl.load_workbook(tmp_path / "MMEW/MMEW_Micro_Exp.xlsx")
    book.active["G3"] = "bliss"
    book.save(tmp_path / "MMEW/MMEW_Micro_Exp.xlsx")
    with pytest.raises(DataError, match=r"MMEW_Micro_Exp.xlsx \[Sheet1\] row 3: unknown emotion 'bliss'"):
        MMEWTask({}, Context(cache_dir=tmp_path / "c", data_dir=tmp_path)).samples()
    with pytest.raises(UsageError, match="SAMM_Micro_FACS_Codes_v2.xlsx"):
        SAMMTask({}, Context(cache_dir=tmp_path / "c", data_dir=tmp_path / "nowhere")).samples()
    with pytest.raises(UsageError, match="classes must be one of"):
        CASME2Task({"classes": "6"}, ctx)
    with pytest.raises(UsageError, match="unknown corrections table 'samm-apex' for casme2"):
        CASME2Task({"corrections": "samm-apex"}, ctx)


def test_listed_checked_and_run_from_the_command_line(run_cli, data, tmp_path):
    r = run_cli("list", "tasks")
    assert all(name in r.out for name in ("casme2", "samm", "casme3", "smic", "mmew", "megc2019"))
    r = run_cli("show", "task", "casme2")
    assert r.code == 0 and "happiness, disgust, repression, surprise, others" in r.out
    r = run_cli("data", "check", "casme3", "--data-dir", str(data))
    assert r.code == 1 and "8/8" in r.out and "8 samples, the official release has 860" in r.out
    assert "row 6 (spNO.1/b/100): offset 98 is before onset 100; left out" in r.out
    r = run_cli("data", "check", "casme2:corrections=none", "--data-dir", str(data))
    assert "row 8 (sub04/EP12_01f): apex is not a frame number: '/'; kept without apex metadata" in r.out
    for spec, n, official in (("smic", 7, 164), ("samm", 6, 136), ("mmew", 7, 300), ("megc2019", 15, 442),
                              ("casme2:media=cropped", 8, 246)):
        r = run_cli("data", "check", spec, "--data-dir", str(data))
        problems = r.out.split("problem(s):")[-1].strip().splitlines()
        assert f"{n}/{n}" in r.out and problems == [f"- test: {n} samples, the official release has {official}"]
    out = tmp_path / "out"
    r = run_cli("run", "--tasks", "megc2019", "--model", "majority-oracle", "--data-dir", str(data),
                "--output-path", str(out), "--no-progress", "--log-samples")
    assert r.code == 0, r.err
    result = read_results(out)["tasks"]["megc2019"]
    assert set(result["groups"]) == {"casme2", "samm", "smic"}
    assert result["params"]["sources"]["samm"]["corrections_applied"] == ["028_4_1: apex 1150 -> 1113 (samm-apex@1)"]
    rows = read_samples(out / result["samples_file"])
    scores = pooled_scores(rows, result["classes"])
    assert scores["uf1"] == pytest.approx(result["metrics"]["macro_f1"])
    assert scores["by_dataset"]["smic"]["uar"] == pytest.approx(result["groups"]["smic"]["uar"])
    for source in ("casme2", "samm", "smic"):  # MEGC reports UF1 per source dataset: the results file has it
        assert scores["by_dataset"][source]["uf1"] == pytest.approx(result["groups"][source]["macro_f1"])


def test_the_temporal_probe_sweeps_the_context_window(run_cli, data, tmp_path):
    out = tmp_path / "diag"
    r = run_cli("diagnose", "--tasks", "casme3", "--model", "uniform", "--probes", "temporal:rates=5|12,counts=8,windows=1|3",
                "--data-dir", str(data), "--output-path", str(out), "--no-progress", "--bootstrap", "0")
    assert r.code == 0, r.err
    doc = json.loads(next(out.glob("diagnostics_*.json")).read_text())
    windows = doc["tasks"]["casme3"]["probes"]["temporal"]["figures"]["windows"]
    assert set(windows) == {"1", "3"} and all("uar" in p for p in windows.values())
    # a longer window holds the same short expression among more frames: 8 uniform frames reach its apex less often
    cover = {w: (p["apex_coverage"] or {}).get("share") for w, p in windows.items()}
    assert cover["3"] is not None and cover["1"] is not None and cover["3"] <= cover["1"]
    assert "UAR / apex coverage by window" in r.out
    # a task without context windows skips the variants, saying why
    r = run_cli("diagnose", "--tasks", "synthetic:n=14", "--model", "uniform", "--probes", "temporal:rates=5,counts=8,windows=3",
                "--output-path", str(tmp_path / "syn"), "--no-progress", "--bootstrap", "0")
    assert r.code == 0, r.err
    doc = json.loads(next((tmp_path / "syn").glob("diagnostics_*.json")).read_text())
    assert "skipped" in doc["tasks"]["synthetic:n=14"]["probes"]["temporal"]["figures"]["windows"]["3"]
