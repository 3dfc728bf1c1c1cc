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


def run_config(args, argv: list[str], context: Context, started: float | None):
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
                   answer_format=args.answer_format,
                   frame_cache=not args.no_frame_cache, response_cache=not args.no_cache,
                   prefetch=not args.no_prefetch, shard=shard_of(args.shard), started=started)
    return RunConfig(
        tasks=parse_tasks(args.tasks), model=args.model, model_args=parse_kv(args.model_args, "model argument"),
        limit=args.limit, seed=args.seed, batch_size=args.batch_size, output_path=Path(args.output_path),
        decode_workers=args.decode_workers, progress=not args.no_progress and sys.stderr.isatty(),
        command=["harness", *argv], cache_dir=context.cache_dir, data_dir=context.data_dir,
        bootstrap=args.bootstrap, frames=args.frames, prompt=args.prompt, strategy=args.strategy,
        reasoning_tags=args.reasoning_tags, **own)
