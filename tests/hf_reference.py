"""The slow path score mode is checked against: prompt plus each candidate run in full.

A test oracle, so it lives with the tests: one forward pass per request over
prompt and right-padded candidates, the video re-encoded each time.
"""

from __future__ import annotations

from harness.types import Request


def reference_scores(model, request: Request, conts: list[list[int]]) -> list[float]:
    """Prompt plus each candidate, right-padded, in one forward pass per request (video re-encoded)."""
    torch = model.torch
    base = model.model_inputs([request] * len(conts))
    prompt_len = base["input_ids"].shape[1]
    longest = max(len(t) for t in conts)
    extra = torch.full((len(conts), longest), model.tokenizer.pad_token_id, dtype=base["input_ids"].dtype)
    mask = torch.zeros((len(conts), longest), dtype=base["attention_mask"].dtype)
    for row, t in enumerate(conts):
        extra[row, :len(t)] = torch.tensor(t)
        mask[row, :len(t)] = 1
    inputs = dict(base)
    for key, value in base.items():  # every per-token tensor grows with the candidate tokens
        if hasattr(value, "shape") and value.dim() == 2 and value.shape == base["input_ids"].shape:
            fill = extra if key == "input_ids" else mask if key == "attention_mask" else torch.zeros_like(extra)
            inputs[key] = torch.cat([value, fill.to(value.device, value.dtype)], dim=1)
    logprobs = torch.log_softmax(model.model(**inputs).logits.float(), dim=-1)
    out = []
    for row, t in enumerate(conts):
        positions = torch.arange(prompt_len - 1, prompt_len - 1 + len(t), device=logprobs.device)
        out.append(logprobs[row, positions, torch.tensor(t, device=logprobs.device)].sum().item())
    return out


def reference_choice_scores(model, requests: list[Request]) -> list[list[float]]:
    """What ``model.choice_scores`` must return, computed the slow way."""
    with model.torch.inference_mode():
        return [reference_scores(model, r, model.continuations(r)) for r in requests]
