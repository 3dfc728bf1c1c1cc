"""The checkpoint contract, run on a real checkpoint's files before a long run (``harness check model``).

A tiny twin accepts whatever the harness sends; a real checkpoint's chat template, tokenizer and
processor configs may not (docs/models.md, "The checkpoint contract"). These checks read only the
checkpoint's small files (template, tokenizer, processor and generation configs: no weights) and
say, one line each, whether the harness's request reaches the model as meant, with the fix where one
fails. ``harness run`` runs the same checks when the hf plugin loads, so a misconfigured real run
fails in seconds instead of after an hour.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.errors import UsageError
from harness.model import Check
from harness.plugins import chat
from harness.prompts import NAMES

CLASSES = ("happy", "sad", "neutral", "angry", "surprise", "disgust", "fear")
OPENERS = (("<think>", "</think>"), ("<|channel>", "<channel|>"))  # reasoning blocks a generation prompt may open


def _config(folder: Path | None, filename: str) -> dict | None:
    if folder is None or not (folder / filename).is_file():
        return None
    try:
        return json.loads((folder / filename).read_text())
    except ValueError as exc:
        raise UsageError(f"{folder / filename}: not valid JSON ({exc}); the checkpoint's file is damaged") from None


def contract(processor, adapter, folder: Path | None = None) -> list[Check]:
    """Every check of the contract for one checkpoint's processor (its tokenizer and chat template),
    under the family ``adapter`` (None: no adapter, the generic path)."""
    tok = processor.tokenizer
    system = adapter.system if adapter else chat.PARTS
    messages = chat.messages_for(NAMES.render(CLASSES), system)
    out: list[Check] = []
    where = adapter.name if adapter else "this checkpoint"

    # 1. the template renders the harness's messages; the system text appears once, as text
    try:
        prompt = chat.render(processor, messages, True)
    except Exception as exc:  # jinja's own errors (raise_exception, undefined names) come in many types
        out.append(Check("template renders", False, f"{type(exc).__name__}: {exc}",
                         "name its family (--model-args family=NAME, 'harness list models') or declare how the "
                         "family's template takes a system message (Family.system: parts, text or into_user)"))
        return out
    out.append(Check("template renders", True, f"{len(prompt)} characters"))
    seen = prompt.count(NAMES.system)
    repr_ = "{'type': 'text'" in prompt or '{"type": "text"' in prompt
    out.append(Check("system text once, as text", seen == 1 and not repr_,
                     "printed as a Python repr" if repr_ else f"appears {seen} time(s) (system form {system!r})",
                     f"set {where}'s system form: 'text' where the template prints a list, 'parts' where it drops a "
                     "string, 'into_user' where it has no system role"))

    # 2. exactly one BOS where the model expects one (its tokenizer adds one or its template writes one)
    ids = chat.encode(tok, prompt)
    bos = getattr(tok, "bos_token_id", None)
    leading = 0
    while bos is not None and leading < len(ids) and ids[leading] == bos:
        leading += 1
    adds = bos is not None and tok("x")["input_ids"][:1] == [bos]  # what the tokenizer does, not what it claims
    expects = bos is not None and (adds or prompt.startswith(tok.bos_token))
    out.append(Check("one BOS", leading == (1 if expects else 0),
                     f"{leading} BOS token(s) at the start, {'one' if expects else 'none'} expected"
                     if bos is not None else "the tokenizer has no BOS token",
                     "the template and the tokenizer both add one, or neither does: harness.plugins.chat.encode "
                     "decides whether the tokenizer adds its special tokens"))

    # 3. what ends an answer, the same set on every backend
    end_text = chat.end_of_turn_text(processor, adapter.end_of_turn if adapter else None)
    generation = _config(folder, "generation_config.json") or {}
    try:
        ends = chat.end_of_answer_ids(tok, end_text, generation.get("eos_token_id"))
        names = [tok.convert_ids_to_tokens(i) for i in ends]
        note = "" if generation.get("eos_token_id") is not None else " (generation_config.json names no EOS)"
        out.append(Check("end of answer", True, f"{names}{note}"))
    except UsageError as exc:
        out.append(Check("end of answer", False, str(exc), "declare the family's end_of_turn token"))

    # 4. score mode scores what the model writes; 5. a reasoning block the generation prompt opens is closed
    try:
        suffix = chat.answer_suffix(processor, messages, "happy", end_text)
        written = chat.answer_ids(processor, tok, messages, "happy", end_text)
        shown = tok.convert_ids_to_tokens(written)
        out.append(Check("score mode scores what the model writes", True, f"'happy' is scored as {shown}"))
    except UsageError as exc:
        suffix = None
        out.append(Check("score mode scores what the model writes", False, str(exc), "use mode=generate"))
    tail = prompt[-200:]
    for opener, closer in OPENERS:
        if opener in tail and closer not in tail[tail.rindex(opener):]:
            closed = suffix is not None and closer in suffix.split("happy", 1)[0]
            out.append(Check("reasoning block", closed,
                             f"the generation prompt opens {opener}; score mode scores "
                             + ("the template's empty-thinking form first" if closed else "inside the open block"),
                             "score mode cannot score this template; use mode=generate with a token budget that can "
                             "finish a thought (max_new_tokens)"))
    if not any(o in tail for o, _ in OPENERS):
        out.append(Check("reasoning block", True, "the generation prompt opens none"))

    # 6. the processor's own frame sampling is off (the protocol's frames are the model's frames)
    video = getattr(processor, "video_processor", None)
    if video is not None:
        sent = adapter.sampling_off if adapter is not None else {"do_sample_frames": False}
        off = sent.get("do_sample_frames") is False
        out.append(Check("frame sampling off", off, f"the video processor's do_sample_frames is "
                         f"{getattr(video, 'do_sample_frames', None)}; the harness passes "
                         + ", ".join(f"{k}={v}" for k, v in sent.items()),
                         "the family's sampling_off must pass do_sample_frames=False"))
    # 6b. 16 frames of a 224x224 clip, sent as the hf plugin sends them, through the checkpoint's own processor
    # files: the frames the processor keeps and the visual tokens they become
    if video is not None and folder is not None and any((folder / f).is_file() for f in PROCESSOR_FILES):
        out.extend(frame_budget(processor, adapter, folder, prompt))
    # 7. the sound a processor keeps, read from its feature extractor (what the hf plugin refuses beyond)
    extractor = getattr(processor, "feature_extractor", None)
    if adapter is not None and adapter.audio_rate:
        limit = audio_limit(processor, adapter)
        out.append(Check("sound kept", extractor is not None,
                         "no feature extractor" if extractor is None else
                         f"the processor keeps {limit:g} s of sound (feature extractor's chunk_length); longer sound "
                         "fails its sample" if limit else "the processor keeps the whole sound",
                         "the checkpoint's preprocessor_config.json lacks its feature extractor"))
    return out


def audio_limit(processor, adapter) -> float | None:
    """Seconds of sound the processor keeps (None: all of it): its feature extractor's ``n_samples`` over
    its rate, for a family whose processor cuts (``Family.audio_cut``)."""
    extractor = getattr(processor, "feature_extractor", None)
    if adapter is None or not adapter.audio_cut or extractor is None:
        return None
    return extractor.n_samples / extractor.sampling_rate


# the files a processor's settings come from (a folder with none of them has nothing of its own to count)
PROCESSOR_FILES = ("video_preprocessor_config.json", "processor_config.json", "preprocessor_config.json")
FRAMES, SIDE = 16, 224  # the clip the documented visual-token counts are for: 16 frames of a 224x224 face crop


def published_processor(processor, folder: Path):
    """``processor`` with the video processor and the processor-level settings (``image_seq_length``, ...) that
    ``folder``'s files give, as transformers builds them: the video processor from video_preprocessor_config.json,
    else processor_config.json's ``video_processor``, else the image processor's preprocessor_config.json (the
    fallback that gave the Qwen2 line an image budget). A folder with none of them keeps ``processor``'s own."""
    import copy
    out = copy.copy(processor)
    nested = _config(folder, "processor_config.json") or {}
    for key, value in nested.items():
        if not isinstance(value, dict) and key not in ("processor_class", "chat_template") and hasattr(out, key):
            setattr(out, key, value)
    video = processor.video_processor
    if (folder / "video_preprocessor_config.json").is_file() or "video_processor" in nested \
            or (folder / "preprocessor_config.json").is_file():
        out.video_processor = type(video).from_pretrained(str(folder))
    return out


