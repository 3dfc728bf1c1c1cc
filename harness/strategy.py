"""Request strategies: how a request is built from a sample's frames.

The default strategy gives the model the task's frames as one video with the
prompt. A strategy plugin (``harness_register_strategies``) can build
requests differently: which frames to decode, which messages to send, and,
through the :class:`StrategyContext`, extra model calls of its own (a
captioner), answered through the response cache like any other request.

A request's message parts are ``{"type": "video"}`` (``request.frames`` as one
video), ``{"type": "image", "frame": i}`` (frame ``i`` of ``request.frames``
as a still image) and ``{"type": "text", "text": ...}``, in order; every
built-in model plugin takes all three.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Callable

from harness.params import check_params
from harness.prompts import PromptTemplate
from harness.types import FrameProtocol, Frames, Request, Response, Sample


@dataclass
class StrategyContext:
    """What a strategy may use to build a request: the prompt and a way to ask other models."""

    template: PromptTemplate
    mode: str
    seed: int
    ask: Callable[[str, list[Request]], list[Response]] | None = None  # (model name, requests) -> answers
    extra: dict[str, Any] = field(default_factory=dict)


class Strategy(abc.ABC):
    """Builds the request for one sample from its decoded frames."""

    name: str = ""
    description: str = ""
    PARAMS: tuple[str, ...] = ()  # the parameters it takes (``--strategy name:k=v``)

    def __init__(self, params: dict[str, Any]):
        check_params(f"strategy {self.name}", params, self.PARAMS)
        self.params = dict(params)

    def protocol(self, base: FrameProtocol) -> FrameProtocol:
        """The frames to decode, from the task's (or ``--frames``) protocol."""
        return base

    def models(self) -> dict[str, tuple[str, dict]]:
        """Extra models this strategy asks (role -> (model name, args)); the evaluator builds them."""
        return {}

    @abc.abstractmethod
    def build(self, sample: Sample, frames: Frames, choices: tuple[str, ...], context: StrategyContext) -> Request:
        """The request for ``sample``; raise :class:`harness.errors.StrategyError` to fail only this sample."""

    def identity(self) -> dict[str, Any]:
        """What changes the requests this strategy builds (recorded in results and leaderboard rows)."""
        return {"name": self.name, "params": self.params}


class DefaultStrategy(Strategy):
    name = "default"
    description = "the task's frames as one video, then the question"

    def build(self, sample, frames, choices, context):
        return Request(sample_id=sample.id, frames=frames, messages=context.template.render(choices),
                       choices=choices, mode=context.mode, seed=context.seed,
                       answer_keys=context.template.answer_keys(choices))
