"""``harness diagnose``: probes detect the effects the synthetic control models are built to have.

A probe that cannot detect a known effect is broken, so these tests assert
effects, not plumbing: the oracle does not collapse and the collapse control
does, more so as its prior strength rises; logit adjustment recovers part of
it; an order-blind model shows no option-order spread and a first-option
model a large one; a calibrated control has a low ECE and an over-confident
one a high ECE. Every figure checked here is also recomputed from the
per-sample logs, independently of the probe code.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from harness import results

TASK = "synthetic"  # 240 clips in DFEW's shares: 3 disgust, 18 fear


def diagnose(run_cli, out: Path, model: str, probes: str, *extra: str) -> dict:
    r = run_cli("diagnose", "--tasks", TASK, "--model", model, "--probes", probes, "--output-path", str(out),
                "--no-progress", *extra)
    assert r.code == 0, r.err
    path = next(out.glob("diagnostics_*.json"))
    doc = results.load(path, "diagnostics")
    return doc["tasks"][TASK]["probes"]


def rows_of(out: Path, probe: dict, variant: str) -> list[dict]:
    """The per-sample log of one of a probe's runs, found through the document alone."""
    doc = json.loads((out / probe["variants"][variant]["results_file"]).read_text())
    task = next(iter(doc["tasks"].values()))
    folder = (out / probe["variants"][variant]["results_file"]).parent
    return [json.loads(line) for line in (folder / task["samples_file"]).read_text().splitlines()]


def test_longtail_separates_the_oracle_from_the_collapse_control(run_cli, tmp_path, cache_dir):
    oracle = diagnose(run_cli, tmp_path / "oracle", "synthetic-oracle", "longtail")["longtail"]["figures"]
    assert oracle["collapse_rate"] == 0.0 and oracle["group_uar"]["tail"] == 1.0
    assert oracle["groups"]["disgust"] == "tail" and oracle["groups"]["neutral"] == "head"
    assert oracle["prior_source"].startswith("the synthetic generator")
    rare = []
    for strength in (0.5, 2, 4):
        f = diagnose(run_cli, tmp_path / f"s{strength}", "synthetic-collapse", "longtail", "--model-args",
                     f"strength={strength}")["longtail"]["figures"]
        assert f["collapse_rate"] == 1.0  # every disgust clip answered as a head class
        rare.append((f["group_uar"]["medium"], f["head_bias_ratio"], f))
    mediums, biases = [m for m, _, _ in rare], [b for _, b, _ in rare]
    assert mediums == sorted(mediums, reverse=True) and mediums[0] - mediums[-1] > 0.4
    assert biases == sorted(biases) and biases[-1] > 1.15
    # logit adjustment by the training prior recovers part of the collapse
    f = rare[1][2]
    assert f["logit_adjusted"]["uar"] > f["uar"] + 0.05
    assert f["logit_adjusted"]["group_uar"]["medium"] > f["group_uar"]["medium"]


def test_longtail_figures_recompute_from_the_per_sample_log(run_cli, tmp_path, cache_dir):
    out = tmp_path / "recompute"
    probe = diagnose(run_cli, out, "synthetic-collapse", "longtail")["longtail"]
    f, rows = probe["figures"], rows_of(out, probe, "main")
    assert probe["variants"]["contextual"]["skipped"]  # a control has no prior_correction: recorded
    head = [c for c, g in f["groups"].items() if g == "head"]
    tail_rows = [r for r in rows if f["groups"][r["label"]] == "tail"]
    assert f["collapse_rate"] == sum(r["prediction"] in head for r in tail_rows) / len(tail_rows)
    recall = {c: np.mean([r["prediction"] == c for r in rows if r["label"] == c]) for c in f["groups"]}
    for g in ("head", "medium", "tail"):
        members = [recall[c] for c, gg in f["groups"].items() if gg == g]
        assert f["group_uar"][g] == pytest.approx(np.mean(members))
    n = len(rows)
    tvd = 0.5 * sum(abs(sum(r["prediction"] == c for r in rows) / n - sum(r["label"] == c for r in rows) / n)
                    for c in f["groups"])
    assert f["total_variation"] == pytest.approx(tvd)
    shares = f["training_share"]
    adjusted = [max(shares, key=lambda c: r["scores"][c] - math.log(shares[c])) for r in rows]
    assert f["logit_adjusted"]["war"] == pytest.approx(np.mean([a == r["label"] for a, r in zip(adjusted, rows)]))
    assert f["balanced"]["n"] == 7 * min(sum(r["label"] == c for r in rows) for c in f["groups"])
    for plot in probe["plots"]:
        assert (out / plot).stat().st_size > 1000


