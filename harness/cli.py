"""The ``harness`` command: argument parsing and output only; the work lives elsewhere.

Exit codes: 0 success, 1 evaluation errors (failed samples, invalid files),
2 usage errors (unknown names, bad arguments).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from tabulate import tabulate

import harness
from harness import __version__
from harness.errors import DataError, HarnessError, UsageError

EXIT_OK, EXIT_EVAL, EXIT_USAGE = 0, 1, 2
_started: float | None = None  # when this command started: the harness's import for the process's first


def _plugin_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-p", dest="plugins", action="append", default=[], metavar="PLUGIN",
                        help="load a plugin module by import path, or block one with no:NAME "
                             "(repeatable)")
    parser.add_argument("--include-path", action="append", default=[], metavar="DIR",
                        help="a folder of YAML task definitions (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness", description="Evaluate vision-language models on dynamic "
                                                 "facial expression recognition benchmarks.")
    parser.add_argument("--version", action="version", version=f"dfer-harness {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="evaluate a model on tasks")
    _plugin_option(run)
    run.add_argument("--tasks", required=True, help="comma-separated tasks, e.g. synthetic:n=500,seed=1")
    run.add_argument("--model", required=True, help="a model name ('harness list models')")
    run.add_argument("--model-args", default="", help="k=v,... passed to the model")
    run.add_argument("--limit", type=int, help="evaluate only the first N samples of each task")
    run.add_argument("--seed", type=int, default=0, help="seed for every random choice (default 0)")
    run.add_argument("--batch-size", type=int, help="requests per model call (default: the model's)")
    run.add_argument("--output-path", default="results", help="folder for results (default ./results)")
    run.add_argument("--log-samples", action="store_true", help="also write one JSONL line per sample")
    run.add_argument("--decode-workers", type=int,
                     help="decoding processes; 0 decodes in this process (default: 0 for small "
                          "tasks, else up to the core count)")
    run.add_argument("--strict", action="store_true", help="stop at the first sample that fails")
    run.add_argument("--bootstrap", type=int, default=1000, help="bootstrap rounds for the 95%% "
                                                                 "intervals (0 turns them off)")
    run.add_argument("--cache-dir", help="where generated data lives (default $HARNESS_CACHE "
                                         "or ~/.cache/harness)")
    run.add_argument("--data-dir", help="root of local dataset copies (default $HARNESS_DATA_DIR)")
    run.add_argument("--frames", help="frame protocol preset applied to each task's default: 16, "
                                      "segment=16, dense=16, fps=5,max=32, all, order=reversed, size=224")
    run.add_argument("--prompt", help="prompt template: names, letters or open (default: the task's)")
    run.add_argument("--choice-order", default="fixed", choices=["fixed", "shuffled"],
                     help="shuffled permutes the candidates per sample with the seed")
    run.add_argument("--strategy", help="request strategy with parameters, e.g. msce:k=4,captioner=hf "
                                        "('harness list strategies'; default: the frames as one video)")
    run.add_argument("--no-prefetch", action="store_true",
                     help="prepare each batch (decode, preprocess) only after the previous one ran, instead of "
                          "in a thread beside the model (same answers; for measuring and debugging)")
    run.add_argument("--no-frame-cache", action="store_true",
                     help="decode every clip even if its frames are in the frame cache")
    run.add_argument("--no-cache", action="store_true",
                     help="neither read nor write the response cache (resume comes from it)")
    run.add_argument("--shard", help="evaluate shard i of N (i/N, 0-based) by a stable hash of task and "
                                     "sample id; combine with 'harness merge'")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    run.add_argument("--launcher", default="local", choices=["local", "ray"],
                     help="ray: run --shards shards as Ray tasks on a cluster and merge them here")
    run.add_argument("--shards", type=int, default=4, help="shards for --launcher ray (default 4)")
    run.add_argument("--shard-resources", help="Ray resources per shard, e.g. gpus=1,cpus=4,memory=16e9,accel=1")
    run.add_argument("--max-retries", type=int, default=3,
                     help="retries of a shard whose worker or node died (default 3)")
    run.add_argument("--ray-address", help="the Ray cluster (default $RAY_ADDRESS, else a local one)")

    diag = sub.add_parser("diagnose", help="run diagnostic probes (long-tail collapse, option order, "
                                           "calibration, ...) on a model")
    _plugin_option(diag)
    diag.add_argument("--tasks", required=True, help="comma-separated tasks, e.g. dfew:fold=1")
    diag.add_argument("--model", required=True, help="a model name ('harness list models')")
    diag.add_argument("--model-args", default="", help="k=v,... passed to the model")
    diag.add_argument("--probes", default="longtail,choices,calibration",
                      help="comma-separated probes with parameters, e.g. longtail:tau=0.5,choices:n=8 "
                           "('harness list probes'; default longtail,choices,calibration)")
    diag.add_argument("--limit", type=int, help="only the first N samples of each task")
    diag.add_argument("--seed", type=int, default=0)
    diag.add_argument("--batch-size", type=int)
    diag.add_argument("--output-path", default="diagnostics", help="folder for the document, figures and runs")
    diag.add_argument("--decode-workers", type=int)
    diag.add_argument("--bootstrap", type=int, default=200, help="bootstrap rounds of each run (default 200)")
    diag.add_argument("--cache-dir")
    diag.add_argument("--data-dir")
    diag.add_argument("--frames", help="frame protocol preset for every run (probes may add to it)")
    diag.add_argument("--prompt", help="prompt template for every run (probes may change it)")
    diag.add_argument("--strategy", help="request strategy for every run, e.g. msce:k=4")
    diag.add_argument("--launcher", default="local", choices=["local", "ray"],
                      help="ray: shard every run over a Ray cluster")
    diag.add_argument("--shards", type=int, default=4)
    diag.add_argument("--shard-resources")
    diag.add_argument("--max-retries", type=int, default=3)
    diag.add_argument("--ray-address")
    diag.add_argument("--no-progress", action="store_true")

    cmp_ = sub.add_parser("compare", help="paired comparison of runs on the same clips (UAR, WAR, macro-F1)")
    cmp_.add_argument("files", nargs="+", help="two or more results files (made with --log-samples)")
    cmp_.add_argument("--task", help="the task key to compare (default: the only one)")
    cmp_.add_argument("--rounds", type=int, default=2000, help="bootstrap rounds (default 2000)")
    cmp_.add_argument("--seed", type=int, default=0)
    cmp_.add_argument("--csv", help="write the clips where two runs disagree (two runs only)")
    cmp_.add_argument("--json", help="write every figure as JSON")

    rep = sub.add_parser("report", help="an HTML and Markdown report with figures, from results files")
    rep.add_argument("files", nargs="+", help="results files (and diagnostics documents)")
    rep.add_argument("--output", default="report", help="the report folder (default ./report)")

    lst = sub.add_parser("list", help="list tasks, models, probes or plugins")
    _plugin_option(lst)
    lst.add_argument("what", choices=["tasks", "models", "probes", "strategies", "plugins"])

    show = sub.add_parser("show", help="describe a task")
    _plugin_option(show)
    show.add_argument("what", choices=["task"])
    show.add_argument("name")
    show.add_argument("--cache-dir")
    show.add_argument("--data-dir")

    data = sub.add_parser("data", help="check a local copy of a dataset release")
    data_sub = data.add_subparsers(dest="action", required=True)
    dcheck = data_sub.add_parser("check", help="split files, official counts, media present and decodable")
    _plugin_option(dcheck)
    dcheck.add_argument("name", help="task, e.g. dfew, dfew:media=frames, ferv39k, mafw")
    dcheck.add_argument("--data-dir", help="root of local dataset copies (default $HARNESS_DATA_DIR)")
    dcheck.add_argument("--decode", type=int, default=20, help="clips to decode per split (default 20)")
    dcheck.add_argument("--seed", type=int, default=0)

    cache = sub.add_parser("cache", help="inspect or clear the response cache")
    cache_sub = cache.add_subparsers(dest="action", required=True)
    for action in ("info", "clear"):
        c = cache_sub.add_parser(action, help=f"{action} the response cache")
        c.add_argument("--cache-dir", help="default $HARNESS_CACHE or ~/.cache/harness")
        if action == "clear":
            c.add_argument("--model", help="only the entries of this model id (as 'cache info' lists it)")

    merge = sub.add_parser("merge", help="combine shard results (run with --log-samples) into one")
    merge.add_argument("inputs", nargs="+", help="results folders or results files of the shards")
    merge.add_argument("--output-path", default="results", help="folder for the merged results")

    val = sub.add_parser("validate", help="check results files against the schema")
    val.add_argument("files", nargs="+")

    lb = sub.add_parser("leaderboard", help="merge results into a leaderboard, or show it")
    lb_sub = lb.add_subparsers(dest="action", required=True)
    add = lb_sub.add_parser("add", help="add results files to a board")
    add.add_argument("files", nargs="+")
    add.add_argument("--board", default="leaderboard/leaderboard.json")
    add.add_argument("--allow-partial", action="store_true",
                     help="accept runs made with --limit, one shard, or over 1%% failed samples, as marked "
                          "partial rows (never replacing a complete row)")
    rpt = lb_sub.add_parser("report", help="add reported rows (numbers from papers) from a YAML or JSON file")
    rpt.add_argument("--file", required=True)
    rpt.add_argument("--board", default="leaderboard/leaderboard.json")
    pub = lb_sub.add_parser("publish", help="write the viewer site to DIR, a git branch or the Hugging Face Hub")
    pub.add_argument("--to", required=True, help="DIR, git:REMOTE[#BRANCH] (default branch gh-pages) or "
                                                 "hf:datasets/ORG/NAME")
    pub.add_argument("--board", default="leaderboard/leaderboard.json")
    srv = lb_sub.add_parser("serve", help="serve the viewer over HTTP for local use")
    srv.add_argument("--board", default="leaderboard/leaderboard.json")
    srv.add_argument("--port", type=int, default=8000)
    exp = lb_sub.add_parser("export-eval-results", help="Hugging Face .eval_results/*.yaml files for a model card")
    exp.add_argument("model", help="the model name as the board shows it")
    exp.add_argument("--board", default="leaderboard/leaderboard.json")
    exp.add_argument("--out", default=".eval_results")
    exp.add_argument("--source-url", help="where the leaderboard is published (the files link to it)")
    exp.add_argument("--dataset-id", action="append", default=[], metavar="TASK=ORG/NAME",
                     help="the Hub dataset repository of a task (repeatable)")
    shw = lb_sub.add_parser("show", help="print the ranked table")
    shw.add_argument("--board", default="leaderboard/leaderboard.json")
    shw.add_argument("--task", help="only this task")
    return parser


def main(argv: list[str] | None = None) -> int:
    global _started
    # A command's start-up counts from the harness's import; a later call in the same process (a
    # library user, the tests) from its own start.
    _started = harness.STARTED if _started is None else time.perf_counter()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    try:
        handler = {"run": cmd_run, "diagnose": cmd_diagnose, "compare": cmd_compare, "report": cmd_report,
                   "list": cmd_list, "show": cmd_show, "validate": cmd_validate,
                   "leaderboard": cmd_leaderboard, "data": cmd_data, "cache": cmd_cache,
                   "merge": cmd_merge}[args.command]
        return handler(args, argv)
    except UsageError as exc:
        print(f"harness: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except HarnessError as exc:
        print(f"harness: error: {exc}", file=sys.stderr)
        return EXIT_EVAL
    except BrokenPipeError:  # the output went to `head` or a closed pager: not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        print("harness: interrupted; results of finished tasks are on disk", file=sys.stderr)
        return 130


def _host(args):
    from harness import host as plugin_host
    from harness.tasks.yamltask import INCLUDE_ENV
    paths = [str(Path(p).resolve()) for p in getattr(args, "include_path", [])]
    previous = os.environ.get(INCLUDE_ENV)
    if paths:  # read by the YAML task plugin while it registers its tasks
        os.environ[INCLUDE_ENV] = os.pathsep.join([*paths, previous or ""]).strip(os.pathsep)
    try:
        host = plugin_host.load(getattr(args, "plugins", []))
    finally:
        if previous is None:
            os.environ.pop(INCLUDE_ENV, None)
        else:
            os.environ[INCLUDE_ENV] = previous
    for problem in host.problems:
        print(f"harness: warning: {problem}", file=sys.stderr)
    return host


def _path_or_env(value: str | None, env: str) -> Path | None:
    value = value or os.environ.get(env)
    return Path(value) if value else None


def cmd_run(args, argv) -> int:
    from harness import evaluator
    from harness.params import parse_kv, parse_tasks

    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    if args.batch_size is not None and args.batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    host = _host(args)
    config = evaluator.RunConfig(
        tasks=parse_tasks(args.tasks), model=args.model,
        model_args=parse_kv(args.model_args, "model argument"), limit=args.limit, seed=args.seed,
        batch_size=args.batch_size, output_path=Path(args.output_path), log_samples=args.log_samples,
        decode_workers=args.decode_workers, strict=args.strict,
        progress=not args.no_progress and sys.stderr.isatty(), command=["harness", *argv],
        cache_dir=_path_or_env(args.cache_dir, "HARNESS_CACHE"),
        data_dir=_path_or_env(args.data_dir, "HARNESS_DATA_DIR"), bootstrap=args.bootstrap,
        frames=args.frames, prompt=args.prompt, choice_order=args.choice_order, strategy=args.strategy,
        frame_cache=not args.no_frame_cache, response_cache=not args.no_cache, prefetch=not args.no_prefetch,
        shard=_shard(args.shard), started=_started,
    )
    if args.launcher == "ray":
        from harness.launch.ray import launch
        out = launch(config, args.plugins, args.shards, args.shard_resources, args.max_retries, args.ray_address,
                     progress=config.progress)
    else:
        out = evaluator.evaluate(host, config)
    print(summary_table(out.document))
    for spec in config.tasks:
        keys = [k for k, t in out.document["tasks"].items() if t["spec"] == str(spec)]
        print(f"\n{spec}: per-class recall %" + (" (support)" if len(keys) == 1 else ""))
        print(per_class_table(out.document, keys))
        for key in keys:
            task = out.document["tasks"][key]
            if task["groups"]:
                print(f"\n{key}: by group")
                print(tabulate([[g, m["n"], _pct(m["uar"]), _pct(m["war"])] for g, m in task["groups"].items()],
                               headers=["group", "n", "UAR", "WAR"], disable_numparse=True))
            for failure in task["failures"][:10]:
                print(f"failed: {key}: {failure['id']}: {failure['error']}", file=sys.stderr)
    if out.document.get("timings"):
        print("\n" + timing_line(out.document["timings"]))
    print(f"\nresults: {out.results_path}")
    for path in out.sample_paths.values():
        print(f"samples: {path}")
    if out.failed_samples:
        print(f"harness: {out.failed_samples} sample(s) failed and were counted as wrong "
              f"(see 'failures' in the results)", file=sys.stderr)
        return EXIT_EVAL
    return EXIT_OK


def cmd_compare(args, argv) -> int:
    from harness import compare

    if len(args.files) < 2:
        raise UsageError("compare needs at least two results files")
    runs = [compare.load_run(f, args.task) for f in args.files]
    pairs = compare.compare_many(runs, args.rounds, args.seed)
    pct = lambda x: f"{100 * x:+.2f}"  # noqa: E731
    rows = []
    for c in pairs:
        u, w, f = c["uar"], c["war"], c["macro_f1"]
        rows.append([c["a"], c["b"], c["n"],
                     f"{pct(u['difference'])} [{pct(u['ci95'][0])}, {pct(u['ci95'][1])}]",
                     f"{u['p']:.4f}" + (f" ({u['p_holm']:.4f})" if len(pairs) > 1 else ""),
                     f"{pct(w['difference'])}", f"{w['only_a_right']}/{w['only_b_right']}",
                     f"{w['mcnemar_p']:.4f}" + (f" ({w['p_holm']:.4f})" if len(pairs) > 1 else ""),
                     f"{pct(f['difference'])} [{pct(f['ci95'][0])}, {pct(f['ci95'][1])}]"])
    holm = " (Holm)" if len(pairs) > 1 else ""
    print(f"task {runs[0].key}: A minus B, in points; {args.rounds} paired class-stratified bootstrap rounds")
    print(tabulate(rows, headers=["A", "B", "n", "UAR diff [95% CI]", f"UAR p{holm}", "WAR diff",
                                  "only A/B right", f"McNemar p{holm}", "macro-F1 diff [95% CI]"],
                   disable_numparse=True))
    if len(pairs) == 1:
        c = pairs[0]
        print("\nper-class recall difference (A minus B) [95% CI]")
        print(tabulate([[k, v["support"], f"{100 * v['recall_a']:.1f}", f"{100 * v['recall_b']:.1f}",
                         f"{pct(v['difference'])} [{pct(v['ci95'][0])}, {pct(v['ci95'][1])}]"]
                        for k, v in c["per_class"].items()],
                       headers=["class", "n", "recall A", "recall B", "difference"], disable_numparse=True))
        print(f"\n{len(c['disagreements'])} clip(s) answered differently")
        if args.csv:
            compare.write_disagreements(args.csv, c)
            print(f"disagreements: {args.csv}")
    elif args.csv:
        raise UsageError("--csv takes exactly two runs")
    if args.json:
        Path(args.json).write_text(json.dumps(pairs, indent=1) + "\n")
    return EXIT_OK


def cmd_report(args, argv) -> int:
    from harness import report

    index = report.build(args.files, Path(args.output))
    print(f"report: {index}")
    return EXIT_OK


def cmd_diagnose(args, argv) -> int:
    from harness import diagnose, evaluator
    from harness.params import parse_kv, parse_tasks

    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    host = _host(args)
    run = evaluator.RunConfig(
        tasks=parse_tasks(args.tasks), model=args.model, model_args=parse_kv(args.model_args, "model argument"),
        limit=args.limit, seed=args.seed, batch_size=args.batch_size, output_path=Path(args.output_path),
        decode_workers=args.decode_workers, progress=not args.no_progress and sys.stderr.isatty(),
        command=["harness", *argv], cache_dir=_path_or_env(args.cache_dir, "HARNESS_CACHE"),
        data_dir=_path_or_env(args.data_dir, "HARNESS_DATA_DIR"), bootstrap=args.bootstrap,
        frames=args.frames, prompt=args.prompt, strategy=args.strategy)
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


def _pct(x: float) -> str:
    return f"{100 * x:.2f}"


def uar_text(value: float, missing: list, classes: int) -> str:
    """UAR as printed everywhere: ``UAR*`` with the class count when some classes had no samples."""
    if not missing:
        return _pct(value)
    return f"{_pct(value)}* ({classes - len(missing)}/{classes} classes)"


def summary_table(document: dict) -> str:
    """One row per evaluated split; a task with several folds gets a mean +- std row after them."""
    rows = []
    model = document["model"]["name"]
    fold_of = {k: spec for spec, agg in document.get("aggregates", {}).items() for k in agg["splits"]}
    for key, t in document["tasks"].items():
        m, ci = t["metrics"], t["metrics"]["uar_ci95"]
        rows.append([key, model, t["frame_protocol"]["name"], t["counts"]["evaluated"],
                     uar_text(m["uar"], m["missing_classes"], len(t["classes"])),
                     _pct(m["war"]), _pct(m["macro_f1"]), f"{_pct(ci[0])}-{_pct(ci[1])}" if ci else "-",
                     _pct(m["invalid_rate"]), t["counts"]["failed"], t["timings"].get("clips_per_s", "-")])
        spec = fold_of.get(key)
        if spec and document["aggregates"][spec]["splits"][-1] == key:
            a = document["aggregates"][spec]
            rows.append([f"{spec} (mean of {len(a['splits'])})", model, a["frame_protocol"]["name"], a["n"],
                         f"{_pct(a['uar_mean'])}+-{_pct(a['uar_std'])}",
                         f"{_pct(a['war_mean'])}+-{_pct(a['war_std'])}", _pct(a["macro_f1_mean"]), "-", "-",
                         a["failed"], "-"])
    table = tabulate(rows, headers=["task", "model", "frames", "n", "UAR", "WAR", "macro-F1",
                                    "UAR 95% CI", "invalid %", "failed", "clips/s"],
                     disable_numparse=True)
    if any(t["metrics"]["missing_classes"] for t in document["tasks"].values()):
        table += ("\n* UAR over the classes that have samples in the evaluated subset only; it is not "
                  "comparable with a full-class UAR")
    return table


def timing_line(t: dict) -> str:
    """Start-up, loop and total apart: a loop rate that includes importing torch would mislead."""
    rate = f", {t['loop_clips_per_s']:.1f} clips/s" if t.get("loop_clips_per_s") else ""
    return (f"time: start-up {t['startup_s']:.1f} s (model load {t.get('model_load_s', 0.0):.1f} s), "
            f"loop {t['loop_s']:.1f} s for {t.get('clips', 0)} clips{rate}, total {t['total_s']:.1f} s")


def per_class_table(document: dict, keys: list[str]) -> str:
    """Recall of each class (rows) in each evaluated split (columns), with predictions made."""
    tasks = [document["tasks"][k] for k in keys]
    rows = []
    for i, cls in enumerate(tasks[0]["per_class"]):
        row = [cls["class"]]
        for t in tasks:
            c = t["per_class"][i]
            row.append(f"{_pct(c['recall'])} ({c['support']})" if len(tasks) == 1 else _pct(c["recall"]))
        row.append(sum(t["per_class"][i]["predicted"] for t in tasks))
        rows.append(row)
    invalid = sum(t["counts"]["invalid"] for t in tasks)
    failed = sum(t["counts"]["failed"] for t in tasks)
    rows.append(["(invalid / failed)"] + ["" for _ in tasks] + [f"{invalid} / {failed}"])
    headers = ["class"] + ([k.rsplit("/", 1)[-1] for k in keys] if len(keys) > 1 else ["recall"]) + ["predicted"]
    return tabulate(rows, headers=headers, disable_numparse=True)


def cmd_list(args, argv) -> int:
    host = _host(args)
    if args.what == "plugins":
        rows = [[p.name, p.dist or "-", p.version or "-", "built-in" if p.builtin else "third-party",
                 p.module] for p in host.plugins]
        print(tabulate(rows, headers=["plugin", "distribution", "version", "kind", "module"]))
        return EXIT_OK
    table = {"tasks": host.tasks, "models": host.models, "probes": host.probes,
             "strategies": host.strategies}[args.what]
    rows = [[e.name, e.description, e.plugin.name, e.plugin.version or "-"]
            for e in sorted(table.values(), key=lambda e: e.name)]
    print(tabulate(rows, headers=[{"strategies": "strategy"}.get(args.what, args.what[:-1]), "description",
                                  "plugin", "version"]))
    return EXIT_OK


def cmd_show(args, argv) -> int:
    from harness.task import TaskContext, default_cache_dir
    from harness.params import parse_tasks

    host = _host(args)
    spec = parse_tasks(args.name)[0]
    entry = host.task(spec.name)
    context = TaskContext(cache_dir=_path_or_env(args.cache_dir, "HARNESS_CACHE") or default_cache_dir(),
                          data_dir=_path_or_env(args.data_dir, "HARNESS_DATA_DIR"))
    task = entry.factory(dict(spec.params), context)
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
    for name, template in task.prompt_templates.items():
        default = " (default)" if name == task.default_template else ""
        print(f"\nprompt template {name!r}{default}, the messages exactly as a model receives them "
              f"(fixed choice order):")
        print(render_messages(template.render(tuple(task.classes)), f"{p.num_frames or 'all'} frames, {p.name}"))
        keys = template.answer_keys(tuple(task.classes))
        print(f"  answers: {', '.join(f'{k} = {c}' for k, c in zip(keys, task.classes))}" if keys else
              "  answers: a class name, read by the answer parser")
    return EXIT_OK


def render_messages(messages: list[dict], video: str) -> str:
    """Chat messages as text, every line as the model gets it, with a marker where media goes."""
    lines = []
    for message in messages:
        parts = []
        for part in message["content"]:
            if part.get("type") == "video":
                parts.append(f"<video: {video}>")
            elif part.get("type") == "image":
                parts.append(f"<image: frame {part.get('frame')}>")
            else:
                parts.append(part["text"])
        text = "\n".join(parts).splitlines() or [""]
        label = f"  {message['role']}:"
        lines.append(f"{label:<10} {text[0]}")
        lines += [f"{'':<10} {line}" for line in text[1:]]
    return "\n".join(lines)


def _shard(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise UsageError(f"--shard takes i/N (e.g. 0/4), got {text!r}") from None
    if n < 1 or not 0 <= i < n:
        raise UsageError(f"--shard {text}: need 0 <= i < N")
    return i, n


def cmd_cache(args, argv) -> int:
    from harness.response_cache import ResponseCache
    from harness.task import default_cache_dir

    root = _path_or_env(args.cache_dir, "HARNESS_CACHE") or default_cache_dir()
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


def cmd_merge(args, argv) -> int:
    from harness.merge import merge

    out = merge([Path(p) for p in args.inputs], Path(args.output_path), command=["harness", *argv])
    print(summary_table(out.document))
    print(f"\nresults: {out.results_path}")
    for path in out.sample_paths.values():
        print(f"samples: {path}")
    return EXIT_OK


def cmd_data(args, argv) -> int:
    from harness.datacheck import check
    from harness.params import parse_tasks
    from harness.task import TaskContext, default_cache_dir

    host = _host(args)
    spec = parse_tasks(args.name)[0]
    entry = host.task(spec.name)
    context = TaskContext(cache_dir=default_cache_dir(), data_dir=_path_or_env(args.data_dir, "HARNESS_DATA_DIR"))
    task = entry.factory(dict(spec.params), context)
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


def cmd_validate(args, argv) -> int:
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


def cmd_leaderboard(args, argv) -> int:
    from harness import leaderboard
    if args.action == "add":
        board, added = leaderboard.add(args.board, args.files, allow_partial=args.allow_partial)
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
        print(f"published: {publish.publish(args.board, args.to)}")
        return EXIT_OK
    board = leaderboard.load_board(args.board)
    print(leaderboard.table(board, task=args.task))
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
