"""The omni families (Qwen2.5-Omni, Qwen3-Omni: their thinkers, text out) hear a clip's sound under
``--audio on`` and nothing under ``--audio off``, on their tiny random twins.

The sound goes inside the video (audio-in-video): the processor gets ``audio=`` with
``load_audio_from_video`` and ``audio_from_video_indices``, the model ``use_audio_in_video=True`` in
both modes. Two clips with the same frames and different sound (a 440 Hz tone, noise) tell the two
settings apart: heard, the answers differ; deaf, they are identical and no sound reaches the
processor. The time told to the video and the sound's span agree within one temporal patch.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the hf extra is part of the test install (make test)")

from harness import request_rules  # noqa: E402
from harness.errors import CapabilityError  # noqa: E402
from harness.frames.video import read_frames, write_mp4  # noqa: E402
from harness.plugins import families  # noqa: E402
from harness.plugins.hf import HFModel  # noqa: E402
from harness.prompts import NAMES  # noqa: E402
from harness.testing import twins  # noqa: E402
from harness.types import Audio, FrameProtocol, Request  # noqa: E402

from .conftest import read_results  # noqa: E402

OMNI = ("qwen2.5-omni", "qwen3-omni")
CLASSES = ("happy", "sad", "neutral")
RATE = 16000
FPS, SECONDS = 25, 1.2
HEARD = FrameProtocol(num_frames=4, audio_rate=RATE)
DEAF = FrameProtocol(num_frames=4)


@pytest.fixture(scope="module")
def omni_dirs(tmp_path_factory):
    """Both omni twins, built once for the module."""
    root = tmp_path_factory.mktemp("omni-twins")
    return {family: twins.build(family, root / family) for family in OMNI}


@pytest.fixture(scope="module")
def omni_models(omni_dirs):
    """One score-mode model per omni family (pixels=native: one visual token per temporal patch of the
    32x32 test frames, so the sound's tokens are most of the input), loaded on first use."""
    cache: dict[str, HFModel] = {}

    def get(family: str) -> HFModel:
        if family not in cache:
            cache[family] = HFModel({"pretrained": str(omni_dirs[family]), "mode": "score", "pixels": "native",
                                     "max_new_tokens": 2})
            cache[family]._load()
        return cache[family]
    return get


@pytest.fixture(scope="module")
def two_sounds(tmp_path_factory):
    """Two clips with identical frames: one sounds a 440 Hz tone, the other noise."""
    root = tmp_path_factory.mktemp("omni-clips")
    frames = np.random.default_rng(0).integers(0, 255, (int(SECONDS * FPS), 32, 32, 3), dtype=np.uint8)
    t = np.arange(int(SECONDS * 44100)) / 44100
    sounds = {"tone": 0.4 * np.sin(2 * np.pi * 440.0 * t),
              "noise": 0.4 * np.random.default_rng(1).uniform(-1, 1, len(t))}
    paths = {}
    for name, sound in sounds.items():
        paths[name] = str(root / f"{name}.mp4")
        write_mp4(paths[name], frames, fps=FPS, audio=sound.astype(np.float32), audio_rate=44100)
    return paths


def request(model: HFModel, path: str, protocol: FrameProtocol, mode: str = "score", name: str = "c") -> Request:
    frames = read_frames(path, protocol, name)
    return request_rules.resolve(Request(sample_id=name, frames=frames, messages=NAMES.render(CLASSES),
                                         choices=CLASSES), model, mode)


class _Spy:
    """A processor that records the arguments of its calls."""

    def __init__(self, processor):
        self.processor, self.calls = processor, []

    def __getattr__(self, name):
        return getattr(self.processor, name)

    def __call__(self, **kwargs):
        self.calls.append(kwargs)
        return self.processor(**kwargs)


def _spy_on(model: HFModel, monkeypatch) -> _Spy:
    spy = _Spy(model.processor)
    monkeypatch.setattr(model, "processor", spy)
    return spy


# -- what each family declares ----------------------------------------------------------------------

def test_only_omni_families_take_sound_and_say_so_before_loading(omni_dirs, cache_dir):
    from harness.testing import checkpoints

    assert {f.name for f in families.FAMILIES.values() if f.audio_rate} == set(OMNI)
    for family in OMNI:
        adapter = families.get(family)
        assert adapter.audio_rate == RATE and adapter.tested and adapter.time == "qwen2.5-vl"
        assert "audio is not sent" not in adapter.frames_in + adapter.told
        model = HFModel({"pretrained": str(omni_dirs[family])})
        assert model.model is None and model.audio_rate() == RATE  # known before the weights load
        assert HFModel({"pretrained": str(omni_dirs[family]), "video_input": "images"}).audio_rate() is None
        assert twins.LOADERS[family] == adapter.loader
    # a hub name not downloaded yet says its family (and so its rate) too
    assert families.guess("Qwen/Qwen3-Omni-30B-A3B-Instruct").audio_rate == RATE
    vl = checkpoints.build("qwen2.5-vl", cache_dir / "omni-test-qwen2.5-vl")
    assert HFModel({"pretrained": str(vl)}).audio_rate() is None


@pytest.mark.parametrize("family", OMNI)
def test_the_loaded_feature_extractor_takes_the_declared_rate(omni_models, two_sounds, family, monkeypatch):
    model = omni_models(family)
    assert model.processor.feature_extractor.sampling_rate == model.audio_rate() == RATE
    assert model.time_family() == families.get(family).time
    heard = request(model, two_sounds["tone"], HEARD)
    monkeypatch.setattr(model.processor.feature_extractor, "sampling_rate", 24000)
    model._check_audio_rate()
    try:
        with pytest.raises(CapabilityError, match="feature extractor takes 24000 Hz"):
            model.model_inputs([heard])
        model.model_inputs([request(model, two_sounds["tone"], DEAF)])  # deaf requests are unaffected
    finally:
        monkeypatch.undo()
        model._check_audio_rate()
    assert model.audio_mismatch is None


# -- heard and deaf ---------------------------------------------------------------------------------

@pytest.mark.parametrize("family", OMNI)
def test_the_sound_reaches_both_modes_under_audio_on(omni_models, two_sounds, family, monkeypatch):
    model = omni_models(family)
    spy = _spy_on(model, monkeypatch)
    tone, noise = (request(model, two_sounds[k], HEARD, name=k) for k in ("tone", "noise"))
    assert tone.has_audio and np.array_equal(tone.frames.array, noise.frames.array)
    a, b = model.predict([tone]), model.predict([noise])
    assert a[0].scores != b[0].scores  # same frames, different sound: different scores
    assert model.predict([tone])[0].scores == a[0].scores  # the same sound: the same scores, exactly
    call = spy.calls[0]
    assert "audios" not in call and call["load_audio_from_video"] is True
    assert call["audio_from_video_indices"] == [0] and call["sampling_rate"] == RATE
    np.testing.assert_array_equal(call["audio"][0], tone.frames.audio.samples)
    tokens = a[0].meta["audio_tokens"]
    per_second = {"qwen2.5-omni": 25, "qwen3-omni": 13}[family]
    assert abs(tokens - tone.frames.audio.duration * per_second) <= 2 and a[0].meta["visual_tokens"] > 0
    # generate mode: the model's generate gets use_audio_in_video=True, and the answer says what it heard
    seen = {}
    generate = model.model.generate

    def recording(**kwargs):
        seen.update(kwargs)
        return generate(**kwargs)
    monkeypatch.setattr(model.model, "generate", recording)
    out = model._generate([tone])  # (this model's requests resolve to score mode)
    assert seen["use_audio_in_video"] is True and seen["input_features"].shape[0] == 1
    assert out[0].meta["audio_tokens"] == tokens and isinstance(out[0].text, str)


@pytest.mark.parametrize("family", OMNI)
def test_nothing_is_heard_under_audio_off(omni_models, two_sounds, family, monkeypatch):
    model = omni_models(family)
    spy = _spy_on(model, monkeypatch)
    tone, noise = (request(model, two_sounds[k], DEAF, name=k) for k in ("tone", "noise"))
    assert tone.frames.audio is None and not tone.has_audio
    a, b = model.predict([tone]), model.predict([noise])
    assert a[0].scores == b[0].scores and "audio_tokens" not in a[0].meta
    for call in spy.calls:
        assert not {"audio", "audios", "load_audio_from_video", "use_audio_in_video"} & set(call)
    inputs = model.model_inputs([tone])
    assert "input_features" not in inputs and "use_audio_in_video" not in inputs
    assert not (inputs["input_ids"] == model.model.config.audio_token_id).any()


@pytest.mark.parametrize("family", OMNI)
def test_a_batch_never_mixes_heard_and_deaf_requests(omni_models, two_sounds, family):
    model = omni_models(family)
    heard, deaf = request(model, two_sounds["tone"], HEARD, name="h"), request(model, two_sounds["noise"], DEAF, name="d")
    assert len(model._groups([heard, deaf])) == 2  # one model call each
    alone = [model.predict([r])[0] for r in (heard, deaf)]
    together = model.predict([heard, deaf])
    for a, b in zip(alone, together):
        np.testing.assert_allclose([a.scores[c] for c in CLASSES], [b.scores[c] for c in CLASSES], atol=1e-4)
    assert "audio_tokens" in together[0].meta and "audio_tokens" not in together[1].meta
    with pytest.raises(ValueError, match="mixes requests with and without sound"):
        model.model_inputs([heard, deaf])


def test_prior_correction_hears_silence_of_the_same_length(omni_dirs, two_sounds):
    model = HFModel({"pretrained": str(omni_dirs["qwen2.5-omni"]), "mode": "score", "pixels": "native",
                     "prior_correction": True})
    tone = request(model, two_sounds["tone"], HEARD)
    out = model.predict([tone])[0]
    assert "prior_corrected" in out.variants and out.meta["audio_tokens"] > 0
    (key,) = model.prior_cache
    assert json.loads(key)[-1] == [RATE, len(tone.frames.audio.samples)]


def test_a_sound_the_processor_would_cut_is_refused(omni_models, two_sounds):
    """Qwen2.5-Omni's feature extractor pads every sound to 30 s and cuts what is longer."""
    model = omni_models("qwen2.5-omni")
    heard = request(model, two_sounds["tone"], HEARD)
    long = Audio(samples=np.zeros(31 * RATE, np.float32), rate=RATE, start=0.0, end=31.0, source_rate=44100,
                 source_channels=1)
    too_long = replace(heard, sample_id="long", frames=replace(heard.frames, audio=long, digest=None))
    with pytest.raises(ValueError, match="kept 30.00 s of the 31.00 s of sound"):
        model.model_inputs([too_long])  # the backstop, should a request reach the processor
    # in a batch, only the long clip fails, with its reason; the other is answered
    long_answer, answer = model.predict([too_long, heard])
    assert long_answer.error and "long: 31.00 s of sound" in long_answer.error and "at most 30 s" in long_answer.error
    assert answer.error is None and (answer.text is not None or answer.scores)
    # Qwen3-Omni's processor keeps a long sound whole (no padding to 30 s): nothing is refused there
    q3 = omni_models("qwen3-omni")
    heard3 = request(q3, two_sounds["tone"], HEARD)
    assert q3._unheard(replace(heard3, frames=replace(heard3.frames, audio=long, digest=None))) is None


# -- the time told to the frames and the sound agree ------------------------------------------------

def _spans(model: HFModel, req: Request) -> tuple[float, float, float, np.ndarray, np.ndarray]:
    """(told video span, one temporal patch, the sound's duration) in seconds, and the temporal
    rotary positions the thinker gives the video's and the sound's tokens."""
    inputs = model.model_inputs([req])
    grid_t = int(inputs["video_grid_thw"][0, 0])
    patch = float(inputs["video_second_per_grid"][0])
    positions, _ = model.model.model.get_rope_index(
        inputs["input_ids"], None, inputs["video_grid_thw"], inputs["attention_mask"], True,
        inputs["feature_attention_mask"].sum(-1), inputs["video_second_per_grid"])
    ids = inputs["input_ids"][0]
    temporal = positions[0, 0]
    return (grid_t * patch, patch, req.frames.audio.duration, temporal[ids == model.model.config.video_token_id].numpy(),
            temporal[ids == model.model.config.audio_token_id].numpy())


@pytest.mark.parametrize("family", OMNI)
@pytest.mark.parametrize("strategy", ["uniform", "dense"])
def test_the_told_video_span_and_the_sound_agree_within_one_temporal_patch(omni_models, two_sounds, family,
                                                                             strategy):
    """Uniform sampling spreads the frames over the whole clip; dense takes a window of consecutive
    frames (the sound is then that window's, counted like the video from its first frame)."""
    model = omni_models(family)
    req = request(model, two_sounds["tone"], FrameProtocol(strategy=strategy, num_frames=4, audio_rate=RATE))
    video_span, patch, heard, video_pos, audio_pos = _spans(model, req)
    assert req.frames.audio.window == (strategy == "dense")
    assert abs(video_span - heard) <= patch  # in seconds
    per_second = model.model.config.position_id_per_seconds
    # in the thinker's own clock: both start at the first sampled frame, and end within one patch
    assert video_pos.min() == audio_pos.min()
    last_patch_start = video_pos.max() - video_pos.min()
    sound_end = audio_pos.max() - audio_pos.min() + 1
    assert abs((last_patch_start + patch * per_second) - sound_end) <= patch * per_second + 1


# -- through the command line -----------------------------------------------------------------------

SOUND_TASK = "synthetic:n=7,seed=5,size=32,sound=true"


def test_tiny_omni_run_logs_the_sound_each_sample_was_sent(run_cli, tmp_path):
    r = run_cli("run", "--tasks", SOUND_TASK, "--model", "tiny-vlm", "--model-args",
                "family=qwen2.5-omni,mode=score,pixels=native", "--audio", "on", "--frames", "4",
                "--log-samples", "--output-path", str(tmp_path), "--no-progress", "--no-cache")
    assert r.code == 0, r.err
    doc = read_results(tmp_path)
    (task,) = doc["tasks"].values()
    assert task["counts"]["evaluated"] == 7
    rows = [json.loads(line) for line in (tmp_path / task["samples_file"]).read_text().splitlines()]
    for row in rows:
        audio = row["audio"]
        assert audio["present"] and audio["rate"] == RATE and audio["duration"] > 0.5
        assert audio["span"][1] - audio["span"][0] == pytest.approx(audio["duration"], abs=1e-3)
        assert row["answer_meta"]["audio_tokens"] > 0 and row["answer_meta"]["visual_tokens"] > 0


def test_audio_on_is_refused_for_a_model_that_takes_no_sound(run_cli, tmp_path):
    r = run_cli("run", "--tasks", SOUND_TASK, "--model", "tiny-vlm", "--model-args", "family=qwen2.5-vl",
                "--audio", "on", "--output-path", str(tmp_path), "--no-progress", "--no-cache")
    assert r.code != 0 and "takes no sound" in r.err
    assert not list(tmp_path.glob("results_*.json"))
