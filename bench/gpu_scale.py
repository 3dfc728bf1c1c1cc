"""Speed at real scale on one GPU (issue 27): full-size Qwen2.5-VL-7B and Qwen3-VL-8B, random weights.

    bash bench/gpu_scale.sh                        # on the GPU machine: wheels, then this script
    python bench/gpu_scale.py --out DIR            # the GPU run itself (about 8 minutes by default)
    python bench/gpu_scale.py --check-meta         # CPU: both configs on the meta device, parameter counts
    python bench/gpu_scale.py --smoke --out DIR    # CPU: the whole pipeline, tiny configs, 4 clips

Cost does not depend on the weights' values, so each architecture is built from its published
configuration (literal dicts below, with their sources) with random bf16 weights straight on the
GPU: no download. Its tokenizer and processors come from the tiny offline builder
(``harness.testing.checkpoints``), with the published processor files substituted, so resizing and
patching are the real ones at the reference pixel budget.

Clips are synthetic and DFEW-like (H.264 mp4, 25 fps, 2-3.2 s, 224x224 by default: DFEW's face
crops, the cheapest clips per GPU second and so the hardest to keep the GPU fed; ``--big-size``
adds a few 1280x720 points), laid out as a DFEW release (``dfew:fold=1``, 16 segment frames) so the
harness runs exactly the user's path. Each point (architecture x mode x batch 1/8/32) runs the
harness loop and a plain hand loop (decode, processor, ``generate`` or a forward pass, answers) on
the same clips, and reports clips/s, the GPU busy fraction over the loop (NVML), where the time
went (decode, preprocess, model, answer), peak GPU memory and visual tokens per clip. Clip counts
follow a time budget: each point gets an equal share of what is left before ``--deadline-s``.
Results go to ``OUT/gpu_scale_<gpu>.json`` after every point, so a run cut short keeps what it did.

Only the adapter section below touches the harness (its module names are being refactored): if a
name moves, fix it there. Everything else uses torch, transformers, PyAV, numpy and NVML.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import gc
import hashlib
import json
import multiprocessing
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run from a checkout that is not pip-installed (the GPU machine)
    sys.path.insert(0, str(REPO))

# ================================================================================================
# Adapter: the only code that imports the harness. Update here when its module names change.
# ================================================================================================

DFEW_CLASSES = ("happy", "sad", "neutral", "angry", "surprise", "disgust", "fear")  # labels 1..7

# What harness.prompts.NAMES rendered for DFEW's classes when this was written (the fallback if
# the import moves; the hand loop must show the model the same prompt as the harness).
_PROMPT_FALLBACK = [
    {"role": "system", "content": [{"type": "text", "text": "You are an expert in facial expression analysis."}]},
    {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": (
        "Watch the video of a person's face. Which emotion does the facial expression show? Choose one "
        "of: happy, sad, neutral, angry, surprise, disgust, fear. Answer with one word.")}]},
]


def harness_prompt() -> tuple[list[dict], str]:
    """The chat messages the harness shows for DFEW (names template), and where they came from."""
    try:
        from harness.prompts import NAMES
        return NAMES.render(DFEW_CLASSES), "harness.prompts.NAMES"
    except Exception as exc:  # moved: the copy above
        return _PROMPT_FALLBACK, f"fallback copy ({type(exc).__name__}: {exc})"


def harness_tiny_checkpoint(family: str, out: Path) -> Path:
    """A tiny offline checkpoint folder (tokenizer, chat template, processors, tiny weights)."""
    from harness.testing.checkpoints import build
    return Path(build(family, out, vocab_size=2000))  # 2000 asks for every merge: prompts tokenize short


class HarnessLoop:
    """``harness run --tasks dfew:fold=1,media=M,root=R --model hf --limit N`` in this process, with a
    model object reused across runs (its weights are built once per architecture)."""

    def __init__(self):
        from harness import evaluator, host
        from harness.params import parse_tasks
        self.evaluator, self.parse_tasks = evaluator, parse_tasks
        self.host = host.load([])
        if "dfew" not in self.host.tasks or "hf" not in self.host.models:
            # not pip-installed (no entry points): load the built-in plugins by module path
            self.host = host.load(["harness.tasks.dfew", "harness.plugins.hf"])
        self.dropped: set[str] = set()

    def model(self, folder: Path, mode: str, device: str, dtype: str, max_new_tokens: int):
        return harness_hf_model(folder, mode, device, dtype, max_new_tokens, self.host)

    def run(self, model, folder: Path, root: Path, media: str, mode: str, batch: int, clips: int,
            device: str, dtype: str, max_new_tokens: int, workers: int, work: Path) -> dict:
        """One run; returns the results document's loop timings and task entry."""
        wanted = dict(tasks=self.parse_tasks(f"dfew:fold=1,media={media},root={root}"), model="hf",
                      model_args={"pretrained": str(folder), "mode": mode, "device": device, "dtype": dtype,
                                  "max_new_tokens": max_new_tokens},
                      batch_size=batch, limit=clips, output_path=work / "harness-out", progress=False,
                      cache_dir=work / "harness-cache", decode_workers=workers, frame_cache=False,
                      response_cache=False, bootstrap=0, log_samples=False)
        fields = {f.name for f in dataclasses.fields(self.evaluator.RunConfig)}
        self.dropped |= set(wanted) - fields  # a renamed option: said in the results, never silent
        config = self.evaluator.RunConfig(**{k: v for k, v in wanted.items() if k in fields})
        doc = self.evaluator.evaluate(self.host, config, model=model).document
        task = next(iter(doc["tasks"].values()))
        return {"run_timings": doc.get("timings"), "task_timings": task.get("timings"),
                "visual_tokens_per_clip": task.get("visual_tokens_per_clip"),
                "runtime": (doc.get("model") or {}).get("runtime"),
                "evaluated": (task.get("counts") or {}).get("evaluated"),
                "failed": (task.get("counts") or {}).get("failed"),
                "failures": (task.get("failures") or [])[:3]}


def harness_hf_model(folder: Path, mode: str, device: str, dtype: str, max_new_tokens: int, host=None):
    """The harness's transformers model plugin (``--model hf``), built the way the CLI builds it
    where the host allows, else from ``harness.plugins.hf.HFModel``."""
    args = {"pretrained": str(folder), "mode": mode, "device": device, "dtype": dtype,
            "max_new_tokens": max_new_tokens}
    if host is not None and hasattr(host, "build"):  # host.build(kind, name, params)
        return host.build("model", "hf", args)
    if host is not None and hasattr(host, "model"):  # older hosts: host.model(name).factory(args)
        return host.model("hf").factory(args)
    from harness.plugins.hf import HFModel
    return HFModel(args)


def harness_model_only(model, videos: list[tuple[np.ndarray, float]], mode: str, batch: int, budget_s: float,
                       max_clips: int) -> int:
    """Without PyAV the harness cannot be imported whole: drive its model plugin directly on
    in-memory frames (requests built here, preprocessing of batch i+1 beside the model on batch i,
    as the scheduler's prefetch does). No decoding, no scheduler. Returns clips answered."""
    from harness.types import Frames, Request
    messages, _ = harness_prompt()
    requests = []
    for i, (array, fps) in enumerate(videos):
        times = [j / fps for j in range(len(array))]
        frames = Frames(array=array, indices=list(range(len(array))), timestamps=times, fps=fps,
                        total_frames=len(array), duration=len(array) / fps)
        request = Request(sample_id=f"{i:05d}", frames=frames, messages=messages, choices=DFEW_CLASSES, mode=mode)
        try:  # newer harnesses settle the answer mode and the time told before a model sees a request
            from harness.request_rules import resolve
            request = resolve(request, model, mode)
        except ImportError:
            pass
        requests.append(request)
    done, start = 0, time.perf_counter()
    batches = [requests[i:i + batch] for i in range(0, len(requests), batch)]
    with ThreadPoolExecutor(1) as prep:
        pending = prep.submit(model.preprocess, batches[0])
        for k, part in enumerate(batches):
            inputs = pending.result()
            if k + 1 < len(batches):
                pending = prep.submit(model.preprocess, batches[k + 1])
            model.predict_preprocessed(part, inputs)
            done += len(part)
            if done >= max_clips or time.perf_counter() - start > budget_s:
                break
    return done


