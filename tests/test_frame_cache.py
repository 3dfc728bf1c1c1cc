"""The frame cache: a second model on the same task decodes nothing, and gets the same frames."""

from __future__ import annotations

import json
import multiprocessing

import numpy as np

from harness.frames.cache import FrameCache
from harness.testing.releases import make_dfew
from harness.types import FrameProtocol, Frames, Sample
from tests.conftest import read_results


def sample_log(out):
    doc = read_results(out)
    task = next(iter(doc["tasks"].values()))
    rows = [json.loads(x) for x in (out / task["samples_file"]).read_text().splitlines()]
    return task, rows


def test_second_run_decodes_nothing(run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    make_dfew(tmp_path / "data" / "DFEW", media=("frames",))
    base = ["run", "--tasks", "dfew:media=frames,fold=1", "--data-dir", str(tmp_path / "data"),
            "--log-samples", "--no-progress"]
    assert run_cli(*base, "--model", "majority", "--output-path", str(tmp_path / "a")).code == 0
    first, rows_a = sample_log(tmp_path / "a")
    assert (first["timings"]["decoded"], first["timings"]["from_frame_cache"]) == (7, 0)

    assert run_cli(*base, "--model", "uniform", "--output-path", str(tmp_path / "b")).code == 0
    second, rows_b = sample_log(tmp_path / "b")
    assert (second["timings"]["decoded"], second["timings"]["from_frame_cache"]) == (0, 7)
    assert [r["frame_indices"] for r in rows_a] == [r["frame_indices"] for r in rows_b]
    assert [r["timestamps"] for r in rows_a] == [r["timestamps"] for r in rows_b]

    assert run_cli(*base, "--model", "uniform", "--output-path", str(tmp_path / "c"),
                   "--no-frame-cache").code == 0
    assert sample_log(tmp_path / "c")[0]["timings"]["decoded"] == 7
    # Another protocol is another key.
    assert run_cli(*base, "--model", "uniform", "--output-path", str(tmp_path / "d"), "--frames", "4").code == 0
    assert sample_log(tmp_path / "d")[0]["timings"]["decoded"] == 7


def _fill(root, key, seed):
    cache = FrameCache(root)
    frames = Frames(array=np.full((4, 8, 8, 3), 7, np.uint8), indices=[0, 1, 2, 3],
                    timestamps=[0.0, 0.1, 0.2, 0.3], fps=10.0, total_frames=4)
    for _ in range(30):
        cache.put(key, frames)


def test_concurrent_writers_and_torn_entries(tmp_path):
    media = tmp_path / "clip.mp4"
    media.write_bytes(b"x")
    cache = FrameCache(tmp_path / "frames")
    key = cache.key(Sample("a", "happy", str(media)), FrameProtocol())
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_fill, args=(tmp_path / "frames", key, i)) for i in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    got = cache.get(key)
    assert got is not None and got.indices == [0, 1, 2, 3] and int(got.array.sum()) == 7 * 4 * 8 * 8 * 3
    assert not list((tmp_path / "frames").rglob("*.tmp*"))
    # A torn or edited entry is a miss, never trusted.
    next((tmp_path / "frames").rglob("*.npz")).write_bytes(b"PK\x03\x04 torn")
    assert cache.get(key) is None
    # The key follows the clip: touching the file changes it.
    media.write_bytes(b"xy")
    assert cache.key(Sample("a", "happy", str(media)), FrameProtocol()) != key
