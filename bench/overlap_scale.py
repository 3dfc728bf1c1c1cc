"""How ``harness data overlap`` scales, and how precise it is on clips of one face (issue 33, item 11).

    python bench/overlap_scale.py [--sizes 10000x10000,16000x39000] [--old-sizes 10000x10000]
                                  [--same-face 300] [--before-rev e80035e]
                                  [--out bench/results/overlap_scale.json]

**Scale.** Synthetic signatures at DFEW x FERV39k size (16,000 test clips of DFEW's five folds
against FERV39k's 39,000 clips) and at 10k x 10k: each clip a random still 16x16 luma picture,
colour layout and pHash, its frames that picture plus noise (a few levels, a few flipped bits),
and ``--planted`` clips of B near-copies of clips of A (noise of up to 6 levels, 3 flipped bits a
frame). Each case runs in its own process; the figures are the matching's seconds (signatures
already in memory, as after a cached run) and the process's peak resident memory
(``ru_maxrss``), next to the memory the signatures themselves take. ``new`` is the indexed
matcher of harness/overlap.py; ``old`` the quadratic matcher before the fix (8-frame signatures of
pHash and colour, every pair's structure distance), loaded from git (``--before-rev``), run at
``--old-sizes`` and extrapolated (linearly in pairs) to the sizes it was not run at.

**Precision on one face.** :func:`tests.test_overlap.same_face_set`: two sets of ``--same-face``
takes of 3 rendered faces (same face, background and camera; other expressions, timings and head
motion) and 20 planted copies re-encoded at other sizes, bitrates and frame rates, dropped frames,
cut by up to one sampling step; and the same with faces that hold still. Precision and recall of
the old rule (8 frames) and of the new one (32 frames), and the false pairs whose expressions differ.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "bench" / "results" / "overlap_scale.json"
BEFORE_REV = "e80035e"  # the commit before the fix (harness/overlap.py of hash version 1)


def _peak_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: KiB


def _old_module(rev: str):
    """harness/overlap.py as of ``rev`` (the quadratic matcher), loaded under another name."""
    text = subprocess.run(["git", "show", f"{rev}:harness/overlap.py"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout
    path = Path(tempfile.mkdtemp()) / "overlap_before.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("overlap_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def synthetic(n_a: int, n_b: int, frames: int, planted: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random signatures of two tasks: still pictures, colour and hashes per clip, each frame the
    clip's own plus noise; the first ``planted`` clips of B near-copies of clips of A."""
    rng = np.random.default_rng(seed)
    out = {}
    for side, n in (("a", n_a), ("b", n_b)):
        fine = np.empty((n, frames, 256), np.uint8)
        colour = np.empty((n, frames, 192), np.uint8)
        bits = np.empty((n, frames), np.uint64)
        for start in range(0, n, 4096):
            m = min(4096, n - start)
            base = rng.integers(16, 240, (m, 1, 256), dtype=np.int16)
            fine[start:start + m] = np.clip(base + rng.integers(-4, 5, (m, frames, 256), dtype=np.int16), 0, 255)
            hue = rng.integers(16, 240, (m, 1, 192), dtype=np.int16)
            colour[start:start + m] = np.clip(hue + rng.integers(-2, 3, (m, frames, 192), dtype=np.int16), 0, 255)
            word = rng.integers(0, 2**63, (m, 1), dtype=np.uint64)
            flips = np.uint64(1) << rng.integers(0, 64, (m, frames), dtype=np.uint64)
            bits[start:start + m] = word ^ flips
        out[f"{side}_fine"], out[f"{side}_colour"], out[f"{side}_bits"] = fine, colour, bits
    source = rng.choice(n_a, planted, replace=False)
    noise = rng.integers(-6, 7, (planted, frames, 256), dtype=np.int16)
    out["b_fine"][:planted] = np.clip(out["a_fine"][source].astype(np.int16) + noise, 0, 255)
    out["b_colour"][:planted] = np.clip(out["a_colour"][source].astype(np.int16)
                                        + rng.integers(-3, 4, (planted, frames, 192), dtype=np.int16), 0, 255)
    flips = np.zeros((planted, frames), np.uint64)
    for _ in range(3):
        flips ^= np.uint64(1) << rng.integers(0, 64, (planted, frames), dtype=np.uint64)
    out["b_bits"][:planted] = out["a_bits"][source] ^ flips
    out["source"] = source
    return out


