"""Prompt templates, lettered options and shuffled candidate order, end to end."""

from __future__ import annotations

import json
from collections import Counter

from harness.emotions import BASIC7
from harness.prompts import LETTERS, NAMES, OPEN
from tests.conftest import read_results


def test_templates_render_the_choices_in_the_given_order():
    assert "Choose one of: sad, happy." in NAMES.text(("sad", "happy"))
    assert "A. sad\nB. happy" in LETTERS.text(("sad", "happy"))
    assert "sad" not in OPEN.text(("sad", "happy"))
    messages = NAMES.render(BASIC7)
    assert messages[0]["role"] == "system" and messages[1]["content"][0] == {"type": "video"}


def run_scripted(run_cli, out, *extra):
    r = run_cli("run", "-p", "scripted_models", "--tasks", "synthetic:n=30,seed=3", "--output-path",
                str(out), "--log-samples", "--no-progress", *extra)
    assert r.code == 0, r.err
    doc = read_results(out)
    task = doc["tasks"]["synthetic:n=30,seed=3"]
    rows = [json.loads(x) for x in (out / task["samples_file"]).read_text().splitlines()]
    return task, rows


def test_letters_map_through_the_order_shown_to_each_sample(run_cli, tmp_path):
    task, rows = run_scripted(run_cli, tmp_path / "fixed", "--model", "scripted", "--prompt", "letters")
    assert {r["prediction"] for r in rows} == {"happy"} and {r["rule"] for r in rows} == {"letter"}
    assert task["prompt"]["kind"] == "letters" and "A. happy" in task["prompt"]["rendered"]

    task, rows = run_scripted(run_cli, tmp_path / "shuffled", "--model", "scripted", "--prompt", "letters",
                              "--choice-order", "shuffled", "--seed", "1")
    assert task["prompt"]["choice_order"] == "shuffled"
    assert all(r["prediction"] == r["choices"][0] for r in rows)
    assert len({tuple(r["choices"]) for r in rows}) > 10  # a permutation per sample
    again = run_scripted(run_cli, tmp_path / "again", "--model", "scripted", "--prompt", "letters",
                         "--choice-order", "shuffled", "--seed", "1")[1]
    assert [r["choices"] for r in again] == [r["choices"] for r in rows]
    assert len({r["prompt_hash"] for r in rows}) > 10


def test_candidate_order_bias_is_measurable(run_cli, tmp_path):
    # A model that always picks the first option shown collapses onto one class
    # with a fixed order, and spreads over all classes when the order is shuffled.
    _, fixed = run_scripted(run_cli, tmp_path / "f", "--model", "echo-first")
    _, shuffled = run_scripted(run_cli, tmp_path / "s", "--model", "echo-first", "--choice-order", "shuffled")
    assert Counter(r["prediction"] for r in fixed) == Counter({"happy": 30})
    assert len(Counter(r["prediction"] for r in shuffled)) >= 5


def test_open_answers_go_through_synonyms(run_cli, tmp_path):
    _, rows = run_scripted(run_cli, tmp_path, "--model", "scripted", "--model-args", "answer=Joyful.",
                           "--prompt", "open")
    assert {(r["prediction"], r["rule"]) for r in rows} == {("happy", "alias")}


def test_unknown_template_is_a_usage_error(run_cli, tmp_path):
    r = run_cli("run", "--tasks", "synthetic:n=30,seed=3", "--model", "majority", "--prompt", "haiku",
                "--output-path", str(tmp_path))
    assert r.code == 2 and "names, letters, open" in r.err
