"""One evaluation run: tasks x one model -> a results document on disk.

Every name, parameter and frame protocol is checked before any work starts
(:mod:`harness.plan`). Each request is resolved by the core before a model
sees it (:mod:`harness.request_rules`), each sample becomes one typed row
(:mod:`harness.samplelog`), and the results document is rewritten
(atomically, schema-validated) after each evaluated split, so a crash in the
third task keeps the first two.
"""

from __future__ import annotations

import datetime as _dt
import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import harness
from harness import metrics, parsing, request_rules, results, samplelog, scheduler
from harness.errors import DataError, HarnessError, ModelAborted, UsageError
from harness.host import Entry, Host
from harness.model import Model, Workload, close_models
from harness.model_calls import CachedCalls
from harness.parsing import AnswerParser
from harness.plan import Plan, RunConfig, context_of, in_shard, plan_run, shown_choices, with_audio
from harness.response_cache import ResponseCache
from harness.samplelog import SampleRow
from harness.strategy import StrategyContext
from harness.types import Frames, Request, Response, Sample


@dataclass
class RunOutput:
    document: dict
    results_path: Path
    sample_paths: dict[str, Path]
    failed_samples: int


def build_model(host: Host, model_entry: Entry, config: RunConfig) -> Model:
    """The run's model, its declared arguments checked first (``--batch-size`` is the scheduler's,
    not an argument of the model)."""
    return model_entry.build(dict(config.model_args), context_of(host, config))


def _plugin_text(entry: Entry) -> str:
    return f"{entry.plugin.dist or entry.plugin.module}=={entry.plugin.version}"


def evaluate(host: Host, config: RunConfig, model: Model | None = None) -> RunOutput:
    """Run ``config``; ``model`` reuses an already built model (``harness diagnose`` runs several
    variants with one set of weights), which its builder closes. The models built here (the run's,
    a strategy's helpers) are closed here when the run ends, whichever way it ends."""
    built: list[Model] = []
    try:
        return _evaluate(host, config, model, built)
    finally:
        close_models(built)


def _evaluate(host: Host, config: RunConfig, model: Model | None, built: list[Model]) -> RunOutput:
    t0 = config.started if config.started is not None else time.perf_counter()
    plans, model_entry = plan_run(host, config)
    if model is None:
        model = build_model(host, model_entry, config)
        built.append(model)
    request_rules.check_model(model)
    with_audio(plans, config, model)
    helpers: dict[str, tuple[Model, str]] = {}  # role -> (model, plugin) for strategies that ask other models
    for plan in plans:
        for role, (name, args) in (plan.strategy.models() if plan.strategy else {}).items():
            if name == "self":
                helpers[role] = (model, _plugin_text(model_entry))
            else:
                entry = host.entry("model", name)
                helpers[role] = (entry.build(dict(args), context_of(host, config)), _plugin_text(entry))
                built.append(helpers[role][0])
    batch_size = config.batch_size or model.batch_size

    stamp = _dt.datetime.now(_dt.timezone.utc)
    run_id = f"{results.slug(config.model)}_{stamp.strftime('%Y%m%dT%H%M%S')}_{os.getpid()}"
    out_dir = Path(config.output_path)
    cache_root = context_of(host, config).cache_dir
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
            "audio": config.audio,
            "prompt": config.prompt, "choice_order": config.choice_order,
            "choice_seed": config.choice_seed, "strategy": config.strategy,
            "reasoning_tags": config.reasoning_tags, "answer_format": config.answer_format,
            "overlap_reports": list(config.overlap_reports), "training_data": list(config.training_data),
            "frame_cache": config.frame_cache,
            "response_cache": config.response_cache, "prefetch": config.prefetch,
            "shard": f"{config.shard[0]}/{config.shard[1]}" if config.shard else None,
            **({"resolved": config.resolved} if config.resolved is not None else {}),
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
    taken = 1
    while results_path.exists():  # a grid runs the same model twice within a second in one process
        taken += 1
        results_path = out_dir / f"results_{run_id}-{taken}.json"
    if taken > 1:
        run_id = document["run_id"] = f"{run_id}-{taken}"
    sample_paths: dict[str, Path] = {}
    responses = ResponseCache(Path(cache_root) / "responses.sqlite") \
        if config.response_cache and model.cacheable else None
    # What changes answers besides the model's identity: part of every response-cache key.
    provenance = {"harness": harness.__version__, "plugin": _plugin_text(model_entry), **model.provenance()}
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
                    path = out_dir / f"samples_{run_id}_{results.slug(key)}.jsonl"
                    samplelog.write_samples(path, rows)
                    task_result["samples_file"] = path.name
                    sample_paths[key] = path
                document["tasks"][key] = task_result
                document["timings"] = run_timings()
                keys.append(key)
                document["model"]["identity"] = model.identity()  # may be settled by prepare()
                document["model"]["runtime"] = model.runtime()  # e.g. threads, chosen when the weights load
                results.write_json(results_path, document, "results")
            if len(keys) > 1:
                document["aggregates"][str(plan.spec)] = samplelog.aggregate([document["tasks"][k] for k in keys], keys)
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


