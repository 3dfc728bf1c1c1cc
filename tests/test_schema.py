"""The results schema accepts what the harness writes and rejects malformed documents."""

from __future__ import annotations

import copy
import json

import pytest

from harness import results
from harness.errors import DataError

TASK = "synthetic:n=30,seed=3"


def test_a_real_results_document_is_valid(results_doc):
    results.validate(results_doc)
    assert results_doc["schema_version"] == results.RESULTS_SCHEMA_VERSION
    assert results_doc["harness"]["version"]


@pytest.mark.parametrize("mutate, where", [
    (lambda d: d.pop("model"), "'model' is a required property"),
    (lambda d: d["tasks"][TASK]["metrics"].pop("war"), "$.tasks['synthetic:n=30,seed=3'].metrics"),
    (lambda d: d["tasks"][TASK]["metrics"].__setitem__("uar", "0.5"), "metrics.uar"),
    (lambda d: d["tasks"][TASK]["metrics"].__setitem__("uar", 1.5), "metrics.uar"),
    (lambda d: d["tasks"][TASK]["counts"].__setitem__("failed", -1), "counts.failed"),
    (lambda d: d["tasks"][TASK]["metrics"].__setitem__("macro_f1", float("nan")), "metrics.macro_f1"),
    (lambda d: d["tasks"][TASK]["timings"].__setitem__("wall_s", float("inf")), "timings.wall_s"),
    (lambda d: d["tasks"][TASK]["frame_protocol"].__setitem__("order", "sideways"), "frame_protocol.order"),
    (lambda d: d["config"].__setitem__("seed", "zero"), "config.seed"),
])
def test_malformed_documents_are_rejected_with_the_offending_path(results_doc, mutate, where):
    doc = copy.deepcopy(results_doc)
    mutate(doc)
    with pytest.raises(DataError) as info:
        results.validate(doc)
    assert where in str(info.value)


def test_nan_in_a_file_is_rejected_when_loading(results_doc, tmp_path):
    text = json.dumps(results_doc).replace('"uar": ', '"uar": NaN, "x": ', 1)
    path = tmp_path / "nan.json"
    path.write_text(text)
    with pytest.raises(DataError, match="nan.json.*NaN"):
        results.load(path)


def test_invalid_documents_are_never_written(results_doc, tmp_path):
    doc = copy.deepcopy(results_doc)
    doc["tasks"][TASK]["metrics"]["war"] = float("nan")
    with pytest.raises(DataError):
        results.write_json(tmp_path / "out.json", doc, "results")
    assert not list(tmp_path.iterdir())
    results.write_json(tmp_path / "ok.json", results_doc, "results")
    assert results.load(tmp_path / "ok.json") == json.loads(json.dumps(results_doc))
    assert [p.name for p in tmp_path.iterdir()] == ["ok.json"]  # no temporary files left