def run_new(n_a: int, n_b: int, frames: int, planted: int) -> dict:
    from harness import overlap
    data = synthetic(n_a, n_b, frames, planted)
    sig_bytes = sum(v.nbytes for k, v in data.items() if k != "source")
    start = time.perf_counter()
    a = overlap.Side(data["a_bits"], np.zeros((n_a, frames), bool), data["a_colour"], data["a_fine"],
                     np.zeros(n_a, bool))
    b = overlap.Side(data["b_bits"], np.zeros((n_b, frames), bool), data["b_colour"], data["b_fine"],
                     np.zeros(n_b, bool))
    stacked = time.perf_counter() - start
    stats: dict[str, int] = {}
    start = time.perf_counter()
    found = overlap.match(a, b, stats=stats)
    seconds = time.perf_counter() - start
    truth = set(zip(data["source"].tolist(), range(planted)))
    got = {(m.a, m.b) for m in found}
    return {"method": "new (indexed, frame by frame)", "clips_a": n_a, "clips_b": n_b, "frames": frames,
            "seconds": round(seconds, 2), "seconds_stacking": round(stacked, 2), "peak_rss_mib": _peak_mib(),
            "signatures_mib": round(sig_bytes / 2**20, 1), "candidates": stats["candidates"],
            "candidate_share": round(stats["candidates"] / (n_a * n_b), 8), "appearance": stats["appearance"],
            "matches": len(found), "planted": planted, "planted_found": len(got & truth)}


def run_old(n_a: int, n_b: int, planted: int, rev: str) -> dict:
    old = _old_module(rev)
    frames = 8
    data = synthetic(n_a, n_b, frames, planted)
    sig_bytes = sum(data[f"{s}_{k}"].nbytes for s in "ab" for k in ("bits", "colour"))
    found = {}
    clips = {}
    for side, n in (("a", n_a), ("b", n_b)):
        colour = data[f"{side}_colour"].reshape(n, frames, 8, 8, 3)
        clips[side] = [old.Clip(side, "test", f"{side}{i}", "", f"{side}{i}") for i in range(n)]
        for i, clip in enumerate(clips[side]):
            found[clip.media] = old.Signature(bits=data[f"{side}_bits"][i], flat=np.zeros(frames, bool),
                                              colour=colour[i])
    start = time.perf_counter()
    pairs = old.find_pairs(clips["a"], clips["b"], found)
    seconds = time.perf_counter() - start
    truth = {(f"a{s}", f"b{i}") for i, s in enumerate(data["source"].tolist())}
    return {"method": "old (quadratic, 8 frames)", "clips_a": n_a, "clips_b": n_b, "frames": frames,
            "seconds": round(seconds, 2), "peak_rss_mib": _peak_mib(), "signatures_mib": round(sig_bytes / 2**20, 1),
            "matches": len(pairs), "planted": planted,
            "planted_found": len({(p.a.id, p.b.id) for p in pairs} & truth)}


def run_same_face(clips: int, copies: int, still: bool, rev: str, workdir: str) -> dict:
    sys.path.insert(0, str(ROOT / "tests"))
    import test_overlap  # the generator the tests use

    from harness import overlap
    old = _old_module(rev)
    root = Path(workdir) / f"one_face_{clips}_{int(still)}"
    start = time.perf_counter()
    a, b, truth = test_overlap.same_face_set(root, clips, copies, still=still)
    made = time.perf_counter() - start
    out = {"clips_a": len(a), "clips_b": len(b), "planted": len(truth), "faces": 3, "still": still,
           "seconds_rendering": round(made, 1)}
    found, failed = old.signatures([*a, *b], 8, cache_dir=root / ".cache", workers=0)
    start = time.perf_counter()
    out["old"] = {"frames": 8, **test_overlap.score(old.find_pairs(a, b, found), truth),
                  "seconds_matching": round(time.perf_counter() - start, 2)}
    found, failed = overlap.signatures([*a, *b], overlap.DEFAULT_FRAMES, cache_dir=root / ".cache", workers=0)
    stats: dict[str, int] = {}
    start = time.perf_counter()
    out["new"] = {"frames": overlap.DEFAULT_FRAMES,
                  **test_overlap.score(overlap.find_pairs(a, b, found, stats=stats), truth),
                  "seconds_matching": round(time.perf_counter() - start, 2), "candidates": stats["candidates"]}
    return out


