"""Readers that cannot be fooled (issue 33, items 3-8): stale spreadsheet dimensions, paths out of the
data root, stray frame files, duplicates written two ways, JSON that makes Python raise, silent skips
and sheets too big to read. Each test builds a tiny broken copy of a release."""

from __future__ import annotations

import json
import os
import re
import shutil
import zipfile
from pathlib import Path

import pytest

from harness.context import Context
from harness.errors import DataError
from harness.tasks import microexpr_sheets
from harness.tasks.casme2 import CASME2Task
from harness.tasks.casme3 import CASME3Task
from harness.tasks.emobench_m import EmoBenchMTask
from harness.tasks.megc2019 import MEGC2019Task
from harness.tasks.mme_emotion import MMEEmotionTask
from harness.tasks.mmew import MMEWTask
from harness.tasks.samm import SAMMTask
from harness.tasks.smic import SMICTask
from harness.testing import microexpr_releases as releases


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return releases.make_all(tmp_path_factory.mktemp("hardening"))


@pytest.fixture
def copy(data, tmp_path):
    """A private copy of some releases under tmp_path/data, and a Context reading it."""
    def make(*names: str) -> tuple[Path, Context]:
        for name in names:
            shutil.copytree(data / name, tmp_path / "data" / name, symlinks=True)
        return tmp_path / "data", Context(cache_dir=tmp_path / "cache", data_dir=tmp_path / "data")
    return make


SHEETS = {  # task, its annotation file under the data dir, the header's row, samples of the intact copy
    "casme2": (CASME2Task, "CASME2/CASME2-coding-20140508.xlsx", 1, 8),
    "samm": (SAMMTask, "SAMM/SAMM_Micro_FACS_Codes_v2.xlsx", 14, 6),
    "casme3": (CASME3Task, "CASME3/part_A/annotation/cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx", 1, 8),
    "mmew": (MMEWTask, "MMEW/MMEW_Micro_Exp.xlsx", 1, 7),
}
FOLDER = {"casme2": "CASME2", "samm": "SAMM", "casme3": "CASME3", "mmew": "MMEW", "smic": "SMIC"}


def rewrite_dimension(path: Path, ref: str) -> None:
    """Rewrite ``<dimension ref=...>`` of the first sheet, as files written by some tools carry a stale one."""
    out = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            body = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                body, n = re.subn(rb'<dimension ref="[^"]*"', f'<dimension ref="{ref}"'.encode(), body)
                assert n == 1
            dst.writestr(item, body)
    out.replace(path)


def edit(path: Path, cells: dict[str, object] | None = None, append: list | None = None) -> None:
    import openpyxl
    book = openpyxl.load_workbook(path)
    sheet = book.worksheets[0]
    for ref, value in (cells or {}).items():
        sheet[ref] = value
    if append is not None:
        sheet.append(append)
    book.save(path)


def row_values(path: Path, number: int) -> list:
    import openpyxl
    book = openpyxl.load_workbook(path)
    return [c.value for c in book.worksheets[0][number]]


# --- 3: a stale <dimension> ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(SHEETS))
def test_a_stale_dimension_does_not_drop_rows(copy, name):
    task_class, annotation, header, n = SHEETS[name]
    root, ctx = copy(FOLDER[name])
    assert len(task_class({}, ctx).samples()) == n
    for ref in (f"A1:L{header + 2}", f"A1:B{header + 2}"):  # 2 rows under the header; and 2 columns too
        rewrite_dimension(root / annotation, ref)
        assert len(task_class({}, ctx).samples()) == n


# --- 5: paths out of the data root ------------------------------------------------------------------------

