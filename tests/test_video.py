"""Decoding and uniform sampling: the right frames, the right timing, clear errors."""

from __future__ import annotations

import av
import numpy as np
import pytest

from harness.errors import MediaError
from harness.frames.sampling import select_indices
from harness.frames.video import read_frames, write_mp4
from harness.types import FrameProtocol


def full_decode(path: str) -> np.ndarray:
    with av.open(path) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A 37-frame clip whose frames are all different (a moving bar)."""
    frames = np.zeros((37, 64, 48, 3), np.uint8)
    for i in range(37):
        frames[i, :, i % 48] = 255
        frames[i, i % 64, :] = (10 * i) % 256
    path = tmp_path_factory.mktemp("video") / "bar.mp4"
    write_mp4(str(path), frames, fps=20)
    return str(path)


def test_uniform_frames_equal_those_of_a_full_sequential_decode(clip):
    reference = full_decode(clip)
    frames = read_frames(clip, FrameProtocol(num_frames=8))
    assert frames.total_frames == len(reference) == 37
    assert frames.indices == [0, 5, 10, 15, 21, 26, 31, 36]
    assert frames.array.dtype == np.uint8 and frames.array.shape == (8, 64, 48, 3)
    np.testing.assert_array_equal(frames.array, reference[frames.indices])
    assert frames.fps == 20
    assert frames.timestamps == pytest.approx([i / 20 for i in frames.indices])


def test_resize_to_short_side_happens_once_while_decoding(clip):
    frames = read_frames(clip, FrameProtocol(num_frames=4, short_side=24))
    assert frames.array.shape == (4, 32, 24, 3)


def test_more_frames_than_the_clip_has_repeats_frames():
    assert select_indices(3, FrameProtocol(num_frames=5)) == [0, 0, 1, 2, 2]


def test_order_transforms(clip):
    natural = select_indices(37, FrameProtocol(num_frames=8))
    assert select_indices(37, FrameProtocol(num_frames=8, order="reversed")) == natural[::-1]
    shuffled = select_indices(37, FrameProtocol(num_frames=8, order="shuffled", seed=1), "clip-1")
    assert sorted(shuffled) == natural and shuffled != natural
    assert shuffled == select_indices(37, FrameProtocol(num_frames=8, order="shuffled", seed=1), "clip-1")
    frames = read_frames(clip, FrameProtocol(num_frames=8, order="reversed"))
    np.testing.assert_array_equal(frames.array, full_decode(clip)[natural[::-1]])


def test_protocol_names_describe_themselves():
    assert FrameProtocol().name == "uniform8"
    assert FrameProtocol(num_frames=16, short_side=224, order="reversed").name == "uniform16-s224-rev"
    with pytest.raises(ValueError, match="unknown frame order"):
        FrameProtocol(order="sideways")


def test_missing_and_corrupt_files_raise_media_errors_naming_the_file(tmp_path):
    with pytest.raises(MediaError, match="nope.mp4: file not found"):
        read_frames(str(tmp_path / "nope.mp4"), FrameProtocol())
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    with pytest.raises(MediaError, match="bad.mp4"):
        read_frames(str(bad), FrameProtocol())
