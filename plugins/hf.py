"""Hugging Face transformers VLMs: ``hf`` and presets such as ``qwen-vl``.

    harness run --tasks dfew --model hf --model-args pretrained=Qwen/Qwen2.5-VL-7B-Instruct,dtype=bfloat16

Frames go in as one **video** with their real timing (total frame count,
rate and sampled indices as ``VideoMetadata``; the processor's own frame
sampling is off), or as separate images with ``video_input=images``. Two
modes: ``generate`` (chat template, greedy decoding, then the task's answer
parser) and ``score`` (the log-likelihood of every candidate's whole answer,
its exact string then the end-of-turn token, after the prompt; the best one
is the prediction). Greedy decoding is pinned: the checkpoint's own sampling
and penalty settings (Qwen2.5-VL ships ``repetition_penalty=1.05``) are not
used. Frames are sized by the processor's own reference settings
(``pixels=reference``, what the model was trained with); ``pixels=native``
keeps each clip's decoded size (down to one visual token).

torch and transformers are imported when a model is built, never when
plugins are listed.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import json
import os
import socket
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

import harness
from harness.frames import time_told
from harness.errors import HarnessError, UsageError
from harness.model import Model
from harness.types import Request, Response

ARGS = {
    "pretrained": str, "revision": str, "dtype": str, "device": str, "attn_implementation": str,
    "max_new_tokens": int, "batch_size": int, "mode": str, "video_input": str, "trust_remote_code": bool,
    "length_norm": bool, "prior_correction": bool, "min_pixels": int, "max_pixels": int, "threads": int,
    "pixels": str,
}
# Arguments that change outputs, hence part of the identity (results, leaderboard rows, cache keys).
OUTPUT_ARGS = ("mode", "video_input", "max_new_tokens", "length_norm", "prior_correction", "min_pixels",
               "max_pixels", "pixels")
# Greedy decoding, stated in full: nothing is inherited from a checkpoint's generation_config
# except which tokens end an answer.
GREEDY = {"do_sample": False, "num_beams": 1, "repetition_penalty": 1.0, "no_repeat_ngram_size": 0,
          "length_penalty": 1.0, "temperature": 1.0, "top_p": 1.0, "top_k": 50}


# Below this many parameters a model spends its CPU time in Python between small matmuls, and the
# prefetch thread gets a core of its own; above it the matmuls need every core. Measured on 2 cores
# (bench/loop.py, generate, batch 1 and 8): 0.12M parameters ran 1.11x and 1.25x faster with a core
# kept free (medians of 3); 6.8M ran 1.20x and 1.33x faster on every core, 26M 1.31x and 1.40x
# (single runs of 40 clips).
SMALL_MODEL = 1_000_000

# Pixel levels of the content-free videos a prior is estimated from (black, mid-grey, white).
CONTENT_FREE_LEVELS = (0, 128, 255)


class CheckpointUnavailable(HarnessError):
    """The checkpoint is neither local nor downloadable from here."""


def _hub_reachable(timeout: float = 5.0) -> bool:
    """One quick TCP connect to the hub, so that an offline machine fails in seconds, not minutes."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        with socket.create_connection((url.hostname, url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def _from_pretrained(loader, name: str, **kwargs):
    """``loader.from_pretrained`` from the local cache first, then the hub if it is reachable."""
    if Path(name).expanduser().is_dir():
        return loader.from_pretrained(str(Path(name).expanduser()), **kwargs)
    try:
        return loader.from_pretrained(name, local_files_only=True, **kwargs)
    except OSError as local_error:
        if not _hub_reachable():
            raise CheckpointUnavailable(
                f"checkpoint {name!r} is not in the local Hugging Face cache and the hub cannot be reached "
                f"from this machine. Fetch it where there is network (`hf download {name}`, then copy "
                f"~/.cache/huggingface), or pass pretrained=/path/to/a/local/folder. ({local_error})") from None
    try:
        return loader.from_pretrained(name, **kwargs)
    except OSError as exc:
        raise CheckpointUnavailable(f"checkpoint {name!r} could not be loaded: {exc}") from None