def test_annotation_paths_out_of_the_root_are_refused(copy, tmp_path):
    root, ctx = copy("CASME2", "SAMM", "CASME3", "MMEW")
    outside = tmp_path / "outside"
    shutil.copytree(root / "CASME2/CASME2_RAW_selected/sub01/EP02_01f", outside / "EP02_01f")
    casme2 = root / SHEETS["casme2"][1]
    edit(casme2, {"B2": "../../../outside/EP02_01f"})
    with pytest.raises(DataError, match=r"row 2: path .*escapes the data root"):
        CASME2Task({}, ctx).samples()
    edit(casme2, {"B2": str(outside / "EP02_01f")})
    with pytest.raises(DataError, match=r"row 2: path .* must be relative"):
        CASME2Task({}, ctx).samples()
    edit(root / SHEETS["samm"][1], {"B15": "../../outside/EP02_01f"})
    with pytest.raises(DataError, match=r"row 15: path .*escapes the data root"):
        SAMMTask({}, ctx).samples()
    edit(root / SHEETS["casme3"][1], {"A2": "../../../../../outside"})
    with pytest.raises(DataError, match=r"row 2: path .*escapes the data root"):
        CASME3Task({}, ctx).samples()
    edit(root / SHEETS["mmew"][1], {"B2": "../../outside/EP02_01f"})
    with pytest.raises(DataError, match=r"row 2: path .*escapes the data root"):
        MMEWTask({}, ctx).samples()


def test_clip_folders_linked_out_of_the_root_are_refused(copy, tmp_path):
    root, ctx = copy("CASME2", "SMIC")
    for clip in (root / "CASME2/CASME2_RAW_selected/sub01/EP02_01f",
                 root / "SMIC/SMIC_all_raw/HS/s1/micro/negative/s1_ne_01"):
        target = tmp_path / "outside" / clip.name
        shutil.move(clip, target)
        os.symlink(target, clip)
    with pytest.raises(DataError, match=r"row 2: path 'sub01/EP02_01f' escapes the data root"):
        CASME2Task({}, ctx).samples()
    with pytest.raises(DataError, match=r"s1_ne_01.* escapes the data root"):
        SMICTask({}, ctx).samples()


# --- 4: stray frame files ---------------------------------------------------------------------------------

def test_stray_frame_files_do_not_stretch_a_smic_clip(copy):
    root, ctx = copy("SMIC")
    clip = root / "SMIC/SMIC_all_raw/HS/s1/micro/negative/s1_ne_01"  # image0612345.bmp ... image0612374.bmp
    shutil.copyfile(clip / "image0612345.bmp", clip / "image0612345 (1).bmp")  # a file manager's copy
    shutil.copyfile(clip / "image0612345.bmp", clip / "image0612900.bmp")  # far past the clip's last frame
    task = SMICTask({}, ctx)
    s = {x.id: x for x in task.samples()}["s1_ne_01"]
    assert (s.meta["clip_first_frame"], s.meta["clip_last_frame"], s.meta["clip_frames"]) == (612345, 612374, 30)
    assert len(os.listdir(s.media)) == 30
    [problem] = [p for p in task.annotation_problems() if p["key"] == "s1_ne_01"]
    assert "image0612345 (1).bmp" in problem["reason"] and "image0612900.bmp" in problem["reason"]
    assert problem["action"].startswith("ignored")


def test_stray_frames_are_named_by_data_check(copy, run_cli):
    root, _ = copy("SMIC")
    clip = root / "SMIC/SMIC_all_raw/HS/s1/micro/positive/s1_po_01"
    shutil.copyfile(next(clip.iterdir()), clip / "image9999999.bmp")
    r = run_cli("data", "check", "smic", "--data-dir", str(root))
    assert "(s1_po_01)" in r.out and "image9999999.bmp" in r.out and "7/7" in r.out


# --- 6: duplicates written two ways -----------------------------------------------------------------------