def evaluate_split(plan: Plan, split: str, model: Model, config: RunConfig, batch_size: int,
                   frame_cache: str | None, desc: str,
                   response_cache: ResponseCache | None = None,
                   provenance: dict | None = None,
                   helpers: dict[str, tuple[Model, str]] | None = None,
                   clock: dict | None = None) -> tuple[dict, list[SampleRow]]:
    """Evaluate one split of one task: its task result and its per-sample rows."""
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
    outside = [s for s in samples if s.label not in classes]
    if outside:
        raise DataError(f"task {task.name!r} produced labels outside its class list: "
                        f"{sorted({s.label for s in outside})} (first: sample {outside[0].id!r}); "
                        f"its classes are {', '.join(classes)}")
    template = task.prompt_templates[plan.template_name]
    tags = config.reasoning_tags if config.reasoning_tags is not None else model.reasoning_tags
    try:
        parser = AnswerParser(classes, task.aliases, reasoning_tags=parsing.reasoning_tags(tags))
    except ValueError as exc:
        raise UsageError(f"--reasoning-tags {tags}: {exc}") from None
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

    helper_calls: dict[str, CachedCalls] = {}
    helper_asked = 0

    def ask(role: str, requests: list[Request]) -> list[Response]:
        """A strategy's own model calls (captions), resolved and cached like any answer."""
        nonlocal helper_asked
        helper_asked += len(requests)
        if role not in helper_calls:
            helper, plugin = (helpers or {})[role]
            identity = {**helper.identity(), "provenance": {"harness": harness.__version__, "plugin": plugin,
                                                            **helper.provenance()}} if response_cache else None
            helper_calls[role] = CachedCalls(helper, response_cache, identity, {"role": role})
        calls = helper_calls[role]
        # the run's own model asks in the run's batches; another captioner in its own
        step = max(1, batch_size if calls.model is model else calls.model.batch_size)
        out: list[Response] = []
        for start in range(0, len(requests), step):
            part = [request_rules.resolve(r, calls.model, task.default_mode) for r in requests[start:start + step]]
            try:
                out += calls.answer(part)
            except HarnessError:
                raise
            except Exception as exc:  # the helper failed: those requests fail, and so their samples
                out += [Response(error=f"{type(exc).__name__}: {exc}") for _ in part]
        return out

    strategy_context = StrategyContext(template=template, mode=task.default_mode, seed=config.seed, ask=ask)
    choice_seed = config.seed if config.choice_seed is None else config.choice_seed

    def build_request(sample: Sample, frames: Frames) -> Request:
        choices = shown_choices(classes, config.choice_order, choice_seed, sample.id)
        if plan.strategy is None:
            request = Request(sample_id=sample.id, frames=frames, messages=template.render(choices),
                              choices=choices, mode=task.default_mode, seed=config.seed,
                              answer_keys=template.answer_keys(choices))
        else:
            request = plan.strategy.build(sample, frames, choices, strategy_context)
        return request_rules.resolve(request, model, task.default_mode, config.answer_format)

    if clock is not None and clock["first_loop"] is None:
        clock["first_loop"] = time.perf_counter()
    identity = {**model.identity(), "provenance": provenance or {}} if response_cache else None
    calls = CachedCalls(model, response_cache, identity, protocol.to_dict())
    outcomes, timings = scheduler.run(samples, protocol, calls, build_request, scheduler.Options(
        batch_size=batch_size, workers=workers, strict=config.strict, progress=config.progress, desc=desc,
        frame_cache=frame_cache, prefetch=prefetch))
    letters = template.kind == "letters"
    rows = [_row(o, position[o.sample.id], parser, letters, task.group(o.sample), plan.strategy is not None,
                 audio=bool(protocol.audio_rate)) for o in outcomes]
    deaf = [r["id"] for r in rows if protocol.audio_rate and r["status"] != "failed" and not r.get("audio")]
    if deaf:  # never a silent deaf answer: decoding fails a clip without its sound, so this is a harness bug
        raise RuntimeError(f"samples {deaf[:5]} were answered without their sound under --audio on")

    loop_s = max(0.0, timings.wall_s - timings.model_load_s)  # the model's load is start-up, not loop
    if clock is not None:
        clock["load"] += timings.model_load_s
        clock["loop"] += loop_s
        clock["clips"] += len(samples)
    prompt = template.to_dict(classes)
    prompt["choice_order"] = config.choice_order
    prompt["reasoning_tags"] = [list(pair) for pair in parser.reasoning_tags]
    prompt["answer_format"] = config.answer_format
    if config.choice_order == "shuffled":
        prompt["choice_seed"] = choice_seed
    helper_cached = sum(c.from_cache for c in helper_calls.values())
    overlap_notes = _overlap_notes(config, task.name, split, [s.id for s in samples])
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
        # the mode(s) the answers were given in, as resolved per request (a model's mode= may be unset)
        "answer_modes": sorted({o.request.mode for o in outcomes if o.request is not None}),
        **samplelog.summarize(rows, classes, config.seed, config.bootstrap, task.name, task.version,
                              len(all_samples), protocol.nominal_fps),
        "timings": {"wall_s": round(timings.wall_s, 4), "decode_s": round(timings.decode_s, 4),
                    "model_s": round(timings.model_s, 4), "model_load_s": round(timings.model_load_s, 4),
                    "loop_s": round(loop_s, 4), "decode_workers": workers, "prefetch": prefetch,
                    "clips_per_s": round(len(samples) / loop_s, 3) if loop_s > 0 else 0.0,
                    "decoded": timings.decoded, "from_frame_cache": timings.cached,
                    "helper_answers": helper_asked,
                    "helper_answers_from_cache": helper_cached,
                    "from_response_cache": timings.responses_cached,
                    "corrupt_cache_entries": timings.responses_corrupt},
        "samples_file": None,
        **({"overlap_notes": overlap_notes} if overlap_notes else {}),
        **({"audio": samplelog.audio_summary(rows, protocol.audio_rate)} if protocol.audio_rate else {}),
    }
    return task_result, rows


