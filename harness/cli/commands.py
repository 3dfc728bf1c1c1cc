"""One function per ``harness`` subcommand: each takes the parsed options, does the work through
the library and prints with :mod:`harness.cli.display`. Exit codes: 0 success, 1 evaluation
errors (failed samples, invalid files), 2 usage errors."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from tabulate import tabulate

from harness.cli import display, options
from harness.context import Context
from harness.errors import DataError, HarnessError, UsageError
from harness.params import parse_kv

EXIT_OK, EXIT_EVAL, EXIT_USAGE = 0, 1, 2


def cmd_run(args, argv: list[str], started: float | None = None) -> int:
    options.check(args)  # every option, before any work
    from harness import evaluator, runfile, tracking
    from harness.cli.parser import run_parser
    from harness.redact import redact_all

    if args.dry_run:
        print(display.planned_runs([runfile.PlannedRun("", argv[1:])]))
        return EXIT_OK
    host = options.host_of(args)
    config = options.run_config(args, argv, started)
    config.resolved = redact_all(runfile.resolved(args, run_parser()))
    trackers = tracking.Trackers.build(host, tracking.specs(args))  # a typo or a missing library: now
    trackers.start({**config.resolved, "command": redact_all(config.command)})
    try:
        if args.launcher == "ray":
            from harness.launch.ray import launch
            out = launch(config, args.plugins, args.shards, args.shard_resources, args.max_retries, args.ray_address,
                         progress=config.progress, include_paths=host.context.include_paths)
        else:
            out = evaluator.evaluate(host, config)
    except BaseException:
        trackers.abandon()
        raise
    trackers.log(tracking.FinishedRun(out.document, out.results_path, dict(out.sample_paths)))
    print(display.summary_table(out.document))
    for spec in config.tasks:
        keys = [k for k, t in out.document["tasks"].items() if t["spec"] == str(spec)]
        print(f"\n{spec}: per-class recall %" + (" (support)" if len(keys) == 1 else ""))
        print(display.per_class_table(out.document, keys))
        for key in keys:
            task = out.document["tasks"][key]
            if task["groups"]:
                print(f"\n{key}: by group")
                print(tabulate([[g, m["n"], display.pct(m["uar"]), display.pct(m["war"])] for g, m in task["groups"].items()],
                               headers=["group", "n", "UAR", "WAR"], disable_numparse=True))
            for failure in task["failures"][:10]:
                print(f"failed: {key}: {failure['id']}: {failure['error']}", file=sys.stderr)
    if out.document.get("timings"):
        print("\n" + display.timing_line(out.document["timings"]))
    print(f"\nresults: {out.results_path}")
    for path in out.sample_paths.values():
        print(f"samples: {path}")
    torn = sum((t.get("timings") or {}).get("corrupt_cache_entries") or 0 for t in out.document["tasks"].values())
    if torn:
        print(f"harness: warning: {torn} response-cache entries did not parse; they were recomputed, not trusted "
              f"(corrupt_cache_entries in the results)", file=sys.stderr)
    for name, where in trackers.where.items():
        print(f"{name}: {where}")
    if out.failed_samples:
        print(f"harness: {out.failed_samples} sample(s) failed and were counted as wrong "
              f"(see 'failures' in the results)", file=sys.stderr)
        return EXIT_EVAL
    return EXIT_OK


def cmd_run_file(argv: list[str], started: float | None = None) -> int:
    """``harness run --config FILE [options]``: every run the file holds (a grid expanded), each checked
    before the first starts, then run one after another; a failed run does not stop the rest."""
    import argparse

    from harness import runfile
    from harness.cli.parser import build_parser

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config", required=True)
    pre.add_argument("--dry-run", action="store_true")
    known, rest = pre.parse_known_args(argv[1:])
    parser = build_parser()
    planned = runfile.plan(known.config, parser.run_parser)
    runs = []
    for run in planned:
        words = ["run", *run.words, *rest]
        try:
            args = parser.parse_args(words)
        except SystemExit as exc:  # the parser printed what is wrong; say which run
            if not exc.code:  # --help
                raise
            raise UsageError(f"{known.config}{': ' + run.label if run.label else ''}: the options above are "
                             f"not valid") from None
        try:
            options.check(args)
            options.run_config(args, words, None)  # tasks, numbers, frames, folders: every run's, first
        except UsageError as exc:
            raise UsageError(f"{known.config}{': ' + run.label if run.label else ''}: {exc}") from None
        runs.append((run, args, words))
    print(display.planned_runs([runfile.PlannedRun(run.label, words[1:]) for run, _, words in runs]))
    if known.dry_run:
        return EXIT_OK
    outcomes = []
    for i, (run, args, words) in enumerate(runs, 1):
        if len(runs) > 1:
            print(f"\n=== run {i}/{len(runs)}{': ' + run.label if run.label else ''}", flush=True)
        try:
            # each run's start-up counts from its own start (the first one's from the harness's import)
            code = cmd_run(args, words, started if i == 1 else time.perf_counter())
            outcomes.append((run, code, ""))
        except KeyboardInterrupt:
            raise
        except HarnessError as exc:  # one failed run of a grid does not stop the others
            print(f"harness: error: {exc}", file=sys.stderr)
            outcomes.append((run, EXIT_USAGE if isinstance(exc, UsageError) else EXIT_EVAL, str(exc)))
        except Exception as exc:
            print(f"harness: error: {type(exc).__name__}: {exc}", file=sys.stderr)
            outcomes.append((run, EXIT_EVAL, f"{type(exc).__name__}: {exc}"))
    if len(runs) > 1:
        print("\n" + display.run_outcomes(outcomes))
    return max(code for _, code, _ in outcomes)


def cmd_log(args, argv: list[str], started: float | None = None) -> int:
    options.check(args)  # every option, before any work
    from harness import tracking

    host = options.host_of(args)
    done = tracking.log_files(host, args.files, tracking.specs(args))
    for name, where in done.where.items():
        print(f"{name}: {where}")
    return EXIT_EVAL if done.failed else EXIT_OK


def cmd_compare(args, argv: list[str], started: float | None = None) -> int:
    options.check(args)  # every option, before any work
    from harness import compare

    if len(args.files) < 2:
        raise UsageError("compare needs at least two results files")
    runs = [compare.load_run(f, args.task) for f in args.files]
    pairs = compare.compare_many(runs, args.rounds, args.seed)
    print(display.compare_tables(pairs, runs[0].key, args.rounds))
    if len(pairs) == 1:
        if args.csv:
            compare.write_disagreements(args.csv, pairs[0])
            print(f"disagreements: {args.csv}")
    elif args.csv:
        raise UsageError("--csv takes exactly two runs")
    if args.json:
        Path(args.json).write_text(json.dumps(pairs, indent=1) + "\n")
    return EXIT_OK


def cmd_report(args, argv: list[str], started: float | None = None) -> int:
    options.check(args)  # every option, before any work
    from harness import report
    from harness.plan import MAX_BOOTSTRAP, MAX_SEED

    for flag, value, low, high in (("--rounds", args.rounds, 1, MAX_BOOTSTRAP), ("--seed", args.seed, 0, MAX_SEED)):
        if not low <= value <= high:
            raise UsageError(f"{flag} {value}: must be a whole number from {low} to {high}")
    index = report.build(args.files, Path(args.output), rounds=args.rounds, seed=args.seed)
    print(f"report: {index}")
    return EXIT_OK


def cmd_diagnose(args, argv: list[str], started: float | None = None) -> int:
    options.check(args)  # every option, before any work
    from harness import diagnose

    host = options.host_of(args)
    run = options.run_config(args, argv, started)
    config = diagnose.DiagnoseConfig(run=run, probes=diagnose.parse_probes(args.probes), launcher=args.launcher,
                                     shards=args.shards, shard_resources=args.shard_resources,
                                     max_retries=args.max_retries, ray_address=args.ray_address,
                                     plugins=list(args.plugins))
    document, path = diagnose.diagnose(host, config)
    for key, task in document["tasks"].items():
        for name, probe in task["probes"].items():
            print(f"{key}: {name}")
            print(tabulate(probe["summary"], tablefmt="plain", disable_numparse=True))
            for plot in probe["plots"]:
                if plot.endswith(".png"):
                    print(f"  figure: {Path(args.output_path) / plot}")
            print()
    print(f"diagnostics: {path}")
    return EXIT_OK


def cmd_list(args, argv: list[str], started: float | None = None) -> int:
    options.check(args)  # every option, before any work
    host = options.host_of(args)
    if args.what == "plugins":
        rows = [[p.name, p.dist or "-", p.version or "-", "built-in" if p.builtin else "third-party",
                 p.module] for p in host.plugins]
        print(tabulate(rows, headers=["plugin", "distribution", "version", "kind", "module"]))
        return EXIT_OK
    table = {"tasks": host.tasks, "models": host.models, "probes": host.probes,
             "strategies": host.strategies, "trackers": host.trackers}[args.what]
    rows = [[e.name, e.description, e.plugin.name, e.plugin.version or "-"]
            for e in sorted(table.values(), key=lambda e: e.name)]
    print(tabulate(rows, headers=[{"strategies": "strategy"}.get(args.what, args.what[:-1]), "description",
                                  "plugin", "version"]))
    return EXIT_OK


def cmd_show(args, argv: list[str], started: float | None = None) -> int:
    options.check(args)  # every option, before any work
    from harness.params import parse_tasks

    host = options.host_of(args)
    spec = parse_tasks(args.name)[0]
    entry = host.entry("task", spec.name)
    task = entry.build(dict(spec.params), host.context)
    try:
        count = task.sample_count()
        samples_text = str(count) if count is not None else "data not present yet"
    except HarnessError as exc:  # say why, not just that the data is missing
        samples_text = f"cannot be read: {exc}"
    print(f"task:        {spec}")
    print(f"description: {task.description}")
    print(f"plugin:      {entry.plugin.name} ({entry.plugin.dist or '-'} {entry.plugin.version or ''})".rstrip())
    print(f"version:     {task.version}")
    print(f"parameters:  {', '.join(f'{k}={v}' for k, v in task.params().items()) or '-'}")
    print(f"classes:     {', '.join(task.classes)}")
    print(f"splits:      {', '.join(task.splits())}")
    print(f"samples:     {samples_text}")
    p = task.frame_protocol
    print(f"frames:      {p.name} (strategy={p.strategy}, num_frames={p.num_frames}, order={p.order}, "
          f"short_side={p.short_side or 'native'})")
    sound = "the clips carry a sound track (--audio on sends it)" if task.has_audio else "none (--audio on is refused)"
    print(f"sound:       {sound}")
    for name, template in task.prompt_templates.items():
        default = " (default)" if name == task.default_template else ""
        print(f"\nprompt template {name!r}{default}, the messages exactly as a model receives them "
              f"(fixed choice order):")
        print(display.render_messages(template.render(tuple(task.classes)), f"{p.num_frames or 'all'} frames, {p.name}"))
        keys = template.answer_keys(tuple(task.classes))
        print(f"  answers: {', '.join(f'{k} = {c}' for k, c in zip(keys, task.classes))}" if keys else
              "  answers: a class name, read by the answer parser")
    return EXIT_OK


def cmd_cache(args, argv: list[str], started: float | None = None) -> int:
    options.check(args)  # every option, before any work
    from harness.response_cache import ResponseCache

    root = Context.from_options(args.cache_dir).cache_dir
    path = root / "responses.sqlite"
    if args.action == "info" and (root / "frames").is_dir():
        files = [f for f in (root / "frames").rglob("*.npz")]
        size = sum(f.stat().st_size for f in files)
        print(f"{root / 'frames'}: {len(files)} cached clips, {size / 1e6:.1f} MB (frame cache)")
    if not path.exists():
        print(f"{path}: no response cache yet")
        return EXIT_OK
    cache = ResponseCache(path)
    if args.action == "info":
        rows = cache.info()
        print(f"{path}: {sum(n for _, n in rows)} responses, {path.stat().st_size / 1e6:.1f} MB")
        print(tabulate(rows, headers=["model", "responses"]))
    else:
        removed = cache.clear(args.model)
        print(f"{path}: removed {removed} responses" + (f" of {args.model}" if args.model else ""))
    cache.close()
    return EXIT_OK


def cmd_merge(args, argv: list[str], started: float | None = None) -> int:
    options.check(args)  # every option, before any work
    from harness.merge import merge

    out = merge([Path(p) for p in args.inputs], Path(args.output_path), command=["harness", *argv])
    print(display.summary_table(out.document))
    print(f"\nresults: {out.results_path}")
    for path in out.sample_paths.values():
        print(f"samples: {path}")
    return EXIT_OK


def cmd_check(args, argv: list[str], started: float | None = None) -> int:
    """``harness check model``: one line per check of the model's contract; exit 1 when one fails."""
    options.check(args)
    host = options.host_of(args)
    margs = parse_kv(args.model_args, "model argument")
    if args.name in host.models:  # a preset (or any registered model) with its own arguments
        model, where = host.build("model", args.name, margs), args.name
    else:  # a checkpoint folder or hub id, through the --model plugin
        model, where = host.build("model", args.model, {"pretrained": args.name, **margs}), f"{args.model}: {args.name}"
    checks = model.check()
    if not checks:
        print(f"harness: model {where} declares no checks to run", file=sys.stderr)
        return EXIT_USAGE
    print(f"checkpoint contract for {where}")
    for check in checks:
        print(check.line())
    failed = [c for c in checks if not c.ok]
    print(f"{len(checks) - len(failed)} passed, {len(failed)} failed")
    return EXIT_EVAL if failed else EXIT_OK