def _cuda_present() -> bool:
    """Whether an NVIDIA driver is present, without importing torch (listing and cached reruns stay light)."""
    return os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/nvidiactl")


def _describe(name: str, revision: str | None) -> tuple[str | None, str, bool]:
    """(revision, model type, present here) without loading the model: for a local folder a hash
    of its files, for a hub checkpoint in the local cache its commit hash."""
    local = Path(name).expanduser()
    config = local / "config.json" if local.is_dir() else None
    rev = revision
    if config is None:
        try:
            from huggingface_hub import try_to_load_from_cache
            found = try_to_load_from_cache(name, "config.json", revision=revision)
        except Exception:  # no hub library, or a malformed name: described after loading
            found = None
        if isinstance(found, str):
            config = Path(found)
            rev = config.parent.name  # .../snapshots/<commit>/config.json
    elif not revision:
        h = hashlib.sha256()
        for f in sorted(local.iterdir()):
            if f.is_file():
                h.update(f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}\n".encode())
        rev = f"local-{h.hexdigest()[:16]}"
    try:
        family = json.loads(config.read_text()).get("model_type", "unknown") if config else "unknown"
    except (OSError, ValueError):
        family = "unknown"
    return rev, family, config is not None and config.is_file()


def end_of_turn_token(processor, tokenizer, name: str) -> int:
    """The token a chat template writes right after an assistant's answer (``<|im_end|>`` for Qwen):
    score mode scores each whole answer up to it, on every backend."""
    marker = "QZXQ"
    text = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "text", "text": "x"}]},
         {"role": "assistant", "content": [{"type": "text", "text": marker}]}], tokenize=False)
    after = text.split(marker, 1)[1] if marker in text else ""
    ids = tokenizer(after, add_special_tokens=False)["input_ids"] if after.strip() else []
    if ids:
        return ids[0]
    if tokenizer.eos_token_id is None:
        raise UsageError(f"{name}: cannot tell which token ends an answer (the chat template writes none and "
                         f"the tokenizer has no eos token), so score mode cannot score whole answers; use "
                         f"mode=generate")
    return tokenizer.eos_token_id


def _declared_video_size(name: str, revision: str | None) -> dict[str, Any] | None:
    """The video processor's pixel bounds as the checkpoint's files declare them (read without
    loading anything): ``{"min_pixels", "max_pixels", "source"}``, or None when no file says."""
    local = Path(name).expanduser()
    for filename, section in (("video_preprocessor_config.json", None), ("processor_config.json", "video_processor"),
                              ("preprocessor_config.json", None)):
        path = local / filename if local.is_dir() else None
        if path is None:
            try:
                from huggingface_hub import try_to_load_from_cache
                found = try_to_load_from_cache(name, filename, revision=revision if revision and
                                               not revision.startswith("local-") else None)
            except Exception:
                found = None
            path = Path(found) if isinstance(found, str) else None
        if path is None or not path.is_file():
            continue
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        data = data.get(section, {}) if section else data
        size = data.get("size") or {}
        low = size.get("shortest_edge", data.get("min_pixels"))
        high = size.get("longest_edge", data.get("max_pixels"))
        if low is not None or high is not None:
            return {"min_pixels": low, "max_pixels": high, "source": filename}
    return None


