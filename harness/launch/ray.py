"""``--launcher ray``: run a command's shards as Ray tasks and merge them exactly at the driver.

The driver plans N shards (the same stable hash of task and sample id as
``--shard i/N``), submits one Ray task per shard with the requested
resources (GPUs, CPUs, memory, custom resources), shows one progress bar, and
merges the returned shards with ``harness merge``'s code, so the result
equals a single-process run. Each shard returns its results document and
per-sample rows to the driver: no shared filesystem is needed (a shared
``HARNESS_CACHE`` lets a retried shard resume from the response cache).

Faults: a shard whose worker process dies or whose node goes away is retried
by Ray (``max_retries``, attempts recorded per shard); a shard that fails by
itself (an error in the harness or the model: bad arguments, a missing
checkpoint) is not retried and fails the run at once with its message.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from harness import evaluator, results
from harness.errors import HarnessError, UsageError


def parse_resources(text: str | None) -> dict[str, Any]:
    """``gpus=1,cpus=2,memory=8e9,accel=1`` -> Ray task options."""
    options: dict[str, Any] = {"num_cpus": 1}
    custom: dict[str, float] = {}
    for item in (i.strip() for i in (text or "").split(",") if i.strip()):
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--shard-resources: {item!r} is not k=v (e.g. gpus=1,cpus=2)")
        try:
            number = float(value)
        except ValueError:
            raise UsageError(f"--shard-resources: {key} must be a number, got {value!r}") from None
        if key in ("gpus", "num_gpus"):
            options["num_gpus"] = number
        elif key in ("cpus", "num_cpus"):
            options["num_cpus"] = number
        elif key == "memory":
            options["memory"] = int(number)
        else:
            custom[key] = number
    if custom:
        options["resources"] = custom
    return options


def _config_dict(config: evaluator.RunConfig) -> dict[str, Any]:
    data = asdict(config)
    data["tasks"] = [str(t) for t in config.tasks]
    for key in ("output_path", "cache_dir", "data_dir"):
        data[key] = str(data[key]) if data[key] is not None else None
    return data


def run_shard(config_data: dict[str, Any], index: int, total: int, plugins: list[str],
              attempts: Any = None, include_paths: tuple[str, ...] = ()) -> dict[str, Any]:
    """One shard, on a worker: evaluate it and return its document and per-sample rows. The worker's
    plugins see the driver's YAML include paths; its cache is the run's ``--cache-dir`` if one was
    given, else the worker's own default (no shared filesystem is needed)."""
    from harness import host
    from harness.context import Context
    from harness.params import parse_tasks

    if attempts is not None:
        import ray
        ray.get(attempts.start.remote(index))
    started = time.perf_counter()
    data = dict(config_data)
    data["tasks"] = parse_tasks(",".join(data["tasks"]))
    for key in ("output_path", "cache_dir", "data_dir"):
        data[key] = Path(data[key]) if data[key] else None
    config = evaluator.RunConfig(**data)
    with tempfile.TemporaryDirectory(prefix="harness-shard-") as out:
        if config.shard is None:
            config = replace(config, shard=(index, total))
        config = replace(config, output_path=Path(out), log_samples=True, progress=False,
                         decode_workers=config.decode_workers or 0)
        run = evaluator.evaluate(host.load(plugins, context=Context.from_options(
            config.cache_dir, config.data_dir, include_paths)), config)
        samples = {key: path.read_text(encoding="utf-8") for key, path in run.sample_paths.items()}
    return {"index": index, "document": run.document, "samples": samples, "node": _node(),
            "seconds": time.perf_counter() - started}


def _node() -> dict[str, str]:
    try:
        import ray
        node_id = ray.get_runtime_context().get_node_id()
    except Exception:
        node_id = None
    return {"node_id": node_id, "hostname": socket.gethostname(), "pid": str(os.getpid())}


class _Attempts:
    """How many times each shard started (a Ray actor: retries are counted across processes)."""

    def __init__(self):
        self.counts: dict[int, int] = {}

    def start(self, index: int) -> int:
        self.counts[index] = self.counts.get(index, 0) + 1
        return self.counts[index]

    def all(self) -> dict[int, int]:
        return dict(self.counts)


