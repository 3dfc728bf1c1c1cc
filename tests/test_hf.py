"""The transformers VLM plugin on tiny offline Qwen2-VL, Qwen2.5-VL and Qwen3-VL checkpoints."""

from __future__ import annotations

import hashlib
import json
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the hf extra is part of the test install (make test)")

from harness import request_rules  # noqa: E402
from harness.errors import HarnessError  # noqa: E402
from harness.frames import time_told  # noqa: E402
from harness.frames.video import read_frames  # noqa: E402
from harness.plugins.hf import HFModel  # noqa: E402
from harness.prompts import LETTERS, NAMES  # noqa: E402
from harness.testing.checkpoints import FAMILIES, build  # noqa: E402
from harness.types import FrameProtocol, Request  # noqa: E402
from tests.conftest import read_results  # noqa: E402
from tests.hf_reference import reference_choice_scores  # noqa: E402

CLASSES = ("happy", "sad", "neutral", "angry", "surprise", "disgust", "fear")


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("checkpoints")
    return {family: build(family, root / family) for family in FAMILIES}


@pytest.fixture(scope="session")
def models(checkpoints):
    return {family: HFModel({"pretrained": str(path), "mode": "score"}) for family, path in checkpoints.items()}


def ask(model, requests):
    """The model's answers to requests resolved as the evaluator resolves them (mode, time told)."""
    return model.predict([request_rules.resolve(r, model, "generate") for r in requests])


def requests_for(samples, template=NAMES, k=8):
    out = []
    for s in samples:
        frames = read_frames(s.media, FrameProtocol(num_frames=k), s.id)
        out.append(Request(sample_id=s.id, frames=frames, messages=template.render(CLASSES), choices=CLASSES,
                           answer_keys=template.answer_keys(CLASSES)))
    return out


def test_tiny_checkpoints_are_small_and_deterministic(checkpoints, tmp_path):
    again = build("qwen2.5-vl", tmp_path / "again")
    weights = lambda p: hashlib.sha256((p / "model.safetensors").read_bytes()).hexdigest()  # noqa: E731
    assert weights(again) == weights(checkpoints["qwen2.5-vl"])
    from transformers import AutoProcessor

    from harness.testing.checkpoints import CHAT_TEMPLATE, SPECIAL_TOKENS
    for path in checkpoints.values():
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        assert size < 1_500_000
        processor = AutoProcessor.from_pretrained(path)
        assert processor.chat_template == CHAT_TEMPLATE
        assert all(processor.tokenizer.convert_tokens_to_ids(t) != processor.tokenizer.unk_token_id
                   for t in SPECIAL_TOKENS)


@pytest.mark.parametrize("family", FAMILIES)
def test_video_goes_in_with_its_real_timing_and_size(models, synthetic30, family):
    _, samples = synthetic30
    model = models[family]
    request = request_rules.resolve(requests_for(samples[:1])[0], model, "score")
    inputs = model.model_inputs([request])
    frames = request.frames
    # 8 frames of 112x112 keep their size (rounded to the merged-patch grid: 112 for 14-pixel
    # patches, 128 for 16-pixel ones): 4 temporal groups of 8x8 patches, not the processor's
    # default budget of several hundred visual tokens per frame.
    assert inputs["video_grid_thw"].tolist() == [[4, 8, 8]]
    if family == "qwen2.5-vl":
        spacing = (frames.timestamps[-1] - frames.timestamps[0]) / (len(frames.indices) - 1)
        assert inputs["second_per_grid_ts"][0].item() == pytest.approx(2 * spacing, rel=1e-4)
        assert abs(inputs["second_per_grid_ts"][0].item() - 2 / 24) > 0.05  # not the 24 fps fallback
    if family == "qwen3-vl":
        text = model.tokenizer.decode(inputs["input_ids"][0])
        second = (frames.indices[2] + frames.indices[3]) / 2 / frames.fps
        assert f"<{second:.1f} seconds>" in text


@pytest.mark.parametrize("family", FAMILIES)
def test_scores_do_not_change_with_batch_size(models, synthetic30, family):
    _, samples = synthetic30
    model = models[family]
    reqs = requests_for(samples[:4])
    one = [r for req in reqs for r in ask(model, [req])]
    four = ask(model, reqs)
    assert [r.text for r in one] == [r.text for r in four]
    for a, b in zip(one, four):
        assert list(a.scores) == list(CLASSES)
        np.testing.assert_allclose(list(a.scores.values()), list(b.scores.values()), atol=1e-4)
        assert a.text == max(a.scores, key=a.scores.get)


