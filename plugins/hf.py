"""Hugging Face transformers VLMs: ``hf`` and presets such as ``qwen-vl``.

    harness run --tasks dfew --model hf --model-args pretrained=Qwen/Qwen2.5-VL-7B-Instruct,dtype=bfloat16

Frames go in as one **video** with their real timing (total frame count,
rate and sampled indices as ``VideoMetadata``; the processor's own frame
sampling is off), or as separate images with ``video_input=images``. What
each family's processor needs for that (the switch that turns its sampling
off, what carries the told time, its chat-template and end-of-turn quirks,
the class that loads it) is declared once in :mod:`harness.plugins.families`;
``tiny-vlm family=F`` runs any family's tiny random twin offline. Two
modes: ``generate`` (chat template, greedy decoding, then the task's answer
parser) and ``score`` (the log-likelihood of every candidate's whole answer,
its exact string then the end-of-turn token, after the prompt; the best one
is the prediction). An omni family (Qwen2.5-Omni, Qwen3-Omni: their thinkers, text out) also takes
the clip's sound under ``--audio on``: it goes to the processor as ``audio=`` inside the video
(``load_audio_from_video`` with ``audio_from_video_indices``; never ``audios=``, the old name, which
a processor that does not check it drops, leaving the model deaf), the model gets
``use_audio_in_video=True`` in both modes, and ``audio_tokens`` is logged beside ``visual_tokens``.
Greedy decoding is pinned: the checkpoint's own sampling and penalty settings (Qwen2.5-VL ships
``repetition_penalty=1.05``) are not used. Frames are sized by the processor's own reference settings
(``pixels=reference``, what the model was trained with); ``pixels=native`` keeps each clip's decoded
size (down to one visual token).

torch and transformers are imported when a model is built, never when
plugins are listed.
"""

from __future__ import annotations

import copy
import inspect
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import harness
from harness import upstream
from harness.context import Context
from harness.errors import CapabilityError, UsageError
from harness.frames import time_told
from harness.model import Check, Model
from harness.params import Param, check_args
from harness.plugins import chat, families, hub, modelcheck
from harness.plugins.hf_score import ScoreMode
from harness.request_rules import told_metadata
from harness.types import Request, Response

PARAMS = {
    "family": Param(str, "the family adapter to apply when the config's model type is not one the harness knows "
                         "(a fine-tune with its own model type): 'harness list models'"),
    "trained_on": Param(str, "what the checkpoint was trained on relative to the benchmark (the leaderboard's "
                             "exposure): zero-shot, train-split, overlap or not-stated", ("zero-shot", "train-split",
                                                                                      "overlap", "not-stated")),
    "pretrained": Param(str, "hub id or local folder of the checkpoint"),
    "revision": Param(str, "hub revision (commit, branch or tag)"),
    "dtype": Param(str, "bfloat16 | float16 | float32 | auto", ("bfloat16", "float16", "float32", "auto")),
    "device": Param(str, "cpu, cuda, cuda:N or auto", answers=False),
    "attn_implementation": Param(str, "transformers' attention kernel, e.g. sdpa or flash_attention_2"),
    "max_new_tokens": Param(int, "tokens generated per answer (default 16)", low=1),
    "batch_size": Param(int, "requests per model call (default 1)", answers=False, low=1),
    "mode": Param(str, "generate or score (default: the task's)", ("generate", "score")),
    "video_input": Param(str, "video (one video with its timing) or images (one image per frame)",
                         ("video", "images")),
    "trust_remote_code": Param(bool, "run the checkpoint's own code"),
    "length_norm": Param(bool, "score mode: divide each answer's log-likelihood by its token count"),
    "prior_correction": Param(bool, "score mode: also report answers corrected by a content-free prior"),
    "min_pixels": Param(int, "per-frame pixel floor handed to the processor"),
    "max_pixels": Param(int, "per-frame pixel ceiling handed to the processor"),
    "threads": Param(int, "torch threads (default: the cores left beside the decode processes)", answers=False, low=1),
    "pixels": Param(str, "reference (the processor's own sizing) or native (each clip's size)",
                    ("reference", "native")),
}
# Arguments that change outputs, hence part of the identity (results, leaderboard rows, cache keys).
OUTPUT_ARGS = ("mode", "video_input", "max_new_tokens", "length_norm", "prior_correction", "min_pixels",
               "max_pixels", "pixels", "trained_on", "family", "attn_implementation", "trust_remote_code")
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



