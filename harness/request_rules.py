"""The rules that settle a request before any backend sees it, written once for every backend.

A backend (transformers, vLLM, a server, a third-party plugin) receives
requests whose answer mode and time input are already decided, so two
backends cannot disagree on them and the per-sample log records what was
actually sent.
"""

from __future__ import annotations

from dataclasses import replace

from harness.errors import CapabilityError
from harness.frames import time_told
from harness.model import Model
from harness.types import Request


def answer_mode(request: Request, model: Model, task_default: str) -> str:
    """The mode a request is answered in, by one rule:

    1. a request that requires its mode (a strategy's caption) gets it;
    2. else the mode the user gave the model (``--model-args mode=...``, ``Model.mode``);
    3. else the task's default mode, if the model supports it;
    4. else the model's first supported mode.

    A required or user-given mode the model does not support is a :class:`CapabilityError`.
    """
    if request.mode_required:
        mode, source = request.mode, "the request requires it"
    elif model.mode:
        mode, source = model.mode, "the model's mode argument"
    elif task_default in model.modes:
        return task_default
    else:
        return model.modes[0]
    if mode not in model.modes:
        raise CapabilityError(f"model {model.name or type(model).__name__} answers in "
                              f"{' or '.join(model.modes)} mode only, but {source} asks for {mode} mode")
    return mode


ANSWER_FORMATS = ("free", "choice", "json")


def answer_format(request: Request, model: Model, mode: str, wanted: str) -> str:
    """How a generated answer is constrained: ``wanted`` (the run's ``--answer-format``) for a
    generated answer among candidates; ``free`` in score mode (scores already rank the candidates)
    and for requests without candidates (a strategy's captions). A model that cannot enforce the
    wanted format is a :class:`CapabilityError`: a constraint is never silently dropped."""
    if wanted == "free" or mode != "generate" or not request.choices:
        return "free"
    if wanted not in model.answer_formats:
        raise CapabilityError(f"model {model.name or type(model).__name__} cannot constrain its answers to "
                              f"--answer-format {wanted} (it can: {', '.join(model.answer_formats)})")
    return wanted


def resolve(request: Request, model: Model, task_default: str, wanted_format: str = "free") -> Request:
    """``request`` with its answer mode, its answer format and what ``model`` is told about its
    frames' times settled.

    The time told follows the model's declared family (:meth:`Model.time_family`); a request
    without a video, or a model that takes no time input, is told nothing. Frames without a
    clock raise :class:`harness.errors.MediaError` here (that sample fails)."""
    if request.frames.audio is not None and not request.has_video:
        # the sound is the video's track: a request that shows no video (still frames) would drop it
        raise CapabilityError(f"request {request.sample_id!r} carries the clip's sound but shows no video, so "
                              f"no backend can send it; run with --audio off for requests of still frames")
    family = model.time_family()
    told = time_told.tell(request.frames, family) if family is not None and request.has_video else None
    mode = answer_mode(request, model, task_default)
    return replace(request, mode=mode, told=told, answer_format=answer_format(request, model, mode, wanted_format),
                   resolved=True)


def check_model(model: Model) -> None:
    """Refuse a model written against the old contract before any work: ``timing_family()`` was
    renamed ``time_family()``, and a model that still defines only the old name would silently be
    told no time."""
    if hasattr(model, "timing_family") and type(model).time_family is Model.time_family:
        raise CapabilityError(f"model {model.name or type(model).__name__} defines timing_family(), which is now "
                              f"time_family(): rename it, or its video requests would be told no time")


def told_metadata(request: Request) -> dict:
    """The ``VideoMetadata`` fields a video request tells its model (fps, frame indices, frame count,
    duration), as resolved by the core. A video request that was never resolved is refused: a
    backend that made up its own timing would break the timing contract silently."""
    if request.told is None:
        if request.resolved:  # resolved, but the model declared no time family: say what to change
            raise CapabilityError(f"request {request.sample_id!r} shows a video, but the model declares no time "
                                  f"family (time_family() returned None), so the core could tell it no times: "
                                  f"declare the family whose time input it takes (harness.frames.time_told), "
                                  f"or send still images instead of a video")
        raise ValueError(f"request {request.sample_id!r} shows a video but was not resolved: call "
                         f"harness.request_rules.resolve(request, model, mode) before the model sees it")
    return dict(request.told.metadata)
