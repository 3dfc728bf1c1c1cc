"""Response cache and resume (including a real SIGKILL), and shards that merge exactly."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.context import Context
from harness.errors import DataError
from harness.merge import merge
from harness.tasks.synthetic import SyntheticTask
from harness.testing.releases import make_dfew
from tests.conftest import TESTS

SAME_KEYS = ("fingerprint", "counts", "metrics", "per_class", "confusion", "prediction_distribution", "groups",
             "variants", "failures", "classes", "frame_protocol", "prompt")


def load(out: Path) -> tuple[dict, dict[str, list[dict]]]:
    files = sorted(out.glob("results_*.json"))
    assert len(files) == 1, files
    doc = json.loads(files[0].read_text())
    rows = {k: [json.loads(x) for x in (out / t["samples_file"]).read_text().splitlines()]
            for k, t in doc["tasks"].items() if t["samples_file"]}
    return doc, rows


def assert_same_results(a: tuple[dict, dict], b: tuple[dict, dict]) -> None:
    (doc_a, rows_a), (doc_b, rows_b) = a, b
    assert list(doc_a["tasks"]) == list(doc_b["tasks"])
    for key in doc_a["tasks"]:
        for field in SAME_KEYS:
            assert doc_a["tasks"][key][field] == doc_b["tasks"][key][field], (key, field)
        assert rows_a[key] == rows_b[key]
    assert doc_a["aggregates"] == doc_b["aggregates"]


@pytest.fixture(scope="module")
def tiny_dfew(tmp_path_factory):
    root = tmp_path_factory.mktemp("dfew-data")
    make_dfew(root / "DFEW", media=("video",))
    return root


def test_shards_merge_into_exactly_the_unsharded_run(run_cli, tmp_path, tiny_dfew):
    common = ["--tasks", "synthetic:n=30,seed=3,dfew", "--data-dir", str(tiny_dfew), "--model", "uniform",
              "--log-samples", "--no-progress", "--seed", "7"]
    assert run_cli("run", *common, "--output-path", str(tmp_path / "full")).code == 0
    for i in range(3):
        r = run_cli("run", *common, "--shard", f"{i}/3", "--output-path", str(tmp_path / f"shard{i}"))
        assert r.code == 0, r.err
    shard_docs = [load(tmp_path / f"shard{i}")[0] for i in range(3)]
    evaluated = [d["tasks"]["synthetic:n=30,seed=3"]["counts"]["evaluated"] for d in shard_docs]
    assert sum(evaluated) == 30 and all(0 < n < 30 for n in evaluated)
    # Some shard lacks a class entirely (disgust has a single clip): the merge must still be exact.
    assert any(d["tasks"]["synthetic:n=30,seed=3"]["metrics"]["missing_classes"] for d in shard_docs)

    r = run_cli("merge", *(str(tmp_path / f"shard{i}") for i in range(3)), "--output-path", str(tmp_path / "merged"))
    assert r.code == 0, r.err
    assert_same_results(load(tmp_path / "full"), load(tmp_path / "merged"))
    merged_doc = load(tmp_path / "merged")[0]
    assert merged_doc["config"]["merged_from"] and merged_doc["config"]["shard"] is None


def test_merge_refuses_incomplete_or_mixed_shards(run_cli, tmp_path):
    common = ["--tasks", "synthetic:n=30,seed=3", "--log-samples", "--no-progress"]
    for i in range(3):
        run_cli("run", *common, "--model", "uniform", "--shard", f"{i}/3", "--output-path", str(tmp_path / f"s{i}"))
    run_cli("run", *common, "--model", "prior", "--shard", "2/3", "--output-path", str(tmp_path / "other"))
    run_cli("run", "--tasks", "synthetic:n=30,seed=3", "--model", "uniform", "--shard", "2/3", "--no-progress",
            "--output-path", str(tmp_path / "nolog"))
    with pytest.raises(DataError, match="missing shard.*2/3"):
        merge([tmp_path / "s0", tmp_path / "s1"], tmp_path / "m")
    with pytest.raises(DataError, match="differs"):
        merge([tmp_path / "s0", tmp_path / "s1", tmp_path / "other"], tmp_path / "m")
    with pytest.raises(DataError, match="--log-samples"):
        merge([tmp_path / "s0", tmp_path / "s1", tmp_path / "nolog"], tmp_path / "m")
    with pytest.raises(DataError, match="given twice"):
        merge([tmp_path / "s0", tmp_path / "s0"], tmp_path / "m")
    r = run_cli("merge", str(tmp_path / "s0"), "--output-path", str(tmp_path / "m"))
    assert r.code == 1 and "missing shard" in r.err


def counting():
    import scripted_models
    return scripted_models.Counting


def test_a_rerun_takes_every_answer_from_the_response_cache(run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    args = ["run", "-p", "scripted_models", "--tasks", "synthetic:n=30,seed=3", "--model", "counting",
            "--log-samples", "--no-progress"]
    model = counting()
    model.calls = 0
    assert run_cli(*args, "--output-path", str(tmp_path / "a")).code == 0
    assert model.calls == 30
    assert run_cli(*args, "--output-path", str(tmp_path / "b")).code == 0
    assert model.calls == 30  # nothing recomputed
    assert load(tmp_path / "b")[0]["tasks"]["synthetic:n=30,seed=3"]["timings"]["from_response_cache"] == 30
    assert_same_results(load(tmp_path / "a"), load(tmp_path / "b"))

    # Another prompt is another request: nothing comes from the cache.
    assert run_cli(*args, "--prompt", "letters", "--output-path", str(tmp_path / "c")).code == 0
    assert model.calls == 60
    assert run_cli(*args, "--no-cache", "--output-path", str(tmp_path / "d")).code == 0
    assert model.calls == 90

    # A torn entry is a miss, reported, recomputed; the results do not change.
    db = sqlite3.connect(tmp_path / "cache" / "responses.sqlite")
    with db:
        db.execute("UPDATE responses SET payload = '{\"text\": ' WHERE rowid = (SELECT MIN(rowid) FROM responses)")
    db.close()
    assert run_cli(*args, "--output-path", str(tmp_path / "e")).code == 0
    e = load(tmp_path / "e")
    assert e[0]["tasks"]["synthetic:n=30,seed=3"]["timings"]["corrupt_cache_entries"] == 1
    assert model.calls == 91
    assert_same_results(load(tmp_path / "a"), e)

    r = run_cli("cache", "info")
    assert r.code == 0 and "counting" in r.out and "60 responses" in r.out
    r = run_cli("cache", "clear", "--model", "counting")
    assert r.code == 0 and "removed 60" in r.out


def test_resume_after_sigkill_equals_an_uninterrupted_run(tmp_path, cache_dir):
    SyntheticTask({"n": 40, "seed": 3}, Context(cache_dir=tmp_path / "cache")).samples()  # clips first
    harness_bin = os.path.join(os.path.dirname(sys.executable), "harness")
    env = {**os.environ, "HARNESS_CACHE": str(tmp_path / "cache"),
           "PYTHONPATH": os.pathsep.join([str(TESTS / "plugins_for_tests"), os.environ.get("PYTHONPATH", "")])}
    args = [harness_bin, "run", "-p", "scripted_models", "--tasks", "synthetic:n=40,seed=3", "--model", "counting",
            "--model-args", "delay=0.05", "--log-samples", "--no-progress"]
    proc = subprocess.Popen([*args, "--output-path", str(tmp_path / "killed")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db_path = tmp_path / "cache" / "responses.sqlite"
    deadline = time.time() + 60
    done = 0
    while time.time() < deadline and proc.poll() is None:
        if db_path.exists():
            try:
                with sqlite3.connect(db_path, timeout=1) as db:
                    done = db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
            except sqlite3.Error:
                done = 0
            if done >= 10:
                break
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 10 <= done < 40

    resumed = subprocess.run([*args, "--output-path", str(tmp_path / "resumed")], env=env, capture_output=True,
                             text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    doc, _ = load(tmp_path / "resumed")
    assert doc["tasks"]["synthetic:n=40,seed=3"]["timings"]["from_response_cache"] >= 10

    clean = subprocess.run([*args, "--no-cache", "--output-path", str(tmp_path / "clean")], env=env,
                           capture_output=True, text=True, timeout=120)
    assert clean.returncode == 0, clean.stderr
    assert_same_results(load(tmp_path / "clean"), load(tmp_path / "resumed"))


def test_sampled_answers_are_cached_with_their_seed(run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    model = counting()
    model.calls = 0
    args = ["run", "-p", "scripted_models", "--tasks", "synthetic:n=30,seed=3", "--model", "sampler", "--no-progress"]
    assert run_cli(*args, "--seed", "1", "--output-path", str(tmp_path / "a")).code == 0
    assert run_cli(*args, "--seed", "1", "--output-path", str(tmp_path / "b")).code == 0
    assert model.calls == 30  # same seed: reproduced from the cache
    assert run_cli(*args, "--seed", "2", "--output-path", str(tmp_path / "c")).code == 0
    assert model.calls == 60  # another seed is another answer


def test_cache_keys_hold_the_versions_that_compute_the_answers(tmp_path, monkeypatch):
    """An upgrade of the harness or the model's libraries never serves answers made before it."""
    import harness
    from harness.plugins import hf
    from tests.conftest import evaluate_once

    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    first = evaluate_once(tmp_path / "a", model="tiny-qwen-vl", tasks="synthetic:n=8,seed=2",
                          model_args={"mode": "score"})
    assert first["model"]["provenance"]["transformers"] and first["model"]["provenance"]["harness"]
    again = evaluate_once(tmp_path / "b", model="tiny-qwen-vl", tasks="synthetic:n=8,seed=2",
                          model_args={"mode": "score"})
    assert next(iter(again["tasks"].values()))["timings"]["from_response_cache"] == 8
    monkeypatch.setattr(hf.HFModel, "provenance", lambda self: {"transformers": "99.0"})
    upgraded = evaluate_once(tmp_path / "c", model="tiny-qwen-vl", tasks="synthetic:n=8,seed=2",
                             model_args={"mode": "score"})
    assert next(iter(upgraded["tasks"].values()))["timings"]["from_response_cache"] == 0
    monkeypatch.undo()
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(harness, "__version__", "9.9.9")
    newer = evaluate_once(tmp_path / "d", model="tiny-qwen-vl", tasks="synthetic:n=8,seed=2",
                          model_args={"mode": "score"})
    assert next(iter(newer["tasks"].values()))["timings"]["from_response_cache"] == 0