def test_generated_text_does_not_change_with_batch_size(checkpoints, synthetic30):
    _, samples = synthetic30
    model = HFModel({"pretrained": str(checkpoints["qwen2.5-vl"]), "mode": "generate", "max_new_tokens": 6})
    reqs = requests_for(samples[:3])
    assert [r.text for req in reqs for r in ask(model, [req])] == [r.text for r in ask(model, reqs)]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("template", [NAMES, LETTERS], ids=["names", "letters"])
def test_cached_prefix_scoring_equals_the_full_candidate_pass(models, synthetic30, family, template):
    _, samples = synthetic30
    model = models[family]
    reqs = requests_for(samples[:3], template=template)
    reqs = [request_rules.resolve(r, model, "score") for r in reqs]
    fast = model.choice_scores(reqs)
    full = reference_choice_scores(model, reqs)
    np.testing.assert_allclose(fast, full, atol=1e-4)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("mode", ["generate", "score"])
def test_harness_run_end_to_end(checkpoints, run_cli, tmp_path, family, mode):
    r = run_cli("run", "--tasks", "synthetic:n=12,seed=4", "--model", "hf", "--model-args",
                f"pretrained={checkpoints[family]},mode={mode},batch_size=4,max_new_tokens=4",
                "--output-path", str(tmp_path), "--log-samples", "--no-progress")
    assert r.code == 0, r.err
    doc = read_results(tmp_path)
    identity = doc["model"]["identity"]
    assert identity["args"]["mode"] == mode and identity["dtype"] == "float32"
    assert identity["family"] == {"qwen2-vl": "qwen2_vl", "qwen2.5-vl": "qwen2_5_vl", "qwen3-vl": "qwen3_vl"}[family]
    task = doc["tasks"]["synthetic:n=12,seed=4"]
    rows = [json.loads(x) for x in (tmp_path / task["samples_file"]).read_text().splitlines()]
    assert len(rows) == 12 and task["counts"]["failed"] == 0
    if mode == "score":
        assert task["counts"]["invalid"] == 0 and all(set(r["scores"]) == set(CLASSES) for r in rows)
    else:
        assert all(isinstance(r["raw"], str) for r in rows)


def test_images_input_and_prior_correction(checkpoints, run_cli, tmp_path):
    r = run_cli("run", "--tasks", "synthetic:n=12,seed=4", "--model", "hf", "--model-args",
                f"pretrained={checkpoints['qwen2.5-vl']},mode=score,video_input=images,prior_correction=true",
                "--output-path", str(tmp_path), "--log-samples", "--prompt", "letters", "--no-progress")
    assert r.code == 0, r.err
    doc = read_results(tmp_path)
    task = doc["tasks"]["synthetic:n=12,seed=4"]
    assert "prior_corrected" in task["variants"]
    assert set(task["variants"]["prior_corrected"]["recall"]) == set(CLASSES)
    rows = [json.loads(x) for x in (tmp_path / task["samples_file"]).read_text().splitlines()]
    assert all(r["variants"]["prior_corrected"]["raw"] in "ABCDEFG" for r in rows)
    assert all(r["variants"]["prior_corrected"]["prediction"] in CLASSES for r in rows)
    assert doc["model"]["identity"]["args"]["video_input"] == "images"


