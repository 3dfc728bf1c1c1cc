"""A small OpenAI-compatible chat-completions server on loopback, for tests and benchmarks.

It runs a tiny transformers checkpoint behind the request and response shapes
vLLM's server uses for video (``video_url`` with ``data:video/jpeg;base64,...``
frames and ``media_io_kwargs`` timing), and can inject faults: a share of
HTTP 500s, slow answers, a stop after N answers, an API key it insists on, a
refusal of every request.

Sound, as vLLM 0.32's server takes it: with ``mm_processor_kwargs["use_audio_in_video"]`` the sound is
decoded from inside the ``video_url``'s file (``data:video/x-matroska;base64,...``: frames and sound;
a JPEG sequence has none, HTTP 400, as there); an ``input_audio`` part is decoded too. Each sound heard
is logged in ``Server.sounds`` (its rate, samples, dialect and the request's ``use_audio_in_video``); the
tiny checkpoint answers from the frames alone. The module is also a plugin (``-p tests.openai_test_server``)
registering the ``sound-clips`` task: a few small clips, each with a mono sound track.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import av
import numpy as np
from PIL import Image

import harness
from harness import request_rules
from harness.emotions import BASIC7, SYNONYMS
from harness.plugins.hf import HFModel
from harness.plugins.openai_server import read_wav
from harness.task import Task
from harness.types import FrameProtocol, Frames, Request, Sample


def _frames(url: str) -> np.ndarray:
    head, _, data = url.partition(",")
    if head == "data:video/x-matroska;base64":
        with av.open(io.BytesIO(base64.b64decode(data))) as container:
            return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    if not head.startswith("data:video/jpeg;base64") and not head.startswith("data:image/jpeg;base64"):
        raise ValueError(f"unsupported media {head!r}")
    return np.stack([np.asarray(Image.open(io.BytesIO(base64.b64decode(part))).convert("RGB"))
                     for part in data.split(",")])


def _track(url: str) -> tuple[np.ndarray, int]:
    """(samples, rate) of the sound inside a video file, as vLLM's server decodes it (PyAV); a JPEG
    sequence has none."""
    head, _, data = url.partition(",")
    if head != "data:video/x-matroska;base64":
        raise ValueError("use_audio_in_video: no decodable soundtrack in the video_url (Non-base64 digit found)")
    with av.open(io.BytesIO(base64.b64decode(data))) as container:
        rate = container.streams.audio[0].rate
        return np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)]), rate


def _sound(part: dict) -> tuple[np.ndarray, int, str]:
    """(samples, rate, dialect) of an audio content part: the OpenAI API's only."""
    if part["type"] != "input_audio":
        raise ValueError(f"unsupported audio part {part['type']!r}")
    if part["input_audio"].get("format") != "wav":
        raise ValueError(f"unsupported audio format {part['input_audio'].get('format')!r}")
    return (*read_wav(part["input_audio"]["data"]), "input_audio")