def test_longtail_gives_small_samples_their_uncertainty(run_cli, tmp_path, cache_dir):
    """The tail is one class of 3 clips: 'collapse 100%' is 3/3 and 'tail UAR 0' is 0/3, each with its exact
    interval; Spearman over 7 classes has its exact p; the balanced subset says its size and interval."""
    from itertools import permutations

    from scipy import stats

    from harness import metrics

    out = tmp_path / "small"
    probe = diagnose(run_cli, out, "synthetic-collapse", "longtail")["longtail"]
    f, rows = probe["figures"], rows_of(out, probe, "main")
    assert f["tail_samples"] == 3 and f["tail_collapsed"] == 3
    assert f["collapse_rate_ci95"] == pytest.approx([0.2924, 1.0], abs=1e-4)
    assert f["group_uar"]["tail"] == 0.0 and f["group_uar_ci95"]["tail"] == pytest.approx([0.0, 0.7076], abs=1e-4)
    for g in ("head", "medium"):
        lo, hi = f["group_uar_ci95"][g]
        assert lo <= f["group_uar"][g] <= hi and hi - lo > 0.02
    for c in f["groups"]:
        mine = [r for r in rows if r["label"] == c]
        hits = sum(r["prediction"] == c for r in mine)
        ci = stats.binomtest(hits, len(mine)).proportion_ci(method="exact")
        assert f["recall_ci95"][c] == pytest.approx([ci.low, ci.high], abs=1e-9)
    # Spearman's p by enumerating the 5040 pairings, independently of the probe
    shares = [f["training_share"][c] for c in f["groups"]]
    recalls = [f["recall"][c] for c in f["groups"]]
    rho = stats.spearmanr(shares, recalls).statistic
    exact = np.mean([abs(stats.pearsonr(stats.rankdata(shares), p).statistic) >= abs(rho) - 1e-12
                     for p in permutations(stats.rankdata(recalls))])
    assert f["spearman"]["p"] == pytest.approx(exact) and f["spearman"]["p"] == pytest.approx(0.066, abs=1e-3)
    assert f["spearman"]["p_method"].startswith("exact")
    b = f["balanced"]
    assert (b["n"], b["per_class"], b["classes"]) == (21, 3, 7) and b["uar"] == pytest.approx(b["war"])
    assert b["uar_ci95"][0] <= b["uar"] <= b["uar_ci95"][1] and b["uar_ci95"][1] - b["uar_ci95"][0] > 0.15
    summary = dict(probe["summary"])
    assert summary["collapse rate (tail -> head)"] == "100.0 [29.2, 100.0] (3/3 clips)"
    assert summary["UAR head / medium / tail"].endswith("/ 0.0 [0.0, 70.8]")
    assert "exact p = 0.066" in summary["Spearman(recall, train share)"]
    assert "(21 clips, 3 per class)" in summary["class-balanced UAR (= WAR)"]
    assert metrics.clopper_pearson(0, 3) == pytest.approx(f["recall_ci95"]["disgust"])


def test_diagnose_under_limit_marks_uar_over_fewer_classes(run_cli, tmp_path, cache_dir):
    r = run_cli("diagnose", "--tasks", TASK, "--model", "synthetic-collapse", "--probes", "longtail,choices:n=2",
                "--output-path", str(tmp_path), "--no-progress", "--limit", "40")
    assert r.code == 0, r.err
    doc = results.load(next(tmp_path.glob("diagnostics_*.json")), "diagnostics")
    probes = doc["tasks"][TASK]["probes"]
    for name in ("longtail", "choices"):
        assert probes[name]["figures"]["missing_classes"] == ["disgust"]
        labels = [label for label, _ in probes[name]["summary"]]
        assert any(label.startswith("UAR*") for label in labels) and "* UAR" in labels
    assert "UAR* head / medium / tail" in r.out and "6/7 classes" in r.out
    full = diagnose(run_cli, tmp_path / "full", "synthetic-collapse", "choices:n=2")["choices"]
    assert full["figures"]["missing_classes"] == [] and not any("*" in label for label, _ in full["summary"])


