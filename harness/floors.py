"""The floors of the real benchmarks, computed without their data: chance and majority-class rows from
the per-class counts of each evaluated split as a public release lists them.

The harness's tasks record only the total count of each split (``official_counts``); a board that
holds no results file of a benchmark (a fresh clone, reported rows only) could not show its floors.
The counts below were counted, class by class, from the label lists that the DFER-CLIP release
(zengqunzhao/DFER-CLIP, ``annotation/*.txt``; one line per clip: path, frame count, label index)
derived from each benchmark's official split files. Every split's total equals the task's official
count (``tests/test_board_build.py`` checks it against ``tasks/*.py``), and the training counts give
the majority class a model could know without the test labels.

How the label indices read: ``annotation/preprocessing.py`` opens with the mapping ``{'Happiness':0,
'Sadness':1, 'Neutral':2, 'Anger':3, 'Surprise':4, 'Disgust':5, 'Fear':6, 'Contempt':7, 'Snxiety':8,
'Helplessness':9, 'Disappointment':10}`` (sic), and ``annotation/preprocess_annotation.py`` writes
DFEW's official labels 1..7 minus one. FERV39k's lines name the class in the path
(``.../Action/Happy/0015 25 0``), which agrees with the mapping for every one of its 38,935 lines;
MAFW's first test clip of fold 1, ``00025``, is index 3, anger, as in MAFW's own split file.

A benchmark without such a source has no floor row: the board says so (``floors_missing``) instead
of a number.
"""

from __future__ import annotations

import json

from harness.emotions import BASIC7, MAFW11

REPOSITORY = "zengqunzhao/DFER-CLIP"
#: The commit read (the repository's newest stored snapshot); each split file's own last change is
#: named beside its counts.
COMMIT = "d10d5a4310a60c477778a086a292b591ee50e2ce"
MAPPING = ("annotation/preprocessing.py: \"# {'Happiness':0, 'Sadness':1, 'Neutral':2, 'Anger':3, 'Surprise':4, "
           "'Disgust':5, 'Fear':6, 'Contempt':7, 'Snxiety':8, 'Helplessness':9, 'Disappointment':10}\"")


def _counts(classes: tuple[str, ...], values: tuple[int, ...]) -> dict[str, int]:
    assert len(classes) == len(values)
    return dict(zip(classes, values))


def _dfew(k: int, test: tuple, train: tuple, changed: str) -> dict:
    return {"split": f"fold{k}", "file": f"annotation/DFEW_set_{k}_test.txt",
            "train_file": f"annotation/DFEW_set_{k}_train.txt", "changed_in": changed,
            "test": _counts(BASIC7, test), "train": _counts(BASIC7, train)}


def _mafw(k: int, test: tuple, train: tuple) -> dict:
    return {"split": f"fold{k}", "file": f"annotation/MAFW_set_{k}_test.txt",
            "train_file": f"annotation/MAFW_set_{k}_train.txt",
            "changed_in": "cdec287ffc0890499c9d608a58612de5b308cfab",
            "test": _counts(MAFW11, test), "train": _counts(MAFW11, train)}


_DFEW_CHANGED = "00a4016c592091931753048b4cbfc82f2fd35812"

#: Per benchmark (the task's name, as reported rows name it): its classes in the task's order, and
#: the per-class counts of each evaluated split with the training split it comes with. Counts in
#: BASIC7 order (happy, sad, neutral, angry, surprise, disgust, fear) and MAFW11 order (anger,
#: disgust, fear, happiness, neutral, sadness, surprise, contempt, anxiety, helplessness,
#: disappointment).
PUBLISHED: dict[str, dict] = {
    "dfew": {
        "benchmark": "DFEW, the 5-fold protocol over 11,697 single-labelled clips",
        "classes": BASIC7,
        "splits": [
            _dfew(1, (489, 379, 534, 435, 294, 29, 181), (1956, 1515, 2135, 1738, 1175, 116, 721),
                  "cdec287ffc0890499c9d608a58612de5b308cfab"),
            _dfew(2, (489, 379, 534, 435, 294, 29, 181), (1956, 1515, 2135, 1738, 1175, 116, 721), _DFEW_CHANGED),
            _dfew(3, (489, 379, 534, 435, 294, 29, 180), (1956, 1515, 2135, 1738, 1175, 116, 722), _DFEW_CHANGED),
            _dfew(4, (489, 379, 534, 434, 294, 29, 180), (1956, 1515, 2135, 1739, 1175, 116, 722), _DFEW_CHANGED),
            _dfew(5, (489, 378, 533, 434, 293, 29, 180), (1956, 1516, 2136, 1739, 1176, 116, 722), _DFEW_CHANGED),
        ],
    },
    "ferv39k": {
        "benchmark": "FERV39k, the official test split",
        "classes": BASIC7,
        "splits": [
            {"split": "test", "file": "annotation/FERV39K_test.txt", "train_file": "annotation/FERV39K_train.txt",
             "changed_in": "cdec287ffc0890499c9d608a58612de5b308cfab",
             "test": _counts(BASIC7, (1473, 1393, 1958, 1487, 638, 467, 431)),
             "train": _counts(BASIC7, (5854, 5523, 7790, 5906, 2502, 1833, 1680))},
        ],
    },
    "mafw": {
        "benchmark": "MAFW, the single-label 5-fold protocol over 9,172 clips (11 classes)",
        "classes": MAFW11,
        "splits": [
            _mafw(1, (278, 128, 125, 249, 228, 294, 215, 48, 184, 53, 37),
                  (1112, 511, 500, 993, 910, 1176, 857, 188, 732, 209, 145)),
            _mafw(2, (278, 128, 125, 249, 228, 294, 215, 47, 183, 53, 37),
                  (1112, 511, 500, 993, 910, 1176, 857, 189, 733, 209, 145)),
            _mafw(3, (278, 128, 125, 248, 228, 294, 214, 47, 183, 52, 36),
                  (1112, 511, 500, 994, 910, 1176, 858, 189, 733, 210, 146)),
            _mafw(4, (278, 128, 125, 248, 227, 294, 214, 47, 183, 52, 36),
                  (1112, 511, 500, 994, 911, 1176, 858, 189, 733, 210, 146)),
            _mafw(5, (278, 127, 125, 248, 227, 294, 214, 47, 183, 52, 36),
                  (1112, 512, 500, 994, 911, 1176, 858, 189, 733, 210, 146)),
        ],
    },
}


