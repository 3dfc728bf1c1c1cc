"""``vllm``: a VLM run by vLLM's in-process engine.

    harness run --tasks dfew --model vllm --model-args pretrained=Qwen/Qwen2.5-VL-7B-Instruct,tensor_parallel_size=2

Targets vLLM 0.23 and later (timing of pre-decoded frames; ``structured_outputs`` replaced ``guided_decoding``/
``guided_choice`` there): the sampled frames go in as
``multi_modal_data={"video": [(frames, metadata)]}`` with the real metadata (total frame
count, fps, duration, frame indices) and the video processor arguments the transformers plugin's call
carries (``harness.plugins.families.video_kwargs``: ``do_sample_frames=False``, the family's time carrier,
its video budget as ``size`` where the checkpoint states none, ``cap_pixels_per_frame`` where the processor
takes it), pixels normalized by that processor as transformers normalizes them
(``mm_device_do_normalize=False``, :func:`normalize_kwargs`), the prompt comes from
the model's own chat template, and the whole batch (``batch_size``, 256 by default) is
submitted at once so the engine batches continuously. ``generate`` decodes greedily,
constrained to the candidates when the run asks for it (``--answer-format choice`` ->
``StructuredOutputsParams(choice=[...])``, ``json`` -> ``StructuredOutputsParams(json=schema)``);
``score`` reads the prompt log-probabilities of each candidate's whole answer (its tokens, then
the end-of-turn token) appended to the prompt: the same quantity the transformers plugin scores (vLLM's prefix caching keeps the
shared prompt from being recomputed).

Sound (``--audio on``, omni families only): a request whose video carries its clip's sound
(``request.has_audio``) goes in as vLLM's documented audio-in-video input for Qwen2.5-Omni and
Qwen3-Omni (``examples/offline_inference/qwen2_5_omni/only_thinker.py``, ``use_audio_in_video``
query): the prompt shows only the video placeholder, ``multi_modal_data`` holds the video item and
``"audio": (samples, rate)`` (mono float32 at the model's rate, 16 kHz), and ``mm_processor_kwargs``
adds ``use_audio_in_video=True``, so the processor interleaves the sound with the frames in 2-second
chunks. vLLM merges those interleaved embeddings correctly only from PR #33605 on (first released in
vLLM 0.16.0; 0.15.1 lacks it, read from both wheels on PyPI): on an older vLLM such requests are
refused before the engine starts (:data:`AUDIO_IN_VIDEO_FLOOR`).

vLLM is imported when the engine starts, never when plugins are listed. The request
building and output parsing below are plain functions, tested without a GPU.
"""

from __future__ import annotations

import gc
import json
import re
import sys
import time
from typing import Any

import harness
from harness.errors import UsageError
from harness.frames import time_told
from harness.model import Model
from harness.params import Param, check_args
from harness.plugins import chat, families, hub
from harness.request_rules import told_metadata
from harness.types import Request, Response

#: The first vLLM release whose Qwen2.5-Omni / Qwen3-Omni thinkers place interleaved audio-in-video
#: embeddings where their tokens are: PR #33605 (merged 2026-02-04) is in 0.16.0, not in 0.15.1 (its
#: ``merge_interleaved_embeddings`` read from both wheels on PyPI). Earlier builds put video features at
#: audio positions and the reverse, silently.
AUDIO_IN_VIDEO_FLOOR = (0, 16, 0)
AUDIO_IN_VIDEO_PR = "#33605"


def parse_version(text: str | None) -> tuple[int, ...] | None:
    """``0.16.0.dev5+g1234`` -> (0, 16, 0); None when the text holds no version."""
    match = re.match(r"v?(\d+)\.(\d+)(?:\.(\d+))?", str(text or "").strip())
    return tuple(int(x or 0) for x in match.groups()) if match else None


