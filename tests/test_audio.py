"""Audio with video (issue 23): the sound track decoded, cut, cached, logged and refused where it cannot
be sent; the listening control and the ``modality`` probe that must find where sound helps and hurts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from harness import decodepool, evaluator, host, samplelog
from harness.context import Context
from harness.errors import CapabilityError, UsageError
from harness.frames.cache import FrameCache
from harness.frames.video import read_frames, write_mp4
from harness.model import Model
from harness.params import parse_tasks
from harness.testing.sound import CUE_HZ, hear_cue
from harness.types import FrameProtocol, Response, Sample

RATE = 16000
ON = FrameProtocol(num_frames=8, audio_rate=RATE)


def _clip(path: Path, seconds: float = 2.0, fps: int = 25, sound: np.ndarray | None = None,
          rate: int = 44100) -> str:
    frames = np.random.default_rng(0).integers(0, 255, (int(seconds * fps), 32, 32, 3), dtype=np.uint8)
    write_mp4(str(path), frames, fps=fps, audio=sound, audio_rate=rate)
    return str(path)


def _burst(seconds: float, at: float, hz: float = 1000.0, rate: int = 44100) -> np.ndarray:
    """Stereo silence with a tone from ``at`` seconds to the end."""
    t = np.arange(int(seconds * rate)) / rate
    tone = np.where(t >= at, 0.4 * np.sin(2 * np.pi * hz * t), 0.0)
    return np.stack([tone, tone])


def _onset(samples: np.ndarray, rate: int) -> float:
    """Seconds to the first sample louder than a tenth of the peak."""
    return float(np.argmax(np.abs(samples) > 0.1 * np.abs(samples).max())) / rate


def test_the_track_is_resampled_to_mono_at_the_models_rate_and_spans_the_frames(tmp_path):
    path = _clip(tmp_path / "c.mp4", sound=_burst(2.0, 1.0))
    whole = read_frames(path, ON)
    audio = whole.audio
    assert audio.rate == RATE and audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    assert (audio.source_rate, audio.source_channels) == (44100, 2)
    # uniform frames run from the first frame to the last: the whole clip's sound, not a window
    assert audio.start == 0.0 and audio.end == pytest.approx(whole.duration) and not audio.window
    assert audio.duration == pytest.approx(2.0, abs=1 / RATE)
    assert _onset(audio.samples, RATE) == pytest.approx(1.0, abs=0.03)  # aligned with the frames' clock
    heard = np.abs(np.fft.rfft(audio.samples))
    assert np.argmax(heard) * RATE / len(audio.samples) == pytest.approx(1000.0, abs=2)
    # dense frames around the centre: the sound of their window only, stated as a window
    dense = read_frames(path, FrameProtocol(strategy="dense", num_frames=8, audio_rate=RATE))
    a = dense.audio
    assert a.window and a.start == pytest.approx(dense.timestamps[0]) and a.end == pytest.approx(
        dense.timestamps[-1] + 1 / 25)
    assert _onset(a.samples, RATE) == pytest.approx(1.0 - a.start, abs=0.03)
    log = a.to_log()
    assert log["present"] and log["window"] and log["span"] == [round(a.start, 6), round(a.end, 6)]
    # reversed frames show the same span: the sound stays in time order
    rev = read_frames(path, FrameProtocol(num_frames=8, order="reversed", audio_rate=RATE)).audio
    np.testing.assert_array_equal(rev.samples, audio.samples)


def test_a_clip_without_usable_sound_fails_with_its_reason_and_the_rest_are_decoded(tmp_path):
    good = Sample("good", "happy", _clip(tmp_path / "good.mp4", sound=_burst(2.0, 0.5)))
    silent = Sample("mute", "happy", _clip(tmp_path / "mute.mp4"))
    short = Sample("short", "happy", _clip(tmp_path / "short.mp4", sound=_burst(1.0, 0.5)))
    out = {s.id: (f, err) for s, f, err, _, _ in decodepool.decoded([good, silent, short], ON, workers=0)}
    assert out["good"][0].audio is not None and out["good"][1] is None
    assert out["mute"][0] is None and "mute.mp4: no audio track" in out["mute"][1] and "--audio off" in out["mute"][1]
    assert out["short"][0] is None and "short.mp4: the audio track covers" in out["short"][1]
    # under --audio off the same clips decode, with no sound at all
    off = {s.id: f for s, f, err, _, _ in decodepool.decoded([good, silent, short], FrameProtocol(num_frames=8),
                                                              workers=0)}
    assert all(f is not None and f.audio is None for f in off.values())


def test_frame_folders_carry_no_sound(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    from PIL import Image
    for i in range(4):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / f"{i:03d}.jpg")
    frames, error, _, _ = decodepool.decode_one(Sample("f", "happy", str(folder), fps=25.0), ON, None)
    assert frames is None and "carries no sound" in error


def test_the_sound_is_cached_beside_the_frames_and_changes_the_content_digest(tmp_path):
    sample = Sample("c", "happy", _clip(tmp_path / "c.mp4", sound=_burst(2.0, 0.5)))
    cache = FrameCache(tmp_path / "cache")
    first, err, _, hit = decodepool.decode_one(sample, ON, str(tmp_path / "cache"))
    again, _, _, hit_again = decodepool.decode_one(sample, ON, str(tmp_path / "cache"))
    assert err is None and not hit and hit_again
    np.testing.assert_array_equal(first.audio.samples, again.audio.samples)
    assert first.audio.to_log() == again.audio.to_log() and first.content_digest() == again.content_digest()
    off = FrameProtocol(num_frames=8)
    assert cache.key(sample, off) != cache.key(sample, ON)  # on and off are other entries
    pictures = read_frames(sample.media, off)
    np.testing.assert_array_equal(pictures.array, first.array)
    assert pictures.content_digest() != first.content_digest()  # a response cache never confuses them


def test_the_protocol_names_its_sound_and_older_records_keep_their_keys():
    assert ON.name == "uniform8+audio16k" and ON.to_dict()["audio_rate"] == RATE
    assert "audio_rate" not in FrameProtocol(num_frames=8).to_dict()
    with pytest.raises(ValueError, match="audio_rate"):
        FrameProtocol(audio_rate=44)


def test_synthetic_cues_survive_aac_and_resampling(synthetic_sound):
    _, samples = synthetic_sound
    for sample in samples:
        heard, _ = hear_cue(read_frames(sample.media, ON).audio.samples, RATE)
        assert heard == sample.meta["sound_class"], sample.id
    assert {s.meta["sound_cue"] for s in samples} == {"agrees", "contradicts", "absent"}
    assert set(CUE_HZ) == {s.label for s in samples}


def _run(out: Path, tasks: str, model: str, audio: str, **more) -> evaluator.RunOutput:
    config = evaluator.RunConfig(tasks=parse_tasks(tasks), model=model, output_path=out, progress=False,
                                 bootstrap=100, log_samples=True, audio=audio, **more)
    return evaluator.evaluate(host.load([]), config)


SOUND_TASK = "synthetic:n=42,seed=3,sound=true"


def test_audio_on_is_part_of_the_results_and_every_row_logs_what_was_heard(synthetic_sound, tmp_path):
    run = _run(tmp_path / "on", SOUND_TASK, "synthetic-listener", "on")
    doc = run.document
    [task] = doc["tasks"].values()
    assert doc["config"]["audio"] == "on" and task["frame_protocol"]["name"] == "uniform8+audio16k"
    assert task["audio"]["with_sound"] == 42 and task["audio"]["rate"] == RATE and task["audio"]["windowed"] == 0
    rows = samplelog.read_samples(next(iter(run.sample_paths.values())))
    assert all(r["audio"]["present"] and r["audio"]["rate"] == RATE and r["audio"]["span"][0] == 0.0 for r in rows)
    off = _run(tmp_path / "off", SOUND_TASK, "synthetic-listener", "off")
    [task_off] = off.document["tasks"].values()
    assert "audio" not in task_off and "audio_rate" not in task_off["frame_protocol"]
    assert all("audio" not in r for r in samplelog.read_samples(next(iter(off.sample_paths.values()))))
    # the listener with ears: right wherever the cue agrees, wrong wherever it contradicts, unchanged without one
    on_rows = {r["id"]: r for r in rows}
    for r in samplelog.read_samples(next(iter(off.sample_paths.values()))):
        heard = on_rows[r["id"]]
        cue = r["meta"]["sound_cue"]
        if cue == "agrees":
            assert heard["prediction"] == r["label"]
        elif cue == "contradicts":
            assert heard["prediction"] == r["meta"]["sound_class"] != r["label"]
        else:
            assert heard["prediction"] == r["prediction"]


@pytest.mark.parametrize("tasks,model,more,error,words", [
    ("synthetic:n=14", "synthetic-listener", {}, UsageError, "carry no sound track"),
    (SOUND_TASK, "synthetic-oracle", {}, CapabilityError, "takes no sound"),
    (SOUND_TASK, "synthetic-listener", {"strategy": "msce"}, UsageError, "carry no sound"),
])
def test_audio_on_is_refused_before_any_work_where_it_cannot_be_heard(synthetic_sound, tmp_path, tasks, model,
                                                                        more, error, words):
    with pytest.raises(error, match=words):
        _run(tmp_path, tasks, model, "on", **more)
    assert not list(tmp_path.glob("results_*.json"))


def test_the_modality_probe_finds_where_sound_helps_hurts_and_does_not_matter(synthetic_sound, tmp_path, run_cli):
    r = run_cli("diagnose", "--tasks", SOUND_TASK, "--model", "synthetic-listener", "--probes", "modality",
                "--output-path", str(tmp_path), "--no-progress")
    assert r.code == 0, r
    doc = json.loads(next(tmp_path.glob("diagnostics_*.json")).read_text())
    [entry] = doc["tasks"].values()
    probe = entry["probes"]["modality"]
    f = probe["figures"]
    cues = f["by_sound_cue"]
    assert cues["agrees"]["accuracy_on"] == 1.0 and cues["agrees"]["difference"] >= 0
    assert cues["contradicts"]["accuracy_on"] == 0.0 and cues["contradicts"]["accuracy_off"] > 0.5
    assert cues["absent"]["difference"] == 0.0 and cues["absent"]["only_on_right"] == 0
    per_class = f["per_class"]
    for c in ("disgust", "fear"):  # contradicted by the sound
        assert per_class[c]["difference"] < 0 and per_class[c]["verdict"] in ("hurts", "unclear")
    for c in ("surprise", "neutral"):  # no cue
        assert per_class[c]["verdict"] == "unchanged" and per_class[c]["difference"] == 0.0
    for c in ("happy", "sad", "angry"):
        assert per_class[c]["difference"] >= 0 and per_class[c]["verdict"] != "hurts"
    assert f["uar"]["ci95"][0] <= f["uar"]["difference"] <= f["uar"]["ci95"][1]
    assert f["war"]["only_a_right"] == cues["agrees"]["only_on_right"]
    assert f["sound"]["clips_with_sound"] == 42 and f["frame_protocol"] == {"on": "uniform8+audio16k", "off": "uniform8"}
    assert {v["audio"] for v in probe["variants"].values()} == {"on", "off"}
    assert all((tmp_path / p).is_file() for p in probe["plots"])
    assert "UAR on - off" in r.out and "by sound cue" in r.out
    # harness compare pairs the two runs too: the same frames, with and without their sound
    files = [tmp_path / v["results_file"] for v in probe["variants"].values()]
    c = run_cli("compare", *map(str, files))
    assert c.code == 0 and "McNemar" in c.out and "synthetic-listener with sound (" in c.out, c


class _Ears(Model):
    """A test model that takes sound and answers the first choice: only the run around it is under test."""

    name = "ears"

    def identity(self):
        return {"id": "ears"}

    def audio_rate(self):
        return RATE

    def time_family(self):
        return "generic"

    def predict(self, requests):
        assert all(r.has_audio and r.frames.audio.rate == RATE for r in requests)
        return [Response(text=r.candidates[0]) for r in requests]


def test_a_yaml_task_declares_its_sound_and_one_clip_without_it_fails_alone(synthetic_sound, tmp_path):
    _, samples = synthetic_sound
    media = tmp_path / "media"
    media.mkdir()
    rows = ["media,label"]
    for s in samples[:3]:
        shutil.copy(s.media, media / f"{s.id}.mp4")
        rows.append(f"media/{s.id}.mp4,{s.label}")
    _clip(media / "mute.mp4")
    rows.append("media/mute.mp4,happy")
    (tmp_path / "clips.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "t.yaml").write_text("task: heard\nmanifest: clips.csv\nclasses: [happy, sad, neutral, angry, "
                                     "surprise, disgust, fear]\naudio: true\nframes: uniform=4\n")
    config = evaluator.RunConfig(tasks=parse_tasks("heard"), model="majority", output_path=tmp_path / "out",
                                 progress=False, bootstrap=0, log_samples=True, audio="on")
    run = evaluator.evaluate(host.load([], context=Context(include_paths=(str(tmp_path),))), config, model=_Ears())
    [task] = run.document["tasks"].values()
    assert task["counts"]["failed"] == 1 and task["counts"]["evaluated"] == 4
    assert task["audio"] == {**task["audio"], "with_sound": 3, "failed": 1}
    rows = samplelog.read_samples(next(iter(run.sample_paths.values())))
    [failed] = [r for r in rows if r["status"] == "failed"]
    assert "mute.mp4: no audio track" in failed["error"] and failed["audio"] is None and failed["prediction"] is None


def test_shards_of_an_audio_run_merge_into_the_whole_run_and_never_with_a_deaf_shard(synthetic_sound, tmp_path):
    from harness.errors import DataError
    from harness.merge import merge

    whole = _run(tmp_path / "whole", SOUND_TASK, "synthetic-listener", "on").document
    parts = [_run(tmp_path / f"s{i}", SOUND_TASK, "synthetic-listener", "on", shard=(i, 2)) for i in range(2)]
    merged = merge([p.results_path for p in parts], tmp_path / "merged").document
    [a], [b] = whole["tasks"].values(), merged["tasks"].values()
    assert merged["config"]["audio"] == "on" and b["frame_protocol"] == a["frame_protocol"]
    assert b["audio"] == a["audio"] and b["metrics"]["uar"] == a["metrics"]["uar"]
    deaf = _run(tmp_path / "deaf", SOUND_TASK, "synthetic-listener", "off", shard=(1, 2))
    with pytest.raises(DataError, match="config.audio"):
        merge([parts[0].results_path, deaf.results_path], tmp_path / "bad")


@pytest.mark.parametrize("tasks,model,words", [("synthetic:n=14", "synthetic-listener", "carry no sound track"),
                                               (SOUND_TASK, "synthetic-oracle", "takes no sound")])
def test_diagnose_refuses_a_modality_probe_that_cannot_hear_before_any_run(synthetic_sound, tmp_path, run_cli,
                                                                         tasks, model, words):
    r = run_cli("diagnose", "--tasks", tasks, "--model", model, "--probes", "longtail,modality",
                "--output-path", str(tmp_path), "--no-progress")
    assert r.code != 0 and words in r.err, r
    assert not list(tmp_path.rglob("results_*.json"))  # not even the audio-off run was made


@pytest.mark.parametrize("frames", ["fps=2", "segment=16", "uniform=8", "fps=5", "2", "fps=5,max=4", "all",
                                    *(f"segment=8,pick=random,seed={seed}" for seed in range(6))])
def test_protocols_that_sample_the_whole_clip_send_the_whole_clips_sound(tmp_path, frames):
    from harness.frames.sampling import parse_frames
    path = _clip(tmp_path / "c.mp4", sound=_burst(2.0, 0.5))
    protocol = parse_frames(frames, FrameProtocol(audio_rate=RATE))
    got = read_frames(path, protocol)
    assert got.audio.start == 0.0 and got.audio.end == pytest.approx(got.duration) and not got.audio.window, frames


def test_one_frame_at_the_clips_end_takes_the_usual_muxing_offset(tmp_path):
    """A single frame's span is 40 ms: inside the clip at most half of it may be silence, but at the
    clip's ends, where tracks start late or end early by a few tens of ms, the full 0.1 s may."""
    path = _clip(tmp_path / "c.mp4", seconds=2.0, sound=_burst(1.96, 0.5))  # AAC pads the track to 1.974 s
    last = read_frames(path, FrameProtocol(strategy="apex", num_frames=1, audio_rate=RATE),
                       apex=(1.99, 2.0)).audio
    assert last.window and last.end == pytest.approx(2.0) and 0.02 < last.padded_s < 0.1