class HFModel(ScoreMode, Model):
    """Any image-text-to-text VLM that ``AutoModelForImageTextToText`` loads."""

    name = "hf"
    modes = ("generate", "score")
    answer_formats = ("free", "choice", "json")  # constrained through prefix_allowed_tokens_fn

    PARAMS = PARAMS

    def __init__(self, args: dict[str, Any], preset: str | None = None):
        self.args = check_args(f"model {preset or 'hf'}", args, PARAMS, "argument")
        if not self.args.get("pretrained"):
            raise UsageError("model hf needs pretrained=<hub id or local folder>")
        self.preset = preset
        self.mode = self.args.get("mode")
        self.video_input = self.args.get("video_input", "video")
        self.batch_size = self.args.get("batch_size", 1)
        self.max_new_tokens = self.args.get("max_new_tokens", 16)
        self.pixels = self.args.get("pixels", "reference")
        if self.args.get("prior_correction") and self.mode == "generate":
            raise UsageError("prior_correction works on candidate scores, so it needs mode=score; in generate "
                             "mode it would do nothing")
        self.prior_cache: dict = {}
        device = self.args.get("device", "auto")
        if device == "auto":
            device = "cuda" if hub.cuda_present() else "cpu"
        dtype_name = self.args.get("dtype", "auto")
        if dtype_name == "auto":
            dtype_name = "bfloat16" if device.startswith("cuda") else "float32"
        self.device, self.dtype_name = device, dtype_name
        self.revision, self.family, available = hub.describe(self.args["pretrained"], self.args.get("revision"))
        # A hub checkpoint not downloaded yet has no config here: its name tells the time family until the
        # config arrives (the core resolves the first batch's times before the weights load).
        self.named_time_family = _time_of(self.args["pretrained"], families.guess(self.args["pretrained"]))
        self.adapter = families.get(self.args["family"]) if "family" in self.args else families.for_model_type(self.family)
        self._check_pixels()
        self.declared_size = hub.declared_video_size(self.args["pretrained"], self.revision)
        if not available and not hub.hub_reachable():
            raise hub.unavailable(self.args["pretrained"])
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
        common = self._common()
        name = self.args["pretrained"]
        # the family's loader (its config may not be known before the download: then its name says)
        self.processor, adapter = self._processor(AutoProcessor)
        extra = {"attn_implementation": self.args["attn_implementation"]} if "attn_implementation" in self.args else {}
        self._preflight(adapter)  # before the weights load: a misconfigured checkpoint fails in seconds
        loader = getattr(transformers, adapter.loader) if adapter else AutoModelForImageTextToText
        self.model = hub.from_pretrained(loader, name, dtype=getattr(torch, dtype_name), **common, **extra)
        loaded = getattr(self.model.config, "model_type", self.family)
        loaded_time = _time_of(loaded, families.for_model_type(loaded))
        if self.video_input == "video" and self.family == "unknown" and loaded_time != self.named_time_family:
            raise CapabilityError(f"{self.args['pretrained']}: its name suggested the {self.named_time_family} time input, "
                                  f"but its config says model type {loaded!r}; the checkpoint is now cached, so run the "
                                  f"command again (the family is then read from the config before any request)")
        self.family = loaded
        self.adapter = families.for_model_type(self.family) or self.adapter
        self._check_pixels()
        self._check_audio_rate()
        for note in upstream.notes(self.adapter.name if self.adapter else None,
                                   {"transformers": transformers.__version__}):
            print(f"harness: warning: {note}", file=sys.stderr)
        _fallback_template(self.processor, self.adapter)  # the config may name another family than the name did
        self.model.to(device).eval()
        self.tokenizer = self.processor.tokenizer
        self.tokenizer.padding_side = "left"  # batched generation and last-position scoring
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        # The prefetch thread builds inputs with its own copy: a fast tokenizer used from two threads
        # at once can fail ("Already borrowed").
        self.prep_processor = copy.deepcopy(self.processor)
        self.end_of_turn_text = chat.end_of_turn_text(self.processor, self.adapter.end_of_turn if self.adapter else None)
        self.end_of_turn = self.end_of_turn_id()
        self.answer_ids = chat.AnswerIds(self.processor, self.tokenizer, self.end_of_turn_text)
        # Only which tokens end an answer comes from the checkpoint's generation_config; sampling and
        # penalties (GREEDY) are stated by us, so a checkpoint default never changes an answer.
        from transformers import GenerationConfig
        shipped = self.model.generation_config
        self.checkpoint_generation = shipped.to_diff_dict()
        # a checkpoint whose generation_config names no EOS (Qwen2.5-Omni ships {"_from_model_config": true})
        # still stops at its end of turn: the same set vLLM is given
        self.end_of_answer = chat.end_of_answer_ids(self.tokenizer, self.end_of_turn_text, shipped.eos_token_id)
        self.model.generation_config = GenerationConfig(
            eos_token_id=self.end_of_answer, bos_token_id=shipped.bos_token_id,
            pad_token_id=shipped.pad_token_id if shipped.pad_token_id is not None else self.tokenizer.pad_token_id)
        forward = inspect.signature(self.model.forward).parameters
        self.cache_kwarg = "cache" if "cache" in forward else "past_key_values"
        if self.revision is None:  # downloaded just now: the commit is known only after loading
            self.revision = getattr(self.model.config, "_commit_hash", None)
        self.load_s += time.perf_counter() - started

    def _common(self) -> dict[str, Any]:
        """What every from_pretrained of this checkpoint is given."""
        return {"trust_remote_code": self.args.get("trust_remote_code", False),
                **({"revision": self.args["revision"]} if "revision" in self.args else {})}

    def _processor(self, auto_processor):
        """The checkpoint's processor (no weights) with the family's template where it ships none, and the
        family adapter known before the weights load (from the config, else the name)."""
        processor = hub.from_pretrained(auto_processor, self.args["pretrained"], **self._common())
        adapter = self.adapter or families.guess(self.args["pretrained"])
        _fallback_template(processor, adapter)
        return processor, adapter

    def check(self) -> list[Check]:
        """The checkpoint contract on this checkpoint's small files (no weights loaded)."""
        from transformers import AutoProcessor
        processor, adapter = self._processor(AutoProcessor)
        return modelcheck.contract(processor, adapter, hub.local_folder(self.args["pretrained"], self.revision))

    def _preflight(self, adapter) -> None:
        """The checkpoint contract's cheap checks (harness check model) before any clip: a template that
        refuses the request or a score mode that would score text the model never writes fails in seconds,
        naming the check and its fix, not after an hour of answers."""
        score_only = {"score mode scores what the model writes", "reasoning block"}
        failed = [c for c in modelcheck.contract(self.processor, adapter)
                  if not c.ok and (self.mode == "score" or c.name not in score_only)]
        if failed:
            raise UsageError(f"{self.args['pretrained']}: the checkpoint contract fails ("
                             + "; ".join(f"{c.name}: {c.detail}; fix: {c.fix}" for c in failed)
                             + f"); run `harness check model {self.args['pretrained']}` for every check")

    def _check_pixels(self) -> None:
        """A family whose processor resizes every frame to a fixed size (or tiles) has no per-frame pixel
        bounds to set: pixels=native, min_pixels and max_pixels would silently do nothing there."""
        if self.adapter is None or self.adapter.pixels == families.AREA:
            return
        asked = [k for k in ("min_pixels", "max_pixels") if k in self.args] + (
            ["pixels=native"] if self.pixels == "native" else [])
        if asked:
            raise UsageError(f"{self.adapter.name} resizes every frame to its processor's fixed size "
                             f"({self.adapter.reference}), so {', '.join(asked)} cannot apply; leave "
                             f"{'them' if len(asked) > 1 else 'it'} out")

    def _check_audio_rate(self) -> None:
        """The rate the family declared (what the core decodes the sound at, settled before the weights
        load) must be the rate the checkpoint's feature extractor takes; otherwise every sound would be
        heard at the wrong speed. Recorded here, refused when a request brings sound."""
        self.audio_mismatch = None
        rate = self.audio_rate()
        if rate is None:
            return
        extractor = getattr(self.processor, "feature_extractor", None)
        takes = getattr(extractor, "sampling_rate", None)
        if takes != rate:
            self.audio_mismatch = (f"{self.args['pretrained']}: the {self.adapter.name} family takes sound at {rate} Hz, "
                                   f"but the checkpoint's feature extractor "
                                   + (f"takes {takes} Hz" if extractor is not None else "is missing")
                                   + "; its sound cannot be sent as decoded: run with --audio off")

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
        return {"mode": mode, "groups": [
            (group, self.model_inputs([requests[i] for i in group], processor=self.prep_processor, to_device=False))
            for group in self._groups(requests)]}

    def predict_preprocessed(self, requests: list[Request], inputs: Any) -> list[Response]:
        return self.predict(requests, inputs)

    def provenance(self) -> dict[str, str]:
        from harness.results import package_versions
        return package_versions("torch", "transformers", "tokenizers", "torchvision")

    def time_family(self) -> str | None:
        if self.video_input != "video":
            return None
        return self.named_time_family if self.family == "unknown" else _time_of(self.family, self.adapter)

    def audio_rate(self) -> int | None:
        """An omni family's declared rate (16 kHz), known before the weights load; None for every other
        family, and for frames sent as images (no video for the sound to go with)."""
        if self.video_input != "video":
            return None
        adapter = self.adapter or families.guess(self.args["pretrained"])
        return adapter.audio_rate if adapter is not None else None

    def end_of_turn_id(self) -> int:
        if self.end_of_turn_text is None:
            raise UsageError(f"{self.args['pretrained']}: cannot tell which token ends an answer (the chat template "
                             f"writes none and the tokenizer has no eos token), so score mode cannot score whole "
                             f"answers; use mode=generate")
        return self.tokenizer.convert_tokens_to_ids(self.end_of_turn_text)

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
        declared = self.declared_size
        family = self.adapter.reference_video_size(declared) if self.adapter is not None else None
        if family:  # the checkpoint states no video budget: the family's is passed explicitly
            declared = {"min_pixels": family["shortest_edge"], "max_pixels": family["longest_edge"],
                        "source": f"family {self.adapter.name} (the checkpoint states no video budget)"}
        declared = dict(declared or {"source": "processor class defaults"})
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
        return chat.messages_for(out, self.adapter.system if self.adapter else chat.PARTS)

    def _size(self, processor, video: bool = False) -> dict | None:
        """The pixel bounds handed to the processor: None keeps its reference sizing; ``native``
        keeps small clips small (the minimum becomes one merged visual token). For a video, the reference
        is the family's video budget where the checkpoint states none for video (its video processor was
        built from the image config: Family.reference_video_size), passed explicitly."""
        size = getattr(processor, "size", None)
        if not hasattr(size, "get") or size.get("shortest_edge") is None:
            return None
        if self.adapter is not None and self.adapter.pixels != families.AREA:
            return None  # a fixed size (its shortest_edge is an edge in pixels, not an area)
        family = self._family_video_size() if video else None
        base = family or size
        if self.pixels == "reference":
            if "min_pixels" not in self.args and "max_pixels" not in self.args:
                return family
            return {"shortest_edge": self.args.get("min_pixels", base.get("shortest_edge")),
                    "longest_edge": self.args.get("max_pixels", base.get("longest_edge"))}
        patch = getattr(processor, "patch_size", 14) * getattr(processor, "merge_size", 2)
        return {"shortest_edge": self.args.get("min_pixels", patch * patch),
                "longest_edge": self.args.get("max_pixels", size.get("longest_edge"))}

    def _family_video_size(self) -> dict | None:
        """The family's video budget where this checkpoint's files state no video budget (read once the files
        are here), else None."""
        if self.adapter is None or self.adapter.video_size is None:
            return None
        if self.declared_size is None:  # a hub checkpoint downloaded after __init__: its files are here now
            self.declared_size = hub.declared_video_size(self.args["pretrained"], self.revision)
        return self.adapter.reference_video_size(self.declared_size)

    def model_inputs(self, requests: list[Request], suffixes: list[str] | None = None, processor=None,
                to_device: bool = True):
        """The processor's inputs for ``requests``, moved to the model's device unless ``to_device=False``."""
        self._load()
        from transformers.video_utils import VideoMetadata

        processor = processor or self.processor
        texts = [processor.apply_chat_template(self._messages(r), add_generation_prompt=True, tokenize=False)
                 for r in requests]
        if suffixes is not None:
            texts = [t + s for t, s in zip(texts, suffixes)]
        kwargs: dict[str, Any] = {"text": texts, "return_tensors": "pt", "padding": True,
                                  "add_special_tokens": chat.adds_bos(processor.tokenizer, texts[0])}
        stills = [r.still_frames for r in requests]
        heard = [r.has_audio for r in requests]
        if any(heard) and (any(stills) or self.video_input != "video" or not self.audio_rate()):
            raise CapabilityError(f"{self.args['pretrained']} takes no sound with "
                                  + ("still frames" if any(stills) else "these inputs")
                                  + ": run with --audio off")
        if any(stills):  # a strategy's still images (keyframes), in the order the messages name them
            kwargs["images"] = [[r.frames.array[i] for i in idx] for r, idx in zip(requests, stills)]
            size = self._size(processor.image_processor)
            if size:
                kwargs["size"] = size
        elif self.video_input == "video":
            video_processor = processor.video_processor
            kwargs["videos"] = [r.frames.array for r in requests]
            # What the model is told about time was settled by the core (request.told), exactly as for
            # vLLM and served models.
            kwargs["video_metadata"] = [
                VideoMetadata(**told_metadata(r), width=r.frames.array.shape[2], height=r.frames.array.shape[1])
                for r in requests]
            # The task sampled them: the processor never samples twice (and takes the told time where
            # the metadata does not carry it): per family, harness.plugins.families.
            kwargs.update(families.video_kwargs(self.adapter, video_processor, requests,
                                                self._size(video_processor, video=True)))
            if any(heard):
                kwargs.update(self._audio_kwargs(requests, processor))
        else:
            kwargs["images"] = [list(r.frames.array) for r in requests]
            size = self._size(processor.image_processor)
            if size:
                kwargs["size"] = size
        inputs = processor(**kwargs)
        if any(heard):
            self._check_kept(requests, inputs, processor)
            # the thinker's rotary positions interleave the sound with the frames only when told so: it
            # travels with the inputs into forward (score mode) and generate
            inputs["use_audio_in_video"] = True
        return inputs.to(self.device) if to_device else inputs

    def _audio_kwargs(self, requests: list[Request], processor) -> dict[str, Any]:
        """The processor arguments that put each video's own sound inside it: ``audio=`` (never
        ``audios=``, the old name: transformers 5.24 refuses it, a processor that does not check drops it),
        one track per video, with
        ``load_audio_from_video`` and ``audio_from_video_indices`` (track i is video i's: the processor
        decodes nothing itself)."""
        if not all(r.has_audio for r in requests):
            raise ValueError("a batch mixes requests with and without sound; one model call is told "
                             "use_audio_in_video for all its videos or none (the plugin groups them apart)")
        if self.audio_mismatch:
            raise CapabilityError(self.audio_mismatch)
        rates = {r.frames.audio.rate for r in requests}
        if rates != {self.audio_rate()}:
            raise ValueError(f"sound decoded at {sorted(rates)} Hz, but {self.adapter.name} takes {self.audio_rate()} Hz")
        accepted = getattr(getattr(processor, "valid_processor_kwargs", None), "__annotations__", {})
        if "load_audio_from_video" not in accepted:
            import transformers
            raise UsageError(f"transformers {transformers.__version__}: {type(processor).__name__} has no "
                             f"load_audio_from_video, so a clip's sound cannot go inside its video; upgrade "
                             f"transformers, or run with --audio off")
        return {"audio": [r.frames.audio.samples for r in requests], "load_audio_from_video": True,
                "audio_from_video_indices": list(range(len(requests))), "sampling_rate": self.audio_rate()}

    @staticmethod
    def _check_kept(requests: list[Request], inputs, processor) -> None:
        """Every sound reached the model whole: a feature extractor that pads to a fixed length also cuts
        what is longer (Qwen2.5-Omni's, at 30 s), which would leave the video's end deaf."""
        hop = getattr(processor.feature_extractor, "hop_length", None)
        if not hop or "feature_attention_mask" not in inputs:
            return
        kept = inputs["feature_attention_mask"].sum(-1).tolist()
        for request, frames in zip(requests, kept):
            audio = request.frames.audio
            if frames < len(audio.samples) // hop:
                raise ValueError(f"{request.sample_id}: the processor kept {frames * hop / audio.rate:.2f} s of the "
                                 f"{audio.duration:.2f} s of sound over the sampled frames; sample fewer seconds "
                                 f"(a window), or run with --audio off")

    # -- modes -------------------------------------------------------------------------------------

    @staticmethod
    def _mode(requests: list[Request]) -> str:
        """The batch's mode, as the core resolved it (a batch never mixes modes)."""
        modes = {r.mode for r in requests}
        if len(modes) != 1:
            raise ValueError(f"a batch mixes answer modes {sorted(modes)}")
        return modes.pop()

    @staticmethod
    def _order(requests: list[Request]) -> list[int]:
        # Longest first: visual token count decides the cost; answers go back in request order.
        return sorted(range(len(requests)), key=lambda i: -requests[i].frames.array.size)

    def _groups(self, requests: list[Request]) -> list[list[int]]:
        """The batch split into model calls, each longest first: one call, unless the family needs
        one frame count (stacked video tensors) or one told rate per call; requests with sound never
        share a call with requests without (``use_audio_in_video`` is one flag per call)."""
        order = [i for i in self._order(requests) if self._unheard(requests[i]) is None]
        if not order:
            return []
        if self.adapter is None or self.video_input != "video" or any(r.still_frames for r in requests):
            return [order]
        groups: dict[tuple, list[int]] = {}
        for i in order:
            groups.setdefault((requests[i].has_audio,) + self.adapter.batch_key(requests[i]), []).append(i)
        return list(groups.values())

    def _unheard(self, request: Request) -> str | None:
        """Why a request's sound cannot reach the model whole (None: it can, or it has none): Qwen2.5-Omni's
        processor pads every sound to its feature extractor's chunk_length and cuts what is longer
        (``Family.audio_cut``; the published checkpoint keeps 300 s; Qwen3-Omni's keeps it whole). Only that
        sample fails; the rest of its batch is answered."""
        limit = modelcheck.audio_limit(self.processor, self.adapter)
        if not request.has_audio or not limit:  # Qwen3-Omni's processor keeps a long sound whole
            return None
        audio = request.frames.audio
        if audio.duration > limit + 1e-9:
            return (f"{request.sample_id}: {audio.duration:.2f} s of sound over the sampled frames, but the processor "
                    f"keeps at most {limit:.0f} s (it would cut the rest, leaving the video's end unheard); "
                    f"sample a shorter span (a window), or run with --audio off")
        return None

    def predict(self, requests: list[Request], prepared: dict | None = None) -> list[Response]:
        self._load()
        self._set_threads()
        mode = self._mode(requests)
        groups = self._groups(requests)
        ready: dict[tuple, Any] = {}
        if prepared is not None and prepared["mode"] == mode and [g for g, _ in prepared["groups"]] == groups:
            ready = {tuple(g): inputs for g, inputs in prepared["groups"]}
        out: list[Response] = [Response(error=self._unheard(r)) for r in requests]  # answered below unless unheard
        with self.torch.inference_mode():
            for group in groups:
                ordered = [requests[i] for i in group]
                inputs = ready.get(tuple(group))
                if inputs is not None:
                    inputs = inputs.to(self.device)
                responses = self._generate(ordered, inputs) if mode == "generate" else self.score(ordered, inputs)
                for i, response in zip(group, responses):
                    out[i] = response
        return out

    def _generate(self, requests: list[Request], inputs=None) -> list[Response]:
        if self.args.get("prior_correction"):
            raise UsageError("prior_correction needs mode=score (this task asks for generated answers); "
                             "pass mode=score or drop prior_correction")
        inputs = inputs if inputs is not None else self.model_inputs(requests)
        constrained, budget = {}, self.max_new_tokens
        if any(r.answer_format != "free" for r in requests):
            allowed, longest = self.allowed_tokens(requests, inputs["input_ids"].shape[1])
            constrained["prefix_allowed_tokens_fn"] = allowed
            budget = max(budget, longest)  # a constrained answer is never cut off into an invalid one
        output = self.model.generate(**inputs, **GREEDY, max_new_tokens=budget,
                                     pad_token_id=self.tokenizer.pad_token_id, **constrained)
        new = output[:, inputs["input_ids"].shape[1]:]
        metas = self.input_meta(inputs)
        return [Response(text=chat.decode_answer(self.tokenizer, row.tolist()), meta=m) for row, m in zip(new, metas)]

    def allowed_tokens(self, requests: list[Request], prompt_length: int):
        """transformers' ``prefix_allowed_tokens_fn`` for constrained answers: each row may only write
        one of its request's allowed answers (``Request.constrained_answers``), token by token, then the
        end-of-turn token; a row whose answer is free may write anything. Greedy decoding then picks
        the likeliest allowed answer, as vLLM's structured outputs do. Also returns the longest allowed
        answer in tokens: the generation budget a constrained answer needs."""
        vocabulary = list(range(len(self.tokenizer)))
        paths = [None if r.answer_format == "free" else
                 [self.answer_ids(self._messages(r), a) for a in r.constrained_answers()] for r in requests]

        def allowed(row: int, ids) -> list[int]:
            if paths[row] is None:
                return vocabulary
            written = ids[prompt_length:].tolist()
            following = {p[len(written)] for p in paths[row] if len(p) > len(written) and p[:len(written)] == written}
            return sorted(following) or [self.tokenizer.pad_token_id]  # the answer is complete: pad to the end
        return allowed, max((len(p) for ps in paths if ps for p in ps), default=0)

    def input_meta(self, inputs) -> list[dict[str, Any]]:
        """What each request's inputs cost, for its ``Response.meta``: ``visual_tokens``, and
        ``audio_tokens`` (the sound's placeholder tokens) when it was sent with its sound."""
        metas = [{"visual_tokens": v} for v in self.visual_tokens(inputs)]
        audio = getattr(self.model.config, "audio_token_id", None)
        if inputs.get("use_audio_in_video") and audio is not None:
            for meta, count in zip(metas, (inputs["input_ids"] == audio).sum(dim=1).tolist()):
                meta["audio_tokens"] = count
        return metas

    def visual_tokens(self, inputs) -> list[int | None]:
        """Visual tokens each request's video and images took: the cost side of a frame protocol."""
        tokens = [t for t in (getattr(self.model.config, "video_token_id", None),
                              getattr(self.model.config, "image_token_id", None)) if t is not None]
        if not tokens:
            return [None] * inputs["input_ids"].shape[0]
        return sum((inputs["input_ids"] == t).sum(dim=1) for t in tokens).tolist()