def count_visual_tokens(processor, inputs) -> int:
    """The placeholder tokens a processor call expanded for the video and its frames (video and image tokens)."""
    tok = processor.tokenizer
    ids = set()
    for kind in ("video", "image"):
        found = getattr(processor, f"{kind}_token_id", None)
        if found is None and isinstance(getattr(processor, f"{kind}_token", None), str):
            found = tok.convert_tokens_to_ids(getattr(processor, f"{kind}_token"))
        if isinstance(found, int) and found != getattr(tok, "unk_token_id", None):
            ids.add(found)
    row = inputs["input_ids"][0].tolist()
    return sum(1 for i in row if i in ids)


def frames_kept(video, inputs) -> int | None:
    """How many frames the video processor kept of those it was handed (None where its output does not say)."""
    if "video_grid_thw" in inputs:
        return int(inputs["video_grid_thw"][0][0]) * int(getattr(video, "temporal_patch_size", 1) or 1)
    values = inputs.get("pixel_values_videos")
    if values is not None and getattr(values, "ndim", 0) == 5:
        return int(values.shape[1])
    return None


def harness_call(processor, adapter, folder: Path, prompt: str, frames: int = FRAMES, side: int = SIDE):
    """The processor's inputs for a ``frames``-frame ``side`` x ``side`` clip as the hf plugin sends it at
    pixels=reference (the family's sampling switches, time carriers and video budget, the told metadata), the
    arguments it sent, and the video budget ``folder``'s files declare (:func:`harness.plugins.hub.declared_video_size`)."""
    import numpy as np
    from transformers.video_utils import VideoMetadata

    from harness.frames import time_told
    from harness.plugins import families, hub
    from harness.request_rules import told_metadata
    from harness.types import Frames, Request

    rate = 8.0
    clip = Frames(array=np.full((frames, side, side, 3), 128, dtype=np.uint8), indices=list(range(frames)),
                  timestamps=[i / rate for i in range(frames)], fps=rate, duration=frames / rate, total_frames=frames)
    request = Request(sample_id="contract", frames=clip, messages=[], choices=CLASSES, resolved=True,
                      told=time_told.tell(clip, adapter.time if adapter is not None else time_told.GENERIC))
    declared = hub.declared_video_size(str(folder), None)
    size = adapter.reference_video_size(declared) if adapter is not None else None
    video = processor.video_processor
    kwargs = families.video_kwargs(adapter, video, [request], size)
    metadata = VideoMetadata(**told_metadata(request), width=side, height=side)
    inputs = processor(text=[prompt], videos=[clip.array], video_metadata=[metadata], return_tensors="pt",
                       padding=True, **kwargs)
    return inputs, kwargs, declared


