"""Answers constrained while decoding (--answer-format): enforced by the backend, recorded, never mixed."""

from __future__ import annotations

import json

import pytest

from harness.samplelog import read_samples
from tests.conftest import read_results

TASK = "synthetic:n=12,seed=4"


def run(run_cli, out, *extra):
    r = run_cli("run", "--tasks", TASK, "--model", "tiny-qwen-vl", "--model-args", "mode=generate,max_new_tokens=12",
                "--output-path", str(out), "--log-samples", "--no-progress", "--batch-size", "4", *extra)
    return r, (read_results(out) if r.code in (0, 1) and list(out.glob("results_*.json")) else None)


@pytest.mark.parametrize("answer_format,rule", [("choice", "exact"), ("json", "json")])
def test_a_tiny_vlm_writes_only_allowed_answers(run_cli, tmp_path, cache_dir, answer_format, rule):
    pytest.importorskip("torch")
    r, doc = run(run_cli, tmp_path, "--answer-format", answer_format)
    assert r.code == 0, r.err
    task = doc["tasks"][TASK]
    rows = read_samples(tmp_path / task["samples_file"])
    # a random tiny model writes garbage when free (see the golden runs); constrained, every answer is a candidate
    assert task["counts"]["invalid"] == 0 and {row["rule"] for row in rows} == {rule}
    if answer_format == "json":
        assert all(json.loads(row["raw"])["answer"] in task["classes"] for row in rows)
    assert task["prompt"]["answer_format"] == answer_format and doc["config"]["answer_format"] == answer_format


def test_constrained_and_free_runs_never_share_a_leaderboard_row(run_cli, tmp_path, cache_dir):
    pytest.importorskip("torch")
    for name, extra in (("free", ()), ("choice", ("--answer-format", "choice"))):
        r, _ = run(run_cli, tmp_path / name, *extra)
        assert r.code in (0, 1), r.err
        r = run_cli("leaderboard", "add", *map(str, (tmp_path / name).glob("results_*.json")), "--board",
                    str(tmp_path / "board.json"), "--allow-partial")
        assert r.code == 0, r.err
    board = json.loads((tmp_path / "board.json").read_text())
    assert sorted(row["prompt_template"] for row in board["rows"] if row["kind"] == "measured") == ["names", "names+choice"]


def test_a_model_that_cannot_enforce_a_format_is_refused_before_any_answer(run_cli, tmp_path):
    r = run_cli("run", "--tasks", TASK, "--model", "majority", "--answer-format", "json", "--output-path",
                str(tmp_path), "--no-progress")
    assert r.code == 1 and "cannot constrain its answers to --answer-format json" in r.err
