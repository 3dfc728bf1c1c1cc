"""The checkpoint contract on the published files of every preset, not only on our twins.

A twin's template takes any content, opens no thinking block and enforces no role order; its tokenizer
adds no BOS and no prefix space. So each family's twin processor is given, where a copy was found, the
published chat template (and generation and feature-extractor configs) of its preset's real checkpoint
(tests/fixtures/checkpoints, sources in MANIFEST.yaml), and ``harness.plugins.modelcheck.contract`` (what
``harness check model`` runs) must pass on it. The findings of issue 31 each have a test that failed
before the fix: the system message as a repr or refused, the answer scored without its prefix space or
its end marker, two BOS or none, reasoning markers stripped by decoding, a generation config with no EOS,
the sound limit taken from a constant instead of the checkpoint, and a video sized by the image config
(Qwen2.5-VL: 512 visual tokens for 16 frames of 224x224 where the docs state 1,152).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace as NS

import pytest
import yaml

pytest.importorskip("transformers")

from harness.plugins import chat, families, modelcheck  # noqa: E402
from harness.prompts import NAMES  # noqa: E402
from harness.testing import twins  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "checkpoints"
MANIFEST = yaml.safe_load((FIXTURES / "MANIFEST.yaml").read_text())
CLASSES = ("happy", "sad", "neutral", "angry", "surprise", "disgust", "fear")


def published_template(preset: str) -> str | None:
    for path in [*(FIXTURES / preset).glob("chat_template.*"), *(FIXTURES / preset).glob("superseded/chat_template.*")]:
        text = path.read_text()
        return json.loads(text)["chat_template"] if path.suffix == ".json" else text
    return None


WITH_TEMPLATE = [p for p in sorted(MANIFEST) if published_template(p)]


@pytest.fixture(scope="module")
def processors():
    made: dict[str, object] = {}

    def get(family: str):
        if family not in made:
            made[family] = twins.processor(family)
        return made[family]
    return get


def published(processors, preset: str):
    """The preset's family twin processor wearing the preset's published chat template."""
    import copy
    family = MANIFEST[preset]["family"]
    processor = copy.deepcopy(processors(family))
    processor.chat_template = published_template(preset)
    return processor, families.get(family)


def test_every_preset_has_its_published_files_recorded_with_their_source():
    presets = families.presets()
    assert set(MANIFEST) == set(presets)
    for preset, entry in MANIFEST.items():
        assert entry["hub_id"] == presets[preset][0] and entry["family"] == presets[preset][1].name, preset
        on_disk = {str(p.relative_to(FIXTURES / preset)) for p in (FIXTURES / preset).rglob("*") if p.is_file()}
        assert on_disk == set(entry["fixtures"]), preset  # every file kept is cited, every cited file is kept
        for name, source in entry["fixtures"].items():
            assert {"repo", "path", "commit", "licence", "note"} <= set(source), (preset, name)
        assert entry["fixtures"] or entry["not_found"], preset  # nothing found is said, not left blank
    assert MANIFEST["minicpm-v-4.6"]["hub_id"] == "openbmb/MiniCPM-V-4_6"  # transformers' tests and docs spell it so
    assert MANIFEST["perception-lm"]["gated"] is True


@pytest.mark.parametrize("family", families.FAMILIES)
def test_every_twin_meets_the_contract(processors, family):
    checks = modelcheck.contract(processors(family), families.get(family))
    assert [c.line() for c in checks if not c.ok] == []


@pytest.mark.parametrize("preset", WITH_TEMPLATE)
def test_every_published_template_meets_the_contract(processors, preset):
    processor, adapter = published(processors, preset)
    checks = modelcheck.contract(processor, adapter, FIXTURES / preset)
    assert [c.line() for c in checks if not c.ok] == []
    assert {c.name for c in checks} >= {"template renders", "system text once, as text", "one BOS", "end of answer",
                                        "score mode scores what the model writes", "reasoning block"}


def test_the_system_message_reaches_every_published_template_as_text(processors):
    """Finding 1: the harness sent the system message as a list of parts to every template. GLM-4.1V's and
    Perception-LM's printed its Python repr, Molmo2's refused the request; LLaVA-NeXT-Video's drops a plain
    string. Each family now declares the form its template takes."""
    old = {}
    for preset in WITH_TEMPLATE:
        processor, adapter = published(processors, preset)
        try:
            text = chat.render(processor, NAMES.render(CLASSES), True)
            old[preset] = "repr" if "{'type': 'text'" in text else "ok" if text.count(NAMES.system) == 1 else "lost"
        except Exception:
            old[preset] = "refused"
        new = chat.render(processor, chat.messages_for(NAMES.render(CLASSES), adapter.system), True)
        assert new.count(NAMES.system) == 1 and "{'type'" not in new, preset
    assert {p: v for p, v in old.items() if v != "ok"} == {"glm-4.1v-thinking": "repr", "perception-lm": "repr",
                                                           "molmo2": "refused"}
    # LLaVA-NeXT-Video's would drop a plain string: it keeps parts (SmolVLM's processor swaps in its own
    # template for a video, which takes either)
    processor, adapter = published(processors, "llava-next-video")
    as_text = chat.render(processor, chat.messages_for(NAMES.render(CLASSES), chat.TEXT), True)
    assert NAMES.system not in as_text and adapter.system == chat.PARTS


def test_score_mode_scores_the_answer_as_the_template_writes_it(processors):
    """Finding 4 (SmolVLM: the generation prompt ends in 'Assistant:' and the template writes 'Assistant: happy')
    and finding 3 (GLM's end of turn): the scored tokens are the template's answer after its generation prompt."""
    processor, adapter = published(processors, "smolvlm2")
    messages = chat.messages_for(NAMES.render(CLASSES), adapter.system)
    end = chat.end_of_turn_text(processor, adapter.end_of_turn)
    assert chat.answer_suffix(processor, messages, "happy", end) == " happy<end_of_utterance>"
    ids = chat.answer_ids(processor, processor.tokenizer, messages, "happy", end)
    old = processor.tokenizer("happy", add_special_tokens=False)["input_ids"]
    assert processor.tokenizer.decode(ids) == " happy<end_of_utterance>" and ids[:len(old)] != old
    glm, glm_adapter = published(processors, "glm-4.1v-thinking")
    glm_messages = chat.messages_for(NAMES.render(CLASSES), glm_adapter.system)
    assert chat.answer_suffix(glm, glm_messages, "sad", "<|user|>") == "sad<|user|>"
    for preset in ("llava-onevision", "molmo2"):  # their answer turn differs from the generation prompt by a space
        processor, adapter = published(processors, preset)
        messages = chat.messages_for(NAMES.render(CLASSES), adapter.system)
        assert chat.answer_suffix(processor, messages, "sad", "<|im_end|>") == "sad<|im_end|>"


def test_a_thinking_generation_prompt_is_scored_after_its_empty_thought(processors):
    """Finding 2: a generation prompt that opens <think> (Qwen3-VL-Thinking's shape; its published template
    was not found, so this is the Qwen3 thinking models' documented form) is scored after the template's
    empty-thinking block; a template that leaves the block open is refused in score mode."""
    import copy
    processor = processors("qwen3-vl")
    adapter = families.get("qwen3-vl")
    generation = "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    turn = "<|im_start|>{{ message['role'] }}\n"
    open_, closing = copy.deepcopy(processor), copy.deepcopy(processor)
    open_.chat_template = processor.chat_template.replace(generation, generation.replace("\n{%", "\n<think>\n{%"))
    closing.chat_template = open_.chat_template.replace(
        turn, turn + "{% if message['role'] == 'assistant' %}<think>\n\n</think>\n\n{% endif %}")
    assert processor.chat_template != open_.chat_template != closing.chat_template  # both rewrites took
    ok = {c.name: c for c in modelcheck.contract(closing, adapter)}
    assert ok["reasoning block"].ok and "empty-thinking" in ok["reasoning block"].detail
    bad = {c.name: c for c in modelcheck.contract(open_, adapter)}
    assert not bad["reasoning block"].ok or not bad["score mode scores what the model writes"].ok


def test_one_bos_on_every_backend(processors):
    """Finding 4: Perception-LM's template writes the BOS and its tokenizer adds one (two in hf); Vicuna
    tokenizers add one the template does not write (none through vLLM, which encoded with
    add_special_tokens=False). Both backends now encode with chat.encode: exactly one."""
    from tokenizers.processors import TemplateProcessing
    for preset in ("perception-lm", "llava-next-video"):
        processor, adapter = published(processors, preset)
        tok = processor.tokenizer
        if preset == "llava-next-video":
            assert json.loads((FIXTURES / preset / "tokenizer_config.json").read_text())["add_bos_token"] is True
        # the published tokenizers add their BOS (Perception-LM's conversion script: "<|begin_of_text|> $A")
        tok._tokenizer.post_processor = TemplateProcessing(single=f"{tok.bos_token} $A",
                                                           special_tokens=[(tok.bos_token, tok.bos_token_id)])
        text = chat.render(processor, chat.messages_for(NAMES.render(CLASSES), adapter.system), True)
        hf_before = tok(text)["input_ids"]
        vllm_before = tok(text, add_special_tokens=False)["input_ids"]
        now = chat.encode(tok, text)
        count = lambda ids: sum(1 for i in ids[:2] if i == tok.bos_token_id)  # noqa: E731
        assert (count(hf_before), count(vllm_before)) == ((2, 1) if preset == "perception-lm" else (1, 0))
        assert count(now) == 1
        assert {c.name: c.ok for c in modelcheck.contract(processor, adapter)}["one BOS"]


def test_reasoning_markers_survive_decoding_when_they_are_special_tokens(processors):
    """Finding 2: GLM-4.1V's <think> and <answer> are special tokens; skip_special_tokens=True stripped them and
    a correct answer read as a hedge."""
    import copy

    from harness.parsing import AnswerParser
    tok = copy.deepcopy(processors("glm4v").tokenizer)
    tok.add_special_tokens({"additional_special_tokens": ["<think>", "</think>", "<answer>", "</answer>"]})
    ids = tok("<think>happy or sad? the mouth turns down</think><answer>sad</answer>",
              add_special_tokens=False)["input_ids"] + [tok.eos_token_id or tok.pad_token_id]
    from harness.emotions import BASIC7, SYNONYMS
    parser = AnswerParser(BASIC7, SYNONYMS)
    assert parser.parse(tok.decode(ids, skip_special_tokens=True)).prediction != "sad"
    kept = chat.decode_answer(tok, ids)
    assert "<answer>sad</answer>" in kept and parser.parse(kept).prediction == "sad"


def test_an_answer_ends_on_every_backend_even_when_the_generation_config_names_no_eos(processors):
    """Finding 3: Qwen2.5-Omni ships generation_config.json as {"_from_model_config": true}; the pinned
    generation config had eos_token_id=None and answers ran to max_new_tokens."""
    tok = processors("qwen2.5-omni").tokenizer
    ends = chat.end_of_answer_ids(tok, "<|im_end|>", None)
    assert tok.convert_tokens_to_ids("<|im_end|>") in ends


def test_the_sound_limit_is_the_checkpoints(processors):
    """Finding 6: the adapter refused more than 30 s for Qwen2.5-Omni; its published feature extractor keeps
    300 s (chunk_length 300), so the limit is read from the checkpoint."""
    from transformers import WhisperFeatureExtractor

    from harness.plugins.modelcheck import audio_limit
    config = json.loads((FIXTURES / "qwen2.5-omni" / "preprocessor_config.json").read_text())
    extractor = WhisperFeatureExtractor(**{k: config[k] for k in ("feature_size", "sampling_rate", "hop_length",
                                                                   "chunk_length", "n_fft", "padding_value")})
    adapter = families.get("qwen2.5-omni")
    assert audio_limit(NS(feature_extractor=extractor), adapter) == 300.0
    assert audio_limit(processors("qwen2.5-omni"), adapter) == 30.0  # the twin's own extractor says 30
    assert audio_limit(processors("qwen3-omni"), families.get("qwen3-omni")) is None  # kept whole


def test_check_model_prints_one_line_per_check_and_fails_with_the_fix(run_cli, tmp_path, processors):
    processor, _ = published(processors, "glm-4.1v-thinking")
    good = tmp_path / "glm"
    processor.save_pretrained(good)
    (good / "config.json").write_text(json.dumps({"model_type": "glm4v"}))
    r = run_cli("check", "model", str(good))
    assert r.code == 0, r.out + r.err
    assert "ok   system text once, as text" in r.out and "passed, 0 failed" in r.out
    bad = tmp_path / "molmo-as-unknown"
    processor, _ = published(processors, "molmo2")
    processor.save_pretrained(bad)
    (bad / "config.json").write_text(json.dumps({"model_type": "something_new"}))  # no adapter: system as parts
    r = run_cli("check", "model", str(bad))
    assert r.code == 1 and "FAIL template renders" in r.out and "fix:" in r.out
    r = run_cli("check", "model", str(bad), "--model-args", "family=molmo2")  # its family named: it passes
    assert r.code == 0 and "system form 'into_user'" in r.out, r.out


def test_a_run_on_a_checkpoint_that_breaks_the_contract_fails_before_its_weights_load(run_cli, tmp_path):
    """harness run checks the contract when the hf plugin loads the processor: a score run on a template whose
    generation prompt leaves a reasoning block open fails in seconds, naming the check and the fix."""
    from harness.testing.checkpoints import build
    folder = build("qwen2.5-vl", tmp_path / "thinking")
    template = folder / "chat_template.jinja"
    opened = template.read_text().replace("<|im_start|>assistant\n{% endif %}", "<|im_start|>assistant\n<think>\n{% endif %}")
    assert opened != template.read_text()
    template.write_text(opened)
    (folder / "model.safetensors").write_bytes(b"not weights")  # never read: the run stops before the weights
    r = run_cli("run", "--tasks", "synthetic:n=7", "--model", "hf", "--model-args", f"pretrained={folder},mode=score",
                "--output-path", str(tmp_path / "out"), "--no-progress", "--no-cache")
    assert r.code == 2 and "checkpoint contract fails" in r.err and "reasoning block" in r.err, r.err


def test_the_hf_plugin_stops_at_the_end_of_turn_when_the_generation_config_names_no_eos(tmp_path):
    """Finding 3 through the real plugin: Qwen2.5-Omni's published generation_config.json is
    {"_from_model_config": true}; the pinned generation config had eos_token_id=None."""
    from harness.plugins.hf import HFModel
    from harness.testing.checkpoints import build
    folder = build("qwen2.5-vl", tmp_path / "no-eos")
    (folder / "generation_config.json").write_text(json.dumps({"_from_model_config": True}))
    model = HFModel({"pretrained": str(folder), "mode": "generate"})
    model._load()
    eos = model.model.generation_config.eos_token_id
    assert model.tokenizer.convert_tokens_to_ids("<|im_end|>") in (eos if isinstance(eos, list) else [eos])


def test_a_server_gets_the_system_text_in_the_user_turn_where_the_template_has_no_system_role():
    import numpy as np

    from harness.plugins.openai_server import build_body
    from harness.types import Frames, Request
    frames = Frames(array=np.zeros((2, 8, 8, 3), dtype=np.uint8), indices=[0, 1], timestamps=[0.0, 0.5],
                    fps=2.0, duration=1.0, total_frames=2)
    request = Request(sample_id="x", frames=frames, messages=NAMES.render(CLASSES), choices=CLASSES, mode="generate")
    molmo = build_body(request, "m", family=families.get("molmo2"), video="images")["messages"]
    assert [m["role"] for m in molmo] == ["user"]
    assert any(p.get("text", "").startswith(NAMES.system) for p in molmo[0]["content"])
    qwen = build_body(request, "m", family=families.get("qwen2.5-vl"), video="images")["messages"]
    assert [m["role"] for m in qwen] == ["system", "user"] and qwen[0]["content"] == NAMES.system


# -- finding 5: pixel budgets and visual tokens ---------------------------------------------------------------------

PROCESSOR_FILES = ("preprocessor_config.json", "video_preprocessor_config.json", "processor_config.json")
WITH_PROCESSOR = [p for p in sorted(MANIFEST) if any((FIXTURES / p / f).is_file() for f in PROCESSOR_FILES)]


def _checks(processors, preset: str) -> dict:
    processor, adapter = published(processors, preset)
    if not published_template(preset):
        processor.chat_template = processors(MANIFEST[preset]["family"]).chat_template
    return {c.name: c for c in modelcheck.contract(processor, adapter, FIXTURES / preset)}


def test_the_presets_with_published_processor_files_are_the_ones_counted():
    assert WITH_PROCESSOR == ["internvl3.5", "qwen-vl", "qwen2.5-omni", "smolvlm2"]


@pytest.mark.parametrize("preset", WITH_PROCESSOR)
def test_sixteen_frames_of_224_become_the_documented_visual_tokens(processors, preset):
    """The contract item of finding 5: through the processor the published files build, 16 frames of a 224x224
    clip sent as the hf plugin sends them are all kept (the processor's own sampling off) and become the visual
    tokens docs/models.md states (Family.tokens_16)."""
    checks = _checks(processors, preset)
    adapter = families.get(MANIFEST[preset]["family"])
    tokens = checks["visual tokens"]
    assert tokens.ok and f"become {adapter.tokens_16} visual tokens" in tokens.detail, tokens.line()
    assert checks["frame sampling off"].ok
    kept = checks.get("frame sampling off (16 frames)")  # where the processor's output says how many it kept
    assert (kept is not None) == (preset in ("qwen-vl", "qwen2.5-omni"))
    assert kept is None or (kept.ok and "16 frames in, 16 kept" in kept.detail)


@pytest.mark.parametrize("preset,before", [("qwen-vl", 512), ("qwen2.5-omni", 1152)])
def test_an_image_config_no_longer_sizes_the_video(processors, preset, before):
    """Finding 5: Qwen2.5-VL and Qwen2.5-Omni ship no video-processor config, so transformers builds the video
    processor from preprocessor_config.json, the image budget (3,136 to 12,845,056 pixels per frame). The harness
    sent no size at pixels=reference: for Qwen2.5-VL 16 frames of 224x224 stayed 224x224, 512 visual tokens, while
    the docs said 1,152 (Qwen2.5-Omni's processor has its own default for videos, 128x28x28 to 768x28x28, which
    overrode the image budget: 1,152 before too). The family's video budget is now handed over explicitly."""
    from harness.plugins.modelcheck import count_visual_tokens, harness_call, published_processor
    processor, adapter = published(processors, preset)
    built = published_processor(processor, FIXTURES / preset)
    assert dict(built.video_processor.size) == {"shortest_edge": 3136, "longest_edge": 12845056}  # the image config
    prompt = chat.render(processor, chat.messages_for(NAMES.render(CLASSES), adapter.system), True)
    old_adapter = families.Family(**{**adapter.__dict__, "video_size": None})  # the old request: no size
    old, old_kwargs, _ = harness_call(built, old_adapter, FIXTURES / preset, prompt)
    new, new_kwargs, _ = harness_call(built, adapter, FIXTURES / preset, prompt)
    assert "size" not in old_kwargs and new_kwargs["size"] == {"shortest_edge": 100352, "longest_edge": 602112}
    assert count_visual_tokens(built, old) == before
    assert count_visual_tokens(built, new) == 1152 and new["video_grid_thw"][0].tolist() == [8, 24, 24]
    old_check = {c.name: c for c in modelcheck.frame_budget(processor, old_adapter, FIXTURES / preset, prompt)}
    assert old_check["visual tokens"].ok == (before == 1152)
    if before != 1152:  # what `harness check model` says of the old request, with the fix
        assert f"become {before} visual tokens" in old_check["visual tokens"].detail and old_check["visual tokens"].fix


def test_a_video_budget_the_checkpoint_states_is_kept():
    """The family's budget replaces only the image-config fallback: a checkpoint that states a video budget
    (video_preprocessor_config.json or processor_config.json's video_processor: Qwen3-VL, every tiny twin) keeps
    its own."""
    adapter = families.get("qwen2.5-vl")
    family = {"shortest_edge": 100352, "longest_edge": 602112}
    assert adapter.reference_video_size(None) == family
    assert adapter.reference_video_size({"min_pixels": 3136, "max_pixels": 12845056,
                                         "source": "preprocessor_config.json"}) == family
    for source in ("video_preprocessor_config.json", "processor_config.json"):
        assert adapter.reference_video_size({"min_pixels": 784, "max_pixels": 200704, "source": source}) is None
    assert families.get("qwen3-vl").reference_video_size(None) is None  # its checkpoint ships its own


def test_the_hf_plugin_hands_the_family_budget_to_a_checkpoint_that_states_none(tmp_path):
    """Finding 5 through the real plugin: a Qwen2.5-VL checkpoint laid out as published (the image processor's
    preprocessor_config.json, no video-processor config) gets 1,152 visual tokens for 16 frames of 224x224, not
    the 512 the image budget gives, and its identity names the budget it got."""
    import numpy as np

    from harness.frames import time_told
    from harness.plugins.hf import HFModel
    from harness.testing.checkpoints import build
    from harness.types import Frames, Request
    folder = build("qwen2.5-vl", tmp_path / "as-published")
    config = json.loads((folder / "processor_config.json").read_text())
    del config["video_processor"]
    (folder / "processor_config.json").write_text(json.dumps(config))
    (folder / "preprocessor_config.json").write_text((FIXTURES / "qwen-vl" / "preprocessor_config.json").read_text())
    model = HFModel({"pretrained": str(folder), "mode": "score"})
    assert model.identity()["pixel_budget"] == {"min_pixels": 100352, "max_pixels": 602112,
                                                "source": "family qwen2.5-vl (the checkpoint states no video budget)"}
    clip = Frames(array=np.full((16, 224, 224, 3), 128, dtype=np.uint8), indices=list(range(16)),
                  timestamps=[i / 8 for i in range(16)], fps=8.0, duration=2.0, total_frames=16)
    request = Request(sample_id="x", frames=clip, messages=NAMES.render(CLASSES), choices=CLASSES, mode="score",
                      resolved=True, told=time_told.tell(clip, model.time_family()))
    inputs = model.model_inputs([request], to_device=False)
    assert model.processor.video_processor.size["shortest_edge"] == 3136  # what transformers built: the image budget
    assert model.visual_tokens(inputs) == [1152]
    native = HFModel({"pretrained": str(folder), "mode": "score", "pixels": "native"})
    assert native.visual_tokens(native.model_inputs([request], to_device=False)) == [512]  # asked for: 224x224 kept


def test_a_per_clip_budget_that_samples_by_default_keeps_all_16_frames(processors, tmp_path):
    """Qwen3-VL's video processor states a per-clip budget and do_sample_frames: true (the values its processor
    prints for Qwen/Qwen3-VL-2B-Instruct, MANIFEST.yaml; the 8B file was not found, so these are test values, not a
    fixture). Sent as the harness sends it, all 16 frames are kept and become 392 visual tokens (224x224 kept: 7x7
    merged tokens per 2 frames); with the processor's own sampling left on, the request fails the contract."""
    config = {"video_processor_type": "Qwen3VLVideoProcessor", "do_sample_frames": True, "fps": 2, "min_frames": 4,
              "max_frames": 768, "patch_size": 16, "temporal_patch_size": 2, "merge_size": 2,
              "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
              "size": {"longest_edge": 25165824, "shortest_edge": 4096}}
    (tmp_path / "video_preprocessor_config.json").write_text(json.dumps(config))
    processor, adapter = processors("qwen3-vl"), families.get("qwen3-vl")
    checks = {c.name: c for c in modelcheck.contract(processor, adapter, tmp_path)}
    assert checks["frame sampling off (16 frames)"].ok and "the checkpoint's is True" in checks[
        "frame sampling off (16 frames)"].detail
    assert checks["visual tokens"].ok and "become 392 visual tokens" in checks["visual tokens"].detail
    assert "video_preprocessor_config.json" in checks["visual tokens"].detail
    sampling = families.Family(**{**adapter.__dict__, "sampling_off": {}})
    prompt = chat.render(processor, NAMES.render(CLASSES), True)
    assert not all(c.ok for c in modelcheck.frame_budget(processor, sampling, tmp_path, prompt))
