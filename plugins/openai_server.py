"""``openai-server`` (alias ``vllm-server``): any OpenAI-compatible chat-completions endpoint.

    harness run --tasks dfew --model vllm-server \
        --model-args base_url=http://gpu1:8000/v1|http://gpu2:8000/v1,model=Qwen/Qwen2.5-VL-7B-Instruct

The sampled frames travel as one ``video_url`` part: ``data:video/jpeg;base64,<f1>,<f2>,...``
(``video=frames``, the default), or as separate ``image_url`` parts for servers without
video support (``video=images``: no timing reaches the model). Their timing goes along as
vLLM's ``media_io_kwargs["video"]``, exactly what ``harness.frames.time_told`` tells the model family
(``family=``, guessed from the served name), with ``num_frames`` and
``mm_processor_kwargs={"do_sample_frames": false}`` so the server never resamples them.
Those fields reach the model only in recent vLLM builds: the server's version is asked once
(``GET /version``), recorded in the identity, and a server below the family's floor is
refused (``allow_old_server=true`` only warns). ``vllm_fields=false`` leaves the vLLM fields
out for other servers.

Requests run concurrently (at most ``max_concurrency``), spread over the base URLs, with
retries and exponential backoff plus jitter on connection errors, timeouts, 429 and 5xx
(``Retry-After`` honoured); any other 4xx fails that sample with the server's message, and
so does a 500 whose body names a Python exception, after one retry (it is deterministic).
A circuit breaker shared by all requests (``harness.breaker``) stops the whole run instead
when no request can succeed: a 401/403/404, ``breaker_refusals`` refusals before any answer,
``breaker_failures`` failed attempts in a row, or failures with no answer for
``breaker_seconds``. Until the server has answered once, requests go one at a time. The
answers received stay in the response cache, so rerunning the command resumes.
The API key is read from the env var named by ``api_key_env`` and never recorded.

Sound (``--audio on``): a server model hears only when told so, by ``audio_rate=16000`` or by a
served name of an omni family (Qwen2.5-Omni, Qwen3-Omni); otherwise ``--audio on`` is refused. The
sound of a request's video goes at that rate in one of two dialects (``audio=``):

- ``in_video`` (the default with ``vllm_fields``; vLLM's server): the sampled frames and their sound
  as one Matroska file in the ``video_url`` (``data:video/x-matroska;base64,...``): the frames lossless
  (FFV1, RGB), the sound as 32-bit float PCM mono, plus ``mm_processor_kwargs["use_audio_in_video"] =
  true``. vLLM's server takes a video's sound only from inside the video file: with
  ``use_audio_in_video`` it decodes the sound of the ``video_url`` itself (0.32.0, read and run:
  ``vllm/renderers/chat_utils.py``), and a JPEG sequence has none (HTTP 400). vLLM's loaders decode the
  very frames and samples sent (tests/vllm_cpu). The file's own clock is the frames' told spacing, but
  vLLM reads a video file's metadata from the file (frames 0..N-1), so this dialect serves only the
  families told time through a processor argument (the omni families: ``fps``); held to the vLLM
  release with PR #33605 (0.16.0).
- ``input_audio`` (the default without): a 16-bit PCM mono WAV as the OpenAI API's ``{"type":
  "input_audio", "input_audio": {"data": <base64 WAV>, "format": "wav"}}`` right after the video,
  nothing else.

A request under ``--audio off`` carries no sound and no ``use_audio_in_video``; under ``audio=in_video`` its
frames still go as a lossless file, so that the two runs differ by the sound alone.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import math
import os
import random
import re
import sys
import wave
from typing import Any
from urllib.parse import urlsplit

import harness
from harness.breaker import Breaker
from harness.errors import CapabilityError, ModelAborted, UsageError
from harness.frames import time_told
from harness.model import Model
from harness.params import Param, check_args
from harness.plugins import chat, families
from harness.redact import add_secret
from harness.request_rules import told_metadata
from harness.types import Request, Response

PARAMS = {
    "trained_on": Param(str, "what the checkpoint was trained on relative to the benchmark (the leaderboard's "
                             "exposure): zero-shot, train-split, overlap or not-stated", ("zero-shot", "train-split",
                                                                                      "overlap", "not-stated")),
    "base_url": Param(str, "the server's /v1 address; several separated by | are used in turn", answers=False),
    "model": Param(str, "the served model's name"),
    "api_key_env": Param(str, "the environment variable holding the API key", answers=False),
    "max_concurrency": Param(int, "requests in flight (default 32)", answers=False, low=1),
    "timeout": Param(float, "seconds per request (default 120)", answers=False),
    "retries": Param(int, "retries of a transient fault (default 6)", answers=False, low=0),
    "mode": Param(str, "generate or score (default: the task's)", ("generate", "score")),
    "video": Param(str, "frames (JPEG frames with their timing) or images (one image per frame)"),
    "structured": Param(bool, "replaced by the run option --answer-format choice"),
    "max_tokens": Param(int, "tokens generated per answer (default 16)", low=1),
    "jpeg_quality": Param(int, "JPEG quality of the frames sent (default 90)", low=1, high=100),
    "vllm_fields": Param(bool, "send vLLM's media_io_kwargs (the frames' timing) (default true)"),
    "batch_size": Param(int, "requests per call (default 4 x max_concurrency)", answers=False, low=1),
    "top_logprobs": Param(int, "score mode: log-probabilities returned (default 20)", low=1),
    "backoff": Param(float, "seconds before the first retry, doubling (default 0.5)", answers=False),
    "mm_processor_kwargs": Param(str, "JSON of processor arguments for the server"),
    "family": Param(str, "the model type whose time input to use (default: from the served name)"),
    "allow_old_server": Param(bool, "run against a vLLM below the timing floor (recorded)", answers=False),
    "breaker_failures": Param(int, "failures in a row that open the circuit breaker (default 16)", answers=False),
    "breaker_seconds": Param(float, "seconds of failures that open it (default 60)", answers=False),
    "breaker_refusals": Param(int, "fatal refusals that stop the run (default 3)", answers=False),
    "audio_rate": Param(int, "the rate at which the served model takes sound, e.g. 16000 (default: its omni "
                             "family's, from the served name); needs audio="),
    "audio": Param(str, "the served model hears (--audio on), its sound sent as in_video (a vLLM server: frames and "
                        "sound in one lossless video file, with use_audio_in_video) or input_audio (the OpenAI "
                        "API); default: it takes no sound", ("in_video", "input_audio")),
}
AUDIO_DIALECTS = ("in_video", "input_audio")
RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
# A 500 whose error message is a Python exception (``KeyError: ...``, a traceback) is a bug on the
# server when the same request gets the same one twice in a row. The API's standard error format names
# a type such as "InternalServerError" in every 5xx: that alone is no evidence.
_RAISED = re.compile(r"Traceback \(most recent call last\)|^\s*[A-Z][A-Za-z]*(?:Error|Exception)\s*:")


def server_exception(body: str) -> str | None:
    """The exception a 500 reply's error message names, or None when it names none."""
    try:
        message = json.loads(body)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = body
    return message if isinstance(message, str) and _RAISED.search(message) else None