def test_missing_checkpoint_fails_fast_with_a_clear_message(monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there: like no network
    monkeypatch.setenv("HF_HOME", "/nonexistent-hf-home")
    start = time.perf_counter()
    with pytest.raises(HarnessError, match=r"no-such-org/no-such-vlm.*hf download"):
        HFModel({"pretrained": "no-such-org/no-such-vlm"})
    assert time.perf_counter() - start < 30  # not minutes of retries


def test_unknown_arguments_are_refused(checkpoints):
    from harness.errors import UsageError
    with pytest.raises(UsageError, match="temprature"):
        HFModel({"pretrained": str(checkpoints["qwen2-vl"]), "temprature": 0})


def test_listing_models_does_not_import_torch():
    import subprocess
    import sys
    code = ("import sys; from harness import host; h = host.load([]); "
            "assert 'qwen-vl' in h.models and 'tiny-qwen-vl' in h.models; "
            "print('torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False False", out.stderr


def test_presets_name_their_family_and_say_whether_its_twin_is_tested():
    from harness import host
    from harness.plugins import families
    models = host.load([]).models
    for name, (checkpoint, family) in families.presets().items():
        description = models[name].description
        assert checkpoint in description and f"family {family.name}: {family.status()}" in description
    assert "tiny-vlm" in models and all(f in models["tiny-vlm"].description for f in families.FAMILIES)


def test_length_normalisation_divides_by_candidate_tokens(checkpoints, synthetic30):
    _, samples = synthetic30
    plain = HFModel({"pretrained": str(checkpoints["qwen2.5-vl"]), "mode": "score"})
    normed = HFModel({"pretrained": str(checkpoints["qwen2.5-vl"]), "mode": "score", "length_norm": True})
    request = requests_for(samples[:1])[0]
    raw, per_token = ask(plain, [request])[0].scores, ask(normed, [request])[0].scores
    # each whole answer: the name's tokens plus the end-of-turn token
    lengths = {c: len(plain.tokenizer(c, add_special_tokens=False)["input_ids"]) + 1 for c in CLASSES}
    assert max(lengths.values()) > 2  # some class names span several tokens in the tiny vocabulary
    for c in CLASSES:
        assert per_token[c] == pytest.approx(raw[c] / lengths[c], rel=1e-5)


@pytest.mark.parametrize("mode", ["score", "generate"])
def test_tiny_qwen_vl_preset_builds_itself_and_runs(run_cli, tmp_path, cache_dir, mode):
    r = run_cli("run", "--tasks", "synthetic:n=12,seed=4", "--model", "tiny-qwen-vl", "--model-args",
                f"mode={mode}", "--output-path", str(tmp_path), "--no-progress", "--no-cache")
    assert r.code == 0, r.err
    assert (cache_dir / "checkpoints" / "tiny-qwen2.5-vl" / "config.json").is_file()
    doc = read_results(tmp_path)
    assert doc["model"]["identity"]["family"] == "qwen2_5_vl"
    assert doc["tasks"]["synthetic:n=12,seed=4"]["counts"]["evaluated"] == 12


def _variant(checkpoint, tmp_path, name, edit):
    """A copy of a tiny checkpoint with one of its JSON files edited."""
    import shutil
    folder = tmp_path / name
    shutil.copytree(checkpoint, folder)
    edit(folder)
    return folder


def test_score_mode_scores_the_whole_answer_then_end_of_turn(models):
    model = models["qwen2.5-vl"]
    model._load()
    assert model.tokenizer.convert_ids_to_tokens(model.end_of_turn) == "<|im_end|>"
    from harness.prompts import NAMES
    messages = NAMES.render(("sad", "sadness"))
    sad, sadness = (model.answer_ids(messages, c) for c in ("sad", "sadness"))  # what continuations() scores
    assert sad[-1] == sadness[-1] == model.end_of_turn
    assert sad != sadness[:len(sad)]  # "sad" no longer collects the mass of "sadness"


def test_greedy_decoding_ignores_the_checkpoints_sampling_settings(checkpoints, synthetic30, tmp_path):
    def noisy(folder):
        config = json.loads((folder / "generation_config.json").read_text())
        config.update(do_sample=True, temperature=0.7, top_p=0.5, repetition_penalty=1.8, no_repeat_ngram_size=1)
        (folder / "generation_config.json").write_text(json.dumps(config))
    other = _variant(checkpoints["qwen2.5-vl"], tmp_path, "noisy", noisy)
    reqs = requests_for(synthetic30[1][:3])
    plain = HFModel({"pretrained": str(checkpoints["qwen2.5-vl"]), "mode": "generate", "max_new_tokens": 8})
    shipped = HFModel({"pretrained": str(other), "mode": "generate", "max_new_tokens": 8})
    assert [r.text for r in ask(plain, reqs)] == [r.text for r in ask(shipped, reqs)]
    assert shipped.identity()["generation"]["repetition_penalty"] == 1.0
    assert shipped.identity()["generation"]["do_sample"] is False


def test_prior_correction_is_deterministic_and_refused_in_generate_mode(checkpoints, synthetic30):
    from harness.errors import UsageError
    with pytest.raises(UsageError, match="needs mode=score"):
        HFModel({"pretrained": str(checkpoints["qwen2.5-vl"]), "mode": "generate", "prior_correction": True})
    reqs = requests_for(synthetic30[1][:3], template=LETTERS)
    a = HFModel({"pretrained": str(checkpoints["qwen2.5-vl"]), "mode": "score", "prior_correction": True})
    b = HFModel({"pretrained": str(checkpoints["qwen2.5-vl"]), "mode": "score", "prior_correction": True})
    forward = [r.variants["prior_corrected"] for r in ask(a, reqs)]
    backward = [r.variants["prior_corrected"] for r in ask(b, reqs[::-1])][::-1]
    assert forward == backward  # whichever clip comes first
    # the prior is keyed by what the request is told about time, so clips of other timing get their own
    told = {json.dumps(time_told.tell(r.frames, a.time_family()).metadata, sort_keys=True) for r in reqs}
    assert len(a.prior_cache) == len(told)


def test_pixels_default_to_the_processors_reference_sizing(checkpoints, synthetic30, tmp_path):
    def reference_like(folder):
        config = json.loads((folder / "processor_config.json").read_text())
        config["video_processor"]["size"] = {"shortest_edge": 128 * 28 * 28, "longest_edge": 768 * 28 * 28}
        (folder / "processor_config.json").write_text(json.dumps(config))
    qwen_like = _variant(checkpoints["qwen2.5-vl"], tmp_path, "reference", reference_like)
    request = requests_for(synthetic30[1][:1], k=4)[0]  # 112x112 frames
    reference = HFModel({"pretrained": str(qwen_like), "mode": "score"})
    native = HFModel({"pretrained": str(qwen_like), "mode": "score", "pixels": "native"})
    assert reference.identity()["pixel_budget"] == {"min_pixels": 100352, "max_pixels": 602112,
                                                    "source": "processor_config.json"}
    assert native.identity()["pixel_budget"]["min_pixels"] == "one visual token"
    ref_tokens = ask(reference, [request])[0].meta["visual_tokens"]
    native_tokens = ask(native, [request])[0].meta["visual_tokens"]
    assert native_tokens == 2 * 4 * 4  # 2 temporal patches of 112/28 = 4 x 4 merged tokens
    assert ref_tokens == 2 * 12 * 12  # upscaled to the reference minimum of 128 x 28 x 28 pixels


@pytest.mark.parametrize("mode", ["score", "generate"])
def test_batches_of_different_sizes_and_shuffled_choices_answer_as_single_requests(checkpoints, synthetic30,
                                                                                      mode):
    from harness.plan import shown_choices
    samples = synthetic30[1][:4]
    model = HFModel({"pretrained": str(checkpoints["qwen2.5-vl"]), "mode": mode, "max_new_tokens": 5})
    reqs = []
    for i, s in enumerate(samples):
        frames = read_frames(s.media, FrameProtocol(num_frames=4 + 2 * (i % 2), short_side=(84, 112)[i % 2]), s.id)
        choices = shown_choices(CLASSES, "shuffled", 3, s.id)
        reqs.append(Request(sample_id=s.id, frames=frames, messages=NAMES.render(choices), choices=choices))
    assert len({r.frames.array.shape for r in reqs}) == 2 and len({r.choices for r in reqs}) > 1
    alone = [ask(model, [r])[0] for r in reqs]
    together = ask(model, reqs)
    assert [a.text for a in alone] == [b.text for b in together]
    if mode == "score":
        for a, b in zip(alone, together):
            np.testing.assert_allclose([a.scores[c] for c in CLASSES], [b.scores[c] for c in CLASSES], atol=1e-4)


@pytest.mark.parametrize("mode", ["generate", "score"])
def test_inputs_built_beside_the_model_give_the_same_answers_and_load_time_is_start_up(checkpoints, run_cli,
                                                                                         tmp_path, mode):
    docs = {}
    for flag in ("", "--no-prefetch"):
        out = tmp_path / (flag or "prefetch")
        r = run_cli("run", "--tasks", "synthetic:n=12,seed=4", "--model", "hf", "--model-args",
                    f"pretrained={checkpoints['qwen2.5-vl']},mode={mode},batch_size=4,max_new_tokens=4",
                    "--output-path", str(out), "--log-samples", "--no-progress", "--no-cache",
                    *([flag] if flag else []))
        assert r.code == 0, r.err
        doc = read_results(out)
        task = doc["tasks"]["synthetic:n=12,seed=4"]
        rows = [json.loads(x) for x in (out / task["samples_file"]).read_text().splitlines()]
        docs[flag] = (doc, [(x["id"], x["raw"], x["scores"]) for x in rows])
    (doc, rows), (serial_doc, serial_rows) = docs[""], docs["--no-prefetch"]
    assert rows == serial_rows
    assert doc["model"]["runtime"]["prefetch_thread"] and not serial_doc["model"]["runtime"]["prefetch_thread"]
    task = doc["tasks"]["synthetic:n=12,seed=4"]["timings"]
    run = doc["timings"]
    assert task["model_load_s"] > 0 and task["prefetch"] is True  # a fresh model: its weights loaded in this run
    assert task["loop_s"] == pytest.approx(task["wall_s"] - task["model_load_s"], abs=1e-3)
    assert task["clips_per_s"] == pytest.approx(12 / task["loop_s"], rel=1e-2)
    assert run["startup_s"] >= run["model_load_s"] == task["model_load_s"]
    assert run["startup_s"] + run["loop_s"] <= run["total_s"] + 1e-3 and run["clips"] == 12
    # Answered from the response cache, a rerun never loads the weights (nor imports torch for them).
    from harness import evaluator, host
    from harness.params import parse_tasks
    config = evaluator.RunConfig(tasks=parse_tasks("synthetic:n=12,seed=4"), model="hf", progress=False,
                                 output_path=tmp_path / "again", batch_size=4,
                                 model_args={"pretrained": str(checkpoints["qwen2.5-vl"]), "mode": mode,
                                             "max_new_tokens": 4})
    evaluator.evaluate(host.load([]), config)  # fills the response cache
    model = HFModel(dict(config.model_args))
    again = evaluator.evaluate(host.load([]), config, model=model).document
    assert model.model is None and again["tasks"]["synthetic:n=12,seed=4"]["timings"]["from_response_cache"] == 12
    assert again["timings"]["model_load_s"] == 0


def test_torch_threads_leave_cores_to_the_decoders_unless_the_user_chose(checkpoints, tmp_path):
    """Run as fresh processes: a program that imported torch itself keeps its own setting."""
    import os
    import subprocess
    import sys

    def runtime(env_extra: dict, *extra: str, checkpoint=checkpoints["qwen2.5-vl"]) -> dict:
        env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
        out = tmp_path / str(len(list(tmp_path.iterdir())))
        r = subprocess.run([sys.executable, "-m", "harness", "run", "--tasks", "synthetic:n=8,seed=4", "--model",
                            "hf", "--model-args", f"pretrained={checkpoint},max_new_tokens=2",
                            "--output-path", str(out), "--no-progress", "--no-cache", *extra],
                           env={**env, **env_extra, "HARNESS_CACHE": str(tmp_path / "cache")},
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        return read_results(out)["model"]["runtime"]

    cores = len(os.sched_getaffinity(0))
    chosen = runtime({}, "--decode-workers", "1")
    assert chosen["torch_threads"] == max(1, cores - 2) and chosen["decode_workers"] == 1
    assert chosen["source"].startswith(f"{cores} cores less 2 busy") and "prefetch thread" in chosen["source"]
    # A model of more than a million parameters is matmul-bound: the prefetch thread gets no core of its own.
    wide = runtime({}, "--decode-workers", "1", checkpoint=build("qwen2.5-vl", tmp_path / "wide", width=128))
    assert wide["parameters"] > 1_000_000 and wide["torch_threads"] == max(1, cores - 1)
    assert wide["source"] == f"{cores} cores less 1 busy beside the model (1 decode processes)"
    told = runtime({"OMP_NUM_THREADS": "1"})
    assert told["torch_threads"] == 1 and told["source"] == "OMP_NUM_THREADS"


def test_a_checkpoint_not_downloaded_yet_is_told_by_its_name_before_the_weights_load(monkeypatch):
    from harness.plugins import hub
    monkeypatch.setattr(hub, "describe", lambda name, revision: (None, "unknown", True))
    monkeypatch.setattr(hub, "declared_video_size", lambda name, revision: None)
    model = HFModel({"pretrained": "Qwen/Qwen2.5-VL-7B-Instruct"})
    # the core resolves the first batch before anything is downloaded: it must already be the right family
    assert model.time_family() == time_told.QWEN25
    assert HFModel({"pretrained": "Qwen/Qwen2.5-VL-7B-Instruct", "video_input": "images"}).time_family() is None
