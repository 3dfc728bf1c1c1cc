"""The ``msce`` request strategy: keyframes plus captions of the stretches between them."""

from __future__ import annotations

import json
import re

from harness.frames.video import read_frames
from harness.prompts import NAMES
from harness.strategies.msce import MSCE
from harness.strategy import StrategyContext
from harness.types import FrameProtocol, Response
from tests.conftest import read_results

CLASSES = ("happy", "sad", "neutral", "angry", "surprise", "disgust", "fear")


def test_the_prompt_holds_keyframes_and_captions_in_time_order(synthetic30):
    sample = synthetic30[1][0]
    strategy = MSCE({"k": 4, "stretch": 3})
    frames = read_frames(sample.media, strategy.protocol(FrameProtocol()), sample.id)
    asked = []

    def ask(role, requests):
        asked.extend(requests)
        return [Response(text=f"caption {i}") for i in range(len(requests))]

    request = strategy.build(sample, frames, CLASSES, StrategyContext(template=NAMES, mode="generate", seed=0, ask=ask))
    assert len(request.frames.indices) == 4 and request.frames.timestamps == sorted(request.frames.timestamps)
    # three stretches, each shown to the captioner as a short video of at most 3 frames with its real times
    assert len(asked) == 3 and all(1 <= len(r.frames.indices) <= 3 and r.mode_required for r in asked)
    for r, (a, b) in zip(asked, zip(request.frames.timestamps, request.frames.timestamps[1:])):
        assert a < r.frames.timestamps[0] and r.frames.timestamps[-1] < b
    parts = request.messages[-1]["content"]
    kinds = [p["type"] if p["type"] != "text" else ("caption" if p["text"].startswith("Between") else "text")
             for p in parts]
    assert kinds == ["text"] + ["text", "image", "caption"] * 3 + ["text", "image", "text"]
    captions = [p["text"] for p in parts if p["type"] == "text" and p["text"].startswith("Between")]
    starts = [float(re.search(r"Between ([\d.]+) s", c).group(1)) for c in captions]
    assert starts == sorted(starts) and [c.endswith(f"caption {i}") for i, c in enumerate(captions)]
    assert parts[-1]["text"] == NAMES.text(CLASSES)
    block = MSCE({"layout": "block"}).build(sample, frames, CLASSES,
                                            StrategyContext(template=NAMES, mode="generate", seed=0, ask=ask))
    kinds = [p["type"] for p in block.messages[-1]["content"]]
    assert kinds.index("image") < kinds.index("text", 2) and kinds.count("image") == 4


def test_msce_end_to_end_with_tiny_checkpoints_as_captioner_and_model_cached_on_rerun(run_cli, tmp_path, cache_dir):
    def run(out):
        r = run_cli("run", "--tasks", "synthetic:n=8,seed=4", "--model", "tiny-qwen-vl", "--model-args",
                    "mode=score", "--strategy", "msce:k=3,stretch=2", "--log-samples", "--output-path", str(out),
                    "--no-progress")
        assert r.code == 0, r.err
        doc = read_results(out)
        return doc, next(iter(doc["tasks"].values()))
    doc, task = run(tmp_path / "a")
    assert task["strategy"]["name"] == "msce" and task["strategy"]["params"]["captioner"] == "self"
    assert task["timings"]["helper_answers"] == 16 and task["counts"]["failed"] == 0  # 8 clips x 2 stretches
    rows = [json.loads(x) for x in (tmp_path / "a" / task["samples_file"]).read_text().splitlines()]
    assert all(len(r["strategy_notes"]["captions"]) == 2 for r in rows)
    assert all(r["answer_meta"]["visual_tokens"] > 0 for r in rows)
    _, again = run(tmp_path / "b")
    assert again["timings"]["helper_answers_from_cache"] == 16 and again["timings"]["from_response_cache"] == 8


def test_a_baseline_captioner_and_a_captioner_failing_on_one_sample(run_cli, tmp_path, cache_dir):
    r = run_cli("run", "--tasks", "synthetic:n=12,seed=4", "--model", "synthetic-oracle", "--strategy",
                "msce:captioner=synthetic-oracle", "--log-samples", "--output-path", str(tmp_path / "ok"),
                "--no-progress", "--no-cache")
    assert r.code == 0, r.err
    task = next(iter(read_results(tmp_path / "ok")["tasks"].values()))
    rows = [json.loads(x) for x in (tmp_path / "ok" / task["samples_file"]).read_text().splitlines()]
    assert all(c["text"].startswith("The face shows") for r in rows for c in r["strategy_notes"]["captions"])
    victim = rows[3]["id"]
    r = run_cli("run", "-p", "scripted_models", "--tasks", "synthetic:n=12,seed=4", "--model", "synthetic-oracle",
                "--strategy", f"msce:captioner=flaky-captioner,captioner_args=fail_on={victim}",
                "--output-path", str(tmp_path / "flaky"), "--no-progress", "--no-cache")
    assert r.code == 1  # one failed sample
    task = next(iter(read_results(tmp_path / "flaky")["tasks"].values()))
    assert task["counts"]["failed"] == 1 and task["counts"]["evaluated"] == 12
    assert task["failures"][0]["id"] == victim and "captioner failed on stretch 0" in task["failures"][0]["error"]


def test_served_and_vllm_requests_carry_keyframes_as_images_between_the_captions(synthetic30):
    from harness.plugins.openai_server import build_body
    from harness.plugins.vllm_engine import engine_prompt

    sample = synthetic30[1][1]
    strategy = MSCE({"k": 3})
    frames = read_frames(sample.media, strategy.protocol(FrameProtocol()), sample.id)
    request = strategy.build(sample, frames, CLASSES, StrategyContext(
        template=NAMES, mode="generate", seed=0, ask=lambda role, rs: [Response(text="x") for _ in rs]))
    body = build_body(request, "m")
    kinds = [p["type"] for p in body["messages"][-1]["content"]]
    assert kinds.count("image_url") == 3 and "video_url" not in kinds and "media_io_kwargs" not in body
    assert kinds[kinds.index("image_url") + 1] == "text"
    prompt = engine_prompt("TEXT", request)
    assert len(prompt["multi_modal_data"]["image"]) == 3 and "video" not in prompt["multi_modal_data"]
