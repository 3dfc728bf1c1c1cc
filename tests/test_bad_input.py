"""Bad command lines (issue 26, items 21 and 22): every option is checked before any work; a bad one
ends the command with exit code 2 (a usage error) or 1 (a bad file), one line on stderr, and no
traceback. The table is the contract: each row is a command line someone could type."""

from __future__ import annotations

import os
import traceback
from pathlib import Path

import pytest

from harness import cli

RUN = ["run", "--tasks", "synthetic:n=30,seed=3", "--model", "majority", "--no-progress"]
UNIFORM = ["run", "--tasks", "synthetic:n=30,seed=3", "--model", "uniform", "--no-progress"]
DIAG = ["diagnose", "--tasks", "synthetic:n=30,seed=3", "--model", "majority", "--no-progress"]
BAD_UTF8 = os.fsdecode(b"out\xff")  # what Python makes of a path whose bytes are not UTF-8

# (command line, exit code); {T} is a folder of fixtures, {O} a fresh output folder
CASES: list[tuple[list[str], int]] = [
    # numbers out of range, checked before the run (they used to fail only when the results were saved)
    ([*RUN, "--bootstrap", "-5"], 2),
    ([*RUN, "--bootstrap", "10000000000"], 2),
    ([*RUN, "--decode-workers", "-1"], 2),
    ([*RUN, "--decode-workers", "100000"], 2),
    ([*RUN, "--limit", "0"], 2),
    ([*RUN, "--limit", "-3"], 2),
    ([*RUN, "--limit", "x"], 2),
    ([*RUN, "--batch-size", "0"], 2),
    ([*RUN, "--seed", "-1"], 2),
    ([*RUN, "--seed", "1.5"], 2),
    ([*RUN, "--shard", "5/4"], 2),
    ([*RUN, "--shard", "x"], 2),
    ([*RUN, "--shard", "0/0"], 2),
    ([*RUN, "--launcher", "ray", "--shards", "0"], 2),
    ([*RUN, "--launcher", "ray", "--max-retries", "-1"], 2),
    ([*RUN, "--launcher", "ray", "--shard-resources", "gpus=abc"], 2),
    ([*RUN, "--launcher", "mpi"], 2),
    ([*RUN, "--answer-format", "xml"], 2),
    ([*RUN, "--choice-order", "random"], 2),
    # frame presets: every value typed and in range
    ([*RUN, "--frames", "fps=inf"], 2),
    ([*RUN, "--frames", "fps=nan"], 2),
    ([*RUN, "--frames", "fps=abc"], 2),
    ([*RUN, "--frames", "fps=0"], 2),
    ([*RUN, "--frames", "fps=-1"], 2),
    ([*RUN, "--frames", "seed=x"], 2),
    ([*RUN, "--frames", "seed=-1"], 2),
    ([*RUN, "--frames", "0"], 2),
    ([*RUN, "--frames", "100000"], 2),
    ([*RUN, "--frames", "1.5"], 2),
    ([*RUN, "--frames", "segment=0"], 2),
    ([*RUN, "--frames", "segment=-3"], 2),
    ([*RUN, "--frames", "dense=abc"], 2),
    ([*RUN, "--frames", "uniform=abc"], 2),
    ([*RUN, "--frames", "apex=0"], 2),
    ([*RUN, "--frames", "max=0"], 2),
    ([*RUN, "--frames", "max=abc"], 2),
    ([*RUN, "--frames", "size=-1"], 2),
    ([*RUN, "--frames", "size=abc"], 2),
    ([*RUN, "--frames", "size=1e9"], 2),
    ([*RUN, "--frames", "pixels=0"], 2),
    ([*RUN, "--frames", "size=224,pixels=50176"], 2),
    ([*RUN, "--frames", "order=sideways"], 2),
    ([*RUN, "--frames", "segment=4,pick=sometimes"], 2),
    ([*RUN, "--frames", "fps=5,above_source=maybe"], 2),
    ([*RUN, "--frames", "nominal=0"], 2),
    ([*RUN, "--frames", "nominal=abc"], 2),
    ([*RUN, "--frames", "nominal=nan"], 2),
    ([*RUN, "--frames", "all=3"], 2),
    ([*RUN, "--frames", "order"], 2),
    ([*RUN, "--frames", "wobble=2"], 2),
    # names and parameters
    ([*RUN, "--prompt", "nosuch"], 2),
    ([*RUN, "--strategy", "nosuch"], 2),
    ([*RUN, "--strategy", "msce:k=0"], 2),
    ([*RUN, "--strategy", "msce:k=abc"], 2),
    ([*RUN, "--reasoning-tags", "[[1]]"], 2),
    ([*RUN, "--reasoning-tags", "[1]"], 2),
    ([*RUN, "--reasoning-tags", "["], 2),
    (["run", "--tasks", ",", "--model", "majority"], 2),
    (["run", "--tasks", ":n=3", "--model", "majority"], 2),
    (["run", "--tasks", "n=3", "--model", "majority"], 2),
    (["run", "--tasks", "synthetc", "--model", "majority"], 2),
    (["run", "--tasks", "synthetic", "--model", "majorty"], 2),
    (["run", "--tasks", "synthetic:n=inf", "--model", "majority"], 2),
    (["run", "--tasks", "synthetic:n=3", "--model", "majority"], 2),
    (["run", "--tasks", "synthetic:n=-1", "--model", "majority"], 2),
    (["run", "--tasks", "synthetic:n=1e12", "--model", "majority"], 2),
    (["run", "--tasks", "synthetic:fps=0", "--model", "majority"], 2),
    (["run", "--tasks", "synthetic:fps=-5", "--model", "majority"], 2),
    (["run", "--tasks", "synthetic:fps=100000", "--model", "majority"], 2),
    (["run", "--tasks", "synthetic:size=1e9", "--model", "majority"], 2),
    (["run", "--tasks", "synthetic:size=15", "--model", "majority"], 2),
    (["run", "--tasks", "synthetic:seed=-1", "--model", "majority"], 2),
    (["run", "--tasks", "synthetic:seed=x", "--model", "majority"], 2),
    (["run", "--tasks", "synthetic:micro=nan", "--model", "majority"], 2),
    (["run", "--tasks", "synthetic:bogus=1", "--model", "majority"], 2),
    ([*UNIFORM, "--model-args", "seed=nan"], 2),
    ([*UNIFORM, "--model-args", "seed=inf"], 2),
    ([*UNIFORM, "--model-args", "seed=x"], 2),
    ([*UNIFORM, "--model-args", "seed=1.5"], 2),
    ([*UNIFORM, "--model-args", "oops"], 2),
    ([*UNIFORM, "--model-args", "bogus=1"], 2),
    # folders and paths
    ([*RUN, "--output-path", "{T}/afile"], 2),
    ([*RUN, "--output-path", "{T}/afile/sub"], 2),
    ([*RUN, "--output-path", "/proc/x"], 2),
    ([*RUN, "--output-path", BAD_UTF8], 2),
    ([*RUN, "--cache-dir", "{T}/afile"], 2),
    ([*RUN, "--cache-dir", "/proc/x"], 2),
    ([*RUN, "--data-dir", "{T}/afile"], 2),
    ([*RUN, "--include-path", "{T}/afile"], 2),
    ([*RUN, "--include-path", "{T}/nowhere"], 2),
    # datasets and YAML tasks
    (["run", "--tasks", "dfew:fold=9", "--model", "uniform", "--data-dir", "{T}/data"], 2),
    (["run", "--tasks", "dfew:fps=0,media=frames", "--model", "uniform", "--data-dir", "{T}/data"], 2),
    (["run", "--tasks", "dfew:fps=abc", "--model", "uniform", "--data-dir", "{T}/data"], 2),
    (["run", "--tasks", "dfew:fps=-1", "--model", "uniform", "--data-dir", "{T}/data"], 2),
    (["run", "--tasks", "dfew:fps=inf", "--model", "uniform", "--data-dir", "{T}/data"], 2),
    (["run", "--tasks", "dfew:media=xyz", "--model", "uniform", "--data-dir", "{T}/data"], 2),
    (["run", "--tasks", "ok-task:fps=0", "--model", "uniform", "--include-path", "{T}/ydir"], 2),
    (["run", "--tasks", "ok-task:fps=abc", "--model", "uniform", "--include-path", "{T}/ydir"], 2),
    (["run", "--tasks", "lat", "--model", "uniform", "--include-path", "{T}/latin"], 1),
    (["run", "--tasks", "nul", "--model", "uniform", "--include-path", "{T}/nul"], 1),
    (["run", "--tasks", "pw", "--model", "uniform", "--include-path", "{T}/pw"], 1),
    # diagnose
    ([*DIAG, "--probes", "nosuch"], 2),
    ([*DIAG, "--probes", "longtail:tau=abc"], 2),
    ([*DIAG, "--bootstrap", "-1"], 2),
    ([*DIAG, "--frames", "fps=nan"], 2),
    ([*DIAG, "--output-path", "{T}/afile"], 2),
    # other commands
    (["compare", "{T}/afile"], 2),
    (["compare", "{T}/afile", "{T}/binfile"], 1),
    (["compare", "/etc", "/etc"], 1),
    (["compare", "{T}/nonexist.json", "{T}/nonexist.json"], 1),
    (["compare", "{T}/afile", "{T}/afile", "--rounds", "-1"], 2),
    (["compare", "{T}/afile", "{T}/afile", "--csv", "{T}"], 2),
    (["report", "/etc", "--output", "{O}"], 1),
    (["report", "{T}/binfile", "--output", "{O}"], 1),
    (["report", "{T}/nonexist.json", "--output", "{O}"], 1),
    (["report", "{T}/afile", "--output", "{T}/afile"], 2),
    (["validate", "/etc"], 1),
    (["validate", "{T}/binfile"], 1),
    (["validate", "{T}/nonexist.json"], 1),
    (["validate", "{T}/afile"], 1),
    (["merge", "/etc", "--output-path", "{O}"], 1),
    (["merge", "{T}/afile", "--output-path", "{O}"], 1),
    (["merge", "{T}/nonexist", "--output-path", "{O}"], 1),
    (["merge", "{T}/afile", "--output-path", "{T}/afile"], 2),
    (["leaderboard", "add", "/etc", "--board", "{O}/b.json"], 1),
    (["leaderboard", "add", "{T}/binfile", "--board", "{O}/b.json"], 1),
    (["leaderboard", "add", "{T}/nonexist.json", "--board", "{O}/b.json"], 1),
    (["leaderboard", "add", "{T}/afile", "--board", "/etc"], 2),
    (["leaderboard", "show", "--board", "{T}/binfile"], 1),
    (["leaderboard", "show", "--board", "/etc"], 2),
    (["leaderboard", "show", "--board", "{T}/afile"], 1),
    (["leaderboard", "report", "--file", "/etc", "--board", "{O}/b.json"], 1),
    (["leaderboard", "report", "--file", "{T}/binfile", "--board", "{O}/b.json"], 1),
    (["leaderboard", "report", "--file", "{T}/nonexist.yaml", "--board", "{O}/b.json"], 1),
    (["leaderboard", "report", "--file", "{T}/broken.yaml", "--board", "{O}/b.json"], 1),
    (["leaderboard", "publish", "--to", "/proc/x", "--board", "{O}/b.json"], 2),
    (["leaderboard", "publish", "--to", "{T}/afile", "--board", "{O}/b.json"], 2),
    (["leaderboard", "publish", "--to", "git:", "--board", "{O}/b.json"], 2),
    (["leaderboard", "publish", "--to", "git:{T}/remote#bad..branch", "--board", "{O}/b.json"], 2),
    (["leaderboard", "publish", "--to", "hf:foo", "--board", "{O}/b.json"], 2),
    (["leaderboard", "serve", "--port", "99999", "--board", "{O}/b.json"], 2),
    (["leaderboard", "serve", "--port", "-1", "--board", "{O}/b.json"], 2),
    (["leaderboard", "export-eval-results", "X", "--dataset-id", "bad", "--board", "{O}/b.json"], 2),
    (["leaderboard", "export-eval-results", "X", "--out", "{T}/afile", "--board", "{O}/b.json"], 2),
    (["leaderboard", "frobnicate"], 2),
    (["cache", "info", "--cache-dir", "{T}/afile"], 2),
    (["cache", "clear", "--cache-dir", "{T}/afile"], 2),
    (["show", "task", "synthetic:n=inf"], 2),
    (["show", "task", "synthetic:fps=0"], 2),
    (["show", "task", "nosuch"], 2),
    (["show", "task", "dfew:fold=9"], 2),
    (["show", "task", "synthetic", "--cache-dir", "{T}/afile"], 2),
    (["list", "nothing"], 2),
    (["list", "tasks", "--include-path", "{T}/afile"], 2),
    (["data", "check", "dfew", "--data-dir", "{T}/afile"], 2),
    (["data", "check", "dfew", "--data-dir", "{T}/data", "--decode", "-1"], 2),
    (["frobnicate"], 2),
    ([], 2),
]


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory, cache_dir, synthetic30) -> Path:
    from harness.testing.releases import make_dfew

    root = tmp_path_factory.mktemp("bad-input")
    (root / "afile").write_text("hi\n")
    (root / "binfile").write_bytes(bytes(range(256)) * 2)
    (root / "broken.yaml").write_text("reported: [\n")
    make_dfew(root / "data" / "DFEW", media=("video",))
    for name, yaml, manifest, data in [
        ("ydir", "task: ok-task\nmanifest: m.csv\nclasses: [happy, sad]\n", "m.csv", b"media,label\na.mp4,happy\n"),
        ("latin", "task: lat\nmanifest: m.csv\nclasses: [happy, sad]\n", "m.csv", "media,label\ncaf\xe9.mp4,happy\n"
         .encode("latin-1")),
        ("nul", "task: nul\nmanifest: m.jsonl\nclasses: [happy, sad]\n", "m.jsonl",
         b'{"media": "a\\u0000b.mp4", "label": "happy"}\n'),
        ("pw", "task: pw\nmanifest: /etc/passwd\nclasses: [happy, sad]\n", None, None),
    ]:
        (root / name).mkdir()
        (root / name / "t.yaml").write_text(yaml)
        if manifest:
            (root / name / manifest).write_bytes(data)
    return root


