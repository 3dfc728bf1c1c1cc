"""The OpenAI-compatible server plugin against a real HTTP server on loopback."""

from __future__ import annotations

import base64
import io
import json
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="the loopback server runs a tiny transformers checkpoint")

from harness.errors import (
    CapabilityError,  # noqa: E402
    UsageError,  # noqa: E402
)
from harness.frames import time_told  # noqa: E402
from harness.frames.video import read_frames  # noqa: E402
from harness.host import load  # noqa: E402
from harness.plugins.openai_server import build_body, parse_completion  # noqa: E402
from harness.prompts import LETTERS, NAMES  # noqa: E402
from harness.testing.checkpoints import build  # noqa: E402
from harness.types import FrameProtocol, Request  # noqa: E402
from tests.openai_test_server import Server  # noqa: E402

CLASSES = ("happy", "sad", "neutral", "angry", "surprise", "disgust", "fear")
TASK = "synthetic:n=12,seed=4"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return str(build("qwen2.5-vl", tmp_path_factory.mktemp("ckpt") / "tiny"))


@pytest.fixture
def server(checkpoint):
    servers = []

    def start(**faults) -> Server:
        s = Server(checkpoint, **faults)
        s.start()
        servers.append(s)
        return s
    yield start
    for s in servers:
        try:
            s.stop()
        except Exception:
            pass


def a_request(synthetic30, template=NAMES) -> Request:
    sample = synthetic30[1][0]
    frames = read_frames(sample.media, FrameProtocol(num_frames=8), sample.id)
    # resolved as the core resolves it for the generic family: what it is told is settled
    return Request(sample_id=sample.id, frames=frames, messages=template.render(CLASSES), choices=CLASSES,
                   seed=3, answer_keys=template.answer_keys(CLASSES), told=time_told.tell(frames, time_told.GENERIC))


def test_request_body_carries_the_frames_and_their_timing(synthetic30):
    request = a_request(synthetic30)
    body = build_body(replace(request, answer_format="choice"), "served")
    assert body["messages"][0] == {"role": "system", "content": NAMES.system}
    video, text = body["messages"][1]["content"]
    head, _, data = video["video_url"]["url"].partition(",")
    assert head == "data:video/jpeg;base64" and len(data.split(",")) == 8
    assert text["text"].startswith("Watch the video")
    f = request.frames
    # generic family: per-frame times on a millisecond clock, plus num_frames and no resampling
    assert body["media_io_kwargs"]["video"] == {
        "fps": 1000.0, "frames_indices": [round(t * 1000) for t in f.timestamps], "num_frames": 8,
        "total_num_frames": round(f.duration * 1000), "duration": f.duration, "do_sample_frames": False}
    assert body["mm_processor_kwargs"] == {"do_sample_frames": False}
    assert body["structured_outputs"] == {"choice": list(CLASSES)}
    assert body["temperature"] == 0 and body["seed"] == 3

    images = build_body(request, "served", video="images")
    assert [p["type"] for p in images["messages"][1]["content"]] == ["image_url"] * 8 + ["text"]
    assert "media_io_kwargs" not in images
    scored = build_body(replace(a_request(synthetic30, LETTERS), mode="score"), "served")
    assert scored["max_tokens"] == 1 and scored["logprobs"] is True and "structured_outputs" not in scored


def test_reply_parsing(synthetic30):
    request = a_request(synthetic30, LETTERS)
    reply = {"choices": [{"message": {"content": "B"}, "logprobs": {"content": [{"token": "B", "logprob": -0.1,
             "top_logprobs": [{"token": "B", "logprob": -0.1}, {"token": " A", "logprob": -2.5},
                              {"token": "zz", "logprob": -3.0}]}]}}]}
    scored = parse_completion(reply, request, "score")
    assert scored.text == "B" and scored.scores == pytest.approx({"sad": -0.1, "happy": -2.5})
    assert scored.meta["missing"] == ["neutral", "angry", "surprise", "disgust", "fear"]
    assert parse_completion(reply, request, "generate").text == "B"
    with pytest.raises(CapabilityError, match="no logprobs"):
        parse_completion({"choices": [{"message": {"content": "B"}}]}, request, "score")
    assert parse_completion({"oops": 1}, request, "generate").error


