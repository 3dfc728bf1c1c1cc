"""Tasks without Python: YAML definitions with manifests, and Hugging Face datasets."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import datasets
import pytest

from tests.conftest import read_results

YAML = """\
task: my-clips
description: three classes from a CSV manifest
manifest: clips.csv
media_column: path
label_column: emotion
id_column: clip
classes: [happy, sad, neutral]
aliases: {{joyful: happy}}
label_map: {{"1": happy, "2": sad, "3": neutral}}
frames: "{frames}"
"""


@pytest.fixture
def clip_folder(synthetic30, tmp_path):
    """Clips of three classes copied into tmp_path/media, with (name, label) pairs."""
    _, samples = synthetic30
    picked = [s for s in samples if s.label in ("happy", "sad", "neutral")][:9]
    (tmp_path / "media").mkdir()
    for s in picked:
        shutil.copy(s.media, tmp_path / "media" / f"{s.id}.mp4")
    return tmp_path, [(f"media/{s.id}.mp4", s.label, s.id) for s in picked]


def write_yaml_task(folder: Path, rows, frames="uniform=4", labels=None):
    codes = {"happy": "1", "sad": "2", "neutral": "3"}
    lines = ["clip,path,emotion"] + [f"{i},{p},{labels[i] if labels else codes[lab]}"
                                     for i, (p, lab, _) in enumerate(rows)]
    (folder / "clips.csv").write_text("\n".join(lines) + "\n")
    (folder / "tasks").mkdir(exist_ok=True)
    (folder / "tasks" / "my.yaml").write_text(YAML.format(frames=frames).replace("manifest: clips.csv",
                                                                                   "manifest: ../clips.csv"))
    return folder / "tasks"


def test_yaml_task_is_listed_and_runs(clip_folder, run_cli):
    root, rows = clip_folder
    tasks = write_yaml_task(root, rows)
    r = run_cli("list", "tasks", "--include-path", str(tasks))
    assert r.code == 0 and "my-clips" in r.out and "three classes" in r.out
    r = run_cli("run", "--include-path", str(tasks), "--tasks", "my-clips", "--model", "majority-oracle",
                "--output-path", str(root / "out"), "--log-samples", "--no-progress")
    assert r.code == 0, r.err
    task = read_results(root / "out")["tasks"]["my-clips"]
    assert task["classes"] == ["happy", "sad", "neutral"] and task["frame_protocol"]["name"] == "uniform4"
    assert task["counts"]["evaluated"] == len(rows)
    logged = [json.loads(x) for x in (root / "out" / task["samples_file"]).read_text().splitlines()]
    assert [x["label"] for x in logged] == [lab for _, lab, _ in rows]
    assert logged[0]["id"] == "0"
    # Without --include-path the task does not exist.
    assert run_cli("show", "task", "my-clips").code == 2


def test_yaml_errors_name_the_file_and_the_row(clip_folder, run_cli):
    root, rows = clip_folder
    tasks = write_yaml_task(root, rows, labels=["1", "7"] + ["1"] * (len(rows) - 2))
    r = run_cli("run", "--include-path", str(tasks), "--tasks", "my-clips", "--model", "majority-oracle",
                "--output-path", str(root / "out"))
    assert r.code == 1 and "clips.csv:3: unknown label '7'" in r.err

    (tasks / "broken.yaml").write_text("task: broken\nmanifest: x.csv\n")  # no classes
    r = run_cli("list", "tasks", "--include-path", str(tasks))
    assert r.code == 0 and "my-clips" in r.out  # the good file still registers
    assert "broken.yaml" in r.err and "'classes' is a required property" in r.err

    (tasks / "broken.yaml").unlink()
    escape = root / "clips.csv"
    escape.write_text("clip,path,emotion\n0,../../etc/passwd,1\n")
    r = run_cli("run", "--include-path", str(tasks), "--tasks", "my-clips", "--model", "majority-oracle",
                "--output-path", str(root / "out"))
    assert r.code == 1 and "escapes the data root" in r.err


def test_jsonl_manifest(clip_folder, run_cli):
    root, rows = clip_folder
    (root / "clips.jsonl").write_text("".join(json.dumps({"media": p, "label": lab}) + "\n" for p, lab, _ in rows))
    (root / "t").mkdir()
    (root / "t" / "j.yaml").write_text("task: jsonl-clips\nmanifest: ../clips.jsonl\nmedia_root: ..\n"
                                       "classes: [happy, sad, neutral]\n")
    r = run_cli("run", "--include-path", str(root / "t"), "--tasks", "jsonl-clips", "--model", "uniform",
                "--output-path", str(root / "out"), "--no-progress")
    assert r.code == 0, r.err
    assert read_results(root / "out")["tasks"]["jsonl-clips"]["counts"]["evaluated"] == len(rows)


def test_hf_dataset_saved_to_disk_with_class_labels(clip_folder, run_cli):
    root, rows = clip_folder
    names = ["happy", "sad", "neutral"]
    ds = datasets.Dataset.from_dict(
        {"video": [p for p, _, _ in rows], "label": [names.index(lab) for _, lab, _ in rows]},
        features=datasets.Features({"video": datasets.Value("string"),
                                    "label": datasets.ClassLabel(names=names)}))
    ds.save_to_disk(str(root / "ds"))
    r = run_cli("run", "--tasks", f"hf-dataset:path={root / 'ds'},media_root={root}", "--model", "majority-oracle",
                "--output-path", str(root / "out"), "--no-progress")
    assert r.code == 0, r.err
    task = next(iter(read_results(root / "out")["tasks"].values()))
    assert task["classes"] == names and task["counts"]["evaluated"] == len(rows)


def test_hf_dataset_from_a_csv_file_and_a_video_feature(clip_folder, run_cli):
    root, rows = clip_folder
    (root / "data.csv").write_text("video,label\n" + "".join(f"{p},{lab}\n" for p, lab, _ in rows))
    r = run_cli("run", "--tasks", f"hf-dataset:path={root / 'data.csv'}", "--model", "majority-oracle",
                "--output-path", str(root / "out1"), "--no-progress")
    assert r.code == 2 and "classes=happy|sad" in r.err  # a string label column needs the class list
    r = run_cli("run", "--tasks", f"hf-dataset:path={root / 'data.csv'},classes=happy|sad|neutral",
                "--model", "majority-oracle", "--output-path", str(root / "out1"), "--no-progress")
    assert r.code == 0, r.err

    ds = datasets.Dataset.from_dict(
        {"clip": [str(root / p) for p, _, _ in rows], "label": [lab for _, lab, _ in rows]},
        features=datasets.Features({"clip": datasets.Video(), "label": datasets.Value("string")}))
    ds.save_to_disk(str(root / "vds"))
    r = run_cli("run", "--tasks", f"hf-dataset:path={root / 'vds'},media_column=clip,classes=happy|sad|neutral",
                "--model", "majority-oracle", "--output-path", str(root / "out2"), "--no-progress")
    assert r.code == 0, r.err
    r = run_cli("run", "--tasks", f"hf-dataset:path={root / 'vds'},media_column=nope,classes=a|b",
                "--model", "majority-oracle", "--output-path", str(root / "out3"))
    assert r.code == 1 and "no column 'nope'" in r.err


def test_yaml_tasks_inherit_the_standard_synonyms_unless_they_opt_out(clip_folder):
    import yaml

    from harness.context import Context
    from harness.parsing import AnswerParser
    from harness.tasks.yamltask import YAMLTask

    root, rows = clip_folder
    tasks = write_yaml_task(root, rows)
    path = tasks / "my.yaml"
    definition = yaml.safe_load(path.read_text())
    task = YAMLTask(path, definition, {}, Context(cache_dir=root / "c"))
    parser = AnswerParser(task.classes, task.aliases)
    assert parser.parse("Happiness").prediction == "happy"  # inherited
    assert parser.parse("sadness").prediction == "sad"
    assert parser.parse("joyful").prediction == "happy"  # its own alias
    opted = YAMLTask(path, {**definition, "standard_synonyms": False}, {}, Context(cache_dir=root / "c"))
    assert AnswerParser(opted.classes, opted.aliases).parse("Happiness").status == "invalid"


def test_absolute_clip_paths_are_taken_unless_a_data_root_excludes_them(clip_folder, run_cli):
    root, rows = clip_folder
    absolute = [(str(root / p), lab, i) for p, lab, i in rows]
    tasks = write_yaml_task(root, absolute)  # no media_root: a user's own manifest may name clips anywhere
    r = run_cli("show", "task", "my-clips", "--include-path", str(tasks))
    assert r.code == 0 and f"samples:     {len(rows)}" in r.out
    r = run_cli("run", "--include-path", str(tasks), "--tasks", "my-clips", "--model", "majority-oracle",
                "--output-path", str(root / "out"), "--no-progress")
    assert r.code == 0, r.err
    # With a data root, absolute paths must lie under it; the refusal names the row, the path and why.
    yaml = tasks / "my.yaml"
    (root / "elsewhere").mkdir()
    yaml.write_text(yaml.read_text() + "media_root: ../elsewhere\n")
    r = run_cli("show", "task", "my-clips", "--include-path", str(tasks))
    assert r.code == 0 and "samples:     cannot be read:" in r.out
    assert f"clips.csv:2: absolute path '{root / rows[0][0]}' is outside the data root" in r.out
    yaml.write_text(yaml.read_text().replace("media_root: ../elsewhere", "media_root: .."))
    r = run_cli("show", "task", "my-clips", "--include-path", str(tasks))
    assert f"samples:     {len(rows)}" in r.out


def test_show_task_says_how_to_install_datasets_when_it_is_missing(run_cli, monkeypatch, tmp_path):
    import sys
    monkeypatch.setitem(sys.modules, "datasets", None)  # as if it were not installed
    r = run_cli("show", "task", f"hf-dataset:path={tmp_path},classes=happy|sad")
    assert r.code == 0 and 'pip install "dfer-harness[datasets]"' in r.out
