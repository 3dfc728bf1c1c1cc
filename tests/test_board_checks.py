"""The board checks what it is given (issue 26, items 14 and 18): figures recomputed from a results
file's own confusion matrix, dates parsed, non-finite numbers refused before any write, and no
temporary files left beside the board by interrupted writers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import leaderboard, results, samplelog
from harness.errors import DataError
from tests.conftest import evaluate_once


@pytest.fixture(scope="module")
def run(cache_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("checked-run")
    evaluate_once(out, model="prior")
    return next(out.glob("results_*.json"))


def edited(run: Path, folder: Path, name: str, change) -> Path:
    document = json.loads(run.read_text())
    change(document, next(iter(document["tasks"].values())))
    path = folder / name
    path.write_text(json.dumps(document))
    return path


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name)


def test_a_genuine_file_passes_and_matches_its_matrix(run):
    results.check_figures(results.load(run))


@pytest.mark.parametrize("field, change", [
    ("metrics.uar", lambda d, t: t["metrics"].update(uar=0.97)),
    ("metrics.war", lambda d, t: t["metrics"].update(war=t["metrics"]["war"] + 0.01)),
    ("metrics.macro_f1", lambda d, t: t["metrics"].update(macro_f1=0.5)),
    ("per_class[0].recall", lambda d, t: t["per_class"][0].update(recall=1.0)),
    ("per_class[1].support", lambda d, t: t["per_class"][1].update(support=t["per_class"][1]["support"] + 1)),
    ("counts.failed", lambda d, t: t["counts"].update(failed=1)),
    ("metrics.missing_classes", lambda d, t: t["metrics"].update(missing_classes=["happy"])),
    ("created_at", lambda d, t: d.update(created_at="zzzz")),
])
def test_an_edited_figure_or_date_is_refused_by_add_and_validate(run, tmp_path, run_cli, field, change):
    board = tmp_path / "board.json"
    leaderboard.add(board, [run])
    before = board.read_bytes()
    bad = edited(run, tmp_path, "edited.json", change)
    with pytest.raises(DataError, match=f"edited.json.*{field.replace('[', '.').replace(']', '.')}"):
        leaderboard.add(board, [bad])
    assert board.read_bytes() == before
    r = run_cli("leaderboard", "add", str(bad), "--board", str(board))
    assert r.code == 1 and "edited.json" in r.err and "Traceback" not in r.err
    assert board.read_bytes() == before
    r = run_cli("validate", str(run), str(bad))
    assert r.code == 1 and f"{run}: valid" in r.out and "edited.json" in r.err


def test_the_claimed_uar_of_097_is_refused_naming_the_recomputed_value(run, tmp_path):
    bad = edited(run, tmp_path, "claims.json", lambda d, t: t["metrics"].update(uar=0.97))
    truth = next(iter(results.load(run)["tasks"].values()))["metrics"]["uar"]
    with pytest.raises(DataError, match=f"0.97 does not match {truth:.6g}, recomputed"):
        results.load(bad)


def test_an_edited_aggregate_is_refused(run, tmp_path):
    def two_splits(document, task):
        key = next(iter(document["tasks"]))
        document["tasks"] = {f"{key}/fold1": task, f"{key}/fold2": {**task, "spec": task["spec"]}}
        keys = list(document["tasks"])
        document["aggregates"] = {key: samplelog.aggregate([document["tasks"][k] for k in keys], keys)}

    honest = edited(run, tmp_path, "folds.json", two_splits)
    results.load(honest)
    document = json.loads(honest.read_text())
    next(iter(document["aggregates"].values()))["uar_mean"] = 0.9
    bad = tmp_path / "folds-edited.json"
    bad.write_text(json.dumps(document))
    with pytest.raises(DataError, match="uar_mean: 0.9 does not match"):
        results.load(bad)


def test_a_macro_f1_of_either_definition_is_accepted(tmp_path):
    """Classes predicted without support count towards macro-F1 since issue 26; files written before
    averaged over the classes with samples only. Both are honest figures of the same matrix."""
    matrix = [[5, 0, 0, 0, 0], [0, 3, 2, 0, 0], [0, 0, 0, 0, 0]]  # "c" predicted twice, no support
    figures = results.matrix_figures(matrix)
    present_only, counted = figures["macro_f1"]
    assert counted < present_only and present_only == pytest.approx((1 + 0.75) / 2)


def test_a_row_pinned_by_an_unparsable_date_is_replaced_by_a_genuine_run(run, tmp_path, run_cli):
    board = tmp_path / "board.json"
    older = edited(run, tmp_path, "older.json", lambda d, t: d.update(created_at="2020-01-01T00:00:00+00:00",
                                                                      run_id="older"))
    leaderboard.add(board, [older])
    pinned = json.loads(board.read_text())
    for row in pinned["rows"]:
        if row.get("kind", "measured") == "measured":
            row["created_at"] = "zzzz"  # a board written before dates were parsed
    board.write_text(json.dumps(pinned))
    r = run_cli("leaderboard", "add", str(run), "--board", str(board))
    assert r.code == 0 and "1 row(s) added" in r.out, r
    rows = [r for r in results.load(board, "leaderboard")["rows"] if r.get("kind", "measured") == "measured"]
    assert [row["run_id"] for row in rows] == [json.loads(run.read_text())["run_id"]]
    # an older run is not added, and the command says so instead of a silent "0 row(s) added"
    r = run_cli("leaderboard", "add", str(older), "--board", str(board))
    assert r.code == 0 and "0 row(s) added" in r.out and "older than the board's row" in r.err


def test_dates_in_other_zones_compare_as_times_not_strings(run, tmp_path):
    board = tmp_path / "board.json"
    # 10:00 at UTC+05:00 is 05:00 UTC: earlier than 06:00 UTC, though its text sorts later
    early = edited(run, tmp_path, "early.json", lambda d, t: d.update(created_at="2030-01-01T10:00:00+05:00",
                                                                      run_id="early"))
    late = edited(run, tmp_path, "late.json", lambda d, t: d.update(created_at="2030-01-01T06:00:00+00:00",
                                                                    run_id="late"))
    leaderboard.add(board, [early])
    _, added = leaderboard.add(board, [late])
    assert added == 1
    assert {r["run_id"] for r in leaderboard.load_board(board)["rows"] if r.get("run_id")} == {"late"}


def test_an_infinite_number_in_an_identity_is_refused_before_any_write(run, tmp_path, run_cli):
    board = tmp_path / "board.json"
    leaderboard.add(board, [run])
    before = board.read_bytes()
    text = run.read_text()
    assert '"identity": {' in text
    bad = tmp_path / "infinite.json"
    bad.write_text(text.replace('"identity": {', '"identity": {"temperature": 1e999, ', 1))
    with pytest.raises(DataError, match="1e999 is not a finite number"):
        leaderboard.add(board, [bad])
    r = run_cli("leaderboard", "add", str(bad), "--board", str(board))
    assert r.code == 1 and "1e999" in r.err and "Traceback" not in r.err
    r = run_cli("validate", str(bad))
    assert r.code == 1 and "1e999" in r.err
    assert board.read_bytes() == before and temporaries(tmp_path) == []
    # a document holding infinity (from a plugin, say) is refused by write_json before the first byte
    with pytest.raises(DataError, match=r"\$\.model\.identity\.x: not a finite number"):
        results.write_json(tmp_path / "out.json", {"model": {"identity": {"x": float("inf")}}})
    assert not (tmp_path / "out.json").exists() and temporaries(tmp_path) == []


_WRITER = """
import sys
from harness import results
document = {"rows": [{"model": "m" * 200, "values": list(range(300))} for _ in range(400)]}
print("ready", flush=True)
while True:
    results.write_json(sys.argv[1], document)
