"""Throughput of the served path against the loopback test server (run by hand, never in tests).

    python bench/served.py [--clips 100] [--repeats 3]

The test server (tests/openai_test_server.py) answers with a tiny Qwen2.5-VL on the
CPU, one model call at a time; the client sends the frames as JPEG data URLs. The
figure is clips/s of the evaluation loop at max_concurrency 1 and 8 (frames cached,
response cache off), medians of --repeats runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from tabulate import tabulate

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import evaluator, host  # noqa: E402
from harness.params import TaskSpec  # noqa: E402
from harness.testing.checkpoints import build  # noqa: E402
from tests.openai_test_server import Server  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--server-delay", type=float, default=0.0,
                    help="seconds the server waits per request before answering (network or queue latency)")
    ap.add_argument("--out", default="bench/results/served.json")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="harness-bench-"))
    server = Server(str(build("qwen2.5-vl", work / "ckpt")), delay=args.server_delay)
    url = server.start()
    rows, records = [], []
    for concurrency in (1, 8):
        runs = []
        for _ in range(args.repeats + 1):
            config = evaluator.RunConfig(
                tasks=[TaskSpec("synthetic", {"n": args.clips, "seed": 6})], model="vllm-server",
                model_args={"base_url": url, "model": "tiny", "max_concurrency": concurrency},
                output_path=work / "out", progress=False, cache_dir=work, response_cache=False, bootstrap=0)
            doc = evaluator.evaluate(host.load([]), config).document
            runs.append(next(iter(doc["tasks"].values()))["timings"]["wall_s"])
        seconds = statistics.median(runs[1:])  # the first run fills the frame cache
        rows.append([concurrency, f"{args.clips / seconds:.1f}", f"{1000 * seconds / args.clips:.1f}"])
        records.append({"max_concurrency": concurrency, "seconds": seconds, "clips_per_s": args.clips / seconds})
    server.stop()
    print(f"{args.clips} clips, tiny Qwen2.5-VL behind the loopback server (+{args.server_delay}s latency), "
          f"medians of {args.repeats}")
    print(tabulate(rows, headers=["max_concurrency", "clips/s", "ms/clip"], disable_numparse=True))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"clips": args.clips, "server_delay_s": args.server_delay, "results": records},
                              indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
