"""Every sampling strategy returns exactly the frames a full sequential decode yields."""

from __future__ import annotations

import av
import numpy as np
import pytest
from PIL import Image

from harness.errors import MediaError, UsageError
from harness.frames.folder import read_frame_folder
from harness.frames.sampling import parse_frames, select_indices, target_size
from harness.frames.video import read_frames
from harness.types import FrameProtocol

PROTOCOLS = [
    FrameProtocol(strategy="uniform", num_frames=8),
    FrameProtocol(strategy="segment", num_frames=6),
    FrameProtocol(strategy="segment", num_frames=6, pick="random", seed=3),
    FrameProtocol(strategy="fps", fps=5, num_frames=None),
    FrameProtocol(strategy="fps", fps=10, num_frames=4),
    FrameProtocol(strategy="dense", num_frames=5),
    FrameProtocol(strategy="all", num_frames=None),
    FrameProtocol(strategy="uniform", num_frames=8, order="shuffled", seed=2),
]


def moving_frames(count: int, h: int = 48, w: int = 64) -> np.ndarray:
    frames = np.zeros((count, h, w, 3), np.uint8)
    for i in range(count):
        frames[i, :, (3 * i) % w] = 255
        frames[i, (2 * i) % h, :, 1] = 200
        frames[i, ..., 2] = (7 * i) % 256
    return frames


def write(path, frames, fmt, options, fps=25):
    with av.open(str(path), "w", format=fmt) as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        s.options = options
        for image in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


@pytest.fixture(scope="module")
def awkward_clips(tmp_path_factory):
    """An mp4 with B-frames and an mkv whose container stores no frame count."""
    d = tmp_path_factory.mktemp("awkward")
    frames = moving_frames(53)
    bframes = d / "bframes.mp4"
    write(bframes, frames, "mp4", {"bframes": "3", "b-adapt": "0", "crf": "18"})
    mkv = d / "nocount.mkv"
    write(mkv, frames, "matroska", {"crf": "18"})
    return {"bframes": str(bframes), "mkv": str(mkv)}


def full_decode(path):
    with av.open(path) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def test_the_awkward_clips_are_what_they_claim(awkward_clips):
    with av.open(awkward_clips["bframes"]) as c:
        types = {f.pict_type for f in c.decode(video=0)}
    assert av.video.frame.PictureType.B in types, types
    with av.open(awkward_clips["mkv"]) as c:
        assert c.streams.video[0].frames == 0  # nothing in the container says how many


@pytest.mark.parametrize("clip", ["bframes", "mkv"])
@pytest.mark.parametrize("protocol", PROTOCOLS, ids=lambda p: p.name)
def test_video_strategies_match_a_full_decode(awkward_clips, clip, protocol):
    reference = full_decode(awkward_clips[clip])
    frames = read_frames(awkward_clips[clip], protocol, "sample-1")
    assert frames.total_frames == len(reference) == 53
    assert frames.indices == select_indices(53, protocol, "sample-1", 25.0)
    np.testing.assert_array_equal(frames.array, reference[frames.indices])
    assert frames.timestamps == pytest.approx([i / 25 for i in frames.indices])


def test_strategy_semantics():
    assert select_indices(100, FrameProtocol(strategy="segment", num_frames=4)) == [12, 37, 62, 87]
    rand = select_indices(100, FrameProtocol(strategy="segment", num_frames=4, pick="random"), "x")
    assert [i // 25 for i in rand] == [0, 1, 2, 3]  # one per segment
    assert rand != select_indices(100, FrameProtocol(strategy="segment", num_frames=4, pick="random"), "y")
    assert select_indices(30, FrameProtocol(strategy="fps", fps=5, num_frames=None), fps=25) == [0, 5, 10, 15, 20, 25]
    capped = select_indices(300, FrameProtocol(strategy="fps", fps=5, num_frames=8), fps=25)
    assert len(capped) == 8 and capped[0] == 0 and capped[-1] == 299
    assert select_indices(20, FrameProtocol(strategy="dense", num_frames=4)) == [8, 9, 10, 11]
    assert select_indices(3, FrameProtocol(strategy="dense", num_frames=5)) == [0, 1, 2, 2, 2]
    assert select_indices(5, FrameProtocol(strategy="all", num_frames=None)) == [0, 1, 2, 3, 4]
    with pytest.raises(MediaError, match="no time base"):
        select_indices(30, FrameProtocol(strategy="fps", fps=5, num_frames=None), fps=None)


def test_frame_folders_sort_naturally_and_read_only_the_sampled_files(tmp_path):
    frames = moving_frames(12)
    for i, image in enumerate(frames, start=1):
        Image.fromarray(image).save(tmp_path / f"{i}.png")  # 1.png ... 12.png: lexical sort would break
    out = read_frame_folder(str(tmp_path), FrameProtocol(strategy="uniform", num_frames=4), fps=10.0)
    assert out.indices == [0, 4, 7, 11] and out.total_frames == 12
    np.testing.assert_array_equal(out.array, frames[out.indices])
    assert out.timestamps == pytest.approx([0.0, 0.4, 0.7, 1.1])
    no_time = read_frame_folder(str(tmp_path), FrameProtocol(num_frames=4), fps=None)
    assert no_time.timestamps is None and no_time.fps is None
    with pytest.raises(MediaError, match="no time base"):
        read_frame_folder(str(tmp_path), FrameProtocol(strategy="fps", fps=5, num_frames=None), fps=None)


def test_resize_policies():
    assert target_size(320, 240, FrameProtocol(short_side=120)) == (160, 120)
    assert target_size(320, 240, FrameProtocol(max_pixels=320 * 240 // 4)) == (160, 120)
    assert target_size(64, 48, FrameProtocol(max_pixels=100_000)) == (64, 48)  # never upscaled
    with pytest.raises(ValueError, match="one resize policy"):
        FrameProtocol(short_side=100, max_pixels=1000)


@pytest.mark.parametrize("text, name", [
    ("16", "uniform16"),
    ("segment=16", "segment16"),
    ("segment=16,pick=random,seed=4", "segment16-rand4"),
    ("dense=12", "dense12"),
    ("fps=5,max=32", "fps5-max32"),
    ("max=32,fps=2", "fps2-max32"),
    ("all", "all"),
    ("order=reversed", "segment16-rev"),
    ("16,size=224", "uniform16-s224"),
    ("8,pixels=50176,order=shuffled,seed=1", "uniform8-p50176-shuf1"),
])
def test_frames_presets(text, name):
    base = FrameProtocol(strategy="segment", num_frames=16)
    assert parse_frames(text, base).name == name


def test_bad_frames_presets_are_usage_errors():
    with pytest.raises(UsageError, match="unknown item"):
        parse_frames("sixteen", FrameProtocol())
    with pytest.raises(UsageError, match="fps"):
        parse_frames("fps", FrameProtocol())


def test_a_crashing_decoder_costs_only_its_clip(synthetic30, tmp_path):
    import dataclasses

    import crashy

    from harness.decodepool import decoded

    _, samples = synthetic30
    batch = list(samples[:9])
    batch[4] = dataclasses.replace(batch[4], id="CRASH")
    out = list(decoded(batch, FrameProtocol(num_frames=4), workers=2, chunk=3, decode_chunk=crashy.decode_chunk))
    assert [s.id for s, *_ in out] == [s.id for s in batch]  # every clip, in order
    errors = {s.id: err for s, _, err, _, _ in out}
    assert "crashed" in errors["CRASH"]
    assert all(err is None for sid, err in errors.items() if sid != "CRASH")