# The first vLLM releases whose OpenAI server hands the metadata of video/jpeg frames to the model,
# read from the released source on PyPI (docs/timing.md, "vLLM versions"): PR #37301 (merged
# 2026-03-18) is first in 0.19.0 and PR #40133 (merged 2026-04-22) in 0.20.0, for every family;
# PR #47736 (Qwen2.5-VL's temporal position ids from the fps, merged 2026-09-20..24) in 0.31.0.
VLLM_FLOOR = {time_told.QWEN25: (0, 31, 0), time_told.QWEN3: (0, 20, 0), time_told.QWEN2: (0, 20, 0),
              time_told.GENERIC: (0, 20, 0)}
VLLM_FLOOR[time_told.ORDER] = VLLM_FLOOR[time_told.GENERIC]  # families told nothing: the same build


def parse_version(text: str) -> tuple[int, ...] | None:
    """``0.23.1.dev5+g1234`` -> (0, 23, 1); None when the text holds no version."""
    match = re.match(r"v?(\d+)\.(\d+)(?:\.(\d+))?", str(text).strip())
    return tuple(int(x or 0) for x in match.groups()) if match else None


def wav_base64(samples, rate: int) -> str:
    """The sound as a base64 WAV: 16-bit PCM, mono, at ``rate`` (standard-library ``wave``); samples in
    [-1, 1] are scaled by 32767 and rounded, so they come back within half a step (1 / 65534)."""
    import numpy as np

    pcm = np.round(np.clip(np.asarray(samples, dtype=np.float64), -1.0, 1.0) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(int(rate))
        out.writeframes(pcm.tobytes())
    return base64.b64encode(buf.getvalue()).decode()


def read_wav(data: str | bytes):
    """``(samples, rate)`` from a base64 WAV (or its bytes) as :func:`wav_base64` writes it: float32 mono."""
    import numpy as np

    raw = base64.b64decode(data) if isinstance(data, str) else data
    with wave.open(io.BytesIO(raw), "rb") as src:
        if src.getsampwidth() != 2 or src.getnchannels() != 1:
            raise ValueError(f"expected 16-bit mono WAV, got {src.getsampwidth() * 8}-bit, {src.getnchannels()} channels")
        rate, frames = src.getframerate(), src.readframes(src.getnframes())
    return np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32767.0, rate


def audio_part(request: Request) -> dict[str, Any]:
    """The OpenAI API's content part carrying the sound of ``request``'s video (``audio=input_audio``)."""
    audio = request.frames.audio
    return {"type": "input_audio", "input_audio": {"data": wav_base64(audio.samples, audio.rate), "format": "wav"}}


def matroska_base64(frames, fps: float, samples=None, rate: int | None = None) -> str:
    """The frames (uint8 RGB, N x H x W x 3) and their sound (float mono at ``rate``; None: none) as one
    base64 Matroska file (``audio=in_video``), both lossless: FFV1 in RGB (bgr0) and 32-bit float PCM, so a
    server that decodes it (vLLM: OpenCV for the frames, PyAV for the sound) gets these very pixels and
    samples. The frames are stamped ``fps`` apart, or closer where the sound lasts longer than N frames at
    ``fps`` (a seeded or repeated sampling): OpenCV counts a file's frames as its whole length times the frame
    rate, and one frame too many makes vLLM read N - 1. The file's rate tells the model nothing here: the
    families this dialect serves are told their rate as ``fps`` in the processor arguments."""
    from fractions import Fraction

    import av
    import numpy as np

    array = np.ascontiguousarray(frames, dtype=np.uint8)
    n = len(array)
    if samples is not None:
        sound = np.ascontiguousarray(np.asarray(samples, dtype=np.float32).reshape(1, -1))
        fps = n / max(n / float(fps), sound.shape[1] / int(rate))
    buf = io.BytesIO()
    with av.open(buf, "w", format="matroska") as out:
        video = out.add_stream("ffv1", rate=Fraction(float(fps)).limit_denominator(100_000))
        video.width, video.height, video.pix_fmt = array.shape[2], array.shape[1], "bgr0"
        track = out.add_stream("pcm_f32le", rate=int(rate), layout="mono") if samples is not None else None
        for frame in array:
            out.mux(video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(video.encode())
        if track is not None:
            chunk = av.AudioFrame.from_ndarray(sound, format="flt", layout="mono")
            chunk.sample_rate = int(rate)
            out.mux(track.encode(chunk))
            out.mux(track.encode())
    return base64.b64encode(buf.getvalue()).decode()


def _jpeg(frame, quality: int) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="JPEG", quality=quality)
    return base64.b64encode(buf.getvalue()).decode()


def build_body(request: Request, served: str, *, video: str = "frames", family: families.Family | None = None,
               max_tokens: int = 16, jpeg_quality: int = 90,
               vllm_fields: bool = True, top_logprobs: int = 20,
               mm_processor_kwargs: dict | None = None, audio: str | None = None) -> dict[str, Any]:
    """The chat-completions request body for one resolved request (pure: tested without a server):
    its mode and the timing it tells come from the core (``request.mode``, ``request.told``). A video
    with its sound (``request.has_audio``) goes in the ``audio`` dialect (default: ``in_video`` with
    ``vllm_fields``, else ``input_audio``): ``in_video`` sends frames and sound as one lossless video
    file with ``mm_processor_kwargs["use_audio_in_video"]``, ``input_audio`` a WAV part after the video."""
    frames = request.frames
    dialect = audio or ("in_video" if vllm_fields else "input_audio")
    if dialect not in AUDIO_DIALECTS:
        raise ValueError(f"unknown audio dialect {dialect!r}; choose one of {', '.join(AUDIO_DIALECTS)}")
    sound = request.has_audio
    if sound and video == "images":
        raise CapabilityError("video=images sends the frames as separate images, which carry no sound: run "
                              "--audio on with video=frames")
    # under audio=in_video every video goes as a lossless file, with or without its sound, so that a run with
    # --audio off differs from one with --audio on by the sound alone
    in_file = request.has_video and video != "images" and (audio == "in_video" or (sound and dialect == "in_video"))
    if in_file and (family is None or not family.fps_kwarg):
        raise CapabilityError("audio=in_video sends a video file, whose metadata vLLM reads from the file (frames "
                              "0..N-1): only a family told time through a processor argument (fps: Qwen2.5-Omni, "
                              "Qwen3-Omni) is told it right; name it with family= or use audio=input_audio")
    if not request.has_video:
        media = []
    elif video == "images":
        media = [{"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{_jpeg(f, jpeg_quality)}"}}
                 for f in frames.array]
    elif in_file:  # vLLM's server hears a video's sound only from inside its file
        data = matroska_base64(frames.array, families.told_rate(request), *(
            (frames.audio.samples, frames.audio.rate) if sound else ()))
        media = [{"type": "video_url", "video_url": {"url": f"data:video/x-matroska;base64,{data}"}}]
    else:
        joined = ",".join(_jpeg(f, jpeg_quality) for f in frames.array)
        media = [{"type": "video_url", "video_url": {"url": f"data:video/jpeg;base64,{joined}"}}]
        if sound:  # the video's own track, right after it
            media.append(audio_part(request))
    messages = []
    # a family whose template has no system role gets the system text in the user's turn, as on every backend
    # (a served template renders the rest: the system message goes as the plain text every server takes)
    into_user = family is not None and family.system == chat.INTO_USER
    for message in chat.messages_for(request.messages, chat.INTO_USER if into_user else chat.PARTS):
        content: list[dict] = []
        for part in message["content"]:
            if part.get("type") == "video":
                content.extend(media)
            elif part.get("type") == "image":  # one frame as a still image (a strategy's keyframe)
                url = f"data:image/jpeg;base64,{_jpeg(frames.array[part['frame']], jpeg_quality)}"
                content.append({"type": "image_url", "image_url": {"url": url}})
            else:
                content.append({"type": "text", "text": part["text"]})
        if message["role"] == "system":
            messages.append({"role": "system", "content": chat.system_text({"content": content})})
        else:
            messages.append({"role": message["role"], "content": content})
    body: dict[str, Any] = {"model": served, "messages": messages, "temperature": 0.0, "seed": request.seed}
    if request.mode == "score":
        body.update(max_tokens=1, logprobs=True, top_logprobs=top_logprobs)
    else:
        body["max_tokens"] = max_tokens
        if request.answer_format == "choice":  # vLLM's extension: exactly one candidate
            body["structured_outputs"] = {"choice": list(request.candidates)}
        elif request.answer_format == "json":  # the OpenAI API's own structured output
            body["response_format"] = {"type": "json_schema", "json_schema": {
                "name": "answer", "schema": request.answer_schema(), "strict": True}}
    if vllm_fields and video != "images" and request.has_video:
        # a file's metadata is read from the file: only the frame count goes (fps would resample it)
        body["media_io_kwargs"] = {"video": {"num_frames": len(frames.indices)} if in_file else {
            **told_metadata(request), "num_frames": len(frames.indices), "do_sample_frames": False}}
        # the family's processor arguments (its sampling off, what carries the told time), then the user's
        # (and its video budget where the family has one: a server's files cannot be read from here, so a
        # checkpoint that states its own video budget is served with it only when the user says so in theirs)
        size = family.budget(None, mm_processor_kwargs) if family is not None else None
        own = family.request_kwargs(request, size) if family is not None else {"do_sample_frames": False}
        body["mm_processor_kwargs"] = {**own, **(mm_processor_kwargs or {})}
    if in_file and sound:  # the server takes the file's sound and its processor interleaves it with the frames
        body.setdefault("mm_processor_kwargs", {})["use_audio_in_video"] = True
    return body