"""


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_interrupted_writes_leave_no_temporary_files_beside_the_board(run, tmp_path):
    board = tmp_path / "board.json"
    leaderboard.add(board, [run])
    for _ in range(4):  # writers killed mid-write (SIGKILL: nothing of theirs runs)
        writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path / "other.json")],
                                  stdout=subprocess.PIPE, text=True)
        assert writer.stdout.readline().strip() == "ready"
        time.sleep(0.15)
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        writer.stdout.close()
    stale = tmp_path / f".board.json.tmp{_dead_pid()}"
    stale.write_text('{"half": ')
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = tmp_path / f".board.json.tmp{alive.pid}"
        live.write_text("{")  # a writer still at work: never touched
        leaderboard.add(board, [run])
        assert temporaries(tmp_path) == [live.name]
    finally:
        alive.kill()
        alive.wait()
    results.write_json(tmp_path / "other.json", {"x": 1})
    leaderboard.add(board, [run])
    assert temporaries(tmp_path) == []
    assert json.loads((tmp_path / "other.json").read_text()) == {"x": 1}
    results.load(board, "leaderboard")


def test_a_failed_write_removes_its_own_temporary_file(tmp_path, monkeypatch):
    def broken(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        results.write_json(tmp_path / "board.json", {"rows": []})
    assert temporaries(tmp_path) == [] and not (tmp_path / "board.json").exists()


# --- publishing touches only what it wrote (item 15) ---


@pytest.fixture
def boards(run, tmp_path) -> tuple[Path, Path]:
    """A board of two rows and a board of one of them: publishing the second after the first leaves a
    stale detail file of the site's own."""
    other = edited(run, tmp_path, "other-task.json", lambda d, t: d.update(
        tasks={f"{k}-copy": {**v, "spec": f"{v['spec']}-copy"} for k, v in d["tasks"].items()}))
    big, small = tmp_path / "big.json", tmp_path / "small.json"
    leaderboard.add(big, [run, other])
    leaderboard.add(small, [run])
    return big, small


