"""Tiny random twins of every video VLM family the ``hf`` plugin adapts, built fully offline.

Each twin is the family's real model, processor and tokenizer classes at toy sizes: its config
classes with a width of 32 and one or two layers, a byte-level BPE tokenizer trained locally
with the family's special tokens and a chat template reduced from the real checkpoint's, and
the family's own image and video processors with a small pixel budget. Saved with
``save_pretrained``, they load back through the real ``from_pretrained`` path, so every adapter
runs end to end in CI: a few hundred kB, a second or two to build, answers at chance level.

    python -m harness.testing.twins llava-onevision OUT_DIR

The Qwen line (``qwen2-vl``, ``qwen2.5-vl``, ``qwen3-vl``) is built by
:mod:`harness.testing.checkpoints`, whose checkpoints the golden runs pin; :func:`build` hands
those names over to it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from harness.testing import checkpoints

# Text the local tokenizers are trained on: the prompts the harness writes, and the words each
# family's processor writes around frames.
_CORPUS = checkpoints.CORPUS + [
    "You are provided the following series of frames from a video. Frame from Time seconds",
    "USER: ASSISTANT: user model assistant Human: Question: Short answer:",
]
WIDTH = 32  # hidden size of every tiny text and vision tower


def _tokenizer(specials: list[str], template: str | None, *, eos: str, pad: str, bos: str | None = None,
               unk: str | None = None, named: dict[str, str] | None = None, vocab_size: int = 360,
               extra_corpus: tuple[str, ...] = ()):
    """A byte-level BPE tokenizer trained here, whose special tokens are ``specials`` (each one
    token); ``named`` gives the processor-facing names (``image_token``, ...) the family's
    processor reads from the tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = list(dict.fromkeys([t for t in (pad, eos, bos, unk) if t] + specials + list((named or {}).values())))
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator((_CORPUS + list(extra_corpus)) * 4, trainer=trainer)
    kwargs = {"bos_token": bos} if bos else {}
    if unk:
        kwargs["unk_token"] = unk
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=eos, pad_token=pad, model_max_length=32768,
                                   extra_special_tokens=dict(named or {}), **kwargs)
    fast.add_special_tokens({"additional_special_tokens": [t for t in specials if t not in (pad, eos, bos, unk)]})
    if template is not None:
        fast.chat_template = template
    return fast


def _ids(tok, **names: str) -> dict[str, int]:
    return {key: tok.convert_tokens_to_ids(token) for key, token in names.items()}


def _qwen2_text(tok, layers: int = 2, **extra) -> dict:
    return dict(model_type="qwen2", vocab_size=len(tok), hidden_size=WIDTH, intermediate_size=2 * WIDTH,
                num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                tie_word_embeddings=False, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                pad_token_id=tok.pad_token_id, **extra)


def _llama_text(tok, layers: int = 2, **extra) -> dict:
    return dict(model_type="llama", vocab_size=len(tok), hidden_size=WIDTH, intermediate_size=2 * WIDTH,
                num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                **extra)


def _siglip(image_size: int, patch: int = 14, layers: int = 1) -> dict:
    return dict(model_type="siglip_vision_model", hidden_size=WIDTH, intermediate_size=2 * WIDTH,
                num_hidden_layers=layers, num_attention_heads=4, image_size=image_size, patch_size=patch,
                vision_use_head=False)


def _clip(image_size: int, patch: int = 14, layers: int = 1) -> dict:
    return dict(model_type="clip_vision_model", hidden_size=WIDTH, intermediate_size=2 * WIDTH,
                num_hidden_layers=layers, num_attention_heads=4, image_size=image_size, patch_size=patch,
                projection_dim=WIDTH)


# -- the families ------------------------------------------------------------------------------------
# Each builder returns (config, processor); the chat templates are the real checkpoints', reduced to
# what they do for system, user and assistant messages made of text, image and video parts.

QWEN_CHAT = (  # <|im_start|>role\n...<|im_end|>, media tokens where the parts are
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for c in message['content'] %}{% if c['type'] == 'image' %}{{ IMAGE }}{% elif c['type'] == 'video' %}"
    "{{ VIDEO }}{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def _qwen_chat(image: str, video: str) -> str:
    return QWEN_CHAT.replace("{{ IMAGE }}", image).replace("{{ VIDEO }}", video)