def run(run_cli, out: Path, url: str, *extra: str, args: str = "") -> tuple[int, dict, list[dict]]:
    r = run_cli("run", "--tasks", TASK, "--model", "vllm-server", "--model-args",
                f"base_url={url},model=tiny,backoff=0.01{args}", "--output-path", str(out), "--log-samples",
                "--no-progress", *extra)
    docs = sorted(out.glob("results_*.json"))
    if not docs:
        return r.code, {}, []
    doc = json.loads(docs[0].read_text())
    task = doc["tasks"][TASK]
    rows = [json.loads(x) for x in (out / task["samples_file"]).read_text().splitlines()]
    return r.code, task, rows


def test_full_run_concurrency_and_the_api_key(server, run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("TINY_KEY", "sekret-123")
    slow = server(delay=0.15)
    code, task, rows = run(run_cli, tmp_path / "a", slow.url, "--no-cache",
                           args=",max_concurrency=8,api_key_env=TINY_KEY")
    assert code == 0 and task["counts"]["evaluated"] == 12 and task["counts"]["failed"] == 0
    assert slow.max_inflight >= 4  # requests really overlapped
    assert slow.authorization == "Bearer sekret-123"
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert b"sekret-123" not in path.read_bytes()
    serial = server(delay=0.05)
    code, _, rows_serial = run(run_cli, tmp_path / "b", serial.url, "--no-cache", args=",max_concurrency=1")
    assert code == 0 and serial.max_inflight == 1
    assert rows_serial == rows  # concurrency does not change answers


def test_faults_are_retried_into_identical_results(server, run_cli, tmp_path):
    clean = server()
    _, _, reference = run(run_cli, tmp_path / "clean", clean.url, "--no-cache")
    flaky = server(fail_rate=0.3, slow_rate=0.2, slow_seconds=0.1, seed=5)
    code, task, rows = run(run_cli, tmp_path / "flaky", flaky.url, "--no-cache", args=",max_concurrency=4")
    assert code == 0 and task["counts"]["failed"] == 0
    assert flaky.failed > 0
    assert rows == reference


def test_a_server_that_dies_mid_run_trips_the_breaker_and_the_rerun_resumes(server, run_cli, tmp_path,
                                                                            monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    clean = server()
    _, _, reference = run(run_cli, tmp_path / "clean", clean.url, "--no-cache")
    dying = server(stop_after=5)
    port = dying.port
    code, task, _ = run(run_cli, tmp_path / "first", dying.url, args=",max_concurrency=4,breaker_failures=6")
    err = run_cli.last.err
    assert code == 1 and task == {}  # no results file: nothing that could pass for an evaluation
    assert "6 attempts in a row failed" in err and dying.url in err and "rerun the same command" in err
    revived = server(port=port)
    code, task, rows = run(run_cli, tmp_path / "second", revived.url)
    cached = task["timings"]["from_response_cache"]  # the answers that arrived before the breaker tripped
    assert code == 0 and 0 < cached <= dying.answered and cached + revived.answered == 12
    assert rows == reference


def test_the_breaker_also_trips_on_time_without_an_answer(server, run_cli, tmp_path):
    dead = server()
    dead.stop()  # nothing listens there any more
    code, task, _ = run(run_cli, tmp_path, dead.url, "--no-cache",
                        args=",breaker_failures=1000,breaker_seconds=1,backoff=0.3,retries=50")
    assert code == 1 and task == {}
    assert "no answer came for" in run_cli.last.err and "breaker_seconds=1" in run_cli.last.err


def test_a_wrong_or_missing_api_key_stops_the_run_after_one_request(server, run_cli, tmp_path, monkeypatch):
    locked = server(api_key="right-key")
    monkeypatch.setenv("TINY_KEY", "wrong-key")
    code, task, _ = run(run_cli, tmp_path / "wrong", locked.url, "--no-cache", args=",api_key_env=TINY_KEY")
    assert code == 1 and task == {} and locked.posts == 1
    assert "HTTP 401" in run_cli.last.err and "Unauthorized" in run_cli.last.err
    assert "wrong-key" not in run_cli.last.err
    code, _, _ = run(run_cli, tmp_path / "missing", locked.url, "--no-cache", args=",max_concurrency=16")
    assert code == 1 and locked.posts == 2
    monkeypatch.setenv("TINY_KEY", "right-key")
    code, task, _ = run(run_cli, tmp_path / "right", locked.url, "--no-cache", args=",api_key_env=TINY_KEY")
    assert code == 0 and task["counts"]["failed"] == 0


def test_an_unknown_model_name_stops_the_run_with_the_server_message(server, run_cli, tmp_path):
    s = server()
    r = run_cli("run", "--tasks", TASK, "--model", "openai-server", "--model-args",
                f"base_url={s.url},model=not-served", "--output-path", str(tmp_path), "--no-progress")
    assert r.code == 1 and "is not served" in r.err and "HTTP 404" in r.err
    assert s.posts == 1 and not list(tmp_path.glob("results_*.json"))


def test_requests_every_one_refused_stop_after_a_handful(server, run_cli, tmp_path):
    s = server(refuse_with=400)
    code, task, _ = run(run_cli, tmp_path, s.url, "--no-cache", args=",max_concurrency=8")
    assert code == 1 and task == {} and s.posts == 3
    assert "refused each of the first 3 requests" in run_cli.last.err and "takes no video" in run_cli.last.err


def test_a_run_aborted_after_a_finished_task_is_marked_and_kept_off_the_board(server, run_cli, tmp_path,
                                                                              monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    s = server(stop_after=14)
    out = tmp_path / "out"
    r = run_cli("run", "--tasks", f"{TASK},synthetic:n=7,seed=9", "--model", "vllm-server", "--model-args",
                f"base_url={s.url},model=tiny,backoff=0.01,max_concurrency=1", "--output-path", str(out),
                "--no-progress")
    assert r.code == 1 and "marked aborted" in r.err
    [path] = out.glob("results_*.json")
    doc = json.loads(path.read_text())
    assert list(doc["tasks"]) == [TASK] and "attempts in a row failed" in doc["aborted"]["reason"]
    assert doc["model"]["runtime"]["breaker"] == {"failures": 16, "seconds": 60.0, "fatal_refusals": 3}
    r = run_cli("leaderboard", "add", str(path), "--board", str(tmp_path / "board.json"), "--allow-partial")
    assert r.code == 1 and "aborted" in r.err and not (tmp_path / "board.json").exists()


def test_structured_choices_and_score_mode(server, run_cli, tmp_path):
    s = server()
    code, task, rows = run(run_cli, tmp_path / "choice", s.url, "--answer-format", "choice")
    assert code == 0 and task["counts"]["invalid"] == 0 and {r["rule"] for r in rows} == {"exact"}
    assert task["prompt"]["answer_format"] == "choice"
    code, task, rows = run(run_cli, tmp_path / "json", s.url, "--answer-format", "json")
    assert code == 0 and task["counts"]["invalid"] == 0 and {r["rule"] for r in rows} == {"json"}
    assert rows[0]["raw"].startswith('{"answer": ')
    code, task, rows = run(run_cli, tmp_path / "score", s.url, "--prompt", "letters", args=",mode=score,top_logprobs=400")
    assert code == 0
    assert all(r["scores"] is not None for r in rows)


def test_rate_limits_are_waited_out(server, run_cli, tmp_path):
    s = server(rate_limit_first=3)
    code, task, _ = run(run_cli, tmp_path, s.url, "--no-cache", args=",max_concurrency=2")
    assert code == 0 and task["counts"]["failed"] == 0
    assert s.rate_limited == 3 and s.answered == 12


def test_extra_processor_arguments_pass_through(synthetic30):
    body = build_body(a_request(synthetic30), "served", mm_processor_kwargs={"max_pixels": 50176})
    assert body["mm_processor_kwargs"] == {"do_sample_frames": False, "max_pixels": 50176}


def test_a_served_qwen2_line_model_gets_the_video_budget_the_hf_plugin_sends(synthetic30):
    """Qwen2-VL and Qwen2.5-VL checkpoints ship no video-processor config: a served processor would size the
    frames by the image config (512 visual tokens for 16x224x224), so the request carries the family's video
    budget, as the hf plugin's call does; a user's own pixel arguments replace it."""
    from harness.plugins import families

    family = families.FAMILIES["qwen2.5-vl"]
    body = build_body(a_request(synthetic30), "served", family=family)
    assert body["mm_processor_kwargs"]["size"] == families.QWEN2_VIDEO == {"shortest_edge": 100352,
                                                                         "longest_edge": 602112}
    own = build_body(a_request(synthetic30), "served", family=family, mm_processor_kwargs={"max_pixels": 50176})
    assert "size" not in own["mm_processor_kwargs"] and own["mm_processor_kwargs"]["max_pixels"] == 50176
    qwen3 = build_body(a_request(synthetic30), "served", family=families.FAMILIES["qwen3-vl"])
    assert "size" not in qwen3["mm_processor_kwargs"]  # its checkpoint states its own (per-clip) budget


def test_the_server_version_is_recorded_and_held_to_the_floor(server, run_cli, tmp_path):
    current = server(version="0.24.1")
    code, task, rows = run(run_cli, tmp_path / "ok", current.url, "--no-cache")
    doc = json.loads(next((tmp_path / "ok").glob("results_*.json")).read_text())
    assert code == 0 and doc["model"]["identity"]["server_version"] == "0.24.1"
    assert doc["model"]["identity"]["args"]["family"] == "generic"
    assert task["time_told"]["family"] == "generic" and rows[0]["told"]["exact"]
    old = server(version="0.12.0")
    r = run_cli("run", "--tasks", TASK, "--model", "vllm-server", "--model-args",
                f"base_url={old.url},model=tiny,family=qwen2.5-vl", "--output-path", str(tmp_path / "old"),
                "--no-progress")
    assert r.code == 2 and "0.12.0" in r.err and "below 0.31.0" in r.err and old.answered == 0
    code, _, _ = run(run_cli, tmp_path / "forced", old.url, "--no-cache", args=",allow_old_server=true")
    assert code == 0 and old.answered == 12
    unknown = server(version=None)  # not a vLLM server: run, warn, record
    code, _, _ = run(run_cli, tmp_path / "unknown", unknown.url, "--no-cache")
    doc = json.loads(next((tmp_path / "unknown").glob("results_*.json")).read_text())
    assert code == 0 and doc["model"]["identity"]["server_version"] == "unknown"


def test_a_server_exception_fails_fast_instead_of_six_retries(server, run_cli, tmp_path):
    broken = server(crash_with="KeyError")
    code, task, rows = run(run_cli, tmp_path, broken.url, "--no-cache",
                           args=",max_concurrency=1,breaker_failures=100")
    assert code == 1 and task["counts"]["failed"] == 12
    assert broken.failed == 24  # one retry each, not six
    assert "KeyError" in rows[0]["error"] and "after 2 attempts" in rows[0]["error"]


def test_mp4_video_is_refused_because_it_loses_the_timing():
    from harness.plugins.openai_server import OpenAIServerModel
    with pytest.raises(UsageError, match="real timing is lost"):
        OpenAIServerModel({"base_url": "http://x/v1", "model": "m", "video": "mp4"})


def _reply(entries):
    return {"choices": [{"message": {"content": entries[0][0]}, "logprobs": {"content": [
        {"token": entries[0][0], "logprob": entries[0][1],
         "top_logprobs": [{"token": t, "logprob": lp} for t, lp in entries]}]}}]}


def test_score_mode_is_exact_for_letters_and_says_what_it_could_not_see(synthetic30):
    import math
    request = a_request(synthetic30, LETTERS)
    # 60% "E" + 30% " E": surprise at 90%; a lower-case "a" is not option A
    reply = _reply([("E", math.log(0.6)), (" E", math.log(0.3)), ("a", math.log(0.05)), ("A", math.log(0.04))])
    scored = parse_completion(reply, request, "score")
    assert scored.text == "E" and scored.scores["surprise"] == pytest.approx(math.log(0.9))
    assert scored.scores["happy"] == pytest.approx(math.log(0.04)) and "sad" not in scored.scores
    assert scored.meta["missing_mass"] == pytest.approx(0.01) and "sad" in scored.meta["missing"]
    nothing = parse_completion(_reply([("zz", -0.1)]), request, "score")
    assert nothing.text == "" and nothing.scores == {} and len(nothing.meta["missing"]) == 7


def test_score_mode_over_a_server_needs_lettered_prompts(server, run_cli, tmp_path):
    s = server()
    code, _, _ = run(run_cli, tmp_path, s.url, args=",mode=score")
    assert code == 2 and s.answered == 0


def test_transient_faults_in_the_standard_error_format_keep_the_full_retry_budget(server, run_cli, tmp_path):
    # 500s naming "InternalServerError" as their type, 503s, 429s and dropped connections, up to 3 per request:
    # every request is answered within the default 6 retries, so no sample may fail
    flaky = server(faults_per_request=3, seed=11)
    code, task, rows = run(run_cli, tmp_path, flaky.url, "--no-cache", args=",backoff=0.01,breaker_failures=1000")
    assert flaky.failed > 12  # the faults did happen
    assert code == 0 and task["counts"]["failed"] == 0, [r["error"] for r in rows if r["error"]]


@pytest.mark.parametrize("content", [123, [{"type": "text", "text": "sad"}]])
def test_a_malformed_reply_fails_its_sample_not_the_run(server, run_cli, tmp_path, content):
    odd = server(malformed=content)
    code, task, rows = run(run_cli, tmp_path, odd.url, "--no-cache")
    assert code == 1 and task["counts"]["failed"] == 12  # every reply was malformed: results are still written
    assert "malformed content" in rows[0]["error"]


def test_credentials_and_keys_never_reach_results_logs_or_the_terminal(server, run_cli, tmp_path, monkeypatch):
    secret = "sk-topsecret-4242"
    monkeypatch.setenv("TEST_KEY", secret)
    echo = server(echo_key=True)
    url = echo.url.replace("http://", "http://alice:hunter2@")
    r = run_cli("run", "--tasks", TASK, "--model", "vllm-server", "--model-args",
                f"base_url={url},model=tiny,api_key_env=TEST_KEY,backoff=0.01,breaker_refusals=1000",
                "--output-path", str(tmp_path),
                "--log-samples", "--no-progress", "--no-cache")
    written = "".join(p.read_text() for p in tmp_path.iterdir())
    basic = base64.b64encode(b"alice:hunter2").decode()  # what httpx sends for the URL's credentials
    assert echo.authorization == f"Basic {basic}"  # and the server echoed it into every error body
    for text in (written, r.out, r.err):
        assert secret not in text and "hunter2" not in text and basic not in text
    assert "***" in written  # masked, not dropped: the reader sees that something was there


# --- sound (--audio on) -------------------------------------------------------------------------------

def a_sound_request(synthetic30, seconds: float = 0.5, rate: int = 16000) -> Request:
    """A resolved request whose video carries a sound (a tone with a little noise, full scale at the ends)."""
    import numpy as np

    from harness.types import Audio
    request = a_request(synthetic30)
    n = int(seconds * rate)
    rng = np.random.default_rng(0)
    samples = (0.5 * np.sin(2 * np.pi * 440 * np.arange(n) / rate) + 0.05 * rng.standard_normal(n)).astype(np.float32)
    samples[:2] = [-1.0, 1.0]
    frames = replace(request.frames, audio=Audio(samples=samples, rate=rate, start=0.0, end=seconds,
                                                 source_rate=44100, source_channels=2))
    return replace(request, frames=frames)


def test_the_sound_goes_inside_the_video_file_for_vllm_with_the_very_frames_and_samples(synthetic30):
    """vLLM's server (0.32.0) hears a video's sound only from inside its file (use_audio_in_video): the clip
    goes as one Matroska file whose frames and sound decode to exactly what the harness sampled, with the
    told rate in the processor's fps; a family told time through the file's metadata is refused."""
    import av
    import numpy as np

    from harness.plugins import families
    omni = families.guess("qwen2.5-omni")
    request = a_sound_request(synthetic30)
    assert request.has_audio
    body = build_body(request, "served", family=omni)  # vLLM's dialect: in_video and use_audio_in_video
    video, text = body["messages"][1]["content"]
    assert video["type"] == "video_url" and text["type"] == "text"
    head, _, data = video["video_url"]["url"].partition(",")
    assert head == "data:video/x-matroska;base64"
    with av.open(io.BytesIO(base64.b64decode(data))) as container:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    with av.open(io.BytesIO(base64.b64decode(data))) as container:
        rate = container.streams.audio[0].rate
        samples = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
    assert np.array_equal(frames, request.frames.array)  # lossless: the very pixels sampled
    assert rate == 16000 and np.array_equal(samples, request.frames.audio.samples)  # and the very samples
    told = float(request.told.metadata["fps"])
    assert body["mm_processor_kwargs"] == {"do_sample_frames": False, "fps": told, "size": omni.video_size,
                                           "use_audio_in_video": True}
    assert body["media_io_kwargs"] == {"video": {"num_frames": 8}}  # the file's own metadata, no resampling
    # --audio off, the same model: the same lossless file without its sound, so the two differ by the sound alone
    silent = build_body(a_request(synthetic30), "served", family=omni, audio="in_video")
    video, text = silent["messages"][1]["content"]
    head, _, data = video["video_url"]["url"].partition(",")
    with av.open(io.BytesIO(base64.b64decode(data))) as container:
        assert not container.streams.audio
        assert np.array_equal(np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)]), frames)
    assert head == "data:video/x-matroska;base64" and "use_audio_in_video" not in silent["mm_processor_kwargs"]
    with pytest.raises(CapabilityError, match="family told time through a processor argument"):
        build_body(request, "served", family=None)
    with pytest.raises(CapabilityError, match="family told time through a processor argument"):
        build_body(request, "served", family=families.guess("qwen2.5-vl"))


