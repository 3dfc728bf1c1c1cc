"""Harness overhead for a transformers VLM against a hand-written loop (run by hand, never in tests).

    python bench/hf_overhead.py [--clips 60] [--repeats 3] [--family qwen2.5-vl]

A tiny random checkpoint (harness.testing.checkpoints) on synthetic clips,
8 uniform frames of 112x112, batch 1 and 8, CPU. The plain loop does the
same work by hand: PyAV decode, the same frames, the processor with the same
video metadata, then ``generate`` (16 new tokens, greedy) or, for scoring,
the log-likelihood of each of the 7 whole answers (class name or option
letter, then the end-of-turn token) appended to the prompt, in one padded
forward pass per clip over its 7 candidates (the video encoded 7 times; the
harness encodes the prompt and video once and continues from its cache). The harness
figure is the evaluation loop of ``harness run`` (decode, batch, model,
parse), frame and response caches off; the model's load is excluded from both (the loop time).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch
from tabulate import tabulate
from transformers import AutoModelForImageTextToText, AutoProcessor
from transformers.video_utils import VideoMetadata

from harness import evaluator, host
from harness.context import Context
from harness.params import TaskSpec
from harness.prompts import LETTERS, NAMES
from harness.tasks.synthetic import SyntheticTask
from harness.testing.checkpoints import build

CLASSES = ("happy", "sad", "neutral", "angry", "surprise", "disgust", "fear")


def plain(samples, ckpt: Path, mode: str, batch: int) -> float:
    processor = AutoProcessor.from_pretrained(ckpt)
    processor.tokenizer.padding_side = "left"
    model = AutoModelForImageTextToText.from_pretrained(ckpt).eval()
    template = LETTERS if mode == "score-letters" else NAMES
    text = processor.apply_chat_template(template.render(CLASSES), add_generation_prompt=True, tokenize=False)
    tok = processor.tokenizer
    end = tok.convert_tokens_to_ids("<|im_end|>")
    keys = "ABCDEFG" if mode == "score-letters" else CLASSES
    name_ids = [tok(c, add_special_tokens=False)["input_ids"] + [end] for c in keys]
    unit = 28 * 28
    start = time.perf_counter()
    for i in range(0, len(samples), batch):
        videos, metas = [], []
        for s in samples[i:i + batch]:
            with av.open(s.media) as c:
                stream = c.streams.video[0]
                fps = float(stream.average_rate)
                decoded = list(c.decode(stream))
            idx = np.linspace(0, len(decoded) - 1, 8).round().astype(int)
            videos.append(np.stack([decoded[j].to_ndarray(format="rgb24") for j in idx]))
            metas.append(VideoMetadata(total_num_frames=len(decoded), fps=fps, frames_indices=idx.tolist()))
        kwargs = dict(do_sample_frames=False, size={"shortest_edge": unit, "longest_edge": unit * 256},
                      cap_pixels_per_frame=True, return_tensors="pt", padding=True)
        with torch.inference_mode():
            if mode == "generate":
                inputs = processor(text=[text] * len(videos), videos=videos, video_metadata=metas, **kwargs)
                out = model.generate(**inputs, max_new_tokens=16, do_sample=False, pad_token_id=tok.pad_token_id)
                processor.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
            else:
                for video, meta in zip(videos, metas):
                    base = processor(text=[text] * 7, videos=[video] * 7, video_metadata=[meta] * 7, **kwargs)
                    width = max(map(len, name_ids))
                    extra = torch.full((7, width), tok.pad_token_id)
                    mask = torch.zeros((7, width), dtype=torch.long)
                    for r, ids in enumerate(name_ids):
                        extra[r, :len(ids)], mask[r, :len(ids)] = torch.tensor(ids), 1
                    n = base["input_ids"].shape[1]
                    inputs = dict(base, input_ids=torch.cat([base["input_ids"], extra], 1),
                                  attention_mask=torch.cat([base["attention_mask"], mask], 1),
                                  mm_token_type_ids=torch.cat([base["mm_token_type_ids"], 0 * extra], 1))
                    logp = torch.log_softmax(model(**inputs).logits.float(), -1)
                    [sum(logp[r, n - 1 + j, t].item() for j, t in enumerate(ids)) for r, ids in enumerate(name_ids)]
    return time.perf_counter() - start


def harnessed(n: int, cache: Path, ckpt: Path, mode: str, batch: int) -> float:
    config = evaluator.RunConfig(
        tasks=[TaskSpec("synthetic", {"n": n, "seed": 5})], model="hf",
        prompt="letters" if mode == "score-letters" else None,
        model_args={"pretrained": str(ckpt), "mode": mode.split("-")[0], "max_new_tokens": 16},
        batch_size=batch, output_path=cache / "out", progress=False, cache_dir=cache, decode_workers=0,
        frame_cache=False, response_cache=False, bootstrap=0)
    doc = evaluator.evaluate(host.load([]), config).document
    return next(iter(doc["tasks"].values()))["timings"]["loop_s"]  # the model's load excluded, as in plain()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--family", default="qwen2.5-vl")
    ap.add_argument("--out", default="bench/results/hf_overhead.json")
    args = ap.parse_args()
    torch.set_num_threads(2)
    work = Path(tempfile.mkdtemp(prefix="harness-bench-"))
    ckpt = build(args.family, work / "ckpt")
    samples = SyntheticTask({"n": args.clips, "seed": 5}, Context(cache_dir=work)).samples()
    rows, records = [], []
    for mode in ("generate", "score", "score-letters"):
        for batch in (1, 8):
            base = statistics.median(plain(samples, ckpt, mode, batch) for _ in range(args.repeats))
            ours = statistics.median(harnessed(args.clips, work, ckpt, mode, batch) for _ in range(args.repeats))
            rows.append([mode, batch, f"{1000 * base / args.clips:.1f}", f"{1000 * ours / args.clips:.1f}",
                         f"{ours / base:.2f}"])
            records.append({"mode": mode, "batch": batch, "plain_s": base, "harness_s": ours,
                            "plain_ms_per_clip": 1000 * base / args.clips,
                            "harness_ms_per_clip": 1000 * ours / args.clips, "ratio": ours / base})
    print(f"{args.family}, {args.clips} clips, medians of {args.repeats}, torch threads 2")
    print(tabulate(rows, headers=["mode", "batch", "plain ms/clip", "harness ms/clip", "harness / plain"],
                   disable_numparse=True))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"family": args.family, "clips": args.clips, "results": records}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
