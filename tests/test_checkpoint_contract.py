"""The checkpoint contract on the published files of every preset, not only on our twins.

A twin's template takes any content, opens no thinking block and enforces no role order; its tokenizer
adds no BOS and no prefix space. So each family's twin processor is given, where a copy was found, the
published chat template (and generation and feature-extractor configs) of its preset's real checkpoint
(tests/fixtures/checkpoints, sources in MANIFEST.yaml), and ``harness.plugins.modelcheck.contract`` (what
``harness check model`` runs) must pass on it. The findings of issue 31 each have a test that failed
before the fix: the system message as a repr or refused, the answer scored without its prefix space or
its end marker, two BOS or none, reasoning markers stripped by decoding, a generation config with no EOS,
and the sound limit taken from a constant instead of the checkpoint.
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