def harness_source_digest() -> str:
    """A hash of the harness's Python sources, so a results file names the code it measured."""
    h = hashlib.sha256()
    for folder in ("harness", "plugins", "tasks"):
        for path in sorted((REPO / folder).rglob("*.py")):
            h.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


# ================================================================================================
# Architectures: published configurations, written out literally.
# ================================================================================================

# Qwen/Qwen2.5-VL-7B-Instruct, config.json on the Hugging Face hub
# (https://huggingface.co/Qwen/Qwen2.5-VL-7B-Instruct/blob/main/config.json), as reproduced verbatim
# in NVIDIA TensorRT-LLM's test QWEN2_5_VL_7B_CONFIG (tests/unittest/_torch/modeling/
# test_modeling_qwen2_5vl.py; layer counts there are cut for testing, restored here: 28 text
# layers, 32 vision blocks) and in a verl training log that prints the loaded config.
# 8,292,166,656 parameters (the model card says 8.29B).
QWEN25_VL_7B = {
    "architectures": ["Qwen2_5_VLForConditionalGeneration"], "attention_dropout": 0.0,
    "bos_token_id": 151643, "eos_token_id": 151645, "vision_start_token_id": 151652, "vision_end_token_id": 151653,
    "vision_token_id": 151654, "image_token_id": 151655, "video_token_id": 151656, "hidden_act": "silu",
    "hidden_size": 3584, "initializer_range": 0.02, "intermediate_size": 18944, "max_position_embeddings": 128000,
    "max_window_layers": 28, "model_type": "qwen2_5_vl", "num_attention_heads": 28, "num_hidden_layers": 28,
    "num_key_value_heads": 4, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 32768,
    "tie_word_embeddings": False, "torch_dtype": "bfloat16", "transformers_version": "4.41.2", "use_cache": True,
    "use_sliding_window": False,
    "vision_config": {"depth": 32, "hidden_act": "silu", "hidden_size": 1280, "intermediate_size": 3420,
                      "num_heads": 16, "in_chans": 3, "out_hidden_size": 3584, "patch_size": 14,
                      "spatial_merge_size": 2, "spatial_patch_size": 14, "window_size": 112,
                      "fullatt_block_indexes": [7, 15, 23, 31], "tokens_per_second": 2, "temporal_patch_size": 2},
    "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
    "vocab_size": 152064,
}
# Its preprocessor_config.json (the repository ships no video_preprocessor_config.json, so
# transformers builds the video processor from this file too: frames up to 12.8 Mpixel).
QWEN25_VL_7B_PREPROCESSOR = {
    "min_pixels": 3136, "max_pixels": 12845056, "patch_size": 14, "temporal_patch_size": 2, "merge_size": 2,
    "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
    "image_processor_type": "Qwen2VLImageProcessor", "processor_class": "Qwen2_5_VLProcessor",
}

# Qwen/Qwen3-VL-8B-Instruct, config.json on the Hugging Face hub
# (https://huggingface.co/Qwen/Qwen3-VL-8B-Instruct/blob/main/config.json). Text: Qwen3-8B's shape
# (4096 wide, 36 layers, 32 heads, 8 KV heads, head 128, 12288 MLP, vocab 151936, untied head);
# vision: 27 blocks of 1152, 4304 MLP, patch 16, deepstack taps 8/16/24. Cross-checked against
# configs that copy it: ComfyUI's QWEN3VL_VISION["qwen3vl_8b"], the Cosmos3-nano VLM config (its
# backbone is Qwen3-VL-8B) and a Qwen3-VL port's vision test (out_hidden_size 4096).
# 8,767,123,696 parameters (model card and LM Studio: 8.77B).
QWEN3_VL_8B = {
    "architectures": ["Qwen3VLForConditionalGeneration"], "image_token_id": 151655, "model_type": "qwen3_vl",
    "text_config": {"attention_bias": False, "attention_dropout": 0.0, "bos_token_id": 151643, "dtype": "bfloat16",
                    "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu", "hidden_size": 4096,
                    "initializer_range": 0.02, "intermediate_size": 12288, "max_position_embeddings": 262144,
                    "model_type": "qwen3_vl_text", "num_attention_heads": 32, "num_hidden_layers": 36,
                    "num_key_value_heads": 8, "rms_norm_eps": 1e-06,
                    "rope_scaling": {"mrope_interleaved": True, "mrope_section": [24, 20, 20], "rope_type": "default"},
                    "rope_theta": 5000000, "use_cache": True, "vocab_size": 151936},
    "tie_word_embeddings": False, "transformers_version": "4.57.0.dev0", "video_token_id": 151656,
    "vision_config": {"deepstack_visual_indexes": [8, 16, 24], "depth": 27, "hidden_act": "gelu_pytorch_tanh",
                      "hidden_size": 1152, "in_channels": 3, "initializer_range": 0.02, "intermediate_size": 4304,
                      "model_type": "qwen3_vl", "num_heads": 16, "num_position_embeddings": 2304,
                      "out_hidden_size": 4096, "patch_size": 16, "spatial_merge_size": 2, "temporal_patch_size": 2},
    "vision_end_token_id": 151653, "vision_start_token_id": 151652,
}
# Its preprocessor_config.json and video_preprocessor_config.json (a video's pixel budget is for
# all its frames together: 25.2 Mpixel).
QWEN3_VL_8B_PREPROCESSOR = {
    "size": {"longest_edge": 16777216, "shortest_edge": 65536}, "patch_size": 16, "temporal_patch_size": 2,
    "merge_size": 2, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
    "processor_class": "Qwen3VLProcessor", "image_processor_type": "Qwen2VLImageProcessorFast",
}
QWEN3_VL_8B_VIDEO_PREPROCESSOR = {
    "size": {"longest_edge": 25165824, "shortest_edge": 4096}, "patch_size": 16, "temporal_patch_size": 2,
    "merge_size": 2, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
    "processor_class": "Qwen3VLProcessor", "video_processor_type": "Qwen3VLVideoProcessor",
}

ARCHS = {
    "qwen2.5-vl-7b": {"family": "qwen2.5-vl", "hub_id": "Qwen/Qwen2.5-VL-7B-Instruct", "config": QWEN25_VL_7B,
                      "files": {"preprocessor_config.json": QWEN25_VL_7B_PREPROCESSOR},
                      "expected_parameters": 8_292_166_656, "model_card": "8.29B"},
    "qwen3-vl-8b": {"family": "qwen3-vl", "hub_id": "Qwen/Qwen3-VL-8B-Instruct", "config": QWEN3_VL_8B,
                    "files": {"preprocessor_config.json": QWEN3_VL_8B_PREPROCESSOR,
                              "video_preprocessor_config.json": QWEN3_VL_8B_VIDEO_PREPROCESSOR},
                    "expected_parameters": 8_767_123_696, "model_card": "8.77B"},
}
TOKEN_KEYS = {"image_token_id": "<|image_pad|>", "video_token_id": "<|video_pad|>",
              "vision_start_token_id": "<|vision_start|>", "vision_end_token_id": "<|vision_end|>",
              "vision_token_id": "<|vision_pad|>"}


