"""Leaderboard merge, ranking, replacement by newer runs, and refusal of bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import leaderboard, results
from harness.errors import DataError
from tests.conftest import evaluate_once


@pytest.fixture(scope="module")
def runs(cache_dir, tmp_path_factory):
    """Results files of three baselines on the same task."""
    out = tmp_path_factory.mktemp("board-runs")
    for model in ("majority", "prior", "uniform"):
        evaluate_once(out / model, model=model)
    return {m: next((out / m).glob("results_*.json")) for m in ("majority", "prior", "uniform")}


def test_tracked_board_is_valid():
    board = results.load(Path(__file__).parent.parent / "leaderboard" / "leaderboard.json", "leaderboard")
    assert board["schema_version"] == 1


def test_merge_ranks_by_uar_and_a_newer_run_replaces_an_older_one(runs, tmp_path):
    board_path = tmp_path / "board.json"
    board, added = leaderboard.add(board_path, list(runs.values()))
    assert added == 3 and len(board["rows"]) == 3
    uars = [r["uar"] for r in board["rows"]]
    assert uars == sorted(uars, reverse=True)
    results.load(board_path, "leaderboard")

    newer = json.loads(runs["majority"].read_text())
    newer["created_at"] = "2999-01-01T00:00:00+00:00"
    newer["run_id"] = "newer"
    newer_path = tmp_path / "newer.json"
    newer_path.write_text(json.dumps(newer))
    board, _ = leaderboard.add(board_path, [newer_path])
    assert len(board["rows"]) == 3
    majority = [r for r in board["rows"] if r["model"] == "majority"]
    assert [r["run_id"] for r in majority] == ["newer"]
    # Adding the older file again does not bring the old row back.
    board, _ = leaderboard.add(board_path, [runs["majority"]])
    assert [r["run_id"] for r in board["rows"] if r["model"] == "majority"] == ["newer"]

    table = leaderboard.table(board)
    assert "UAR" in table and "majority" in table and "uniform8" in table


def test_a_different_frame_protocol_is_a_different_row(runs, tmp_path):
    other = json.loads(runs["prior"].read_text())
    for task in other["tasks"].values():
        task["frame_protocol"]["name"] = "uniform16"
        task["frame_protocol"]["num_frames"] = 16
    path = tmp_path / "other.json"
    path.write_text(json.dumps(other))
    board, _ = leaderboard.add(tmp_path / "board.json", [runs["prior"], path])
    assert sorted(r["frame_protocol"] for r in board["rows"]) == ["uniform16", "uniform8"]


def test_an_invalid_results_file_is_refused_and_the_board_is_unchanged(runs, tmp_path, run_cli):
    board_path = tmp_path / "board.json"
    leaderboard.add(board_path, [runs["majority"]])
    before = board_path.read_bytes()
    bad = json.loads(runs["uniform"].read_text())
    next(iter(bad["tasks"].values()))["metrics"]["uar"] = "high"
    bad_path = tmp_path / "bad.json"
    bad_path.write_text(json.dumps(bad))
    with pytest.raises(DataError, match=r"bad\.json.*metrics\.uar"):
        leaderboard.add(board_path, [runs["prior"], bad_path])
    assert board_path.read_bytes() == before
    r = run_cli("leaderboard", "add", str(runs["prior"]), str(bad_path), "--board", str(board_path))
    assert r.code == 1 and "bad.json" in r.err
    assert board_path.read_bytes() == before


def test_cli_add_and_show(runs, tmp_path, run_cli):
    board_path = tmp_path / "b.json"
    r = run_cli("leaderboard", "add", *map(str, runs.values()), "--board", str(board_path))
    assert r.code == 0 and "3 row(s)" in r.out
    r = run_cli("leaderboard", "show", "--board", str(board_path))
    assert r.code == 0
    lines = [line for line in r.out.splitlines() if "synthetic" in line]
    assert len(lines) == 3 and lines[0].split()[1] == "1"
