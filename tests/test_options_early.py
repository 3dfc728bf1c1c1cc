"""Options and arguments that can never work are refused before any clip is read (issue 33, item 14): a run
that evaluates every clip and only then fails to save, or a traceback, wasted the whole run."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("tasks,model_args,frames,expected", [
    ("synthetic:n=7", "batch_size=0", None, "batch_size=0 must be at least 1"),
    ("synthetic:n=7", "max_new_tokens=-3", None, "max_new_tokens=-3 must be at least 1"),
    ("casme2:apex_window=nan", "", None, "apex_window=nan must be a finite number"),
    ("casme3:window=inf", "", None, "window=inf must be a finite number"),
    ("casme3:window=1e308", "", None, "must be between 0 and 600"),
    ("synthetic:n=7", "", "fps=1e-300", "must be between 0.01 and 1000 frames per second"),
])
def test_a_value_that_cannot_work_is_refused_before_any_work(run_cli, tmp_path, tasks, model_args, frames, expected):
    model = ["--model", "tiny-vlm", "--model-args", model_args] if model_args else ["--model", "majority"]
    r = run_cli("run", "--tasks", tasks, *model, *(["--frames", frames] if frames else []),
                "--data-dir", str(tmp_path / "data"), "--output-path", str(tmp_path / "out"), "--no-progress")
    assert r.code == 2 and expected in r.err, r.err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())  # nothing was run


def test_a_yaml_tasks_frames_error_names_its_file_not_an_option_never_passed(tmp_path, run_cli):
    task = tmp_path / "tasks" / "mine.yaml"
    task.parent.mkdir()
    task.write_text("task: mine\nmanifest: m.csv\nmedia_column: path\nlabel_column: label\nclasses: [happy, sad]\n"
                    "frames: uniform8\n")
    (tmp_path / "tasks" / "m.csv").write_text("path,label\nclip.mp4,happy\n")
    r = run_cli("show", "task", "mine", "--include-path", str(task.parent))
    assert f"{task}: frames: unknown item 'uniform8'" in r.err and "--frames" not in r.err, r.err