def run_line(argv: list[str], capsys) -> tuple[int | None, str, str, str | None]:
    """``harness ARGV`` in this process: exit code, stdout, stderr, and the traceback of an exception
    that escaped (None when none did)."""
    capsys.readouterr()
    escaped = None
    try:
        code = cli.main(argv)
    except SystemExit as exc:
        code = exc.code
    except BaseException:  # noqa: BLE001 - an escaped exception is what this test looks for
        code, escaped = None, traceback.format_exc()
    out, err = capsys.readouterr()
    return code, out, err, escaped


def test_the_table_has_at_least_80_bad_command_lines():
    assert len(CASES) >= 80


@pytest.mark.parametrize("argv, code", CASES, ids=[" ".join(a)[-70:] for a, _ in CASES])
def test_a_bad_command_line_is_one_line_and_an_exit_code(argv, code, fixtures, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    argv = [a.replace("{T}", str(fixtures)).replace("{O}", str(out)) for a in argv]
    if argv[:1] in (["run"], ["diagnose"]) and "--output-path" not in argv:
        argv += ["--output-path", str(out)]
    got, stdout, stderr, escaped = run_line(argv, capsys)
    assert escaped is None, escaped
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert got == code and len(lines) == 1 and "Traceback" not in stderr, (got, stderr)
    assert "error" in lines[0] or argv[:1] == ["validate"], lines
    if argv[:1] in (["run"], ["diagnose"]):  # refused before any work: nothing written
        assert not list(out.rglob("*.json")) and not list(out.rglob("*.jsonl"))


def test_a_split_the_run_does_not_evaluate_is_read_only_when_used(run_cli, tmp_path, cache_dir):
    """A header-only training list does not stop a run of the test split by a model that needs no
    training prior; a model that answers from the prior refuses, saying why (item 22)."""
    from harness.testing.releases import make_dfew

    root = tmp_path / "DFEW"
    make_dfew(root, media=("video",))
    (root / "EmoLabel_DataSplit" / "train(single-labeled)" / "set_1.csv").write_text("video_name,label\n")
    r = run_cli("run", "--tasks", "dfew:fold=1", "--model", "uniform", "--data-dir", str(tmp_path),
                "--output-path", str(tmp_path / "out"), "--no-progress")
    assert r.code == 0, r.err
    assert "set_1.csv" in r.err and "no training prior" in r.err
    r = run_cli("run", "--tasks", "dfew:fold=1", "--model", "prior", "--data-dir", str(tmp_path),
                "--output-path", str(tmp_path / "out2"), "--no-progress")
    assert r.code == 2 and "training prior" in r.err and "Traceback" not in r.err
    # the evaluated split is still checked: a header-only test list stops the run before any work
    (root / "EmoLabel_DataSplit" / "test(single-labeled)" / "set_2.csv").write_text("video_name,label\n")
    r = run_cli("run", "--tasks", "dfew:fold=2", "--model", "uniform", "--data-dir", str(tmp_path),
                "--output-path", str(tmp_path / "out3"), "--no-progress")
    assert r.code == 1 and "lists no samples" in r.err


def test_a_yaml_file_that_is_not_utf8_is_named_and_hides_no_other_task(run_cli, tmp_path):
    folder = tmp_path / "tasks"
    folder.mkdir()
    (folder / "m.csv").write_text("media,label\na.mp4,happy\n")
    (folder / "a.yaml").write_text("task: first\nmanifest: m.csv\nclasses: [happy, sad]\n")
    (folder / "b.yaml").write_bytes(b"task: caf\xe9\nmanifest: m.csv\nclasses: [happy, sad]\n")
    (folder / "c.yaml").write_text("task: third\nmanifest: m.csv\nclasses: [happy, sad]\n")
    r = run_cli("list", "tasks", "--include-path", str(folder))
    assert r.code == 0 and "first" in r.out and "third" in r.out, r
    assert "b.yaml" in r.err and "UTF-8" in r.err and "Traceback" not in r.err


def test_options_are_checked_before_a_single_clip_is_evaluated(run_cli, tmp_path, monkeypatch):
    """--bootstrap -5 and friends used to run every sample and fail only when the results were saved."""
    from harness import evaluator

    calls = []
    monkeypatch.setattr(evaluator, "evaluate_split", lambda *a, **k: calls.append(a) or (_ for _ in ()).throw(
        AssertionError("work started")))
    for option in (["--bootstrap", "-5"], ["--decode-workers", "-1"], ["--frames", "fps=inf"], ["--frames", "seed=x"],
                   ["--output-path", BAD_UTF8]):
        r = run_cli(*RUN, *(["--output-path", str(tmp_path / "o")] if option[0] != "--output-path" else []), *option)
        assert r.code == 2 and calls == [], (option, r)