def check_audio_in_video(version: str | None, where: str = "model vllm") -> None:
    """Refuse audio-in-video requests to a vLLM below :data:`AUDIO_IN_VIDEO_FLOOR` (a UsageError that
    names the installed and the needed version); an unknown version is refused too (nothing says the
    fix is there)."""
    needed = ".".join(map(str, AUDIO_IN_VIDEO_FLOOR))
    found = parse_version(version)
    if found is None or found < AUDIO_IN_VIDEO_FLOOR:
        raise UsageError(f"{where}: --audio on sends each clip's sound inside its video (use_audio_in_video), which "
                         f"vLLM {version or '(version unknown)'} gets wrong: vLLM places interleaved audio and video "
                         f"embeddings correctly only from {needed} on (PR {AUDIO_IN_VIDEO_PR}). Upgrade vLLM to "
                         f"{needed} or later, or run with --audio off")


ENGINE_PARAMS = {
    "trained_on": Param(str, "what the checkpoint was trained on relative to the benchmark (the leaderboard's "
                             "exposure): zero-shot, train-split, overlap or not-stated", ("zero-shot", "train-split",
                                                                                      "overlap", "not-stated")),
    "tensor_parallel_size": Param(int, "GPUs per engine (tensor parallel)", answers=False, low=1),
    "data_parallel_size": Param(int, "engine replicas (data parallel)", answers=False, low=1),
    "max_model_len": Param(int, "context length", answers=False, low=1),
    "gpu_memory_utilization": Param(float, "share of GPU memory the engine may take", answers=False, low=0.01, high=1),
    "dtype": Param(str, "weights' dtype (auto, bfloat16, ...)"),
    "revision": Param(str, "hub revision"),
    "trust_remote_code": Param(bool, "run the checkpoint's own code"),
    "enforce_eager": Param(bool, "no CUDA graphs", answers=False),
}
PARAMS = {
    "pretrained": Param(str, "hub id or local folder of the checkpoint"),
    "mode": Param(str, "generate or score (default: the task's)", ("generate", "score")),
    "structured": Param(bool, "replaced by the run option --answer-format choice"),
    "max_new_tokens": Param(int, "tokens generated per answer (default 16)", low=1),
    "batch_size": Param(int, "requests per engine call (default 256)", answers=False, low=1),
    "mm_processor_kwargs": Param(str, "JSON of processor arguments, e.g. {\"max_pixels\": 200704}"),
    "top_logprobs": Param(int, "log-probabilities returned per position (default 20)", answers=False, low=1),
    "family": Param(str, "the model type whose time input to use, when the config is not local"),
    **ENGINE_PARAMS,
}


def video_item(request: Request) -> tuple[Any, dict[str, Any]]:
    """vLLM's ``(frames, metadata)`` video item: the request's frames with what the core resolved to
    tell this model family about their times (the same metadata transformers and a server receive)."""
    meta: dict[str, Any] = {**told_metadata(request), "video_backend": "pyav", "do_sample_frames": False}
    return request.frames.array, meta


def audio_item(request: Request) -> tuple[Any, int]:
    """vLLM's ``(samples, rate)`` audio item: the sound of the request's video, mono float32 at the
    model's rate (vLLM resamples a tuple whose rate differs from its feature extractor's)."""
    import numpy as np

    audio = request.frames.audio
    return np.ascontiguousarray(audio.samples, dtype=np.float32), int(audio.rate)


def engine_prompt(prompt: str | list[int], request: Request, mm_processor_kwargs: dict | None = None,
                  family: families.Family | None = None, video_kwargs: dict | None = None) -> dict:
    """One prompt for ``LLM.generate``: text (or token ids) plus the request's video, or plus still
    images of the frames its messages name (a strategy's keyframes), in the order the prompt shows them.
    Its ``mm_processor_kwargs`` are, for a video, ``video_kwargs`` (what the engine computes with its
    processor: :meth:`VLLMModel.video_kwargs`, the transformers call's own) or else the family's
    (``harness.plugins.families``: the processor's own sampling off, and whatever carries the told time
    where the metadata does not), then the user's.
    A video with its sound (``request.has_audio``) also carries ``"audio": (samples, rate)`` and
    ``use_audio_in_video=True``: the prompt keeps only the video placeholder, as vLLM takes it."""
    key = "prompt_token_ids" if isinstance(prompt, list) else "prompt"
    images = request.still_frames
    if images:
        from PIL import Image
        media = {"image": [Image.fromarray(request.frames.array[i]) for i in images]}
    else:
        media = {"video": [video_item(request)]}
    audio = request.has_audio and not images
    if audio:
        media["audio"] = [audio_item(request)]
    out: dict[str, Any] = {key: prompt, "multi_modal_data": media}
    if images:
        own = {"do_sample_frames": False}
    elif video_kwargs is not None:
        own = dict(video_kwargs)
    else:
        own = family.request_kwargs(request) if family is not None else {"do_sample_frames": False}
    out["mm_processor_kwargs"] = {**own, **(mm_processor_kwargs or {})}
    if audio:  # set last: the sound goes in the video, whatever else the user's arguments say
        out["mm_processor_kwargs"]["use_audio_in_video"] = True
    return out


