"""The evaluator's pieces on their own: planning, the core's request rules, typed sample rows, the
declared parameters of plugins, and one split evaluated with a scripted model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import evaluator, request_rules, samplelog
from harness.context import Context
from harness.errors import CapabilityError, DataError, UsageError
from harness.frames import time_told
from harness.host import load
from harness.model import Model
from harness.params import Param, check_args, parse_tasks
from harness.plan import RunConfig, plan_run, shown_choices
from harness.prompts import NAMES
from harness.types import FrameProtocol, Frames, Request, Response

CLASSES = ("happy", "sad", "neutral")


def frames(k: int = 4, fps: float = 25.0) -> Frames:
    import numpy as np
    return Frames(array=np.zeros((k, 4, 4, 3), np.uint8), indices=list(range(0, 3 * k, 3)),
                  timestamps=[3 * i / fps for i in range(k)], fps=fps, total_frames=3 * k, duration=3 * k / fps)


class Told(Model):
    """A model of a declared time family and modes."""

    def __init__(self, family=None, modes=("generate", "score"), mode=None):
        self.family, self.modes, self.mode = family, modes, mode

    def identity(self):
        return {"id": "told"}

    def time_family(self):
        return self.family

    def predict(self, requests):
        return [Response(text=r.choices[0]) for r in requests]


def request(**kw) -> Request:
    return Request(sample_id="x", frames=frames(), messages=NAMES.render(CLASSES), choices=CLASSES, **kw)


def test_the_answer_mode_is_decided_once_by_one_rule():
    assert request_rules.answer_mode(request(), Told(), "score") == "score"  # the task's default
    assert request_rules.answer_mode(request(), Told(mode="generate"), "score") == "generate"  # the user's
    assert request_rules.answer_mode(request(mode="generate", mode_required=True), Told(mode="score"),
                                     "score") == "generate"  # a caption requires its mode
    assert request_rules.answer_mode(request(), Told(modes=("generate",)), "score") == "generate"  # fallback
    with pytest.raises(CapabilityError, match="generate mode only.*model's mode argument"):
        request_rules.answer_mode(request(), Told(modes=("generate",), mode="score"), "generate")


def test_what_a_model_is_told_is_computed_by_the_core_from_its_declared_family():
    resolved = request_rules.resolve(request(), Told(family=time_told.QWEN3), "generate")
    assert resolved.told == time_told.tell(resolved.frames, time_told.QWEN3)
    assert request_rules.told_metadata(resolved)["frames_indices"] == [0, 120, 240, 360]
    # no video part, or a model that takes no time input: nothing is told
    still = Request(sample_id="x", frames=frames(), choices=CLASSES,
                    messages=[{"role": "user", "content": [{"type": "image", "frame": 0}]}])
    assert request_rules.resolve(still, Told(family=time_told.QWEN3), "generate").told is None
    assert request_rules.resolve(request(), Told(family=None), "generate").told is None
    with pytest.raises(ValueError, match="was not resolved"):  # a backend cannot invent its own timing
        request_rules.told_metadata(request())


def test_request_helpers_name_video_stills_and_candidates():
    r = request(answer_keys=("A", "B", "C"))
    assert r.has_video and r.still_frames == [] and r.candidates == ("A", "B", "C")
    assert request().candidates == CLASSES


def test_declared_parameters_are_typed_and_unknown_ones_get_a_suggestion():
    declared = {"threshold": Param(float), "expressive": Param(str, choices=("happy", "sad")), "on": Param(bool)}
    assert check_args("model m", {"threshold": "2", "on": "yes"}, declared) == {"threshold": 2.0, "on": True}
    with pytest.raises(UsageError, match=r"unknown parameter\(s\) treshold \(did you mean threshold\?\)"):
        check_args("model m", {"treshold": 1}, declared)
    with pytest.raises(UsageError, match="threshold='high' must be a number"):
        check_args("model m", {"threshold": "high"}, declared)
    with pytest.raises(UsageError, match="expressive must be one of happy, sad"):
        check_args("model m", {"expressive": "angry"}, declared)


def test_a_models_arguments_are_checked_by_the_host_before_it_is_built(cache_dir):
    host = load([], context=Context(cache_dir=cache_dir))
    with pytest.raises(UsageError, match=r"model hf: unknown argument\(s\) pretraind \(did you mean pretrained\?\)"):
        host.build("model", "hf", {"pretraind": "x"})
    with pytest.raises(UsageError, match="max_new_tokens='many' must be an integer"):
        host.build("model", "tiny-qwen-vl", {"max_new_tokens": "many"})
    with pytest.raises(UsageError, match="unknown model 'majorty'.*Did you mean 'majority'"):
        host.entry("model", "majorty")


def test_plan_refuses_a_missing_template_and_fps_sampling_of_media_without_a_clock(cache_dir, tmp_path):
    from harness.testing.releases import make_dfew
    host = load([], context=Context(cache_dir=cache_dir))
    with pytest.raises(UsageError, match="no prompt template 'poem'"):
        plan_run(host, RunConfig(tasks=parse_tasks("synthetic:n=7"), model="majority", prompt="poem"))
    make_dfew(tmp_path / "data", per_class=1)
    config = RunConfig(tasks=parse_tasks("dfew:fold=1,media=frames16"), model="majority", frames="fps=5",
                       data_dir=tmp_path / "data")
    with pytest.raises(UsageError, match="no time base"):
        plan_run(host, config)


def test_shuffled_choices_are_seeded_per_sample_and_fixed_ones_are_the_class_list():
    assert shown_choices(CLASSES, "fixed", 0, "a") == CLASSES
    a = shown_choices(CLASSES * 2, "shuffled", 1, "a")
    assert a == shown_choices(CLASSES * 2, "shuffled", 1, "a") and sorted(a) == sorted(CLASSES * 2)


def test_every_row_of_a_run_is_a_schema_valid_sample_row_and_a_broken_log_names_its_line(cache_dir, tmp_path):
    host = load([], context=Context(cache_dir=cache_dir))
    config = RunConfig(tasks=parse_tasks("synthetic:n=14,seed=2"), model="synthetic-oracle", output_path=tmp_path,
                       log_samples=True, progress=False, bootstrap=0)
    out = evaluator.evaluate(host, config)
    [path] = out.sample_paths.values()
    rows = samplelog.read_samples(path)
    assert len(rows) == 14 and set(rows[0]) >= set(samplelog.SampleRow.__annotations__) - {"reasoning", "audio"}
    task = out.document["tasks"]["synthetic:n=14,seed=2"]
    again = samplelog.summarize(rows, tuple(task["classes"]), 0, 0, task["name"], task["version"], 14, None)
    assert again["metrics"] == task["metrics"] and again["confusion"] == task["confusion"]
    lines = path.read_text().splitlines()
    broken = json.loads(lines[3])
    broken["status"] = "maybe"
    lines[3] = json.dumps(broken)
    Path(path).write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r":4: per-sample row \$.status: 'maybe' is not one of"):
        samplelog.read_samples(path)


def test_labels_outside_the_class_list_are_a_data_error_naming_a_sample(cache_dir, tmp_path):
    from harness.task import Task
    from harness.types import Sample

    class Odd(Task):
        name, classes = "odd", CLASSES

        def samples(self, split=None):
            return [Sample(id="s1", label="happy", media="x.mp4"), Sample(id="s2", label="joy", media="y.mp4")]

    host = load([], context=Context(cache_dir=cache_dir))
    host.tasks["odd"] = host.tasks["synthetic"].__class__("task", "odd", lambda p, c: Odd(), "",
                                                         host.tasks["synthetic"].plugin)
    with pytest.raises(DataError, match="outside its class list: \\['joy'\\] \\(first: sample 's2'\\)"):
        evaluator.evaluate(host, RunConfig(tasks=parse_tasks("odd"), model="uniform", output_path=tmp_path,
                                           progress=False))


def test_unresolved_frame_protocol_stays_the_tasks(cache_dir):
    host = load([], context=Context(cache_dir=cache_dir))
    [plan], entry = plan_run(host, RunConfig(tasks=parse_tasks("synthetic:n=7"), model="majority"))
    assert plan.protocol == FrameProtocol(strategy="uniform", num_frames=8) and entry.name == "majority"


def test_a_run_closes_the_model_it_built_however_it_ends_and_never_one_it_was_given(run_cli, tmp_path):
    """An engine's processes are stopped when the run that started them ends (vLLM's, left to interpreter
    exit, aborted the process after the results were written): once after a run, once after a run whose
    model failed, never a model the caller built and keeps; a failed close is a warning, not a lost run."""
    import scripted_models
    closed = scripted_models.Closing.closed
    closed.clear()
    base = ["run", "-p", "scripted_models", "--tasks", "synthetic:n=7,seed=1", "--model", "closing", "--no-progress",
            "--no-cache"]
    r = run_cli(*base, "--output-path", str(tmp_path / "ok"))
    assert r.code == 0, r.err
    assert closed == ["closing-0"]
    r = run_cli(*base, "--model-args", "id=1,fail=predict", "--output-path", str(tmp_path / "failed"))
    assert r.code == 1 and "failed and were counted as wrong" in r.err, r.err  # every batch failed, the run ended
    assert closed == ["closing-0", "closing-1"]
    r = run_cli(*base, "--model-args", "id=2,fail=prepare", "--output-path", str(tmp_path / "aborted"))
    assert r.code != 0 and "the engine is gone" in r.err, r.err  # the run's own error, not a teardown's
    assert closed == ["closing-0", "closing-1", "closing-2"]
    r = run_cli(*base, "--model-args", "id=3,fail=close", "--output-path", str(tmp_path / "close"))
    assert r.code == 0, r.err
    assert "warning: closing model" in r.err and "the engine would not stop" in r.err
    assert list((tmp_path / "close").glob("results_*.json"))
    assert closed == ["closing-0", "closing-1", "closing-2", "closing-3"]

    host = load(["scripted_models"])
    kept = scripted_models.Closing({"id": 4})
    config = RunConfig(tasks=parse_tasks("synthetic:n=7,seed=1"), model="closing", output_path=tmp_path / "kept",
                       progress=False, response_cache=False)
    evaluator.evaluate(host, config, model=kept)
    assert closed == ["closing-0", "closing-1", "closing-2", "closing-3"]  # the caller's to close


def test_diagnose_closes_the_models_of_its_variants(run_cli, tmp_path):
    import scripted_models
    built, closed = scripted_models.Closing.built, scripted_models.Closing.closed_models
    built.clear()
    closed.clear()
    r = run_cli("diagnose", "-p", "scripted_models", "--tasks", "synthetic:n=14,seed=1", "--model", "closing",
                "--probes", "longtail", "--output-path", str(tmp_path), "--no-progress")
    assert r.code == 0, r.err
    assert built and sorted(map(id, closed)) == sorted(map(id, built))  # each model of a variant, closed once
