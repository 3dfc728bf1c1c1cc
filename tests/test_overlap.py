"""``harness data overlap``: clips two tasks share, found by content, measured against planted copies.

A tiny DFEW copy and a tiny MME-Emotion copy whose ER-Wild questions hold re-encoded DFEW clips
(other sizes and aspect ratios, bitrates from crf 26 to 38 and a 60 kbit/s cap, 20 to 30 fps,
dropped frames), next to fresh clips drawn by the same face renderer: look-alike faces on plain
backgrounds, the hard case for a perceptual hash.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness import overlap
from harness.context import Context
from harness.errors import MediaError
from harness.tasks.dfew import DFEWTask
from harness.tasks.mme_emotion import MMEEmotionTask
from harness.testing.benchmark_releases import Copy, dfew_copies, make_mme_emotion, write_clip
from harness.testing.releases import make_dfew

LABELS = ("happy", "sad", "neutral", "angry", "surprise", "disgust", "fear")  # DFEW's labels 1..7


def _more_copies(dfew_root: Path) -> list[Copy]:
    """Eight more planted copies, each re-encoded its own way (seeded)."""
    rng = np.random.default_rng(11)
    out = []
    for number in (2, 8, 13, 16, 21, 24, 30, 35):
        side = int(rng.choice([48, 56, 80, 96, 128]))
        out.append(Copy(str(dfew_root / "Clip" / "original" / f"{number:05d}.mp4"), f"DFEW/video/{number + 100}.mp4",
                        LABELS[(number - 1) % 7], size=(side, int(side * rng.choice([0.75, 1.0]))),
                        crf=int(rng.integers(26, 39)), fps=float(rng.choice([20, 25, 30])),
                        drop_every=int(rng.choice([0, 4, 5]))))
    return out


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> tuple[Path, list[Copy]]:
    root = tmp_path_factory.mktemp("overlap")
    make_dfew(root / "DFEW", media=("video", "frames"))
    planted = dfew_copies(root / "DFEW") + _more_copies(root / "DFEW")
    inside = Copy(str(root / "MME-Emotion" / "DFEW" / "video" / "9003.mp4"), "DFEW/video/9103.mp4", "sad",
                  size=(80, 80), crf=32)
    make_mme_emotion(root / "MME-Emotion", copies=planted)
    # one duplicate inside MME-Emotion itself, and one black clip (no structure to compare)
    from harness.testing.benchmark_releases import reencode
    reencode(inside, root / "MME-Emotion")
    write_clip(root / "MME-Emotion" / "DFEW" / "video" / "9200.mp4", np.zeros((40, 64, 64, 3), np.uint8))
    questions = root / "MME-Emotion" / "ER-Wild" / "question" / "ER_Wild.json"
    entries = json.loads(questions.read_text())
    label_set = entries[-1]["label_set"]
    entries += [{"video_id": "DFEW/video/9103.mp4", "label": "sad", "label_set": label_set},
                {"video_id": "DFEW/video/9200.mp4", "label": "neutral", "label_set": label_set}]
    questions.write_text(json.dumps(entries, indent=2))
    return root, planted


def _tasks(root: Path, dfew_params: dict | None = None):
    ctx = Context(cache_dir=root / ".cache", data_dir=root)
    return DFEWTask(dfew_params or {}, ctx), MMEEmotionTask({}, ctx)


@pytest.fixture(scope="module")
def report(data) -> overlap.Report:
    root, _ = data
    dfew, mme = _tasks(root)
    return overlap.compare(dfew, "dfew", mme, "mme-emotion", cache_dir=root / ".cache", workers=0)


def _score(pairs, planted: list[Copy]) -> tuple[float, float, int]:
    truth = {(Path(c.source).stem, c.video_id) for c in planted}
    found = {(p.a.id, p.b.id) for p in pairs}
    hits = len(found & truth)
    return (hits / len(found) if found else 1.0), hits / len(truth), len(found)


def test_planted_copies_are_found_and_nothing_else(data, report):
    _, planted = data
    precision, recall, found = _score(report.pairs, planted)
    print(f"\noverlap dfew x mme-emotion: {found} pairs found, {len(planted)} planted, "
          f"precision {precision:.3f}, recall {recall:.3f} over {sum(report.clips_a.values())} x "
          f"{sum(report.clips_b.values())} clip pairs")
    assert (precision, recall) == (1.0, 1.0)
    assert report.clips_a == {f"fold{k}": 7 for k in range(1, 6)} and report.clips_b == {"ER-Wild/DFEW": 23}
    by_id = {p.b.id: p for p in report.pairs}
    # names do not decide: DFEW's 00010 sits in MME-Emotion as 2271.mp4, and every match is by content
    assert by_id["DFEW/video/2271.mp4"].a.id == "00010" and by_id["DFEW/video/2271.mp4"].a.split == "fold2"
    assert all(p.structure <= overlap.STRUCTURE_THRESHOLD and p.colour <= overlap.COLOUR_THRESHOLD
               for p in report.pairs)


def test_label_disagreements_are_flagged(report):
    flagged = [(p.a.id, p.a.label, p.b.id, p.b.label) for p in report.disagreements]
    assert flagged == [("00033", "surprise", "DFEW/video/33.mp4", "happy")]
    assert overlap.labels_agree("happy", "happiness") and overlap.labels_agree("anger", "Angry")
    assert not overlap.labels_agree("happy", "sad") and not overlap.labels_agree("positive", "happy")


def test_colour_layout_is_what_tells_look_alike_faces_apart(data, report):
    """Structure alone pairs different synthetic faces (same layout, plain backgrounds); the colour
    layout removes them without losing a planted copy."""
    root, planted = data
    dfew, mme = _tasks(root)
    clips_a, clips_b = overlap.clips_of(dfew, "dfew"), overlap.clips_of(mme, "mme-emotion")
    found, _ = overlap.signatures([*clips_a, *clips_b], cache_dir=root / ".cache", workers=0)
    loose = overlap.find_pairs(clips_a, clips_b, found, colour=0.99)
    precision, recall, _ = _score(loose, planted)
    assert recall == 1.0 and precision < 0.5


def test_frame_folders_match_the_videos_they_were_cut_from(data):
    root, planted = data
    dfew, mme = _tasks(root, {"media": "frames"})
    report = overlap.compare(dfew, "dfew:media=frames", mme, "mme-emotion", cache_dir=root / ".cache", workers=0)
    assert _score(report.pairs, planted)[:2] == (1.0, 1.0)


def test_duplicates_inside_one_task_and_clips_without_structure(data):
    root, _ = data
    _, mme = _tasks(root)
    report = overlap.compare(mme, "mme-emotion", mme, "mme-emotion", cache_dir=root / ".cache", workers=0)
    assert [(p.a.id, p.b.id) for p in report.pairs] == [("DFEW/video/9003.mp4", "DFEW/video/9103.mp4")]
    assert [u["id"] for u in report.uninformative] == ["DFEW/video/9200.mp4"]
    dfew, _ = _tasks(root)
    assert overlap.compare(dfew, "dfew", dfew, "dfew", cache_dir=root / ".cache", workers=0).pairs == []


def test_signatures_come_from_the_cache_the_second_time(data, report, monkeypatch):
    root, planted = data

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded a clip whose signature is cached")

    monkeypatch.setattr(overlap, "load_frames", no_decoding)
    dfew, mme = _tasks(root)
    again = overlap.compare(dfew, "dfew", mme, "mme-emotion", cache_dir=root / ".cache", workers=0)
    assert [(p.a.id, p.b.id) for p in again.pairs] == [(p.a.id, p.b.id) for p in report.pairs]
    folder = root / ".cache" / "overlap"
    cache = overlap.SignatureCache(folder)
    key = cache.key(planted[0].source, overlap.DEFAULT_FRAMES)
    assert cache.get(key) is not None and cache.get("0" * 64) is None
    (folder / "ff").mkdir(exist_ok=True)
    (folder / "ff" / f"{'f' * 64}.npz").write_bytes(b"truncated")
    assert cache.get("f" * 64) is None  # a damaged entry is a miss, not an error


def test_a_clip_that_does_not_decode_is_reported_not_compared(tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    clips = [overlap.Clip("t", "test", "x", "happy", str(broken)), overlap.Clip("t", "test", "y", "sad",
                                                                                  str(tmp_path / "missing.mp4"))]
    found, failed = overlap.signatures(clips, workers=0)
    assert found == {} and set(failed) == {str(broken), str(tmp_path / "missing.mp4")}
    with pytest.raises(MediaError):
        overlap.clip_signature(str(tmp_path / "missing.mp4"), None)


def test_overlap_notes_from_a_saved_report(data, report, tmp_path):
    _, planted = data
    saved = overlap.load_report(report.write(tmp_path / "overlap.json"))
    note = overlap.overlap_note(saved, ["dfew"], "mme-emotion", split="ER-Wild/DFEW")
    assert note["evaluated_clips_in_training"] == len(planted) and note["evaluated_clips"] == 23
    assert note["label_disagreements"] == 1 and note["trained_task"] == "dfew"
    assert note["share"] == pytest.approx(len(planted) / 23)
    fold1 = overlap.overlap_note(saved, ["dfew/fold1"], "mme-emotion:source=DFEW")
    assert sorted(c["id"] for c in fold1["clips"]) == ["DFEW/video/1.mp4", "DFEW/video/102.mp4", "DFEW/video/5.mp4"]
    # the other direction: a model tuned on MME-Emotion, tested on DFEW fold 5
    back = overlap.overlap_note(saved, ["MME-Emotion"], "dfew", split="fold5")
    assert [c["id"] for c in back["clips"]] == ["00030", "00033", "00035"] and back["evaluated_clips"] == 7
    only = overlap.overlap_note(saved, ["dfew"], "mme-emotion", sample_ids=["DFEW/video/1.mp4", "DFEW/video/9000.mp4"])
    assert only["evaluated_clips_in_training"] == 1 and only["evaluated_clips"] == 2
    assert overlap.overlap_note(saved, ["mafw"], "mme-emotion") is None  # no declared data in the report
    assert overlap.overlap_note(saved, ["dfew"], "mme-emotion", split="ER-Wild/MAFW") is None  # split not checked
    document = {"tasks": {"mme-emotion": {"name": "mme-emotion", "split": "ER-Wild/DFEW"},
                          "synthetic": {"name": "synthetic", "split": "test"}}}
    notes = overlap.notes_for_results(document, [saved], ["dfew"])
    assert list(notes) == ["mme-emotion"] and notes["mme-emotion"][0]["evaluated_clips_in_training"] == len(planted)
    with pytest.raises(Exception, match="not an overlap report"):
        (tmp_path / "other.json").write_text("{}")
        overlap.load_report(tmp_path / "other.json")


def test_cli_data_overlap(data, run_cli, tmp_path):
    root, planted = data
    out = tmp_path / "report.json"
    result = run_cli("data", "overlap", "dfew", "mme-emotion", "--data-dir", str(root), "--output", str(out),
                     "--cache-dir", str(root / ".cache"), "--show", "3")
    assert result.code == 0, result.err
    assert f"{len(planted)} shared clip pair(s)" in result.out and "1 with labels that disagree" in result.out
    assert f"and {len(planted) - 3} more" in result.out
    saved = overlap.load_report(out)
    assert saved["counts"]["pairs"] == len(planted) and saved["task_b"]["spec"] == "mme-emotion"
    assert saved["method"]["structure_threshold"] == overlap.STRUCTURE_THRESHOLD
    bad = run_cli("data", "overlap", "dfew", "mme-emotion", "--data-dir", str(root), "--frames", "1")
    assert bad.code == 2 and "--frames" in bad.err


def test_a_run_with_declared_training_data_carries_the_overlap_note(data, report, run_cli, tmp_path):
    root, planted = data
    path = report.write(tmp_path / "overlap.json")
    r = run_cli("run", "--tasks", "mme-emotion", "--model", "majority-oracle", "--data-dir", str(root),
                "--overlap-report", str(path), "--training-data", "dfew", "--output-path", str(tmp_path / "out"),
                "--no-progress")
    assert r.code == 0, r.err
    doc = json.loads(next((tmp_path / "out").glob("results_*.json")).read_text())
    [note] = doc["tasks"]["mme-emotion"]["overlap_notes"]
    assert note["evaluated_clips_in_training"] == len(planted) and note["trained_task"] == "dfew"
    assert doc["config"]["training_data"] == ["dfew"]
