"""The transformers VLM plugin on tiny offline Qwen2-VL, Qwen2.5-VL and Qwen3-VL checkpoints."""

from __future__ import annotations

import hashlib
import json
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the hf extra is part of the test install (make test)")

from harness.errors import HarnessError  # noqa: E402
from harness.plugins.hf import HFModel  # noqa: E402
from harness.prompts import LETTERS, NAMES  # noqa: E402
from harness.testing.checkpoints import FAMILIES, build  # noqa: E402
from harness.types import Request  # noqa: E402
from harness.video import read_frames  # noqa: E402
from harness.types import FrameProtocol  # noqa: E402
from tests.conftest import read_results  # noqa: E402

CLASSES = ("happy", "sad", "neutral", "angry", "surprise", "disgust", "fear")


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("checkpoints")
    return {family: build(family, root / family) for family in FAMILIES}


@pytest.fixture(scope="session")
def models(checkpoints):
    return {family: HFModel({"pretrained": str(path), "mode": "score"}) for family, path in checkpoints.items()}


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
    request = requests_for(samples[:1])[0]
    inputs = model._inputs([request])
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
    one = [r for req in reqs for r in model.predict([req])]
    four = model.predict(reqs)
    assert [r.text for r in one] == [r.text for r in four]
    for a, b in zip(one, four):
        assert list(a.scores) == list(CLASSES)
        np.testing.assert_allclose(list(a.scores.values()), list(b.scores.values()), atol=1e-4)
        assert a.text == max(a.scores, key=a.scores.get)


def test_generated_text_does_not_change_with_batch_size(checkpoints, synthetic30):
    _, samples = synthetic30
    model = HFModel({"pretrained": str(checkpoints["qwen2.5-vl"]), "mode": "generate", "max_new_tokens": 6})
    reqs = requests_for(samples[:3])
    assert [r.text for req in reqs for r in model.predict([req])] == [r.text for r in model.predict(reqs)]


@pytest.mark.parametrize("family", FAMILIES)
def test_single_token_shortcut_equals_the_full_candidate_pass(models, synthetic30, family):
    _, samples = synthetic30
    model = models[family]
    reqs = requests_for(samples[:2], template=LETTERS)
    fast = model._choice_scores(reqs)
    full = model._choice_scores(reqs, full=True)
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


def test_length_normalisation_divides_by_candidate_tokens(checkpoints, synthetic30):
    _, samples = synthetic30
    plain = HFModel({"pretrained": str(checkpoints["qwen2.5-vl"]), "mode": "score"})
    normed = HFModel({"pretrained": str(checkpoints["qwen2.5-vl"]), "mode": "score", "length_norm": True})
    request = requests_for(samples[:1])[0]
    raw, per_token = plain.predict([request])[0].scores, normed.predict([request])[0].scores
    lengths = {c: len(plain.tokenizer(c, add_special_tokens=False)["input_ids"]) for c in CLASSES}
    assert max(lengths.values()) > 1  # some class names span several tokens in the tiny vocabulary
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
