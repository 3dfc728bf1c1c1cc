"""From parsed options to what the commands run with: the plugin host and a run's settings."""

from __future__ import annotations

import sys
from pathlib import Path

from harness.context import Context
from harness.errors import UsageError


def host_of(args):
    """The plugin host of a command, with its context (cache, data, include paths) from the options;
    plugin problems are warnings, never fatal."""
    from harness import host as plugin_host

    context = Context.from_options(getattr(args, "cache_dir", None), getattr(args, "data_dir", None),
                                   getattr(args, "include_path", []))
    host = plugin_host.load(getattr(args, "plugins", []), context=context)
    for problem in host.problems:
        print(f"harness: warning: {problem}", file=sys.stderr)
    return host


_POSITIONAL = {"files", "inputs", "name", "model", "what", "task_a", "task_b"}


def _flag(name: str) -> str:
    return name if name in _POSITIONAL else "--" + name.replace("_", "-")


def _text_options(args) -> None:
    """Every text option is valid UTF-8 (the shell hands undecodable bytes through as surrogates, which
    no results file, board or log can hold) and holds no NUL byte."""
    for name, value in sorted(vars(args).items()):
        for item in value if isinstance(value, list) else [value]:
            if not isinstance(item, str):
                continue
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                shown = item.encode("utf-8", "surrogateescape")
                raise UsageError(f"{_flag(name)} {shown!r}: not valid UTF-8; the harness records its options and "
                                 f"paths as text, so use a UTF-8 name") from None
            if "\0" in item:
                raise UsageError(f"{_flag(name)}: a NUL byte cannot be part of an option")


def _whole(args, name: str, low: int, high: int | None = None) -> None:
    value = getattr(args, name, None)
    if value is not None and (value < low or (high is not None and value > high)):
        span = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise UsageError(f"{_flag(name)} must be {span}, got {value}")


def _existing_folder(args, name: str, create: bool = False, must_exist: bool = False) -> None:
    """The folder option ``name``: never a file; ``create``: writable (made later); ``must_exist``: there.
    (A data folder that is not there is left to the task, which says where it looked and what layout it
    expects.)"""
    from harness.plan import check_folder

    value = getattr(args, name, None)
    for item in value if isinstance(value, list) else [value]:
        if item is None:
            continue
        if must_exist and not Path(item).expanduser().is_dir():
            raise UsageError(f"{_flag(name)} {item}: {'not a folder' if Path(item).exists() else 'no such folder'}")
        check_folder(item, _flag(name), create=create)


def _file_target(path: str | None, flag: str) -> None:
    """A file the command will write: not a folder, in a folder that exists or can be made."""
    from harness.plan import check_folder

    if path is None:
        return
    if Path(path).is_dir():
        raise UsageError(f"{flag} {path}: is a folder; name a file")
    check_folder(Path(path).expanduser().parent, flag)


def check(args) -> None:
    """Every option of the command, checked before any work (plugins, data, models): numbers in their
    ranges, folders that are folders and writable, targets that can be written, text that is UTF-8. A
    usage error (exit code 2, one line) names the option."""
    from harness.plan import MAX_BOOTSTRAP, MAX_DECODE_WORKERS, MAX_SEED

    _text_options(args)
    command, action = args.command, getattr(args, "action", None)
    if command in ("run", "diagnose"):
        _whole(args, "limit", 1)
        _whole(args, "batch_size", 1)
        _whole(args, "bootstrap", 0, MAX_BOOTSTRAP)
        _whole(args, "decode_workers", 0, MAX_DECODE_WORKERS)
        _whole(args, "seed", 0, MAX_SEED)
        _whole(args, "shards", 1, 4096)
        _whole(args, "max_retries", 0, 1000)
        _existing_folder(args, "output_path", create=True)
        _existing_folder(args, "cache_dir", create=True)
        _existing_folder(args, "data_dir")
        _existing_folder(args, "include_path", must_exist=True)
        if args.frames:
            from harness.frames.sampling import frame_changes
            frame_changes(args.frames)
        if command == "run":
            shard_of(args.shard)
        if args.shard_resources:
            from harness.launch.ray import parse_resources  # imports no Ray: the text is only read
            parse_resources(args.shard_resources)
    elif command in ("list", "show"):
        _existing_folder(args, "include_path", must_exist=True)
        _existing_folder(args, "data_dir")
        if command == "show":
            _existing_folder(args, "cache_dir", create=True)
    elif command == "data" and action == "check":
        _existing_folder(args, "include_path", must_exist=True)
        _existing_folder(args, "data_dir")
        _whole(args, "decode", 0, 100_000)
        _whole(args, "seed", 0, MAX_SEED)
    elif command == "compare":
        _whole(args, "rounds", 1, MAX_BOOTSTRAP)
        _whole(args, "seed", 0, MAX_SEED)
        _file_target(args.csv, "--csv")
        _file_target(args.json, "--json")
    elif command == "report":
        _existing_folder(args, "output", create=True)
    elif command == "merge":
        _existing_folder(args, "output_path", create=True)
    elif command == "cache":
        from harness.plan import check_folder
        check_folder(Context.from_options(args.cache_dir).cache_dir, "--cache-dir", create=False)
    elif command == "leaderboard":
        if Path(args.board).is_dir():
            raise UsageError(f"--board {args.board}: is a folder; name the board's JSON file")
        if action in ("add", "report", "build"):
            _file_target(args.board, "--board")
        if action == "publish":
            _publish_target(args.to)
        if action == "serve":
            from harness.publish import check_port
            check_port(args.port)
        if action == "export-eval-results":
            _existing_folder(args, "out", create=True)
            for item in args.dataset_id:
                task, sep, repo = item.partition("=")
                if not sep or not task.strip() or repo.count("/") != 1 or not all(repo.split("/")):
                    raise UsageError(f"--dataset-id {item!r}: expected TASK=ORG/NAME (e.g. dfew=my-lab/dfew)")