def test_git_revision_is_the_harness_checkout_and_says_when_it_is_dirty(tmp_path):
    from harness import results

    def git(cwd, *args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True,
                       capture_output=True)

    repo = tmp_path / "checkout"
    (repo / "harness").mkdir(parents=True)
    (repo / "harness" / "__init__.py").write_text("")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "x")
    commit, dirty = results.git_state(repo / "harness")
    assert commit and len(commit) == 40 and dirty is False
    (repo / "harness" / "__init__.py").write_text("changed = 1\n")
    assert results.git_state.__wrapped__(repo / "harness") == (commit, True)
    # a harness installed into a virtual environment inside another repository
    installed = repo / ".venv" / "lib" / "site-packages" / "harness"
    installed.mkdir(parents=True)
    assert results.git_state(installed) == (None, None)


def test_merge_refuses_shards_of_different_harness_versions(tmp_path, cache_dir):
    from harness.errors import DataError
    from harness.merge import merge
    from tests.conftest import evaluate_once

    for i in range(2):
        evaluate_once(tmp_path / f"s{i}", model="majority", shard=(i, 2), log_samples=True)
    odd = next((tmp_path / "s1").glob("results_*.json"))
    doc = json.loads(odd.read_text())
    doc["harness"]["version"] = "0.0.1"
    odd.write_text(json.dumps(doc))
    with pytest.raises(DataError, match="different harness versions"):
        merge([tmp_path / "s0", tmp_path / "s1"], tmp_path / "merged")
