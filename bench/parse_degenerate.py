"""How long the answer parser takes on degenerate answers (issue 33, item 9).

    python bench/parse_degenerate.py [--sizes 10000,100000,1000000] [--timeout 60]
                                     [--parser FILE --label before] [--out bench/results/parse_degenerate.json]

Reasoning models with long budgets write loops: runs of newlines, "Final answer: " over and
over, "wait, actually" a thousand times, a <think> that never closes. Parsing runs inline in the
evaluator, so one such answer must not stall a run. Each shape below is built at each size (in
characters) and parsed once, in its own subprocess with a timeout (a quadratic parser would
otherwise take hours at 1M characters); a case that times out is recorded as ">T s". The table
gives seconds per shape and size, and the reading (prediction and rule), which must not depend on
the size.

``--parser FILE`` times another copy of harness/parsing.py (e.g. the one before a fix) and
``--label`` names the key its figures go under in the JSON (default ``after``); the other labels
already in the file are kept, so the before and after figures sit side by side.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "bench" / "results" / "parse_degenerate.json"


def _repeat(unit: str, size: int, head: str = "", tail: str = "") -> str:
    """``unit`` repeated whole (never cut in the middle) between ``head`` and ``tail``: about ``size`` characters."""
    return head + unit * max(1, (size - len(head) - len(tail)) // len(unit)) + tail


#: shape -> (description, builder(size) -> text, lettered prompt?)
SHAPES = {
    "newlines": ('"happy" + "\\n" * N + "x"', lambda n: _repeat("\n", n, "happy", "x"), False),
    "final_answer": ('"Final answer: " repeated', lambda n: _repeat("Final answer: ", n), False),
    "class_names": ('"happy sad angry " repeated', lambda n: _repeat("happy sad angry ", n), False),
    "same_class": ('"happy " repeated', lambda n: _repeat("happy ", n), False),
    "wait_actually": ('"sad. wait, actually " repeated, then "happy"',
                      lambda n: _repeat("sad. wait, actually ", n, "", "happy"), False),
    "not_or_list": ('"not happy or sad or angry or ..." then ". fear"',
                    lambda n: _repeat("happy or sad or angry or ", n, "not ", "surprise. fear"), False),
    "unclosed_think": ('"<think>" + "hmm, maybe happy " repeated', lambda n: _repeat("hmm, maybe happy ", n, "<think>"),
                       False),
    "whitespace": ('"happy" + " " * N + "x"', lambda n: _repeat(" ", n, "happy", "x"), False),
    "option_b": ('"option B " repeated (lettered prompt)', lambda n: _repeat("option B ", n), True),
    "sentences": ('"Let me think. " repeated, then "Answer: sad"',
                  lambda n: _repeat("Let me think. ", n, "", "Answer: sad"), False),
    "periods": ('"happy" + ". " * N', lambda n: _repeat(". ", n, "happy"), False),
    "think_tags": ('"<think>" repeated, never closed', lambda n: _repeat("<think>", n), False),
    "answer_tags": ('"<answer>sad" repeated, never closed', lambda n: _repeat("<answer>sad", n), False),
    "conclusions": ('"So, " repeated, then "sad"', lambda n: _repeat("So, ", n, "", "sad"), False),
}


def _load(parser_file: str | None):
    if parser_file is None:
        from harness import parsing
        return parsing
    spec = importlib.util.spec_from_file_location("parsing_under_test", parser_file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def run_case(shape: str, size: int, parser_file: str | None) -> dict:
    """Parse one degenerate answer here and now; what the subprocess prints."""
    from harness.emotions import BASIC7, SYNONYMS
    parsing = _load(parser_file)
    parser = parsing.AnswerParser(BASIC7, SYNONYMS)
    _, build, lettered = SHAPES[shape]
    text = build(size)
    start = time.perf_counter()
    parsed = parser.parse(text, letters=BASIC7 if lettered else None)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "prediction": parsed.prediction, "rule": parsed.rule, "chars": len(text)}


def time_case(shape: str, size: int, parser_file: str | None, timeout: float) -> dict:
    cmd = [sys.executable, __file__, "--case", shape, str(size)] + (["--parser", parser_file] if parser_file else [])
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"seconds": f">{timeout:g} s", "prediction": None, "rule": None}
    if done.returncode != 0:
        return {"seconds": None, "error": done.stderr.strip().splitlines()[-1:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _fmt(seconds) -> str:
    if isinstance(seconds, (int, float)):
        return f"{seconds:.4f}"
    return str(seconds)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,1000000", help="answer lengths in characters, comma-separated")
    ap.add_argument("--shapes", default=",".join(SHAPES), help="which shapes, comma-separated")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds each case may take")
    ap.add_argument("--parser", default=None, help="another copy of harness/parsing.py to time")
    ap.add_argument("--label", default="after", help="the key the figures go under in the JSON")
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    ap.add_argument("--case", nargs=2, metavar=("SHAPE", "SIZE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.case:
        print(json.dumps(run_case(args.case[0], int(args.case[1]), args.parser)))
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    shapes = [s for s in args.shapes.split(",") if s]
    figures: dict[str, dict[str, object]] = {}
    readings: dict[str, dict[str, object]] = {}
    print(f"{'shape':<16}" + "".join(f"{size:>14,}" for size in sizes) + "   reading")
    for shape in shapes:
        figures[shape], readings[shape] = {}, {}
        cells = []
        for size in sizes:
            got = time_case(shape, size, args.parser, args.timeout)
            figures[shape][str(size)] = got["seconds"]
            readings[shape][str(size)] = [got.get("prediction"), got.get("rule")] if "error" not in got else got["error"]
            cells.append(_fmt(got["seconds"]))
        seen = {json.dumps(r) for r in readings[shape].values() if r != [None, None]}
        print(f"{shape:<16}" + "".join(f"{c:>14}" for c in cells) + "   " + " | ".join(sorted(seen)), flush=True)
    out = Path(args.out)
    record = json.loads(out.read_text()) if out.exists() else {}
    record.update({
        "benchmark": "bench/parse_degenerate.py",
        "what": "seconds to parse one degenerate answer (harness/parsing.py AnswerParser, BASIC7 classes and the "
                "standard synonyms), each in its own subprocess; '>T s' means it was stopped after T seconds",
        "shapes": {name: desc for name, (desc, _, _) in SHAPES.items()},
    })
    record[args.label] = {"parser": args.parser or "harness/parsing.py", "python": platform.python_version(),
                          "cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()],
                          "timeout_s": args.timeout, "seconds": figures, "readings": readings}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
