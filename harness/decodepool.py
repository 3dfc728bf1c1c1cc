"""Decoding clips beside the model: worker processes of one thread each, results in sample order.

Workers take a few clips per job and at most ``2 * workers`` jobs are in
flight, so memory stays flat however long the task. A clip that cannot be
decoded comes back as its reason; a worker that crashes costs only the clip
that killed it.
"""

from __future__ import annotations

import atexit
import multiprocessing
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Iterator

from harness.errors import MediaError
from harness.frames.cache import FrameCache
from harness.frames.load import load_frames
from harness.types import FrameProtocol, Frames, Sample

Decoded = tuple[Sample, "Frames | None", "str | None", float, bool]


def decode_one(sample: Sample, protocol: FrameProtocol,
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


def decode_chunk(samples: list[Sample], protocol: FrameProtocol,
                  cache_root: str | None) -> list[tuple[Frames | None, str | None, float, bool]]:
    return [decode_one(s, protocol, cache_root) for s in samples]


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
            decode_chunk: Callable = decode_chunk) -> Iterator[Decoded]:
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
            yield (s, *decode_one(s, protocol, cache_root))
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
