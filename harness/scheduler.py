"""The scheduler: samples stream through decoding into model batches.

Decoding runs in worker processes of one thread each (``workers`` > 0) with
a bounded number of clips in flight, so memory stays flat however long the
task; results come back in sample order. A sample whose clip cannot be
decoded, or whose batch the model fails on, becomes a failed outcome with
its reason and the run goes on, unless ``strict`` is set.
"""

from __future__ import annotations

import atexit
import multiprocessing
import queue
import threading
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from tqdm import tqdm

from harness.response_cache import ResponseCache, request_key
from harness.errors import HarnessError, MediaError, ModelAborted, StrategyError
from harness.model import Model
from harness.prompts import prompt_hash
from harness.types import FrameProtocol, Frames, Request, Response, Sample
from harness.frames.load import load_frames
from harness.frames.cache import FrameCache


@dataclass
class Outcome:
    """What happened to one sample."""

    sample: Sample
    indices: list[int] | None = None
    timestamps: list[float] | None = None
    prompt_hash: str | None = None
    response: Response | None = None
    error: str | None = None


@dataclass
class Timings:
    wall_s: float = 0.0
    decode_s: float = 0.0  # summed over workers
    model_s: float = 0.0  # in the model's predict, its load excluded
    model_load_s: float = 0.0  # loading the model (imports, weights) during this run: start-up, not loop
    decoded: int = 0  # clips decoded from their media
    cached: int = 0  # clips whose frames came from the frame cache
    responses_cached: int = 0  # answers taken from the response cache
    responses_corrupt: int = 0  # cache entries that did not parse (recomputed)


class SampleFailed(HarnessError):
    """Raised in strict mode when a sample cannot be evaluated."""


Decoded = tuple[Sample, "Frames | None", "str | None", float, bool]


def _decode(sample: Sample, protocol: FrameProtocol,
            cache_root: str | None) -> tuple[Frames | None, str | None, float, bool]:
    """Frames of one sample, or the reason it failed; seconds spent; whether the cache had them."""
    start = time.perf_counter()
    cache = FrameCache(cache_root) if cache_root else None
    key = cache.key(sample, protocol) if cache else None
    if key:
        frames = cache.get(key)
        if frames is not None:
            return frames, None, time.perf_counter() - start, True
    try:
        frames = load_frames(sample, protocol)
    except MediaError as exc:
        return None, str(exc), time.perf_counter() - start, False
    except Exception as exc:  # an unexpected decoder failure must not lose the run
        return None, f"{sample.media}: {type(exc).__name__}: {exc}", time.perf_counter() - start, False
    if key:
        try:
            cache.put(key, frames)
        except OSError:
            pass  # a full or read-only cache slows the next run down, nothing more
    return frames, None, time.perf_counter() - start, False


def _decode_chunk(samples: list[Sample], protocol: FrameProtocol,
                  cache_root: str | None) -> list[tuple[Frames | None, str | None, float, bool]]:
    return [_decode(s, protocol, cache_root) for s in samples]


_POOLS: dict[int, ProcessPoolExecutor] = {}


def _pool(workers: int) -> ProcessPoolExecutor:
    """One pool per size for the whole process: later tasks and folds skip the start-up."""
    if workers not in _POOLS:
        ctx = multiprocessing.get_context("spawn")  # safe with threaded libraries in the parent
        _POOLS[workers] = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
    return _POOLS[workers]


