"""The transformers plugin on a GPU: bf16 against CPU fp32, batch invariance, clips/s (run on a GPU machine).

    python bench/gpu_check.py [--out DIR]

With the tiny offline Qwen2.5-VL and Qwen3-VL checkpoints on synthetic clips:

- score agreement: the same 24 requests scored on CUDA in bfloat16 and on the
  CPU in float32: the share of clips with the same best answer, and the largest
  difference of a candidate's log-likelihood;
- batch invariance on CUDA bf16 with padding: clips of two sizes and shuffled
  choices in one batch of 8, against each request alone (same answers; largest
  score difference);
- throughput: ``harness run`` loops (score and generate, batch 1 and 8, 120
  clips, response cache off) in clips/s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from harness import evaluator, host, request_rules
from harness.context import Context
from harness.frames.video import read_frames
from harness.params import parse_tasks
from harness.plan import shown_choices
from harness.plugins.hf import HFModel
from harness.prompts import NAMES
from harness.tasks.synthetic import SyntheticTask
from harness.testing.checkpoints import build
from harness.types import FrameProtocol, Request

CLASSES = ("happy", "sad", "neutral", "angry", "surprise", "disgust", "fear")


def requests(samples, sizes=(112,), shuffle=False):
    out = []
    for i, s in enumerate(samples):
        frames = read_frames(s.media, FrameProtocol(num_frames=8, short_side=sizes[i % len(sizes)]), s.id)
        choices = shown_choices(CLASSES, "shuffled" if shuffle else "fixed", 3, s.id)
        out.append(Request(sample_id=s.id, frames=frames, messages=NAMES.render(choices), choices=choices))
    return out


def scores(model, reqs, batch):
    """The model's answers, each request resolved first as the evaluator resolves it."""
    reqs = [request_rules.resolve(r, model, "score") for r in reqs]
    out = []
    for i in range(0, len(reqs), batch):
        out += model.predict(reqs[i:i + batch])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=".")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="harness-gpu-"))
    os.environ["HARNESS_CACHE"] = str(work / "cache")
    samples = SyntheticTask({"n": 24, "seed": 8}, Context(cache_dir=work / "cache")).samples()
    report = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "python": platform.python_version(),
              "families": {}}
    import transformers
    report["transformers"] = transformers.__version__
    for family in ("qwen2.5-vl", "qwen3-vl"):
        ckpt = build(family, work / family)
        gpu = HFModel({"pretrained": str(ckpt), "mode": "score", "device": "cuda", "dtype": "bfloat16"})
        cpu = HFModel({"pretrained": str(ckpt), "mode": "score", "device": "cpu", "dtype": "float32"})
        reqs = requests(samples)
        g, c = scores(gpu, reqs, 8), scores(cpu, reqs, 8)
        agree = np.mean([a.text == b.text for a, b in zip(g, c)])
        diff = max(abs(a.scores[k] - b.scores[k]) for a, b in zip(g, c) for k in CLASSES)
        mixed = requests(samples[:8], sizes=(84, 112), shuffle=True)
        alone = [gpu.predict([r])[0] for r in mixed]
        together = gpu.predict(mixed)
        batch_same = np.mean([a.text == b.text for a, b in zip(alone, together)])
        batch_diff = max(abs(a.scores[k] - b.scores[k]) for a, b in zip(alone, together) for k in CLASSES)
        report["families"][family] = {"gpu_cpu_same_answer": float(agree), "gpu_cpu_max_logprob_diff": float(diff),
                                      "batch_same_answer": float(batch_same), "batch_max_score_diff": float(batch_diff)}
        speed = {}
        for mode in ("score", "generate"):
            for batch in (1, 8):
                config = evaluator.RunConfig(tasks=parse_tasks("synthetic:n=120,seed=12"), model="hf",
                                             model_args={"pretrained": str(ckpt), "mode": mode, "device": "cuda",
                                                         "dtype": "bfloat16", "max_new_tokens": 16},
                                             batch_size=batch, output_path=work / "out", progress=False,
                                             response_cache=False, bootstrap=0)
                evaluator.evaluate(host.load([]), config)  # warm-up: clips rendered, kernels compiled
                start = time.perf_counter()
                doc = evaluator.evaluate(host.load([]), config).document
                task = next(iter(doc["tasks"].values()))
                speed[f"{mode}_batch{batch}"] = {"clips_per_s": round(120 / task["timings"]["wall_s"], 1),
                                                 "whole_call_s": round(time.perf_counter() - start, 2)}
        report["families"][family]["throughput"] = speed
    print(json.dumps(report, indent=1))
    Path(args.out, "gpu_check.json").write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
