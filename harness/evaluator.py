"""One evaluation run: tasks x one model -> a results document on disk.

Every name, parameter and frame protocol is checked before any work starts.
The results document is rewritten (atomically, schema-validated) after each
evaluated split, so a crash in the third task keeps the first two.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import re
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

import harness
from harness import metrics, results, scheduler
from harness.frames import time_told
from harness.response_cache import ResponseCache
from harness.errors import DataError, HarnessError, ModelAborted, UsageError
from harness.host import Entry, Host
from harness.model import Model, Workload
from harness.params import TaskSpec, parse_tasks
from harness.parsing import AnswerParser
from harness.frames.sampling import parse_frames, stable_seed
from harness.task import Task, TaskContext, default_cache_dir, fingerprint
from harness.strategy import Strategy, StrategyContext
from harness.types import FrameProtocol, Frames, Request, Response, Sample

CHOICE_ORDERS = ("fixed", "shuffled")


@dataclass
class RunConfig:
    tasks: list[TaskSpec]
    model: str
    model_args: dict[str, Any] = field(default_factory=dict)
    limit: int | None = None
    seed: int = 0
    batch_size: int | None = None
    output_path: Path = Path("results")
    log_samples: bool = False
    decode_workers: int | None = None  # None: in-process for small tasks, else one per core
    strict: bool = False
    progress: bool = True
    command: list[str] = field(default_factory=list)
    cache_dir: Path | None = None
    data_dir: Path | None = None
    bootstrap: int = 1000
    frames: str | None = None  # a --frames preset applied to each task's default protocol
    prompt: str | None = None  # template name; None: the task's default
    choice_order: str = "fixed"
    choice_seed: int | None = None  # the seed of shuffled choice orders (default: seed)
    strategy: str | None = None  # a request strategy with parameters, e.g. "msce:k=4" (default: frames + prompt)
    frame_cache: bool = True
    response_cache: bool = True
    shard: tuple[int, int] | None = None  # (i, N): evaluate shard i of N
    prefetch: bool = True  # prepare the next batch in a thread while the model runs
    started: float | None = None  # perf_counter() when the command started (default: when evaluate() is called)


@dataclass
class Plan:
    """A task resolved for this run: its protocol and template are settled."""

    spec: TaskSpec
    entry: Entry
    task: Task
    protocol: FrameProtocol
    template_name: str
    strategy: Strategy | None = None


@dataclass
class RunOutput:
    document: dict
    results_path: Path
    sample_paths: dict[str, Path]
    failed_samples: int


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "model"


def resolve(host: Host, config: RunConfig) -> tuple[list[Plan], Entry]:
    """Look up every name and build every task before any work starts."""
    if config.choice_order not in CHOICE_ORDERS:
        raise UsageError(f"--choice-order must be one of {', '.join(CHOICE_ORDERS)}")
    model_entry = host.model(config.model)
    context = TaskContext(cache_dir=config.cache_dir or default_cache_dir(), data_dir=config.data_dir)
    plans = []
    for spec in config.tasks:
        entry = host.task(spec.name)
        task = entry.factory(dict(spec.params), context)
        task.prepare()
        protocol = parse_frames(config.frames, task.frame_protocol) if config.frames else task.frame_protocol
        if not task.has_time_base and protocol.nominal_fps is None:
            # Media without a time base get one stated, recorded clock (in the protocol's name),
            # the same for every backend: never a library's invented default.
            protocol = replace(protocol, nominal_fps=task.nominal_fps)
        if protocol.needs_time_base and not task.has_time_base:
            raise UsageError(f"task {spec}: its media has no time base (no real frame rate), so "
                             f"--frames {protocol.name} cannot be used; choose uniform or segment sampling")
        template = config.prompt or task.default_template
        if template not in task.prompt_templates:
            raise UsageError(f"task {spec} has no prompt template {template!r}; it has "
                             f"{', '.join(task.prompt_templates)}")
        strategy = build_strategy(host, config.strategy)
        if strategy is not None:
            protocol = strategy.protocol(protocol)
        plans.append(Plan(spec, entry, task, protocol, template, strategy))
    return plans, model_entry


def build_strategy(host: Host, text: str | None) -> Strategy | None:
    """The ``--strategy name:k=v,...`` request strategy (None: the default, frames plus prompt)."""
    if not text or text == "default":
        return None
    spec = parse_tasks(text)[0]
    entry = host.strategy(spec.name)
    try:
        return entry.factory(dict(spec.params))
    except (TypeError, ValueError) as exc:
        raise UsageError(f"--strategy {text}: {exc}") from None


def build_model(model_entry: Entry, config: RunConfig) -> Model:
    args = dict(config.model_args)
    if config.batch_size is not None:
        args["batch_size"] = config.batch_size
    return model_entry.factory(args)


def evaluate(host: Host, config: RunConfig, model: Model | None = None) -> RunOutput:
    """Run ``config``; ``model`` reuses an already built model (``harness diagnose`` runs several
    variants with one set of weights)."""
    t0 = config.started if config.started is not None else time.perf_counter()
    plans, model_entry = resolve(host, config)
    if model is None:
        model = build_model(model_entry, config)
    helpers: dict[str, tuple[Model, str]] = {}  # role -> (model, plugin) for strategies that ask other models
    for plan in plans:
        for role, (name, args) in (plan.strategy.models() if plan.strategy else {}).items():
            if name == "self":
                helpers[role] = (model, f"{model_entry.plugin.dist or model_entry.plugin.module}=="
                                        f"{model_entry.plugin.version}")
            else:
                entry = host.model(name)
                helpers[role] = (entry.factory(dict(args)), f"{entry.plugin.dist or entry.plugin.module}=="
                                                            f"{entry.plugin.version}")
    batch_size = config.batch_size or model.batch_size

    stamp = _dt.datetime.now(_dt.timezone.utc)
    run_id = f"{_slug(config.model)}_{stamp.strftime('%Y%m%dT%H%M%S')}_{os.getpid()}"
    out_dir = Path(config.output_path)
    cache_root = config.cache_dir or default_cache_dir()
    document = {
        "schema_version": results.RESULTS_SCHEMA_VERSION,
        "run_id": run_id,
        "created_at": stamp.isoformat(timespec="seconds"),
        "harness": results.harness_info(),
        "command": config.command,
        "config": {
            "tasks": [str(t) for t in config.tasks], "model": config.model,
            "model_args": dict(config.model_args), "limit": config.limit, "seed": config.seed,
            "batch_size": batch_size, "decode_workers": config.decode_workers,
            "strict": config.strict, "bootstrap_rounds": config.bootstrap, "frames": config.frames,
            "prompt": config.prompt, "choice_order": config.choice_order,
            "choice_seed": config.choice_seed, "strategy": config.strategy,
            "frame_cache": config.frame_cache, "response_cache": config.response_cache, "prefetch": config.prefetch,
            "shard": f"{config.shard[0]}/{config.shard[1]}" if config.shard else None,
        },
        "environment": results.environment([p.to_dict() for p in host.plugins]),
        "model": {"name": config.model, "identity": model.identity(),
                  "plugin": model_entry.plugin.to_dict(), "runtime": model.runtime()},
        "tasks": {},
        "aggregates": {},
    }
    if config.shard:
        run_id += f"_shard{config.shard[0]}of{config.shard[1]}"
    results_path = out_dir / f"results_{run_id}.json"
    sample_paths: dict[str, Path] = {}
    responses = ResponseCache(Path(cache_root) / "responses.sqlite") \
        if config.response_cache and model.cacheable else None
    # What changes answers besides the model's identity: part of every response-cache key.
    plugin = model_entry.plugin
    provenance = {"harness": harness.__version__, "plugin": f"{plugin.dist or plugin.module}=={plugin.version}",
                  **model.provenance()}
    document["model"]["provenance"] = provenance
    failed_total = 0
    clock = {"first_loop": None, "load": 0.0, "loop": 0.0, "clips": 0}

    def run_timings() -> dict:
        """Start-up (imports, plugins, tasks, the model's load: everything before the first clip
        could be answered), the loop over clips, and the whole command, kept apart so that a
        loop rate never includes loading torch."""
        total = time.perf_counter() - t0
        startup = (clock["first_loop"] - t0 if clock["first_loop"] is not None else total) + clock["load"]
        return {"startup_s": round(startup, 4), "model_load_s": round(clock["load"], 4),
                "loop_s": round(clock["loop"], 4), "clips": clock["clips"],
                "loop_clips_per_s": round(clock["clips"] / clock["loop"], 3) if clock["loop"] > 0 else None,
                "total_s": round(total, 4)}

    try:
        for plan in plans:
            splits = plan.task.splits()
            keys = []
            for split in splits:
                key = str(plan.spec) if len(splits) == 1 else f"{plan.spec}/{split}"
                task_result, rows = evaluate_split(plan, split, model, config, batch_size,
                                                   str(Path(cache_root) / "frames") if config.frame_cache else None,
                                                   desc=key, response_cache=responses,
                                                   provenance=provenance, helpers=helpers, clock=clock)
                failed_total += task_result["counts"]["failed"]
                if config.log_samples:
                    path = out_dir / f"samples_{run_id}_{_slug(key)}.jsonl"
                    results.write_jsonl(path, rows)
                    task_result["samples_file"] = path.name
                    sample_paths[key] = path
                document["tasks"][key] = task_result
                document["timings"] = run_timings()
                keys.append(key)
                document["model"]["identity"] = model.identity()  # may be settled by prepare()
                document["model"]["runtime"] = model.runtime()  # e.g. threads, chosen when the weights load
                results.write_json(results_path, document, "results")
            if len(keys) > 1:
                document["aggregates"][str(plan.spec)] = aggregate([document["tasks"][k] for k in keys], keys)
                results.write_json(results_path, document, "results")
    except ModelAborted as exc:
        # Nothing of this run may pass for a finished evaluation: a results file of the tasks
        # finished before is marked aborted (the leaderboard and merge refuse it).
        document["aborted"] = {"reason": str(exc),
                               "at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
        kept = results_path.exists()
        if kept:
            results.write_json(results_path, document, "results")
        resume = ("Every answer received is in the response cache: rerun the same command to resume"
                  if responses is not None else "The response cache is off, so a rerun starts over")
        raise ModelAborted(f"{exc}\nThe run stopped. {resume}"
                           + (f" ({results_path} keeps the tasks finished before, marked aborted)" if kept else "")
                           ) from None
    return RunOutput(document, results_path, sample_paths, failed_total)


def _mean_visual_tokens(rows: list[dict]) -> float | None:
    counts = [r["answer_meta"]["visual_tokens"] for r in rows
              if r.get("answer_meta") and isinstance(r["answer_meta"].get("visual_tokens"), int)]
    return round(sum(counts) / len(counts), 2) if counts else None


def aggregate(parts: list[dict], keys: list[str]) -> dict:
    """Mean and standard deviation (over splits, ddof=1) of UAR, WAR and macro-F1: the DFER convention."""
    n = sum(p["counts"]["evaluated"] for p in parts)
    out: dict[str, Any] = {"splits": keys, "n": n, "failed": sum(p["counts"]["failed"] for p in parts),
                           "invalid_rate": sum(p["counts"]["invalid"] for p in parts) / n if n else 0.0,
                           "fingerprint": hashlib.sha256(" ".join(p["fingerprint"] for p in parts)
                                                         .encode()).hexdigest()[:16]}
    for name in ("uar", "war", "macro_f1"):
        values = np.array([p["metrics"][name] for p in parts])
        out[f"{name}_mean"] = float(values.mean())
        out[f"{name}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    first = parts[0]
    out.update(name=first["name"], version=first["version"], frame_protocol=first["frame_protocol"],
               prompt=first["prompt"])
    return out


def _shown_choices(classes: tuple[str, ...], order: str, seed: int, sample_id: str) -> tuple[str, ...]:
    if order == "fixed":
        return classes
    rng = np.random.default_rng(stable_seed(seed, "choices", sample_id))
    return tuple(classes[i] for i in rng.permutation(len(classes)))


def in_shard(task: str, sample_id: str, shard: tuple[int, int] | None) -> bool:
    """Stable assignment of a sample to one of N shards, from the task name and sample id."""
    return shard is None or stable_seed("shard", task, sample_id) % shard[1] == shard[0]


def evaluate_split(plan: Plan, split: str, model: Model, config: RunConfig, batch_size: int,
                   frame_cache: str | None, desc: str,
                   response_cache: ResponseCache | None = None,
                   provenance: dict | None = None,
                   helpers: dict[str, tuple[Model, str]] | None = None,
                   clock: dict | None = None) -> tuple[dict, list[dict]]:
    task, protocol = plan.task, plan.protocol
    all_samples = task.samples(split)
    if not all_samples:
        raise DataError(f"task {task.name!r}: split {split!r} has no samples; an empty split cannot be "
                        f"evaluated (check the task's annotation file)")
    limited = all_samples[: config.limit] if config.limit else all_samples
    # --limit first, then the shard: the shards of a limited run merge into that limited run.
    position = {s.id: i for i, s in enumerate(limited)}
    samples = [s for s in limited if in_shard(task.name, s.id, config.shard)]
    classes = tuple(task.classes)
    unknown = {s.label for s in samples} - set(classes)
    if unknown:
        raise UsageError(f"task {task.name!r} produced labels outside its class list: {sorted(unknown)}")
    template = task.prompt_templates[plan.template_name]
    parser = AnswerParser(classes, task.aliases)
    counts = Counter(s.label for s in limited)  # the whole split's prior, whichever shard runs
    prior = task.training_prior(split)
    workers = config.decode_workers
    if workers is None:  # starting processes costs more than decoding a few hundred small clips
        workers = 0 if len(samples) < 256 else min(os.cpu_count() or 1, 8)
    # A strategy's requests may ask a model (captions): those are not built beside the model's calls.
    prefetch = config.prefetch and not (plan.strategy and plan.strategy.models())
    model.prepare(Workload(task=task.name, choices=classes, num_requests=len(samples),
                           class_counts={c: counts.get(c, 0) for c in classes}, seed=config.seed,
                           train_prior=dict(prior.counts) if prior else None,
                           prior_source=prior.source if prior else None, decode_workers=workers,
                           prefetch=prefetch))
    shown: dict[str, tuple[str, ...]] = {}
    told: dict[str, dict] = {}
    header_fps: dict[str, float] = {}
    family = model.timing_family()

    helper_timings = scheduler.Timings()  # the response-cache counts of a strategy's own model calls
    helper_asked = 0

    def ask(role: str, requests: list[Request]) -> list:
        """A strategy's own model calls (captions), through the response cache like any answer."""
        nonlocal helper_asked
        helper, plugin = (helpers or {})[role]
        helper_asked += len(requests)
        identity = {**helper.identity(), "provenance": {"harness": harness.__version__, "plugin": plugin,
                                                        **helper.provenance()}} if response_cache else None
        out = []
        for start in range(0, len(requests), max(1, helper.batch_size)):
            part = requests[start:start + max(1, helper.batch_size)]
            try:
                out += scheduler._answer(helper, part, response_cache, identity, {"role": role}, helper_timings)
            except HarnessError:
                raise
            except Exception as exc:  # the helper failed: those requests fail, and so their samples
                out += [Response(error=f"{type(exc).__name__}: {exc}") for _ in part]
        return out

    strategy_context = StrategyContext(template=template, mode=task.default_mode, seed=config.seed, ask=ask)
    notes: dict[str, dict] = {}

    def build_request(sample: Sample, frames: Frames) -> Request:
        choice_seed = config.seed if config.choice_seed is None else config.choice_seed
        choices = _shown_choices(classes, config.choice_order, choice_seed, sample.id)
        shown[sample.id] = choices
        if frames.header_fps is not None:
            header_fps[sample.id] = frames.header_fps
        if plan.strategy is None:
            request = Request(sample_id=sample.id, frames=frames, messages=template.render(choices),
                              choices=choices, mode=task.default_mode, seed=config.seed,
                              answer_keys=template.answer_keys(choices))
        else:
            request = plan.strategy.build(sample, frames, choices, strategy_context)
            notes[sample.id] = request.notes
        if family is not None and any(p.get("type") == "video" for m in request.messages for p in m["content"]):
            told[sample.id] = time_told.tell(request.frames, family).record()  # what it is told about time
        return request

    if clock is not None and clock["first_loop"] is None:
        clock["first_loop"] = time.perf_counter()
    outcomes, timings = scheduler.run(samples, protocol, model, build_request,
                                      batch_size=batch_size, workers=workers, strict=config.strict,
                                      progress=config.progress, desc=desc, frame_cache=frame_cache,
                                      response_cache=response_cache,
                                      provenance=provenance, prefetch=prefetch)
    rows = []
    for o in outcomes:
        choices = shown.get(o.sample.id)
        letters = choices if template.kind == "letters" else None
        if o.error is not None:
            pred, status, rule, raw = None, metrics.FAILED, None, None
        else:
            raw = o.response.text
            parsed = parser.parse(raw, letters=letters)
            pred, status, rule = parsed.prediction, parsed.status, parsed.rule
        alternatives = None
        if o.response and o.response.variants:
            alternatives = {}
            for name, text in o.response.variants.items():
                alt = parser.parse(text, letters=letters)
                alternatives[name] = {"raw": text, "prediction": alt.prediction, "status": alt.status}
        rows.append({"id": o.sample.id, "index": position[o.sample.id], "label": o.sample.label,
                     "prediction": pred, "status": status,
                     "rule": rule, "raw": raw, "error": o.error,
                     "scores": o.response.scores if o.response else None, "variants": alternatives,
                     "answer_meta": (o.response.meta or None) if o.response else None,
                     "choices": list(choices) if choices else None,
                     "frame_indices": o.indices, "timestamps": o.timestamps,
                     "told": told.get(o.sample.id), "header_fps": header_fps.get(o.sample.id),
                     "strategy_notes": notes.get(o.sample.id),
                     "prompt_hash": o.prompt_hash, "group": task.group(o.sample), "meta": o.sample.meta})

    loop_s = max(0.0, timings.wall_s - timings.model_load_s)  # the model's load is start-up, not loop
    if clock is not None:
        clock["load"] += timings.model_load_s
        clock["loop"] += loop_s
        clock["clips"] += len(samples)
    prompt = template.to_dict(classes)
    prompt["choice_order"] = config.choice_order
    if config.choice_order == "shuffled":
        prompt["choice_seed"] = config.seed if config.choice_seed is None else config.choice_seed
    task_result = {
        "name": task.name,
        "spec": str(plan.spec),
        "version": task.version,
        "params": task.params(),
        "split": split,
        "plugin": plan.entry.plugin.to_dict(),
        "classes": list(classes),
        "frame_protocol": protocol.to_dict(),
        "prompt": prompt,
        "training_prior": prior.to_dict() if prior else None,
        "strategy": plan.strategy.identity() if plan.strategy else {"name": "default", "params": {}},
        "timing": time_told.summarize(rows, protocol.nominal_fps),
        "visual_tokens_per_clip": _mean_visual_tokens(rows),
        **summarize(rows, classes, config.seed, config.bootstrap, task.name, task.version, len(all_samples)),
        "timings": {"wall_s": round(timings.wall_s, 4), "decode_s": round(timings.decode_s, 4),
                    "model_s": round(timings.model_s, 4), "model_load_s": round(timings.model_load_s, 4),
                    "loop_s": round(loop_s, 4), "decode_workers": workers, "prefetch": prefetch,
                    "clips_per_s": round(len(samples) / loop_s, 3) if loop_s > 0 else 0.0,
                    "decoded": timings.decoded, "from_frame_cache": timings.cached,
                    "helper_answers": helper_asked,
                    "helper_answers_from_cache": helper_timings.responses_cached,
                    "from_response_cache": timings.responses_cached,
                    "corrupt_cache_entries": timings.responses_corrupt},
        "samples_file": None,
    }
    return task_result, rows


