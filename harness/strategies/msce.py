"""``msce``: multi-stage context enrichment, the seed paper's probe of sparse sampling.

1. K sparse keyframes (``k``, default 4, uniform over the decoded clip);
2. for each stretch between consecutive keyframes, a **captioner** (any
   registered model in generate mode; by default the evaluated model itself,
   ``captioner=NAME``, ``captioner_args=k=v;k=v``) is asked for one sentence on
   how the face changes, shown the stretch as a short video (``stretch``
   frames, default 4, with their real timing) under a recorded caption prompt;
3. the evaluated model gets the keyframes as still images with their times and
   the summaries in time order, ``layout=interleaved`` (default) or ``block``
   (all keyframes, then all summaries), then the usual question.

Captions go through the response cache like any answer (keyed by the
captioner's identity, the stretch's frames and the caption prompt), are
logged per sample and counted in the results; a captioner that fails on one
stretch fails only that sample.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.errors import StrategyError
from harness.prompts import SYSTEM
from harness.strategy import Strategy, StrategyContext
from harness.types import FrameProtocol, Frames, Request, Sample

CAPTION_PROMPT = ("These frames show a person's face from {start:.2f} s to {end:.2f} s. In one sentence, "
                  "describe how the facial expression changes.")
INTRO = ("Below are keyframes of a video of a person's face, each with its time, and a description of what "
         "happens between them.")


def _subset(frames: Frames, positions: list[int]) -> Frames:
    return Frames(array=frames.array[positions], indices=[frames.indices[p] for p in positions],
                  timestamps=[frames.timestamps[p] for p in positions] if frames.timestamps else None,
                  fps=frames.fps, total_frames=frames.total_frames, time_base=frames.time_base,
                  duration=frames.duration)


def _uniform(n: int, k: int) -> list[int]:
    return sorted({int(i) for i in np.linspace(0, n - 1, min(k, n)).round()})


class MSCE(Strategy):
    name = "msce"
    description = "multi-stage context enrichment: K keyframes plus a captioner's summary of each stretch between"
    PARAMS = ("k", "stretch", "layout", "captioner", "captioner_args", "max_frames")

    def __init__(self, params: dict[str, Any]):
        super().__init__(params)
        self.k = int(params.get("k", 4))
        self.stretch = int(params.get("stretch", 4))
        self.layout = str(params.get("layout", "interleaved"))
        self.max_frames = int(params.get("max_frames", 64))
        if self.k < 2 or self.stretch < 1 or self.layout not in ("interleaved", "block"):
            raise ValueError("k must be at least 2, stretch at least 1, layout interleaved or block")
        self.captioner = str(params.get("captioner", "self"))
        args = str(params.get("captioner_args", "") or "")
        self.captioner_args = dict(item.split("=", 1) for item in args.split(";") if "=" in item)

    def protocol(self, base: FrameProtocol) -> FrameProtocol:
        # every frame (up to max_frames) is decoded: keyframes and stretches are chosen from them
        return FrameProtocol(strategy="all", num_frames=self.max_frames, short_side=base.short_side,
                             max_pixels=base.max_pixels, nominal_fps=base.nominal_fps)

    def models(self) -> dict[str, tuple[str, dict]]:
        return {"captioner": (self.captioner, self.captioner_args)}

    def identity(self) -> dict[str, Any]:
        return {"name": self.name, "params": {"k": self.k, "stretch": self.stretch, "layout": self.layout,
                                               "captioner": self.captioner, "captioner_args": self.captioner_args,
                                               "max_frames": self.max_frames},
                "caption_prompt": CAPTION_PROMPT}

    def build(self, sample: Sample, frames: Frames, choices: tuple[str, ...], context: StrategyContext) -> Request:
        if frames.timestamps is None:
            raise StrategyError(f"{sample.media}: msce needs the frames' times, and this clip has no clock")
        n = len(frames.indices)
        keys = _uniform(n, self.k)
        requests, spans = [], []
        for a, b in zip(keys, keys[1:]):
            start, end = frames.timestamps[a], frames.timestamps[b]
            inner = list(range(a + 1, b))
            spans.append((start, end))
            if not inner:
                requests.append(None)
                continue
            picked = [inner[i] for i in _uniform(len(inner), self.stretch)]
            stretch = _subset(frames, picked)
            messages = [{"role": "system", "content": [{"type": "text", "text": SYSTEM}]},
                        {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": CAPTION_PROMPT.format(
                            start=start, end=end)}]}]
            requests.append(Request(sample_id=f"{sample.id}#stretch{len(requests)}", frames=stretch,
                                    messages=messages, choices=(), mode="generate", seed=context.seed,
                                    mode_required=True))
        asked = [r for r in requests if r is not None]
        answers = iter(context.ask("captioner", asked) if asked else [])
        captions = []
        for i, (request, (start, end)) in enumerate(zip(requests, spans)):
            if request is None:
                captions.append({"start": start, "end": end, "text": "(no frames between these keyframes)"})
                continue
            answer = next(answers)
            if answer.error is not None or not (answer.text or "").strip():
                raise StrategyError(f"sample {sample.id}: the captioner failed on stretch {i} "
                                    f"({start:.2f}-{end:.2f} s): {answer.error or 'an empty caption'}")
            captions.append({"start": start, "end": end, "text": " ".join(answer.text.split())})
        keyframes = _subset(frames, keys)
        parts: list[dict] = [{"type": "text", "text": INTRO}]
        summaries = [{"type": "text", "text": f"Between {c['start']:.2f} s and {c['end']:.2f} s: {c['text']}"}
                     for c in captions]
        for i, t in enumerate(keyframes.timestamps):
            parts += [{"type": "text", "text": f"Keyframe at {t:.2f} s:"}, {"type": "image", "frame": i}]
            if self.layout == "interleaved" and i < len(summaries):
                parts.append(summaries[i])
        if self.layout == "block":
            parts += summaries
        parts.append({"type": "text", "text": context.template.text(choices)})
        messages = []
        if context.template.system:
            messages.append({"role": "system", "content": [{"type": "text", "text": context.template.system}]})
        messages.append({"role": "user", "content": parts})
        return Request(sample_id=sample.id, frames=keyframes, messages=messages, choices=choices, mode=context.mode,
                       seed=context.seed, answer_keys=context.template.answer_keys(choices),
                       notes={"strategy": self.name, "captions": captions})
