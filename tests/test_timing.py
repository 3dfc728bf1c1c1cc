"""The temporal contract: decoded times are the truth, and every backend is told the same times.

Clips are generated here with every frame's number drawn in its pixels, so a
test reads back exactly which frames arrived and compares their times with
the times they were written at.
"""

from __future__ import annotations

import math

import av
import numpy as np
import pytest

from harness.errors import MediaError
from harness.frames import time_told
from harness.frames.folder import read_frame_folder
from harness.frames.sampling import select_indices
from harness.frames.video import read_frames
from harness.testing.clips import read_mark, stored_times, variable_times, write_timed
from harness.types import FrameProtocol, Frames, Request

TIMES = variable_times(60, seed=0)  # ms; gaps of 20, 40 and 80 ms


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """name -> (path, ms time each frame number was written at)."""
    d = tmp_path_factory.mktemp("timed")
    out = {}

    def make(name, times, **kwargs):
        path = str(d / name)
        write_timed(path, times, **kwargs)
        out[name] = (path, {i: t for i, t in enumerate(times)})

    make("vfr.mp4", TIMES)
    make("vfr.mkv", TIMES, container="matroska", header_rate=30)
    make("late.mp4", variable_times(60, seed=1, start_ms=500))
    make("decode-order.mkv", [i * 40 for i in range(60)], container="matroska", header_rate=25,
         options={"crf": "12", "bframes": "3", "b-adapt": "0"}, stored_in_decode_order=True)
    make("vp8.webm", TIMES, container="webm", codec="libvpx", options={"crf": "10", "b:v": "1M"})
    make("vp9.webm", TIMES, container="webm", codec="libvpx-vp9", options={"crf": "10", "b:v": "0"})
    # A trimmed mp4: the header (at the front) lists 60 frames, the file holds fewer.
    full = d / "full.mp4"
    write_timed(str(full), [i * 40 for i in range(60)], container_options={"movflags": "faststart"})
    data = full.read_bytes()
    (d / "trimmed.mp4").write_bytes(data[: int(len(data) * 0.9)])
    out["trimmed.mp4"] = (str(d / "trimmed.mp4"), {i: i * 40 for i in range(60)})
    return out


ALL = FrameProtocol(strategy="all", num_frames=None)


def test_the_awkward_files_are_what_they_claim(clips):
    with av.open(clips["vp9.webm"][0]) as c:
        assert c.streams.video[0].frames == 0  # WebM stores no frame count
    with av.open(clips["trimmed.mp4"][0]) as c:
        assert c.streams.video[0].frames == 60  # the header over-counts
    with av.open(clips["decode-order.mkv"][0]) as c:
        pts = [f.pts for f in c.decode(video=0)]
    assert pts != sorted(pts)  # stored times come out of display order


@pytest.mark.parametrize("name", ["vfr.mp4", "vfr.mkv", "late.mp4", "vp8.webm", "vp9.webm", "trimmed.mp4"])
def test_timestamps_are_the_true_display_times_of_the_frames_that_arrived(clips, name):
    path, written = clips[name]
    frames = read_frames(path, ALL)
    marks = [read_mark(image) for image in frames.array]
    assert marks == sorted(marks)  # display order
    first = written[marks[0]]
    truth = [(written[m] - first) / 1000 for m in marks]
    assert frames.timestamps == pytest.approx(truth, abs=1e-3)
    assert frames.timestamps[0] == 0.0  # counted from the first displayed frame, even when it starts late
    assert frames.fps == pytest.approx((len(marks) - 1) / truth[-1], rel=1e-3)  # measured, not the header
    assert frames.total_frames == len(marks)
    if name == "trimmed.mp4":
        assert len(marks) < 60