def _time_of(name: str | None, adapter: families.Family | None) -> str:
    """The time family of a model type or checkpoint name: its adapter's, where one adapts it (the
    family table states it for every adapted family), else :func:`time_told.family_of`."""
    return adapter.time if adapter is not None else time_told.family_of(name)


# Real checkpoints by family (harness.plugins.families): name -> (checkpoint, input handling exercised by
# the family's tiny twin in the tests?, default arguments).
# A reasoning model thinks before it answers: 16 new tokens would cut every answer off inside its
# reasoning (an unclosed-reasoning invalid answer), so its preset allows 1024.
REASONING_PRESETS = ("qwen3-vl-thinking", "glm-4.1v-thinking")
PRESETS = {name: (checkpoint, family.tested, {"max_new_tokens": 1024} if name in REASONING_PRESETS else {})
           for name, (checkpoint, family) in families.presets().items()}


def _preset(name: str, checkpoint: str, defaults: dict):
    def factory(args: dict) -> HFModel:
        model = HFModel({"pretrained": checkpoint, **defaults, **args}, preset=name)
        if name in REASONING_PRESETS:
            model.reasoning_tags = "default"  # <think>...</think> set apart before the answer is read
        return model
    return factory


def _twin_families() -> tuple[str, ...]:
    from harness.testing import checkpoints, twins  # light: neither imports torch at import time
    return checkpoints.FAMILIES + twins.FAMILIES


