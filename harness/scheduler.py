"""The scheduler: samples stream through decoding into model batches.

Clips are decoded (``harness.decodepool``), their requests built and resolved
by the caller's ``build_request``, and batches go to the model through the
response cache (``harness.model_calls``). With ``prefetch`` the work before
the model runs for the next batch in a thread while the model answers the
current one. A sample whose clip cannot be decoded, or whose batch the model
fails on, becomes a failed outcome with its reason and the run goes on,
unless ``strict`` is set.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, replace
from typing import Any, Callable

from tqdm import tqdm

from harness.decodepool import decoded
from harness.errors import HarnessError, MediaError, SampleFailed, StrategyError
from harness.model_calls import CachedCalls, Pending
from harness.prompts import prompt_hash
from harness.types import FrameProtocol, Frames, Request, Response, Sample


@dataclass
class Outcome:
    """What happened to one sample: its frames' positions and times, and its answer or error."""

    sample: Sample
    request: Request | None = None  # as resolved and sent (None when it was never built)
    indices: list[int] | None = None
    timestamps: list[float] | None = None
    header_fps: float | None = None  # the container's claimed rate, when it disagrees with the measured one
    audio: dict | None = None  # the sound sent with the frames (Audio.to_log()), under --audio on
    prompt_hash: str | None = None
    response: Response | None = None
    error: str | None = None


@dataclass
class Timings:
    """How long things took (wall clock), and where answers and frames came from."""

    wall_s: float = 0.0
    decode_s: float = 0.0  # summed over workers
    model_s: float = 0.0  # in the model's predict, its load excluded
    model_load_s: float = 0.0  # loading the model (imports, weights) during this run: start-up, not loop
    decoded: int = 0  # clips decoded from their media
    cached: int = 0  # clips whose frames came from the frame cache
    responses_cached: int = 0  # answers taken from the response cache
    responses_corrupt: int = 0  # cache entries that did not parse (recomputed)


@dataclass(frozen=True)
class Options:
    """How the scheduler runs: batch size, decode processes (0: in this thread), strict failure,
    the progress bar, the frame cache's folder (None: off), and the prefetch thread."""

    batch_size: int = 1
    workers: int = 0
    strict: bool = False
    progress: bool = True
    desc: str = ""
    frame_cache: str | None = None
    prefetch: bool = True


@dataclass
class Batch:
    """A batch on its way to the model: what the cache had, and the inputs ``preprocess``
    built for the rest (or why it could not)."""

    items: list[Outcome]
    requests: list[Request]
    pending: Pending
    inputs: Any = None
    error: Exception | None = None


class _Stopped(Exception):
    """The consumer stopped (an error, or the run was interrupted): the producer ends quietly."""


_DONE = object()


