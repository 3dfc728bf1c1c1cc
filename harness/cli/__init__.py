"""The ``harness`` command: parse (:mod:`.parser`), run one subcommand (:mod:`.commands`), print
(:mod:`.display`); the work itself lives in the library.

Exit codes: 0 success, 1 evaluation errors (failed samples, invalid files),
2 usage errors (unknown names, bad arguments).
"""

from __future__ import annotations

import os
import sys
import time

import harness
from harness.cli import commands
from harness.cli.commands import EXIT_EVAL, EXIT_OK, EXIT_USAGE
from harness.cli.parser import build_parser
from harness.errors import HarnessError, UsageError
from harness.redact import RedactingStream

_started: float | None = None  # when this command started: the harness's import for the process's first

__all__ = ["main", "build_parser", "EXIT_OK", "EXIT_EVAL", "EXIT_USAGE"]


def main(argv: list[str] | None = None) -> int:
    global _started
    # A command's start-up counts from the harness's import; a later call in the same process (a
    # library user, the tests) from its own start.
    _started = harness.STARTED if _started is None else time.perf_counter()
    argv = sys.argv[1:] if argv is None else list(argv)
    # `run --config FILE`: the file supplies options (--tasks, --model, ...) the parser would miss
    from_file = argv[:1] == ["run"] and any(a == "--config" or a.startswith("--config=") for a in argv[1:])
    args = None if from_file else build_parser().parse_args(argv)
    # What the command prints passes a filter that masks secrets (URL credentials, an API key a
    # server echoes): the terminal and CI logs are written too.
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = RedactingStream(out), RedactingStream(err)
    try:
        if from_file:
            return _dispatch(lambda: commands.cmd_run_file(argv, _started))
        return _dispatch(lambda: getattr(commands, f"cmd_{args.command}")(args, argv, _started))
    finally:
        sys.stdout, sys.stderr = out, err


def _dispatch(command) -> int:
    try:
        return command()
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
