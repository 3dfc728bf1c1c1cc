"""``vllm``: a VLM run by vLLM's in-process engine.

    harness run --tasks dfew --model vllm --model-args pretrained=Qwen/Qwen2.5-VL-7B-Instruct,tensor_parallel_size=2

Targets vLLM 0.23 and later (timing of pre-decoded frames; ``structured_outputs`` replaced ``guided_decoding``/
``guided_choice`` there): the sampled frames go in as
``multi_modal_data={"video": [(frames, metadata)]}`` with the real metadata (total frame
count, fps, duration, frame indices) and ``do_sample_frames=False``, the prompt comes from
the model's own chat template, and the whole batch (``batch_size``, 256 by default) is
submitted at once so the engine batches continuously. ``generate`` decodes greedily,
constrained to the candidates when the run asks for it (``--answer-format choice`` ->
``StructuredOutputsParams(choice=[...])``, ``json`` -> ``StructuredOutputsParams(json=schema)``);
``score`` reads the prompt log-probabilities of each candidate's whole answer (its tokens, then
the end-of-turn token) appended to the prompt: the same quantity the transformers plugin scores (vLLM's prefix caching keeps the
shared prompt from being recomputed).

vLLM is imported when the engine starts, never when plugins are listed. The request
building and output parsing below are plain functions, tested without a GPU.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import harness
from harness.errors import UsageError
from harness.frames import time_told
from harness.model import Model
from harness.params import Param, check_args
from harness.plugins import families, hub
from harness.request_rules import told_metadata
from harness.types import Request, Response

ENGINE_PARAMS = {
    "tensor_parallel_size": Param(int, "GPUs per engine (tensor parallel)"),
    "data_parallel_size": Param(int, "engine replicas (data parallel)"),
    "max_model_len": Param(int, "context length"),
    "gpu_memory_utilization": Param(float, "share of GPU memory the engine may take"),
    "dtype": Param(str, "weights' dtype (auto, bfloat16, ...)"),
    "revision": Param(str, "hub revision"),
    "trust_remote_code": Param(bool, "run the checkpoint's own code"),
    "enforce_eager": Param(bool, "no CUDA graphs"),
}
PARAMS = {
    "pretrained": Param(str, "hub id or local folder of the checkpoint"),
    "mode": Param(str, "generate or score (default: the task's)", ("generate", "score")),
    "structured": Param(bool, "replaced by the run option --answer-format choice"),
    "max_new_tokens": Param(int, "tokens generated per answer (default 16)"),
    "batch_size": Param(int, "requests per engine call (default 256)"),
    "mm_processor_kwargs": Param(str, "JSON of processor arguments, e.g. {\"max_pixels\": 200704}"),
    "top_logprobs": Param(int, "log-probabilities returned per position (default 20)"),
    "family": Param(str, "the model type whose time input to use, when the config is not local"),
    **ENGINE_PARAMS,
}


def video_item(request: Request) -> tuple[Any, dict[str, Any]]:
    """vLLM's ``(frames, metadata)`` video item: the request's frames with what the core resolved to
    tell this model family about their times (the same metadata transformers and a server receive)."""
    meta: dict[str, Any] = {**told_metadata(request), "video_backend": "pyav", "do_sample_frames": False}
    return request.frames.array, meta


def engine_prompt(prompt: str | list[int], request: Request, mm_processor_kwargs: dict | None = None,
                  family: families.Family | None = None) -> dict:
    """One prompt for ``LLM.generate``: text (or token ids) plus the request's video, or plus still
    images of the frames its messages name (a strategy's keyframes), in the order the prompt shows them.
    Its ``mm_processor_kwargs`` are the family's (``harness.plugins.families``: the processor's own
    sampling off, and whatever carries the told time where the metadata does not), then the user's."""
    key = "prompt_token_ids" if isinstance(prompt, list) else "prompt"
    images = request.still_frames
    if images:
        from PIL import Image
        media = {"image": [Image.fromarray(request.frames.array[i]) for i in images]}
    else:
        media = {"video": [video_item(request)]}
    out: dict[str, Any] = {key: prompt, "multi_modal_data": media}
    own = family.request_kwargs(request) if family is not None and not images else {"do_sample_frames": False}
    out["mm_processor_kwargs"] = {**own, **(mm_processor_kwargs or {})}
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


def parse_generate(output) -> Response:
    return Response(text=output.outputs[0].text)