def test_times_stored_in_decode_order_are_put_back_in_display_order(clips):
    path, _ = clips["decode-order.mkv"]
    frames = read_frames(path, ALL)
    assert [read_mark(image) for image in frames.array] == list(range(60))
    display = stored_times(path)
    assert frames.timestamps == pytest.approx([t - display[0] for t in display], abs=1e-3)
    assert all(b > a for a, b in zip(frames.timestamps, frames.timestamps[1:]))


def test_a_header_that_disagrees_with_the_frames_is_recorded(clips):
    frames = read_frames(clips["vfr.mkv"][0], ALL)
    assert frames.header_fps == 30 and frames.fps == pytest.approx(59 / (TIMES[-1] / 1000), rel=1e-3)
    assert read_frames(clips["decode-order.mkv"][0], ALL).header_fps is None  # 25 fps as claimed


@pytest.mark.parametrize("name", ["vfr.mp4", "vfr.mkv", "vp9.webm"])
@pytest.mark.parametrize("target", [2, 5, 10])
def test_fps_sampling_lands_on_a_regular_time_grid(clips, name, target):
    path, written = clips[name]
    frames = read_frames(path, FrameProtocol(strategy="fps", fps=target, num_frames=None))
    span = TIMES[-1] / 1000
    grid = [j / target for j in range(int(math.floor(span * target)) + 1)]
    marks = [read_mark(image) for image in frames.array]
    assert len(set(marks)) == len(marks)  # never the same frame twice
    # each sampled frame is the one nearest its grid point (gaps are at most 80 ms)
    got = [written[m] / 1000 for m in marks]
    assert len(got) >= len(grid) - 2
    for t in got:
        assert min(abs(t - g) for g in grid) <= 0.04 + 1e-6
    # and the times agree with the marks
    assert frames.timestamps == pytest.approx(got, abs=1e-3)


def test_fps_above_the_source_rate_is_refused_or_capped_on_request(clips):
    path, _ = clips["vfr.mp4"]
    with pytest.raises(MediaError, match="runs at 2"):
        read_frames(path, FrameProtocol(strategy="fps", fps=30, num_frames=None))
    capped = read_frames(path, FrameProtocol(strategy="fps", fps=30, num_frames=None, above_source="cap"))
    assert len(capped.indices) == 60 and FrameProtocol(strategy="fps", fps=30, above_source="cap",
                                                        num_frames=None).name == "fps30-cap"


def test_one_uniform_frame_is_the_middle_one():
    assert select_indices(81, FrameProtocol(num_frames=1)) == [40]
    assert select_indices(4, FrameProtocol(num_frames=1)) == [1]


# -- what each backend is told --------------------------------------------------------------------

PROTOCOLS = [FrameProtocol(num_frames=8), FrameProtocol(strategy="segment", num_frames=8),
             FrameProtocol(strategy="dense", num_frames=8),
             FrameProtocol(strategy="fps", fps=5, num_frames=16),
             FrameProtocol(num_frames=8, order="reversed"), FrameProtocol(num_frames=8, order="shuffled", seed=4)]


def test_order_ablations_are_told_a_natural_clip(clips):
    path, _ = clips["vfr.mp4"]
    natural = read_frames(path, FrameProtocol(num_frames=8))
    for order in ("reversed", "shuffled"):
        permuted = read_frames(path, FrameProtocol(num_frames=8, order=order, seed=2), "s")
        assert permuted.indices != natural.indices
        for family in (time_told.QWEN25, time_told.QWEN3):
            assert time_told.tell(permuted, family) == time_told.tell(natural, family)