def llava_onevision(seed: int):
    from transformers import (
        LlavaOnevisionConfig,
        LlavaOnevisionImageProcessor,
        LlavaOnevisionProcessor,
        LlavaOnevisionVideoProcessor,
    )

    # llava-hf/llava-onevision-qwen2-7b-ov-hf: Qwen2 chat, media tokens first in a turn, then "\n" + text
    template = (
        "{% for message in messages %}<|im_start|>{{ message['role'] + ' ' }}"
        "{% for c in message['content'] | selectattr('type', 'equalto', 'image') %}<image>{% endfor %}"
        "{% for c in message['content'] | selectattr('type', 'equalto', 'video') %}<video>{% endfor %}"
        "{% for c in message['content'] | selectattr('type', 'equalto', 'text') %}{{ '\n' + c['text'] }}{% endfor %}"
        "<|im_end|>{{ '\n' }}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    tok = _tokenizer(["<|im_start|>", "<image>", "<video>"], template, eos="<|im_end|>", pad="<|endoftext|>")
    size = 28  # 2x2 SigLIP patches of 14 pixels: one pooled token per frame
    config = LlavaOnevisionConfig(
        vision_config=_siglip(size), text_config=_qwen2_text(tok),
        image_grid_pinpoints=[[size, size], [size, 2 * size], [2 * size, size], [2 * size, 2 * size]],
        vision_feature_select_strategy="full", vision_feature_layer=-1,
        **_ids(tok, image_token_index="<image>", video_token_index="<video>"))
    image = LlavaOnevisionImageProcessor(size={"height": size, "width": size}, crop_size={"height": size, "width": size},
                                         image_grid_pinpoints=config.image_grid_pinpoints)
    video = LlavaOnevisionVideoProcessor(size={"height": size, "width": size})
    processor = LlavaOnevisionProcessor(image_processor=image, video_processor=video, tokenizer=tok,
                                        num_image_tokens=(size // 14) ** 2, vision_feature_select_strategy="full",
                                        chat_template=template)
    return config, processor


VICUNA_CHAT = (  # USER: <media>\n... ASSISTANT: (no end-of-turn marker: the answer ends with </s>)
    "{% for message in messages %}{{ message['role'].upper() + ': ' }}"
    "{% for c in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\\n' }}{% endfor %}"
    "{% for c in message['content'] | selectattr('type', 'equalto', 'video') %}{{ '<video>\\n' }}{% endfor %}"
    "{% for c in message['content'] | selectattr('type', 'equalto', 'text') %}{{ c['text'] + ' ' }}{% endfor %}"
    "{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}")


def llava_next_video(seed: int):
    from transformers import LlavaNextImageProcessor, LlavaNextVideoConfig, LlavaNextVideoProcessor, LlavaNextVideoVideoProcessor

    # llava-hf/LLaVA-NeXT-Video-7B-hf: Vicuna chat
    tok = _tokenizer(["<image>", "<video>"], VICUNA_CHAT, eos="</s>", pad="<unk>", bos="<s>")
    size = 28  # 2x2 CLIP patches, average-pooled by 2: one token per frame
    config = LlavaNextVideoConfig(
        vision_config=_clip(size), text_config=_llama_text(tok), image_grid_pinpoints=[[size, size], [size, 2 * size]],
        vision_feature_select_strategy="default", vision_feature_layer=-1, spatial_pool_stride=2,
        image_seq_length=(size // 14) ** 2, video_seq_length=1,
        **_ids(tok, image_token_index="<image>", video_token_index="<video>"))
    image = LlavaNextImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size},
                                    image_grid_pinpoints=config.image_grid_pinpoints)
    video = LlavaNextVideoVideoProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    processor = LlavaNextVideoProcessor(video_processor=video, image_processor=image, tokenizer=tok, patch_size=14,
                                        vision_feature_select_strategy="default", num_additional_image_tokens=1,
                                        chat_template=VICUNA_CHAT)
    return config, processor


def video_llava(seed: int):
    from transformers import VideoLlavaConfig, VideoLlavaImageProcessor, VideoLlavaProcessor, VideoLlavaVideoProcessor

    # LanguageBind/Video-LLaVA-7B-hf: Vicuna chat
    tok = _tokenizer(["<image>", "<video>"], VICUNA_CHAT, eos="</s>", pad="<unk>", bos="<s>")
    size = 28
    config = VideoLlavaConfig(vision_config=_clip(size), text_config=_llama_text(tok),
                              vision_feature_select_strategy="default", vision_feature_layer=-1,
                              image_seq_length=(size // 14) ** 2, video_seq_length=8 * ((size // 14) ** 2 + 1),
                              **_ids(tok, image_token_index="<image>", video_token_index="<video>"))
    image = VideoLlavaImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    video = VideoLlavaVideoProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    processor = VideoLlavaProcessor(image_processor=image, video_processor=video, tokenizer=tok, patch_size=14,
                                    vision_feature_select_strategy="default", num_additional_image_tokens=1,
                                    chat_template=VICUNA_CHAT)
    return config, processor


def internvl(seed: int):
    from transformers import GotOcr2ImageProcessor, InternVLConfig, InternVLProcessor, InternVLVideoProcessor

    # OpenGVLab/InternVL3_5-8B-HF: Qwen chat, "<video>\\n" where the video is
    template = _qwen_chat("<image>\n", "<video>\n")
    tok = _tokenizer(["<|im_start|>"], template, eos="<|im_end|>", pad="<|endoftext|>",
                     named={"start_image_token": "<img>", "end_image_token": "</img>",
                            "context_image_token": "<IMG_CONTEXT>", "video_token": "<video>"})
    size = 28  # 2x2 patches of 14, pixel-shuffled by 0.5: one token per frame
    config = InternVLConfig(
        vision_config=dict(hidden_size=WIDTH, intermediate_size=2 * WIDTH, num_hidden_layers=1, num_attention_heads=4,
                           image_size=[size, size], patch_size=[14, 14]),
        text_config=_qwen2_text(tok), downsample_ratio=0.5, image_seq_length=1, vision_feature_layer=-1,
        **_ids(tok, image_token_id="<IMG_CONTEXT>"))
    image = GotOcr2ImageProcessor(size={"height": size, "width": size}, crop_to_patches=False)
    video = InternVLVideoProcessor(size={"height": size, "width": size})
    processor = InternVLProcessor(image_processor=image, tokenizer=tok, video_processor=video, image_seq_length=1,
                                  chat_template=template)
    return config, processor


def smolvlm(seed: int):
    from transformers import SmolVLMConfig, SmolVLMImageProcessor, SmolVLMProcessor, SmolVLMVideoProcessor
    from transformers.models.smolvlm.processing_smolvlm import DEFAULT_CHAT_TEMPLATE

    # HuggingFaceTB/SmolVLM2-2.2B-Instruct; for a video the processor swaps in its own DEFAULT_CHAT_TEMPLATE
    tok = _tokenizer(["<|im_start|>", "<end_of_utterance>", "<fake_token_around_image>", "<global-img>", "<image>",
                      "<video>"], DEFAULT_CHAT_TEMPLATE, eos="<end_of_utterance>", pad="<|endoftext|>")
    size = 28  # 2x2 patches of 14, pixel-shuffled by 2: one token per frame
    config = SmolVLMConfig(
        vision_config=dict(hidden_size=WIDTH, intermediate_size=2 * WIDTH, num_hidden_layers=1, num_attention_heads=4,
                           image_size=size, patch_size=14),
        text_config=_llama_text(tok), scale_factor=2, **_ids(tok, image_token_id="<image>"))
    image = SmolVLMImageProcessor(size={"longest_edge": size}, max_image_size={"longest_edge": size},
                                  do_image_splitting=False)
    video = SmolVLMVideoProcessor(size={"longest_edge": size}, max_image_size={"longest_edge": size})
    processor = SmolVLMProcessor(image_processor=image, tokenizer=tok, video_processor=video, image_seq_len=1,
                                 chat_template=DEFAULT_CHAT_TEMPLATE)
    return config, processor


def video_llama_3(seed: int):
    from transformers import VideoLlama3Config, VideoLlama3ImageProcessor, VideoLlama3Processor, VideoLlama3VideoProcessor

    # lkhl/VideoLLaMA3-2B-Image-HF (the transformers port of DAMO-NLP-SG/VideoLLaMA3): Qwen chat
    template = _qwen_chat("<|image_pad|>", "<|video_pad|>")
    tok = _tokenizer(["<|im_start|>", "<|image_pad|>", "<|video_pad|>"], template, eos="<|im_end|>",
                     pad="<|endoftext|>")
    unit = 28 * 28  # one merged visual token (patch 14, merge 2)
    config = VideoLlama3Config(
        vision_config=dict(hidden_size=WIDTH, intermediate_size=2 * WIDTH, num_hidden_layers=1, num_attention_heads=4,
                           patch_size=14),
        text_config=_qwen2_text(tok), **_ids(tok, image_token_id="<|image_pad|>", video_token_id="<|video_pad|>"))
    image = VideoLlama3ImageProcessor(size={"shortest_edge": unit, "longest_edge": 16 * unit}, patch_size=14, merge_size=1)
    # the video budget is shared by all frames of a clip (max_pixels // frames)
    video = VideoLlama3VideoProcessor(size={"shortest_edge": unit, "longest_edge": 64 * unit}, patch_size=14,
                                      merge_size=2)
    processor = VideoLlama3Processor(image_processor=image, tokenizer=tok, video_processor=video, chat_template=template)
    return config, processor


def glm4v(seed: int):
    from transformers import Glm4vConfig, Glm4vImageProcessor, Glm4vProcessor, Glm4vVideoProcessor

    # zai-org/GLM-4.1V-9B-Thinking: [gMASK]<sop><|role|>\\n..., the video between its begin/end tokens
    template = (
        "[gMASK]<sop>{% for message in messages %}<|{{ message['role'] }}|>\n"
        "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for c in message['content'] %}"
        "{% if c['type'] == 'image' %}<|begin_of_image|><|image|><|end_of_image|>"
        "{% elif c['type'] == 'video' %}<|begin_of_video|><|video|><|end_of_video|>"
        "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>\n{% endif %}")
    tok = _tokenizer(["[gMASK]", "<sop>", "<|system|>", "<|user|>", "<|assistant|>", "<|begin_of_image|>",
                      "<|end_of_image|>", "<|begin_of_video|>", "<|end_of_video|>", "<|image|>", "<|video|>"],
                     template, eos="<|endoftext|>", pad="<|endoftext|>")
    unit = 28 * 28
    config = Glm4vConfig(
        vision_config=dict(depth=1, hidden_size=WIDTH, intermediate_size=2 * WIDTH, num_heads=4, patch_size=14,
                           image_size=28, spatial_merge_size=2, temporal_patch_size=2, out_hidden_size=WIDTH),
        text_config=dict(vocab_size=len(tok), hidden_size=WIDTH, intermediate_size=2 * WIDTH, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                         pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 1, 1],
                                          "partial_rotary_factor": 1.0}),
        **_ids(tok, image_token_id="<|image|>", video_token_id="<|video|>", image_start_token_id="<|begin_of_image|>",
               image_end_token_id="<|end_of_image|>", video_start_token_id="<|begin_of_video|>",
               video_end_token_id="<|end_of_video|>"))
    image = Glm4vImageProcessor(size={"shortest_edge": unit, "longest_edge": 16 * unit}, patch_size=14,
                                temporal_patch_size=2, merge_size=2)
    video = Glm4vVideoProcessor(size={"shortest_edge": unit, "longest_edge": 64 * unit}, patch_size=14,
                                temporal_patch_size=2, merge_size=2)
    processor = Glm4vProcessor(image_processor=image, tokenizer=tok, video_processor=video, chat_template=template)
    return config, processor