def _kill(pool: ProcessPoolExecutor) -> None:
    """Stop a pool now: a worker blocked on handing back a result would otherwise keep the
    interpreter from exiting."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)


def _reset_pool(workers: int) -> None:
    broken = _POOLS.pop(workers, None)
    if broken is not None:
        _kill(broken)


@atexit.register
def _close_pools() -> None:
    for pool in _POOLS.values():
        _kill(pool)
    _POOLS.clear()


def decoded(samples: list[Sample], protocol: FrameProtocol, workers: int,
            cache_root: str | None = None, chunk: int = 4,
            decode_chunk: Callable = _decode_chunk) -> Iterator[Decoded]:
    """Decode samples in order, with ``workers`` processes (0: in this process).

    Workers take ``chunk`` clips per job and at most ``2 * workers`` jobs are
    in flight, so memory stays bounded and the model never waits while
    decoding keeps up. A worker that dies (a crash inside the decoder) costs
    only the clip that killed it: the pool is restarted, the clips of the
    failed job are retried alone, one by one, and only a clip that crashes
    by itself fails.
    """
    if workers > 0 and cache_root:
        cache = FrameCache(cache_root)
        if all(cache.has(s, protocol) for s in samples):
            workers = 0  # reading cached frames here beats starting processes to read them
    if workers <= 0:
        for s in samples:
            yield (s, *_decode(s, protocol, cache_root))
        return
    chunks = (samples[i:i + chunk] for i in range(0, len(samples), chunk))
    pending: deque[tuple[list[Sample], Future]] = deque()

    def submit(part: list[Sample]) -> None:
        pending.append((part, _pool(workers).submit(decode_chunk, part, protocol, cache_root)))

    for part in chunks:
        submit(part)
        if len(pending) >= 2 * workers:
            break
    while pending:
        part, fut = pending.popleft()
        nxt = next(chunks, None)
        if nxt is not None:  # keep the workers busy while this job is collected
            submit(nxt)
        try:
            results = fut.result()
        except BrokenProcessPool:
            # Some job killed its worker, and every job in flight failed with it. Retry this
            # job's clips alone, one at a time, so that only a clip that crashes by itself fails.
            rest = [p for p, _ in pending]
            pending.clear()
            _reset_pool(workers)
            for sample in part:
                try:
                    result = _pool(workers).submit(decode_chunk, [sample], protocol, cache_root).result()[0]
                except BrokenProcessPool:
                    _reset_pool(workers)
                    result = (None, f"{sample.media}: the decoding process crashed on this clip", 0.0, False)
                yield (sample, *result)
            for p in rest:
                submit(p)
            continue
        for s, result in zip(part, results):
            yield (s, *result)


@dataclass
class Batch:
    """A batch on its way to the model: the answers the cache had, and the inputs ``preprocess``
    built for the rest (or why it could not)."""

    items: list[tuple[Outcome, Request]]
    keys: list[str]
    known: dict[str, Response]
    todo: list[int]
    inputs: Any = None
    error: Exception | None = None


def _lookup(model: Model, requests: list[Request], cache: ResponseCache | None, identity: dict | None,
            protocol: dict, timings: Timings) -> tuple[list[str], dict[str, Response], list[int]]:
    """Cache keys, the answers the cache has, and the indices still to ask the model."""
    keys = [request_key(identity, protocol, r, model.sampling) for r in requests] if cache else []
    known: dict[str, Response] = {}
    if cache:
        before = len(cache.corrupt)
        known = cache.get_many(keys)
        timings.responses_corrupt += len(cache.corrupt) - before
        timings.responses_cached += len(known)
    return keys, known, [i for i in range(len(requests)) if not cache or keys[i] not in known]


def _ask(model: Model, requests: list[Request], keys: list[str], known: dict[str, Response], todo: list[int],
         cache: ResponseCache | None, identity: dict | None, inputs: Any = None) -> list[Response]:
    """The model's answers to ``todo``, stored in the cache at once, merged with the known ones."""
    def store(answers: list[Response | None]) -> None:
        got = [(keys[i], r) for i, r in zip(todo, answers) if r is not None and r.error is None] if cache else []
        if got:
            cache.put_many(str(identity.get("id")), got)

    fresh: list[Response] = []
    if todo:
        asked = [requests[i] for i in todo]
        try:
            fresh = model.predict(asked) if inputs is None else model.predict_preprocessed(asked, inputs)
        except ModelAborted as exc:  # keep what did come back: the rerun resumes from it
            store(exc.answered)
            raise
        if len(fresh) != len(todo):
            raise RuntimeError(f"model returned {len(fresh)} responses for {len(todo)} requests")
        store(fresh)
    answers = dict(zip(todo, fresh))
    return [answers[i] if i in answers else known[keys[i]] for i in range(len(requests))]


def _answer(model: Model, requests: list[Request], cache: ResponseCache | None, identity: dict | None,
            protocol: dict, timings: Timings) -> list[Response]:
    """The model's responses, from the cache where it has them; new ones are stored at once."""
    keys, known, todo = _lookup(model, requests, cache, identity, protocol, timings)
    return _ask(model, requests, keys, known, todo, cache, identity)