def test_choices_shows_no_spread_for_an_order_blind_model_and_a_large_one_for_a_first_option_bias(
        run_cli, tmp_path, cache_dir):
    blind = diagnose(run_cli, tmp_path / "blind", "synthetic-oracle", "choices:n=4")["choices"]["figures"]
    assert blind["uar_spread"] == 0.0 and blind["changed_share"] == 0.0
    assert blind["chi_square"]["p"] > 0.01
    out = tmp_path / "first"
    probe = diagnose(run_cli, out, "synthetic-first", "choices:n=4")["choices"]
    f = probe["figures"]
    assert f["uar_spread"] > 0.05 and f["changed_share"] > 0.5
    assert f["position_share"][0] > 0.9 and f["first_position_ratio"] > 5 and f["chi_square"]["p"] < 1e-6
    # recomputed from the logs: the answered option's place in the order each clip was shown
    counts = np.zeros(7)
    for j in range(1, 5):
        for r in rows_of(out, probe, f"perm{j}"):
            counts[r["choices"].index(r["prediction"])] += 1
    assert f["position_share"] == pytest.approx((counts / counts.sum()).tolist())


def test_calibration_separates_a_calibrated_control_from_an_overconfident_one(run_cli, tmp_path, cache_dir):
    out = tmp_path / "calibrated"
    probe = diagnose(run_cli, out, "synthetic-calibrated", "calibration", "--frames", "16")["calibration"]
    calibrated = probe["figures"]
    over = diagnose(run_cli, tmp_path / "over", "synthetic-overconfident", "calibration",
                    "--frames", "16")["calibration"]["figures"]
    assert calibrated["ece"] < 0.06 and over["ece"] > 0.25
    assert over["temperature_scaled"]["ece_after"] < over["temperature_scaled"]["ece_before"] / 2
    # cross-fitted: 5 temperatures, every clip held out once, and no split makes the calibrated one worse
    for f in (calibrated, over):
        t = f["temperature_scaled"]
        assert t["method"] == "cross-fitted" and t["folds"] == 5 and len(t["temperatures"]) == 5
        assert t["eval_n"] == f["n"] == 240
        assert max(t["temperatures"]) - min(t["temperatures"]) < 0.5
        assert f["ece_ci95"][1] > f["ece_ci95"][0] and t["ece_change_ci95"][0] <= t["ece_change_ci95"][1]
    assert calibrated["temperature_scaled"]["ece_after"] < calibrated["ece"] + 0.03
    assert over["temperature_scaled"]["ece_change_ci95"][1] < 0
    # ECE and Brier recomputed from the logged scores
    rows = rows_of(out, probe, "main")
    classes = list(rows[0]["scores"])
    p = np.array([[math.exp(r["scores"][c]) for c in classes] for r in rows])
    p /= p.sum(axis=1, keepdims=True)
    y = np.array([classes.index(r["label"]) for r in rows])
    conf, correct = p.max(axis=1), (p.argmax(axis=1) == y)
    bins = np.minimum((conf * 15 - 1e-12).astype(int), 14)
    ece = sum((bins == b).mean() * abs(correct[bins == b].mean() - conf[bins == b].mean())
              for b in range(15) if (bins == b).any())
    assert calibrated["ece"] == pytest.approx(ece, abs=1e-9)
    assert calibrated["brier"] == pytest.approx(((p - np.eye(len(classes))[y]) ** 2).sum(axis=1).mean())


def test_calibration_needs_scores_and_says_so(run_cli, tmp_path, cache_dir):
    f = diagnose(run_cli, tmp_path, "majority", "calibration")["calibration"]["figures"]
    assert f["applicable"] is False and "score mode" in f["reason"]


def test_shared_variants_run_once_and_unknown_probes_are_refused(run_cli, tmp_path, cache_dir):
    probes = diagnose(run_cli, tmp_path, "synthetic-oracle", "longtail,calibration")
    assert probes["longtail"]["variants"]["main"]["results_file"] == \
        probes["calibration"]["variants"]["main"]["results_file"]
    r = run_cli("diagnose", "--tasks", TASK, "--model", "majority", "--probes", "longtial",
                "--output-path", str(tmp_path / "x"))
    assert r.code == 2 and "did you mean 'longtail'" in r.err.lower()
