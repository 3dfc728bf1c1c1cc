"""Helpers the built-in probes share: metrics of per-sample rows, and figure files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from harness import metrics

ROUNDS = 2000  # posterior draws (and bootstrap rounds) behind a probe's intervals


def row_metrics(rows: list[dict], classes: tuple[str, ...], predictions: list | None = None,
                seed: int = 0, rounds: int = 0) -> dict[str, Any]:
    """UAR, WAR, per-class recall (with its exact interval) and prediction counts of rows (or of other
    ``predictions`` for them); with ``rounds``, the UAR interval too."""
    preds = [r["prediction"] for r in rows] if predictions is None else predictions
    statuses = [r["status"] if predictions is None else ("ok" if p is not None else "invalid")
                for r, p in zip(rows, preds)]
    m = metrics.compute([r["label"] for r in rows], preds, statuses, classes, seed=seed, n_bootstrap=rounds)
    return {"n": m["n"], "uar": m["uar"], "war": m["war"], "macro_f1": m["macro_f1"], "uar_ci95": m["uar_ci95"],
            "recall": {c["class"]: c["recall"] for c in m["per_class"]},
            "recall_ci95": {c["class"]: c["recall_ci95"] for c in m["per_class"]},
            "hits": {c["class"]: round(c["recall"] * c["support"]) for c in m["per_class"]},
            "support": {c["class"]: c["support"] for c in m["per_class"]},
            "missing_classes": m["missing_classes"],
            "predicted": dict(m["prediction_distribution"])}


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def pct_ci(x: float | None, ci: list[float] | None) -> str:
    """``61.9 [55.0, 68.4]`` in percent; the interval left out when there is none."""
    return pct(x) + (f" [{pct(ci[0])}, {pct(ci[1])}]" if x is not None and ci else "")


def uar_label(label: str, missing: list[str]) -> str:
    """A summary line's label with ``UAR*`` where classes had no samples (as ``harness run`` prints it)."""
    return label.replace("UAR", "UAR*", 1) if missing else label


def missing_note(missing: list[str], total: int) -> list[tuple[str, str]]:
    """The footnote of a summary whose UARs average over fewer classes than the task's ``total``."""
    if not missing:
        return []
    return [("* UAR", f"over the {total - len(missing)}/{total} classes with samples (none of "
                      f"{', '.join(missing)}); not comparable with a full-class UAR")]


def shares(counts: dict[str, float], classes: tuple[str, ...]) -> dict[str, float]:
    total = float(sum(counts.get(c, 0) for c in classes))
    return {c: (counts.get(c, 0) / total if total else 0.0) for c in classes}


def argmax_prediction(scores: dict[str, float] | None, classes: tuple[str, ...],
                      shift: dict[str, float] | None = None) -> str | None:
    """The class with the best (shifted) score; None without scores."""
    if not scores:
        return None
    shift = shift or {}
    present = [c for c in classes if c in scores]
    if not present:
        return None
    return max(present, key=lambda c: (scores[c] - shift.get(c, 0.0), -classes.index(c)))


def save(fig, stem: str) -> list[str]:
    """Write a matplotlib figure as PNG and SVG; return both paths."""
    paths = [f"{stem}.png", f"{stem}.svg"]
    for path in paths:
        fig.savefig(path, dpi=110, bbox_inches="tight", metadata={"Date": None} if path.endswith(".svg") else None)
    import matplotlib.pyplot as plt
    plt.close(fig)
    return paths


def cached_plot(draw, key: Any, stem: str, cache_dir: Path) -> list[str]:
    """``draw(stem)`` once per distinct ``key`` (a probe's figures): later calls copy the files from
    the plot cache (``cache_dir/plots``), so a rerun whose figures did not change costs no drawing."""
    import hashlib
    import json
    import shutil

    import matplotlib

    digest = hashlib.sha256(json.dumps([key, matplotlib.__version__], sort_keys=True, default=str)
                            .encode()).hexdigest()[:24]
    folder = Path(cache_dir) / "plots"
    cached = [folder / f"{digest}.png", folder / f"{digest}.svg"]
    paths = [f"{stem}.png", f"{stem}.svg"]
    if all(p.is_file() for p in cached):
        for source, target in zip(cached, paths):
            shutil.copyfile(source, target)
        return paths
    drawn = draw(stem)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for source, target in zip(drawn, cached):
            shutil.copyfile(source, f"{target}.tmp")
            Path(f"{target}.tmp").replace(target)
    except OSError:
        pass  # a read-only cache only costs the next run a redraw
    return drawn


def pyplot():
    import matplotlib
    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt
    return plt


def finite(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)