def _publish_target(target: str) -> None:
    from harness.plan import check_folder
    from harness.publish import check_git_target

    if target.startswith("git:"):
        remote, _, branch = target[4:].partition("#")
        check_git_target(remote, branch or "gh-pages")
    elif target.startswith("hf:"):
        kind, _, repo_id = target[3:].partition("/")
        if kind not in ("datasets", "spaces") or repo_id.count("/") != 1 or not all(repo_id.split("/")):
            raise UsageError(f"--to {target}: expected hf:datasets/ORG/NAME (or hf:spaces/ORG/NAME)")
    elif not target.strip():
        raise UsageError("--to: name a folder, git:REMOTE[#BRANCH] or hf:datasets/ORG/NAME")
    else:
        check_folder(target, "--to")


def shard_of(text: str | None) -> tuple[int, int] | None:
    """``--shard i/N`` as (i, N)."""
    if not text:
        return None
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise UsageError(f"--shard takes i/N (e.g. 0/4), got {text!r}") from None
    if n < 1 or not 0 <= i < n:
        raise UsageError(f"--shard {text}: need 0 <= i < N")
    return i, n


def run_config(args, argv: list[str], started: float | None):
    """The settings of ``harness run`` or ``harness diagnose`` (the options they share, declared once
    in :func:`harness.cli.parser.run_options`, and ``run``'s own where given)."""
    from harness.params import parse_kv, parse_tasks
    from harness.plan import RunConfig

    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    if args.batch_size is not None and args.batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    own = {}
    if args.command == "run":
        own = dict(log_samples=args.log_samples, strict=args.strict, choice_order=args.choice_order,
                   answer_format=args.answer_format, overlap_reports=tuple(args.overlap_report),
                   training_data=tuple(t.strip() for t in (args.training_data or "").split(",") if t.strip()),
                   frame_cache=not args.no_frame_cache, response_cache=not args.no_cache,
                   prefetch=not args.no_prefetch, shard=shard_of(args.shard), started=started)
    config = RunConfig(
        tasks=parse_tasks(args.tasks), model=args.model, model_args=parse_kv(args.model_args, "model argument"),
        limit=args.limit, seed=args.seed, batch_size=args.batch_size, output_path=Path(args.output_path),
        decode_workers=args.decode_workers, progress=not args.no_progress and sys.stderr.isatty(),
        command=["harness", *argv],
        # only what the options named: a Ray worker's cache is its own unless --cache-dir was given
        cache_dir=Path(args.cache_dir).resolve() if args.cache_dir else None,
        data_dir=Path(args.data_dir).resolve() if args.data_dir else None,
        bootstrap=args.bootstrap, frames=args.frames, audio=args.audio, prompt=args.prompt, strategy=args.strategy,
        reasoning_tags=args.reasoning_tags, **own)
    from harness.plan import check_config
    check_config(config)  # the run's numbers, frames, tags and folders: before any work, local or on a cluster
    return config
