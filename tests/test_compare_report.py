"""``harness compare`` (paired, class-stratified, McNemar) and ``harness report`` (HTML, figures, Markdown)."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from harness import compare, results, samplelog
from harness.errors import UsageError
from tests.conftest import evaluate_once


def fake_run(folder: Path, name: str, labels: list[str], answers: list[str | None], classes=("a", "b", "c"),
             fingerprint: str | None = None, protocol: str = "uniform8") -> Path:
    """A schema-valid results document with its per-sample log, from labels and answers."""
    rows = [{"id": f"{i:05d}", "index": i, "label": y, "prediction": p, "status": "ok" if p else "invalid",
             "rule": "exact", "raw": p, "error": None, "scores": None, "variants": None, "choices": None,
             "frame_indices": None, "timestamps": None, "prompt_hash": None, "group": None, "meta": {},
             "answer_meta": None, "told": None, "header_fps": None, "strategy_notes": None}
            for i, (y, p) in enumerate(zip(labels, answers))]
    summary = samplelog.summarize(rows, tuple(classes), 0, 100, "toy", "1", len(rows), None)
    if fingerprint:
        summary["fingerprint"] = fingerprint
    folder.mkdir(parents=True, exist_ok=True)
    slug = "".join(ch if ch.isalnum() else "_" for ch in name)
    (folder / f"samples_{slug}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = {"name": "toy", "spec": "toy", "version": "1", "params": {}, "split": "test",
            "plugin": {"name": "x", "module": "x", "dist": None, "version": None, "builtin": False},
            "classes": list(classes), "frame_protocol": {"name": protocol, "strategy": "uniform", "num_frames": 8,
                                                          "order": "natural", "seed": 0},
            "prompt": {"name": "names", "kind": "names", "system": "", "user": "", "rendered": "Which?",
                       "choices": list(classes), "choice_order": "fixed"},
            **summary, "timings": {"wall_s": 1.0, "decode_s": 0.5, "model_s": 0.5},
            "samples_file": f"samples_{slug}.jsonl"}
    document = {"schema_version": 1, "run_id": name, "created_at": "2026-01-01T00:00:00+00:00",
                "harness": {"version": "0.1.0", "git_revision": None}, "command": [],
                "config": {"tasks": ["toy"], "model": name, "model_args": {}, "limit": None, "seed": 0,
                           "batch_size": 1},
                "environment": {"python": "3", "platform": "x", "packages": {}, "plugins": []},
                "model": {"name": name, "identity": {"id": name},
                          "plugin": {"name": "x", "module": "x", "dist": None, "version": None, "builtin": False}},
                "tasks": {"toy": task}, "aggregates": {}}
    path = folder / f"results_{slug}.json"
    results.write_json(path, document, "results")
    return path


def test_identical_runs_differ_by_exactly_zero_with_p_one(tmp_path):
    rng = np.random.default_rng(0)
    labels = list(rng.choice(["a", "b", "c"], 120, p=[0.6, 0.3, 0.1]))
    answers = [y if rng.random() < 0.7 else "a" for y in labels]
    a = fake_run(tmp_path, "one", labels, answers)
    b = fake_run(tmp_path, "two", labels, answers)
    c = compare.compare_pair(compare.load_run(a), compare.load_run(b), rounds=500)
    assert c["uar"]["difference"] == 0 and c["uar"]["ci95"] == [0, 0] and c["uar"]["p"] == 1.0
    assert c["war"]["mcnemar_p"] == 1.0 and c["macro_f1"]["p"] == 1.0 and c["disagreements"] == []


def test_a_known_difference_is_covered_and_significant(tmp_path):
    rng = np.random.default_rng(1)
    labels = list(rng.choice(["a", "b", "c"], 600, p=[0.5, 0.3, 0.2]))
    good = [y if rng.random() < 0.85 else "a" for y in labels]
    bad = [y if (y == "a" or rng.random() < 0.5) else "a" for y in labels]  # collapses b and c into a
    c = compare.compare_pair(compare.load_run(fake_run(tmp_path, "good", labels, good)),
                             compare.load_run(fake_run(tmp_path, "bad", labels, bad)), rounds=1000)
    true_diff = c["uar"]["a"] - c["uar"]["b"]
    assert c["uar"]["ci95"][0] < true_diff < c["uar"]["ci95"][1] and c["uar"]["ci95"][0] > 0.1
    assert c["uar"]["p"] < 0.01 and c["war"]["mcnemar_p"] < 0.01
    assert c["per_class"]["c"]["difference"] > 0.2 and c["per_class"]["c"]["ci95"][0] > 0


def test_mcnemar_matches_a_hand_computed_case(tmp_path):
    # 10 clips: A alone right on 6, B alone right on 1, both right on 3: exact two-sided p = 2 * P(X<=1 | 7, 1/2)
    labels = ["a"] * 10
    a_answers = ["a"] * 9 + ["b"]
    b_answers = ["a"] * 3 + ["b"] * 6 + ["a"]
    c = compare.compare_pair(compare.load_run(fake_run(tmp_path, "x", labels, a_answers)),
                             compare.load_run(fake_run(tmp_path, "y", labels, b_answers)), rounds=200)
    assert (c["war"]["only_a_right"], c["war"]["only_b_right"]) == (6, 1)
    assert c["war"]["mcnemar_p"] == pytest.approx(2 * (1 + 7) / 2 ** 7)


def test_runs_on_other_samples_or_frames_are_refused(tmp_path):
    labels, answers = ["a", "b", "c"] * 5, ["a"] * 15
    a = compare.load_run(fake_run(tmp_path, "a", labels, answers))
    other = compare.load_run(fake_run(tmp_path, "b", labels, answers, fingerprint="0" * 16))
    with pytest.raises(UsageError, match="task fingerprint differs"):
        compare.compare_pair(a, other)
    frames = compare.load_run(fake_run(tmp_path, "c", labels, answers, protocol="uniform16"))
    with pytest.raises(UsageError, match="frame protocol differs"):
        compare.compare_pair(a, frames)


def test_holm_adjustment_and_the_cli_for_three_baselines(run_cli, tmp_path, cache_dir):
    assert compare.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    paths = []
    for model in ("majority", "prior", "uniform"):
        evaluate_once(tmp_path / model, model=model, log_samples=True)
        paths.append(str(next((tmp_path / model).glob("results_*.json"))))
    r = run_cli("compare", *paths, "--rounds", "300")
    assert r.code == 0, r.err
    assert "(Holm)" in r.out and r.out.count("majority") >= 2
    r = run_cli("compare", paths[0], paths[2], "--rounds", "300", "--csv", str(tmp_path / "d.csv"))
    assert r.code == 0 and "per-class recall difference" in r.out
    lines = (tmp_path / "d.csv").read_text().splitlines()
    assert lines[0] == "id,label,answer_a,answer_b" and len(lines) > 1


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.links, self.scripts, self.text = [], [], 0, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        if tag == "a":
            self.links.append(attrs["href"])
        if tag == "script":
            self.scripts += 1

    def handle_data(self, data):
        self.text.append(data)


def test_report_of_single_and_five_fold_runs_with_failures_invalid_answers_and_hostile_names(
        run_cli, tmp_path, cache_dir):
    from harness.testing.releases import make_dfew

    single = evaluate_once(tmp_path / "single", model="prior", log_samples=True)
    assert single
    make_dfew(tmp_path / "data", media=("video",))
    (tmp_path / "data" / "Clip" / "original" / "00003.mp4").unlink()  # one failed sample in fold 1
    r = run_cli("run", "--tasks", "dfew", "--model", "uniform", "--data-dir", str(tmp_path / "data"),
                "--output-path", str(tmp_path / "folds"), "--no-progress")
    assert r.code == 1  # the failed clip
    hostile = fake_run(tmp_path / "hostile", "<script>alert(1)</script>", ["a", "b", "c"] * 4,
                       ["a", None, "c"] * 4)
    files = [next((tmp_path / d).glob("results_*.json")) for d in ("single", "folds")] + [hostile]
    r = run_cli("report", *map(str, files), "--output", str(tmp_path / "report"))
    assert r.code == 0, r.err
    page = (tmp_path / "report" / "index.html").read_text()
    parser = Links()
    parser.feed(page)
    assert parser.scripts == 0 and "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page
    assert parser.images and all((tmp_path / "report" / src).is_file() for src in parser.images)
    assert all((tmp_path / "report" / href).is_file() for href in parser.links)
    names = " ".join(parser.images)
    for figure in ("confusion", "recall", "predictions", "groups", "folds"):
        assert figure in names
    assert "http" not in "".join(parser.images + parser.links)  # nothing remote
    summary = (tmp_path / "report" / "summary.md").read_text()
    assert "| dfew (mean of 5)" in summary and "invalid" not in summary.split("\n")[0]
    assert "failed sample" in page  # the failed clip is listed with its error


def _diagnostics(folder: Path, plots: list[str], name: str = "m") -> Path:
    document = {"schema_version": 1, "run_id": "d", "created_at": "2026-01-01T00:00:00+00:00",
                "harness": {"version": "0.1.0"}, "command": [], "model": {"name": name, "args": {}},
                "config": {"tasks": ["toy"], "probes": [["longtail", {}]], "seed": 0},
                "tasks": {"toy": {"training_prior": {"source": None, "counts": None}, "probes": {"longtail": {
                    "params": {}, "description": "", "variants": {}, "figures": {}, "plots": plots,
                    "summary": [["collapse | rate", "<b>1</b>"]]}}}}}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "diagnostics_d.json"
    results.write_json(path, document, "diagnostics")
    return path


def test_report_refuses_figures_from_outside_the_diagnostics_folder(run_cli, tmp_path):
    """A diagnostics file naming ../../secret.png or an absolute path does not get that file copied
    into the report (issue 26, item 17)."""
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG secret")
    inside = tmp_path / "diag" / "figures" / "ok.png"
    inside.parent.mkdir(parents=True)
    inside.write_bytes(b"\x89PNG fine")
    good = _diagnostics(tmp_path / "diag", ["figures/ok.png"])
    r = run_cli("report", str(good), "--output", str(tmp_path / "report"))
    assert r.code == 0, r.err
    assert [p.read_bytes() for p in (tmp_path / "report" / "figures").glob("*.png")] == [b"\x89PNG fine"]
    for i, plot in enumerate(("../secret.png", str(secret), "figures/../../secret.png", "figures/link.png")):
        bad = _diagnostics(tmp_path / f"bad{i}", [plot])
        (tmp_path / f"bad{i}" / "figures").mkdir()
        (tmp_path / f"bad{i}" / "figures" / "link.png").symlink_to(secret)  # a link leading out
        out = tmp_path / f"report{i}"
        r = run_cli("report", str(bad), "--output", str(out))
        assert r.code == 1 and "outside the diagnostics file's folder" in r.err and "Traceback" not in r.err, plot
        assert not any(p.read_bytes() == secret.read_bytes() for p in out.rglob("*.png"))


def test_dollar_names_are_drawn_as_text_and_markdown_is_escaped(run_cli, tmp_path, monkeypatch):
    """A model named with $...$ neither crashes matplotlib's math text nor renders as math; names in
    summary.md are escaped for Markdown (no HTML, no broken table)."""
    import matplotlib.text

    from harness import report

    drawn = []
    original = report.save

    def spy(fig, stem):
        drawn.extend(t for t in fig.findobj(matplotlib.text.Text) if "$" in t.get_text())
        return original(fig, stem)

    monkeypatch.setattr(report, "save", spy)
    labels, answers = ["a", "b", "c"] * 4, ["a", "b", None] * 4
    names = ["$x^{$", r"$\alpha$ | <img src=x onerror=alert(1)> [link](http://evil) *b* `c`"]
    files = [str(fake_run(tmp_path / f"run{i}", name, labels, answers)) for i, name in enumerate(names)]
    files.append(str(_diagnostics(tmp_path / "diag", [], name="<script>x</script>|")))
    r = run_cli("report", *files, "--output", str(tmp_path / "report"))
    assert r.code == 0, r.err
    assert drawn and all(not t._preprocess_math(t.get_text())[1] for t in drawn)  # plain text, not math
    assert any(t.get_text().startswith("$x^{$") for t in drawn)
    summary = (tmp_path / "report" / "summary.md").read_text()
    assert "<img" not in summary and "<script" not in summary and "&lt;img src=x" in summary
    assert r"\[link\](http://evil)" in summary and r"\*b\*" in summary and r"\`c\`" in summary
    table = [line for line in summary.splitlines() if line.startswith("| toy")]
    assert len(table) == 2 and all(line.count(" | ") == table[0].count(" | ") for line in table)
    assert r"$\\alpha$ \| &lt;img" in summary  # the | inside the name is escaped, not a column


def test_a_p_value_no_round_reaches_is_a_bound_printed_as_below_one_over_rounds(tmp_path):
    from harness.cli import display

    rng = np.random.default_rng(1)
    labels = list(rng.choice(["a", "b", "c"], 600, p=[0.5, 0.3, 0.2]))
    good = [y if rng.random() < 0.9 else "a" for y in labels]
    bad = [y if (y == "a" or rng.random() < 0.3) else "a" for y in labels]
    worse = ["a"] * len(labels)
    runs = [compare.load_run(fake_run(tmp_path, name, labels, answers))
            for name, answers in (("good", good), ("bad", bad), ("worse", worse))]
    pairs = compare.compare_many(runs, rounds=500)
    first = pairs[0]["uar"]  # good vs bad: no bootstrap round comes near zero
    assert first["p_bound"] is True and first["p"] == pytest.approx(1 / 500)
    assert first["p_holm_bound"] is True and first["p_holm"] == pytest.approx(3 / 500)
    text = display.compare_tables(pairs, "toy", 500)
    assert "0.0000" not in text and "< 0.002" in text and "< 0.006" in text
    assert "not on the null" in text
    single = display.compare_tables(compare.compare_many(runs[:2], rounds=500), "toy", 500)
    assert "< 0.002" in single and "0.0000" not in single


def test_holm_keeps_bounds_where_a_bound_sets_the_adjusted_value():
    adjusted, bounds = compare.holm_bounded([0.001, 0.001, 0.3, 0.0015], [True, True, False, False])
    assert adjusted == pytest.approx([0.004, 0.004, 0.3, 0.004])
    assert bounds == [True, True, False, True]  # 2 x 0.0015 is lifted to the bounded 4 x 0.001
    adjusted, bounds = compare.holm_bounded([0.001, 0.002], [True, False])
    assert adjusted == pytest.approx([0.002, 0.002]) and bounds == [True, False]  # 1 x 0.002 is exact
    adjusted, bounds = compare.holm_bounded([0.001, 0.02], [True, False])
    assert adjusted == pytest.approx([0.002, 0.02]) and bounds == [True, False]
    assert compare.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def test_compare_macro_f1_counts_classes_a_run_predicts_without_support(tmp_path):
    labels = ["a"] * 5 + ["b"] * 5
    answers = ["a"] * 5 + ["b"] * 3 + ["c"] * 2  # "c" has no clips here
    a = compare.load_run(fake_run(tmp_path, "x", labels, answers))
    b = compare.load_run(fake_run(tmp_path, "y", labels, labels))
    c = compare.compare_pair(a, b, rounds=200)
    assert c["macro_f1"]["a"] == pytest.approx((1 + 0.75 + 0) / 3)
    assert c["macro_f1"]["a"] == pytest.approx(a.task["metrics"]["macro_f1"])
    assert c["macro_f1"]["b"] == 1.0
