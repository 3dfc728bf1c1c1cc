"""``harness diagnose``: plan the runs probes need, run them through the evaluator, compute figures.

Each probe declares run variants (frame protocol, prompt, choice order,
model arguments); variants with the same settings run once and are shared.
Runs go through :func:`harness.evaluator.evaluate` with per-sample logs, so
they use the same frame and response caches as ``harness run``: a second
``harness diagnose`` recomputes nothing a model answered before. The
diagnostics document (schema ``diagnostics``) holds every probe's figures,
its variants and the results file of each run, from which every figure can be
recomputed.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness import evaluator, results, samplelog
from harness.errors import UsageError
from harness.host import Host
from harness.model import close_models
from harness.params import TaskSpec, parse_value
from harness.plan import context_of, plan_run, with_audio
from harness.probe import Probe, ProbeContext, RunRows, Variant
from harness.probes.common import cached_plot

DIAGNOSTICS_SCHEMA_VERSION = 1


@dataclass
class DiagnoseConfig:
    run: evaluator.RunConfig  # the command's settings, shared by every variant
    probes: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    launcher: str = "local"  # ray: every variant's run is sharded over a Ray cluster
    shards: int = 4
    shard_resources: str | None = None
    max_retries: int = 3
    ray_address: str | None = None
    plugins: list[str] = field(default_factory=list)  # -p modules, for Ray workers


def parse_probes(text: str) -> list[tuple[str, dict[str, Any]]]:
    """``longtail,choices:n=8,calibration`` -> [(name, params)]; ``k=v`` items after ``name:``
    belong to that probe."""
    out: list[tuple[str, dict[str, Any]]] = []
    for item in (i.strip() for i in text.split(",") if i.strip()):
        if "=" in item and ":" not in item and out:
            key, _, value = item.partition("=")
            out[-1][1][key.strip()] = parse_value(value.strip())
            continue
        name, _, rest = item.partition(":")
        params: dict[str, Any] = {}
        if rest:
            key, _, value = rest.partition("=")
            params[key.strip()] = parse_value(value.strip())
        out.append((name.strip(), params))
    if not out:
        raise UsageError("--probes needs at least one probe ('harness list probes')")
    return out


def _variant_config(base: evaluator.RunConfig, variant: Variant, out_dir: Path) -> evaluator.RunConfig:
    frames = ",".join(x for x in (base.frames, variant.frames) if x) or None
    args = {**base.model_args, **dict(variant.model_args)}
    tasks = [TaskSpec(s.name, {**s.params, **dict(variant.task_params)}) for s in base.tasks]
    return replace(base, tasks=tasks, frames=frames, prompt=variant.prompt or base.prompt,
                   audio=variant.audio or base.audio,
                   choice_order=variant.choice_order, choice_seed=variant.choice_seed, model_args=args,
                   log_samples=True, output_path=out_dir)


def _slug(variant: Variant) -> str:
    import hashlib
    return hashlib.sha256(json.dumps(variant.key(), default=str).encode()).hexdigest()[:10]


def diagnose(host: Host, config: DiagnoseConfig) -> tuple[dict, Path]:
    """Run every probe on every task of ``config``; write and return the diagnostics document. The
    models built for its variants are closed when it ends, whichever way it ends."""
    models: dict[tuple, Any] = {}
    try:
        return _diagnose(host, config, models)
    finally:
        close_models(m for m in models.values() if not isinstance(m, UsageError))


def _diagnose(host: Host, config: DiagnoseConfig, models: dict[tuple, Any]) -> tuple[dict, Path]:
    base = config.run
    plans, model_entry = plan_run(host, base)
    probes: list[tuple[str, Probe]] = []
    for name, params in config.probes:
        entry = host.entry("probe", name)
        try:
            probes.append((name, entry.build(dict(params), host.context)))
        except (TypeError, ValueError) as exc:
            raise UsageError(f"probe {name}: {exc}") from None
    out_root = Path(base.output_path)
    stamp = _dt.datetime.now(_dt.timezone.utc)
    run_id = f"{results.slug(base.model)}_{stamp.strftime('%Y%m%dT%H%M%S')}_{os.getpid()}"
    document: dict[str, Any] = {
        "schema_version": DIAGNOSTICS_SCHEMA_VERSION, "run_id": run_id,
        "created_at": stamp.isoformat(timespec="seconds"), "harness": results.harness_info(),
        "command": base.command, "model": {"name": base.model, "args": dict(base.model_args)},
        "config": {"tasks": [str(t) for t in base.tasks], "probes": [[n, p] for n, p in config.probes],
                   "seed": base.seed, "limit": base.limit, "frames": base.frames, "prompt": base.prompt,
                   "audio": base.audio},
        "tasks": {},
    }

    def model_for(variant: Variant):
        key = variant.model_args
        if key not in models:
            try:
                models[key] = evaluator.build_model(host, model_entry, _variant_config(base, variant, out_root))
            except UsageError as exc:
                if not variant.optional:
                    raise
                models[key] = exc
        return models[key]

    if base.audio == "on" or any(probe.needs_audio for _, probe in probes):
        # refused now, not after the other variants ran: every task must carry sound, the model must take it
        plan_run(host, replace(base, audio="on"))
        heard = model_for(Variant("sound check"))
        if not isinstance(heard, UsageError):
            with_audio([], replace(base, audio="on"), heard)  # refuses a model that takes no sound
    for plan in plans:
        spec: TaskSpec = plan.spec
        task_config = replace(base, tasks=[spec])
        splits = plan.task.splits()
        contexts = {}
        for split in splits:
            key = str(spec) if len(splits) == 1 else f"{spec}/{split}"
            prior = plan.task.training_prior(split)
            samples = plan.task.samples(split)
            contexts[key] = ProbeContext(
                task_name=plan.task.name, split=split, classes=tuple(plan.task.classes), seed=base.seed,
                training_prior=dict(prior.counts) if prior else None,
                prior_source=prior.source if prior else None, model=base.model,
                extra={"apex": bool(samples) and "apex_start" in (samples[0].meta or {}),
                       "time_base": plan.task.has_time_base})
        # every variant of every probe, deduplicated by its settings
        wanted: dict[str, list[tuple[str, Variant]]] = {}
        for pname, probe in probes:
            for variant in probe.variants(next(iter(contexts.values()))):
                wanted.setdefault(_slug(variant), []).append((pname, variant))
        outcomes: dict[str, dict[str, RunRows]] = {}  # slug -> split key -> rows
        for slug, users in wanted.items():
            variant = users[0][1]
            model = model_for(variant) if config.launcher == "local" else None
            if isinstance(model, UsageError):
                outcomes[slug] = {k: RunRows(variant, {}, [], "", skipped=str(model)) for k in contexts}
                continue
            out_dir = out_root / "runs" / slug
            try:
                if config.launcher == "ray":
                    from harness.launch.ray import launch
                    run = launch(_variant_config(task_config, variant, out_dir), config.plugins, config.shards,
                                 config.shard_resources, config.max_retries, config.ray_address, progress=False,
                                 include_paths=host.context.include_paths)
                else:
                    run = evaluator.evaluate(host, _variant_config(task_config, variant, out_dir), model=model)
            except UsageError as exc:
                if not variant.optional:
                    raise
                outcomes[slug] = {k: RunRows(variant, {}, [], "", skipped=str(exc)) for k in contexts}
                continue
            outcomes[slug] = {}
            ran_as = str(_variant_config(task_config, variant, out_dir).tasks[0])  # with the variant's task params
            for k, task_result in run.document["tasks"].items():
                rows = samplelog.read_samples(run.sample_paths[k])
                own = str(spec) + k[len(ran_as):]  # the command's key for the same split
                outcomes[slug][own] = RunRows(variant, task_result, rows, os.path.relpath(run.results_path, out_root))
        for k, context in contexts.items():
            main = next((o[k] for o in outcomes.values() if k in o and not o[k].skipped), None)
            if main is not None:
                scored = any(r.get("scores") for r in main.rows)
                context.mode = "score" if scored else "generate"
            entry: dict[str, Any] = {"training_prior": {"source": context.prior_source,
                                                        "counts": context.training_prior},
                                     "probes": {}}
            for pname, probe in probes:
                runs = {variant.name: outcomes[_slug(variant)][k]
                        for variant in probe.variants(context) if k in outcomes[_slug(variant)]}
                figures = probe.compute(runs, context)
                stem = out_root / f"{results.slug(pname)}_{results.slug(k)}_{run_id}"
                plots = cached_plot(lambda target: probe.plot(figures, context, target),
                                    [pname, type(probe).__module__, probe.params, figures, context.model,
                                     context.task_name, list(context.classes)], str(stem),
                                    context_of(host, base).cache_dir)
                entry["probes"][pname] = {
                    "params": probe.params, "description": probe.description,
                    "variants": {name: _describe_run(r) for name, r in runs.items()},
                    "figures": figures, "plots": [os.path.relpath(p, out_root) for p in plots],
                    "summary": [[a, b] for a, b in probe.summary(figures)],
                }
            document["tasks"][k] = entry
    path = out_root / f"diagnostics_{run_id}.json"
    results.write_json(path, document, "diagnostics")
    return document, path


def _describe_run(run: RunRows) -> dict[str, Any]:
    v = run.variant
    out = {"frames": v.frames, "prompt": v.prompt, "choice_order": v.choice_order, "choice_seed": v.choice_seed,
           "model_args": dict(v.model_args),
           # the sound as run (the variant's, else the command's --audio), read from the run itself
           "audio": ("on" if run.task["frame_protocol"].get("audio_rate") else "off") if run.task else v.audio,
           "results_file": run.results_file or None, "skipped": run.skipped}
    if run.task:
        out["frame_protocol"] = run.task["frame_protocol"]["name"]
        out["n"] = run.task["counts"]["evaluated"]
        out["uar"] = run.task["metrics"]["uar"]
        out["war"] = run.task["metrics"]["war"]
        out["from_response_cache"] = run.task["timings"].get("from_response_cache", 0)
    return out