def gemma4(seed: int):
    from transformers import (
        Gemma4AudioFeatureExtractor,
        Gemma4Config,
        Gemma4ImageProcessor,
        Gemma4Processor,
        Gemma4VideoProcessor,
    )

    # google/gemma-4-E4B-it: <|turn>role ... <turn|>, the model's turn is "model"
    template = (
        "{{ bos_token }}{% for message in messages %}<|turn>{{ 'model' if message['role'] == 'assistant' "
        "else message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}{% else %}"
        "{% for c in message['content'] %}{% if c['type'] == 'image' %}<|image|>{% elif c['type'] == 'video' %}"
        "<|video|>{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<turn|>\n"
        "{% endfor %}{% if add_generation_prompt %}<|turn>model\n{% endif %}")
    tok = _tokenizer(["<|turn>", "<turn|>", "<|video|>"], template, eos="<turn|>", pad="<pad>", bos="<bos>",
                     named={"image_token": "<|image|>", "boi_token": "<|image>", "eoi_token": "<image|>",
                            # the processor checks the audio tokens even for video (no audio tower here)
                            "audio_token": "<|audio|>", "boa_token": "<|audio>", "eoa_token": "<audio|>"})
    patch = 2  # the smallest soft-token budget (70 per frame, pooled 3x3 from 630 patches) at toy pixel counts
    config = Gemma4Config(
        text_config=dict(vocab_size=len(tok), hidden_size=WIDTH, intermediate_size=2 * WIDTH, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=8, global_head_dim=8,
                         max_position_embeddings=4096, layer_types=["sliding_attention", "full_attention"],
                         sliding_window=64, vocab_size_per_layer_input=len(tok), hidden_size_per_layer_input=4,
                         pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id),
        vision_config=dict(hidden_size=WIDTH, intermediate_size=2 * WIDTH, num_hidden_layers=1, num_attention_heads=4,
                           num_key_value_heads=4, head_dim=8, patch_size=patch, pooling_kernel_size=3,
                           position_embedding_size=64),
        audio_config=None,
        **_ids(tok, image_token_id="<|image|>", video_token_id="<|video|>", boi_token_id="<|image>",
               eoi_token_id="<image|>", audio_token_id="<|audio|>", boa_token_id="<|audio>",
               eoa_token_index="<audio|>"))
    image = Gemma4ImageProcessor(patch_size=patch, max_soft_tokens=70, pooling_kernel_size=3)
    video = Gemma4VideoProcessor(patch_size=patch, max_soft_tokens=70, pooling_kernel_size=3)
    processor = Gemma4Processor(feature_extractor=Gemma4AudioFeatureExtractor(), image_processor=image, tokenizer=tok,
                                video_processor=video, chat_template=template, image_seq_length=70)
    return config, processor


