"""``harness report`` across a study (issue 34 item 3): over many results files, or a folder of them,
the cross-model table per task, the paired comparisons ``harness compare`` computes, and every run's
per-class recall side by side."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness import cli, compare, results, samplelog
from tests.conftest import evaluate_once
from tests.test_compare_report import fake_run

TASKS = "synthetic:n=30,seed=3,synthetic:n=20,seed=4"  # two tasks in each results file
ROUNDS = 200


def _pct(x: float) -> str:
    return f"{100 * x:.2f}"


def _signed(x: float) -> str:
    return f"{100 * x:+.2f}"


def _cell(value: float, interval) -> str:
    return f"{_pct(value)} ({_pct(interval[0])}, {_pct(interval[1])})" if interval else _pct(value)


def _plain(cell: str) -> str:
    """A Markdown cell as text (the report escapes ``_``, ``|``, ``[`` ... with a backslash)."""
    return cell.replace("\\", "")


def section(markdown: str, heading: str) -> str:
    """The text under the first heading that starts with ``heading`` up to the next heading of its level
    or above."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    level = len(heading) - len(heading.lstrip("#"))
    end = next((i for i in range(start + 1, len(lines))
                if lines[i].startswith("#") and len(lines[i]) - len(lines[i].lstrip("#")) <= level), len(lines))
    return "\n".join(lines[start + 1:end])


def tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    """Every GitHub-style table in ``text``: (headers, rows), cells as plain text."""
    out, block = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            block.append([_plain(c.strip()) for c in line.strip().strip("|").split(" | ")])
        elif block:
            out.append((block[0], block[2:]))
            block = []
    return out


def _main(*argv: str) -> int:
    try:
        return cli.main(list(argv))
    except SystemExit as exc:
        return exc.code


@pytest.fixture(scope="module")
def study(cache_dir, tmp_path_factory):
    """Three baselines with per-sample logs and one run without, on two synthetic tasks, in one folder;
    the report made from the folder."""
    root = tmp_path_factory.mktemp("study")
    grid = root / "grid"
    for model in ("majority", "prior", "uniform"):
        evaluate_once(grid, model=model, tasks=TASKS, log_samples=True)
    evaluate_once(root / "nolog", model="prior", tasks=TASKS)
    nolog = grid / "results_prior_nolog.json"  # its own name: the two prior runs may share a run id
    shutil.copy(next((root / "nolog").glob("results_*.json")), nolog)
    assert len(list(grid.glob("results_*.json"))) == 4 and results.load(nolog)["tasks"]
    out = root / "report"
    assert _main("report", str(grid), "--output", str(out), "--rounds", str(ROUNDS)) == 0
    files = {p.name: results.load(p) for p in sorted(grid.glob("results_*.json"))}
    return {"grid": grid, "out": out, "files": files, "nolog": nolog.name,
            "summary": (out / "summary.md").read_text(), "data": json.loads((out / "study.json").read_text())}


def test_a_folder_stands_for_its_results_files_and_each_task_gets_a_cross_model_table(study):
    across = section(study["summary"], "## Across runs")
    headings = [line for line in across.splitlines() if line.startswith("### ")]
    # tasks in natural order of their keys (n=20 before n=30; fold2 before fold10)
    assert headings == ["### synthetic:n=20,seed=4 (20 clips, 4 runs)", "### synthetic:n=30,seed=3 (30 clips, 4 runs)"]
    for key in ("synthetic:n=30,seed=3", "synthetic:n=20,seed=4"):
        headers, rows = tables(section(across, f"### {key}"))[0]
        assert headers[:5] == ["#", "model", "frames", "prompt", "answer format"]
        col = {h: i for i, h in enumerate(headers)}
        assert sorted(row[col["file"]] for row in rows) == sorted(study["files"])  # one row per run, every file
        uars = []
        for row in rows:
            task = study["files"][row[col["file"]]]["tasks"][key]
            m = task["metrics"]
            assert row[col["model"]] == study["files"][row[col["file"]]]["model"]["name"]
            assert row[col["n"]] == str(task["counts"]["evaluated"])
            assert row[col["UAR (95% CI)"]] == _cell(m["uar"], m["uar_ci95"])
            assert row[col["WAR (95% CI)"]] == _cell(m["war"], m["war_ci95"])
            assert row[col["macro-F1 (95% CI)"]] == _cell(m["macro_f1"], m["macro_f1_ci95"])
            assert row[col["invalid %"]] == _pct(m["invalid_rate"])
            assert row[col["visual tokens/clip"]] == "-"  # baselines report none
            assert row[col["s/clip"]] == f"{task['timings']['loop_s'] / task['counts']['evaluated']:.4f}"
            uars.append(m["uar"])
        assert uars == sorted(uars, reverse=True)
        assert [row[0] for row in rows] == ["1", "2", "3", "4"]
    # study.json holds the same figures unrounded
    first = study["data"]["tasks"][0]
    for row in first["runs"]:
        m = study["files"][row["file"]]["tasks"][first["task"]]["metrics"]
        assert (row["uar"], row["uar_ci95"], row["war"], row["macro_f1_ci95"]) == \
            (m["uar"], m["uar_ci95"], m["war"], m["macro_f1_ci95"])


def test_paired_comparisons_are_those_of_harness_compare(study):
    for task in study["data"]["tasks"]:
        [comparison] = task["comparisons"]
        assert study["nolog"] not in comparison["files"] and len(comparison["files"]) == 3
        runs = [compare.load_run(study["grid"] / f, task["task"]) for f in comparison["files"]]
        expected = compare.compare_many(runs, rounds=ROUNDS, seed=0)
        assert len(comparison["pairs"]) == len(expected) == 3
        for got, want in zip(comparison["pairs"], expected):
            for test in ("uar", "macro_f1"):
                for field in ("a", "b", "difference", "ci95", "p", "p_bound", "p_holm", "p_holm_bound"):
                    assert got[test][field] == want[test][field], (test, field)
            for field in ("difference", "only_a_right", "only_b_right", "mcnemar_p", "p_holm"):
                assert got["war"][field] == want["war"][field], field
            assert got["per_class"] == want["per_class"] and got["disagreements"] == len(want["disagreements"])
        # the Markdown table prints those figures, pair by pair
        headers, rows = tables(section(section(study["summary"], f"### {task['task']}"), "#### Paired"))[0]
        assert headers[3:5] == ["UAR diff (95% CI)", "UAR p (Holm)"]
        for row, want in zip(rows, expected):
            u, f = want["uar"], want["macro_f1"]
            assert row[3] == f"{_signed(u['difference'])} ({_signed(u['ci95'][0])}, {_signed(u['ci95'][1])})"
            assert row[5] == _signed(want["war"]["difference"])
            assert row[6] == f"{want['war']['only_a_right']}/{want['war']['only_b_right']}"
            assert row[8] == f"{_signed(f['difference'])} ({_signed(f['ci95'][0])}, {_signed(f['ci95'][1])})"


def test_a_run_without_sample_logs_is_reported_as_not_paired(study):
    for task in study["data"]["tasks"]:
        assert [item["file"] for item in task["not_paired"]] == [study["nolog"]]
        assert "--log-samples" in task["not_paired"][0]["reason"]
        assert all(study["nolog"] not in (p["a"] + p["b"]) for c in task["comparisons"] for p in c["pairs"])
    notes = [line for line in study["summary"].splitlines() if line.startswith("not paired:")]
    assert len(notes) == 2 and all(study["nolog"] in _plain(n) and "no per-sample log" in n for n in notes)


def test_per_class_recall_of_every_run_side_by_side_by_support(study):
    out = study["out"]
    for task in study["data"]["tasks"]:
        assert task["figure"] and (out / task["figure"]).is_file()
        assert (out / task["figure"]).with_suffix(".svg").is_file()
        headers, rows = tables(section(section(study["summary"], f"### {task['task']}"), "#### Per-class"))[0]
        labels = [r["run"] for r in task["runs"]]
        assert headers == ["class", "support", "share %"] + labels and len(labels) == 4
        supports = [int(row[1]) for row in rows]
        assert supports == sorted(supports, reverse=True)
        for row in rows:
            for label, run, cell in zip(labels, task["runs"], row[3:]):
                per_class = study["files"][run["file"]]["tasks"][task["task"]]["per_class"]
                assert cell == _pct(next(c["recall"] for c in per_class if c["class"] == row[0])), label
    page = (out / "index.html").read_text()
    assert all(t["figure"] in page for t in study["data"]["tasks"])


def test_the_figure_draws_one_series_per_run(run_cli, tmp_path, monkeypatch):
    import matplotlib.container

    from harness import study

    drawn = []
    original = study.save

    def spy(fig, stem):
        ax = fig.axes[0]
        drawn.append(([c.get_label() for c in ax.containers if isinstance(c, matplotlib.container.BarContainer)],
                      [t.get_text() for t in ax.get_xticklabels()]))
        return original(fig, stem)

    monkeypatch.setattr(study, "save", spy)
    labels = ["a"] * 6 + ["b"] * 2 + ["c"] * 4
    files = [str(fake_run(tmp_path / name, name, labels, answers)) for name, answers in
             (("one", labels), ("two", ["a"] * 12), ("three", ["c"] * 12))]
    assert run_cli("report", *files, "--output", str(tmp_path / "report"), "--rounds", "50").code == 0
    [(series, ticks)] = drawn
    assert series == ["one", "two", "three"]  # by UAR (100, 33.3, 33.3), then WAR (50 before 33.3)
    assert ticks == ["a\nn=6", "c\nn=4", "b\nn=2"]


def _toy(tmp_path: Path, protocol_of_three: str = "uniform8") -> list[str]:
    labels = ["a", "a", "a", "b", "b", "c"] * 3
    answers = {"one": labels, "two": ["a"] * 18, "three": ["a", "b", "c"] * 6}
    return [str(fake_run(tmp_path / name, name, labels, answers[name],
                         protocol=protocol_of_three if name == "three" else "uniform8")) for name in answers]


def test_runs_on_other_frames_are_noted_not_paired_and_the_report_goes_on(run_cli, tmp_path):
    files = _toy(tmp_path, protocol_of_three="uniform16")
    r = run_cli("report", *files, "--output", str(tmp_path / "report"), "--rounds", "50")
    assert r.code == 0, r.err
    [task] = json.loads((tmp_path / "report" / "study.json").read_text())["tasks"]
    assert [c["files"] for c in task["comparisons"]] == [["results_one.json", "results_two.json"]]
    assert [(n["file"], "frames uniform16" in n["reason"]) for n in task["not_paired"]] == [("results_three.json", True)]
    assert len(task["runs"]) == 3  # still in the cross-model table


def test_the_study_is_the_same_whatever_the_order_of_the_files(run_cli, tmp_path):
    files = _toy(tmp_path)
    for name, order in (("forward", files), ("backward", files[::-1])):
        assert run_cli("report", *order, "--output", str(tmp_path / name), "--rounds", "50").code == 0
    forward, backward = ((tmp_path / n / "summary.md").read_text() for n in ("forward", "backward"))
    assert section(forward, "## Across runs") == section(backward, "## Across runs")
    assert (tmp_path / "forward" / "study.json").read_bytes() == (tmp_path / "backward" / "study.json").read_bytes()
    assert forward != backward  # the summary of each file follows the order given
    assert run_cli("report", *files, "--output", str(tmp_path / "again"), "--rounds", "50").code == 0
    assert (tmp_path / "again" / "summary.md").read_text() == forward


def test_a_single_run_gets_no_study_section(run_cli, tmp_path):
    files = _toy(tmp_path)
    assert run_cli("report", files[0], files[0], "--output", str(tmp_path / "report")).code == 0  # named twice: once
    summary = (tmp_path / "report" / "summary.md").read_text()
    assert "## Across runs" not in summary and not (tmp_path / "report" / "study.json").exists()
    assert summary.count("| toy ") == 1


def test_fold_means_side_by_side(run_cli, tmp_path):
    def folds(name: str, answers: list[list[str]]) -> Path:
        labels = [["a", "a", "b", "c"] * 3, ["a", "b", "b", "c"] * 3]
        parts = [json.loads(fake_run(tmp_path / name, f"{name}{i}", labels[i], answers[i]).read_text())
                 for i in range(2)]
        for i in range(2):
            (tmp_path / name / f"results_{name}{i}.json").unlink()
        document = parts[0]
        document["model"]["name"] = document["model"]["identity"]["id"] = name
        document["tasks"] = {f"toy/fold{i + 1}": p["tasks"]["toy"] for i, p in enumerate(parts)}
        document["aggregates"] = {"toy": samplelog.aggregate(list(document["tasks"].values()),
                                                             list(document["tasks"]))}
        path = tmp_path / name / f"results_{name}.json"
        results.write_json(path, document, "results")
        return path

    good = folds("good", [["a", "a", "b", "c"] * 3, ["a", "b", "b", "a"] * 3])
    bad = folds("bad", [["a"] * 12, ["b"] * 12])
    r = run_cli("report", str(tmp_path / "bad"), str(good), "--output", str(tmp_path / "report"), "--rounds", "50")
    assert r.code == 0, r.err
    headers, rows = tables(section((tmp_path / "report" / "summary.md").read_text(), "### toy: mean over splits"))[0]
    col = {h: i for i, h in enumerate(headers)}
    assert [row[col["model"]] for row in rows] == ["good", "bad"]
    for row, path in zip(rows, (good, bad)):
        a = results.load(path)["aggregates"]["toy"]
        assert row[col["UAR mean +- std"]] == f"{_pct(a['uar_mean'])} +- {_pct(a['uar_std'])}"
        assert row[col["n"]] == "24"


def test_a_bad_file_or_an_empty_folder_is_named(run_cli, tmp_path):
    files = _toy(tmp_path)
    broken = tmp_path / "grid" / "results_broken.json"
    broken.parent.mkdir()
    broken.write_text('{"schema_version": 1}')
    r = run_cli("report", files[0], str(broken.parent), "--output", str(tmp_path / "report"))
    assert r.code == 1 and str(broken) in r.err and "Traceback" not in r.err
    (tmp_path / "empty").mkdir()
    r = run_cli("report", str(tmp_path / "empty"), "--output", str(tmp_path / "report"))
    assert r.code == 1 and "no results_*.json" in r.err and str(tmp_path / "empty") in r.err
    r = run_cli("report", files[0], "--rounds", "0", "--output", str(tmp_path / "report"))
    assert r.code == 2 and "--rounds" in r.err
