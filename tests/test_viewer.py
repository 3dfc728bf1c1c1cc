"""The leaderboard viewer in a real browser (Chromium driven by Playwright), and publishing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from harness import leaderboard, publish, results
from tests.conftest import evaluate_once

REPO = Path(__file__).parent.parent
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is part of the test install")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed ('make test' installs it)")
HOSTILE = '<img src=x onerror="alert(1)">'


@pytest.fixture(scope="module")
def board(tmp_path_factory, cache_dir):
    """The demo board: three baselines on the synthetic task, a hostile model name, the listening control
    with ``--audio on`` (a video+audio row), the reported rows."""
    out = tmp_path_factory.mktemp("viewer-board")
    paths = []
    for model in ("majority", "prior", "uniform"):
        evaluate_once(out / model, model=model)
        paths.append(next((out / model).glob("results_*.json")))
    doc = json.loads(paths[2].read_text())
    doc["model"]["name"] = HOSTILE
    doc["run_id"] = "hostile"
    hostile = out / "hostile.json"
    results.write_json(hostile, doc, "results")
    # a real --audio on run: the listening control on the synthetic clips with sound (a video+audio row)
    evaluate_once(out / "listener", model="synthetic-listener", tasks="synthetic:n=7,seed=3,sound=true", audio="on")
    audio = next((out / "listener").glob("results_*.json"))
    board = out / "board.json"
    leaderboard.add(board, paths + [hostile, audio])
    leaderboard.add_reported(board, REPO / "leaderboard" / "reported.yaml")
    return board


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                                          "--disable-component-update", "--no-first-run"])
        yield browser
        browser.close()


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(folder: Path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def open_site(browser, folder: Path):
    server, url = serve(folder)
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.dialogs = []
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    page.goto(url)
    page.wait_for_selector("#board tbody tr")
    return page, server


@pytest.fixture
def page(browser, board, tmp_path):
    """The demo board's site with every row ranked ("zero-shot only", on by default, unchecked: the
    demo's measured rows state no exposure)."""
    page, server = open_site(browser, publish.build_site(board, tmp_path / "site"))
    page.uncheck("#zeroshot")
    yield page
    page.close()
    server.shutdown()


def column(page, key: str) -> list[str]:
    return page.eval_on_selector_all(f"#board tbody td[data-key={key}]", "cells => cells.map(c => c.textContent)")


def test_the_board_renders_every_kind_and_marks_reported_rows(page, board):
    rows = leaderboard.load_board(board)["rows"]
    assert page.locator("#board tbody tr").count() == len(rows)
    reported = sum(1 for r in rows if r["kind"] == "reported")
    assert reported >= 18 and page.locator("#board tbody tr.reported").count() == reported
    tasks = {r["task"] for r in rows if r["kind"] != "baseline"}
    # chance and majority per task: the measured tasks' from their results, dfew, ferv39k and mafw from published counts
    assert page.locator("#board tbody tr.baseline").count() == 2 * len(tasks) == 10
    assert page.locator("#board tbody tr.baseline .badge.computed").count() == 6
    assert "rows" in page.text_content("#status")
    if os.environ.get("HARNESS_SCREENSHOTS"):
        page.screenshot(path=str(Path(os.environ["HARNESS_SCREENSHOTS"]) / "viewer.png"), full_page=True)


def test_sorting_by_any_column(page):
    page.click("th[data-key=war]")
    wars = [float(x) for x in column(page, "war")]
    assert wars == sorted(wars, reverse=True)
    page.click("th[data-key=war]")
    assert [float(x) for x in column(page, "war")] == sorted(wars)
    page.click("th[data-key=model]")
    models = page.eval_on_selector_all("#board tbody td[data-key=model]", "cells => cells.map(c => c.dataset.value)")
    assert models == sorted(models)


def test_filters_by_kind_task_and_model(page):
    page.uncheck("input.kind[value=reported]")
    assert page.locator("#board tbody tr.reported").count() == 0
    page.check("input.kind[value=reported]")
    page.select_option("#task", "mafw")
    assert set(column(page, "task")) == {"mafw"}
    page.select_option("#task", "")
    page.fill("#search", "omni")
    assert {m.split("reported")[0] for m in column(page, "model")} == {"R1-Omni-0.5B", "HumanOmni-0.5B"}