def molmo2(seed: int):
    from transformers import Molmo2Config, Molmo2ImageProcessor, Molmo2Processor, Molmo2VideoProcessor

    # allenai/Molmo2-8B: Qwen chat; the processor puts the bos token first
    template = _qwen_chat("<|image|>", "<|video|>")
    media = ["<im_patch>", "<im_col>", "<im_start>", "<low_res_im_start>", "<frame_start>", "<im_end>", "<frame_end>",
             "<im_low>", "<|image|>", "<|video|>"]
    tok = _tokenizer(["<|im_start|>"] + media, template, eos="<|im_end|>", pad="<|endoftext|>")
    size = 28  # 2x2 patches of 14 per frame, pooled 2x2 (the video processor's pooling_size): one token per frame
    layers = 2
    config = Molmo2Config(
        vision_config=dict(hidden_size=WIDTH, intermediate_size=2 * WIDTH, num_hidden_layers=layers,
                           num_attention_heads=4, num_key_value_heads=4, head_dim=8, image_size=[size, size],
                           patch_size=14),
        adapter_config=dict(vision_feature_layer=[-1, -2], hidden_size=WIDTH, num_attention_heads=4,
                            num_key_value_heads=4, head_dim=8, intermediate_size=2 * WIDTH, text_hidden_size=WIDTH),
        text_config=dict(hidden_size=WIDTH, num_attention_heads=4, num_key_value_heads=2, head_dim=8,
                         vocab_size=len(tok), additional_vocab_size=8, num_hidden_layers=2, intermediate_size=2 * WIDTH,
                         max_position_embeddings=4096),
        **_ids(tok, image_start_token_id="<im_start>", low_res_image_start_token_id="<low_res_im_start>",
               image_end_token_id="<im_end>", image_patch_id="<im_patch>", frame_start_token_id="<frame_start>",
               frame_end_token_id="<frame_end>"))
    config.text_config.eos_token_id, config.text_config.pad_token_id = tok.eos_token_id, tok.pad_token_id
    image = Molmo2ImageProcessor(size={"height": size, "width": size}, max_crops=1, pooling_size=[2, 2])
    video = Molmo2VideoProcessor(size={"height": size, "width": size}, pooling_size=[2, 2], do_resize=True,
                                 do_rescale=True, do_normalize=True, do_convert_rgb=True)
    processor = Molmo2Processor(image_processor=image, video_processor=video, tokenizer=tok, chat_template=template)
    return config, processor