def test_the_sound_goes_as_a_wav_part_right_after_the_video_for_the_openai_api(synthetic30):
    import numpy as np

    from harness.plugins.openai_server import read_wav
    request = a_sound_request(synthetic30)
    openai = build_body(request, "served", vllm_fields=False)  # the OpenAI API's dialect: input_audio
    video, part, text = openai["messages"][1]["content"]
    assert video["video_url"]["url"].startswith("data:video/jpeg;base64,") and text["type"] == "text"
    assert part["type"] == "input_audio" and part["input_audio"]["format"] == "wav"
    samples, rate = read_wav(part["input_audio"]["data"])
    expected = request.frames.audio.samples
    assert rate == 16000 and samples.shape == expected.shape
    assert np.max(np.abs(samples - expected)) <= 0.5 / 32767 + 1e-7  # 16-bit quantisation, nothing more
    assert "mm_processor_kwargs" not in openai and "media_io_kwargs" not in openai
    assert build_body(request, "served", audio="input_audio")["mm_processor_kwargs"] == {"do_sample_frames": False}

    silent = build_body(a_request(synthetic30), "served")  # --audio off: no part, no use_audio_in_video
    assert [p["type"] for p in silent["messages"][1]["content"]] == ["video_url", "text"]
    assert "use_audio_in_video" not in silent["mm_processor_kwargs"]
    assert "audio" not in json.dumps(silent)
    with pytest.raises(CapabilityError, match="no sound"):
        build_body(request, "served", video="images")


