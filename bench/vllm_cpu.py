"""vLLM's CPU build against transformers on the same twin, on this machine's CPU (run by hand in the venv
`make vllm` builds, never in tests): CPU figures only; the GPU figures belong to bench/gpu_scale.py.

    .venv-vllm/bin/python bench/vllm_cpu.py [--clips 48] [--family qwen2.5-vl] [--width 128]

Each backend runs the same task in score mode with the response cache off: start-up (the engine or the
weights), the evaluation loop, clips/s of the loop, and the whole run, from the results' timing. vLLM runs
with dtype=float32, as the transformers plugin does on a CPU, and 0.1 of the memory for its KV cache.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from pathlib import Path

from tabulate import tabulate

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import evaluator, host  # noqa: E402
from harness.params import TaskSpec  # noqa: E402
from harness.results import package_versions  # noqa: E402
from harness.testing.checkpoints import build  # noqa: E402


def run(model: str, args: dict, clips: int, out: Path) -> dict:
    config = evaluator.RunConfig(tasks=[TaskSpec("synthetic", {"n": clips, "seed": 4})], model=model, model_args=args,
                                 output_path=out, progress=False, bootstrap=0, response_cache=False)
    doc = evaluator.evaluate(host.load([]), config).document
    timing = doc["timings"]
    return {"startup_s": round(timing["startup_s"], 1), "loop_s": round(timing["loop_s"], 1),
            "clips_per_s": round(clips / timing["loop_s"], 2), "total_s": round(timing["total_s"], 1),
            "uar": doc["tasks"][f"synthetic:n={clips},seed=4"]["metrics"]["uar"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=48)
    ap.add_argument("--family", default="qwen2.5-vl")
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--out", default="bench/results/vllm_cpu.json")
    opts = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="harness-bench-"))
    twin = str(build(opts.family, work / "twin", width=opts.width))
    rows = {
        "transformers (hf)": run("hf", {"pretrained": twin, "mode": "score", "batch_size": 8}, opts.clips, work / "hf"),
        "vLLM in-process": run("vllm", {"pretrained": twin, "mode": "score", "dtype": "float32", "max_model_len": 4096,
                                        "gpu_memory_utilization": 0.1}, opts.clips, work / "vllm"),
    }
    print(tabulate([[k, *v.values()] for k, v in rows.items()],
                   headers=["backend", "start-up s", "loop s", "clips/s", "total s", "UAR"]))
    result = {"what": f"score mode, synthetic:n={opts.clips}, {opts.family} twin of width {opts.width}, CPU only",
              "machine": {"cores": __import__("os").cpu_count(), "platform": platform.platform()},
              "packages": package_versions("vllm-cpu", "torch", "transformers"), "rows": rows,
              "loop_ratio_vllm_over_hf": round(rows["vLLM in-process"]["clips_per_s"] /
                                               rows["transformers (hf)"]["clips_per_s"], 2)}
    Path(opts.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {opts.out}")


if __name__ == "__main__":
    main()