def full_config(arch: str, tok=None):
    """The published configuration as a transformers config; with ``tok``, its special-token ids are
    those of the local tokenizer (the vocabulary size stays the published one: the embedding and
    the output layer keep their real cost)."""
    from transformers import Qwen2_5_VLConfig, Qwen3VLConfig
    data = json.loads(json.dumps(ARCHS[arch]["config"]))
    if tok is not None:
        ids = {k: tok.convert_tokens_to_ids(v) for k, v in TOKEN_KEYS.items()}
        ends = {"bos_token_id": tok.convert_tokens_to_ids("<|endoftext|>"), "eos_token_id": tok.eos_token_id,
                "pad_token_id": tok.pad_token_id}
        data.update({k: v for k, v in ids.items() if k in data})
        (data["text_config"] if "text_config" in data else data).update(ends)
        if "text_config" in data:
            data.update(ends)
    cls = Qwen3VLConfig if data["model_type"] == "qwen3_vl" else Qwen2_5_VLConfig
    return cls(**data)


def checkpoint_folder(arch: str, work: Path, tiny: bool) -> Path:
    """A folder that loads like the published checkpoint, minus the weights: the tiny builder's
    tokenizer and chat template, the published processor files, and the full config (``tiny``:
    the tiny builder's own config, for the CPU smoke run)."""
    from transformers import AutoTokenizer
    folder = work / f"{arch}{'-tiny' if tiny else ''}"
    if folder.exists():
        shutil.rmtree(folder)
    harness_tiny_checkpoint(ARCHS[arch]["family"], folder)
    for name in ("processor_config.json", "preprocessor_config.json", "video_preprocessor_config.json",
                 "harness_tiny.json"):
        (folder / name).unlink(missing_ok=True)
    for name, data in ARCHS[arch]["files"].items():
        (folder / name).write_text(json.dumps(data, indent=1))
    if not tiny:
        full_config(arch, AutoTokenizer.from_pretrained(folder)).save_pretrained(folder)
    for weights in folder.glob("*.safetensors*"):  # never loaded: random_weights() builds the model
        weights.unlink()
    return folder


def meta_counts() -> dict:
    """Every architecture on the meta device: parameter counts without memory."""
    import torch
    from transformers import AutoModelForImageTextToText
    out = {}
    for arch, spec in ARCHS.items():
        with torch.device("meta"):
            model = AutoModelForImageTextToText.from_config(full_config(arch), dtype=torch.bfloat16)
        total = sum(p.numel() for p in model.parameters())
        vision = sum(p.numel() for n, p in model.named_parameters() if ".visual." in f".{n}")
        text = model.config.get_text_config()
        out[arch] = {"class": type(model).__name__, "parameters": total, "vision_parameters": vision,
                     "expected": spec["expected_parameters"], "hidden_size": text.hidden_size,
                     "layers": text.num_hidden_layers, "vocab_size": text.vocab_size,
                     "vision_depth": model.config.vision_config.depth,
                     "vision_hidden_size": model.config.vision_config.hidden_size,
                     "weights_gib_bf16": round(total * 2 / 2**30, 2)}
    return out


# ================================================================================================
# Random weights in place of from_pretrained (transformers only).
# ================================================================================================

MODELS: dict[str, object] = {}  # folder -> the module built for it
LOADS: list[str] = []  # folders the harness asked for


@contextlib.contextmanager
def random_weights():
    """While active, ``AutoModelForImageTextToText.from_pretrained(folder)`` returns the module
    built for that folder (random weights, already on the device) instead of reading weights."""
    from transformers import AutoModelForImageTextToText as Auto
    had_own = "from_pretrained" in Auto.__dict__
    original = Auto.__dict__.get("from_pretrained")

    def fake(cls, name, *args, **kwargs):
        LOADS.append(str(name))
        key = str(Path(name).expanduser().resolve())
        if key not in MODELS:
            raise RuntimeError(f"gpu_scale: no module was built for {name}")
        return MODELS[key]

    Auto.from_pretrained = classmethod(fake)
    try:
        yield
    finally:
        if had_own:
            Auto.from_pretrained = original
        else:
            del Auto.from_pretrained


def build_module(folder: Path, device: str, dtype):
    """The architecture in ``folder``'s config.json with random weights, made on ``device``."""
    import torch
    from transformers import AutoConfig, AutoModelForImageTextToText
    torch.manual_seed(0)
    config = AutoConfig.from_pretrained(folder)
    with torch.device(device):
        module = AutoModelForImageTextToText.from_config(config, dtype=dtype)
    module.eval()
    MODELS[str(folder.resolve())] = module
    return module


# ================================================================================================
# Measurement: time split, NVML busy fraction.
# ================================================================================================

class Split:
    """Seconds per stage, from any thread."""

    def __init__(self):
        self.lock = threading.Lock()
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.first: dict[str, float] = {}
        self.last: dict[str, float] = {}

    def add(self, key: str, start: float, end: float) -> None:
        with self.lock:
            self.seconds[key] = self.seconds.get(key, 0.0) + (end - start)
            self.calls[key] = self.calls.get(key, 0) + 1
            self.first.setdefault(key, start)
            self.last[key] = end


ACTIVE: dict[str, Split | None] = {"split": None}


def record(key: str, start: float) -> None:
    split = ACTIVE["split"]
    if split is not None:
        split.add(key, start, time.perf_counter())


def instrument_module(module, sync) -> None:
    """Time the module's forward and generate (a forward inside generate counts once), with the
    device synchronised at the end so that the GPU work lands in ``model``."""
    local = threading.local()

    def timed(fn):
        @functools.wraps(fn)  # keeps the signature: transformers and the harness inspect it
        def wrapper(*args, **kwargs):
            if getattr(local, "inside", False):
                return fn(*args, **kwargs)
            local.inside = True
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                sync()
                local.inside = False
                record("model", start)
        return wrapper

    module.forward = timed(module.forward)
    module.generate = timed(module.generate)


def instrument_plugin(model) -> None:
    """Time the model plugin's public calls: prepare (the loop starts when it returns), preprocess
    (the prefetch thread's processor work) and predict (the model thread; predict_preprocessed
    calls predict on the instance, so only the outermost of the two counts)."""
    depth = threading.local()

    def wrap(fn, key: str, nested: bool):
        def wrapper(*args, **kwargs):
            outer = not getattr(depth, "n", 0)
            if nested:
                depth.n = getattr(depth, "n", 0) + 1
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                if nested:
                    depth.n -= 1
                if outer or not nested:
                    record(key, start)
        return wrapper

    for name, key, nested in (("prepare", "prepare", False), ("preprocess", "preprocess", False),
                              ("predict", "predict", True), ("predict_preprocessed", "predict", True)):
        fn = getattr(model, name, None)
        if fn is not None:
            setattr(model, name, wrap(fn, key, nested))