def test_order_only_families_are_handed_the_clock_and_recorded_as_told_nothing(clips):
    path, _ = clips["vfr.mp4"]
    frames = read_frames(path, FrameProtocol(num_frames=8))
    order, generic = time_told.tell(frames, time_told.ORDER), time_told.tell(frames, time_told.QWEN3)
    assert order.metadata == generic.metadata and order.times == generic.times  # a processor that read it gets the truth
    assert not order.conveys_time and order.max_error_s == 0.0 and order.record()["family"] == "order-only"
    for name in ("llava_onevision", "internvl", "llava-hf/LLaVA-NeXT-Video-7B-hf", "OpenGVLab/InternVL3_5-8B-HF",
                 "openbmb/MiniCPM-V-4_6", "perception_lm"):
        assert time_told.family_of(name) == time_told.ORDER, name
    assert time_told.family_of("qwen2_5_omni_thinker") == time_told.family_of("Qwen/Qwen2.5-Omni-7B") == time_told.QWEN25
    assert time_told.family_of("smolvlm") == time_told.family_of("glm4v") == time_told.GENERIC


def test_qwen25_is_told_the_actual_spacing_and_irregular_spacing_is_marked(clips):
    path, _ = clips["vfr.mp4"]
    dense = read_frames(path, FrameProtocol(strategy="dense", num_frames=8))
    spread = read_frames(path, FrameProtocol(num_frames=8))
    d, s = time_told.tell(dense, time_told.QWEN25), time_told.tell(spread, time_told.QWEN25)
    # sampled_fps, from which transformers and vLLM derive seconds per temporal patch
    sampled = lambda m: len(m["frames_indices"]) / m["total_num_frames"] * m["fps"]  # noqa: E731
    span = lambda f: f.timestamps[-1] - f.timestamps[0]  # noqa: E731
    assert 1 / sampled(d.metadata) == pytest.approx(span(dense) / 7)
    assert 1 / sampled(s.metadata) == pytest.approx(span(spread) / 7)
    assert 1 / sampled(d.metadata) < 0.5 / sampled(s.metadata)  # a dense window is not the whole clip
    assert not s.exact and s.max_error_s > 0  # variable gaps cannot be one number per video
    qwen3 = time_told.tell(spread, time_told.QWEN3)
    assert qwen3.exact and qwen3.times == pytest.approx(spread.timestamps, abs=5e-4)


def vllm_frames(metadata: dict, array) -> Frames:
    """What a vLLM server or engine makes of a video item: time = frames_indices / fps."""
    fps = metadata["fps"]
    return Frames(array=array, indices=list(range(len(array))),
                  timestamps=[i / fps for i in metadata["frames_indices"]], fps=fps,
                  total_frames=metadata["total_num_frames"], duration=metadata.get("duration"))


torch = pytest.importorskip("torch", reason="the hf extra is part of the test install (make test)")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from harness.plugins.hf import HFModel
    from harness.testing.checkpoints import build

    root = tmp_path_factory.mktemp("tiny")
    return {f: HFModel({"pretrained": str(build(f, root / f)), "mode": "score"}) for f in ("qwen2.5-vl", "qwen3-vl")}


def _request(frames: Frames, family: str) -> Request:
    """A request resolved for ``family`` as the core resolves it: what it is told is settled."""
    from harness.prompts import NAMES
    classes = ("happy", "sad", "neutral")
    return Request(sample_id="x", frames=frames, messages=NAMES.render(classes), choices=classes,
                   told=time_told.tell(frames, family))