class HFModel(Model):
    """Any image-text-to-text VLM that ``AutoModelForImageTextToText`` loads."""

    name = "hf"
    modes = ("generate", "score")

    def __init__(self, args: dict[str, Any], preset: str | None = None):
        unknown = set(args) - set(ARGS)
        if unknown:
            raise UsageError(f"model {preset or 'hf'}: unknown argument(s) {', '.join(sorted(unknown))}; "
                             f"it takes {', '.join(ARGS)}")
        if not args.get("pretrained"):
            raise UsageError("model hf needs pretrained=<hub id or local folder>")
        self.args = {k: ARGS[k](v) if ARGS[k] is not bool else str(v).lower() in ("1", "true", "yes")
                     for k, v in args.items()}
        self.preset = preset
        self.mode = self.args.get("mode")
        if self.mode not in (None, "generate", "score"):
            raise UsageError(f"mode must be generate or score, got {self.mode!r}")
        self.video_input = self.args.get("video_input", "video")
        if self.video_input not in ("video", "images"):
            raise UsageError(f"video_input must be video or images, got {self.video_input!r}")
        self.batch_size = self.args.get("batch_size", 1)
        self.max_new_tokens = self.args.get("max_new_tokens", 16)
        self.pixels = self.args.get("pixels", "reference")
        if self.pixels not in ("reference", "native"):
            raise UsageError(f"pixels must be reference (the processor's own sizing, as the model was trained) "
                             f"or native (each clip's decoded size), got {self.pixels!r}")
        if self.args.get("prior_correction") and self.mode == "generate":
            raise UsageError("prior_correction works on candidate scores, so it needs mode=score; in generate "
                             "mode it would do nothing")
        self._prior_cache: dict = {}
        device = self.args.get("device", "auto")
        if device == "auto":
            device = "cuda" if _cuda_present() else "cpu"
        dtype_name = self.args.get("dtype", "auto")
        if dtype_name == "auto":
            dtype_name = "bfloat16" if device.startswith("cuda") else "float32"
        if dtype_name not in ("bfloat16", "float16", "float32"):
            raise UsageError(f"dtype must be bfloat16, float16, float32 or auto, got {dtype_name!r}")
        self.device, self.dtype_name = device, dtype_name
        self.revision, self.family, available = _describe(self.args["pretrained"], self.args.get("revision"))
        self.declared_size = _declared_video_size(self.args["pretrained"], self.revision)
        if not available and not _hub_reachable():
            name = self.args["pretrained"]
            raise CheckpointUnavailable(
                f"checkpoint {name!r} is not in the local Hugging Face cache and the hub cannot be reached "
                f"from this machine. Fetch it where there is network (`hf download {name}`, then copy "
                f"~/.cache/huggingface), or pass pretrained=/path/to/a/local/folder.")
        self.model = None  # weights load on the first request the response cache cannot answer
        self._load_lock = threading.Lock()  # the prefetch thread and predict may both ask first
        self._threads: dict[str, Any] = {}
        self._local = threading.local()
        self._workload = None

    # -- loading -----------------------------------------------------------------------------------

    def _load(self) -> None:
        if self.model is not None:
            return
        with self._load_lock:
            if self.model is None:
                self._load_locked()

    def _load_locked(self) -> None:
        started = time.perf_counter()
        torch_before = "torch" in sys.modules
        try:
            import torch
            import transformers
            from transformers import AutoModelForImageTextToText, AutoProcessor
        except ImportError:
            raise UsageError('the hf model needs torch and transformers: pip install "dfer-harness[hf]"') from None
        self.torch = torch
        self._torch_before = torch_before
        # Warnings stay on: one about inputs (a missing fps, a truncated prompt) must reach the user.
        transformers.logging.set_verbosity_warning()
        transformers.logging.disable_progress_bar()
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise UsageError("device cuda was chosen but torch sees no CUDA device; pass device=cpu")
        device, dtype_name = self.device, self.dtype_name
        common = {"trust_remote_code": self.args.get("trust_remote_code", False)}
        if "revision" in self.args:
            common["revision"] = self.args["revision"]
        name = self.args["pretrained"]
        self.processor = _from_pretrained(AutoProcessor, name, **common)
        extra = {"attn_implementation": self.args["attn_implementation"]} if "attn_implementation" in self.args else {}
        self.model = _from_pretrained(AutoModelForImageTextToText, name, dtype=getattr(torch, dtype_name),
                                      **common, **extra)
        self.model.to(device).eval()
        self.tokenizer = self.processor.tokenizer
        self.tokenizer.padding_side = "left"  # batched generation and last-position scoring
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        # The prefetch thread builds inputs with its own copy: a fast tokenizer used from two threads
        # at once can fail ("Already borrowed").
        self.prep_processor = copy.deepcopy(self.processor)
        self.end_of_turn = self._end_of_turn()
        # Only which tokens end an answer comes from the checkpoint's generation_config; sampling and
        # penalties (GREEDY) are stated by us, so a checkpoint default never changes an answer.
        from transformers import GenerationConfig
        shipped = self.model.generation_config
        self.checkpoint_generation = shipped.to_diff_dict()
        self.model.generation_config = GenerationConfig(
            eos_token_id=shipped.eos_token_id, bos_token_id=shipped.bos_token_id,
            pad_token_id=shipped.pad_token_id if shipped.pad_token_id is not None else self.tokenizer.pad_token_id)
        forward = inspect.signature(self.model.forward).parameters
        self._cache_kwarg = "cache" if "cache" in forward else "past_key_values"
        if self.revision is None:  # downloaded just now: the commit is known only after loading
            self.revision = getattr(self.model.config, "_commit_hash", None)
        self.family = getattr(self.model.config, "model_type", self.family)
        self.load_s += time.perf_counter() - started

    def prepare(self, workload) -> None:
        self._workload = workload

    def _set_threads(self) -> None:
        """Choose torch's thread count once, in the thread that runs the model: ``threads=`` if
        given; else what the user set (``OMP_NUM_THREADS``, or a program that imported torch
        itself keeps its own setting); else the cores left after the decode processes, so that
        they never fight over a core (oversubscription slowed a CPU loop 20-30x in one
        measurement). The prefetch thread gets a core of its own only beside a model under
        ``SMALL_MODEL`` parameters, which spends its time in Python between small matmuls; a
        larger model's matmuls need every core (bench/loop.py, README "Threads")."""
        if self._threads:
            return
        torch = self.torch
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        workload = self._workload
        workers = workload.decode_workers if workload else 0
        parameters = sum(p.numel() for p in self.model.parameters())
        reserve = bool(workload and workload.prefetch) and parameters < SMALL_MODEL
        beside = workers + (1 if reserve else 0)
        if "threads" in self.args:
            torch.set_num_threads(max(1, self.args["threads"]))
            source = "threads="
        elif os.environ.get("OMP_NUM_THREADS"):
            source = "OMP_NUM_THREADS"
        elif self._torch_before:
            source = "kept: torch was imported and set up by the calling program"
        else:
            torch.set_num_threads(max(1, cores - beside))
            source = (f"{cores} cores less {beside} busy beside the model ({workers} decode processes"
                      + (", the prefetch thread beside a model this small)" if reserve else ")"))
        self._threads = {"torch_threads": torch.get_num_threads(), "source": source, "cores": cores,
                         "interop_threads": torch.get_num_interop_threads(), "parameters": parameters,
                         "decode_workers": workers, "prefetch_thread": bool(workload and workload.prefetch)}

    def runtime(self) -> dict[str, Any]:
        return {"device": self.device, **self._threads}

    def preprocess(self, requests: list[Request]) -> Any:
        """The processor's work for a batch (resize, patching, chat template, tokens), in the order
        ``predict`` runs it, so the model's thread only runs the model."""
        self._load()
        if not getattr(self._local, "threads_set", False):  # this thread's own setting: one core beside the model
            self.torch.set_num_threads(1)
            self._local.threads_set = True
        mode = self._mode(requests)
        if mode == "score" and self.args.get("prior_correction"):
            return None  # its content-free passes build their own inputs
        order = self._order(requests)
        return {"mode": mode, "order": order,
                "inputs": self._inputs([requests[i] for i in order], processor=self.prep_processor, to_device=False)}

    def predict_preprocessed(self, requests: list[Request], inputs: Any) -> list[Response]:
        return self.predict(requests, inputs)

    def provenance(self) -> dict[str, str]:
        from harness.results import package_versions
        return package_versions("torch", "transformers", "tokenizers", "torchvision")

    def timing_family(self) -> str | None:
        return time_told.family_of(self.family) if self.video_input == "video" else None

    def identity(self) -> dict[str, Any]:
        outputs = {k: self.args[k] for k in OUTPUT_ARGS if k in self.args}
        outputs.setdefault("video_input", self.video_input)
        outputs.setdefault("max_new_tokens", self.max_new_tokens)
        outputs.setdefault("pixels", self.pixels)
        return {"id": self.args["pretrained"], "revision": self.revision, "dtype": self.dtype_name,
                "family": self.family, "args": outputs,
                "generation": {**GREEDY, "max_new_tokens": self.max_new_tokens},
                "pixel_budget": self.pixel_budget()}

    def pixel_budget(self) -> dict[str, Any]:
        """The effective per-frame pixel bounds, as far as they are known without loading the model."""
        if self.pixels == "native":
            return {"min_pixels": self.args.get("min_pixels", "one visual token"),
                    "max_pixels": self.args.get("max_pixels", (self.declared_size or {}).get("max_pixels",
                                                                                         "processor default"))}
        declared = dict(self.declared_size or {"source": "processor class defaults"})
        for key in ("min_pixels", "max_pixels"):
            if key in self.args:
                declared[key] = self.args[key]
        return declared

    # -- inputs ------------------------------------------------------------------------------------

    def _messages(self, request: Request) -> list[dict]:
        """Chat-template messages: a video part stays one video (or becomes one image per frame with
        ``video_input=images``); an image part refers to one frame, shown as a still image."""
        count = len(request.frames.array)
        out = []
        for message in request.messages:
            content = []
            for part in message["content"]:
                if part.get("type") == "video" and self.video_input != "video":
                    content.extend([{"type": "image"}] * count)
                elif part.get("type") == "image":
                    content.append({"type": "image"})
                else:
                    content.append(part)
            out.append({**message, "content": content})
        return out

    @staticmethod
    def _image_frames(request: Request) -> list[int]:
        return [p["frame"] for m in request.messages for p in m["content"] if p.get("type") == "image"]

    def _size(self, processor) -> dict | None:
        """The pixel bounds handed to the processor: None keeps its reference sizing; ``native``
        keeps small clips small (the minimum becomes one merged visual token)."""
        size = getattr(processor, "size", None)
        if not hasattr(size, "get") or size.get("shortest_edge") is None:
            return None
        if self.pixels == "reference":
            if "min_pixels" not in self.args and "max_pixels" not in self.args:
                return None
            return {"shortest_edge": self.args.get("min_pixels", size.get("shortest_edge")),
                    "longest_edge": self.args.get("max_pixels", size.get("longest_edge"))}
        patch = getattr(processor, "patch_size", 14) * getattr(processor, "merge_size", 2)
        return {"shortest_edge": self.args.get("min_pixels", patch * patch),
                "longest_edge": self.args.get("max_pixels", size.get("longest_edge"))}

    def _inputs(self, requests: list[Request], suffixes: list[str] | None = None, processor=None,
                to_device: bool = True):
        """The processor's inputs for ``requests``, moved to the model's device unless ``to_device=False``."""
        self._load()
        from transformers.video_utils import VideoMetadata

        processor = processor or self.processor
        texts = [processor.apply_chat_template(self._messages(r), add_generation_prompt=True, tokenize=False)
                 for r in requests]
        if suffixes is not None:
            texts = [t + s for t, s in zip(texts, suffixes)]
        kwargs: dict[str, Any] = {"text": texts, "return_tensors": "pt", "padding": True}
        stills = [self._image_frames(r) for r in requests]
        if any(stills):  # a strategy's still images (keyframes), in the order the messages name them
            kwargs["images"] = [[r.frames.array[i] for i in idx] for r, idx in zip(requests, stills)]
            size = self._size(processor.image_processor)
            if size:
                kwargs["size"] = size
        elif self.video_input == "video":
            video_processor = processor.video_processor
            family = self.timing_family()
            kwargs["videos"] = [r.frames.array for r in requests]
            # harness.frames.time_told decides what the model is told, exactly as for vLLM and served models.
            kwargs["video_metadata"] = [
                VideoMetadata(**time_told.tell(r.frames, family).metadata, width=r.frames.array.shape[2],
                              height=r.frames.array.shape[1])
                for r in requests]
            kwargs["do_sample_frames"] = False  # the task sampled them; never sample twice
            size = self._size(video_processor)
            if size:
                kwargs["size"] = size
            if "cap_pixels_per_frame" in getattr(video_processor.valid_kwargs, "__annotations__", {}):
                kwargs["cap_pixels_per_frame"] = True
        else:
            kwargs["images"] = [list(r.frames.array) for r in requests]
            size = self._size(processor.image_processor)
            if size:
                kwargs["size"] = size
        inputs = processor(**kwargs)
        return inputs.to(self.device) if to_device else inputs

    # -- modes -------------------------------------------------------------------------------------

    def _mode(self, requests: list[Request]) -> str:
        # A request that requires its mode (a strategy's caption) gets it; otherwise mode= decides.
        return requests[0].mode if requests[0].mode_required else (self.mode or requests[0].mode)

    @staticmethod
    def _order(requests: list[Request]) -> list[int]:
        # Longest first: visual token count decides the cost; answers go back in request order.
        return sorted(range(len(requests)), key=lambda i: -requests[i].frames.array.size)

    def predict(self, requests: list[Request], prepared: dict | None = None) -> list[Response]:
        self._load()
        self._set_threads()
        mode = self._mode(requests)
        order = self._order(requests)
        ordered = [requests[i] for i in order]
        inputs = None
        if prepared is not None and prepared["mode"] == mode and prepared["order"] == order:
            inputs = prepared["inputs"].to(self.device)
        with self.torch.inference_mode():
            responses = self._generate(ordered, inputs) if mode == "generate" else self._score(ordered, inputs)
        out: list[Response] = [Response()] * len(requests)
        for i, response in zip(order, responses):
            out[i] = response
        return out

    def _generate(self, requests: list[Request], inputs=None) -> list[Response]:
        if self.args.get("prior_correction"):
            raise UsageError("prior_correction needs mode=score (this task asks for generated answers); "
                             "pass mode=score or drop prior_correction")
        inputs = inputs if inputs is not None else self._inputs(requests)
        output = self.model.generate(**inputs, **GREEDY, max_new_tokens=self.max_new_tokens,
                                     pad_token_id=self.tokenizer.pad_token_id)
        new = output[:, inputs["input_ids"].shape[1]:]
        tokens = self._visual_tokens(inputs)
        return [Response(text=t, meta={"visual_tokens": v})
                for t, v in zip(self.tokenizer.batch_decode(new, skip_special_tokens=True), tokens)]

    def _visual_tokens(self, inputs) -> list[int | None]:
        """Visual tokens each request's video and images took: the cost side of a frame protocol."""
        tokens = [t for t in (getattr(self.model.config, "video_token_id", None),
                              getattr(self.model.config, "image_token_id", None)) if t is not None]
        if not tokens:
            return [None] * inputs["input_ids"].shape[0]
        return sum((inputs["input_ids"] == t).sum(dim=1) for t in tokens).tolist()

    def _candidates(self, request: Request) -> list[str]:
        """What the model would write for each choice: the option letter, or the name."""
        return list(request.answer_keys or request.choices)

    def _continuations(self, request: Request) -> list[list[int]]:
        """The token ids of each whole answer as the prompt asks for it: the exact string, then the
        end-of-turn token, so ``sad`` does not also collect the mass of ``sadness``."""
        return [self.tokenizer(c, add_special_tokens=False)["input_ids"] + [self.end_of_turn]
                for c in self._candidates(request)]

    def _end_of_turn(self) -> int:
        return end_of_turn_token(self.processor, self.tokenizer, self.args["pretrained"])

    def _choice_scores(self, requests: list[Request], reference: bool = False, inputs=None) -> list[list[float]]:
        """Log-likelihood of each candidate's whole answer (its tokens, then end-of-turn) after each prompt.

        The prompt and its video are encoded once per batch; each candidate then
        continues from a copy of that key-value cache, with the position ids
        generation would use. ``reference=True`` instead runs prompt plus
        candidate in full, once per candidate (the slow path the tests compare with).
        """
        self._load()
        with self.torch.inference_mode():
            conts = [self._continuations(r) for r in requests]
            if reference:
                return [self._reference_scores(r, c) for r, c in zip(requests, conts)]
            return self._cached_scores(requests, conts, inputs)

    def _cached_scores(self, requests: list[Request], conts: list[list[list[int]]], inputs=None) -> list[list[float]]:
        torch = self.torch
        inputs = inputs if inputs is not None else self._inputs(requests)
        self._last_visual_tokens = self._visual_tokens(inputs)
        out = self.model(**inputs, use_cache=True)
        cache = getattr(out, "cache", None) or out.past_key_values
        first = torch.log_softmax(out.logits[:, -1, :].float(), dim=-1)  # left padding: last column is real
        mask = inputs["attention_mask"]
        prefix = mask.shape[1]
        core = getattr(self.model, "model", None)
        scores = [[0.0] * len(c) for c in conts]
        for index in range(len(conts[0])):
            tokens = [c[index] for c in conts]
            for row, t in enumerate(tokens):
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
                              use_cache=True, **{self._cache_kwarg: copy.deepcopy(cache)})
            logprobs = torch.log_softmax(step.logits.float(), dim=-1)
            for row, t in enumerate(tokens):
                for j, token in enumerate(t[1:]):
                    scores[row][index] += logprobs[row, j, token].item()
        return scores

    def _reference_scores(self, request: Request, conts: list[list[int]]) -> list[float]:
        """Prompt plus each candidate, right-padded, in one forward pass per request (video re-encoded)."""
        torch = self.torch
        base = self._inputs([request] * len(conts))
        prompt_len = base["input_ids"].shape[1]
        longest = max(len(t) for t in conts)
        extra = torch.full((len(conts), longest), self.tokenizer.pad_token_id, dtype=base["input_ids"].dtype)
        mask = torch.zeros((len(conts), longest), dtype=base["attention_mask"].dtype)
        for row, t in enumerate(conts):
            extra[row, :len(t)] = torch.tensor(t)
            mask[row, :len(t)] = 1
        inputs = dict(base)
        for key, value in base.items():  # every per-token tensor grows with the candidate tokens
            if hasattr(value, "shape") and value.dim() == 2 and value.shape == base["input_ids"].shape:
                fill = extra if key == "input_ids" else mask if key == "attention_mask" else torch.zeros_like(extra)
                inputs[key] = torch.cat([value, fill.to(value.device, value.dtype)], dim=1)
        logprobs = torch.log_softmax(self.model(**inputs).logits.float(), dim=-1)
        out = []
        for row, t in enumerate(conts):
            positions = torch.arange(prompt_len - 1, prompt_len - 1 + len(t), device=logprobs.device)
            out.append(logprobs[row, positions, torch.tensor(t, device=logprobs.device)].sum().item())
        return out

    def _normalise(self, scores: list[float], request: Request) -> list[float]:
        if not self.args.get("length_norm"):
            return scores
        return [s / len(t) for s, t in zip(scores, self._continuations(request))]

    def _prior(self, request: Request) -> list[float]:
        """Per-choice log-prior from content-free inputs (contextual calibration, Zhao et al. 2021):
        the same prompt, candidates and timing with black, mid-grey and white frames, their
        candidate probabilities averaged. A pure function of the request's prompt, choices, frame
        size and told timing, so it never depends on which clip came first."""
        told = time_told.tell(request.frames, self.timing_family()).metadata if self.timing_family() else None
        key = json.dumps([list(request.choices), list(request.frames.array.shape), request.messages, told],
                         sort_keys=True, default=str)
        if key not in self._prior_cache:
            torch = self.torch
            probs = []
            for level in CONTENT_FREE_LEVELS:
                blank = replace(request, frames=replace(request.frames,
                                                        array=np.full_like(request.frames.array, level)))
                raw = torch.tensor(self._normalise(self._choice_scores([blank])[0], request))
                probs.append(torch.softmax(raw, dim=0))
            self._prior_cache[key] = torch.log(torch.stack(probs).mean(dim=0)).tolist()
        return self._prior_cache[key]

    def _score(self, requests: list[Request], inputs=None) -> list[Response]:
        out = []
        raws = self._choice_scores(requests, inputs=inputs)
        tokens = self._last_visual_tokens
        for request, raw, visual in zip(requests, raws, tokens):
            scores = self._normalise(raw, request)
            cands = self._candidates(request)
            best = max(range(len(scores)), key=lambda i: scores[i])
            response = Response(text=cands[best], scores=dict(zip(request.choices, scores)),
                                meta={"visual_tokens": visual})
            if self.args.get("prior_correction"):
                corrected = [s - p for s, p in zip(scores, self._prior(request))]
                response.variants["prior_corrected"] = cands[max(range(len(corrected)), key=lambda i: corrected[i])]
            out.append(response)
        return out


