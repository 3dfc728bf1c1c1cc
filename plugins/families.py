"""Family adapters: what each video VLM family needs so that it sees the protocol's frames and is
told their times, declared once and used by every backend.

A :class:`Family` says, for one family of checkpoints (one or more ``config.model_type``):

- how frames go in (one video; the ``hf`` plugin's ``video_input=images`` turns them into images);
- how its processor's own frame sampling is switched off, so the protocol's frames are the
  frames the model sees (``do_sample_frames=False``, plus kwargs that pin what a processor
  would otherwise re-derive from the metadata, e.g. MiniCPM-V's sub-frame stacking);
- what it is told about time and how (its ``harness.frames.time_told`` family, and in words:
  per-frame timestamps written into the prompt, temporal position ids, nothing), and any
  processor argument that carries it (Qwen2.5-Omni reads seconds per temporal patch from
  ``fps``, not from the metadata);
- its reference pixel budget and what that costs for a 224x224 face crop;
- chat-template quirks and the end-of-turn token score mode closes every answer with;
- whether vLLM runs it, and the ``mm_processor_kwargs`` its requests carry there;
- for an omni family, the rate at which it takes a video's sound (``audio_rate``, known before any
  weights load, so ``--audio on`` is settled up front); its sound goes inside the video
  (audio-in-video), interleaved with the frames by time.

The ``hf`` plugin (:mod:`harness.plugins.hf`), the in-process vLLM engine
(:mod:`harness.plugins.vllm_engine`) and servers (:mod:`harness.plugins.openai_server`) all take
their per-family arguments from here, so a family is told the same times on each of them.
``tested`` marks the families whose tiny random twin (:mod:`harness.testing.twins`) runs the
adapter tests in CI (``tests/test_families.py``, ``tests/test_hf.py``).

Nothing here imports torch or transformers at import time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.frames import time_told
from harness.types import Request

# How a processor's pixel budget is stated: "area" (min/max pixels per frame, the Qwen way: the
# hf plugin's pixels=native, min_pixels and max_pixels apply) or "fixed" (every frame is resized
# to the processor's fixed size or tiles: only the processor's own sizing applies).
AREA, FIXED = "area", "fixed"
# the files in which a checkpoint states a video processor's own settings (preprocessor_config.json is the image
# processor's, which transformers falls back to for a video processor where neither exists)
VIDEO_CONFIGS = ("video_preprocessor_config.json", "processor_config.json")
# the processor arguments that set a video's pixels: a user who gives one chooses the budget
PIXEL_KEYS = ("size", "min_pixels", "max_pixels")
# Qwen's own video pipeline for the Qwen2 line (qwen-vl-utils and qwen-omni-utils: VIDEO_MIN_PIXELS = 128*28*28,
# VIDEO_MAX_PIXELS = 768*28*28), which transformers' Qwen2VLVideoProcessor also takes as its class defaults
QWEN2_VIDEO = {"shortest_edge": 128 * 28 * 28, "longest_edge": 768 * 28 * 28}
# Qwen3-Omni's: its processor's own default for videos (transformers' Qwen3OmniMoeProcessor.videos_kwargs), which
# its checkpoint's image config would otherwise be reported as
QWEN3_OMNI_VIDEO = {"shortest_edge": 128 * 32 * 32, "longest_edge": 768 * 32 * 32}


@dataclass(frozen=True)
class Family:
    name: str  # the harness's name for the family (tiny-vlm family=..., docs)
    model_types: tuple[str, ...]  # the config.model_type values it adapts
    time: str  # its time_told family: what the core tells it (request.told)
    told: str  # what it is told about time and how, in words (docs, harness list models)
    frames_in: str  # how the frames reach the model, in words
    reference: str  # the reference pixel budget, in words
    tokens_224: str  # visual tokens per frame at the reference budget for a 224x224 face crop
    presets: dict[str, str] = field(default_factory=dict)  # preset name -> hub id of a real checkpoint
    sampling_off: dict[str, Any] = field(default_factory=lambda: {"do_sample_frames": False})
    count_kwarg: str | None = None  # a processor kwarg set to the frame count (processors that resample regardless)
    fps_kwarg: str | None = None  # a processor kwarg that carries the told rate (it ignores the metadata's)
    pixels: str = FIXED
    same_frame_count: bool = False  # one batch's videos must have one frame count (stacked video tensors)
    loader: str = "AutoModelForImageTextToText"  # the transformers class that loads it
    chat_template: str | None = None  # used when a checkpoint ships none
    end_of_turn: str | None = None  # the token that ends an answer, where the chat template writes none
    quirks: str = ""  # chat-template and processor quirks, in words
    vllm: str | None = None  # vLLM's architecture for it when vLLM's model registry lists it; None: not listed
    vllm_note: str = ""  # what is known beyond that (read from vLLM's source or docs, not run here)
    tested: bool = False  # its tiny twin passes the adapter tests in CI
    audio_rate: int | None = None  # Hz at which it takes a video's sound (omni families); None: it takes none
    # its processor cuts a longer sound at its feature extractor's chunk_length (Qwen2.5-Omni's WhisperFeatureExtractor,
    # read from the checkpoint: 300 s published); False: kept whole (Qwen3-Omni)
    audio_cut: bool = False
    # how its published chat template takes a system message (harness.plugins.chat): "parts" (a list of
    # parts), "text" (a plain string: a list would print as its repr) or "into_user" (no system role)
    system: str = "parts"
    # The video budget (a video processor ``size``) handed to the processor at pixels=reference where the
    # checkpoint states none for video: transformers then builds the video processor from the image config
    # (preprocessor_config.json), an image budget (Qwen2-VL, Qwen2.5-VL, Qwen2.5-Omni: 3,136 to 12,845,056
    # pixels per frame). None: the checkpoint's own video budget (or the processor class's) applies.
    video_size: dict[str, int] | None = None
    # visual tokens 16 frames of a 224x224 clip become under the harness's request at pixels=reference, as
    # computed from the published processor files (docs/models.md, "Visual tokens"); None: not established
    tokens_16: int | None = None

    def reference_video_size(self, declared: dict[str, Any] | None) -> dict[str, int] | None:
        """The ``size`` the harness hands the video processor at pixels=reference: the family's video budget
        where the checkpoint's files state no video budget (``declared``: :func:`harness.plugins.hub.declared_video_size`,
        None or read from the image processor's preprocessor_config.json), else None (the checkpoint's own)."""
        if self.video_size is None or (declared and declared.get("source") in VIDEO_CONFIGS):
            return None
        return dict(self.video_size)

    def processor_kwargs(self, requests: list[Request]) -> dict[str, Any]:
        """The video processor arguments a batch needs beyond ``videos`` and ``video_metadata``: the
        processor's own sampling off, and whatever carries the told time where the metadata does not."""
        kwargs = dict(self.sampling_off)
        if self.count_kwarg:
            counts = {len(r.frames.array) for r in requests}
            if len(counts) > 1:
                raise ValueError(f"{self.name}: {self.count_kwarg} is one number per call, but the batch holds "
                                 f"videos of {sorted(counts)} frames")
            kwargs[self.count_kwarg] = counts.pop()
        if self.fps_kwarg:
            rates = {told_rate(r) for r in requests}
            if len(rates) > 1:  # one number per call: the plugin batches such requests by rate
                raise ValueError(f"{self.name}: {self.fps_kwarg} is one number per call, but the batch is told "
                                 f"rates {sorted(rates)}")
            kwargs[self.fps_kwarg] = rates.pop()
        return kwargs

    def batch_key(self, request: Request) -> tuple:
        """Requests with equal keys can share one processor call and one model call."""
        key: tuple = ()
        if self.same_frame_count or self.count_kwarg:
            key += (len(request.frames.array),)
        if self.fps_kwarg:
            key += (told_rate(request),)
        return key

    def request_kwargs(self, request: Request, size: dict[str, int] | None = None) -> dict[str, Any]:
        """``mm_processor_kwargs`` for one request to vLLM (in-process or served): the same switches,
        time carriers and video budget (``size``: :meth:`budget`) the transformers call gets."""
        kwargs = self.processor_kwargs([request])
        if size:
            kwargs["size"] = dict(size)
        return kwargs

    def budget(self, declared: dict[str, Any] | None, user: dict[str, Any] | None = None) -> dict[str, int] | None:
        """The video budget a vLLM request carries as ``size``: :meth:`reference_video_size`, unless the user's own
        processor arguments set the pixels (``size``, ``min_pixels``, ``max_pixels``)."""
        if any(key in (user or {}) for key in PIXEL_KEYS):
            return None
        return self.reference_video_size(declared)

    def status(self) -> str:
        return "tested (tiny twin)" if self.tested else "untested input handling"