def test_a_server_model_hears_only_when_told(synthetic30):
    from harness.plugins.openai_server import OpenAIServerModel

    def model(**args):
        return OpenAIServerModel({"base_url": "http://x/v1", **args})
    assert model(model="tiny").audio_rate() is None  # --audio on is refused for it
    # an omni served name hears only when told how its sound goes: neither dialect is assumed, and the
    # identity (cache keys, leaderboard rows) of a model that was not told stays what it was
    omni = model(model="Qwen/Qwen2.5-Omni-7B")
    assert omni.audio_rate() is None and "audio" not in omni.identity()["args"]
    assert model(model="Qwen/Qwen2.5-Omni-7B", audio="in_video").audio_rate() == 16000  # its family's rate
    assert model(model="twin", family="qwen3-omni", audio="in_video").audio_rate() == 16000
    assert model(model="tiny", audio="input_audio", audio_rate=16000).audio_rate() == 16000
    assert model(model="Qwen/Qwen2.5-Omni-7B", audio="in_video", video="images").audio_rate() is None
    for served in ("tiny", "Qwen/Qwen2.5-VL-7B-Instruct"):  # a video file's metadata would tell them 0..N-1
        with pytest.raises(UsageError, match="only a family told time through a processor argument"):
            model(model=served, audio="in_video", audio_rate=16000)
    with pytest.raises(UsageError, match="audio must be one of in_video, input_audio, got 'audio_url'"):  # 400 there
        load([]).build("model", "vllm-server", {"base_url": "http://x/v1", "model": "m", "audio": "audio_url"})
    with pytest.raises(UsageError, match="not how its sound is sent"):
        model(model="tiny", audio_rate=16000)
    with pytest.raises(UsageError, match="needs the served model's sample rate"):
        model(model="tiny", audio="input_audio")
    with pytest.raises(UsageError, match="vllm_fields=false"):
        model(model="Qwen/Qwen2.5-Omni-7B", audio="in_video", vllm_fields=False)
    with pytest.raises(UsageError, match="audio_rate"):
        model(model="tiny", audio="input_audio", audio_rate=12)


