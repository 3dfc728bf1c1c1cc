"""The scheduler's prefetch thread: the next batch is prepared beside the model, with the same answers."""

from __future__ import annotations

import threading

import pytest

from harness import scheduler
from harness.errors import ModelAborted
from harness.model import Model
from harness.model_calls import CachedCalls
from harness.types import FrameProtocol, Request, Response

PROTOCOL = FrameProtocol(num_frames=4)


class Recorder(Model):
    """Answers with each clip's mean pixel; records which thread did what."""

    name = "recorder"

    def __init__(self, fail_preprocess_on: str | None = None, abort_on_batch: int | None = None):
        self.threads: dict[str, set] = {"preprocess": set(), "predict": set()}
        self.fail_preprocess_on = fail_preprocess_on
        self.abort_on_batch = abort_on_batch
        self.batches = 0

    def identity(self):
        return {"id": "recorder"}

    def _answer(self, r: Request) -> Response:
        return Response(text=f"{r.frames.array.mean():.6f}")

    def preprocess(self, requests):
        self.threads["preprocess"].add(threading.current_thread().name)
        if any(r.sample_id == self.fail_preprocess_on for r in requests):
            raise ValueError("this clip cannot be resized")
        return [r.sample_id for r in requests]

    def predict_preprocessed(self, requests, inputs):
        assert inputs == [r.sample_id for r in requests]  # the inputs of exactly these requests
        return self.predict(requests)

    def predict(self, requests):
        self.threads["predict"].add(threading.current_thread().name)
        self.batches += 1
        if self.batches == self.abort_on_batch:
            raise ModelAborted("the server is gone", [self._answer(requests[0])] + [None] * (len(requests) - 1))
        return [self._answer(r) for r in requests]


def build(sample, frames) -> Request:
    return Request(sample_id=sample.id, frames=frames, messages=[], choices=("a", "b"))


def run(samples, model, response_cache=None, **kw):
    identity = {**model.identity(), "provenance": {}} if response_cache else None
    calls = CachedCalls(model, response_cache, identity, PROTOCOL.to_dict())
    return scheduler.run(samples, PROTOCOL, calls, build, scheduler.Options(batch_size=4, progress=False, **kw))


def test_the_next_batch_is_prepared_in_a_thread_and_the_answers_do_not_change(synthetic30):
    _, samples = synthetic30
    model = Recorder()
    outcomes, _ = run(samples, model)
    assert model.threads == {"preprocess": {"harness-prefetch"}, "predict": {threading.current_thread().name}}
    serial = Recorder()
    outcomes_serial, _ = run(samples, serial, prefetch=False)
    assert serial.threads["preprocess"] == {threading.current_thread().name}
    assert [(o.sample.id, o.response.text) for o in outcomes] == \
           [(o.sample.id, o.response.text) for o in outcomes_serial]
    assert len(outcomes) == 30 and all(o.error is None for o in outcomes)


def test_a_batch_that_cannot_be_preprocessed_fails_alone(synthetic30):
    _, samples = synthetic30
    outcomes, _ = run(samples, Recorder(fail_preprocess_on=samples[5].id))
    failed = [o.sample.id for o in outcomes if o.error]
    assert failed == [s.id for s in samples[4:8]]  # the batch of four that holds it
    assert "cannot be resized" in outcomes[5].error
    assert sum(o.response is not None for o in outcomes) == 26


def test_an_aborted_model_stops_the_prefetch_thread_and_keeps_the_answers_received(synthetic30, tmp_path):
    from harness.response_cache import ResponseCache
    _, samples = synthetic30
    cache = ResponseCache(tmp_path / "responses.sqlite")
    before = {t.name for t in threading.enumerate()}
    with pytest.raises(ModelAborted, match="server is gone"):
        run(samples, Recorder(abort_on_batch=3), response_cache=cache)
    assert "harness-prefetch" not in {t.name for t in threading.enumerate()} - before
    model = Recorder()
    _, timings = run(samples, model, response_cache=cache)
    assert timings.responses_cached == 4 * 2 + 1  # two whole batches, and the one answer of the third
