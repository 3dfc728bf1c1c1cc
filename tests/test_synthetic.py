"""The synthetic task: deterministic, DFEW-shaped, real mp4 files, and micro-expressions."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from harness.context import Context
from harness.emotions import BASIC7, DFEW_SHARES
from harness.errors import UsageError
from harness.frames.video import read_frames
from harness.tasks.synthetic import SyntheticTask, class_counts, plan
from harness.testing.face import render_clip
from harness.types import FrameProtocol


def digests(samples):
    return [hashlib.sha256(Path(s.media).read_bytes()).hexdigest() for s in samples]


def test_generation_is_deterministic_for_a_seed(tmp_path):
    a = SyntheticTask({"n": 10, "seed": 7}, Context(cache_dir=tmp_path / "a")).samples()
    b = SyntheticTask({"n": 10, "seed": 7}, Context(cache_dir=tmp_path / "b")).samples()
    c = SyntheticTask({"n": 10, "seed": 8}, Context(cache_dir=tmp_path / "c")).samples()
    assert [(s.id, s.label) for s in a] == [(s.id, s.label) for s in b]
    assert digests(a) == digests(b)
    assert digests(a) != digests(c)


def test_mp4_files_decode_with_the_expected_frame_count(synthetic30):
    task, samples = synthetic30
    for s in samples[:10]:
        frames = read_frames(s.media, FrameProtocol(num_frames=8))
        assert frames.total_frames == round(s.meta["duration"] * 25)
        assert frames.fps == 25
        assert frames.array.shape == (8, 112, 112, 3)


def test_class_shares_follow_dfew():
    counts = class_counts(240)
    assert sum(counts.values()) == 240
    assert counts["disgust"] == 3  # about 1 in 80
    assert 15 <= counts["fear"] <= 21  # about 1 in 13
    for c in BASIC7:
        assert abs(counts[c] / 240 - DFEW_SHARES[c]) < 0.01
    for n in (7, 8, 30, 99, 1000):
        small = class_counts(n)
        assert sum(small.values()) == n and min(small.values()) >= 1
    with pytest.raises(UsageError):
        class_counts(5)


def test_expressions_are_really_drawn(synthetic30):
    clips = plan(30, 3, 0.3)
    index = next(i for i, c in enumerate(clips) if c["label"] == "surprise")
    clip = clips[index]
    frames = render_clip(clip, 3, index, 112, 25)
    rest, apex = frames[0], frames[int((clip["apex_start"] + clip["apex_end"]) / 2 * 25)]
    assert np.abs(rest.astype(int) - apex.astype(int)).sum() > 1000


def test_micro_expressions_are_short_and_missed_by_sparse_sampling():
    clips = plan(400, 0, 0.3)
    micro = [c for c in clips if c["micro"]]
    assert 0.2 < len(micro) / sum(c["label"] != "neutral" for c in clips) < 0.4
    assert all(0.25 <= c["apex_end"] - c["apex_start"] <= 0.5 for c in micro)
    assert not any(c["micro"] for c in clips if c["label"] == "neutral")

    def missed(c, k):
        total = round(c["duration"] * 25)
        times = [i / 25 for i in np.linspace(0, total - 1, k).round().astype(int)]
        return not any(c["apex_start"] <= t <= c["apex_end"] for t in times)

    # 8 uniform frames skip the apex of many micro-expressions; every frame never does.
    assert sum(missed(c, 8) for c in micro) / len(micro) > 0.1
    assert sum(missed(c, round(c["duration"] * 25)) for c in micro) == 0
    macro = [c for c in clips if not c["micro"] and c["label"] != "neutral"]
    assert sum(missed(c, 8) for c in macro) == 0


def test_a_corrupt_or_missing_clip_is_regenerated(tmp_path):
    task = SyntheticTask({"n": 8, "seed": 2}, Context(cache_dir=tmp_path))
    samples = task.samples()
    before = digests(samples)
    Path(samples[1].media).write_bytes(b"garbage")
    Path(samples[2].media).unlink()
    again = SyntheticTask({"n": 8, "seed": 2}, Context(cache_dir=tmp_path)).samples()
    assert digests(again) == before
    read_frames(again[1].media, FrameProtocol())


def test_groups_and_bad_parameters(synthetic30):
    task, samples = synthetic30
    groups = Counter(task.group(s) for s in samples)
    assert set(groups) <= {"micro", "macro", "neutral"} and groups["neutral"] >= 1
    with pytest.raises(UsageError, match="unknown parameter"):
        SyntheticTask({"size_px": 3}, Context(cache_dir=Path("/nonexistent")))
    with pytest.raises(UsageError, match="micro"):
        SyntheticTask({"micro": 2}, Context(cache_dir=Path("/nonexistent")))