def summarize(rows: list[dict], classes: tuple[str, ...], seed: int, bootstrap: int, name: str,
              version: str, total: int) -> dict:
    """Everything in a task result that follows from its per-sample rows alone.

    The evaluator and ``harness merge`` both call this, so merged shards give
    exactly the metrics of an unsharded run.
    """
    labels = [r["label"] for r in rows]
    summary = metrics.compute(labels, [r["prediction"] for r in rows], [r["status"] for r in rows], classes,
                              seed, bootstrap)
    by_group = {}
    for g in sorted({r["group"] for r in rows if r["group"] is not None}):
        part = [r for r in rows if r["group"] == g]
        m = metrics.compute([r["label"] for r in part], [r["prediction"] for r in part],
                            [r["status"] for r in part], classes, seed, bootstrap)
        by_group[g] = {k: m[k] for k in ("n", "war", "uar", "war_ci95", "uar_ci95", "invalid_rate",
                                        "missing_classes")}
    by_variant = {}
    for variant in sorted({v for r in rows for v in (r.get("variants") or {})}):
        answers = [(r.get("variants") or {}).get(variant) for r in rows]
        m = metrics.compute(labels, [a["prediction"] if a else None for a in answers],
                            [a["status"] if a else metrics.FAILED for a in answers], classes, seed, bootstrap)
        by_variant[variant] = {**{k: m[k] for k in ("war", "uar", "macro_f1", "war_ci95", "uar_ci95",
                                                    "invalid_rate")},
                               "recall": {c["class"]: c["recall"] for c in m["per_class"]},
                               "prediction_distribution": m["prediction_distribution"]}
    return {
        "fingerprint": fingerprint(name, version, [(r["id"], r["label"]) for r in rows]),
        "counts": {"total": total, "evaluated": len(rows), "failed": summary["failed"],
                   "invalid": summary["invalid"]},
        "metrics": {k: summary[k] for k in ("war", "uar", "macro_f1", "war_ci95", "uar_ci95",
                                            "macro_f1_ci95", "classes_evaluated",
                                            "invalid_rate", "failed_rate", "missing_classes")},
        "per_class": summary["per_class"],
        "confusion": summary["confusion"],
        "prediction_distribution": summary["prediction_distribution"],
        "groups": by_group,
        "variants": by_variant,
        "failures": [{"id": r["id"], "error": r["error"]} for r in rows if r["error"]],
    }