def _overlap_notes(config: RunConfig, task: str, split: str, sample_ids: list[str]) -> list[dict]:
    """What the declared training data shares with the evaluated clips, per ``harness data overlap``
    report given (issue 25): empty without reports or declared training data."""
    if not (config.overlap_reports and config.training_data):
        return []
    from harness import overlap
    notes = (overlap.overlap_note(overlap.load_report(path), config.training_data, task, split=split,
                                  sample_ids=sample_ids) for path in config.overlap_reports)
    return [n for n in notes if n is not None]


def _row(o: scheduler.Outcome, index: int, parser: AnswerParser, letters: bool, group: str | None,
         strategy: bool, audio: bool = False) -> SampleRow:
    """One sample's row of the per-sample log, from what the scheduler recorded and the parsed answer."""
    request, response = o.request, o.response
    shown = request.choices if request is not None else None
    as_letters = shown if letters else None
    reasoning = None
    if o.error is not None:
        pred, status, rule, raw = None, metrics.FAILED, None, None
    else:
        raw = response.text
        parsed = parser.parse(raw, letters=as_letters)
        pred, status, rule, reasoning = parsed.prediction, parsed.status, parsed.rule, parsed.reasoning
    alternatives = None
    if response and response.variants:
        alternatives = {}
        for name, text in response.variants.items():
            alt = parser.parse(text, letters=as_letters)
            alternatives[name] = {"raw": text, "prediction": alt.prediction, "status": alt.status}
    return SampleRow(
        id=o.sample.id, index=index, label=o.sample.label, prediction=pred, status=status, rule=rule, raw=raw,
        error=o.error, reasoning=reasoning, scores=response.scores if response else None, variants=alternatives,
        answer_meta=samplelog.plain(response.meta) or None if response else None,
        choices=list(shown) if shown else None, frame_indices=o.indices, timestamps=o.timestamps,
        told=request.told.record() if request is not None and request.told is not None else None,
        header_fps=o.header_fps, strategy_notes=request.notes if strategy and request is not None else None,
        prompt_hash=o.prompt_hash, group=group, meta=samplelog.plain(o.sample.meta or {}),
        **({"audio": o.audio} if audio else {}))