def told_rate(request: Request) -> float:
    """The frame rate ``request`` is told (its resolved ``VideoMetadata.fps``)."""
    if request.told is None:
        raise ValueError(f"request {request.sample_id!r} was not resolved: nothing says what it is told")
    return float(request.told.metadata["fps"])


def video_kwargs(family: Family | None, video_processor, requests: list[Request],
                 size: dict[str, int] | None = None) -> dict[str, Any]:
    """Every argument of a transformers video call beyond ``videos`` and ``video_metadata``, as the hf plugin
    sends it and ``harness check model`` counts visual tokens with: the family's sampling switches and time
    carriers (:meth:`Family.processor_kwargs`), ``size`` where the harness sets the budget, and
    ``cap_pixels_per_frame`` where the processor takes it (the total-video bound of Qwen's own pipeline)."""
    kwargs = family.processor_kwargs(requests) if family is not None else {"do_sample_frames": False}
    if size:
        kwargs["size"] = size
    if "cap_pixels_per_frame" in getattr(getattr(video_processor, "valid_kwargs", None), "__annotations__", {}):
        kwargs["cap_pixels_per_frame"] = True
    return kwargs


_QWEN_TEMPLATE_NOTE = "Qwen chat (<|im_start|>role ... <|im_end|>)"

FAMILIES: dict[str, Family] = {f.name: f for f in [
    Family("qwen2-vl", ("qwen2_vl",), time_told.QWEN2, "nothing (frame order only)",
           "one video: flattened 14-pixel patches, two frames per temporal patch",
           "min 128x28x28, max 768x28x28 pixels per frame (area; Qwen's video pipeline, passed explicitly: the "
           "checkpoint ships no video-processor config)",
           "72 (224x224 brought up to 336x336: 144 tokens per 2 frames)",
           presets={"qwen2-vl": "Qwen/Qwen2-VL-7B-Instruct"}, pixels=AREA, quirks=_QWEN_TEMPLATE_NOTE,
           vllm="Qwen2VLForConditionalGeneration", tested=True, video_size=QWEN2_VIDEO, tokens_16=1152),
    Family("qwen2.5-vl", ("qwen2_5_vl",), time_told.QWEN25,
           "seconds per temporal patch (M-RoPE temporal position ids), from the told frame spacing",
           "one video: flattened 14-pixel patches, two frames per temporal patch",
           "min 128x28x28, max 768x28x28 pixels per frame (area; Qwen's video pipeline, passed explicitly: the "
           "checkpoint ships no video-processor config)",
           "72 (224x224 brought up to 336x336: 144 tokens per 2 frames)",
           presets={"qwen-vl": "Qwen/Qwen2.5-VL-7B-Instruct"}, pixels=AREA, quirks=_QWEN_TEMPLATE_NOTE,
           vllm="Qwen2_5_VLForConditionalGeneration", tested=True, video_size=QWEN2_VIDEO, tokens_16=1152),
    Family("qwen3-vl", ("qwen3_vl", "qwen3_vl_moe"), time_told.QWEN3,
           "per-frame timestamps in the prompt (<1.2 seconds>, mean of each 2-frame patch, 0.1 s)",
           "one video: flattened 16-pixel patches, two frames per temporal patch",
           "min 4,096, max 25,165,824 pixels per clip (area; the checkpoint's video_preprocessor_config.json, which "
           "also sets do_sample_frames: true, switched off)",
           "24.5 (224x224 kept: 7x7 merged tokens per 2 frames)",
           presets={"qwen3-vl": "Qwen/Qwen3-VL-8B-Instruct", "qwen3-vl-thinking": "Qwen/Qwen3-VL-8B-Thinking"},
           pixels=AREA, quirks=_QWEN_TEMPLATE_NOTE, vllm="Qwen3VLForConditionalGeneration", tested=True,
           tokens_16=392),
    Family("llava-onevision", ("llava_onevision",), time_told.ORDER,
           "nothing (frame order only)",
           "one video: every frame resized to 384x384, SigLIP features 2x2-pooled, one newline token per video",
           "384x384 per frame (fixed)", "196 (27x27 SigLIP patches pooled to 14x14)",
           presets={"llava-onevision": "llava-hf/llava-onevision-qwen2-7b-ov-hf"}, same_frame_count=True,
           quirks="Qwen chat; media tokens first in a turn, then newline and text",
           vllm="LlavaOnevisionForConditionalGeneration", tested=True),
    Family("llava-next-video", ("llava_next_video",), time_told.ORDER,
           "nothing (frame order only)",
           "one video: every frame resized and centre-cropped to 336x336, CLIP features 2x2 average-pooled",
           "shortest edge 336, centre crop 336x336 (fixed)", "144 (24x24 CLIP patches pooled by 2)",
           presets={"llava-next-video": "llava-hf/LLaVA-NeXT-Video-7B-hf"}, same_frame_count=True,
           quirks="Vicuna chat (USER: ... ASSISTANT:), no end-of-turn marker: answers end with </s>",
           vllm="LlavaNextVideoForConditionalGeneration", tested=True),
    Family("video-llava", ("video_llava",), time_told.ORDER,
           "nothing (frame order only)",
           "one video: every frame resized and centre-cropped to 224x224 for the LanguageBind video tower",
           "shortest edge 224, centre crop 224x224 (fixed)", "257 (16x16 CLIP patches plus CLS)",
           presets={"video-llava": "LanguageBind/Video-LLaVA-7B-hf"}, same_frame_count=True,
           quirks="Vicuna chat (USER: ... ASSISTANT:), no end-of-turn marker: answers end with </s>; trained on "
                  "8-frame clips", vllm=None, vllm_note="not in vLLM's model registry", tested=True),
    Family("internvl", ("internvl",), time_told.ORDER,
           "nothing (frames are numbered Frame1, Frame2, ... in the prompt: order only)",
           "one video, expanded into one image per frame (Frame<i>: <img>...</img>), each resized to 448x448",
           "448x448 per frame, no tiling for video (fixed)", "256 (32x32 patches pixel-shuffled by 0.5)",
           presets={"internvl3": "OpenGVLab/InternVL3-8B-hf", "internvl3.5": "OpenGVLab/InternVL3_5-8B-HF"},
           same_frame_count=True,
           quirks="Qwen chat with <video> placeholder; the processor never samples with do_sample_frames=False "
                  "(lmms-eval #1242: num_frames alone is ignored)", vllm="InternVLForConditionalGeneration",
           vllm_note="vLLM runs it with its InternS1 implementation",
           tested=True, tokens_16=16 * 256),
    Family("smolvlm", ("smolvlm",), time_told.GENERIC,
           "per-frame timestamps in the prompt (Frame from mm:ss:, whole seconds) and the duration (H:MM:SS)",
           "one video: each frame one image of at most 384 pixels on its longest edge (padded)",
           "longest edge 384 per frame (fixed)", "81 (27x27 patches pixel-shuffled by 3)",
           presets={"smolvlm2": "HuggingFaceTB/SmolVLM2-2.2B-Instruct"}, same_frame_count=True,
           quirks="for a video the processor replaces the checkpoint's chat template with its own "
                  "(User:/Assistant:, <end_of_utterance>); needs num2words",
           vllm=None, vllm_note="SmolVLMForConditionalGeneration is in vLLM's registry (Idefics3 image path); its video "
                                "input is not known to be supported", tested=True, tokens_16=16 * 81),
    Family("videollama3", ("video_llama_3",), time_told.GENERIC,
           "per-frame timestamps in the prompt (Time 1.2s:, 0.1 s)",
           "one video: flattened 14-pixel patches, one frame per temporal patch; patches that barely change "
           "from the previous frame are dropped (token compression, on by default)",
           "area budget shared by the clip's frames (max_pixels / frame count)",
           "144 at 8 frames, before compression (336x336 per frame)", pixels=AREA,
           presets={"videollama3-2b-image": "lkhl/VideoLLaMA3-2B-Image-HF"},
           quirks="Qwen chat; the transformers port names only this image-tuned 2B checkpoint (the 7B video "
                  "model, DAMO-NLP-SG/VideoLLaMA3-7B, is remote code)", vllm=None,
           vllm_note="not in vLLM's model registry", tested=True),
    Family("glm4v", ("glm4v",), time_told.GENERIC,
           "timestamps in the prompt after each 2-frame temporal patch (whole seconds, truncated)",
           "one video: flattened 14-pixel patches, two frames per temporal patch (M-RoPE, no time scaling)",
           "min 112x112, max 47 Mpx per clip (area)", "32 (224x224 kept: 8x8 merged tokens per 2 frames)",
           presets={"glm-4.1v-thinking": "zai-org/GLM-4.1V-9B-Thinking"}, pixels=AREA,
           quirks="[gMASK]<sop><|role|> chat; the video processor samples by default (do_sample_frames=True "
                  "in its config), switched off; a thinking model: <think>...</think><answer>...</answer>",
           end_of_turn="<|user|>", vllm="Glm4vForConditionalGeneration", tested=True, system="text"),
    Family("gemma4", ("gemma4",), time_told.GENERIC,
           "per-frame timestamps in the prompt (mm:ss before each frame, whole seconds)",
           "one video: each frame resized (aspect kept) to the soft-token budget, 16-pixel patches pooled 3x3",
           "at most 70 soft tokens per frame for video (max_soft_tokens; images default to 280)",
           "64 (224x224: 8x8 pooled tokens)",
           presets={"gemma4": "google/gemma-4-E4B-it"},
           quirks="<|turn>role ... <turn|> chat (the model's turn is 'model'); the video processor samples 32 "
                  "frames by default (do_sample_frames=True), switched off",
           vllm=None, vllm_note="not in the vLLM model registry read here; third-party docs list vLLM as an engine "
                                "for Gemma 4 (its video input not checked)", tested=True),
    Family("molmo2", ("molmo2",), time_told.GENERIC,
           "per-frame timestamps in the prompt (\"1.2 <frame_start>...\", 0.1 s), computed as frames_indices / fps",
           "one video: every frame resized to 378x378, 14-pixel patches pooled 3x3",
           "378x378 per frame (fixed)", "81 (27x27 patches pooled 3x3)",
           presets={"molmo2": "allenai/Molmo2-8B"},
           quirks="Qwen chat; the processor puts the bos token first; the video processor samples by default "
                  "(do_sample_frames=True, max_fps 2), switched off", vllm=None,
           vllm_note="not in the vLLM model registry read here (MolmoForCausalLM there is Molmo 1)", tested=True,
           system="into_user"),
    Family("minicpm-v", ("minicpmv4_6",), time_told.ORDER,
           "nothing (frame order only)",
           "one video: each frame one image (resized to the 448-pixel scale resolution, sliced when large), "
           "merged 16x", "scale resolution 448 per frame (fixed)", "64 (448x448: 32x32 patches merged 16x)",
           presets={"minicpm-v-4.6": "openbmb/MiniCPM-V-4_6"},
           sampling_off={"do_sample_frames": False, "stack_frames": 1},
           quirks="Qwen chat; the video processor samples by default (do_sample_frames=True) and, with "
                  "stack_frames > 1, would read the last frames as sub-second composites: both switched off",
           vllm="MiniCPMV4_6ForConditionalGeneration", vllm_note="in vLLM main since PR #43213 (vLLM docs)",
           tested=True),
    Family("qwen2.5-omni", ("qwen2_5_omni", "qwen2_5_omni_thinker"), time_told.QWEN25,
           "seconds per temporal patch (M-RoPE temporal position ids, 25 per second), from the told frame spacing, "
           "handed to the processor as fps (it ignores the metadata's); under --audio on the sound's tokens (one per "
           "40 ms, counted from the first sampled frame) are interleaved with the frames' by those ids, in 2-second "
           "chunks",
           "one video (the thinker only: text out): flattened 14-pixel patches, two frames per temporal patch; under "
           "--audio on the clip's sound over the frames' span (16 kHz mono, Whisper log-mel, 25 tokens a second) "
           "goes inside the video (audio-in-video)", "min 128x28x28, max 768x28x28 pixels per frame (area; Qwen's "
           "video pipeline, passed explicitly: the checkpoint ships no video-processor config)",
           "72 (224x224 brought up to 336x336: 144 tokens per 2 frames)",
           presets={"qwen2.5-omni": "Qwen/Qwen2.5-Omni-7B"}, fps_kwarg="fps", pixels=AREA,
           video_size=QWEN2_VIDEO, tokens_16=1152,
           loader="Qwen2_5OmniThinkerForConditionalGeneration",
           quirks="Qwen chat with <|vision_bos|><|VIDEO|><|vision_eos|>; loaded as its thinker (transformers' "
                  "documented Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained); its processor reads the "
                  "rate from fps (default 2.0), never from the metadata; the sound goes as audio= with "
                  "load_audio_from_video and audio_from_video_indices (never audios=, the old name), the model "
                  "gets use_audio_in_video=True; its feature extractor pads every sound to its chunk_length "
                  "and cuts longer ones (300 s published)",
           vllm="Qwen2_5OmniModel",
           vllm_note="the published architecture, Qwen2_5OmniModel: vLLM runs its thinker (a checkpoint saved as the "
                     "thinker alone is not in vLLM 0.32's registry, docs/models.md 'vLLM on a CPU'); the told rate goes "
                     "in mm_processor_kwargs fps, as to transformers",
           tested=True, audio_rate=16000, audio_cut=True),
    Family("qwen3-omni", ("qwen3_omni_moe", "qwen3_omni_moe_thinker"), time_told.QWEN25,
           "seconds per temporal patch (M-RoPE temporal position ids, 13 per second, not rounded), from the told "
           "frame spacing, handed to the processor as fps (it ignores the metadata's; its default is 1.0); under "
           "--audio on the sound's tokens (13 a second, counted from the first sampled frame) are merged with the "
           "frames' in the order of those ids",
           "one video (the thinker only: text out): flattened 16-pixel patches, two frames per temporal patch; under "
           "--audio on the clip's sound over the frames' span (16 kHz mono, Whisper log-mel, 13 tokens a second) "
           "goes inside the video (audio-in-video)", "min 128x32x32, max 768x32x32 pixels per frame (area; "
           "its processor's default for videos, passed explicitly)",
           "72 (224x224 brought up to 384x384: 144 tokens per 2 frames)",
           presets={"qwen3-omni": "Qwen/Qwen3-Omni-30B-A3B-Instruct"}, fps_kwarg="fps", pixels=AREA,
           video_size=QWEN3_OMNI_VIDEO, tokens_16=1152,
           loader="Qwen3OmniMoeThinkerForConditionalGeneration",
           quirks="Qwen chat with <|vision_start|><|video_pad|><|vision_end|>; a mixture-of-experts text model; "
                  "loaded as its thinker (Qwen3OmniMoeThinkerForConditionalGeneration), no talker; its processor "
                  "reads the rate from fps (default 1.0), never from the metadata; the sound goes as audio= with "
                  "load_audio_from_video and audio_from_video_indices, the model gets use_audio_in_video=True",
           vllm="Qwen3OmniMoeForConditionalGeneration",
           vllm_note="vLLM's registry maps it to its Qwen3OmniMoeThinkerForConditionalGeneration (text out); the "
                     "told rate goes in mm_processor_kwargs fps, as to transformers",
           tested=True, audio_rate=16000),
    Family("perception-lm", ("perception_lm",), time_told.ORDER,
           "nothing (frame order only)",
           "one video: every frame resized to 448x448 for the Perception Encoder, features 2x2-pooled",
           "448x448 per frame (fixed)", "256 (32x32 patches pooled by 2)",
           presets={"perception-lm": "facebook/Perception-LM-8B"}, same_frame_count=True,
           quirks="Llama-3 chat (<|eot_id|>); its vision tower is a timm model (needs timm)", vllm=None,
           vllm_note="not in vLLM's model registry", tested=True, system="text"),
]}


def get(name: str) -> Family:
    if name not in FAMILIES:
        raise KeyError(f"unknown family {name!r}; known: {', '.join(FAMILIES)}")
    return FAMILIES[name]


def for_model_type(model_type: str | None) -> Family | None:
    """The family adapting ``config.model_type`` (None: no adapter; the generic path applies)."""
    for family in FAMILIES.values():
        if model_type in family.model_types:
            return family
    return None


def guess(name: str | None) -> Family | None:
    """The family of a model type, or of a checkpoint or served name that mentions one."""
    found = for_model_type(name)
    if found or not name:
        return found
    key = str(name).lower().replace("_", "-")
    for family in sorted(FAMILIES.values(), key=lambda f: -len(f.name)):  # qwen2.5-vl before qwen2-vl
        if family.name in key or any(t.replace("_", "-") in key for t in family.model_types):
            return family
    return None


def presets() -> dict[str, tuple[str, Family]]:
    """Every preset: name -> (hub id, family)."""
    return {p: (hub_id, f) for f in FAMILIES.values() for p, hub_id in f.presets.items()}