def figures(support: dict[str, int], majority: str | None = None) -> dict[str, dict[str, float]]:
    """UAR, WAR and macro-F1 of the two floors on a split with these per-class counts. Chance: a
    uniform guess over every class, in expectation. Majority: always answering ``majority`` (default:
    the split's own most frequent class)."""
    n = sum(support.values())
    k = len(support)
    present = [c for c, v in support.items() if v > 0]
    share = {c: support[c] / n for c in support} if n else {c: 0.0 for c in support}
    chance_f1 = sum(2 * share[c] * (1 / k) / (share[c] + 1 / k) for c in present) / len(present) if present else 0.0
    if majority is None or majority not in support:
        majority = max(support, key=support.get)
    s = share.get(majority, 0.0)
    return {"chance": {"uar": 1 / k if k else 0.0, "war": 1 / k if k else 0.0, "macro_f1": chance_f1},
            "majority": {"uar": (1 / len(present)) if majority in present else 0.0, "war": s,
                         "macro_f1": (2 * s / (1 + s)) / len(present) if present else 0.0}}


def _mean_std(values: list[float]) -> tuple[float, float | None]:
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5  # ddof=1, as aggregates


def source_of(task: str) -> str:
    files = [s["file"] for s in PUBLISHED[task]["splits"]]
    return f"{REPOSITORY}:{files[0] if len(files) == 1 else files[0].replace('_1_', '_K_')}@{COMMIT}"


def rows(task: str) -> list[dict]:
    """The chance and majority rows of one benchmark from its published counts: per split, and for a
    k-fold protocol the mean over the folds (with their standard deviation, ddof=1), as the
    benchmark's results are reported. Marked as computed (``counts_source``), never measured."""
    spec = PUBLISHED[task]
    splits = spec["splits"]
    majority_of = {s["split"]: max(s["train"], key=s["train"].get) for s in splits}
    majorities = set(majority_of.values())
    per_split = []
    for s in splits:
        f = figures(s["test"], majority_of[s["split"]])
        per_split.append({"split": s["split"], "n": sum(s["test"].values()), "majority": majority_of[s["split"]],
                          "file": s["file"], "class_support": dict(s["test"]),
                          **{f"{floor}_{m}": f[floor][m] for floor in f for m in f[floor]}})
    total = {c: sum(s["test"][c] for s in splits) for c in spec["classes"]}
    source = source_of(task)
    counts_source = {"repository": REPOSITORY, "commit": COMMIT, "files": [s["file"] for s in splits],
                     "train_files": [s["train_file"] for s in splits], "label_mapping": MAPPING}
    folds = f"over its {len(splits)} folds" if len(splits) > 1 else "of its test split"
    common = {"kind": "baseline", "task": task, "task_fingerprint": "published-counts", "frame_protocol": "-",
              "modality": None, "trained_on": None, "prompt_template": "-", "n": sum(total.values()),
              "splits": len(splits), "classes_total": len(spec["classes"]),
              "classes_evaluated": len([c for c in total if total[c] > 0]), "class_support": total,
              "per_split": per_split, "counts_source": counts_source}
    out = []
    for floor in ("chance", "majority"):
        values = {}
        for m in ("uar", "war", "macro_f1"):
            values[m], values[f"{m}_std"] = _mean_std([p[f"{floor}_{m}"] for p in per_split])
        if floor == "chance":
            model = "chance (uniform guess)"
            basis = (f"computed: the expected score of a uniform guess over {len(spec['classes'])} classes on "
                     f"{spec['benchmark']}, from the per-class counts {folds} in {source}")
        else:
            (name,) = majorities if len(majorities) == 1 else (" / ".join(sorted(majorities)),)
            model = f"majority class ({name})"
            basis = (f"computed: always answering the training split's most frequent class ({name}) on "
                     f"{spec['benchmark']}, from the per-class counts {folds} in {source}")
        out.append({**common, "key": json.dumps(["baseline", floor, task, "published-counts"]), "model": model,
                    "uar": values["uar"], "war": values["war"], "macro_f1": values["macro_f1"],
                    "uar_std": values["uar_std"], "war_std": values["war_std"], "basis": basis})
    return out
