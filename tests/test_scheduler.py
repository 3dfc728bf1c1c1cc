"""The scheduler on its own: order, failures by kind, strict mode, the response cache, batch sizes.

No video decoding and no real model: samples point at a folder of tiny JPEG frames and a scripted
model answers, so each rule of :mod:`harness.scheduler` and :mod:`harness.model_calls` is checked
directly rather than through whole runs."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness import scheduler
from harness.decodepool import decoded
from harness.errors import HarnessError, SampleFailed
from harness.model import Model
from harness.model_calls import CachedCalls
from harness.response_cache import ResponseCache
from harness.types import FrameProtocol, Request, Response, Sample

PROTOCOL = FrameProtocol(num_frames=2)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[Sample]:
    root = tmp_path_factory.mktemp("frames")
    samples = []
    for i in range(10):
        folder = root / f"c{i}"
        folder.mkdir()
        for j in range(4):
            Image.fromarray(np.full((8, 8, 3), 20 * i + j, np.uint8)).save(folder / f"{j + 1}.jpg")
        samples.append(Sample(id=f"c{i}", label="a", media=str(folder), fps=4.0))
    samples.append(Sample(id="missing", label="a", media=str(root / "nowhere")))
    return samples


class Scripted(Model):
    """Answers with the sample id; fails a whole call when asked about ``explode``, answers
    ``refuse`` with an error, and records the batches it saw."""

    name = "scripted"

    def __init__(self, explode: str | None = None, refuse: str | None = None, fatal: bool = False):
        self.explode, self.refuse, self.fatal, self.batches = explode, refuse, fatal, []

    def identity(self):
        return {"id": "scripted"}

    def predict(self, requests):
        ids = [r.sample_id for r in requests]
        self.batches.append(ids)
        if self.explode in ids:
            raise (HarnessError if self.fatal else RuntimeError)(f"cannot answer {self.explode}")
        return [Response(error="refused") if r.sample_id == self.refuse else Response(text=r.sample_id)
                for r in requests]


def build(sample, frames) -> Request:
    return Request(sample_id=sample.id, frames=frames, messages=[], choices=("a", "b"))


def run(samples, model, cache=None, **options):
    calls = CachedCalls(model, cache, {"id": model.name} if cache else None, PROTOCOL.to_dict())
    return scheduler.run(samples, PROTOCOL, calls, build,
                         scheduler.Options(**{"batch_size": 3, "progress": False, **options}))


@pytest.mark.parametrize("prefetch", [True, False])
def test_outcomes_come_back_in_sample_order_with_each_failure_kept_to_its_samples(clips, prefetch):
    model = Scripted(explode="c4", refuse="c8")
    outcomes, timings = run(clips, model, prefetch=prefetch)
    assert [o.sample.id for o in outcomes] == [s.id for s in clips]
    by_id = {o.sample.id: o for o in outcomes}
    # the batch holding c4 (c3, c4, c5) failed together, with the model's message
    assert {i for i, o in by_id.items() if o.error and "cannot answer c4" in o.error} == {"c3", "c4", "c5"}
    assert by_id["c8"].error == "refused" and by_id["c8"].response is None  # one refused answer, one sample
    assert "nowhere" in by_id["missing"].error  # a clip that cannot be read fails alone, naming it
    assert [by_id[i].response.text for i in ("c0", "c1", "c2", "c6", "c7", "c9")] == ["c0", "c1", "c2", "c6",
                                                                                      "c7", "c9"]
    assert model.batches[0] == ["c0", "c1", "c2"] and max(len(b) for b in model.batches) == 3
    assert timings.decoded == 10 and by_id["c0"].indices == [0, 3] and by_id["c0"].timestamps == [0.0, 0.75]
    assert by_id["c0"].request.frames is None and by_id["c0"].request.sample_id == "c0"  # pixels let go


def test_strict_stops_at_the_first_failure_and_a_harness_error_stops_the_run(clips):
    with pytest.raises(SampleFailed, match="cannot answer c1"):
        run(clips, Scripted(explode="c1"), strict=True)
    with pytest.raises(HarnessError, match="cannot answer c1"):
        run(clips, Scripted(explode="c1", fatal=True))


def test_answers_come_from_the_response_cache_on_a_rerun_and_errors_are_never_cached(clips, tmp_path):
    cache = ResponseCache(tmp_path / "responses.sqlite")
    first = Scripted(refuse="c2")
    run(clips[:6], first, cache=cache)
    again = Scripted(refuse="c2")
    outcomes, timings = run(clips[:6], again, cache=cache)
    assert timings.responses_cached == 5  # every answer but the refused one
    assert again.batches == [["c2"]]  # only the refused request is asked again
    assert [o.response.text for o in outcomes if o.response] == ["c0", "c1", "c3", "c4", "c5"]


def test_batch_size_changes_the_calls_not_the_answers(clips):
    answers = {}
    for size in (1, 4, 16):
        outcomes, _ = run(clips, Scripted(), batch_size=size)
        answers[size] = [(o.sample.id, o.response.text if o.response else o.error) for o in outcomes]
    assert answers[1] == answers[4] == answers[16]


def test_cached_calls_merge_known_and_fresh_answers_in_request_order(tmp_path, clips):
    cache = ResponseCache(tmp_path / "r.sqlite")
    model = Scripted()
    frames = [next(decoded([s], PROTOCOL, 0))[1] for s in clips[:3]]
    requests = [build(s, f) for s, f in zip(clips[:3], frames)]
    calls = CachedCalls(model, cache, {"id": "scripted"}, {})
    calls.answer(requests[1:2])
    pending = calls.lookup(requests)
    assert pending.todo == [0, 2] and calls.from_cache == 1
    assert [r.text for r in calls.ask(requests, pending)] == ["c0", "c1", "c2"]
    assert model.batches[-1] == ["c0", "c2"]


def test_frames_cached_on_disk_are_not_decoded_again(clips, tmp_path):
    _, first = run(clips[:4], Scripted(), frame_cache=str(tmp_path / "frames"))
    _, second = run(clips[:4], Scripted(), frame_cache=str(tmp_path / "frames"))
    assert (first.decoded, first.cached) == (4, 0) and (second.decoded, second.cached) == (0, 4)
    assert Path(tmp_path / "frames").is_dir()


class Sleeper(Model):
    """Loads lazily in ``preprocess`` (as the hf plugin does in the prefetch thread) and sleeps known times."""

    name = "sleeper"

    def __init__(self, load=0.3, per_batch=0.05):
        self.load, self.per_batch, self.loaded = load, per_batch, False

    def identity(self):
        return {"id": "sleeper"}

    def preprocess(self, requests):
        if not self.loaded:
            start = time.perf_counter()
            time.sleep(self.load)
            self.loaded = True
            self.load_s += time.perf_counter() - start
        return [r.sample_id for r in requests]

    def predict(self, requests):
        time.sleep(self.per_batch)
        return [Response(text="a") for _ in requests]


@pytest.mark.parametrize("prefetch", [True, False])
def test_timing_fields_add_up_when_the_model_loads_in_the_prefetch_thread(clips, prefetch):
    model = Sleeper()
    outcomes, t = run(clips[:10], model, batch_size=1, prefetch=prefetch)
    batches = sum(1 for o in outcomes if o.response)
    assert batches == 10
    # lower bounds only (the machine may be slow, never fast): the load is start-up, every predict is model time
    assert t.model_load_s >= 0.3 and t.model_s >= 10 * 0.05
    loop = t.wall_s - t.model_load_s
    assert t.model_s <= loop + 1e-6 and t.wall_s >= t.model_load_s + t.model_s - 1e-6
