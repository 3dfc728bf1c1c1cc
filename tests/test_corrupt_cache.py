"""A damaged response cache is detected, said, set aside, and the run goes on with a fresh one
(issue 26, item 20): a truncated file, random bytes, a corrupted page, a folder in its place; and
``harness cache info`` / ``cache clear`` on such a cache."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from harness.response_cache import ResponseCache
from harness.types import Response

ARGS = ["run", "-p", "scripted_models", "--tasks", "synthetic:n=30,seed=3", "--model", "counting", "--no-progress"]


def counting():
    import scripted_models
    return scripted_models.Counting


@pytest.fixture(scope="module")
def warm_cache(tmp_path_factory, cache_dir, synthetic30) -> Path:
    """A response cache holding the 30 answers of one run, and padding so that it has many pages."""
    from harness import cli

    folder = tmp_path_factory.mktemp("warm")
    shutil.copytree(cache_dir / "synthetic", folder / "synthetic", dirs_exist_ok=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HARNESS_CACHE", str(folder))
        mp.syspath_prepend(str(Path(__file__).parent / "plugins_for_tests"))
        assert cli.main([*ARGS, "--output-path", str(folder / "out")]) == 0
    cache = ResponseCache(folder / "responses.sqlite")
    cache.put_many("padding", [(f"pad{i:06d}", Response(text="x" * 400)) for i in range(3000)])
    cache.close()
    db = sqlite3.connect(folder / "responses.sqlite")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return folder / "responses.sqlite"


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def _random(path: Path) -> None:
    path.write_bytes(os.urandom(path.stat().st_size))


def _page(path: Path) -> None:
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big") or 65536
    for number in range(2, len(data) // page, 3):  # every third page after the first: B-tree pages hit
        data[number * page: number * page + 64] = os.urandom(64)
    path.write_bytes(bytes(data))


def _folder(path: Path) -> None:
    path.unlink()
    path.mkdir()
    (path / "something").write_text("not a database")


DAMAGE = {"truncated": _truncate, "random bytes": _random, "corrupted pages": _page, "a folder": _folder}


@pytest.fixture
def damaged(request, warm_cache, tmp_path, monkeypatch, cache_dir) -> Path:
    folder = tmp_path / "cache"
    shutil.copytree(warm_cache.parent, folder, ignore=shutil.ignore_patterns("out"))
    for suffix in ("-wal", "-shm"):
        Path(f"{folder / 'responses.sqlite'}{suffix}").unlink(missing_ok=True)
    DAMAGE[request.param](folder / "responses.sqlite")
    monkeypatch.setenv("HARNESS_CACHE", str(folder))
    return folder / "responses.sqlite"


def _aside(path: Path) -> list[Path]:
    return sorted(path.parent.glob("responses.sqlite.damaged-*"))


@pytest.mark.parametrize("damaged", list(DAMAGE), indirect=True)
def test_a_damaged_cache_is_set_aside_and_the_run_goes_on(damaged, run_cli, tmp_path):
    model = counting()
    model.calls = 0
    r = run_cli(*ARGS, "--output-path", str(tmp_path / "out"))
    assert r.code == 0, r.err
    assert "Traceback" not in r.err and "damaged" in r.err and "moved it aside" in r.err
    assert model.calls == 30  # every answer recomputed: nothing taken from the damaged file
    assert list((tmp_path / "out").glob("results_*.json"))
    aside = _aside(damaged)
    assert aside and damaged.is_file()
    r = run_cli(*ARGS, "--output-path", str(tmp_path / "again"))
    assert r.code == 0 and model.calls == 30 and "damaged" not in r.err  # the fresh cache resumes
    assert ResponseCache(damaged).info() == [("counting", 30)]


@pytest.mark.parametrize("damaged", list(DAMAGE), indirect=True)
@pytest.mark.parametrize("action", ["info", "clear"])
def test_cache_info_and_clear_on_a_damaged_cache(damaged, run_cli, action):
    r = run_cli("cache", action)
    assert r.code == 0, r.err
    assert "Traceback" not in r.err and "damaged" in r.err and _aside(damaged)
    assert ("0 responses" in r.out) if action == "info" else ("removed 0" in r.out)


class _Broken:
    """A connection whose every statement fails with ``error``."""

    def __init__(self, error: Exception):
        self.error = error

    def execute(self, *args):
        raise self.error

    def close(self):
        pass


def test_damage_met_mid_run_is_recovered_and_a_lock_is_not_damage(tmp_path, capsys):
    path = tmp_path / "responses.sqlite"
    cache = ResponseCache(path)
    cache.put_many("m", [("k1", Response(text="happy"))])
    cache.db.close()
    cache.db = _Broken(sqlite3.DatabaseError("database disk image is malformed"))
    assert cache.get_many(["k1"]) == {}  # a miss: recomputed, never invented
    assert "damaged" in capsys.readouterr().err and len(cache.moved_aside) == 1
    cache.put_many("m", [("k2", Response(text="sad"))])
    assert cache.get_many(["k2"])["k2"].text == "sad"
    cache.db.close()
    cache.db = _Broken(sqlite3.OperationalError("database is locked"))
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        cache.get_many(["k2"])
    assert len(cache.moved_aside) == 1 and path.is_file()  # a lock held elsewhere is not damage


def test_torn_entries_are_reported_on_the_console(tmp_path, run_cli, monkeypatch, cache_dir, synthetic30):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    shutil.copytree(cache_dir / "synthetic", tmp_path / "cache" / "synthetic")
    assert run_cli(*ARGS, "--output-path", str(tmp_path / "a")).code == 0
    db = sqlite3.connect(tmp_path / "cache" / "responses.sqlite")
    with db:
        db.execute("UPDATE responses SET payload = '{\"text\": ' WHERE rowid IN (SELECT rowid FROM responses LIMIT 2)")
    db.close()
    r = run_cli(*ARGS, "--output-path", str(tmp_path / "b"))
    assert r.code == 0 and "did not parse" in r.err and "2 response-cache entries" in r.err, r.err
    document = json.loads(next((tmp_path / "b").glob("results_*.json")).read_text())
    assert next(iter(document["tasks"].values()))["timings"]["corrupt_cache_entries"] == 2