def _qwen25_temporal_ids(model, inputs) -> list[int]:
    """The M-RoPE temporal position of each temporal patch of the video, from the real model."""
    core = model.model.model
    positions, _ = core.get_rope_index(inputs["input_ids"], inputs["mm_token_type_ids"], None,
                                       inputs["video_grid_thw"], inputs["second_per_grid_ts"],
                                       inputs["attention_mask"])
    video = inputs["input_ids"][0] == model.model.config.video_token_id
    _, h, w = inputs["video_grid_thw"][0].tolist()
    return positions[0, 0][video][:: h * w // 4].tolist()  # first token of each temporal patch


def _qwen3_prompt_times(model, inputs) -> list[str]:
    import re
    return re.findall(r"<([\d.]+) seconds>", model.tokenizer.decode(inputs["input_ids"][0]))


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=lambda p: p.name)
def test_every_backend_is_told_the_same_times(clips, tiny, protocol):
    from harness.plugins.openai_server import build_body
    from harness.plugins.vllm_engine import video_item

    path, _ = clips["vfr.mp4"]
    frames = read_frames(path, protocol, "clip-7")
    natural = read_frames(path, FrameProtocol(**{**protocol.__dict__, "order": "natural"}), "clip-7")

    # Qwen2.5-VL: seconds per temporal patch and the M-RoPE temporal ids, read from the real processor/model
    q25 = tiny["qwen2.5-vl"]
    told = time_told.tell(frames, time_told.QWEN25)
    spacing = (told.times[-1] - told.times[0]) / (len(told.times) - 1)
    inputs = q25.model_inputs([_request(frames, time_told.QWEN25)])
    assert inputs["second_per_grid_ts"][0].item() == pytest.approx(2 * spacing, rel=1e-5)
    ids = _qwen25_temporal_ids(q25, inputs)
    tps = q25.model.config.vision_config.tokens_per_second
    base = ids[0]
    expected = [int(p * inputs["second_per_grid_ts"][0].item() * tps) for p in range(len(ids))]
    assert [i - base for i in ids] == expected
    assert ids == _qwen25_temporal_ids(q25, q25.model_inputs([_request(natural, time_told.QWEN25)]))  # order is not leaked

    # Qwen3-VL: the times written into the prompt (the mean of each two-frame patch)
    q3 = tiny["qwen3-vl"]
    told3 = time_told.tell(frames, time_told.QWEN3)
    times = told3.times + ([told3.times[-1]] if len(told3.times) % 2 else [])
    pairs = [f"{(times[i] + times[i + 1]) / 2:.1f}" for i in range(0, len(times), 2)]
    shown = _qwen3_prompt_times(q3, q3.model_inputs([_request(frames, time_told.QWEN3)]))
    assert shown == pairs
    assert shown == _qwen3_prompt_times(q3, q3.model_inputs([_request(natural, time_told.QWEN3)]))

    # vLLM in-process and a vLLM server: the metadata they take, read back as vLLM reads it
    for family, expect in ((time_told.QWEN25, told), (time_told.QWEN3, told3)):
        _, meta = video_item(_request(frames, family))
        served = build_body(_request(frames, family), "m")["media_io_kwargs"]["video"]
        assert served["num_frames"] == len(frames.indices) and served["do_sample_frames"] is False
        for m in (meta, served):
            again = time_told.tell(vllm_frames(m, frames.array), family)
            assert again.times == pytest.approx(expect.times, abs=1e-3)
            assert again.metadata["fps"] == pytest.approx(expect.metadata["fps"])


def test_media_without_a_time_base_get_the_stated_clock_everywhere(tmp_path, tiny):
    from PIL import Image

    from harness.plugins.openai_server import build_body
    from harness.testing.clips import marked_frame

    folder = tmp_path / "clip"
    folder.mkdir()
    for i in range(16):
        Image.fromarray(marked_frame(i)).save(folder / f"{i + 1}.jpg", quality=95)
    with pytest.raises(MediaError, match="no clock"):
        time_told.tell(read_frame_folder(str(folder), FrameProtocol(num_frames=8)), time_told.QWEN3)
    frames = read_frame_folder(str(folder), FrameProtocol(num_frames=8, nominal_fps=2.0))
    assert frames.time_base == "nominal" and frames.fps == 2.0
    told = time_told.tell(frames, time_told.QWEN25)
    spacing = (told.times[-1] - told.times[0]) / 7
    q25 = tiny["qwen2.5-vl"]
    sg = q25.model_inputs([_request(frames, time_told.QWEN25)])["second_per_grid_ts"][0].item()
    assert sg == pytest.approx(2 * spacing) and abs(sg - 2 / 24) > 0.1  # not transformers' 24 fps
    shown = _qwen3_prompt_times(tiny["qwen3-vl"], tiny["qwen3-vl"].model_inputs([_request(frames, time_told.QWEN3)]))
    assert shown[-1] == f"{(frames.timestamps[-2] + frames.timestamps[-1]) / 2:.1f}"
    served = build_body(_request(frames, time_told.QWEN3), "m")["media_io_kwargs"]["video"]
    assert served["fps"] == 1000.0 and served["frames_indices"][-1] == round(frames.timestamps[-1] * 1000)
    assert FrameProtocol(num_frames=8, nominal_fps=2.0).name == "uniform8-nominal2fps"