def sampling_kwargs(mode: str, request: Request, max_new_tokens: int = 16,
                    top_logprobs: int = 20, prompt_logprobs: bool = False) -> dict[str, Any]:
    """Keyword arguments for ``vllm.SamplingParams`` (``structured_outputs`` as a plain dict here)."""
    kwargs: dict[str, Any] = {"temperature": 0.0, "seed": request.seed}
    if mode == "score":
        kwargs["max_tokens"] = 1
        if prompt_logprobs:
            kwargs["prompt_logprobs"] = 0  # the chosen token's log-probability at every prompt position
        else:
            kwargs["logprobs"] = top_logprobs
    else:
        kwargs.update(max_tokens=max_new_tokens, repetition_penalty=1.0)  # greedy, stated in full
        if request.answer_format == "choice":  # exactly one candidate, enforced while decoding
            kwargs["structured_outputs"] = {"choice": list(request.candidates)}
        elif request.answer_format == "json":  # {"answer": <candidate>}
            kwargs["structured_outputs"] = {"json": request.answer_schema()}
    return kwargs


def _logprob(value) -> float:
    return float(getattr(value, "logprob", value))


def parse_generate(output, tokenizer=None) -> Response:
    """The answer's text; with ``tokenizer``, decoded from its token ids as the hf plugin decodes them
    (special tokens dropped except the meaningful ones: ``harness.plugins.chat.decode_answer``)."""
    if tokenizer is not None and getattr(output.outputs[0], "token_ids", None) is not None:
        return Response(text=chat.decode_answer(tokenizer, output.outputs[0].token_ids))
    return Response(text=output.outputs[0].text)


def candidate_logprob(output, n_tokens: int) -> float:
    """Sum of the prompt log-probabilities of the last ``n_tokens`` prompt tokens (the candidate)."""
    ids = list(output.prompt_token_ids)
    positions = range(len(ids) - n_tokens, len(ids))
    return sum(_logprob(output.prompt_logprobs[p][ids[p]]) for p in positions)


def normalize_kwargs() -> dict[str, Any]:
    """Engine arguments that make vLLM feed the model the pixel values transformers computes. vLLM 0.32 by
    default (``mm_device_do_normalize``) has the processor return raw 8-bit pixels and rescales and
    normalizes them on the device with the *image* processor's mean and std, for videos too: a rounding
    apart from transformers (4.8e-7) where the two agree, and another input where a checkpoint's video
    processor normalizes otherwise than its image processor (docs/timing.md). Off, the processor
    normalizes as in the transformers plugin: identical pixel values (tests/vllm_cpu). Empty on a vLLM
    without the switch (or when vLLM's engine arguments cannot be read)."""
    try:
        import dataclasses

        from vllm.engine.arg_utils import EngineArgs
        names = {f.name for f in dataclasses.fields(EngineArgs)}
    except Exception:  # an older or a stand-in vLLM: nothing to switch
        return {}
    return {"mm_device_do_normalize": False} if "mm_device_do_normalize" in names else {}


def engine_version() -> str | None:
    """The installed vLLM's release, whichever distribution brought the ``vllm`` package (``vllm``, the CPU
    build ``vllm-cpu``, ...): read from package metadata, without importing vLLM."""
    from importlib import metadata
    names = ["vllm", *metadata.packages_distributions().get("vllm", [])]
    for name in dict.fromkeys(names):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