class Busy:
    """GPU busy fraction from NVML: utilization.gpu polled every 50 ms, and the driver's own
    utilization samples (nvmlDeviceGetSamples) collected every second; both averaged over a
    window. NVML's figure is the share of time any kernel ran, not how full the SMs were."""

    def __init__(self, index: int = 0):
        self.nvml = self.handle = None
        self.polls: list[tuple[float, int]] = []
        self.samples: list[tuple[float, int]] = []
        self.error = None
        try:
            import pynvml
            pynvml.nvmlInit()
            self.nvml, self.handle = pynvml, pynvml.nvmlDeviceGetHandleByIndex(index)
        except Exception as exc:  # no driver (the CPU smoke run), or no nvidia-ml-py
            self.error = f"{type(exc).__name__}: {exc}"
            return
        self.fetch_lock, self.seen = threading.Lock(), int(time.time() * 1e6)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="gpu-scale-nvml", daemon=True)
        self.thread.start()

    def _fetch(self) -> None:
        """The driver's utilization samples since the last fetch (it keeps a short ring of them)."""
        nv = self.nvml
        with self.fetch_lock:
            try:
                _, got = nv.nvmlDeviceGetSamples(self.handle, nv.NVML_GPU_UTILIZATION_SAMPLES, self.seen)
            except Exception:
                return  # not every driver keeps samples: the polls still count
            for s in got:
                if s.timeStamp > self.seen:
                    self.samples.append((s.timeStamp / 1e6, int(s.sampleValue.uiVal)))
                    self.seen = s.timeStamp

    def _loop(self) -> None:
        next_fetch = time.time() + 1.0
        while not self.stop.wait(0.05):
            now = time.time()
            try:
                self.polls.append((now, self.nvml.nvmlDeviceGetUtilizationRates(self.handle).gpu))
            except Exception:
                pass
            if now >= next_fetch:
                next_fetch = now + 1.0
                self._fetch()

    def window(self, t0: float, t1: float) -> dict:
        """Mean busy % between two time.time() instants."""
        if self.handle is None:
            return {"nvml": None, "reason": self.error}
        self._fetch()
        polls = [v for t, v in self.polls if t0 <= t <= t1]
        samples = [v for t, v in self.samples if t0 <= t <= t1]
        return {"poll_mean_pct": round(float(np.mean(polls)), 1) if polls else None, "polls": len(polls),
                "samples_mean_pct": round(float(np.mean(samples)), 1) if samples else None,
                "samples": len(samples), "window_s": round(t1 - t0, 3)}

    def info(self) -> dict:
        if self.handle is None:
            return {"nvml": None, "reason": self.error}
        nv, out = self.nvml, {}
        for key, call in (("name", lambda: nv.nvmlDeviceGetName(self.handle)),
                          ("driver", nv.nvmlSystemGetDriverVersion),
                          ("cuda_driver", lambda: nv.nvmlSystemGetCudaDriverVersion_v2()),
                          ("memory_total_gib", lambda: round(nv.nvmlDeviceGetMemoryInfo(self.handle).total / 2**30, 1)),
                          ("power_limit_w", lambda: nv.nvmlDeviceGetPowerManagementLimit(self.handle) / 1000)):
            try:
                value = call()
                out[key] = value.decode() if isinstance(value, bytes) else value
            except Exception as exc:
                out[key] = f"unavailable ({type(exc).__name__})"
        if isinstance(out.get("cuda_driver"), int):
            v = out["cuda_driver"]
            out["cuda_driver"] = f"{v // 1000}.{v % 1000 // 10}"
        return out


# ================================================================================================
# Synthetic DFEW-like clips (numpy frames, H.264 through PyAV), laid out as a DFEW release.
# ================================================================================================