def test_sound_reaches_the_server_and_the_log(server, run_cli, tmp_path):
    import numpy as np

    s = server(version="0.32.0")
    args = f"base_url={s.url},model=tiny,backoff=0.01"
    r = run_cli("run", "-p", "tests.openai_test_server", "--tasks", "sound-clips", "--model", "vllm-server",
                "--model-args", args, "--audio", "on", "--output-path", str(tmp_path / "deaf"), "--no-progress",
                "--no-cache")
    assert r.code != 0 and "takes no sound" in r.err and s.posts == 0  # not told it hears: refused before any work
    r = run_cli("run", "-p", "tests.openai_test_server", "--tasks", "sound-clips", "--model", "vllm-server",
                "--model-args", args + ",family=qwen2.5-omni,audio=in_video", "--audio", "on",
                "--output-path", str(tmp_path / "on"),
                "--log-samples", "--no-progress", "--no-cache")
    assert r.code == 0, r.err
    doc = json.loads(next((tmp_path / "on").glob("results_*.json")).read_text())
    task = doc["tasks"]["sound-clips"]
    rows = [json.loads(x) for x in (tmp_path / "on" / task["samples_file"]).read_text().splitlines()]
    assert task["counts"]["failed"] == 0 and task["audio"]["with_sound"] == 7
    assert len(s.sounds) == 7 and {(x["rate"], x["dialect"], x["use_audio_in_video"]) for x in s.sounds} == {
        (16000, "in_video", True)}
    durations = sorted(round(r["audio"]["duration"] * 16000) for r in rows)
    assert sorted(len(x["samples"]) for x in s.sounds) == durations  # what the log says was sent was heard
    # each clip's tone (300 + 150 i Hz) survives AAC, resampling and the video file: one heard sound per clip
    pitches = sorted(np.argmax(np.abs(np.fft.rfft(x["samples"]))) * 16000 / len(x["samples"]) for x in s.sounds)
    assert np.allclose(pitches, [300 + 150 * i for i in range(7)], atol=1.0)
    assert all(r["audio"]["rate"] == 16000 for r in rows)
    assert doc["model"]["identity"]["args"]["audio"] == "in_video"
    s.sounds.clear()
    r = run_cli("run", "-p", "tests.openai_test_server", "--tasks", "sound-clips", "--model", "vllm-server",
                "--model-args", args + ",family=qwen2.5-omni,audio=in_video", "--audio", "off",
                "--output-path", str(tmp_path / "off"),
                "--no-progress", "--no-cache")
    assert r.code == 0 and s.sounds == []  # --audio off: nothing about sound is sent
    assert not any("audio" in json.dumps(b) for b in s.bodies[-7:])


