"""The ``harness`` command line: every subcommand and option, declared once."""

from __future__ import annotations

import argparse

from harness import __version__


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (what is wrong, and where help is), exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see '{self.prog} --help')\n")


def plugin_options(parser: argparse.ArgumentParser) -> None:
    """``-p`` and ``--include-path``: which plugins a command loads."""
    parser.add_argument("-p", dest="plugins", action="append", default=[], metavar="PLUGIN",
                        help="load a plugin module by import path, or block one with no:NAME "
                             "(repeatable)")
    parser.add_argument("--include-path", action="append", default=[], metavar="DIR",
                        help="a folder of YAML task definitions (repeatable)")


def run_options(parser: argparse.ArgumentParser, *, output: str, bootstrap: int) -> None:
    """The options ``run`` and ``diagnose`` share: what to evaluate, with which model, how, and where."""
    plugin_options(parser)
    parser.add_argument("--tasks", required=True, help="comma-separated tasks, e.g. synthetic:n=500,seed=1 "
                                                       "or dfew:fold=1")
    parser.add_argument("--model", required=True, help="a model name ('harness list models')")
    parser.add_argument("--model-args", default="", help="k=v,... passed to the model")
    parser.add_argument("--limit", type=int, help="evaluate only the first N samples of each task")
    parser.add_argument("--seed", type=int, default=0, help="seed for every random choice (default 0)")
    parser.add_argument("--batch-size", type=int, help="requests per model call (default: the model's)")
    parser.add_argument("--output-path", default=output, help=f"folder for results (default ./{output})")
    parser.add_argument("--decode-workers", type=int,
                        help="decoding processes; 0 decodes in this process (default: 0 for small "
                             "tasks, else up to the core count)")
    parser.add_argument("--bootstrap", type=int, default=bootstrap,
                        help=f"bootstrap rounds for the 95%% intervals (default {bootstrap}; 0 turns them off)")
    parser.add_argument("--cache-dir", help="where generated data lives (default $HARNESS_CACHE "
                                            "or ~/.cache/harness)")
    parser.add_argument("--data-dir", help="root of local dataset copies (default $HARNESS_DATA_DIR)")
    parser.add_argument("--frames", help="frame protocol preset applied to each task's default: 16, "
                                         "segment=16, dense=16, fps=5,max=32, all, order=reversed, size=224")
    parser.add_argument("--audio", default="off", choices=["on", "off"],
                        help="on: send each clip's sound track with its frames (mono, at the model's rate, over "
                             "the frames' span; part of the frame protocol's name); off (default): pictures only")
    parser.add_argument("--prompt", help="prompt template: names, letters or open (default: the task's)")
    parser.add_argument("--strategy", help="request strategy with parameters, e.g. msce:k=4,captioner=hf "
                                           "('harness list strategies'; default: the frames as one video)")
    parser.add_argument("--reasoning-tags",
                        help="reasoning set apart before answers are read: default (<think>, <thinking>, "
                             "<reasoning>, ...), none, tag names (think,reasoning) or a JSON list of pairs "
                             "(default: the model preset's, else default)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--launcher", default="local", choices=["local", "ray"],
                        help="ray: run the shards as Ray tasks on a cluster and merge them here")
    parser.add_argument("--shards", type=int, default=4, help="shards for --launcher ray (default 4)")
    parser.add_argument("--shard-resources",
                        help="Ray resources per shard, e.g. gpus=1,cpus=4,memory=16e9,accel=1")
    parser.add_argument("--max-retries", type=int, default=3,
                        help="retries of a shard whose worker or node died (default 3)")
    parser.add_argument("--ray-address", help="the Ray cluster (default $RAY_ADDRESS, else a local one)")


def tracker_options(parser: argparse.ArgumentParser) -> None:
    """Where runs are also logged: ``run`` and ``log`` take the same options."""
    parser.add_argument("--tracker", action="append", default=[], metavar="NAME[:k=v,...]",
                        help="log to this tracker too, with its arguments ('harness list trackers'; repeatable)")
    parser.add_argument("--wandb-args", metavar="k=v,...",
                        help="log to Weights & Biases: project=...,entity=...,mode=offline|online,group=...,dir=...")
    parser.add_argument("--mlflow-args", metavar="k=v,...",
                        help="log to MLflow: tracking_uri=http://HOST:PORT,experiment=NAME")
    parser.add_argument("--trackio-args", metavar="k=v,...", help="log to Trackio (local): project=NAME,group=...")