def test_a_clip_written_two_ways_is_read_once(copy):
    root, ctx = copy("CASME2", "CASME3")
    casme2 = root / SHEETS["casme2"][1]
    first = row_values(casme2, 2)  # sub01 EP02_01f, happiness
    edit(casme2, append=[first[0], "EP02_01f/", *first[2:]])
    task = CASME2Task({}, ctx)
    assert len(task.samples()) == 8 and sorted(s.id for s in task.samples()).count("sub01/EP02_01f") == 1
    [problem] = task.annotation_problems()
    assert problem["row"] == 12 and "row 2" in problem["reason"] and problem["action"] == "left out"
    casme3 = root / SHEETS["casme3"][1]
    edit(casme3, append=["spNO.1", "a", "040", 45, 52, "12", 1, "happy"])  # row 2 with its onset as text
    task = CASME3Task({}, ctx)
    assert len(task.samples()) == 8 and "spNO.1/a/040" not in {s.id for s in task.samples()}
    assert any(p["row"] == 12 and "row 2" in p["reason"] for p in task.annotation_problems())


def test_one_clip_with_two_labels_is_an_error_naming_both_rows(copy):
    root, ctx = copy("CASME2")
    casme2 = root / SHEETS["casme2"][1]
    first = row_values(casme2, 2)
    edit(casme2, append=[first[0], "EP02_01f/", *first[2:-1], "surprise"])
    with pytest.raises(DataError, match=r"row 12: .*row 2.*(surprise|happiness)"):
        CASME2Task({}, ctx).samples()


@pytest.mark.parametrize("line", ["samm,006,006_1_2,1", "smic,s1,s1_ne_01,1"])
def test_megc_rows_naming_one_clip_two_ways_are_an_error(copy, line):
    root, ctx = copy("CASME2", "SAMM", "SMIC", "MEGC2019")
    gt = root / "MEGC2019/combined_3class_gt.csv"
    gt.write_text(gt.read_text() + line + "\n")
    with pytest.raises(DataError, match=r"combined_3class_gt.csv:31: .*line (21|11)"):
        MEGC2019Task({}, ctx).samples()


def mme(root: Path, entries: list) -> Context:
    path = root / "MME-Emotion/ER-Wild/question/ER_Wild.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(entries if isinstance(entries, str) else json.dumps(entries))
    return Context(cache_dir=root / "cache", data_dir=root)


DFEW = ["neutral", "happy", "angry", "sad", "fear", "surprise", "disgust"]


def test_mme_emotion_one_clip_written_two_ways_is_an_error(tmp_path):
    ctx = mme(tmp_path, [{"video_id": "DFEW/video/1.mp4", "label": "happy", "label_set": DFEW},
                         {"video_id": "DFEW/video//2.mp4", "label": "sad", "label_set": DFEW},
                         {"video_id": "DFEW/./video/2.mp4", "label": "angry", "label_set": DFEW}])
    with pytest.raises(DataError, match=r"ER_Wild.json\[2\].*ER_Wild.json\[1\]"):
        MMEEmotionTask({}, ctx).samples()


# --- 7: JSON that makes Python raise ----------------------------------------------------------------------

def emobench(root: Path, entries) -> Context:
    path = root / "EmoBench-M/benchmark_json/mer2023.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(entries if isinstance(entries, str) else json.dumps(entries))
    return Context(cache_dir=root / "cache", data_dir=root)


def turn(answer: str) -> list:
    return [{"from": "human", "value": "<video>\nWhat emotion?"}, {"from": "gpt", "value": answer}]


@pytest.mark.parametrize("case", ["nested", "nul", "conversations-null", "huge-literal"])
def test_json_readers_raise_one_line_data_errors(tmp_path, case):
    deep = "[" * 100_000 + "]" * 100_000
    if case == "nested":
        contexts = [mme(tmp_path, deep), emobench(tmp_path, deep)]
        where = "json"
    elif case == "nul":
        contexts = [mme(tmp_path, [{"video_id": "DFEW/video/\x001.mp4", "label": "happy", "label_set": DFEW}]),
                    emobench(tmp_path, [{"id": "1", "video": "videos/\x001.mp4", "conversations": turn("happy")}])]
        where = r"\[0\]"
    elif case == "conversations-null":
        contexts = [emobench(tmp_path, [{"id": "1", "video": "videos/1.mp4", "conversations": None}])]
        where = r"\[0\]"
    else:
        contexts = [emobench(tmp_path, [{"id": "1", "video": "videos/1.mp4",
                                         "conversations": turn("{'emotion': " + "-" * 100_000 + "1}")}])]
        where = r"\[0\]"
    for ctx, task_class in zip(contexts, (MMEEmotionTask, EmoBenchMTask) if case in ("nested", "nul")
                               else (EmoBenchMTask,)):
        with pytest.raises(DataError, match=where) as info:
            task_class({}, ctx).samples()
        assert "\n" not in str(info.value) and len(str(info.value)) < 600


