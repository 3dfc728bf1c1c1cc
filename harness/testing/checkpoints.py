"""Tiny, randomly initialised Qwen-VL checkpoints, built fully offline.

For tests (this project's and plugin authors') and the offline demo: a small
config, a byte-level BPE tokenizer trained locally with ``tokenizers`` with
the family's special tokens and chat template, an image processor and a
video processor, all saved with ``save_pretrained`` so that they load back
through the real ``from_pretrained`` path. A few hundred kB, seconds to
build, deterministic for a seed. Their answers are chance-level by
construction.

    python -m harness.testing.checkpoints qwen2.5-vl OUT_DIR
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

FAMILIES = ("qwen2-vl", "qwen2.5-vl", "qwen3-vl")
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                  "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"]

# The official Qwen2-VL / Qwen2.5-VL / Qwen3-VL chat template, reduced to what it does for
# system, user and assistant messages with text, image and video parts.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

CORPUS = [  # the text the local tokenizers are trained on
    "You are an expert in facial expression analysis. You are a helpful assistant.",
    "Watch the video of a person's face. Which emotion does the facial expression show?",
    "Choose one of: happy, sad, neutral, angry, surprise, disgust, fear. Answer with one word.",
    "anger disgust fear happiness neutral sadness surprise contempt anxiety helplessness disappointment",
    "Answer with the option's letter. A. B. C. D. E. F. G. H. I. J. K.",
    "What emotion does the facial expression show? The person looks happy. seconds",
    "0 1 2 3 4 5 6 7 8 9 . < > system user assistant",
]


def _tokenizer(vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        additional_special_tokens=SPECIAL_TOKENS[1:], model_max_length=32768)
    fast.chat_template = CHAT_TEMPLATE
    return fast


def _config(family: str, tok, width: int = 32, layers: int = 2):
    from transformers import Qwen2_5_VLConfig, Qwen2VLConfig, Qwen3VLConfig

    ids = {name: tok.convert_tokens_to_ids(tokname) for name, tokname in (
        ("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>"),
        ("vision_start_token_id", "<|vision_start|>"), ("vision_end_token_id", "<|vision_end|>"))}
    head = width // 4
    mrope = [head // 4, head // 8, head // 8]  # sums to half the head size, as M-RoPE needs
    text = dict(vocab_size=len(tok), hidden_size=width, intermediate_size=2 * width, num_hidden_layers=layers,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                bos_token_id=tok.convert_tokens_to_ids("<|endoftext|>"), eos_token_id=tok.eos_token_id,
                pad_token_id=tok.pad_token_id)
    if family == "qwen2-vl":
        text["rope_parameters"] = {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": mrope}
        vision = dict(depth=layers, embed_dim=width, hidden_size=width, mlp_ratio=2, num_heads=4, patch_size=14,
                      spatial_merge_size=2, temporal_patch_size=2)
        return Qwen2VLConfig(text_config=text, vision_config=vision, **ids)
    if family == "qwen2.5-vl":
        text["rope_parameters"] = {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": mrope}
        vision = dict(depth=layers, hidden_size=width, intermediate_size=2 * width, num_heads=4, out_hidden_size=width,
                      patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=56,
                      fullatt_block_indexes=[1], tokens_per_second=2)
        return Qwen2_5_VLConfig(text_config=text, vision_config=vision, **ids)
    text.update(head_dim=head, rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                                "mrope_section": mrope, "mrope_interleaved": True})
    vision = dict(depth=layers, hidden_size=width, intermediate_size=2 * width, num_heads=4, out_hidden_size=width,
                  patch_size=16, spatial_merge_size=2, temporal_patch_size=2, num_position_embeddings=64,
                  deepstack_visual_indexes=[1])
    return Qwen3VLConfig(text_config=text, vision_config=vision, **ids)


def _processor(family: str, tok):
    from transformers import (
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
        Qwen2VLVideoProcessor,
        Qwen3VLProcessor,
        Qwen3VLVideoProcessor,
    )

    patch = 16 if family == "qwen3-vl" else 14
    unit = (patch * 2) ** 2  # one merged visual token
    image = Qwen2VLImageProcessor(patch_size=patch, merge_size=2, temporal_patch_size=2,
                                  size={"shortest_edge": unit, "longest_edge": unit * 64})
    video_cls = Qwen3VLVideoProcessor if family == "qwen3-vl" else Qwen2VLVideoProcessor
    video = video_cls(patch_size=patch, merge_size=2, temporal_patch_size=2,
                      size={"shortest_edge": unit, "longest_edge": unit * 256})
    cls = {"qwen2-vl": Qwen2VLProcessor, "qwen2.5-vl": Qwen2_5_VLProcessor, "qwen3-vl": Qwen3VLProcessor}[family]
    return cls(image_processor=image, tokenizer=tok, video_processor=video, chat_template=CHAT_TEMPLATE)


def processor(family: str, vocab_size: int = 400):
    """The processor alone (tokenizer, chat template, image and video processors) of ``family``'s checkpoint."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; choose one of {', '.join(FAMILIES)}")
    return _processor(family, _tokenizer(vocab_size))


def build(family: str, out: str | os.PathLike, seed: int = 0, vocab_size: int = 400, width: int = 32,
          layers: int = 2) -> Path:
    """Build and save a tiny checkpoint of ``family`` into ``out``; returns the folder. ``width`` and
    ``layers`` make a bigger one, whose compute outweighs the Python around it (benchmarks)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; choose one of {', '.join(FAMILIES)}")
    import torch
    from transformers import AutoModelForImageTextToText

    out = Path(out)
    tok = _tokenizer(vocab_size)
    config = _config(family, tok, width, layers)
    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(config)
    return save_twin(model, _processor(family, tok), out, family, seed)


def save_twin(model, processor, out: Path, family: str, seed: int) -> Path:
    """Save a tiny twin's weights and processor into ``out`` atomically: written beside it, then
    renamed, so two processes building the same twin never see half of one."""
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    model.save_pretrained(tmp)
    processor.save_pretrained(tmp)
    (tmp / "harness_tiny.json").write_text(json.dumps({"family": family, "seed": seed}))
    if out.exists():  # another process built it meanwhile: same bytes, keep theirs
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)
        return out
    os.replace(tmp, out)
    return out


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(f"usage: python -m harness.testing.checkpoints {{{'|'.join(FAMILIES)}}} OUT_DIR")
    print(build(sys.argv[1], sys.argv[2]))