def minicpm_v(seed: int):
    from transformers import MiniCPMV4_6Config, MiniCPMV4_6ImageProcessor, MiniCPMV4_6Processor, MiniCPMV4_6VideoProcessor

    # openbmb/MiniCPM-V-4.6: Qwen chat; each frame becomes <image>...</image> (its slices, when large, <slice>)
    template = _qwen_chat("<|image_pad|>", "<|video_pad|>")
    tok = _tokenizer(["<|im_start|>"], template, eos="<|im_end|>", pad="<|endoftext|>",
                     named={"image_token": "<|image_pad|>", "video_token": "<|video_pad|>", "image_start_token": "<image>",
                            "image_end_token": "</image>", "slice_start_token": "<slice>", "slice_end_token": "</slice>",
                            "image_id_start_token": "<image_id>", "image_id_end_token": "</image_id>"})
    size = 56  # 4x4 patches of 14, merged 16x: one token per frame
    config = MiniCPMV4_6Config(
        vision_config=dict(hidden_size=WIDTH, intermediate_size=2 * WIDTH, num_hidden_layers=2, num_attention_heads=4,
                           image_size=size, patch_size=14),
        text_config=dict(model_type="qwen3_5_text", vocab_size=len(tok), hidden_size=WIDTH, intermediate_size=2 * WIDTH,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=8,
                         layer_types=["full_attention", "full_attention"], max_position_embeddings=4096,
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id),
        insert_layer_id=0, image_size=size, **_ids(tok, image_token_id="<|image_pad|>", video_token_id="<|video_pad|>"))
    image = MiniCPMV4_6ImageProcessor(scale_resolution=size, max_slice_nums=1)
    video = MiniCPMV4_6VideoProcessor(scale_resolution=size, max_slice_nums=1, slice_mode=False)
    processor = MiniCPMV4_6Processor(image_processor=image, video_processor=video, tokenizer=tok, chat_template=template)
    return config, processor


