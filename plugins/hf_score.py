"""Score mode of the ``hf`` plugin: the log-likelihood of every candidate's whole answer.

Each candidate is scored as its exact string followed by the end-of-turn
token, after the prompt and its video, so ``sad`` does not also collect the
mass of ``sadness``. The prompt is encoded once per batch and every candidate
continues from a copy of its key-value cache, with the position ids
generation would use. ``prior_correction`` adds an answer corrected by a
content-free prior (contextual calibration, Zhao et al. 2021). A request with its sound (an omni
family under ``--audio on``) is scored with the sound inside its video: the processor's inputs carry
``use_audio_in_video``, so the prompt pass is told it as generation is.
"""

from __future__ import annotations

import copy
import inspect
import json
from dataclasses import replace

import numpy as np

from harness.types import Request, Response

# Pixel levels of the content-free videos a prior is estimated from (black, mid-grey, white).
CONTENT_FREE_LEVELS = (0, 128, 255)


class ScoreMode:
    """Mixed into :class:`harness.plugins.hf.HFModel`: uses its processor, tokenizer, model and ``model_inputs``."""

    def continuations(self, request: Request) -> list[list[int]]:
        """The token ids of each whole answer as the prompt asks for it: the exact string, then the
        end-of-turn token, so ``sad`` does not also collect the mass of ``sadness``."""
        messages = self._messages(request)
        return [self.answer_ids(messages, c) for c in request.candidates]

    def choice_scores(self, requests: list[Request], inputs=None) -> list[list[float]]:
        """Log-likelihood of each candidate's whole answer (its tokens, then end-of-turn) after each prompt.

        The prompt and its video are encoded once per batch; each candidate then
        continues from a copy of that key-value cache, with the position ids
        generation would use (``tests/hf_reference.py`` checks it against
        prompt plus candidate run in full).
        """
        self._load()
        with self.torch.inference_mode():
            conts = [self.continuations(r) for r in requests]
            return self._cached_scores(requests, conts, inputs)

    def _cached_scores(self, requests: list[Request], conts: list[list[list[int]]], inputs=None) -> list[list[float]]:
        torch = self.torch
        inputs = inputs if inputs is not None else self.model_inputs(requests)
        self.last_meta = self.input_meta(inputs)
        mask = inputs["attention_mask"]
        core = getattr(self.model, "model", None)
        extra = {}
        if not hasattr(core, "rope_deltas") and "position_ids" in inspect.signature(self.model.forward).parameters:
            # 1-D positions counted from each row's first real token, as generate counts them: a left-padded
            # row then reads exactly as it would alone, and its candidates continue from the same positions.
            # (Multimodal rotary models, which keep rope_deltas, compute theirs from the mask themselves.)
            extra["position_ids"] = (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 1)
        out = self.model(**inputs, **extra, use_cache=True)  # with use_audio_in_video when a sound is inside
        cache = getattr(out, "cache", None) or out.past_key_values
        first = torch.log_softmax(out.logits[:, -1, :].float(), dim=-1)  # left padding: last column is real
        prefix = mask.shape[1]
        scores = [[0.0] * len(c) for c in conts]
        for index in range(max(len(c) for c in conts)):
            # a row with fewer candidates rides along on its first one; only its own candidates are read
            tokens = [c[index] if index < len(c) else c[0] for c in conts]
            own = [index < len(c) for c in conts]
            for row, t in enumerate(tokens):
                if own[row]:
                    scores[row][index] = first[row, t[0]].item()
            width = max(len(t) for t in tokens) - 1  # feed all but the last token; read the next ones
            ids = torch.full((len(tokens), width), self.tokenizer.pad_token_id, dtype=inputs["input_ids"].dtype)
            new_mask = torch.zeros((len(tokens), width), dtype=mask.dtype)
            for row, t in enumerate(tokens):
                ids[row, :len(t) - 1] = torch.tensor(t[:-1])
                new_mask[row, :len(t) - 1] = 1
            full_mask = torch.cat([mask, new_mask.to(mask.device)], dim=1)
            positions = (full_mask.long().cumsum(-1) - 1).masked_fill(full_mask == 0, 1)[:, prefix:]
            deltas = getattr(core, "rope_deltas", None)
            if deltas is not None:  # multimodal rotary positions continue from the prompt's, as in generate
                positions = positions[None] + deltas.to(positions.device)
            step = self.model(input_ids=ids.to(self.device), attention_mask=full_mask, position_ids=positions,
                              cache_position=torch.arange(prefix, prefix + width, device=mask.device),
                              use_cache=True, **{self.cache_kwarg: copy.deepcopy(cache)})
            logprobs = torch.log_softmax(step.logits.float(), dim=-1)
            for row, t in enumerate(tokens):
                for j, token in enumerate(t[1:] if own[row] else []):
                    scores[row][index] += logprobs[row, j, token].item()
        return scores

    def _normalise(self, scores: list[float], request: Request) -> list[float]:
        if not self.args.get("length_norm"):
            return scores
        return [s / len(t) for s, t in zip(scores, self.continuations(request))]

    def _prior(self, request: Request) -> list[float]:
        """Per-choice log-prior from content-free inputs (contextual calibration, Zhao et al. 2021):
        the same prompt, candidates and timing with black, mid-grey and white frames, their
        candidate probabilities averaged; a request with its sound hears silence of the same length
        (the same tokens, no content). A pure function of the request's prompt, choices, frame size,
        told timing and sound length, so it never depends on which clip came first."""
        told = request.told.metadata if request.told is not None else None
        audio = request.frames.audio
        heard = [audio.rate, len(audio.samples)] if audio is not None else None
        key = json.dumps([list(request.choices), list(request.frames.array.shape), request.messages, told, heard],
                         sort_keys=True, default=str)
        if key not in self.prior_cache:
            torch = self.torch
            silence = replace(audio, samples=np.zeros_like(audio.samples)) if audio is not None else None
            probs = []
            for level in CONTENT_FREE_LEVELS:
                blank = replace(request, frames=replace(request.frames, audio=silence, digest=None,
                                                        array=np.full_like(request.frames.array, level)))
                raw = torch.tensor(self._normalise(self.choice_scores([blank])[0], request))
                probs.append(torch.softmax(raw, dim=0))
            self.prior_cache[key] = torch.log(torch.stack(probs).mean(dim=0)).tolist()
        return self.prior_cache[key]

    def score(self, requests: list[Request], inputs=None) -> list[Response]:
        out = []
        raws = self.choice_scores(requests, inputs=inputs)
        for request, raw, meta in zip(requests, raws, self.last_meta):
            scores = self._normalise(raw, request)
            cands = list(request.candidates)
            best = max(range(len(scores)), key=lambda i: scores[i])
            response = Response(text=cands[best], scores=dict(zip(request.choices, scores)),
                                meta=dict(meta))
            if self.args.get("prior_correction"):
                corrected = [s - p for s, p in zip(scores, self._prior(request))]
                response.variants["prior_corrected"] = cands[max(range(len(corrected)), key=lambda i: corrected[i])]
            out.append(response)
        return out