class VLLMModel(Model):
    name = "vllm"
    modes = ("generate", "score")
    answer_formats = ("free", "choice", "json")  # vLLM's structured outputs

    PARAMS = PARAMS

    def __init__(self, args: dict[str, Any]):
        args = check_args("model vllm", args, PARAMS, "argument")
        if not args.get("pretrained"):
            raise UsageError("model vllm needs pretrained=<hub id or local folder>")
        self.args = dict(args)
        self.mode = args.get("mode")
        if "structured" in args:
            raise UsageError("model vllm: structured= was replaced by the run option --answer-format choice "
                             "(or json), which every backend honours and results record")
        self.max_new_tokens = args.get("max_new_tokens", 16)
        self.top_logprobs = args.get("top_logprobs", 20)
        self.batch_size = args.get("batch_size", 256)
        try:
            self.mm_kwargs = json.loads(args["mm_processor_kwargs"]) if args.get("mm_processor_kwargs") else {}
        except ValueError as exc:
            raise UsageError(f"mm_processor_kwargs must be JSON, e.g. '{{\"max_pixels\": 200704}}': {exc}") from None
        self.llm = None
        self._audio_checked = False  # the vLLM release was checked for audio-in-video requests
        self.processor = None
        self.answer_ids: chat.AnswerIds | None = None  # with the end of turn and the stop ids, when the engine starts
        # The timing family from the checkpoint's config when it is local or cached, else its name.
        model_type = args.get("family") or hub.describe(str(args["pretrained"]), args.get("revision"))[1]
        name = model_type if model_type != "unknown" else str(args["pretrained"])
        self.family = time_told.family_of(name)
        self.adapter = families.guess(name)  # the family's processor arguments (None: the generic ones)
        # the video budget the checkpoint's files state (read again when the engine starts, if not here yet)
        self.declared_size = hub.declared_video_size(str(args["pretrained"]), args.get("revision"))
        if self.adapter is not None and self.adapter.vllm is None:
            print(f"warning: vllm: {self.adapter.name} is not known to run in vLLM (no vLLM architecture takes its "
                  f"video input as of this plugin); the engine will say so if it cannot", file=sys.stderr)

    def provenance(self) -> dict[str, str]:
        from harness.results import package_versions
        return {**package_versions("transformers", "torch"), **({"vllm": v} if (v := engine_version()) else {})}

    def time_family(self) -> str | None:
        return self.family

    def audio_rate(self) -> int | None:
        """16 kHz for the omni families (Qwen2.5-Omni, Qwen3-Omni): their sound goes in with the video
        (``use_audio_in_video``); None for every other family, so ``--audio on`` is refused."""
        return self.adapter.audio_rate if self.adapter is not None else None

    def identity(self) -> dict[str, Any]:
        return {"id": self.args["pretrained"], "revision": self.args.get("revision"), "engine": "vllm",
                "dtype": self.args.get("dtype", "auto"),
                "engine_version": self._engine_version(), "family": self.family,
                "generation": {"temperature": 0.0, "repetition_penalty": 1.0, "generation_config": "vllm"},
                "args": {"mode": self.mode, "max_new_tokens": self.max_new_tokens,
                         "mm_processor_kwargs": self.mm_kwargs,
                         # the video budget every request carries (families.Family.budget), and who normalizes
                         **({"video_size": size} if (size := self.video_size()) else {}),
                         "normalize": "processor",
                         **{k: self.args[k] for k in ("trained_on", "trust_remote_code") if k in self.args}}}

    @staticmethod
    def _engine_version() -> str | None:
        return engine_version()

    def video_size(self) -> dict[str, int] | None:
        """The ``size`` a video request carries: the family's video budget where the checkpoint's files state
        none (Qwen2-VL, Qwen2.5-VL), unless the user's ``mm_processor_kwargs`` set the pixels; None: the
        checkpoint's own (``families.Family.budget``, as the hf plugin and vllm-server decide it)."""
        return self.adapter.budget(self.declared_size, self.mm_kwargs) if self.adapter is not None else None

    def video_kwargs(self, request: Request) -> dict[str, Any] | None:
        """The video processor arguments of one request, built by the function that builds the transformers
        plugin's (``families.video_kwargs``) with this engine's processor: sampling off, the time carrier,
        the video budget, ``cap_pixels_per_frame`` where the processor takes it. None for still frames."""
        if request.still_frames:
            return None
        video_processor = getattr(self.processor, "video_processor", None)
        return families.video_kwargs(self.adapter, video_processor, [request], self.video_size())

    def engine_kwargs(self, audio: bool = False) -> dict[str, Any]:
        # generation_config="vllm": the checkpoint's sampling defaults are not applied to our requests
        limits = {"video": 1, "image": 16, **({"audio": 1} if audio else {})}  # audio: the video's own track
        kwargs = {"model": self.args["pretrained"], "limit_mm_per_prompt": limits,
                  "generation_config": "vllm",
                  "mm_processor_kwargs": {"do_sample_frames": False, **self.mm_kwargs}}
        for key in ENGINE_PARAMS:
            if key in self.args:
                kwargs[key] = self.args[key]
        return {**kwargs, **normalize_kwargs()}

    def check_audio(self) -> None:
        """Under --audio on, before any work: the installed vLLM must merge audio-in-video correctly."""
        if not self._audio_checked:
            check_audio_in_video(self._engine_version())
            self._audio_checked = True

    def _start(self, audio: bool = False) -> None:
        if audio:  # normally checked before any work (check_audio); here for a caller that did not
            self.check_audio()
        if self.llm is not None:
            return
        started = time.perf_counter()
        try:
            import vllm
        except ImportError:
            raise UsageError('the vllm model needs vLLM: pip install "dfer-harness[vllm]" on a GPU machine, or '
                             '`make vllm` for its CPU build in a venv of its own (docs/models.md, "vLLM on a CPU")'
                             ) from None
        from transformers import AutoProcessor

        self.vllm = vllm
        if self.declared_size is None:  # a hub checkpoint downloaded since: its files may say now
            self.declared_size = hub.declared_video_size(str(self.args["pretrained"]), self.args.get("revision"))
        self.processor = AutoProcessor.from_pretrained(self.args["pretrained"], revision=self.args.get("revision"),
                                                       trust_remote_code=bool(self.args.get("trust_remote_code")))
        # a family that hears always gets room for the sound: a later variant with --audio on (harness
        # diagnose reuses the engine) must not find the engine started without it
        self.llm = vllm.LLM(**self.engine_kwargs(audio or bool(self.audio_rate())))
        self.load_s += time.perf_counter() - started

    def close(self) -> None:
        """Stop the engine's processes now. Left to interpreter exit, vLLM 0.32's client notices its engine
        gone while Python tears down, and a thread of it freeing a tensor aborts the process (exit 134
        after the results were written; tests/vllm_cpu: a run in a process of its own)."""
        llm, self.llm = self.llm, None
        if llm is None:
            return
        shutdown = getattr(getattr(getattr(llm, "llm_engine", None), "engine_core", None), "shutdown", None)
        if shutdown is not None:  # vLLM's V1 engine client; older engines stop with their last reference
            shutdown()
        del llm
        gc.collect()

    def _params(self, kwargs: dict[str, Any]):
        kwargs = dict(kwargs)
        if "structured_outputs" in kwargs:
            from vllm.sampling_params import StructuredOutputsParams
            kwargs["structured_outputs"] = StructuredOutputsParams(**kwargs["structured_outputs"])
        return self.vllm.SamplingParams(**kwargs)

    def _messages(self, request: Request) -> list[dict]:
        return chat.messages_for(request.messages, self.adapter.system if self.adapter else chat.PARTS)

    def _text(self, request: Request) -> str:
        return chat.render(self.processor, self._messages(request), True)

    def _chat(self) -> None:
        """What ends an answer and how answers are tokenized: the hf plugin's rules (plugins/chat.py)."""
        if self.answer_ids is not None:
            return
        tok = self.processor.tokenizer
        self.end_of_turn_text = chat.end_of_turn_text(self.processor, self.adapter.end_of_turn if self.adapter else None)
        self.end_of_answer = chat.end_of_answer_ids(tok, self.end_of_turn_text, self._shipped_eos())
        self.answer_ids = chat.AnswerIds(self.processor, tok, self.end_of_turn_text)

    def _shipped_eos(self):
        """The EOS ids the hf plugin reads from the checkpoint: its generation_config.json, else what
        transformers derives from its config.json."""
        from transformers import AutoConfig, GenerationConfig
        common = {"revision": self.args["revision"]} if "revision" in self.args else {}
        try:
            return hub.from_pretrained(GenerationConfig, self.args["pretrained"], **common).eos_token_id
        except Exception:  # no generation_config.json
            pass
        try:
            config = hub.from_pretrained(AutoConfig, self.args["pretrained"], **common)
            return GenerationConfig.from_model_config(config).eos_token_id
        except Exception:  # nothing says: the end of turn and the tokenizer's EOS decide
            return None

    def _choices(self, request: Request) -> list[str]:
        """The constrained answers as the template writes them after its generation prompt (a prefix space
        included), without the end of turn: what the hf plugin's constrained decoding forces."""
        _, before, after = chat.answer_frame(self.processor, self._messages(request), self.end_of_turn_text)
        if self.end_of_turn_text and after.endswith(self.end_of_turn_text):
            after = after[:-len(self.end_of_turn_text)]
        return [before + c + after for c in request.constrained_answers()]

    def predict(self, requests: list[Request]) -> list[Response]:
        self._start(audio=any(r.has_audio for r in requests))
        self._chat()
        tok = self.processor.tokenizer
        # token ids, not text: one BOS where the model expects one, exactly as the hf plugin encodes
        texts = [chat.encode(tok, self._text(r)) for r in requests]
        mode = requests[0].mode  # resolved by the core; a batch never mixes modes
        if mode == "generate":
            prompts = [engine_prompt(t, r, self.mm_kwargs, self.adapter, self.video_kwargs(r))
                       for t, r in zip(texts, requests)]
            params = []
            for r in requests:
                kwargs = {**sampling_kwargs("generate", r, self.max_new_tokens),
                          "stop_token_ids": self.end_of_answer, "skip_special_tokens": False}
                if r.answer_format == "choice":
                    kwargs["structured_outputs"] = {"choice": self._choices(r)}
                params.append(self._params(kwargs))
            return [parse_generate(o, tok) for o in self.llm.generate(prompts, params, use_tqdm=False)]
        cands = [[self.answer_ids(self._messages(r), c) for c in r.candidates] for r in requests]
        # Each whole answer appended to the prompt, all in one submission.
        prompts, owners = [], []
        for i, (t, r, c) in enumerate(zip(texts, requests, cands)):
            base, own = t, self.video_kwargs(r)
            for ids in c:
                prompts.append(engine_prompt(base + ids, r, self.mm_kwargs, self.adapter, own))
                owners.append((i, len(ids)))
        params = self._params(sampling_kwargs("score", requests[0], prompt_logprobs=True))
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        per_request: list[list[float]] = [[] for _ in requests]
        for (i, n), output in zip(owners, outputs):
            per_request[i].append(candidate_logprob(output, n))
        out = []
        for r, scores in zip(requests, per_request):
            best = max(range(len(scores)), key=scores.__getitem__)
            out.append(Response(text=r.candidates[best], scores=dict(zip(r.choices, scores))))
        return out


@harness.hookimpl
def harness_register_models(register):
    register("vllm", VLLMModel, params=PARAMS,
             description="vLLM in-process engine (pretrained=..., tensor_parallel_size=...; GPU, or CPU: make vllm)")


__all__ = ["VLLMModel", "engine_prompt", "sampling_kwargs", "video_item", "audio_item", "parse_generate",
           "candidate_logprob", "check_audio_in_video", "normalize_kwargs", "AUDIO_IN_VIDEO_FLOOR"]