def candidate_logprob(output, n_tokens: int) -> float:
    """Sum of the prompt log-probabilities of the last ``n_tokens`` prompt tokens (the candidate)."""
    ids = list(output.prompt_token_ids)
    positions = range(len(ids) - n_tokens, len(ids))
    return sum(_logprob(output.prompt_logprobs[p][ids[p]]) for p in positions)


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
        self.processor = None
        # The timing family from the checkpoint's config when it is local or cached, else its name.
        model_type = args.get("family") or hub.describe(str(args["pretrained"]), args.get("revision"))[1]
        name = model_type if model_type != "unknown" else str(args["pretrained"])
        self.family = time_told.family_of(name)
        self.adapter = families.guess(name)  # the family's processor arguments (None: the generic ones)
        if self.adapter is not None and self.adapter.vllm is None:
            print(f"warning: vllm: {self.adapter.name} is not known to run in vLLM (no vLLM architecture takes its "
                  f"video input as of this plugin); the engine will say so if it cannot", file=sys.stderr)

    def provenance(self) -> dict[str, str]:
        from harness.results import package_versions
        return package_versions("vllm", "transformers", "torch")

    def time_family(self) -> str | None:
        return self.family

    def identity(self) -> dict[str, Any]:
        return {"id": self.args["pretrained"], "revision": self.args.get("revision"), "engine": "vllm",
                "dtype": self.args.get("dtype", "auto"),
                "engine_version": self._engine_version(), "family": self.family,
                "generation": {"temperature": 0.0, "repetition_penalty": 1.0, "generation_config": "vllm"},
                "args": {"mode": self.mode, "max_new_tokens": self.max_new_tokens,
                         "mm_processor_kwargs": self.mm_kwargs}}

    @staticmethod
    def _engine_version() -> str | None:
        from importlib import metadata
        try:
            return metadata.version("vllm")
        except metadata.PackageNotFoundError:
            return None

    def engine_kwargs(self) -> dict[str, Any]:
        # generation_config="vllm": the checkpoint's sampling defaults are not applied to our requests
        kwargs = {"model": self.args["pretrained"], "limit_mm_per_prompt": {"video": 1, "image": 16},
                  "generation_config": "vllm",
                  "mm_processor_kwargs": {"do_sample_frames": False, **self.mm_kwargs}}
        for key in ENGINE_PARAMS:
            if key in self.args:
                kwargs[key] = self.args[key]
        return kwargs

    def _start(self) -> None:
        if self.llm is not None:
            return
        started = time.perf_counter()
        try:
            import vllm
        except ImportError:
            raise UsageError('the vllm model needs vLLM (a GPU machine): pip install "dfer-harness[vllm]"') from None
        from transformers import AutoProcessor

        self.vllm = vllm
        self.processor = AutoProcessor.from_pretrained(self.args["pretrained"], revision=self.args.get("revision"),
                                                       trust_remote_code=bool(self.args.get("trust_remote_code")))
        self.llm = vllm.LLM(**self.engine_kwargs())
        self.load_s += time.perf_counter() - started

    def _params(self, kwargs: dict[str, Any]):
        kwargs = dict(kwargs)
        if "structured_outputs" in kwargs:
            from vllm.sampling_params import StructuredOutputsParams
            kwargs["structured_outputs"] = StructuredOutputsParams(**kwargs["structured_outputs"])
        return self.vllm.SamplingParams(**kwargs)

    def _text(self, request: Request) -> str:
        return self.processor.apply_chat_template(request.messages, add_generation_prompt=True, tokenize=False)

    def predict(self, requests: list[Request]) -> list[Response]:
        self._start()
        texts = [self._text(r) for r in requests]
        mode = requests[0].mode  # resolved by the core; a batch never mixes modes
        if mode == "generate":
            prompts = [engine_prompt(t, r, self.mm_kwargs, self.adapter) for t, r in zip(texts, requests)]
            params = [self._params(sampling_kwargs("generate", r, self.max_new_tokens))
                      for r in requests]
            return [parse_generate(o) for o in self.llm.generate(prompts, params, use_tqdm=False)]
        tok = self.processor.tokenizer
        end = hub.end_of_turn_token(self.processor, tok, self.args["pretrained"])
        cands = [[tok(c, add_special_tokens=False)["input_ids"] + [end] for c in r.candidates]
                 for r in requests]
        # Each whole answer appended to the prompt, all in one submission.
        prompts, owners = [], []
        for i, (t, r, c) in enumerate(zip(texts, requests, cands)):
            base = tok(t, add_special_tokens=False)["input_ids"]
            for ids in c:
                prompts.append(engine_prompt(base + ids, r, self.mm_kwargs, self.adapter))
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
             description="vLLM in-process engine (pretrained=..., tensor_parallel_size=...; GPU)")


__all__ = ["VLLMModel", "engine_prompt", "sampling_kwargs", "video_item", "parse_generate", "candidate_logprob"]