def synth_frames(seed: int, count: int, height: int, width: int) -> np.ndarray:
    """A face-like moving picture: a smooth textured background panning, a skin-toned ellipse with
    eyes swaying over it, a mouth that opens and closes, and sensor noise (so the codec has real
    work). Made with whole-frame integer operations: about 20 ms a 1280x720 frame."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    pad = max(8, min(height, width) // 8)
    cell = max(4, min(height, width) // 10)  # about ten blotches across the short side, muted colours
    coarse = rng.integers(0, 256, (max(2, (height + 2 * pad) // cell), max(2, (width + 2 * pad) // cell), 3))
    coarse = (0.5 * coarse + 0.5 * coarse.mean(axis=2, keepdims=True)).astype(np.uint8)
    background = np.asarray(Image.fromarray(coarse).resize((width + 2 * pad, height + 2 * pad), Image.BICUBIC))
    noise = rng.integers(-7, 8, (height + pad, width + pad, 3), dtype=np.int16)  # cropped anew each frame
    yy, xx = np.ogrid[0:height, 0:width]
    cx, cy = width / 2, height / 2
    rx, ry = 0.28 * min(height, width), 0.36 * min(height, width)
    face = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1
    layer = np.zeros((height, width, 3), np.uint8)
    layer[face] = (rng.uniform(110, 240), rng.uniform(75, 200), rng.uniform(55, 170))
    for side in (-1, 1):
        eye = ((xx - cx - side * 0.4 * rx) / (0.18 * rx)) ** 2 + ((yy - cy + 0.25 * ry) / (0.08 * ry)) ** 2 <= 1
        layer[eye] = (40, 30, 30)
    # the mouth's box, centred 0.45 ry below the face's centre
    mh, mw = max(2, int(0.16 * ry)), max(2, int(0.45 * rx))
    my, mx = int(cy + 0.45 * ry), int(cx)
    by, bx = np.ogrid[-mh:mh, -mw:mw]
    out = np.empty((count, height, width, 3), np.uint8)
    phase = rng.uniform(0, 2 * np.pi)
    sway = max(1, min(height, width) // 40)
    for t in range(count):
        dx = int(pad * (0.5 + 0.5 * np.sin(2 * np.pi * t / 61 + phase)))
        dy = int(pad * (0.5 + 0.5 * np.cos(2 * np.pi * t / 83 + phase)))
        sx = int(round(sway * np.sin(2 * np.pi * t / 37 + phase)))
        sy = int(round(sway * np.cos(2 * np.pi * t / 41 + phase)))
        frame = background[dy:dy + height, dx:dx + width].astype(np.int16)
        mask = np.roll(face, (sy, sx), (0, 1))
        frame[mask] = np.roll(layer, (sy, sx), (0, 1))[mask]
        opening = 0.15 + 0.85 * (0.5 + 0.5 * np.sin(2 * np.pi * t / 29 + phase))
        mouth = (bx / mw) ** 2 + (by / (opening * mh)) ** 2 <= 1
        y0, x0 = my + sy - mh, mx + sx - mw
        if 0 <= y0 and y0 + 2 * mh <= height and 0 <= x0 and x0 + 2 * mw <= width:
            frame[y0:y0 + 2 * mh, x0:x0 + 2 * mw][mouth] = (120, 30, 40)
        ny, nx = rng.integers(0, pad + 1, size=2)
        frame += noise[ny:ny + height, nx:nx + width]
        out[t] = np.clip(frame, 0, 255)
    return out


def _write_clip(job: tuple) -> str:
    """One pool clip: an mp4 (PyAV, libx264) or a folder of JPEGs."""
    path, seed, count, height, width, fps, media = job
    frames = synth_frames(seed, count, height, width)
    if media == "frames":
        from PIL import Image
        os.makedirs(path, exist_ok=True)
        for i, frame in enumerate(frames, start=1):
            Image.fromarray(frame).save(os.path.join(path, f"{i}.jpg"), quality=90)
        return path
    import av
    with av.open(path, "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "21", "preset": "medium"}
        stream.codec_context.thread_count = 1
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


def make_dfew_root(root: Path, rows: int, pool: int, height: int, width: int, media: str, fps: int = 25,
                   seconds: tuple[float, float] = (2.0, 3.2), workers: int = 1, seed: int = 0):
    """``root`` laid out as DFEW (fold 1 only): ``rows`` clips that are links to ``pool`` distinct
    synthetic clips. Returns (the fold's media paths in order, a future for the pool's writing)."""
    split = root / "EmoLabel_DataSplit" / "test(single-labeled)"
    split.mkdir(parents=True, exist_ok=True)
    media_dir = root / ("Clip/original" if media == "video" else "Clip/clip_224x224")
    (media_dir / "_pool").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    jobs = []
    for p in range(pool):
        count = int(round(rng.uniform(*seconds) * fps))
        name = f"p{p:03d}.mp4" if media == "video" else f"p{p:03d}"
        jobs.append((str(media_dir / "_pool" / name), seed * 1000 + p, count, height, width, fps, media))
    labels = rng.integers(1, 8, size=rows)
    lines = ["video_name,label"] + [f"{i + 1:05d},{labels[i]}" for i in range(rows)]
    (split / "set_1.csv").write_text("\n".join(lines) + "\n")
    paths = [media_dir / (f"{i + 1:05d}.mp4" if media == "video" else f"{i + 1:05d}") for i in range(rows)]
    executor = (ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
                if workers > 1 else ThreadPoolExecutor(1))

    def finish() -> None:
        list(executor.map(_write_clip, jobs))
        executor.shutdown()
        for i, link in enumerate(paths):  # hard links for files, relative symlinks for folders
            target = Path(jobs[i % pool][0])
            if link.exists() or link.is_symlink():
                continue
            if media == "video":
                try:
                    os.link(target, link)
                except OSError:
                    os.symlink(os.path.relpath(target, link.parent), link)
            else:
                os.symlink(os.path.relpath(target, link.parent), link)

    return paths, ThreadPoolExecutor(1).submit(finish)


# ================================================================================================
# The plain hand loop: PyAV, the processor, generate or a forward pass, answers.
# ================================================================================================

def segment_middles(total: int, k: int) -> list[int]:
    return [min(total - 1, int((i + 0.5) * total / k)) for i in range(k)]


def decode_clip(path: Path, k: int, media: str, synthetic: dict | None):
    """16 frames of a clip and their timing, as a careful user reads them."""
    from transformers.video_utils import VideoMetadata
    if synthetic is not None:  # no PyAV: frames made in memory (decode not measured)
        video, fps = synthetic[str(path)]
        times = [i / fps for i in range(len(video))]
    elif media == "video":
        import av
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            decoded = list(container.decode(stream))
        idx = segment_middles(len(decoded), k)
        video = np.stack([decoded[i].to_ndarray(format="rgb24") for i in idx])
        times = [float(decoded[i].time) for i in idx]
    else:
        from PIL import Image
        names = sorted(os.listdir(path), key=lambda n: int(Path(n).stem))
        idx = segment_middles(len(names), k)
        video = np.stack([np.asarray(Image.open(path / names[i]).convert("RGB")) for i in idx])
        times = [i / 25.0 for i in idx]
    spacing = (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 and times[-1] > times[0] else 1 / 25
    meta = VideoMetadata(total_num_frames=len(video), fps=1.0 / spacing, frames_indices=list(range(len(video))),
                         duration=len(video) * spacing, width=video.shape[2], height=video.shape[1])
    return video, meta


def expand_for_scores(inputs, conts: list[list[int]], pad_id: int):
    """Each clip's row repeated once per candidate, the candidate's tokens (then end of turn)
    appended, right-padded: one forward pass scores every candidate (the video is encoded again
    for each, as in bench/hf_overhead.py's plain loop)."""
    import torch
    ids = inputs["input_ids"]
    rows, length = ids.shape
    k, width = len(conts), max(map(len, conts))
    extra = torch.full((k, width), pad_id, dtype=ids.dtype)
    mask = torch.zeros((k, width), dtype=inputs["attention_mask"].dtype)
    for r, c in enumerate(conts):
        extra[r, :len(c)], mask[r, :len(c)] = torch.tensor(c), 1
    out = {}
    for key, value in inputs.items():
        if key == "pixel_values_videos":
            sizes = inputs["video_grid_thw"].prod(-1).tolist()
            out[key] = torch.cat([chunk for chunk in value.split(sizes) for _ in range(k)])
        elif torch.is_tensor(value) and value.dim() == 2 and tuple(value.shape) == (rows, length):
            fill = extra if key == "input_ids" else mask if key == "attention_mask" else torch.zeros_like(extra)
            out[key] = torch.cat([value.repeat_interleave(k, 0), fill.to(value.dtype).repeat(rows, 1)], 1)
        elif torch.is_tensor(value) and value.dim() >= 1 and value.shape[0] == rows:
            out[key] = value.repeat_interleave(k, 0)
        elif isinstance(value, list) and len(value) == rows:
            out[key] = [v for v in value for _ in range(k)]
        else:
            out[key] = value
    return out, width


def hand_loop(module, folder: Path, paths: list[Path], media: str, mode: str, batch: int, budget_s: float,
              max_clips: int, device: str, max_new_tokens: int, sync, frames: int = 16,
              synthetic: dict | None = None) -> dict:
    """What a careful user writes: decode, processor, model, answers, one batch after another.
    One warm-up batch first (not counted); then batches until ``budget_s`` (warm-up included; at
    least one batch) or ``max_clips``."""
    import torch
    from transformers import AutoProcessor
    processor = AutoProcessor.from_pretrained(folder)
    tok = processor.tokenizer
    tok.padding_side = "left"
    messages, _ = harness_prompt()
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    kwargs = {"do_sample_frames": False, "return_tensors": "pt", "padding": True}
    if "cap_pixels_per_frame" in getattr(processor.video_processor.valid_kwargs, "__annotations__", {}):
        kwargs["cap_pixels_per_frame"] = True  # what the processor's own warning advises (and the harness sets)
    end = tok.convert_tokens_to_ids("<|im_end|>")
    conts = [tok(c, add_special_tokens=False)["input_ids"] + [end] for c in DFEW_CLASSES]
    video_token = tok.convert_tokens_to_ids("<|video_pad|>")
    state = {"visual": []}

    def one(part: list[Path]) -> None:
        start = time.perf_counter()
        videos, metas = zip(*(decode_clip(p, frames, media, synthetic) for p in part))
        record("decode", start)
        start = time.perf_counter()
        inputs = processor(text=[text] * len(videos), videos=list(videos), video_metadata=list(metas), **kwargs)
        state["visual"].append(float((inputs["input_ids"] == video_token).sum()) / len(videos))
        if mode == "score":
            inputs, width = expand_for_scores(inputs, conts, tok.pad_token_id)
        record("preprocess", start)
        start = time.perf_counter()
        inputs = {k: v.to(device) if torch.is_tensor(v) else v for k, v in inputs.items()}
        record("answer", start)
        with torch.inference_mode():
            if mode == "generate":
                out = module.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
                                      repetition_penalty=1.0, pad_token_id=tok.pad_token_id)
                start = time.perf_counter()
                tok.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
                record("answer", start)
            else:
                logits = module(**inputs, use_cache=False, logits_to_keep=width + 1).logits
                start = time.perf_counter()
                logp = torch.log_softmax(logits.float(), -1)
                k = len(conts)
                picks = torch.zeros((logp.shape[0],), device=logp.device)
                for c, ids in enumerate(conts):
                    rows = torch.arange(c, logp.shape[0], k, device=logp.device)
                    for j, t in enumerate(ids):
                        picks[rows] += logp[rows, j, t]
                scores = picks.view(-1, k).tolist()
                [max(range(k), key=s.__getitem__) for s in scores]
                record("answer", start)

    split, ACTIVE["split"] = ACTIVE["split"], None
    warm = time.perf_counter()
    one(paths[:batch])  # warm-up: this batch shape's kernels, the processor's first call
    warm_s = time.perf_counter() - warm
    ACTIVE["split"] = split
    state["visual"].clear()
    done, start = 0, time.perf_counter()
    while done < min(max_clips, len(paths)):
        part = paths[done:done + batch]
        if len(part) < batch:
            break
        one(part)
        done += len(part)
        if time.perf_counter() - start >= budget_s - warm_s:
            break
    wall = time.perf_counter() - start
    return {"clips": done, "loop_s": wall, "warmup_s": warm_s,
            "visual_tokens_per_clip": round(float(np.mean(state["visual"])), 1) if state["visual"] else None,
            "processor_kwargs": {k: v for k, v in kwargs.items() if k != "return_tensors"}}