def cmd_data(args, argv: list[str], started: float | None = None) -> int:
    from harness.datacheck import check
    from harness.params import parse_tasks

    if args.action == "overlap":
        return _data_overlap(args)
    options.check(args)  # every option, before any work
    host = options.host_of(args)
    spec = parse_tasks(args.name)[0]
    task = host.build("task", spec.name, spec.params)
    report = check(task, decode=args.decode, seed=args.seed)
    print(f"{spec}: {getattr(task, 'root', '')}")
    print(tabulate(report.rows, headers=["split", "samples", "official", "missing media", "decoded"],
                   disable_numparse=True))
    if report.ok:
        official = any(row[2] != "-" for row in report.rows)
        print("\ncomplete: every split file parses" + (", matches the official counts" if official else "")
              + " and its media is present and decodes")
        return EXIT_OK
    print(f"\n{len(report.problems)} problem(s):")
    for problem in report.problems:
        print(f"- {problem}")
    return EXIT_EVAL


def _data_overlap(args) -> int:
    """``harness data overlap TASK_A TASK_B``: the clips both tasks hold, by content."""
    from harness import overlap
    from harness.params import parse_tasks

    options.check(args)  # text options, before any work
    overlap.check_options(frames=args.frames, workers=args.workers, show=args.show, structure=args.threshold,
                          colour=args.colour_threshold)
    host = options.host_of(args)
    spec_a, spec_b = parse_tasks(args.task_a)[0], parse_tasks(args.task_b)[0]
    task_a = host.build("task", spec_a.name, spec_a.params)
    task_b = task_a if str(spec_a) == str(spec_b) else host.build("task", spec_b.name, spec_b.params)
    report = overlap.compare(task_a, str(spec_a), task_b, str(spec_b), frames=args.frames,
                             structure=args.threshold if args.threshold is not None else overlap.STRUCTURE_THRESHOLD,
                             colour=args.colour_threshold if args.colour_threshold is not None
                             else overlap.COLOUR_THRESHOLD,
                             cache_dir=host.context.cache_dir, workers=args.workers)
    doc = report.to_dict()
    counts = doc["counts"]
    for side, spec, clips in (("A", spec_a, report.clips_a), ("B", spec_b, report.clips_b)):
        print(f"{side}: {spec}: {sum(clips.values())} clips in {', '.join(f'{k} ({v})' for k, v in clips.items())}")
    print(f"\n{counts['pairs']} shared clip pair(s): {counts['clips_a_shared']} clip(s) of A, {counts['clips_b_shared']} "
          f"of B; {counts['label_disagreements']} with labels that disagree")
    if report.pairs and args.show:
        rows = [[p.a.split, p.a.id, p.a.label, p.b.split, p.b.id, p.b.label, p.frames, f"{p.detail:.1f}",
                 f"{p.structure:.3f}", f"{p.colour:.4f}", "" if p.labels_agree else "DISAGREE"]
                for p in report.pairs[:args.show]]
        print(tabulate(rows, headers=["A split", "A id", "A label", "B split", "B id", "B label", "frames agree",
                                      "detail", "structure", "colour", "labels"], disable_numparse=True))
    if len(report.pairs) > args.show:
        print(f"... and {len(report.pairs) - args.show} more (--show N, or --output FILE for all, with the "
              f"per-frame evidence)")
    for item in report.uninformative[:10]:
        print(f"uninformative (no structure to compare): {item['task']} {item['split']} {item['id']}")
    if args.output:
        print(f"\nreport: {report.write(args.output)}")
    for failure in report.failures[:10]:
        print(f"not compared: {failure['task']} {failure['split']} {failure['id']}: {failure['error']}", file=sys.stderr)
    if report.failures:
        print(f"harness: {len(report.failures)} clip(s) did not decode and were not compared", file=sys.stderr)
        return EXIT_EVAL
    return EXIT_OK