# --- 8: silent skips, guesses, and sheets too big to read -------------------------------------------------

def test_smic_folders_that_are_not_a_label_are_named(copy):
    root, ctx = copy("SMIC")
    micro = root / "SMIC/SMIC_all_raw/HS/s1/micro"
    shutil.copytree(micro / "negative/s1_ne_01", micro / "Negative/s1_ne_09")
    shutil.copytree(micro / "negative/s1_ne_02", micro / "neg/s1_ne_08")
    task = SMICTask({}, ctx)
    assert len(task.samples()) == 7
    named = {p["key"]: p for p in task.annotation_problems()}
    assert set(named) == {"Negative", "neg"} and all(p["action"] == "skipped" for p in named.values())
    assert "negative, positive, surprise" in named["neg"]["reason"]


def test_two_columns_that_could_be_the_onset_are_an_error(copy):
    root, ctx = copy("CASME3")
    edit(root / SHEETS["casme3"][1], {"I1": "OnsetFrame", "I2": 1})
    with pytest.raises(DataError, match=r"row 1: .*'Onset'.*'OnsetFrame'"):
        CASME3Task({}, ctx).samples()


@pytest.mark.parametrize("value", [None, "  "])
def test_mmew_blank_or_merged_subject_is_an_error(copy, value):
    root, ctx = copy("MMEW")
    edit(root / SHEETS["mmew"][1], {"A3": value})
    with pytest.raises(DataError, match=r"MMEW_Micro_Exp.xlsx \[Sheet1\] row 3: Subject"):
        MMEWTask({}, ctx).samples()


def test_mmew_merged_subject_cells_are_an_error(copy):
    import openpyxl
    root, ctx = copy("MMEW")
    path = root / SHEETS["mmew"][1]
    book = openpyxl.load_workbook(path)
    book.active.merge_cells("A2:A3")  # subject 1 written once for two rows
    book.save(path)
    with pytest.raises(DataError, match=r"row 3: Subject"):
        MMEWTask({}, ctx).samples()


@pytest.mark.parametrize("label", ["", "  ", "???"])
def test_mme_emotion_label_set_with_an_empty_label_is_an_error(tmp_path, label):
    ctx = mme(tmp_path, [{"video_id": "DFEW/video/1.mp4", "label": "happy", "label_set": [*DFEW, label]}])
    with pytest.raises(DataError, match=r"ER_Wild.json\[0\]: label_set"):
        MMEEmotionTask({}, ctx).samples()


def test_sheets_beyond_the_stated_size_are_refused(copy, monkeypatch):
    root, ctx = copy("MMEW")
    path = root / SHEETS["mmew"][1]
    edit(path, {"H2": "x" * 32_000})  # one long string: a small file that unpacks large
    assert path.stat().st_size < 10_000
    monkeypatch.setattr(microexpr_sheets, "MAX_PART_BYTES", 20_000)
    with pytest.raises(DataError, match=r"MMEW_Micro_Exp.xlsx: .*MAX_PART_BYTES"):
        MMEWTask({}, ctx).samples()
    monkeypatch.undo()
    edit(path, {"H2": None, "A5000": "x"})  # a row far below the others
    monkeypatch.setattr(microexpr_sheets, "MAX_ROWS", 1000)
    with pytest.raises(DataError, match=r"MMEW_Micro_Exp.xlsx \[Sheet1\]: .*more than 1,000 rows.*MAX_ROWS"):
        MMEWTask({}, ctx).samples()
