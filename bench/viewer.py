"""Render and sort times of the leaderboard viewer for a 2,000-row board in headless Chromium (by hand).

    python bench/viewer.py [--rows 2000] [--repeats 5]

The board is synthetic (measured rows with per-class recall and confusion
matrices, over 4 tasks); the page is served over HTTP as in use. Render: from
navigation to the table holding every row. Sort: one click on a column header
until the table is redrawn. Medians of the repeats.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from harness import publish, results
from harness.emotions import BASIC7


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def board(n: int) -> dict:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        recall = {c: float(rng.random()) for c in BASIC7}
        matrix = rng.integers(0, 50, size=(7, 9)).tolist()
        rows.append({"kind": "measured", "trained_on": "zero-shot", "key": f"row{i}", "model": f"model-{i:04d}",
                     "task": f"task{i % 4}",
                     "model_identity": {"id": f"model-{i}"}, "task_version": "1", "task_fingerprint": "f" * 16,
                     "frame_protocol": ["uniform8", "segment16", "fps5-max32"][i % 3], "prompt_template": "names",
                     "uar": float(np.mean(list(recall.values()))), "war": float(rng.random()),
                     "macro_f1": float(rng.random()), "uar_ci95": None, "war_ci95": None, "n": 2341,
                     "invalid_rate": 0.01, "failed": 0, "created_at": "2026-01-01", "run_id": str(i),
                     "harness_version": "0.1.0", "splits": 1, "uar_std": None, "war_std": None,
                     "per_class_recall": recall,
                     "confusion": {"rows": list(BASIC7), "columns": list(BASIC7) + ["invalid", "failed"],
                                   "matrix": matrix}})
    return {"schema_version": 1, "updated_at": None, "rows": rows}


def main() -> None:
    from playwright.sync_api import sync_playwright

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="harness-viewer-"))
    results.write_json(work / "board.json", board(args.rows), "leaderboard")
    site = publish.build_site(work / "board.json", work / "site")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    renders, sorts, draws = [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        for _ in range(args.repeats):
            page = browser.new_page()
            start = time.perf_counter()
            page.goto(url)
            page.wait_for_function(f"document.querySelectorAll('#board tbody tr').length === {args.rows}")
            renders.append(time.perf_counter() - start)
            draws.append(page.evaluate("() => window.harnessViewer.renderMs / 1000"))
            sorts.append(page.evaluate("""() => { const t0 = performance.now();
                document.querySelector('th[data-key=war]').click();
                return (performance.now() - t0) / 1000; }"""))
            page.close()
        browser.close()
    server.shutdown()
    record = {"rows": args.rows, "repeats": args.repeats, "board_bytes": (site / "leaderboard.json").stat().st_size,
              "load_and_render_s": statistics.median(renders), "table_draw_s": statistics.median(draws),
              "sort_s": statistics.median(sorts)}
    print(json.dumps(record, indent=1))
    Path("bench/results/viewer.json").write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
