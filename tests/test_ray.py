"""``--launcher ray`` on a local three-node Ray cluster: exact merges, retried lost workers,
placement by resources, and deterministic failures that fail fast."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="ray is part of the test install (make test)")
from ray.cluster_utils import Cluster  # noqa: E402

from harness import evaluator, host  # noqa: E402
from harness.errors import UsageError  # noqa: E402
from harness.launch.ray import launch, parse_resources  # noqa: E402
from harness.params import parse_tasks  # noqa: E402

TESTS = Path(__file__).parent
TASK = "synthetic:n=24,seed=6"


@pytest.fixture(scope="module")
def cluster(cache_dir):
    """A head and two worker nodes of one logical CPU each; one node offers a custom resource."""
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS / "plugins_for_tests"), str(TESTS.parent), old]))
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    c.add_node(num_cpus=1)
    special = c.add_node(num_cpus=1, resources={"special": 1})
    ray.init(address=c.address, logging_level="ERROR", log_to_driver=False)
    yield c, special.node_id
    ray.shutdown()
    c.shutdown()
    if old is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = old


def config(out: Path, model: str, **kwargs) -> evaluator.RunConfig:
    return evaluator.RunConfig(tasks=parse_tasks(TASK), model=model, output_path=out, progress=False,
                               log_samples=True, bootstrap=200, **kwargs)


def samples_text(out) -> str:
    return "".join(path.read_text() for path in out.sample_paths.values())


def samples_rows(out) -> list[dict]:
    return [json.loads(line) for line in samples_text(out).splitlines()]


@pytest.mark.parametrize("model,args", [("majority", {}), ("tiny-qwen-vl", {"mode": "score"})])
def test_a_ray_run_equals_a_single_process_run(cluster, tmp_path, model, args):
    plain = evaluator.evaluate(host.load([]), config(tmp_path / "plain", model, model_args=args))
    spread = launch(config(tmp_path / "ray", model, model_args=args, response_cache=False), [], shards=4,
                    progress=False)
    a, b = plain.document["tasks"][TASK], spread.document["tasks"][TASK]
    for key in ("metrics", "per_class", "confusion", "groups", "counts", "fingerprint"):
        assert a[key] == b[key], key
    # identical per-sample logs, but for a torch model's scores: shards batch the clips differently, and a
    # batch's padding and a worker's thread count move float32 sums by a few 1e-7 on some CPUs
    rows_a, rows_b = samples_rows(plain), samples_rows(spread)
    assert [{k: v for k, v in r.items() if k != "scores"} for r in rows_a] == \
           [{k: v for k, v in r.items() if k != "scores"} for r in rows_b]
    for x, y in zip(rows_a, rows_b):
        assert (x["scores"] is None) == (y["scores"] is None)
        if x["scores"] is not None:
            assert x["scores"].keys() == y["scores"].keys()
            assert all(abs(x["scores"][k] - y["scores"][k]) <= 1e-5 * max(1.0, abs(x["scores"][k]))
                       for k in x["scores"]), (x["id"], x["scores"], y["scores"])
    if model == "majority":
        assert samples_text(plain) == samples_text(spread)  # no floats computed: byte-identical
    placement = spread.document["config"]["launcher"]["placement"]
    assert [p["shard"] for p in placement] == [0, 1, 2, 3] and all(p["attempts"] == 1 for p in placement)
    assert len({p["node_id"] for p in placement}) >= 2  # spread over the cluster's nodes


def test_a_worker_killed_mid_shard_is_retried_and_the_result_stays_exact(cluster, tmp_path):
    marker = tmp_path / "crashed-once"
    marker.touch()  # the plain run must not crash
    plain = evaluator.evaluate(host.load(["crash_once"]), config(tmp_path / "plain", "crash-once",
                                                                 model_args={"marker": str(marker)}))
    marker.unlink()
    spread = launch(config(tmp_path / "ray", "crash-once", model_args={"marker": str(marker)},
                           response_cache=False), ["crash_once"], shards=3, max_retries=2, progress=False)
    assert marker.exists()
    attempts = [p["attempts"] for p in spread.document["config"]["launcher"]["placement"]]
    assert sorted(attempts) == [1, 1, 2]  # one shard's worker died and was retried
    assert samples_text(plain) == samples_text(spread)
    assert plain.document["tasks"][TASK]["metrics"] == spread.document["tasks"][TASK]["metrics"]


def test_shards_that_request_a_resource_run_only_where_it_is(cluster, tmp_path):
    _, special = cluster
    out = launch(config(tmp_path, "majority"), [], shards=3, resources="special=1,cpus=0.5", progress=False)
    placement = out.document["config"]["launcher"]["placement"]
    assert {p["node_id"] for p in placement} == {special}
    assert out.document["config"]["launcher"]["resources"] == {"num_cpus": 0.5, "resources": {"special": 1.0}}


def test_a_deterministic_failure_fails_the_run_fast(cluster, tmp_path):
    start = time.perf_counter()
    with pytest.raises(UsageError, match="not retried.*unknown argument"):
        launch(config(tmp_path, "majority", model_args={"temperature": "0.5"}), [], shards=3, max_retries=3,
               progress=False)
    assert time.perf_counter() - start < 60


def test_resources_and_the_install_hint(monkeypatch):
    assert parse_resources("gpus=1,memory=8e9,accel=2") == {"num_cpus": 1, "num_gpus": 1.0, "memory": 8000000000,
                                                             "resources": {"accel": 2.0}}
    with pytest.raises(UsageError, match="not k=v"):
        parse_resources("gpus")
    import sys
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(UsageError, match=r'pip install "dfer-harness\[ray\]"'):
        launch(config(Path("/tmp/x"), "majority"), [], shards=2)


def test_diagnose_runs_its_variants_on_the_cluster_with_the_same_figures(cluster, tmp_path):
    from harness import diagnose

    def run(out, launcher):
        config = diagnose.DiagnoseConfig(run=config_for(out), probes=diagnose.parse_probes("longtail,choices:n=2"),
                                         launcher=launcher, shards=3)
        document, _ = diagnose.diagnose(host.load([]), config)
        return document["tasks"][TASK]["probes"]

    def config_for(out):
        return evaluator.RunConfig(tasks=parse_tasks(TASK), model="synthetic-oracle", output_path=out,
                                   progress=False, bootstrap=100)

    local, spread = run(tmp_path / "local", "local"), run(tmp_path / "ray", "ray")
    assert local["choices"]["figures"] == spread["choices"]["figures"]
    a, b = dict(local["longtail"]["figures"]), dict(spread["longtail"]["figures"])
    skipped_local, skipped_ray = a.pop("contextual")["skipped"], b.pop("contextual")["skipped"]
    assert a == b and skipped_local in skipped_ray  # the oracle has no prior_correction, either way