class Server:
    """``Server(checkpoint).start()`` -> base URL; faults are attributes you can change at any time."""

    def __init__(self, checkpoint: str, port: int = 0, fail_rate: float = 0.0, slow_rate: float = 0.0,
                 slow_seconds: float = 0.3, delay: float = 0.0, stop_after: int | None = None, seed: int = 0,
                 rate_limit_first: int = 0, version: str | None = "0.24.0", crash_with: str | None = None,
                 api_key: str | None = None, refuse_with: int | None = None, faults_per_request: int = 0,
                 malformed: object = None, echo_key: bool = False):
        self.model = HFModel({"pretrained": checkpoint, "mode": "generate", "max_new_tokens": 8})
        self.fail_rate, self.slow_rate, self.slow_seconds = fail_rate, slow_rate, slow_seconds
        self.delay, self.stop_after = delay, stop_after
        self.rate_limit_left = rate_limit_first  # answer the first N requests with 429 and Retry-After
        self.rate_limited = 0
        self.version = version  # what GET /version answers (None: 404, as a non-vLLM server)
        self.crash_with = crash_with  # answer every request with a 500 naming this exception
        self.api_key = api_key  # answer 401 to a request without "Bearer <api_key>"
        self.refuse_with = refuse_with  # answer every request with this 4xx status
        # Up to this many transient faults per distinct request, of random kinds: a 500 in the API's
        # standard error format, a 503, a 429, or a dropped connection; then the request is answered.
        self.faults_per_request = faults_per_request
        self.fault_plan: dict[str, int] = {}
        self.malformed = malformed  # a "content" that is not a string (123, a list of parts)
        self.echo_key = echo_key  # the server puts the Authorization header into error bodies and /version
        self.posts = 0  # chat-completion requests received, whatever became of them
        self.rng = random.Random(seed)
        self.lock = threading.Lock()  # one model call at a time; HTTP handling overlaps
        self.stats_lock = threading.Lock()
        self.inflight = self.max_inflight = self.answered = self.failed = 0
        self.bodies: list[dict] = []
        self.sounds: list[dict] = []  # every audio part received: rate, samples, dialect, use_audio_in_video
        self.authorization: str | None = None
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> str:
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self.url

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def answer(self, body: dict) -> dict:
        messages, videos = [], []
        for m in body["messages"]:
            if isinstance(m["content"], str):
                messages.append({"role": m["role"], "content": [{"type": "text", "text": m["content"]}]})
                continue
            parts = []
            for p in m["content"]:
                in_video = bool((body.get("mm_processor_kwargs") or {}).get("use_audio_in_video", False))
                if p["type"] == "video_url":
                    videos.append(_frames(p["video_url"]["url"]))
                    parts.append({"type": "video"})
                    if in_video:  # the file's own sound: heard, logged, not given to the tiny model
                        samples, rate = _track(p["video_url"]["url"])
                        with self.stats_lock:
                            self.sounds.append({"rate": rate, "samples": samples, "dialect": "in_video",
                                                "use_audio_in_video": True})
                elif p["type"] == "input_audio":  # heard, logged, not given to the tiny model
                    samples, rate, dialect = _sound(p)
                    with self.stats_lock:
                        self.sounds.append({"rate": rate, "samples": samples, "dialect": dialect,
                                            "use_audio_in_video": in_video})
                else:
                    parts.append({"type": "text", "text": p["text"]})
            messages.append({"role": m["role"], "content": parts})
        meta = (body.get("media_io_kwargs") or {}).get("video", {})
        array = videos[0]
        if meta.get("num_frames") not in (None, len(array)):
            raise ValueError(f"num_frames={meta['num_frames']} but {len(array)} frames were sent")
        # Like vLLM: the model is told time = frames_indices / fps, nothing else. Without metadata
        # the server invents a clock (vLLM's old default for video/jpeg: 1 fps), as real ones do.
        fps = meta.get("fps") or 1.0
        indices = meta.get("frames_indices", list(range(len(array))))
        frames = Frames(array=array, indices=list(range(len(array))), timestamps=[i / fps for i in indices],
                        fps=fps, total_frames=meta.get("total_num_frames", len(array)),
                        duration=meta.get("duration"))
        schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("schema")
        enum = schema["properties"]["answer"]["enum"] if schema else None
        choices = tuple((body.get("structured_outputs") or {}).get("choice") or enum or ("x",))
        request = Request(sample_id="srv", frames=frames, messages=messages, choices=choices, seed=body.get("seed", 0))
        # What the served model is told is what the metadata says, settled as the harness's core does.
        request = request_rules.resolve(request, self.model, "generate")
        with self.lock:
            if body.get("logprobs"):
                inputs = self.model.model_inputs([request])
                torch = self.model.torch
                with torch.inference_mode():
                    logits = self.model.model(**inputs).logits[0, -1].float()
                logp = torch.log_softmax(logits, -1)
                top = torch.topk(logp, k=min(int(body.get("top_logprobs", 5)), logp.shape[0]))
                tok = self.model.tokenizer
                entries = [{"token": tok.decode([int(i)]), "logprob": float(v)} for v, i in zip(top.values, top.indices)]
                message = {"role": "assistant", "content": entries[0]["token"]}
                logprobs = {"content": [{"token": entries[0]["token"], "logprob": entries[0]["logprob"],
                                         "top_logprobs": entries}]}
            elif "structured_outputs" in body or schema:  # constrained to the choices: the likeliest one
                scores = self.model.choice_scores([request])[0]
                best = choices[int(np.argmax(scores))]
                message = {"role": "assistant", "content": json.dumps({"answer": best}) if schema else best}
                logprobs = None
            else:
                text = self.model.predict([request])[0].text
                message, logprobs = {"role": "assistant", "content": text}, None
        return {"id": "cmpl-test", "object": "chat.completion", "created": int(time.time()), "model": body["model"],
                "choices": [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": logprobs}],
                "usage": {"prompt_tokens": 0, "completion_tokens": 1, "total_tokens": 1}}

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, status: int, payload: dict, headers: dict | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path.rstrip("/") == "/version" and server.version is not None:
                    echo = f" (auth {self.headers.get('Authorization')})" if server.echo_key else ""
                    return self._send(200, {"version": server.version + echo})
                return self._send(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self):
                server.authorization = self.headers.get("Authorization")
                if not self.path.endswith("/chat/completions"):
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                with server.stats_lock:
                    server.posts += 1
                if server.api_key is not None and server.authorization != f"Bearer {server.api_key}":
                    return self._send(401, {"error": {"message": "Unauthorized", "type": "invalid_api_key"}})
                if server.refuse_with is not None:
                    return self._send(server.refuse_with, {"error": {"message": "this server takes no video"}})
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                body = json.loads(raw)
                if server.faults_per_request:
                    key = hashlib.sha256(raw).hexdigest()
                    with server.stats_lock:
                        if key not in server.fault_plan:
                            server.fault_plan[key] = server.rng.randint(0, server.faults_per_request)
                        fault = server.fault_plan[key] > 0
                        if fault:
                            server.fault_plan[key] -= 1
                            server.failed += 1
                            kind = server.rng.choice(("500", "503", "429", "drop"))
                    if fault:
                        if kind == "drop":
                            self.close_connection = True
                            return
                        if kind == "429":
                            return self._send(429, {"error": {"message": "slow down"}}, {"Retry-After": "0.01"})
                        return self._send(int(kind), {"error": {"message": "Internal Server Error" if kind == "500"
                                                                else "Service Unavailable", "type":
                                                                "InternalServerError" if kind == "500" else
                                                                "ServiceUnavailableError", "code": int(kind)}})
                if server.echo_key:
                    return self._send(400, {"error": {"message": f"bad request from {server.authorization}"}})
                with server.stats_lock:
                    server.inflight += 1
                    counted = True
                    server.max_inflight = max(server.max_inflight, server.inflight)
                    fail = server.rng.random() < server.fail_rate
                    slow = server.rng.random() < server.slow_rate
                    limited = server.rate_limit_left > 0
                    if limited:
                        server.rate_limit_left -= 1
                        server.rate_limited += 1
                try:
                    if limited:
                        return self._send(429, {"error": {"message": "slow down"}}, {"Retry-After": "0.2"})
                    if server.crash_with:
                        with server.stats_lock:
                            server.failed += 1
                        return self._send(500, {"error": {"message": f"{server.crash_with}: bad video metadata",
                                                          "type": "InternalServerError"}})
                    time.sleep(server.delay + (server.slow_seconds if slow else 0))
                    if fail:
                        with server.stats_lock:
                            server.failed += 1
                        return self._send(500, {"error": {"message": "injected failure"}})
                    if body.get("model") != "tiny":
                        return self._send(404, {"error": {"message": f"model {body.get('model')!r} is not served"}})
                    try:
                        reply = server.answer(body)
                    except ValueError as exc:
                        return self._send(400, {"error": {"message": str(exc)}})
                    if server.malformed is not None:
                        reply["choices"][0]["message"]["content"] = server.malformed
                    with server.stats_lock:
                        server.bodies.append(body)
                        server.answered += 1
                        done = server.answered
                        # no longer in flight once answered: the client may send its next request the moment
                        # the reply arrives, before this thread would reach its finally
                        server.inflight -= 1
                        counted = False
                    self._send(200, reply)
                    if server.stop_after is not None and done >= server.stop_after:
                        threading.Thread(target=server.stop, daemon=True).start()
                finally:
                    if counted:
                        with server.stats_lock:
                            server.inflight -= 1

        return Handler


class SoundTask(Task):
    """``sound-clips``: 7 small clips (one per class, 2 s at 8 fps, 64x64), each with a mono 16 kHz sound
    track: a tone whose pitch rises with the clip's index, so a clip's sound is known."""

    name = "sound-clips"
    classes = BASIC7
    aliases = SYNONYMS
    frame_protocol = FrameProtocol(num_frames=4)
    has_audio = True
    RATE, FPS, FRAMES = 16000, 8, 16

    def __init__(self, params, context):
        self.folder = context.cache_dir / "sound-clips"

    @classmethod
    def tone(cls, index: int) -> np.ndarray:
        t = np.arange(cls.FRAMES * cls.RATE // cls.FPS) / cls.RATE
        return (0.4 * np.sin(2 * np.pi * (300 + 150 * index) * t)).astype(np.float32)

    def samples(self, split=None):
        from harness.frames.video import write_mp4

        self.folder.mkdir(parents=True, exist_ok=True)
        out = []
        for i, label in enumerate(self.classes):
            path = self.folder / f"clip{i}.mp4"
            if not path.exists():
                frames = np.full((self.FRAMES, 64, 64, 3), 40 + 25 * i, np.uint8)
                frames[:, 16:48, 16:48] = np.arange(self.FRAMES, dtype=np.uint8)[:, None, None, None] * 12
                write_mp4(str(path), frames, fps=self.FPS, audio=self.tone(i), audio_rate=self.RATE)
            out.append(Sample(id=f"clip{i}", label=label, media=str(path)))
        return out


@harness.hookimpl
def harness_register_tasks(register):
    register("sound-clips", SoundTask, description="tiny clips with a sound track (tests)")