def test_untimed_tasks_record_their_convention_in_results(tmp_path, cache_dir):
    from harness.testing.releases import make_dfew
    from tests.conftest import evaluate_once

    make_dfew(tmp_path / "data", per_class=1)
    doc = evaluate_once(tmp_path / "out", model="tiny-qwen-vl", tasks="dfew:fold=1,media=frames16",
                        data_dir=tmp_path / "data", log_samples=True, model_args={"mode": "score"})
    task = doc["tasks"]["dfew:fold=1,media=frames16"]
    assert task["frame_protocol"]["nominal_fps"] == 2.0 and task["frame_protocol"]["name"].endswith("nominal2fps")
    assert task["time_told"]["family"] == "qwen2.5-vl" and task["time_told"]["time_bases"] == ["nominal"]
    import json
    rows = [json.loads(line) for line in (tmp_path / "out" / task["samples_file"]).read_text().splitlines()]
    assert all(r["told"]["time_base"] == "nominal" for r in rows)
    spacing = np.diff(rows[0]["told"]["times"])
    assert np.allclose(spacing, spacing[0]) and spacing[0] > 0.4  # 16 frames at 2 fps, segment-sampled


def test_qwen3_vl_sees_each_frame_wrapped_once_as_released(clips, tiny):
    """Qwen3-VL's released format: ``<t seconds><|vision_start|>...<|vision_end|>`` per temporal patch and
    nothing around them. transformers 5.10.0-5.24.0 kept the chat template's outer pair around all of them
    (harness.upstream names that range and warns); the pinned test environment must not be one of them."""
    import re

    import transformers

    from harness import upstream

    q3 = tiny["qwen3-vl"]
    path, _ = clips["vfr.mp4"]
    frames = read_frames(path, FrameProtocol(num_frames=8), "clip-7")
    inputs = q3.model_inputs([_request(frames, time_told.QWEN3)])  # loads the twin
    text = q3.tokenizer.decode(inputs["input_ids"][0])
    video = re.sub(r"(<\|video_pad\|>)+", "V", text[text.index("<|im_start|>user"):])
    assert re.search(r"user\n(<[\d.]+ seconds><\|vision_start\|>V<\|vision_end\|>){4}[^<]", video), video
    assert video.count("<|vision_start|>") == 4  # 8 frames, two per temporal patch, no outer pair
    assert not upstream.notes("qwen3-vl", {"transformers": transformers.__version__})


def test_library_releases_that_change_a_prompt_are_named():
    from harness import upstream

    for version, warned in (("5.9.0", False), ("5.10.0", True), ("5.24.0", True), ("5.25.0", False), (None, False)):
        notes = upstream.notes("qwen3-vl", {"transformers": version})
        assert bool(notes) == warned, version
    for version, warned in (("5.2.0", False), ("5.3.0", True), ("5.25.0", True)):  # no release fixes it yet
        notes = upstream.notes("qwen2.5-vl", {"transformers": version})
        assert bool(notes) == warned and all("larger spatial side" in n for n in notes), version
    assert not [n for n in upstream.notes("qwen3-vl", {"transformers": "5.25.0"}) if "spatial side" in n]
    assert "transformers<5.10.0 or >=5.25.0" in upstream.notes("qwen3-vl", {"transformers": "5.24.0"})[0]