def launch(config: evaluator.RunConfig, plugins: list[str], shards: int, resources: str | None = None,
           max_retries: int = 3, address: str | None = None, progress: bool = True,
           include_paths: tuple = ()) -> evaluator.RunOutput:
    """Run ``config`` as ``shards`` Ray tasks and merge them into ``config.output_path``."""
    try:
        import ray
    except ImportError:
        raise UsageError('--launcher ray needs Ray: pip install "dfer-harness[ray]"') from None
    from tqdm import tqdm

    from harness.merge import merge

    if shards < 1:
        raise UsageError("--shards must be at least 1")
    if config.shard is not None:
        raise UsageError("--launcher ray plans the shards itself: drop --shard")
    options = parse_resources(resources)
    started_here = False
    if not ray.is_initialized():
        ray.init(address=address or os.environ.get("RAY_ADDRESS"), logging_level="ERROR",
                 log_to_driver=False, include_dashboard=False)
        started_here = True
    try:
        attempts = ray.remote(num_cpus=0)(_Attempts).remote()
        task = ray.remote(run_shard).options(max_retries=max_retries, retry_exceptions=False, **options)
        data = _config_dict(replace(config, progress=False, started=None))  # each shard times its own start-up
        paths = tuple(str(p) for p in include_paths)
        pending = {task.remote(data, i, shards, plugins, attempts, paths): i for i in range(shards)}
        done: dict[int, dict] = {}
        bar = tqdm(total=shards, unit="shard", desc="ray", disable=not progress)
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                ref = ready[0]
                index = pending.pop(ref)
                try:
                    done[index] = ray.get(ref)
                except ray.exceptions.RayTaskError as exc:
                    for other in pending:
                        ray.cancel(other, force=True)
                    cause = exc.cause if getattr(exc, "cause", None) is not None else exc
                    kind = UsageError if isinstance(cause, UsageError) else HarnessError
                    raise kind(f"shard {index}/{shards} failed (not retried: the error is the shard's own): "
                               f"{cause}") from None
                except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                        ray.exceptions.RayError) as exc:
                    for other in pending:
                        ray.cancel(other, force=True)
                    raise HarnessError(f"shard {index}/{shards} failed after {max_retries + 1} attempts: {exc}") \
                        from None
                counts = ray.get(attempts.all.remote())
                bar.set_postfix(running=len(pending), retried=sum(1 for c in counts.values() if c > 1))
                bar.update(1)
        finally:
            bar.close()
        counts = ray.get(attempts.all.remote())
    finally:
        if started_here:
            ray.shutdown()
    with tempfile.TemporaryDirectory(prefix="harness-ray-") as work:
        folders = []
        for index, shard in sorted(done.items()):
            folder = Path(work) / f"shard{index}"
            folder.mkdir()
            document = shard["document"]
            for key, text in shard["samples"].items():
                (folder / document["tasks"][key]["samples_file"]).write_text(text, encoding="utf-8")
            results.write_json(folder / "results_shard.json", document, "results")
            folders.append(folder)
        out = merge(folders, Path(config.output_path), command=config.command)
    out.document["config"]["launcher"] = {
        "kind": "ray", "shards": shards, "resources": options, "max_retries": max_retries,
        "placement": [{"shard": i, **done[i]["node"], "seconds": round(done[i]["seconds"], 3),
                       "attempts": counts.get(i, 1)} for i in sorted(done)]}
    results.write_json(out.results_path, out.document, "results")
    if not config.log_samples:
        for path in out.sample_paths.values():
            path.unlink(missing_ok=True)
        for task in out.document["tasks"].values():
            task["samples_file"] = None
        results.write_json(out.results_path, out.document, "results")
        out = evaluator.RunOutput(out.document, out.results_path, {}, out.failed_samples)
    return out


__all__ = ["launch", "parse_resources", "run_shard"]