def run_parser() -> argparse.ArgumentParser:
    """The ``run`` subcommand's parser: what a run file's keys are checked against."""
    return build_parser().run_parser


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="harness", description="Evaluate vision-language models on dynamic "
                                                 "facial expression recognition benchmarks.")
    parser.add_argument("--version", action="version", version=f"dfer-harness {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="evaluate a model on tasks")
    parser.run_parser = run
    run.add_argument("--config", metavar="FILE",
                     help="take the options from a YAML or JSON run file (the command line overrides it); a "
                          "file may hold a grid of runs, and a results file repeats its run (docs/tracking.md)")
    run.add_argument("--dry-run", action="store_true",
                     help="list the runs --config FILE would make, with their options, and stop")
    run_options(run, output="results", bootstrap=1000)
    tracker_options(run)
    run.add_argument("--log-samples", action="store_true", help="also write one JSONL line per sample")
    run.add_argument("--strict", action="store_true", help="stop at the first sample that fails")
    run.add_argument("--answer-format", default="free", choices=["free", "choice", "json"],
                     help="constrain generated answers while decoding: choice (exactly one candidate) or json "
                          "({\"answer\": candidate}); recorded with the prompt, so constrained and free runs never "
                          "share a leaderboard row (default free)")
    run.add_argument("--overlap-report", action="append", default=[], metavar="FILE",
                     help="a 'harness data overlap' report (JSON); with --training-data, each task result notes how "
                          "many evaluated clips the model's training data holds (repeatable)")
    run.add_argument("--training-data", metavar="TASKS",
                     help="what the model was trained on, as task or task/split names, e.g. dfew,mafw/fold1")
    run.add_argument("--choice-order", default="fixed", choices=["fixed", "shuffled"],
                     help="shuffled permutes the candidates per sample with the seed")
    run.add_argument("--no-prefetch", action="store_true",
                     help="prepare each batch (decode, preprocess) only after the previous one ran, instead of "
                          "in a thread beside the model (same answers; for measuring and debugging)")
    run.add_argument("--no-frame-cache", action="store_true",
                     help="decode every clip even if its frames are in the frame cache")
    run.add_argument("--no-cache", action="store_true",
                     help="neither read nor write the response cache (resume comes from it)")
    run.add_argument("--shard", help="evaluate shard i of N (i/N, 0-based) by a stable hash of task and "
                                     "sample id; combine with 'harness merge'")

    diag = sub.add_parser("diagnose", help="run diagnostic probes (long-tail collapse, option order, "
                                           "calibration, ...) on a model")
    run_options(diag, output="diagnostics", bootstrap=200)
    diag.add_argument("--probes", default="longtail,choices,calibration",
                      help="comma-separated probes with parameters, e.g. longtail:tau=0.5,choices:n=8 "
                           "('harness list probes'; default longtail,choices,calibration)")

    cmp_ = sub.add_parser("compare", help="paired comparison of runs on the same clips (UAR, WAR, macro-F1)")
    cmp_.add_argument("files", nargs="+", help="two or more results files (made with --log-samples)")
    cmp_.add_argument("--task", help="the task key to compare (default: the only one)")
    cmp_.add_argument("--rounds", type=int, default=2000, help="bootstrap rounds (default 2000)")
    cmp_.add_argument("--seed", type=int, default=0)
    cmp_.add_argument("--csv", help="write the clips where two runs disagree (two runs only)")
    cmp_.add_argument("--json", help="write every figure as JSON")

    rep = sub.add_parser("report", help="an HTML and Markdown report with figures, from results files; across "
                                        "runs of a task (a study) also tables, per-class recall and paired comparisons")
    rep.add_argument("files", nargs="+", help="results files (and diagnostics documents), or folders of them "
                                              "(their results_*.json and diagnostics_*.json, e.g. a grid's output)")
    rep.add_argument("--output", default="report", help="the report folder (default ./report)")
    rep.add_argument("--rounds", type=int, default=2000,
                     help="bootstrap rounds of the paired comparisons between runs of a task (default 2000)")
    rep.add_argument("--seed", type=int, default=0, help="seed of those bootstrap rounds (default 0)")

    lst = sub.add_parser("list", help="list tasks, models, probes or plugins")
    plugin_options(lst)
    lst.add_argument("what", choices=["tasks", "models", "probes", "strategies", "trackers", "plugins"])

    show = sub.add_parser("show", help="describe a task")
    plugin_options(show)
    show.add_argument("what", choices=["task"])
    show.add_argument("name")
    show.add_argument("--cache-dir")
    show.add_argument("--data-dir")

    chk = sub.add_parser("check", help="check a checkpoint's chat template, tokenizer and processor files "
                                       "against the harness's contract (no weights loaded)")
    chk_sub = chk.add_subparsers(dest="what", required=True)
    chm = chk_sub.add_parser("model", help="a preset ('harness list models'), a hub id in the local cache, or a folder")
    plugin_options(chm)
    chm.add_argument("name", help="preset name, hub id or checkpoint folder")
    chm.add_argument("--model", default="hf", help="the model plugin that would load a hub id or folder (default hf)")
    chm.add_argument("--model-args", default="", help="k=v,... as for harness run, e.g. family=molmo2,revision=REV")

    data = sub.add_parser("data", help="check a local copy of a dataset release")
    data_sub = data.add_subparsers(dest="action", required=True)
    dcheck = data_sub.add_parser("check", help="split files, official counts, media present and decodable")
    plugin_options(dcheck)
    dcheck.add_argument("name", help="task, e.g. dfew, dfew:media=frames, ferv39k, mafw")
    dcheck.add_argument("--data-dir", help="root of local dataset copies (default $HARNESS_DATA_DIR)")
    dcheck.add_argument("--decode", type=int, default=20, help="clips to decode per split (default 20)")
    dcheck.add_argument("--seed", type=int, default=0)
    dover = data_sub.add_parser("overlap", help="clips two tasks share, found by content (frame by frame: luma "
                                                "detail, perceptual hash and colour of each aligned frame; robust to "
                                                "re-encoding, resizing, other frame rates and cuts)")
    plugin_options(dover)
    dover.add_argument("task_a", help="task, e.g. dfew")
    dover.add_argument("task_b", help="task, e.g. mme-emotion:source=DFEW (the same task twice: duplicates inside it)")
    dover.add_argument("--data-dir", help="root of local dataset copies (default $HARNESS_DATA_DIR)")
    dover.add_argument("--cache-dir", help="where clip signatures are kept (default $HARNESS_CACHE or ~/.cache/harness)")
    dover.add_argument("--frames", type=int, default=32, help="frames hashed per clip, uniformly spread, 8 to 128 "
                                                              "(default 32)")
    dover.add_argument("--threshold", type=float, help="largest fraction of differing structure-hash bits in an "
                                                       "agreeing frame, between 0 and 1 (default 0.35; unrelated "
                                                       "frames sit near 0.5)")
    dover.add_argument("--colour-threshold", type=float, help="largest colour-layout difference of an agreeing frame, "
                                                              "a fraction of the range between 0 and 1 (default 0.03)")
    dover.add_argument("--workers", type=int, help="decoding processes, 0 to the core count (default: up to the "
                                                   "core count; 0: none)")
    dover.add_argument("--output", help="write the report as JSON (pairs with their per-frame evidence, splits, "
                                        "labels; the input of overlap notes)")
    dover.add_argument("--show", type=int, default=20, help="pairs to print, 0 or more (default 20)")

    log = sub.add_parser("log", help="log finished runs (results files) to experiment trackers")
    plugin_options(log)
    log.add_argument("files", nargs="+", help="results files (their per-sample logs beside them go too)")
    log.add_argument("--to", action="append", default=[], metavar="NAME",
                     help="a tracker to log to with no arguments, e.g. trackio (repeatable)")
    tracker_options(log)

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
    pub.add_argument("--force", action="store_true",
                     help="publish into a non-empty folder or branch that publishing did not create: the site is "
                          "added beside what is there (files of the same name are overwritten, nothing is deleted)")
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
    shw.add_argument("--zero-shot", action="store_true",
                     help="rank only rows whose model was not trained on the benchmark (the floors stay)")
    bld = lb_sub.add_parser("build", help="regenerate a board from a reported file plus the computed floors "
                                          "(the tracked leaderboard/leaderboard.json is built this way)")
    bld.add_argument("--reported", default="leaderboard/reported.yaml")
    bld.add_argument("--board", default="leaderboard/leaderboard.json")
    return parser