def cmd_validate(args, argv: list[str], started: float | None = None) -> int:
    options.check(args)  # every option, before any work
    from harness import results
    status = EXIT_OK
    for path in args.files:
        try:
            results.load(path, "results")
            print(f"{path}: valid")
        except DataError as exc:
            print(f"{exc}", file=sys.stderr)
            status = EXIT_EVAL
    return status


def cmd_leaderboard(args, argv: list[str], started: float | None = None) -> int:
    options.check(args)  # every option, before any work
    from harness import leaderboard
    if args.action == "add":
        notes: list[str] = []
        board, added = leaderboard.add(args.board, args.files, allow_partial=args.allow_partial, notes=notes)
        for note in notes:
            print(f"harness: note: {note}", file=sys.stderr)
        print(f"{args.board}: {added} row(s) added or updated, {len(board['rows'])} in all")
        print(leaderboard.table(board))
        return EXIT_OK
    if args.action == "report":
        board, added = leaderboard.add_reported(args.board, args.file)
        print(f"{args.board}: {added} reported row(s) added or updated, {len(board['rows'])} in all")
        return EXIT_OK
    if args.action == "export-eval-results":
        from harness import publish
        ids = dict(item.split("=", 1) for item in args.dataset_id if "=" in item)
        for path in publish.export_eval_results(args.board, args.model, args.out, args.source_url, ids):
            print(path)
        return EXIT_OK
    if args.action in ("publish", "serve"):
        from harness import publish
        if args.action == "serve":
            publish.serve(args.board, args.port)
            return EXIT_OK
        print(f"published: {publish.publish(args.board, args.to, force=args.force)}")
        return EXIT_OK
    if args.action == "build":
        board = leaderboard.build(args.board, args.reported)
        print(f"{args.board}: built from {args.reported} plus the computed floors, {len(board['rows'])} rows")
        return EXIT_OK
    board = leaderboard.load_board(args.board)
    print(leaderboard.table(board, task=args.task, zero_shot=args.zero_shot))
    return EXIT_OK