def test_the_input_modality_is_shown_and_filters_rows(page, board):
    rows = leaderboard.load_board(board)["rows"]
    shown = column(page, "modality")
    assert len(shown) == len(rows) and set(shown) == {"video", "video+audio", "features", "-"}  # -: baselines
    assert [r.get("modality") or "-" for r in rows].count("video+audio") == shown.count("video+audio")
    options = page.eval_on_selector_all("#modality option", "os => os.map(o => o.value)")
    assert options == ["", "features", "video", "video+audio"]
    page.select_option("#modality", "video+audio")
    audio = [r for r in rows if r.get("modality") == "video+audio"]
    assert len(audio) >= 11 and page.locator("#board tbody tr").count() == len(audio)
    assert set(column(page, "modality")) == {"video+audio"}
    assert page.locator("#board tbody tr.measured").count() == 1  # the --audio on run, beside reported rows
    assert page.locator("#board tbody tr.baseline").count() == 0  # baselines take no input
    assert set(column(page, "frame_protocol")) >= {"uniform8+audio16k", "not stated"}
    assert f"{len(audio)} of {len(rows)} rows" in page.text_content("#status")
    page.locator("#board tbody tr.measured").first.click()
    assert "input: video+audio" in page.text_content("#details")
    page.select_option("#modality", "features")
    assert [m.split("reported")[0] for m in column(page, "model")] == ["Emotion-LLaMA"]
    page.select_option("#modality", "video")
    assert set(column(page, "modality")) == {"video"} and "uniform8+audio16k" not in column(page, "frame_protocol")
    page.select_option("#modality", "")
    assert page.locator("#board tbody tr").count() == len(rows)


def test_a_row_opens_its_details(page):
    page.fill("#search", "majority")
    page.locator("#board tbody tr.measured").first.click()
    details = page.locator("#details")
    assert details.is_visible() and "recall by class" in details.text_content()
    assert page.locator("#details table.confusion tr").count() == 8  # header + 7 classes
    page.fill("#search", "Exp-CLIP")
    page.locator("#board tbody tr.reported").first.click()
    link = page.locator("#details a")
    assert link.get_attribute("href") == "https://github.com/zengqunzhao/Exp-CLIP/blob/HEAD/ExpCLIP_L14.txt"
    assert "Expression Ensemble Ten" in details.text_content()


def test_hostile_names_stay_text(page):
    page.fill("#search", "img")
    assert HOSTILE in page.locator("#board tbody tr").first.text_content()
    page.locator("#board tbody tr").first.click()
    assert page.locator("img").count() == 0 and page.dialogs == []


def test_an_empty_board(browser, tmp_path):
    empty = tmp_path / "empty.json"
    results.write_json(empty, leaderboard.empty_board(), "leaderboard")
    server, url = serve(publish.build_site(empty, tmp_path / "site"))
    page = browser.new_page()
    page.goto(url)
    page.wait_for_function("document.getElementById('status').textContent.length > 0")
    assert "No rows yet" in page.text_content("#status") and page.locator("#board tbody tr").count() == 0
    page.close()
    server.shutdown()


def test_publishing_to_a_folder_a_git_remote_and_up_to_the_hub_call(board, tmp_path, monkeypatch, run_cli):
    r = run_cli("leaderboard", "publish", "--board", str(board), "--to", str(tmp_path / "site"))
    assert r.code == 0, r.err
    site = tmp_path / "site"
    assert {p.name for p in site.iterdir()} >= {"index.html", "viewer.js", "viewer.css", "leaderboard.json", "details"}
    assert len(list((site / "details").glob("*.json"))) == len(leaderboard.load_board(board)["rows"])
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    r = run_cli("leaderboard", "publish", "--board", str(board), "--to", f"git:{remote}#pages")
    assert r.code == 0, r.err
    files = subprocess.run(["git", "--git-dir", str(remote), "ls-tree", "--name-only", "pages"], check=True,
                           capture_output=True, text=True).stdout.split()
    assert {"index.html", "leaderboard.json", "viewer.js", ".nojekyll"} <= set(files)
    r = run_cli("leaderboard", "publish", "--board", str(board), "--to", f"git:{remote}#pages")
    assert r.code == 0 and "unchanged" in r.out
    calls = []

    class FakeApi:
        def upload_folder(self, **kwargs):
            calls.append((kwargs, sorted(p.name for p in Path(kwargs["folder_path"]).iterdir())))

    import huggingface_hub
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    r = run_cli("leaderboard", "publish", "--board", str(board), "--to", "hf:datasets/my-lab/dfer-board")
    assert r.code == 0, r.err
    (kwargs, names), = calls
    assert kwargs["repo_id"] == "my-lab/dfer-board" and kwargs["repo_type"] == "dataset"
    assert "leaderboard.json" in names and "index.html" in names