# ================================================================================================
# Orchestration
# ================================================================================================

def gib(n: float) -> float:
    return round(n / 2**30, 2)


def environment(busy: Busy, have_av: str | None, prompt_source: str) -> dict:
    import torch
    import transformers
    env = {"python": platform.python_version(), "platform": platform.platform(), "torch": torch.__version__,
           "torch_cuda": torch.version.cuda, "transformers": transformers.__version__, "av": have_av,
           "numpy": np.__version__, "cpu_count": os.cpu_count(),
           "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
           "torch_threads": torch.get_num_threads(), "harness_source_sha256_16": harness_source_digest(),
           "prompt_source": prompt_source, "gpu": busy.info()}
    try:
        import tokenizers
        env["tokenizers"] = tokenizers.__version__
    except ImportError:
        pass
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        env["torch_device"] = {"name": props.name, "capability": f"{props.major}.{props.minor}",
                               "multiprocessors": props.multi_processor_count, "memory_gib": gib(props.total_memory)}
    try:
        env["git_revision"] = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True,
                                             text=True, timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        env["git_revision"] = None
    return env


def plan(args) -> list[dict]:
    points = []
    for arch in args.archs:
        for batch in args.batches:
            for mode in args.modes:
                for loop in args.loops:
                    points.append({"arch": arch, "size": args.size, "mode": mode, "batch": batch, "loop": loop})
        if args.big_size:
            for mode in args.modes:
                for loop in args.loops:
                    if loop == "hand" and mode == "score":
                        continue  # the plain scoring loop would encode each big clip 7 times: see the notes
                    points.append({"arch": arch, "size": args.big_size, "mode": mode, "batch": args.big_batch,
                                   "loop": loop, "big": True})
    return points