def parse_completion(data: dict, request: Request, mode: str) -> Response:
    """A Response from a chat-completions reply.

    Score mode reads the first answer token's ``top_logprobs`` and is exact
    for single-token answers only (option letters): a token counts for an
    option when it equals the option's letter after leading whitespace is
    stripped (``"A"`` and ``" A"`` are option A, ``"a"`` is not), and the
    probabilities of such variants are summed. Options that are not among the
    top tokens get no score; the answer records them and the probability mass
    the top list could not account for (``missing``, ``missing_mass``).
    """
    try:
        choice = data["choices"][0]
    except (KeyError, IndexError, TypeError):
        return Response(error=f"server reply without choices: {json.dumps(data)[:300]}")
    if mode != "score":
        message = choice.get("message") if isinstance(choice, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        if content is not None and not isinstance(content, str):  # the API's content is a string
            return Response(error=f"server reply with malformed content ({type(content).__name__}): "
                                  f"{json.dumps(content, default=str)[:300]}")
        return Response(text=content or "")
    content = ((choice.get("logprobs") or {}).get("content")) or []
    if not content or "top_logprobs" not in content[0]:
        raise CapabilityError("the server returned no logprobs, so mode=score cannot work with it; use mode=generate")
    keys = list(request.candidates)
    by_key = {key: name for key, name in zip(keys, request.choices)}
    probs: dict[str, float] = {}
    seen = 0.0
    for entry in content[0]["top_logprobs"]:
        p = math.exp(float(entry["logprob"]))
        seen += p
        name = by_key.get(entry["token"].lstrip())
        if name is not None:
            probs[name] = probs.get(name, 0.0) + p
    meta = {"top_k": len(content[0]["top_logprobs"]), "missing_mass": round(max(0.0, 1.0 - seen), 6),
            "missing": [c for c in request.choices if c not in probs]}
    if not probs:
        return Response(text="", scores={}, meta=meta)
    scores = {name: math.log(p) for name, p in probs.items()}
    winner = max(scores, key=scores.get)
    return Response(text=keys[list(request.choices).index(winner)], scores=scores, meta=meta)


class OpenAIServerModel(Model):
    name = "openai-server"
    modes = ("generate", "score")

    PARAMS = PARAMS

    def __init__(self, args: dict[str, Any], alias: str = "openai-server"):
        args = check_args(f"model {alias}", args, PARAMS, "argument")
        for required in ("base_url", "model"):
            if not args.get(required):
                raise UsageError(f"model {alias} needs {required}=... (e.g. base_url=http://host:8000/v1,"
                                 f"model=<served model name>)")
        self.alias = alias
        self.urls = [u.rstrip("/") for u in str(args["base_url"]).split("|") if u]
        for url in self.urls:  # credentials in a URL: masked everywhere, also as the Basic header a server may echo
            parts = urlsplit(url)
            if parts.password:
                add_secret(parts.password)
                add_secret(base64.b64encode(f"{parts.username or ''}:{parts.password}".encode()).decode())
        self.served = str(args["model"])
        self.mode = args.get("mode")
        self.video = str(args.get("video", "frames"))
        if self.video == "mp4":
            raise UsageError(f"{alias}: video=mp4 was removed: an mp4 of the sampled frames carries only a "
                             f"rounded rate, so the real timing is lost. Use video=frames (JPEG frames with "
                             f"their timing) or video=images")
        if self.video not in ("frames", "images"):
            raise UsageError(f"{alias}: video is frames or images, got {self.video!r}")
        self.family = time_told.family_of(args.get("family") or str(args["model"]))
        self.adapter = families.guess(args.get("family") or str(args["model"]))  # harness.plugins.families
        self.allow_old_server = bool(args.get("allow_old_server", False))
        # A served model hears only when told how its sound goes (audio=): neither dialect is confirmed
        # against every server (docs/timing.md), so none is assumed, not even for an omni served name.
        self.audio = args.get("audio")
        rate = args.get("audio_rate")
        if self.audio is None:
            if rate:
                raise UsageError(f"{alias}: audio_rate= says the served model hears, but not how its sound is sent: add "
                                 f"audio=in_video (a vLLM server: frames and sound in one video file) or "
                                 f"audio=input_audio (the OpenAI API's part)")
            self._audio_rate = None
        else:
            if self.audio not in AUDIO_DIALECTS:
                raise UsageError(f"{alias}: audio is one of {', '.join(AUDIO_DIALECTS)}, got {self.audio!r}")
            if self.audio == "in_video" and not args.get("vllm_fields", True):
                raise UsageError(f"{alias}: audio=in_video is vLLM's dialect (with use_audio_in_video), which "
                                 f"vllm_fields=false leaves out; use audio=input_audio")
            if self.audio == "in_video" and (self.adapter is None or not self.adapter.fps_kwarg):
                named = f"family {self.adapter.name}" if self.adapter is not None else "no family (family=)"
                raise UsageError(f"{alias}: audio=in_video sends each clip as a video file, whose frames vLLM "
                                 f"numbers 0..N-1 from the file itself, so only a family told time through a "
                                 f"processor argument (Qwen2.5-Omni, Qwen3-Omni: fps) is told it right; the "
                                 f"served name gives {named}: name the family with family=, or use "
                                 f"audio=input_audio")
            if rate is None:  # an omni model's served name says at which rate it hears
                rate = self.adapter.audio_rate if self.adapter is not None else None
            if not rate or not 1000 <= int(rate) <= 192_000:
                raise UsageError(f"{alias}: audio={self.audio} needs the served model's sample rate in Hz, "
                                 f"audio_rate=16000 for example (its served name names no omni family); got {rate}")
            self._audio_rate = int(rate)
        self.server_version: str | None = None
        self._version_checked = False
        self._audio_checked = False
        if "structured" in args:
            raise UsageError(f"{alias}: structured= was replaced by the run option --answer-format choice "
                             f"(or json), which every backend honours and results record")
        # json is the OpenAI API's response_format; choice is vLLM's structured_outputs extension
        self.answer_formats = ("free", "json", "choice") if args.get("vllm_fields", True) else ("free", "json")
        self.max_tokens = int(args.get("max_tokens", 16))
        self.jpeg_quality = int(args.get("jpeg_quality", 90))
        self.vllm_fields = bool(args.get("vllm_fields", True))
        self.top_logprobs = int(args.get("top_logprobs", 20))
        self.trained_on = args.get("trained_on")
        try:
            self.mm_kwargs = json.loads(args["mm_processor_kwargs"]) if args.get("mm_processor_kwargs") else {}
        except ValueError as exc:
            raise UsageError(f"{alias}: mm_processor_kwargs must be JSON: {exc}") from None
        self.max_concurrency = max(1, int(args.get("max_concurrency", 32)))
        self.timeout = float(args.get("timeout", 120))
        self.retries = int(args.get("retries", 6))
        self.backoff = float(args.get("backoff", 0.5))  # seconds before the first retry; doubles each time
        self.batch_size = int(args.get("batch_size", 4 * self.max_concurrency))
        try:
            self.breaker = Breaker(failures=int(args.get("breaker_failures", 16)),
                                   seconds=float(args.get("breaker_seconds", 60.0)),
                                   fatal_refusals=int(args.get("breaker_refusals", 3)))
        except ValueError as exc:
            raise UsageError(f"{alias}: {exc}") from None
        self.api_key = None
        if args.get("api_key_env"):
            name = str(args["api_key_env"])
            if name not in os.environ:
                raise UsageError(f"{alias}: api_key_env={name}, but the environment has no {name}")
            self.api_key = os.environ[name]
            add_secret(self.api_key)  # masked in every results file, log and printed line from now on
        try:
            import httpx  # noqa: F401
        except ImportError:
            raise UsageError(f'{alias} needs httpx: pip install "dfer-harness[openai]"') from None

    def identity(self) -> dict[str, Any]:
        # Where the model is served and the key are not part of what it answers; the server's
        # version is: it decides what the model is told.
        return {"id": self.served, "kind": "openai-server", "server_version": self.server_version,
                "args": {"mode": self.mode, "video": self.video,
                         "max_tokens": self.max_tokens, "jpeg_quality": self.jpeg_quality,
                         "vllm_fields": self.vllm_fields, "mm_processor_kwargs": self.mm_kwargs,
                         "family": self.family,
                         # the video budget every request carries (families.Family.budget): it sizes the frames
                         **({"video_size": size} if (size := self.video_size()) else {}),
                         # score mode reads the answer from the top log-probabilities: how many changes answers
                         **({"top_logprobs": self.top_logprobs} if self.mode != "generate" else {}),
                         **({"trained_on": self.trained_on} if self.trained_on else {}),
                         **({"audio": self.audio, "audio_rate": self._audio_rate} if self._audio_rate else {})}}

    def video_size(self) -> dict[str, int] | None:
        """The ``size`` every video request carries (``families.Family.budget``; a server's files cannot be read
        from here, so a family's budget applies unless the user's ``mm_processor_kwargs`` set the pixels)."""
        return self.adapter.budget(None, self.mm_kwargs) if self.adapter is not None else None

    def runtime(self) -> dict[str, Any]:
        return {"max_concurrency": self.max_concurrency, "timeout_s": self.timeout, "retries": self.retries,
                "base_urls": len(self.urls), "breaker": self.breaker.settings()}

    def time_family(self) -> str | None:
        return self.family if self.video == "frames" and self.vllm_fields else None

    def audio_rate(self) -> int | None:
        """The rate at which the served model takes sound, when the user said how it hears (``audio=``, at
        ``audio_rate=`` or its omni family's rate); None otherwise (and with ``video=images``, whose
        separate images carry no sound), so ``--audio on`` is refused."""
        return self._audio_rate if self.video == "frames" else None

    def check_audio(self) -> None:
        """Under --audio on, before any work: the server's version is asked and held to the floor of
        audio-in-video (audio=in_video)."""
        self.check_server()
        self.check_audio_server()

    def check_audio_server(self) -> None:
        """Hold sound sent the vLLM way (``in_video``, with ``use_audio_in_video``) to the vLLM release
        that merges it with the frames correctly (PR #33605: 0.16.0); ``allow_old_server`` only warns."""
        if self.audio != "in_video" or self._audio_checked:
            return
        self._audio_checked = True
        from harness.plugins.vllm_engine import check_audio_in_video

        version = None if self.server_version in (None, "unknown") else self.server_version
        try:
            check_audio_in_video(version, where=f"{self.alias} (server)")
        except UsageError as exc:
            if not self.allow_old_server:
                raise
            print(f"warning: {exc} (allow_old_server=true: running anyway, recorded)", file=sys.stderr)

    def prepare(self, workload) -> None:
        self.check_server()

    def check_server(self) -> None:
        """Ask the server its version once (vLLM serves ``GET /version``) and hold it to the floor."""
        if self._version_checked or not self.vllm_fields:
            return
        import httpx

        root = re.sub(r"/v1/?$", "", self.urls[0])
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            reply = httpx.get(f"{root}/version", timeout=min(self.timeout, 10.0), headers=headers)
            text = reply.json().get("version") if reply.status_code == 200 else None
        except (httpx.HTTPError, ValueError, AttributeError):
            text = None
        self._version_checked = True
        self.server_version = str(text) if text else "unknown"
        floor = VLLM_FLOOR[self.family]
        found = parse_version(text) if text else None
        floor_text = ".".join(map(str, floor))
        if found is None:
            print(f"warning: {self.alias}: {root}/version gave no vLLM version, so whether the frames' timing "
                  f"reaches the model cannot be checked (vLLM {floor_text}+ is needed for {self.family}); "
                  f"recorded as server_version=unknown", file=sys.stderr)
        elif found < floor:
            message = (f"{self.alias}: the server runs vLLM {text}, below {floor_text}, the first build that "
                       f"passes the frames' timing of video/jpeg requests to {self.family} models; older "
                       f"builds silently use their own clock (or fail every request). Upgrade the server, or "
                       f"pass allow_old_server=true to run anyway (recorded)")
            if not self.allow_old_server:
                raise UsageError(message)
            print(f"warning: {message}", file=sys.stderr)

    def _body(self, request: Request) -> dict:
        return build_body(request, self.served, video=self.video, family=self.adapter,
                          max_tokens=self.max_tokens, jpeg_quality=self.jpeg_quality,
                          vllm_fields=self.vllm_fields, top_logprobs=self.top_logprobs,
                          mm_processor_kwargs=self.mm_kwargs, audio=self.audio)

    def preprocess(self, requests: list[Request]) -> list[dict]:
        """The request bodies (JPEG encoding of every frame), built in the prefetch thread."""
        return [self._body(r) for r in requests]

    def predict_preprocessed(self, requests: list[Request], inputs: list[dict]) -> list[Response]:
        return self.predict(requests, inputs)

    def predict(self, requests: list[Request], bodies: list[dict] | None = None) -> list[Response]:
        self.check_server()
        if any(r.has_audio for r in requests):
            self.check_audio_server()
        for request in (r for r in requests if r.mode == "score" and not r.mode_required):
            keys = list(request.answer_keys)
            if not keys or not all(len(k) == 1 and k.isupper() for k in keys):
                raise UsageError(f"{self.alias}: mode=score over a server reads the first answer token's "
                                 f"top log-probabilities, which is exact only for one-token answers: run it "
                                 f"with --prompt letters (option letters), or use mode=generate")
        return asyncio.run(self._run(requests, bodies))

    async def _run(self, requests: list[Request], bodies: list[dict] | None = None) -> list[Response]:
        import httpx

        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        limits = httpx.Limits(max_connections=self.max_concurrency, max_keepalive_connections=self.max_concurrency)
        semaphore = asyncio.Semaphore(self.max_concurrency)
        probe = asyncio.Lock()  # until the server has answered once, one request at a time
        stop = asyncio.Event()  # the breaker tripped: every request ends now
        breaker = self.breaker
        breaker.start()
        if breaker.reason:
            raise ModelAborted(self._aborted(breaker.reason))
        async with httpx.AsyncClient(timeout=self.timeout, headers=headers, limits=limits) as client:
            async def one(i: int, request: Request) -> Response:
                mode = request.mode
                body = bodies[i] if bodies is not None else self._body(request)
                async with semaphore:
                    if not breaker.answered:
                        async with probe:
                            if not breaker.answered:
                                return await self._post(client, body, request, start=i, mode=mode, stop=stop)
                    return await self._post(client, body, request, start=i, mode=mode, stop=stop)

            async def watch() -> None:  # trips on time even while every request sleeps in backoff
                while breaker.check() is None:
                    await asyncio.sleep(0.2)
                stop.set()

            tasks = [asyncio.create_task(one(i, r)) for i, r in enumerate(requests)]
            watcher, stopped = asyncio.create_task(watch()), asyncio.create_task(stop.wait())
            everything = asyncio.gather(*tasks)
            try:
                await asyncio.wait([everything, stopped], return_when=asyncio.FIRST_COMPLETED)
            finally:
                watcher.cancel()
                stopped.cancel()
            if not stop.is_set():
                return list(everything.result())
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if not everything.cancelled() and everything.done():
                everything.exception()  # retrieved, so asyncio does not warn about it
            answered = [t.result() if t.done() and not t.cancelled() and t.exception() is None else None
                        for t in tasks]
            raise ModelAborted(self._aborted(breaker.reason), answered)

    def _aborted(self, reason: str | None) -> str:
        return f"{self.alias} at {' | '.join(self.urls)}: {reason}"

    async def _post(self, client, body: dict, request: Request, start: int, mode: str | None = None,
                    stop: asyncio.Event | None = None) -> Response:
        import httpx

        breaker = self.breaker
        last = "no attempt made"
        retries, made = self.retries, 0
        previous_500 = None  # the body of the last attempt's HTTP 500, to tell a bug from a passing fault
        for attempt in range(self.retries + 1):
            if attempt > retries:
                break
            made += 1
            url = self.urls[(start + attempt) % len(self.urls)] + "/chat/completions"
            delay = min(30.0, self.backoff * 2 ** attempt) * random.uniform(0.5, 1.0)  # backoff with jitter
            failed = True
            try:
                reply = await client.post(url, json=body)
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                last = f"{url}: {type(exc).__name__}: {exc}"
            else:
                if reply.status_code == 200:
                    try:
                        response = parse_completion(reply.json(), request, mode or request.mode)
                    except ValueError as exc:
                        last = f"{url}: reply is not JSON: {exc}"
                    else:
                        breaker.ok()
                        return response
                elif reply.status_code in RETRY_STATUS or reply.status_code >= 500:
                    last = f"{url}: HTTP {reply.status_code}: {reply.text[:300]}"
                    failed = reply.status_code != 429  # rate limits are waited out, not held against the server
                    # A bug on the server, not a passing fault, only on evidence a passing fault does not
                    # give: the same Python exception for the same request twice in a row; then give up.
                    # Every other fault (429, 502, 503, 504, a 500 in the API's standard error format)
                    # keeps the full retry budget.
                    error_body = reply.text if reply.status_code == 500 else None
                    if error_body is not None and error_body == previous_500 and server_exception(error_body):
                        retries = min(retries, attempt)
                    previous_500 = error_body
                    retry_after = reply.headers.get("Retry-After")
                    if retry_after:
                        try:
                            delay = min(60.0, float(retry_after))
                        except ValueError:
                            pass
                else:  # the server refuses this request: retrying will not help
                    error = f"{url}: HTTP {reply.status_code}: {reply.text[:500]}"
                    if breaker.refused(reply.status_code, error) and stop is not None:
                        stop.set()
                    return Response(error=error)
            if failed and breaker.failed(last) and stop is not None:
                stop.set()
                return Response(error=f"stopped by the circuit breaker: {last}")
            if attempt < retries:
                await asyncio.sleep(delay)
        return Response(error=f"gave up after {made} attempts: {last}")


def _factory(alias: str):
    def make(args: dict) -> OpenAIServerModel:
        return OpenAIServerModel(args, alias=alias)
    return make


@harness.hookimpl
def harness_register_models(register):
    register("openai-server", _factory("openai-server"), params=PARAMS,
             description="Any OpenAI-compatible chat-completions server (base_url=...,model=...)")
    register("vllm-server", _factory("vllm-server"), params=PARAMS,
             description="A vLLM OpenAI-compatible server (alias of openai-server)")


__all__ = ["OpenAIServerModel", "build_body", "parse_completion", "audio_part", "matroska_base64", "wav_base64",
           "read_wav"]
