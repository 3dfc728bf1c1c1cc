"""What a checkpoint's chat template is handed and what it means, the same on every backend.

Real chat templates differ in ways a twin's never did, and each difference changes what the model
reads (docs/models.md, "The checkpoint contract"):

- how a system message goes in: as a list of parts (SmolVLM's and LLaVA-NeXT-Video's templates
  drop a plain string), as plain text (GLM-4.1V's and Perception-LM's print a list as its Python
  repr), or folded into the user's turn (Molmo2's raises on a system role);
- what an answer is, token for token: the template's rendering of ``[..., assistant=answer]`` minus
  its generation prompt (a prefix space where the template writes ``Assistant: happy`` after a
  generation prompt ending in ``Assistant:``; the end-of-turn marker it writes; an empty reasoning
  block a thinking template opens);
- which tokens end an answer, and whether the tokenizer adds a BOS the template already wrote;
- which special tokens carry meaning in an answer (``<think>``, ``<answer>``: kept when decoding).

The ``hf`` plugin and the vLLM engine both take these from here; the server plugin sends the same
messages and lets the server render them. Nothing here imports torch.
"""

from __future__ import annotations

import json
from typing import Any

from harness.errors import UsageError

# How a family's template takes a system message.
PARTS, TEXT, INTO_USER = "parts", "text", "into_user"

# Special tokens that carry meaning in an answer: the parser reads them (harness.parsing).
MEANINGFUL = ("<think>", "</think>", "<answer>", "</answer>", "<|begin_of_box|>", "<|end_of_box|>")


def system_text(message: dict) -> str:
    content = message["content"]
    return content if isinstance(content, str) else "\n".join(p["text"] for p in content if p.get("type") == "text")


def messages_for(messages: list[dict], system: str = PARTS) -> list[dict]:
    """The harness's messages (content as lists of parts) in the form the family's template takes."""
    if not messages or messages[0]["role"] != "system" or system == PARTS:
        return messages
    text = system_text(messages[0])
    rest = messages[1:]
    if system == TEXT:
        return [{"role": "system", "content": text}, *rest]
    if system != INTO_USER:
        raise ValueError(f"unknown system form {system!r}")
    if not rest or rest[0]["role"] != "user":
        raise ValueError("a system message folded into the user's turn needs a user message after it")
    content = list(rest[0]["content"])
    first_text = next((i for i, p in enumerate(content) if p.get("type") == "text"), None)
    if first_text is None:
        content.append({"type": "text", "text": text})
    else:
        content[first_text] = {**content[first_text], "text": text + "\n\n" + content[first_text]["text"]}
    return [{**rest[0], "content": content}, *rest[1:]]


def render(processor, messages: list[dict], generation_prompt: bool) -> str:
    return processor.apply_chat_template(messages, add_generation_prompt=generation_prompt, tokenize=False)


def adds_bos(tokenizer, text: str) -> bool:
    """Whether to let the tokenizer add its special tokens to a rendered prompt: not when the template
    already wrote the BOS (Perception-LM), so that exactly one BOS starts the prompt on every backend."""
    bos = getattr(tokenizer, "bos_token", None)
    return not (bos and text.startswith(bos))


def encode(tokenizer, text: str) -> list[int]:
    """A rendered prompt's token ids as the model reads them (one BOS where it expects one)."""
    return tokenizer(text, add_special_tokens=adds_bos(tokenizer, text))["input_ids"]


def answer_frame(processor, messages: list[dict], end_token: str | None) -> tuple[str, str, str]:
    """``(prompt, before, after)``: the generation prompt, and the text the template writes right after it
    before and after an answer, up to and including the end of the turn (``end_token``, or the template's
    own marker). Rendered once per message shape; every answer then goes between ``before`` and ``after``.

    Raises UsageError when the template's answer is no continuation of its generation prompt (score
    mode would then score something the model never writes)."""
    marker = "\u2063QZXQ\u2063"
    prompt = render(processor, messages, True)
    full = _with_answer(processor, messages, marker)
    bare = render(processor, messages, False)
    opener = prompt[len(bare):] if prompt.startswith(bare) else ""  # the generation prompt's own text
    if full.startswith(prompt) and marker in full[len(prompt):]:
        turn = full[len(prompt):]
    elif opener and full.startswith(bare) and marker in full and _same_but_space(
            full[len(bare):full.index(marker)], opener):
        # the template's answer turn opens like its generation prompt but for white space (LLaVA-OneVision's
        # "<|im_start|>assistant \n", Molmo2's " <|im_start|>assistant\n"): the model, prompted with the
        # generation prompt, writes the answer right after it
        turn = full[full.index(marker):]
    else:
        turn = ""
    if marker not in turn:
        raise UsageError("the chat template does not write an answer as a continuation of its generation prompt "
                         f"(generation prompt ends {prompt[-40:]!r}; the answer turn reads "
                         f"{full[len(bare):len(bare) + 80]!r}), so score mode would score text the model never "
                         "writes; use mode=generate")
    before, after = turn.split(marker, 1)
    if end_token and end_token in after:
        after = after[:after.index(end_token) + len(end_token)]
    elif end_token:
        after = end_token  # the template writes no end marker: the turn ends with the family's token
    return prompt, before, after