def test_sound_the_vllm_way_is_held_to_the_audio_in_video_floor(server, run_cli, tmp_path):
    # below the timing floor (0.20.0) the run stops anyway; a server that names no version cannot show
    # that it has PR #33605 (vLLM 0.16.0), so sound sent the vLLM way is refused there too
    unknown = server(version=None)
    r = run_cli("run", "-p", "tests.openai_test_server", "--tasks", "sound-clips", "--model", "vllm-server",
                "--model-args", f"base_url={unknown.url},model=tiny,family=qwen2.5-omni,audio=in_video", "--audio", "on",
                "--output-path", str(tmp_path / "unknown"), "--no-progress", "--no-cache")
    assert r.code == 2 and "0.16.0" in r.err and "#33605" in r.err and "version unknown" in r.err
    assert unknown.posts == 0
    old = server(version="0.15.1")  # forced past both floors: warned, recorded, run
    r = run_cli("run", "-p", "tests.openai_test_server", "--tasks", "sound-clips", "--model", "vllm-server",
                "--model-args",
                f"base_url={old.url},model=tiny,family=qwen2.5-omni,audio=in_video,allow_old_server=true,backoff=0.01",
                "--audio", "on", "--output-path", str(tmp_path / "old"), "--no-progress", "--no-cache")
    assert r.code == 0 and "vLLM 0.15.1 gets wrong" in r.err and len(old.sounds) == 7


def test_every_argument_that_changes_a_served_answer_is_in_the_identity():
    """Issue 32: a rerun with top_logprobs=400 was answered from the cache of the top_logprobs=20 run (score
    mode reads the answer from the top log-probabilities). The identity is the cache key and the row key."""
    from harness.plugins.openai_server import OpenAIServerModel

    def identity(**args):
        return OpenAIServerModel({"base_url": "http://x/v1", "model": "m", **args}).identity()
    assert identity(mode="score", top_logprobs=20) != identity(mode="score", top_logprobs=400)
    assert identity(mode="generate", top_logprobs=20) == identity(mode="generate", top_logprobs=400)  # unused there
    assert identity(trained_on="train-split")["args"]["trained_on"] == "train-split"
    assert "trained_on" not in identity()["args"]  # not stated: the identity of older runs is unchanged