TINY_PARAMS = {**{k: v for k, v in PARAMS.items() if k != "pretrained"},
               "family": Param(str, "which tiny twin to build", ("qwen2-vl", "qwen2.5-vl", "qwen3-vl"))}
TINY_VLM_PARAMS = {**{k: v for k, v in PARAMS.items() if k != "pretrained"},
                   "family": Param(str, "which family's tiny twin to build (harness.plugins.families)",
                                   _twin_families())}


def _tiny(args: dict, context: Context, default: str, preset: str) -> HFModel:
    from harness.testing import twins

    args = dict(args)
    family = str(args.pop("family", default))
    folder = Path(context.cache_dir) / "checkpoints" / f"tiny-{family}"
    if not (folder / "config.json").is_file():
        twins.build(family, folder)
    return HFModel({"pretrained": str(folder), **args}, preset=preset)


def tiny_qwen_vl(args: dict, context: Context) -> HFModel:
    """Builds a tiny random Qwen2.5-VL (or ``family=``) into the cache folder on first use
    (chance-level answers)."""
    return _tiny(args, context, "qwen2.5-vl", "tiny-qwen-vl")


def tiny_vlm(args: dict, context: Context) -> HFModel:
    """Builds the tiny random twin of ``family=`` (any family with a twin: harness.testing.twins) into
    the cache folder on first use (chance-level answers): every adapter's path, offline."""
    if "family" not in args:
        raise UsageError(f"tiny-vlm needs family=<one of {', '.join(_twin_families())}>")
    return _tiny(args, context, "", "tiny-vlm")