def frame_budget(processor, adapter, folder: Path, prompt: str) -> list[Check]:
    """Two checks on 16 frames of a 224x224 clip sent as the hf plugin sends them, computed with the video
    processor the checkpoint's files build (no weights): the processor's own frame sampling is off (16 frames in,
    16 kept), and the visual tokens equal the family's documented count (Family.tokens_16)."""
    try:
        built = published_processor(processor, folder)
        inputs, kwargs, declared = harness_call(built, adapter, folder, prompt)
    except Exception as exc:  # a processor refusing the request is itself the finding
        return [Check("visual tokens", False, f"the processor refused 16 frames of 224x224: {type(exc).__name__}: "
                      f"{exc}", "run `harness run` on one clip to see the same error")]
    out = []
    kept = frames_kept(built.video_processor, inputs)
    if kept is not None:
        out.append(Check("frame sampling off (16 frames)", kept == FRAMES,
                         f"{FRAMES} frames in, {kept} kept (do_sample_frames="
                         f"{kwargs.get('do_sample_frames')}; the checkpoint's is "
                         f"{getattr(built.video_processor, 'do_sample_frames', None)})",
                         "the family's sampling_off must switch off every way its processor resamples "
                         "(do_sample_frames=False, and count_kwarg where it resamples regardless)"))
    tokens = count_visual_tokens(built, inputs)
    size = kwargs.get("size")
    default = (getattr(type(built), "videos_kwargs", None) or {}).get("size")  # a processor's own (Qwen omni)
    if size:
        budget = (f"the family's video budget {size['shortest_edge']}..{size['longest_edge']} pixels, passed "
                  "explicitly (the checkpoint states none for video)")
    elif default:
        budget = (f"the processor's own default for videos ({type(built).__name__}: {default['shortest_edge']}.."
                  f"{default['longest_edge']} pixels)")
    else:
        budget = f"the checkpoint's own ({(declared or {}).get('source', 'processor class defaults')})"
    documented = adapter.tokens_16 if adapter is not None else None
    detail = f"{FRAMES} frames of {SIDE}x{SIDE} become {tokens} visual tokens; budget: {budget}"
    if (folder / "harness_tiny.json").is_file():  # a tiny twin: toy sizes by design
        out.append(Check("visual tokens", True, f"{detail} (a tiny twin's toy budget; documented for the real "
                                                f"checkpoint: {documented})"))
    elif documented is None:
        out.append(Check("visual tokens", True, f"{detail} (no documented count for this family)"))
    else:
        out.append(Check("visual tokens", tokens == documented, f"{detail}; docs/models.md states {documented}",
                         "this checkpoint's video budget is not its family's reference: set it explicitly "
                         "(--model-args min_pixels=...,max_pixels=...) and say so, or, if the family's published "
                         "budget changed, correct Family.video_size / tokens_16 and docs/models.md"))
    return out
