"""The ``temporal`` probe shows what the seed paper claims, on controls whose behaviour is known.

The oracle's micro-expression recall rises with sampling density and tracks
apex coverage; a control with a fixed visual budget peaks and then falls
(dilution); an order-sensitive control loses UAR on shuffled frames while the
order-blind oracle does not; one apex frame carries almost the whole score.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import results

TASK = "synthetic:n=120,seed=5"
GRID = "temporal:rates=1|2|5|12,counts=1|2|4|16,max=16"


def temporal(run_cli, out: Path, model: str) -> tuple[dict, dict]:
    r = run_cli("diagnose", "--tasks", TASK, "--model", model, "--probes", GRID, "--output-path", str(out),
                "--no-progress", "--bootstrap", "100")
    assert r.code == 0, r.err
    doc = results.load(next(out.glob("diagnostics_*.json")), "diagnostics")
    probe = doc["tasks"][TASK]["probes"]["temporal"]
    return probe["figures"], probe


def test_oracle_micro_recall_rises_with_density_and_tracks_apex_coverage(run_cli, tmp_path, cache_dir):
    f, probe = temporal(run_cli, tmp_path, "synthetic-oracle")
    rates = [f["rates"][r] for r in ("1", "2", "5", "12")]
    micro = [p["micro_uar"] for p in rates]
    coverage = [p["apex_coverage"]["share"] for p in rates]
    assert micro[0] < micro[1] and min(micro[1:]) > micro[0] + 0.3  # rises, then a plateau
    assert coverage[0] < coverage[1] <= coverage[2] and coverage[-1] == 1.0
    for m, c in zip(micro, coverage):
        assert abs(m - c) < 0.2  # the oracle errs where the frames miss the apex
    assert f["best_rate"]["fps"] in ("2", "5", "12") and f["best_rate"]["uar_ci95"][0] < f["best_rate"]["uar"]
    # not one winner: the rates a paired test cannot tell from the best (2, 5 and 12 fps read the same)
    best = f["best_rate"]
    assert set(best["indistinguishable"]) == {"2", "5", "12"} and best["fps"] in best["indistinguishable"]
    assert best["versus"]["1"]["p_holm"] < 0.05 and all(best["versus"][r]["p_holm"] >= 0.05
                                                         for r in best["indistinguishable"] if r != best["fps"])
    summary = dict(probe["summary"])
    assert summary["best rates (paired test, Holm)"].startswith("2, 5, 12 fps not distinguishable")
    assert f["counts"]["16"]["uar"] > f["counts"]["4"]["uar"]
    # order-blind: shuffled frames change nothing
    assert f["temporal_sensitivity"]["difference"] == 0 and f["temporal_sensitivity"]["ci95"] == [0, 0]
    # one frame: the apex carries the expression, the middle frame often does not
    assert f["single"]["apex"]["uar"] > f["single"]["middle"]["uar"] + 0.2
    assert f["single"]["apex"]["frame_protocol"] == "apex1"
    # coverage recomputed from the per-sample log of the 1 fps run
    run = json.loads((tmp_path / probe["variants"]["fps1"]["results_file"]).read_text())
    task = next(iter(run["tasks"].values()))
    rows = [json.loads(x) for x in ((tmp_path / probe["variants"]["fps1"]["results_file"]).parent /
                                    task["samples_file"]).read_text().splitlines()]
    micro_rows = [r for r in rows if r["meta"]["micro"]]
    hits = [any(r["meta"]["apex_start"] <= t <= r["meta"]["apex_end"] for t in r["timestamps"]) for r in micro_rows]
    assert f["rates"]["1"]["apex_coverage"]["share"] == pytest.approx(sum(hits) / len(hits))
    # at 1 fps the sampled frames are one second apart (25 fps clips: exactly)
    assert all(b - a == pytest.approx(1.0) for r in rows for a, b in zip(r["timestamps"], r["timestamps"][1:]))


def test_a_point_whose_frames_show_no_expression_is_flagged_as_a_sampling_artefact(run_cli, tmp_path, cache_dir):
    """Two uniform frames are a clip's first and last, which the generator always draws neutral: the
    oracle answers neutral for nearly every clip, micro and macro alike. That is the sampling, not the model."""
    f, probe = temporal(run_cli, tmp_path, "synthetic-oracle")
    two = f["counts"]["2"]
    assert two["sampling_artefact"] is True and two["expressive_coverage"]["share"] == 0.0
    assert f["sampling_artefacts"] == ["K=2"]
    assert not any(p["sampling_artefact"] for k, p in f["counts"].items() if k != "2")
    assert not any(p["sampling_artefact"] for p in f["rates"].values())
    run = json.loads((tmp_path / probe["variants"]["k2"]["results_file"]).read_text())
    task = next(iter(run["tasks"].values()))
    rows = [json.loads(x) for x in ((tmp_path / probe["variants"]["k2"]["results_file"]).parent /
                                    task["samples_file"]).read_text().splitlines()]
    expressive = [r for r in rows if r["label"] != "neutral"]
    assert not any(r["meta"]["apex_start"] <= t <= r["meta"]["apex_end"] for r in expressive for t in r["timestamps"])
    neutral_answers = sum(r["prediction"] == "neutral" for r in rows)
    assert neutral_answers >= 0.95 * len(rows) and two["uar"] < 0.2 and two["micro_uar"] == 0.0
    summary = dict(probe["summary"])
    assert "2:" in summary["UAR by frame count"] and "!" in summary["UAR by frame count"].split("2:")[1].split()[0]
    assert summary["! sampling artefact"].startswith("K=2: no sampled frame shows an expression")


def test_a_fixed_visual_budget_peaks_then_dilutes(run_cli, tmp_path, cache_dir):
    f, _ = temporal(run_cli, tmp_path, "synthetic-budget")
    micro = {r: f["rates"][r]["micro_uar"] for r in ("1", "2", "5", "12")}
    peak = max(micro, key=micro.get)
    assert peak not in ("1", "12")  # rises, then falls
    assert micro["12"] < micro[peak] - 0.05 and micro["1"] < micro[peak]


def test_an_order_sensitive_control_is_caught_by_the_order_probe(run_cli, tmp_path, cache_dir):
    f, _ = temporal(run_cli, tmp_path, "synthetic-trajectory")
    s = f["temporal_sensitivity"]
    assert s["difference"] > 0.1 and s["ci95"][0] > 0 and s["p"] < 0.05
    assert abs(f["order"]["reversed"]["uar"] - f["order"]["natural"]["uar"]) < 0.05  # onset and offset mirror


def test_tasks_without_a_time_base_skip_the_fps_sweep_and_say_why(run_cli, tmp_path, cache_dir):
    from harness.testing.releases import make_dfew

    make_dfew(tmp_path / "data", media=("frames16",))
    r = run_cli("diagnose", "--tasks", "dfew:fold=1,media=frames16", "--model", "majority", "--probes",
                "temporal:rates=2,counts=1|4", "--data-dir", str(tmp_path / "data"), "--output-path",
                str(tmp_path / "out"), "--no-progress")
    assert r.code == 0, r.err
    doc = json.loads(next((tmp_path / "out").glob("diagnostics_*.json")).read_text())
    f = doc["tasks"]["dfew:fold=1,media=frames16"]["probes"]["temporal"]["figures"]
    assert "no time base" in f["rates"]["2"]["skipped"] and "uar" in f["counts"]["4"]
    assert "no apex" in f["single"]["apex"]["skipped"]