def _qwen_vision_processors(patch: int):
    """The Qwen-style image and video processors of an omni twin: ``patch``-pixel patches merged 2x2, two
    frames per temporal patch, up to 64 (images) and 256 (video frames) merged tokens."""
    from transformers import Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    unit = (2 * patch) ** 2
    return (Qwen2VLImageProcessor(patch_size=patch, merge_size=2, temporal_patch_size=2,
                                  size={"shortest_edge": unit, "longest_edge": unit * 64}),
            Qwen2VLVideoProcessor(patch_size=patch, merge_size=2, temporal_patch_size=2,
                                  size={"shortest_edge": unit, "longest_edge": unit * 256}))


def qwen25_omni(seed: int):
    from transformers import (
        Qwen2_5OmniProcessor,
        Qwen2_5OmniThinkerConfig,
        WhisperFeatureExtractor,
    )

    # Qwen/Qwen2.5-Omni-7B (its thinker: text out, no talker): Qwen chat, <|vision_bos|><|VIDEO|><|vision_eos|>
    template = _qwen_chat("<|vision_bos|><|IMAGE|><|vision_eos|>", "<|vision_bos|><|VIDEO|><|vision_eos|>")
    named = {"image_token": "<|IMAGE|>", "video_token": "<|VIDEO|>", "audio_token": "<|AUDIO|>",
             "vision_bos_token": "<|vision_bos|>", "vision_eos_token": "<|vision_eos|>",
             "audio_bos_token": "<|audio_bos|>", "audio_eos_token": "<|audio_eos|>"}
    tok = _tokenizer(["<|im_start|>"], template, eos="<|im_end|>", pad="<|endoftext|>", named=named)
    head = WIDTH // 4
    config = Qwen2_5OmniThinkerConfig(
        text_config=dict(vocab_size=len(tok), hidden_size=WIDTH, intermediate_size=2 * WIDTH, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                          "mrope_section": [head // 4, head // 8, head // 8]},
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id),
        vision_config=dict(depth=2, hidden_size=WIDTH, intermediate_size=2 * WIDTH, num_heads=4, out_hidden_size=WIDTH,
                           patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=56,
                           fullatt_block_indexes=[1]),
        audio_config=dict(encoder_layers=1, encoder_attention_heads=4, encoder_ffn_dim=2 * WIDTH, d_model=WIDTH,
                          output_dim=WIDTH, num_mel_bins=128),
        **_ids(tok, audio_token_index="<|AUDIO|>", image_token_index="<|IMAGE|>", video_token_index="<|VIDEO|>",
               audio_start_token_id="<|audio_bos|>", audio_end_token_id="<|audio_eos|>",
               vision_start_token_id="<|vision_bos|>", vision_end_token_id="<|vision_eos|>"))
    image, video = _qwen_vision_processors(14)
    processor = Qwen2_5OmniProcessor(image_processor=image, video_processor=video,
                                     feature_extractor=WhisperFeatureExtractor(feature_size=128), tokenizer=tok,
                                     chat_template=template)
    return config, processor


def qwen3_omni(seed: int):
    from transformers import (
        Qwen3OmniMoeProcessor,
        Qwen3OmniMoeThinkerConfig,
        WhisperFeatureExtractor,
    )

    # Qwen/Qwen3-Omni-30B-A3B-Instruct (its thinker: text out, no talker): Qwen chat,
    # <|vision_start|><|video_pad|><|vision_end|>; the sound of a video goes inside it (audio-in-video)
    template = _qwen_chat("<|vision_start|><|image_pad|><|vision_end|>", "<|vision_start|><|video_pad|><|vision_end|>")
    named = {"image_token": "<|image_pad|>", "video_token": "<|video_pad|>", "audio_token": "<|audio_pad|>",
             "vision_bos_token": "<|vision_start|>", "vision_eos_token": "<|vision_end|>",
             "audio_bos_token": "<|audio_start|>", "audio_eos_token": "<|audio_end|>"}
    tok = _tokenizer(["<|im_start|>"], template, eos="<|im_end|>", pad="<|endoftext|>", named=named)
    head = 8
    config = Qwen3OmniMoeThinkerConfig(
        text_config=dict(vocab_size=len(tok), hidden_size=WIDTH, intermediate_size=2 * WIDTH, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=head, max_position_embeddings=4096,
                         moe_intermediate_size=WIDTH // 2, num_experts=4, num_experts_per_tok=2,
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                          "mrope_section": [head // 4, head // 8, head // 8], "interleaved": True},
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id),
        vision_config=dict(depth=2, hidden_size=WIDTH, intermediate_size=2 * WIDTH, num_heads=4, out_hidden_size=WIDTH,
                           patch_size=16, spatial_merge_size=2, temporal_patch_size=2, num_position_embeddings=64,
                           deepstack_visual_indexes=[1]),
        audio_config=dict(encoder_layers=1, encoder_attention_heads=4, encoder_ffn_dim=2 * WIDTH, d_model=WIDTH,
                          output_dim=WIDTH, num_mel_bins=128, downsample_hidden_size=8, max_source_positions=200),
        # 13 position ids a second, as the real checkpoint and its processor: one per audio token (80 ms)
        position_id_per_seconds=13,
        **_ids(tok, audio_token_id="<|audio_pad|>", image_token_id="<|image_pad|>", video_token_id="<|video_pad|>",
               audio_start_token_id="<|audio_start|>", audio_end_token_id="<|audio_end|>",
               vision_start_token_id="<|vision_start|>", vision_end_token_id="<|vision_end|>",
               user_token_id="<|im_start|>"))
    image, video = _qwen_vision_processors(16)
    processor = Qwen3OmniMoeProcessor(image_processor=image, video_processor=video,
                                      feature_extractor=WhisperFeatureExtractor(feature_size=128), tokenizer=tok,
                                      chat_template=template)
    return config, processor


def perception_lm(seed: int):
    from transformers import PerceptionLMConfig, PerceptionLMImageProcessor, PerceptionLMProcessor, PerceptionLMVideoProcessor

    # facebook/Perception-LM-1B: Llama-3 chat
    template = (
        "{{ bos_token }}{% for message in messages %}<|start_header_id|>{{ message['role'] }}<|end_header_id|>\n\n"
        "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for c in message['content'] %}"
        "{% if c['type'] == 'image' %}<|image|>{% elif c['type'] == 'video' %}<|video|>{% elif c['type'] == 'text' %}"
        "{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<|eot_id|>{% endfor %}"
        "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}")
    tok = _tokenizer(["<|start_header_id|>", "<|end_header_id|>"], template, eos="<|eot_id|>",
                     pad="<|finetune_right_pad_id|>", bos="<|begin_of_text|>",
                     named={"image_token": "<|image|>", "video_token": "<|video|>"})
    size, patch = 28, 14  # 2x2 patches of the Perception Encoder, pooled by 2: one token per frame
    config = PerceptionLMConfig(
        vision_config=dict(model_type="timm_wrapper", architecture="vit_pe_core_large_patch14_336",
                           model_args={"embed_dim": WIDTH, "depth": 1, "num_heads": 4, "img_size": size,
                                       "use_rot_pos_emb": True, "ref_feat_shape": (size // patch, size // patch)},
                           do_pooling=False),
        text_config=_llama_text(tok), vision_use_cls_token=True, projector_pooling_ratio=2,
        **_ids(tok, image_token_id="<|image|>", video_token_id="<|video|>"))
    image = PerceptionLMImageProcessor(tile_size=size, max_num_tiles=1, vision_input_type="vanilla")
    video = PerceptionLMVideoProcessor(size={"height": size, "width": size})
    processor = PerceptionLMProcessor(video_processor=video, image_processor=image, tokenizer=tok, patch_size=patch,
                                      pooling_ratio=2, chat_template=template)
    return config, processor


BUILDERS: dict[str, Callable] = {
    "llava-onevision": llava_onevision,
    "llava-next-video": llava_next_video,
    "video-llava": video_llava,
    "internvl": internvl,
    "smolvlm": smolvlm,
    "videollama3": video_llama_3,
    "glm4v": glm4v,
    "minicpm-v": minicpm_v,
    "gemma4": gemma4,
    "perception-lm": perception_lm,
    "molmo2": molmo2,
    "qwen2.5-omni": qwen25_omni,
    "qwen3-omni": qwen3_omni,
}
FAMILIES = tuple(BUILDERS)
# The class that builds (and loads) a twin, where it is not AutoModelForImageTextToText: the same as the
# family adapter's loader (harness.plugins.families; the tests check they agree).
LOADERS = {"qwen2.5-omni": "Qwen2_5OmniThinkerForConditionalGeneration",
           "qwen3-omni": "Qwen3OmniMoeThinkerForConditionalGeneration"}


def _audible(model) -> None:
    """Qwen3-Omni's audio front end (three strided 3x3 convolutions, then a linear layer) at the default
    initialisation (std 0.02) shrinks the log-mel input a thousandfold, below the sinusoidal position
    embedding added after it: every sound would give the twin the same audio tokens. Scaled to unit
    gain (std 1/sqrt(fan-in)), what the clip sounds like reaches the text model, as it does in the real
    checkpoint."""
    import torch

    tower = model.model.audio_tower
    with torch.no_grad():
        for layer in (tower.conv2d1, tower.conv2d2, tower.conv2d3, tower.conv_out):
            fan_in = layer.weight[0].numel()
            layer.weight.normal_(0.0, fan_in ** -0.5)


# What a family's twin needs after its random initialisation (seeded with the rest).
AFTER_INIT: dict[str, Callable] = {"qwen3-omni": _audible}


def build(family: str, out: str | os.PathLike, seed: int = 0) -> Path:
    """Build and save the tiny twin of ``family`` into ``out``; returns the folder."""
    if family in checkpoints.FAMILIES:
        return checkpoints.build(family, out, seed=seed)
    if family not in BUILDERS:
        raise ValueError(f"no tiny twin for family {family!r}; choose one of "
                         f"{', '.join(checkpoints.FAMILIES + FAMILIES)}")
    import torch
    import transformers

    out = Path(out)
    config, processor = BUILDERS[family](seed)
    torch.manual_seed(seed)
    loader = getattr(transformers, LOADERS.get(family, "AutoModelForImageTextToText"))
    model = loader.from_config(config) if hasattr(loader, "from_config") else loader(config)
    if family in AFTER_INIT:
        AFTER_INIT[family](model)
    return checkpoints.save_twin(model, processor, out, family, seed)


def processor(family: str, seed: int = 0):
    """The twin's processor alone (tokenizer, chat template, image and video processors), without building a
    model: for checks that read only a checkpoint's small files (harness.plugins.modelcheck)."""
    if family in checkpoints.FAMILIES:
        return checkpoints.processor(family)
    if family not in BUILDERS:
        raise ValueError(f"no tiny twin for family {family!r}")
    return BUILDERS[family](seed)[1]


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(f"usage: python -m harness.testing.twins {{{'|'.join(checkpoints.FAMILIES + FAMILIES)}}} OUT_DIR")
    print(build(sys.argv[1], sys.argv[2]))