def _hf(args: dict) -> HFModel:
    return HFModel(args)


def _fallback_template(processor, adapter) -> None:
    """A checkpoint that ships no chat template gets its family's."""
    if adapter and adapter.chat_template and not getattr(processor, "chat_template", None):
        processor.chat_template = adapter.chat_template


@harness.hookimpl
def harness_register_models(register):
    register("hf", _hf, params=PARAMS, description="Any transformers image-text-to-text VLM "
             "(pretrained=<hub id or folder>)")
    for name, (checkpoint, family) in families.presets().items():
        _, tested, defaults = PRESETS[name]
        said = "".join(f", {k}={v} by default" for k, v in defaults.items())
        register(name, _preset(name, checkpoint, defaults), params=PARAMS,
                 description=f"{checkpoint} [family {family.name}: {family.status()}]"
                 + (f" (reasoning model{said})" if name in REASONING_PRESETS else "")
                 + (f" (hears the clip's sound with --audio on, {family.audio_rate // 1000} kHz)"
                    if family.audio_rate else ""))
    register("tiny-qwen-vl", tiny_qwen_vl, params=TINY_PARAMS, description="A tiny random Qwen2.5-VL built "
             "offline: chance-level, for trying the VLM path (family=qwen2-vl|qwen2.5-vl|qwen3-vl)")
    register("tiny-vlm", tiny_vlm, params=TINY_VLM_PARAMS, description="The tiny random twin of any adapted "
             "family, built offline: chance-level, runs that family's whole path (family=" +
             "|".join(_twin_families()) + ")")