def test_reported_rows_are_validated(tmp_path):
    from harness.errors import DataError
    bad = tmp_path / "bad.yaml"
    bad.write_text("reported:\n  - model: X\n    task: dfew\n    uar: 40\n    war: 50\n")
    with pytest.raises(DataError, match="source"):
        leaderboard.add_reported(tmp_path / "b.json", bad)


def test_eval_results_files_for_a_model_card(board, tmp_path, run_cli):
    import yaml
    r = run_cli("leaderboard", "export-eval-results", "majority", "--board", str(board), "--out",
                str(tmp_path / ".eval_results"), "--source-url", "https://example.org/board",
                "--dataset-id", "synthetic=my-lab/synthetic-dfer")
    assert r.code == 0, r.err
    (path,) = (tmp_path / ".eval_results").glob("*.yaml")
    entries = yaml.safe_load(path.read_text())
    assert [e["dataset"]["task_id"] for e in entries] == ["uar", "war"]
    assert entries[0]["dataset"]["id"] == "my-lab/synthetic-dfer" and entries[1]["value"] == 23.33
    assert entries[0]["source"]["url"] == "https://example.org/board" and "8 frames spread evenly" in entries[0]["notes"]
    assert run_cli("leaderboard", "export-eval-results", "nobody", "--board", str(board)).code == 2


def test_only_a_relative_board_path_on_the_same_site_is_loaded(browser, board, tmp_path):
    """?board= with a data: URL, another origin, an absolute path or '..' shows no row at all: a crafted
    link cannot put made-up rows on the site's address (issue 26, item 16)."""
    import urllib.parse

    site = publish.build_site(board, tmp_path / "site")
    (site / "old").mkdir()
    fake = {"schema_version": 1, "updated_at": None, "rows": [
        {"kind": "measured", "key": "x", "model": "MADE-UP", "task": "dfew", "uar": 0.99, "war": 0.99,
         "trained_on": "zero-shot"}]}
    (site / "old" / "board.json").write_text(json.dumps(fake))
    server, url = serve(site)
    other_site = tmp_path / "other"
    other_site.mkdir()
    (other_site / "leaderboard.json").write_text(json.dumps(fake))
    other, other_url = serve(other_site)
    page = browser.new_page()
    try:
        hostile = ["data:application/json," + json.dumps(fake), other_url + "leaderboard.json",
                   other_url.replace("http:", "") + "leaderboard.json", "/leaderboard.json", "../leaderboard.json",
                   "javascript:alert(1)", "\\\\evil.example\\board.json", "old/../leaderboard.json"]
        for value in hostile:
            page.goto(url + "?board=" + urllib.parse.quote(value, safe=""))
            page.wait_for_function("document.getElementById('status').textContent.length > 0")
            assert "refusing board" in page.text_content("#status"), value
            assert page.locator("#board tbody tr").count() == 0 and "MADE-UP" not in page.text_content("#board"), value
        page.goto(url + "?board=old/board.json")  # a relative path on this site: loaded
        page.wait_for_selector("#board tbody tr")
        assert "MADE-UP" in page.text_content("#board tbody")
    finally:
        page.close()
        server.shutdown()
        other.shutdown()


# --- training exposure, the real benchmarks' floors, a table that fits (issue 35) ---