def test_a_dense_window_sends_its_own_stretch(tmp_path):
    path = _clip(tmp_path / "c.mp4", sound=_burst(2.0, 0.5))
    got = read_frames(path, FrameProtocol(strategy="dense", num_frames=4, audio_rate=RATE))
    assert got.audio.window and got.audio.start == pytest.approx(got.timestamps[0])
    assert got.audio.end - got.audio.start == pytest.approx(4 / 25)


def test_a_span_the_track_does_not_reach_fails_instead_of_sending_silence(tmp_path):
    from harness.errors import MediaError
    from harness.frames.audio import read_audio
    path = _clip(tmp_path / "c.mp4", seconds=2.0, sound=_burst(2.0, 0.5))
    with pytest.raises(MediaError, match="covers"):
        read_audio(path, RATE, 2.03, 2.07, 0.0, True)  # wholly after the track's end: nothing of it is heard
    near = read_audio(path, RATE, 1.9, 2.1, 0.0, True)  # the track (AAC pads it to 2.02 s) ends first: padded
    assert len(near.samples) == round(0.2 * RATE) and 0.05 < near.padded_s < 0.1
    assert not near.samples[-round(near.padded_s * RATE):].any()


def test_a_track_whose_timestamps_jump_fails_instead_of_drifting(tmp_path):
    import av

    from harness.errors import MediaError
    from harness.frames.audio import read_audio
    path = tmp_path / "gap.mp4"
    with av.open(str(path), "w", format="mp4") as container:
        video = container.add_stream("libx264", rate=25)
        video.width = video.height = 32
        video.pix_fmt = "yuv420p"
        sound = container.add_stream("aac", rate=44100)
        sound.layout = "mono"
        for i in range(50):
            image = np.full((32, 32, 3), i * 4, np.uint8)
            for packet in video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        for k, at in enumerate(range(0, 44100, 1024)):  # one second of sound, then a 0.5 s jump in its clock
            frame = av.AudioFrame.from_ndarray(np.full((1, 1024), 0.1, np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 44100, at + (22050 if k >= 20 else 0)
            for packet in sound.encode(frame):
                container.mux(packet)
        for packet in sound.encode():
            container.mux(packet)
    with pytest.raises(MediaError, match="jumps"):
        read_audio(str(path), RATE, 0.0, 1.0, 0.0, False)


def test_reversed_frames_are_logged_as_not_playing_along_with_their_sound(tmp_path):
    path = _clip(tmp_path / "c.mp4", sound=_burst(2.0, 0.5))
    assert read_frames(path, ON).audio.to_log()["aligned"] is True
    assert read_frames(path, FrameProtocol(num_frames=8, order="reversed", audio_rate=RATE)).audio.to_log()["aligned"] is False


def test_the_modality_probe_names_a_class_whose_clips_all_failed_and_labels_its_uar():
    from harness.probe import ProbeContext, RunRows, Variant
    from harness.probes.modality import ModalityProbe

    def row(i, label, prediction, status="ok", sound=True):
        return {"id": f"{label}{i}", "label": label, "prediction": prediction, "status": status,
                "audio": {"duration": 1.0, "window": False, "padded_s": 0.0, "rate": RATE} if sound else None}
    off = [row(i, c, c) for c in ("happy", "sad", "angry") for i in range(5)]
    on = [row(i, c, c) for c in ("happy", "sad") for i in range(5)] + \
         [row(i, "angry", None, "failed", sound=False) for i in range(5)]
    task = {"frame_protocol": {"name": "uniform8"}, "counts": {"failed": 5}}
    runs = {"audio-off": RunRows(Variant("audio-off"), task, off, ""),
            "audio-on": RunRows(Variant("audio-on"), task, on, "")}
    context = ProbeContext("t", "test", ("happy", "sad", "angry"), 0, None, None, "m")
    probe = ModalityProbe({})
    figures = probe.compute(runs, context)
    assert figures["missing_classes"] == ["angry"] and figures["excluded_failed"]["count"] == 5
    assert "angry" not in figures["per_class"] and figures["n"] == 10
    lines = dict(probe.summary(figures))
    assert "UAR* audio off / on" in lines and "angry" in lines["* UAR"] and "5 clips failed" in lines["! left out"]


def test_a_clip_with_several_audio_tracks_is_refused_naming_them(tmp_path):
    """Which of two tracks the model should hear (a dub, a commentary) is not the harness's to guess,
    and the per-sample record has no field to say which it took: the clip fails, with the tracks listed."""
    from harness.errors import MediaError
    from harness.frames.audio import read_audio
    from harness.testing.sound import write_track
    tone = np.sin(2 * np.pi * 440 * np.arange(88200) / 44100).astype(np.float32)
    path = write_track(str(tmp_path / "two.mp4"), [np.stack([tone, tone]), 0.5 * tone[None]])
    with pytest.raises(MediaError, match=r"2 audio tracks \(#0: 2 channels.*#1: 1 channel"):
        read_audio(path, RATE, 0.0, 2.0, 0.0, False)
    one = write_track(str(tmp_path / "one.mp4"), [np.stack([tone, tone])])
    assert read_audio(one, RATE, 0.0, 2.0, 0.0, False).source_channels == 2


@pytest.mark.parametrize("channels", [2, 6, 8])
def test_a_full_scale_track_of_many_channels_downmixes_within_full_scale(tmp_path, channels):
    """FFmpeg's down-mix into float is not normalised: 8 full-scale channels summed to a peak of 4.3
    (stereo 1.41). Each output sample must stay within the loudest input's, and a sound every channel
    carries alike comes out as itself."""
    from harness.frames.audio import read_audio
    from harness.testing.sound import write_track
    t = np.arange(2 * 48000) / 48000
    tone = np.sin(2 * np.pi * 440 * t).astype(np.float32)  # full scale
    path = write_track(str(tmp_path / "many.mkv"), [np.tile(tone, (channels, 1))], rate=48000, codec="pcm_f32le")
    got = read_audio(path, 48000, 0.5, 1.5, 0.0, True)  # no rate change: the down-mix alone
    assert got.source_channels == channels
    assert np.abs(got.samples).max() <= 1.0
    np.testing.assert_allclose(got.samples, tone[24000:72000], atol=1e-5)
    # channels that disagree (opposite signs, different tones) at full scale stay in range too
    rng = np.random.default_rng(0)
    mixed = np.sign(rng.standard_normal((channels, len(t)))).astype(np.float32)
    path = write_track(str(tmp_path / "mixed.mkv"), [mixed], rate=48000, codec="pcm_f32le")
    assert np.abs(read_audio(path, 16000, 0.5, 1.5, 0.0, True).samples).max() <= 1.0


def _long_track(path: Path, seconds: float) -> str:
    from harness.testing.sound import write_track
    rate = 44100
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(1)
    left = 0.3 * np.sin(2 * np.pi * (300 + 20 * t) * t) + 0.05 * rng.standard_normal(len(t))  # a sweep: no two spans alike
    return write_track(str(path), [np.stack([left, 0.7 * left]).astype(np.float32)], rate=rate)


def _count_packets(monkeypatch, audio) -> list:
    """The packets the reader demuxes from here on (the list fills as it reads)."""
    seen = []

    def counting(container, stream):
        for packet in container.demux(stream):
            seen.append(packet)
            yield packet
    monkeypatch.setattr(audio, "_demux", counting)
    return seen


@pytest.mark.parametrize("start,end", [(20.0, 23.0), (20.013, 23.5017), (29.0, 30.05)])
def test_a_span_late_in_the_track_is_decoded_from_a_seek_and_equals_the_whole_decode(tmp_path, monkeypatch, start, end):
    """Seeking to the span (with a margin) instead of decoding the track from its start gives the same
    samples, bit for bit: the resampler restarts on the same sample grid, early enough that its filter
    and the decoder have settled by the span's first sample. The last span reaches past the track's end
    (30.0 s plus AAC's padding, at the clip's end): it is padded, as the whole decode pads it."""
    from harness.frames import audio
    path = _long_track(tmp_path / "long.m4a", 30.0)
    whole = audio.read_audio(path, RATE, start, end, 0.0, True, clip_end=end, seek=False)
    seen = _count_packets(monkeypatch, audio)
    sought = audio.read_audio(path, RATE, start, end, 0.0, True, clip_end=end)
    np.testing.assert_array_equal(sought.samples, whole.samples)
    assert (sought.padded_s, sought.source_rate, sought.source_channels) == (whole.padded_s, 44100, 2)
    assert (whole.padded_s > 0) == (end > 30.03)
    assert len(whole.samples) == round(end * RATE) - round(start * RATE)
    packets = 30.0 * 44100 / 1024
    assert len(seen) < 0.2 * packets, f"{len(seen)} of {packets:.0f} packets demuxed: the track was not sought"


def test_a_span_early_in_a_long_track_stops_decoding_at_its_end(tmp_path, monkeypatch):
    from harness.frames import audio
    path = _long_track(tmp_path / "long.m4a", 30.0)
    whole = audio.read_audio(path, RATE, 1.0, 3.0, 0.0, True, seek=False)
    seen = _count_packets(monkeypatch, audio)
    np.testing.assert_array_equal(audio.read_audio(path, RATE, 1.0, 3.0, 0.0, True).samples, whole.samples)
    assert len(seen) < 0.2 * 30.0 * 44100 / 1024