def run(samples: list[Sample], protocol: FrameProtocol, calls: CachedCalls,
        build_request: Callable[[Sample, Frames], Request], options: Options) -> tuple[list[Outcome], Timings]:
    """Evaluate ``samples`` with ``calls.model``; one outcome per sample, in order.

    With ``options.prefetch`` a second thread decodes clips, builds their
    requests, looks their answers up in the response cache and runs the
    model's ``preprocess`` (resize, patching, chat template) for the next batch
    while this thread runs the model on the current one, so the model never
    waits for the CPU work around it; answers and their order are the same
    either way. Without it (a strategy whose requests ask the model itself)
    the same steps run one after the other.
    """
    model, strict = calls.model, options.strict
    timings = Timings()
    loaded = model.load_s
    start = time.perf_counter()
    outcomes: list[Outcome] = []
    bar = tqdm(total=len(samples), unit="clip", desc=options.desc, disable=not options.progress, leave=False)

    def produce(emit: Callable[[Batch], None]) -> None:
        """Decode, build requests, look up answers, preprocess: everything before the model runs."""
        items: list[Outcome] = []  # frames live only until their batch ran

        def ship() -> None:
            if not items:
                return
            requests = [o.request for o in items]
            pending = calls.lookup(requests)
            batch = Batch(list(items), requests, pending)
            if pending.todo:
                try:
                    batch.inputs = model.preprocess([requests[i] for i in pending.todo])
                except HarnessError:
                    raise
                except Exception as exc:  # this batch fails like a failed model call; the run goes on
                    batch.error = exc
            items.clear()
            emit(batch)

        for sample, frames, error, seconds, cached in decoded(samples, protocol, options.workers,
                                                              options.frame_cache):
            timings.decode_s += seconds
            if cached:
                timings.cached += 1
            elif error is None:
                timings.decoded += 1
            outcome = Outcome(sample)
            outcomes.append(outcome)
            if error is not None:
                if strict:
                    raise SampleFailed(f"sample {sample.id}: {error} (run without --strict to "
                                       f"record it as a failed sample and continue)")
                outcome.error = error
                bar.update(1)
                continue
            outcome.indices, outcome.timestamps, outcome.header_fps = frames.indices, frames.timestamps, \
                frames.header_fps
            outcome.audio = frames.audio.to_log() if frames.audio is not None else None
            try:
                request = build_request(sample, frames)
            except (MediaError, StrategyError) as exc:  # frames without a clock, a captioner that failed
                if strict:
                    raise SampleFailed(f"sample {sample.id}: {exc}") from exc
                outcome.error = f"{sample.media}: {exc}"
                bar.update(1)
                continue
            outcome.request = request
            outcome.prompt_hash = prompt_hash(request.messages)
            items.append(outcome)
            if len(items) >= options.batch_size:
                ship()
        ship()

    def consume(batch: Batch) -> None:
        """Run the model on one batch and record its answers (this thread only)."""
        t0, loaded_before = time.perf_counter(), model.load_s
        try:
            if batch.error is not None:
                raise batch.error
            responses = calls.ask(batch.requests, batch.pending, batch.inputs)
        except HarnessError:
            raise  # the model cannot run at all (missing checkpoint, bad argument): stop, say why
        except Exception as exc:
            if strict:
                raise SampleFailed(f"model failed on samples {[o.sample.id for o in batch.items]}: "
                                   f"{exc}") from exc
            for o in batch.items:
                o.error = f"model error: {type(exc).__name__}: {exc}"
        else:
            for o, r in zip(batch.items, responses):
                if r.error is not None:
                    if strict:
                        raise SampleFailed(f"sample {o.sample.id}: {r.error}")
                    o.error = r.error
                else:
                    o.response = r
        for o in batch.items:  # the frames are no longer needed; what was sent is
            o.request = _without_pixels(o.request)
        # The model's own time: a load that happened inside this call is start-up, not model time (a
        # load in the prefetch thread's preprocess never was inside it, so nothing is taken off for it).
        timings.model_s += max(0.0, time.perf_counter() - t0 - (model.load_s - loaded_before))
        bar.update(len(batch.items))

    cached_before, corrupt_before = calls.from_cache, calls.corrupt
    try:
        if options.prefetch:
            _pipelined(produce, consume)
        else:
            produce(consume)
    finally:
        bar.close()
    timings.wall_s = time.perf_counter() - start
    timings.model_load_s = model.load_s - loaded
    timings.responses_cached = calls.from_cache - cached_before
    timings.responses_corrupt = calls.corrupt - corrupt_before
    return outcomes, timings


def _without_pixels(request: Request) -> Request:
    """The request as sent, its frames' pixels dropped (a long run keeps only what it logs)."""
    return replace(request, frames=None)


def _pipelined(produce: Callable, consume: Callable[[Batch], None]) -> None:
    """``produce`` in a thread at most one batch ahead of ``consume`` in this one; an error on
    either side stops both and is raised here."""
    ready: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item) -> None:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        raise _Stopped

    def producer() -> None:
        try:
            produce(put)
            put(_DONE)
        except _Stopped:
            pass
        except BaseException as exc:  # handed to the consumer, which raises it
            try:
                put(exc)
            except _Stopped:
                pass

    thread = threading.Thread(target=producer, name="harness-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = ready.get()
            if item is _DONE:
                break
            if isinstance(item, BaseException):
                raise item
            consume(item)
    finally:
        stop.set()
        thread.join()