def tree(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and ".git/" not in
            p.relative_to(folder).as_posix() + "/"}


def test_publishing_to_a_folder_never_deletes_or_overwrites_what_it_did_not_write(boards, tmp_path, run_cli):
    from harness import publish

    big, small = boards
    site = tmp_path / "site"
    (site / "details").mkdir(parents=True)
    (site / "details" / "mine.txt").write_text("a user's file")
    (site / "notes.md").write_text("notes")
    r = run_cli("leaderboard", "publish", "--board", str(big), "--to", str(site))
    assert r.code == 2 and "not empty" in r.err and "--force" in r.err and len(r.err.strip().splitlines()) == 1
    assert tree(site) == {"details/mine.txt", "notes.md"}  # refused: nothing written
    r = run_cli("leaderboard", "publish", "--board", str(big), "--to", str(site), "--force")
    assert r.code == 0, r.err
    first = tree(site)
    assert {"details/mine.txt", "notes.md", "index.html", "leaderboard.json", publish.MANIFEST} <= first
    assert len([f for f in first if f.startswith("details/") and f.endswith(".json")]) == 6  # 2 rows + 2 x 2 baselines
    (site / "index.html").write_text("edited by hand")  # a published file changed since
    r = run_cli("leaderboard", "publish", "--board", str(small), "--to", str(site))
    assert r.code == 2 and "changed since it was published" in r.err
    (site / "index.html").unlink()
    r = run_cli("leaderboard", "publish", "--board", str(small), "--to", str(site))
    assert r.code == 0, r.err
    second = tree(site)
    assert {"details/mine.txt", "notes.md", "index.html"} <= second
    assert len([f for f in second if f.startswith("details/") and f.endswith(".json")]) == 3  # stale ones removed
    assert (site / "details" / "mine.txt").read_text() == "a user's file"
    manifest = json.loads((site / publish.MANIFEST).read_text())
    assert "details/mine.txt" not in manifest["files"] and "notes.md" not in manifest["files"]


def test_a_new_or_empty_folder_needs_no_force_and_a_bad_target_is_one_line(boards, tmp_path, run_cli):
    big, _ = boards
    (tmp_path / "empty").mkdir()
    for target in (tmp_path / "empty", tmp_path / "new" / "site"):
        r = run_cli("leaderboard", "publish", "--board", str(big), "--to", str(target))
        assert r.code == 0, r.err
    for target in ("/proc/x", str(big)):
        r = run_cli("leaderboard", "publish", "--board", str(big), "--to", target)
        assert r.code == 2 and len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err, r


def _git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def test_publishing_to_a_git_branch_keeps_the_branchs_other_files(boards, tmp_path, run_cli):
    big, small = boards
    remote = tmp_path / "remote.git"
    _git("init", "-q", "--bare", str(remote))
    work = tmp_path / "work"
    _git("init", "-q", str(work))
    (work / "README.md").write_text("the project's own page")
    (work / "data").mkdir()
    (work / "data" / "x.txt").write_text("unrelated")
    _git("-c", "user.name=u", "-c", "user.email=u@x", "checkout", "-q", "-b", "main", cwd=work)
    _git("add", "-A", cwd=work)
    _git("-c", "user.name=u", "-c", "user.email=u@x", "commit", "-q", "-m", "theirs", cwd=work)
    _git("push", "-q", str(remote), "main", cwd=work)
    before = _git("--git-dir", str(remote), "rev-parse", "main")

    def files() -> set[str]:
        return set(_git("--git-dir", str(remote), "ls-tree", "-r", "--name-only", "main").split())

    r = run_cli("leaderboard", "publish", "--board", str(big), "--to", f"git:{remote}#main")
    assert r.code == 2 and "not empty" in r.err and "--force" in r.err
    assert _git("--git-dir", str(remote), "rev-parse", "main") == before  # nothing pushed
    r = run_cli("leaderboard", "publish", "--board", str(big), "--to", f"git:{remote}#main", "--force")
    assert r.code == 0, r.err
    published = files()
    assert {"README.md", "data/x.txt", "index.html", "leaderboard.json", ".nojekyll"} <= published
    assert len([f for f in published if f.startswith("details/")]) == 6
    r = run_cli("leaderboard", "publish", "--board", str(small), "--to", f"git:{remote}#main")
    assert r.code == 0, r.err
    after = files()
    assert {"README.md", "data/x.txt", "index.html"} <= after and len([f for f in after if f.startswith("details/")]) == 3
    r = run_cli("leaderboard", "publish", "--board", str(small), "--to", f"git:{remote}#main")
    assert r.code == 0 and "unchanged" in r.out
    r = run_cli("leaderboard", "publish", "--board", str(small), "--to", "git:")
    assert r.code == 2 and "remote is missing" in r.err