class _Stopped(Exception):
    """The consumer stopped (an error, or the run was interrupted): the producer ends quietly."""


_DONE = object()


def run(samples: list[Sample], protocol: FrameProtocol, model: Model,
        build_request: Callable[[Sample, Frames], Request], *, batch_size: int,
        workers: int = 0, strict: bool = False, progress: bool = True,
        desc: str = "", frame_cache: str | None = None,
        response_cache: ResponseCache | None = None,
        provenance: dict | None = None, prefetch: bool = True) -> tuple[list[Outcome], Timings]:
    """Evaluate ``samples`` with ``model``; one outcome per sample, in order.

    With ``prefetch`` a second thread decodes clips, builds their requests,
    looks their answers up in the response cache and runs the model's
    ``preprocess`` (resize, patching, chat template) for the next batch while
    this thread runs the model on the current one, so the model never waits
    for the CPU work around it; answers and their order are the same either
    way. Without it (a strategy whose requests ask the model itself) the same
    steps run one after the other.

    With a ``response_cache``, answers already known are taken from it and
    every new batch of answers is stored before the next batch starts. The
    cache key holds the model's identity and ``provenance`` (the harness and
    plugin versions, the libraries that compute the answers).
    """
    identity = {**model.identity(), "provenance": provenance or {}} if response_cache else None
    protocol_dict = protocol.to_dict()
    timings = Timings()
    loaded = model.load_s
    start = time.perf_counter()
    outcomes: list[Outcome] = []
    bar = tqdm(total=len(samples), unit="clip", desc=desc, disable=not progress, leave=False)

    def produce(emit: Callable[[Batch], None]) -> None:
        """Decode, build requests, look up answers, preprocess: everything before the model runs."""
        items: list[tuple[Outcome, Request]] = []  # frames live only until their batch ran

        def ship() -> None:
            if not items:
                return
            requests = [r for _, r in items]
            keys, known, todo = _lookup(model, requests, response_cache, identity, protocol_dict, timings)
            batch = Batch(list(items), keys, known, todo)
            if todo:
                try:
                    batch.inputs = model.preprocess([requests[i] for i in todo])
                except HarnessError:
                    raise
                except Exception as exc:  # this batch fails like a failed model call; the run goes on
                    batch.error = exc
            items.clear()
            emit(batch)

        for sample, frames, error, seconds, cached in decoded(samples, protocol, workers, frame_cache):
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
            outcome.indices, outcome.timestamps = frames.indices, frames.timestamps
            try:
                request = build_request(sample, frames)
            except (MediaError, StrategyError) as exc:  # frames without a clock, a captioner that failed
                if strict:
                    raise SampleFailed(f"sample {sample.id}: {exc}") from exc
                outcome.error = f"{sample.media}: {exc}"
                bar.update(1)
                continue
            outcome.prompt_hash = prompt_hash(request.messages)
            items.append((outcome, request))
            if len(items) >= batch_size:
                ship()
        ship()

    def consume(batch: Batch) -> None:
        """Run the model on one batch and record its answers (this thread only)."""
        t0 = time.perf_counter()
        requests = [r for _, r in batch.items]
        try:
            if batch.error is not None:
                raise batch.error
            responses = _ask(model, requests, batch.keys, batch.known, batch.todo, response_cache, identity,
                             batch.inputs)
        except HarnessError:
            raise  # the model cannot run at all (missing checkpoint, bad argument): stop, say why
        except Exception as exc:
            if strict:
                raise SampleFailed(f"model failed on samples {[o.sample.id for o, _ in batch.items]}: "
                                   f"{exc}") from exc
            for o, _ in batch.items:
                o.error = f"model error: {type(exc).__name__}: {exc}"
        else:
            for (o, _), r in zip(batch.items, responses):
                if r.error is not None:
                    if strict:
                        raise SampleFailed(f"sample {o.sample.id}: {r.error}")
                    o.error = r.error
                else:
                    o.response = r
        timings.model_s += time.perf_counter() - t0
        bar.update(len(batch.items))

    try:
        if prefetch:
            _pipelined(produce, consume)
        else:
            produce(consume)
    finally:
        bar.close()
    timings.wall_s = time.perf_counter() - start
    timings.model_load_s = model.load_s - loaded
    timings.model_s = max(0.0, timings.model_s - timings.model_load_s)
    return outcomes, timings


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