def table(points: list[dict]) -> str:
    rows = [("arch", "size", "mode", "batch", "loop", "clips", "clips/s", "busy%", "decode", "prep", "model",
             "answer", "wait", "peak GiB", "vis tok")]
    for p in points:
        s = p.get("split_s") or {}
        busy = (p.get("gpu_busy") or {})
        pct = busy.get("samples_mean_pct") if busy.get("samples_mean_pct") is not None else busy.get("poll_mean_pct")
        rows.append((p["arch"], p["size"], p["mode"], str(p["batch"]), p["loop"], str(p.get("clips", "-")),
                     f"{p['clips_per_s']:.2f}" if p.get("clips_per_s") else (p.get("status") or "-"),
                     "-" if pct is None else f"{pct:.0f}",
                     *(f"{s[k]:.1f}" if s.get(k) is not None else "-"
                       for k in ("decode", "preprocess", "model", "answer", "wait")),
                     "-" if p.get("peak_allocated_gib") is None else f"{p['peak_allocated_gib']:.1f}",
                     "-" if p.get("visual_tokens_per_clip") is None else f"{p['visual_tokens_per_clip']:.0f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.environ.get("OUT", "bench/out/gpu_scale"))
    ap.add_argument("--check-meta", action="store_true", help="CPU: parameter counts on the meta device, then exit")
    ap.add_argument("--smoke", action="store_true", help="CPU: tiny configs, 4 clips, the whole pipeline")
    ap.add_argument("--archs", nargs="+", default=list(ARCHS), choices=list(ARCHS))
    ap.add_argument("--modes", nargs="+", default=["score", "generate"], choices=["score", "generate"])
    ap.add_argument("--batches", nargs="+", type=int, default=[8, 32, 1], help="in priority order")
    ap.add_argument("--loops", nargs="+", default=["harness", "hand"], choices=["harness", "hand"])
    ap.add_argument("--size", default="224x224", help="WxH of the main grid's clips")
    ap.add_argument("--big-size", default="1280x720", help="WxH of the extra points ('' for none)")
    ap.add_argument("--big-batch", type=int, default=8)
    ap.add_argument("--big-share", type=float, default=0.15, help="share of the time budget for the big points")
    ap.add_argument("--media", default="video", choices=["video", "frames"], help="DFEW mp4 or JPEG folders")
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=4,
                    help="random weights never stop early; a real one-word answer and <|im_end|> is 2-3 tokens")
    ap.add_argument("--decode-workers", type=int, default=None, help="default: min(8, cores), as a full fold gets")
    ap.add_argument("--rows", type=int, default=4096, help="clips in the fake fold (links to a pool)")
    ap.add_argument("--pool", type=int, default=32, help="distinct clips in the pool")
    ap.add_argument("--deadline-s", type=float, default=450.0,
                    help="seconds from the start after which no point starts (the run ends about then)")
    ap.add_argument("--dry-run", action="store_true", help="print the plan and exit")
    ap.add_argument("--work", default=None, help="scratch folder (default: a temporary one)")
    args = ap.parse_args()

    if args.check_meta:
        counts = meta_counts()
        for arch, c in counts.items():
            off = abs(c["parameters"] - c["expected"]) / c["expected"]
            print(f"{arch}: {c['class']} {c['parameters']:,} parameters ({c['parameters'] / 1e9:.2f}B; vision "
                  f"{c['vision_parameters'] / 1e9:.3f}B; text {c['hidden_size']} wide x {c['layers']} layers, vocab "
                  f"{c['vocab_size']}; vision {c['vision_hidden_size']} x {c['vision_depth']}; "
                  f"{c['weights_gib_bf16']} GiB in bf16); model card {ARCHS[arch]['model_card']}, recorded "
                  f"{c['expected']:,}: {'OK' if off < 0.001 else 'MISMATCH'}")
        sys.exit(0 if all(abs(c["parameters"] - c["expected"]) / c["expected"] < 0.001 for c in counts.values()) else 1)

    started = time.perf_counter()
    deadline = started + args.deadline_s
    epoch = time.time() - time.perf_counter()  # perf_counter -> wall clock, for NVML's timestamps
    if args.smoke:
        args.batches, args.big_size, args.big_batch, args.rows, args.pool = [2], "160x96", 2, 4, 2
        args.size = "112x112"
        args.deadline_s = min(args.deadline_s, 240)
        deadline = started + args.deadline_s
    if args.dry_run:
        for i, point in enumerate(plan(args)):
            print(i, point)
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="gpu-scale-"))
    work.mkdir(parents=True, exist_ok=True)

    notes = []
    try:
        import av
        have_av = av.__version__
    except Exception as exc:
        have_av = None
        notes.append(f"PyAV is not available ({type(exc).__name__}: {exc}): clips are numpy frames made in memory, "
                     "decode is not measured, and the harness runs model-only (its plugin's preprocess/"
                     "predict_preprocessed with a prefetch thread), not its scheduler")
        print("NOTE:", notes[-1], flush=True)
    # -- clips first: written on every core while torch loads and the first model is built ---
    def wh(text: str) -> tuple[int, int]:
        w, h = (int(x) for x in text.lower().split("x"))
        return w, h

    roots, fold_paths, writing, synthetic = {}, {}, {}, None
    sizes = [args.size] + ([args.big_size] if args.big_size else [])
    if have_av or args.media == "frames":
        for size in sizes:
            w, h = wh(size)
            big = size != args.size
            root = work / f"DFEW-{size}"
            rows = (args.rows if args.smoke else max(64, args.rows // 8)) if big else args.rows
            paths, future = make_dfew_root(root, rows, max(4, args.pool // 4) if big else args.pool, h, w,
                                           args.media, workers=1 if args.smoke else (os.cpu_count() or 1),
                                           seed=1 if big else 0)
            roots[size], fold_paths[size] = root, paths
            writing[size] = future
    else:  # numpy frames in memory, 16 per clip already sampled
        synthetic = {}
        for size in sizes:
            w, h = wh(size)
            paths = [work / f"mem-{size}" / f"{i:05d}" for i in range(args.rows if size == args.size else 64)]
            pool = [synth_frames(p, args.frames, h, w) for p in range(min(args.pool, 8))]
            for i, p in enumerate(paths):
                synthetic[str(p)] = (pool[i % len(pool)], 25.0 / 4)
            fold_paths[size] = paths

    import torch
    device = "cpu" if args.smoke else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        sys.exit("gpu_scale: no CUDA device (use --smoke on a CPU)")
    dtype_name = "float32" if args.smoke else "bfloat16"
    dtype = getattr(torch, dtype_name)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    default_threads = torch.get_num_threads()
    workers = args.decode_workers if args.decode_workers is not None else (0 if args.smoke else min(8, os.cpu_count() or 1))

    if args.big_size and "hand" in args.loops and "score" in args.modes:
        notes.append(f"{args.big_size}: no hand-loop score point (the plain scoring loop encodes each clip once per "
                     f"candidate, {7 * args.big_batch} big videos per batch of {args.big_batch})")
    busy = Busy()
    messages, prompt_source = harness_prompt()
    report = {"benchmark": "bench/gpu_scale.py", "issue": 27, "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "command": sys.argv, "smoke": args.smoke,
              "settings": {"device": device, "dtype": dtype_name, "size": args.size, "big_size": args.big_size or None,
                           "media": args.media, "frames": args.frames, "frame_protocol": "segment16 (DFEW's default)",
                           "fps": 25, "clip_seconds": [2.0, 3.2], "pool": args.pool, "rows": args.rows,
                           "max_new_tokens": args.max_new_tokens, "decode_workers": workers,
                           "deadline_s": args.deadline_s, "pixels": "reference (the published processor files)",
                           "frame_cache": False, "response_cache": False},
              "environment": environment(busy, have_av, prompt_source), "architectures": {}, "points": [],
              "notes": notes}
    gpu_slug = "cpu-smoke" if args.smoke else "".join(
        c if c.isalnum() else "-" for c in str(report["environment"]["gpu"].get("name", "gpu")).lower()).strip("-")
    result_path = out / f"gpu_scale_{gpu_slug.replace('nvidia-', '')}.json"

    def save() -> None:
        tmp = result_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(report, indent=1, default=str) + "\n")
        os.replace(tmp, result_path)

    save()
    print(f"gpu_scale: {report['environment'].get('gpu', {}).get('name', device)}, torch "
          f"{torch.__version__}, transformers {report['environment']['transformers']}, PyAV {have_av}, "
          f"python {platform.python_version()}, {os.cpu_count()} cores, deadline {args.deadline_s:.0f} s", flush=True)

    # -- checkpoint folders (tokenizer + published processors + full config) -------------------------
    folders = {}
    for arch in args.archs:
        t0 = time.perf_counter()
        folders[arch] = checkpoint_folder(arch, work, tiny=args.smoke)
        report["architectures"][arch] = {"hub_id": ARCHS[arch]["hub_id"], "folder_s": round(time.perf_counter() - t0, 2),
                                         "tiny": args.smoke}

    def data_ready(size: str) -> None:
        """Wait for ``size``'s clips."""
        if size in writing:
            writing.pop(size).result()
            report["settings"][f"data_ready_s_{size}"] = round(time.perf_counter() - started, 1)

    points = plan(args)
    big_points = [p for p in points if p.get("big")]
    build_estimate = 30.0
    harness = None
    if have_av:
        try:
            harness = HarnessLoop()
        except Exception as exc:
            notes.append(f"the harness could not be loaded: {type(exc).__name__}: {exc}")
            print("NOTE:", notes[-1], flush=True)

    def share_for(point: dict, index: int) -> float:
        """Seconds this point may use: what is left, over the points left (main and big apart)."""
        left = deadline - time.perf_counter() - 5
        builds_left = len({p["arch"] for p in points[index:]}) - 1
        left -= builds_left * build_estimate
        rest_main = [p for p in points[index:] if not p.get("big")]
        rest_big = [p for p in points[index:] if p.get("big")]
        big_budget = args.big_share * max(0.0, left) if big_points else 0.0
        if point.get("big"):
            return max(2.0, (left if not rest_main else big_budget) / max(1, len(rest_big)))
        return max(2.0, (left - (big_budget if rest_big else 0.0)) / max(1, len(rest_main)))

    current_arch, module, plugin_models = None, None, {}
    for index, point in enumerate(points):
        arch = point["arch"]
        if time.perf_counter() > deadline:
            point["status"] = "skipped: deadline"
            report["points"].append(point)
            continue
        if arch != current_arch:  # build this architecture, free the last one
            plugin_models.clear()
            MODELS.clear()
            module = None
            gc.collect()
            if device == "cuda":
                torch.cuda.empty_cache()
            t0 = time.perf_counter()
            try:
                module = build_module(folders[arch], device, dtype)
            except Exception as exc:
                report["architectures"][arch]["error"] = f"{type(exc).__name__}: {exc}"
                print(f"{arch}: build failed: {exc}", flush=True)
                current_arch = arch
                continue
            sync()
            build_s = time.perf_counter() - t0
            build_estimate = build_s + 15
            instrument_module(module, sync)
            entry = report["architectures"][arch]
            entry.update(build_s=round(build_s, 1), parameters=sum(p.numel() for p in module.parameters()),
                         attn_implementation=getattr(module.config, "_attn_implementation", None),
                         weights_allocated_gib=gib(torch.cuda.memory_allocated()) if device == "cuda" else None)
            print(f"{arch}: {entry['parameters']:,} parameters built in {build_s:.1f} s"
                  + (f", {entry['weights_allocated_gib']} GiB on the GPU" if device == "cuda" else ""), flush=True)
            current_arch = arch
            for size in list(writing):  # every clip written before anything is timed: no CPU contention
                data_ready(size)
            if harness is not None:  # the first call: decode processes, the processor, CUDA kernels
                t0 = time.perf_counter()
                try:
                    plugin_models[(arch, "score")] = harness.model(folders[arch], "score", device, dtype_name,
                                                                   args.max_new_tokens)
                    instrument_plugin(plugin_models[(arch, "score")])
                    with random_weights():
                        harness.run(plugin_models[(arch, "score")], folders[arch], roots[args.size], args.media,
                                    "score", 8, min(8, len(fold_paths[args.size])), device, dtype_name,
                                    args.max_new_tokens, workers, work)
                    plugin_models[(arch, "score")]._gpu_scale_loaded = True
                    entry["warmup_s"] = round(time.perf_counter() - t0, 1)
                except Exception as exc:
                    entry["warmup_error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
                    print(f"{arch}: harness warm-up failed: {entry['warmup_error']}", flush=True)
                build_estimate = time.perf_counter() - t0 + build_s + 10
            save()
        if module is None:
            point["status"] = "skipped: build failed"
            report["points"].append(point)
            continue

        size, mode, batch, loop = point["size"], point["mode"], point["batch"], point["loop"]
        data_ready(size)
        share = share_for(point, index)
        paths = fold_paths[size]
        point.update(budget_s=round(share, 1), decode_workers=workers if loop == "harness" else 0)
        split = Split()
        torch.set_num_threads(default_threads)
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        t_point = time.perf_counter()
        try:
            if loop == "harness" and harness is not None:
                key = (arch, mode)
                if key not in plugin_models:
                    plugin_models[key] = harness.model(folders[arch], mode, device, dtype_name, args.max_new_tokens)
                    instrument_plugin(plugin_models[key])
                model = plugin_models[key]
                common = dict(folder=folders[arch], root=roots[size], media=args.media, mode=mode, batch=batch,
                              device=device, dtype=dtype_name, max_new_tokens=args.max_new_tokens, workers=workers,
                              work=work)
                probe_n = min(max(2 * batch, 4), len(paths))
                with random_weights():
                    before = len(LOADS)
                    try:
                        probe = harness.run(model, clips=probe_n, **common)  # warms this shape; gives a rate
                    except Exception as exc:
                        if len(LOADS) == before and not getattr(model, "_gpu_scale_loaded", False):
                            raise RuntimeError(
                                "the harness did not load through AutoModelForImageTextToText.from_pretrained "
                                f"(update random_weights() in the adapter): {type(exc).__name__}: {exc}") from exc
                        raise
                    model._gpu_scale_loaded = True
                    probe_loop = (probe["task_timings"] or {}).get("loop_s") or (time.perf_counter() - t_point)
                    rate = probe_n / max(probe_loop, 1e-3)
                    remaining = share - (time.perf_counter() - t_point)
                    n = int(rate * remaining * 0.85 / batch) * batch
                    n = max(2 * batch, 4, min(n, len(paths) - len(paths) % batch))
                    if time.perf_counter() + n / rate > deadline:
                        n = max(batch, 4)
                    n = min(n, len(paths))
                    if device == "cuda":
                        torch.cuda.reset_peak_memory_stats()
                    ACTIVE["split"] = split
                    t0 = time.perf_counter()
                    result = harness.run(model, clips=n, **common)
                    t1 = time.perf_counter()
                    ACTIVE["split"] = None
                if not split.seconds.get("predict") or not split.seconds.get("model"):
                    raise RuntimeError("the harness ran but no predict or model call was timed: the plugin's method "
                                       "names moved (update instrument_plugin / instrument_module)")
                timings = result["task_timings"] or {}
                loop_s = timings.get("loop_s") or (t1 - t0)
                # the loop window: from the end of prepare() (decoding starts) to the last answer
                w0 = split.last.get("prepare", t0)
                w1 = split.last.get("predict", t1)
                predict_s = split.seconds.get("predict", 0.0)
                point.update(clips=n, loop_s=round(loop_s, 3), clips_per_s=round(n / loop_s, 3), probe_clips=probe_n,
                             probe_clips_per_s=round(rate, 3), visual_tokens_per_clip=result["visual_tokens_per_clip"],
                             failed=result["failed"], failures=result["failures"], harness_timings=timings,
                             harness_runtime=result["runtime"],
                             split_s={"decode": timings.get("decode_s"),  # summed over the decode processes
                                      "preprocess": round(split.seconds.get("preprocess", 0.0), 3),
                                      "model": round(split.seconds.get("model", 0.0), 3),
                                      "answer": round(predict_s - split.seconds.get("model", 0.0), 3),
                                      "wait": round(max(0.0, (w1 - w0) - predict_s), 3)},
                             gpu_busy=busy.window(epoch + w0, epoch + w1))
            elif loop == "harness":  # no PyAV: the plugin alone, on in-memory frames
                key = (arch, mode)
                if key not in plugin_models:
                    plugin_models[key] = harness_hf_model(folders[arch], mode, device, dtype_name, args.max_new_tokens)
                    instrument_plugin(plugin_models[key])
                model = plugin_models[key]
                videos = [synthetic[str(p)] for p in paths]
                with random_weights():
                    harness_model_only(model, videos[:max(batch, 2)], mode, batch, 1e9, max(batch, 2))
                    ACTIVE["split"] = split
                    t0 = time.perf_counter()
                    n = harness_model_only(model, videos, mode, batch, share * 0.8, len(videos))
                    t1 = time.perf_counter()
                    ACTIVE["split"] = None
                predict_s = split.seconds.get("predict", 0.0)
                point.update(clips=n, loop_s=round(t1 - t0, 3), clips_per_s=round(n / (t1 - t0), 3),
                             model_only=True,
                             split_s={"decode": None, "preprocess": round(split.seconds.get("preprocess", 0.0), 3),
                                      "model": round(split.seconds.get("model", 0.0), 3),
                                      "answer": round(predict_s - split.seconds.get("model", 0.0), 3),
                                      "wait": round(max(0.0, (t1 - t0) - predict_s), 3)},
                             gpu_busy=busy.window(epoch + t0, epoch + t1))
            else:
                same = next((p for p in reversed(report["points"]) if p["arch"] == arch and p["size"] == size
                             and p["mode"] == mode and p["batch"] == batch and p["loop"] == "harness"
                             and p.get("clips")), None)
                cap = same["clips"] if same else len(paths)
                ACTIVE["split"] = split
                result = hand_loop(module, folders[arch], paths, args.media, mode, batch,
                                   max(1.0, share - (time.perf_counter() - t_point) - 1), cap, device,
                                   args.max_new_tokens, sync, frames=args.frames, synthetic=synthetic)
                ACTIVE["split"] = None
                t1 = time.perf_counter()
                t0 = t1 - result["loop_s"]
                if result["clips"] == 0:
                    raise RuntimeError("no batch fitted in the time left")
                point.update(clips=result["clips"], loop_s=round(result["loop_s"], 3),
                             clips_per_s=round(result["clips"] / result["loop_s"], 3), warmup_s=round(result["warmup_s"], 2),
                             visual_tokens_per_clip=result["visual_tokens_per_clip"],
                             processor_kwargs=result["processor_kwargs"],
                             split_s={k: round(split.seconds.get(k, 0.0), 3)
                                      for k in ("decode", "preprocess", "model", "answer")} | {"wait": 0.0},
                             gpu_busy=busy.window(epoch + t0, epoch + t1))
                if synthetic is not None:
                    point["split_s"]["decode"] = None
            if device == "cuda":
                point.update(peak_allocated_gib=gib(torch.cuda.max_memory_allocated()),
                             peak_reserved_gib=gib(torch.cuda.max_memory_reserved()))
            point["torch_threads_at_start"] = default_threads
            point["status"] = "ok" if not point.get("failed") else f"ok, but {point['failed']} clips failed"
        except Exception as exc:
            ACTIVE["split"] = None
            point["status"] = f"error: {type(exc).__name__}: {str(exc)[:300]}"
            if device == "cuda":
                point["peak_allocated_gib"] = gib(torch.cuda.max_memory_allocated())
                torch.cuda.empty_cache()
        point["point_s"] = round(time.perf_counter() - t_point, 1)
        report["points"].append(point)
        if harness is not None and harness.dropped:
            report["settings"]["harness_options_not_known"] = sorted(harness.dropped)
        save()
        b = point.get("gpu_busy") or {}
        pct = b.get("samples_mean_pct") if b.get("samples_mean_pct") is not None else b.get("poll_mean_pct")
        print(f"[{time.perf_counter() - started:5.0f}s] {arch} {size} {mode} b{batch} {loop}: "
              + (f"{point['clips']} clips, {point['clips_per_s']:.2f} clips/s, busy {pct}%, split {point['split_s']}"
                 if point["status"] == "ok" else point["status"]) + f" ({point['point_s']} s)", flush=True)

    report["total_s"] = round(time.perf_counter() - started, 1)
    save()
    print("\n" + table(report["points"]))
    print(f"\nwrote {result_path} ({report['total_s']} s)")


if __name__ == "__main__":
    main()
