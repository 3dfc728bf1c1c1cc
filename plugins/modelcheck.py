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