def test_only_zero_shot_rows_are_ranked_by_default_and_no_trained_row_is_unmarked(browser, board, tmp_path):
    rows = leaderboard.load_board(board)["rows"]
    page, server = open_site(browser, publish.build_site(board, tmp_path / "site"))
    try:
        assert page.is_checked("#zeroshot")  # on by default
        shown = column(page, "trained_on")
        zero_shot = [r for r in rows if r.get("trained_on") == "zero-shot"]
        floors = [r for r in rows if r["kind"] == "baseline"]
        assert set(shown) == {"zero-shot", "-"} and len(shown) == len(zero_shot) + len(floors)  # the floors stay
        assert len(zero_shot) == 4 and page.locator("#board tbody tr.trained").count() == 0
        assert f"{len(rows) - len(shown)} not zero-shot hidden" in page.text_content("#status")
        ranks = [int(x) for x in column(page, "rank")]
        assert ranks == list(range(1, len(shown) + 1))
        page.uncheck("#zeroshot")
        assert page.locator("#board tbody tr").count() == len(rows)
        trained = [r for r in rows if r.get("trained_on") in ("train-split", "overlap")]
        assert len(trained) == 2  # R1-Omni on DFEW and on MAFW
        # every row trained on its benchmark carries the mark, in every order of the table
        for key in ("uar", "war", "model", "trained_on"):
            page.click(f"th[data-key={key}]")
            cells = page.eval_on_selector_all(
                "#board tbody tr", "trs => trs.map(tr => [tr.querySelector('td[data-key=trained_on]').textContent, "
                "!!tr.querySelector('td[data-key=model] .badge.trained'), tr.classList.contains('trained')])")
            marked = [c for c in cells if c[0] in ("train-split", "overlap")]
            assert len(marked) == len(trained) and all(c[1] and c[2] for c in marked), (key, cells)
            assert not any(c[1] or c[2] for c in cells if c[0] not in ("train-split", "overlap"))
        page.select_option("#trained_on", "train-split")
        assert {m.split("reported")[0] for m in column(page, "model")} == {"R1-Omni-0.5B"}
        page.locator("#board tbody tr").first.click()
        details = page.text_content("#details")
        assert "trained on: train-split" in details and "15,306 video sample" in details
        options = page.eval_on_selector_all("#trained_on option", "os => os.map(o => o.value)")
        assert options == ["", "zero-shot", "train-split", "not-stated"]
    finally:
        page.close()
        server.shutdown()


def test_the_table_fits_1400_px_and_the_filters_hold_short_names(page, board):
    width = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert width[0] <= width[1] <= 1400, width  # no sideways scrolling at 1400 px
    labels = page.eval_on_selector_all("#protocol option", "os => os.map(o => o.textContent)")
    assert len(labels) > 3 and max(map(len, labels)) <= 24, labels
    assert page.evaluate("document.getElementById('protocol').offsetWidth") < 250
    page.check("#extra")  # the long text stays behind "more columns"
    assert page.locator("th[data-key=per_class_recall]").is_visible()
    page.uncheck("#extra")
    assert not page.locator("th[data-key=per_class_recall]").is_visible()
    # a reported row's full protocol sentence is in its details
    page.fill("#search", "GPT-4o")
    page.locator("#board tbody tr").first.click()
    assert "does not say whether the evaluation is zero-shot" in page.text_content("#details")


def test_a_published_floor_opens_its_counts_per_split(page):
    page.select_option("#task", "dfew")
    page.fill("#search", "majority")
    page.locator("#board tbody tr.baseline").first.click()
    details = page.text_content("#details")
    assert "computed: always answering the training split's most frequent class (neutral)" in details
    assert page.locator("#details table.splits tr").count() == 6  # header + 5 folds
    assert "annotation/DFEW_set_3_test.txt" in details


def test_a_fresh_clone_publishes_the_reported_rows_with_their_exposure_and_the_floors(browser, tmp_path):
    """The README's command on the tracked board, run as a new user would, in a copy of the tracked files;
    with HARNESS_SCREENSHOTS set, its page is the README's screenshot (docs/img/leaderboard-site.png)."""
    import sys

    (tmp_path / "leaderboard").mkdir()
    shutil.copy(REPO / "leaderboard" / "leaderboard.json", tmp_path / "leaderboard" / "leaderboard.json")
    harness = Path(sys.executable).with_name("harness")
    done = subprocess.run([str(harness), "leaderboard", "publish", "--to", "site"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    page, server = open_site(browser, tmp_path / "site")
    try:
        tracked = leaderboard.load_board(REPO / "leaderboard" / "leaderboard.json")["rows"]
        assert "No rows yet" not in page.text_content("#status")
        assert page.locator("#board tbody tr.baseline .badge.computed").count() == 6  # dfew, ferv39k, mafw floors
        if os.environ.get("HARNESS_SCREENSHOTS"):
            page.screenshot(path=str(Path(os.environ["HARNESS_SCREENSHOTS"]) / "leaderboard-site.png"), full_page=True)
        page.uncheck("#zeroshot")
        assert page.locator("#board tbody tr.reported").count() == 18
        assert page.locator("#board tbody tr").count() == len(tracked) == 24
        assert set(column(page, "trained_on")) == {"zero-shot", "train-split", "not-stated", "-"}
    finally:
        page.close()
        server.shutdown()