def answer_suffix(processor, messages: list[dict], answer: str, end_token: str | None) -> str:
    """The text the template writes for ``answer`` right after its generation prompt (:func:`answer_frame`)."""
    _, before, after = answer_frame(processor, messages, end_token)
    return before + answer + after


def _with_answer(processor, messages: list[dict], answer: str) -> str:
    """The conversation rendered with ``answer`` as the assistant's turn, its content in the form the template
    prints as text: a list of parts (Perception-LM's filters parts by type), else a plain string (GLM-4.1V's
    prints ``{{ content }}``, a list as its repr)."""
    text = ""
    for content in ([{"type": "text", "text": answer}], answer):
        text = render(processor, [*messages, {"role": "assistant", "content": content}], False)
        if answer in text and "{'type': 'text'" not in text.split(answer, 1)[0][-40:]:
            return text
    return text


def _same_but_space(a: str, b: str) -> bool:
    return "".join(a.split()) == "".join(b.split())


def answer_ids(processor, tokenizer, messages: list[dict], answer: str, end_token: str | None) -> list[int]:
    """The token ids score mode scores for ``answer``: tokenized together with the prompt, as the model
    reads them, then cut at the prompt's length (a prefix space merges into the answer's first token)."""
    return AnswerIds(processor, tokenizer, end_token)(messages, answer)


class AnswerIds:
    """:func:`answer_ids` per (messages, answer), computed once: a run asks the same few answers after the
    same few message shapes (the frames are not in the messages), so the template is rendered and the
    prompt tokenized once per shape, and each answer tokenized once."""

    def __init__(self, processor, tokenizer, end_token: str | None):
        self.processor, self.tokenizer, self.end_token = processor, tokenizer, end_token
        self._frames: dict[str, tuple[str, str, str, list[int]]] = {}
        self._ids: dict[tuple[str, str], list[int]] = {}

    def __call__(self, messages: list[dict], answer: str) -> list[int]:
        shape = json.dumps(messages, sort_keys=True)
        if (shape, answer) not in self._ids:
            if shape not in self._frames:
                prompt, before, after = answer_frame(self.processor, messages, self.end_token)
                self._frames[shape] = (prompt, before, after, encode(self.tokenizer, prompt))
            prompt, before, after, base = self._frames[shape]
            suffix = before + answer + after
            whole = encode(self.tokenizer, prompt + suffix)
            if whole[:len(base)] != base:  # the answer's first token merged with the prompt's last one
                ids = self.tokenizer(suffix, add_special_tokens=False)["input_ids"]
            else:
                ids = whole[len(base):]
            self._ids[(shape, answer)] = ids
        return self._ids[(shape, answer)]


def end_of_turn_text(processor, end_of_turn: str | None) -> str | None:
    """The text that ends an answer: the family's declared token, else what the template writes right
    after an answer (``<|im_end|>``), else None (the tokenizer's EOS then ends it)."""
    if end_of_turn:
        return end_of_turn
    marker = "\u2063QZXQ\u2063"
    text = _with_answer(processor, [{"role": "user", "content": [{"type": "text", "text": "x"}]}], marker)
    after = (text.split(marker, 1)[1] if marker in text else "").strip()
    tokenizer = getattr(processor, "tokenizer", processor)
    ids = tokenizer(after, add_special_tokens=False)["input_ids"] if after else []
    if ids:  # a marker is a special (added) token: its text is its token (plain text after an answer is not one)
        token = tokenizer.convert_ids_to_tokens(ids[0])
        if token in getattr(tokenizer, "get_added_vocab", dict)() and after.startswith(token):
            return token
    return getattr(tokenizer, "eos_token", None)


def end_of_answer_ids(tokenizer, end_token: str | None, shipped: Any = None) -> list[int]:
    """Every token that ends a generated answer: the checkpoint's generation_config EOS ids (when it
    ships any), the end-of-turn token score mode uses, and the tokenizer's EOS. Never empty."""
    ids: list[int] = []
    shipped = [shipped] if isinstance(shipped, int) else list(shipped or [])
    end = tokenizer.convert_tokens_to_ids(end_token) if end_token else None
    for i in [*shipped, end, getattr(tokenizer, "eos_token_id", None)]:
        if isinstance(i, int) and i >= 0 and i not in ids:
            ids.append(i)
    if not ids:
        raise UsageError("nothing says which token ends an answer (no EOS in generation_config.json or the tokenizer, "
                         "and no end-of-turn token): answers would run to max_new_tokens")
    return ids


def decode_answer(tokenizer, ids) -> str:
    """Generated ids as text, special tokens dropped except the ones that carry meaning (GLM-4.1V's
    ``<think>``/``<answer>`` are special tokens: skipping them would turn a correct answer into a hedge)."""
    keep = {tokenizer.convert_tokens_to_ids(t) for t in MEANINGFUL} - {None, getattr(tokenizer, "unk_token_id", None)}
    drop = set(getattr(tokenizer, "all_special_ids", [])) - keep
    return tokenizer.decode([int(i) for i in ids if int(i) not in drop], skip_special_tokens=False)