# name -> (checkpoint, description, input handling exercised by the tests?)
PRESETS = {
    "qwen-vl": ("Qwen/Qwen2.5-VL-7B-Instruct", True),
    "qwen2-vl": ("Qwen/Qwen2-VL-7B-Instruct", True),
    "qwen3-vl": ("Qwen/Qwen3-VL-8B-Instruct", True),
    "llava-onevision": ("llava-hf/llava-onevision-qwen2-7b-ov-hf", False),
    "internvl3": ("OpenGVLab/InternVL3-8B-hf", False),
}


def _preset(name: str, checkpoint: str):
    def factory(args: dict) -> HFModel:
        return HFModel({"pretrained": checkpoint, **args}, preset=name)
    return factory


def tiny_qwen_vl(args: dict) -> HFModel:
    """Builds a tiny random Qwen2.5-VL into the cache on first use (chance-level answers)."""
    from harness.task import default_cache_dir
    from harness.testing.checkpoints import build

    family = str(args.pop("family", "qwen2.5-vl"))
    folder = default_cache_dir() / "checkpoints" / f"tiny-{family}"
    if not (folder / "config.json").is_file():
        build(family, folder)
    return HFModel({"pretrained": str(folder), **args}, preset="tiny-qwen-vl")


@harness.hookimpl
def harness_register_models(register):
    register("hf", lambda args: HFModel(args), description="Any transformers image-text-to-text VLM "
             "(pretrained=<hub id or folder>)")
    for name, (checkpoint, tested) in PRESETS.items():
        register(name, _preset(name, checkpoint),
                 description=f"{checkpoint}" + ("" if tested else " (untested input handling)"))
    register("tiny-qwen-vl", tiny_qwen_vl, description="A tiny random Qwen2.5-VL built offline: chance-level, "
             "for trying the VLM path (family=qwen2-vl|qwen2.5-vl|qwen3-vl)")
