"""Shared fixtures: an isolated cache, small synthetic tasks and a CLI runner."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness import cli
from harness.context import Context
from harness.tasks.synthetic import SyntheticTask

TESTS = Path(__file__).parent


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One cache for the whole session, so synthetic clips are generated once."""
    path = tmp_path_factory.mktemp("harness-cache")
    old = os.environ.get("HARNESS_CACHE")
    os.environ["HARNESS_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("HARNESS_CACHE", None)
    else:
        os.environ["HARNESS_CACHE"] = old


@pytest.fixture(scope="session")
def synthetic30(cache_dir):
    task = SyntheticTask({"n": 30, "seed": 3}, Context(cache_dir=cache_dir))
    return task, task.samples()


@pytest.fixture(scope="session")
def synthetic_sound(cache_dir):
    """42 synthetic clips with their sound track (cues that agree, contradict or are absent, by class)."""
    task = SyntheticTask({"n": 42, "seed": 3, "sound": True}, Context(cache_dir=cache_dir))
    return task, task.samples()


@pytest.fixture(autouse=True)
def _no_third_party_env(monkeypatch):
    monkeypatch.delenv("HARNESS_PLUGINS", raising=False)
    monkeypatch.syspath_prepend(str(TESTS / "plugins_for_tests"))


class CLIResult:
    def __init__(self, code: int, out: str, err: str):
        self.code, self.out, self.err = code, out, err

    def __repr__(self) -> str:
        return f"CLIResult(code={self.code}, out={self.out!r}, err={self.err!r})"


@pytest.fixture
def run_cli(capsys, cache_dir):
    """Run ``harness ARGS`` in this process; returns code, stdout, stderr."""
    def run(*argv: str) -> CLIResult:
        capsys.readouterr()
        try:
            code = cli.main(list(argv))
        except SystemExit as exc:  # argparse usage errors
            code = exc.code
        captured = capsys.readouterr()
        run.last = CLIResult(code, captured.out, captured.err)  # for helpers that return other things
        return run.last
    return run


def read_results(out_dir: Path) -> dict:
    files = sorted(Path(out_dir).glob("results_*.json"))
    assert len(files) == 1, files
    return json.loads(files[0].read_text())


def evaluate_once(out_dir: Path, model: str = "majority", tasks: str = "synthetic:n=30,seed=3",
                  **config) -> dict:
    """Run an evaluation through the library API and return its results document."""
    from harness import evaluator, host
    from harness.params import parse_tasks

    run = evaluator.RunConfig(tasks=parse_tasks(tasks), model=model, output_path=out_dir,
                              progress=False, bootstrap=200, **config)
    return evaluator.evaluate(host.load([]), run).document


@pytest.fixture(scope="session")
def results_doc(cache_dir, tmp_path_factory) -> dict:
    """A real results document (majority on 30 synthetic clips), for schema and board tests."""
    return evaluate_once(tmp_path_factory.mktemp("results"), log_samples=True)