def _case(args: list[str], timeout: float) -> dict:
    cmd = [sys.executable, __file__, "--case", *args]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"error": f"stopped after {timeout:g} s"}
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _sizes(text: str) -> list[tuple[int, int]]:
    return [tuple(int(x) for x in item.split("x")) for item in text.split(",") if item]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000x10000,16000x39000", help="A x B clip counts for the new matcher")
    ap.add_argument("--old-sizes", default="10000x10000", help="A x B clip counts for the old matcher ('' for none)")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--planted", type=int, default=200)
    ap.add_argument("--same-face", type=int, default=300, help="takes per set of the one-face sets (0: skip)")
    ap.add_argument("--copies", type=int, default=20, help="planted copies in the one-face sets")
    ap.add_argument("--before-rev", default=BEFORE_REV, help="git revision of harness/overlap.py before the fix")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds each case may take")
    ap.add_argument("--workdir", default=None, help="where the one-face clips are written (default: a temp dir)")
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    ap.add_argument("--case", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.case:
        kind, rest = args.case[0], args.case[1:]
        if kind == "new":
            result = run_new(int(rest[0]), int(rest[1]), args.frames, args.planted)
        elif kind == "old":
            result = run_old(int(rest[0]), int(rest[1]), args.planted, args.before_rev)
        else:
            result = run_same_face(int(rest[0]), args.copies, rest[1] == "still", args.before_rev, rest[2])
        print(json.dumps(result))
        return 0
    common = ["--frames", str(args.frames), "--planted", str(args.planted), "--before-rev", args.before_rev,
              "--copies", str(args.copies)]
    scale = []
    for n_a, n_b in _sizes(args.sizes):
        row = _case(["new", str(n_a), str(n_b), *common], args.timeout)
        print(json.dumps(row), flush=True)
        scale.append(row)
    old_rows = []
    for n_a, n_b in _sizes(args.old_sizes):
        row = _case(["old", str(n_a), str(n_b), *common], args.timeout)
        print(json.dumps(row), flush=True)
        old_rows.append(row)
    measured = [r for r in old_rows if "seconds" in r]
    if measured:
        per_pair = measured[-1]["seconds"] / (measured[-1]["clips_a"] * measured[-1]["clips_b"])
        for n_a, n_b in _sizes(args.sizes):
            if not any(r["clips_a"] == n_a and r["clips_b"] == n_b for r in measured):
                old_rows.append({"method": "old (quadratic, 8 frames)", "clips_a": n_a, "clips_b": n_b,
                                 "seconds_extrapolated": round(per_pair * n_a * n_b, 1),
                                 "note": f"not run: {measured[-1]['clips_a']}x{measured[-1]['clips_b']}'s seconds per "
                                         f"pair times {n_a}x{n_b} pairs"})
    one_face = []
    if args.same_face:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = args.workdir or tmp
            for still in ("moving", "still"):
                row = _case(["face", str(args.same_face), still, workdir, *common], args.timeout)
                print(json.dumps(row), flush=True)
                one_face.append(row)
    out = Path(args.out)
    record = {
        "benchmark": "bench/overlap_scale.py",
        "what": "harness data overlap: matching time and peak memory on synthetic signatures (new: indexed, frame "
                "by frame; old: quadratic, before the fix), and precision/recall on sets of clips of one face",
        "python": platform.python_version(), "numpy": np.__version__, "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "scale": {"new": scale, "old": old_rows},
        "one_face": one_face,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
