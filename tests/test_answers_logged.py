"""Reasoning and the rule that read each answer reach the per-sample log and the task result."""

from __future__ import annotations

from harness.samplelog import read_samples
from tests.conftest import read_results

# tags off, the thought is read: its "happy" opens the answer (first_line), so the reading changes
THOUGHT = "<think>looks happy; the brows fall and the mouth turns down</think> Sad"


def run(run_cli, out, *extra):
    r = run_cli("run", "-p", "scripted_models", "--tasks", "synthetic:n=8,seed=1", "--model", "scripted",
                "--model-args", f"answer={THOUGHT}", "--output-path", str(out), "--log-samples", "--no-progress",
                *extra)
    assert r.code == 0, r.err
    doc = read_results(out)
    task = doc["tasks"]["synthetic:n=8,seed=1"]
    return doc, task, read_samples(out / task["samples_file"])


def test_reasoning_is_logged_apart_from_the_answer_and_rules_are_counted(run_cli, tmp_path):
    doc, task, rows = run(run_cli, tmp_path / "default")
    assert all(r["prediction"] == "sad" and r["rule"] == "exact" for r in rows)  # not "happy", read in the thought
    assert rows[0]["reasoning"].startswith("looks happy;") and rows[0]["raw"] == THOUGHT
    assert task["rules"] == {"exact": 8}
    assert ["<think>", "</think>"] in task["prompt"]["reasoning_tags"] and doc["config"]["reasoning_tags"] is None


def test_reasoning_tags_can_be_turned_off_per_run(run_cli, tmp_path):
    doc, task, rows = run(run_cli, tmp_path / "off", "--reasoning-tags", "none")
    assert task["prompt"]["reasoning_tags"] == [] and doc["config"]["reasoning_tags"] == "none"
    assert all(r["reasoning"] is None for r in rows)
    assert {r["prediction"] for r in rows} != {"sad"}  # the thought's "happy" now counts: why the tags exist


def test_a_reasoning_preset_allows_long_answers_and_says_so(run_cli):
    r = run_cli("list", "models")
    line = next(x for x in r.out.splitlines() if x.startswith("qwen3-vl-thinking"))
    assert "Qwen/Qwen3-VL-8B-Thinking" in line and "max_new_tokens=1024 by default" in line
