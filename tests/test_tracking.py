"""Experiment trackers against the real libraries: W&B in offline mode (its run file read back), a real
MLflow tracking server started here on localhost with its SQLite backend, and Trackio's local store.
Every figure a tracker received is compared with the results file; a tracker that fails (at start,
or a server gone mid-run) costs a warning, never the evaluation or its exit code."""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

TASK = "synthetic:n=24,seed=3"
SECRET = "hunter22"
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """``mlflow server`` on localhost with a SQLite backend, for this module only (killed at its end)."""
    folder = tmp_path_factory.mktemp("mlflow")
    port = _free_port()
    log = open(folder / "server.log", "w")
    proc = subprocess.Popen([str(BIN / "mlflow"), "server", "--backend-store-uri", f"sqlite:///{folder}/mlflow.db",
                             "--artifacts-destination", str(folder / "artifacts"), "--host", "127.0.0.1",
                             "--port", str(port), "--workers", "1"],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=folder)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"mlflow server did not start: {(folder / 'server.log').read_text()[-2000:]}")
        time.sleep(0.5)
    yield url, proc
    _stop(proc)
    log.close()


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def logged(mlflow_server, tmp_path_factory, cache_dir):
    """One run logged to all three trackers at once, in its own process (as a user runs it)."""
    url, _ = mlflow_server
    root = tmp_path_factory.mktemp("tracked")
    env = {**os.environ, "HARNESS_CACHE": str(cache_dir), "TRACKIO_DIR": str(root / "trackio"),
           "WANDB_SILENT": "true", "WANDB_DIR": str(root)}
    credentialed = url.replace("http://", f"http://admin:{SECRET}@")
    command = [str(BIN / "harness"), "run", "--tasks", TASK, "--model", "prior", "--log-samples", "--bootstrap", "200",
               "--no-progress", "--output-path", str(root / "out"),
               "--wandb-args", f"mode=offline,project=dfer-test,dir={root / 'wandb'}",
               "--mlflow-args", f"tracking_uri={credentialed},experiment=dfer-test",
               "--trackio-args", "project=dfer-test"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    [path] = (root / "out").glob("results_*.json")
    document = json.loads(path.read_text())
    return {"root": root, "path": path, "document": document, "out": done.stdout, "err": done.stderr,
            "url": url, "task": document["tasks"][TASK], "env": env}


def _wandb_records(path: Path):
    """The records of a W&B run file (a LevelDB-style log of protobuf records behind a 7-byte header)."""
    from wandb.proto import wandb_internal_pb2

    data, pos, block, pending = path.read_bytes(), 7, 32768, b""
    assert data[:4] == b":W&B"
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        pending += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a full record, or the last piece of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = b""
            yield record


def _nested(target: dict, item) -> None:
    keys = list(item.nested_key) or [item.key]
    for key in keys[:-1]:
        target = target.setdefault(key, {})
    target[keys[-1]] = json.loads(item.value_json)


def test_wandb_offline_run_holds_every_figure_of_the_results_file(logged):
    [run_file] = (logged["root"] / "wandb").glob("wandb/offline-run-*/run-*.wandb")
    config, summary, names = {}, {}, []
    for record in _wandb_records(run_file):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            names.append(record.run.display_name)
            for item in record.run.config.update:
                _nested(config, item)
        elif kind == "config":
            for item in record.config.update:
                _nested(config, item)
        elif kind == "summary":
            for item in record.summary.update:
                _nested(summary, item)
    document, task = logged["document"], logged["task"]
    assert document["run_id"] in names
    metrics, got = task["metrics"], summary
    assert got[f"{TASK}/uar"] == metrics["uar"] and got[f"{TASK}/war"] == metrics["war"]
    assert got[f"{TASK}/macro_f1"] == metrics["macro_f1"]
    assert [got[f"{TASK}/uar_ci95_low"], got[f"{TASK}/uar_ci95_high"]] == metrics["uar_ci95"]
    assert got[f"{TASK}/n_evaluated"] == task["counts"]["evaluated"]
    assert config["model.identity.id"] == document["model"]["identity"]["id"]
    assert config["harness.version"] == document["harness"]["version"]
    assert config[f"task.{TASK}.frame_protocol.name"] == task["frame_protocol"]["name"]
    files = run_file.parent / "files"
    [per_class] = files.glob("media/table/**/per_class_*.table.json")
    table = json.loads(per_class.read_text())
    assert [[r[0], r[1], r[4]] for r in table["data"]] == [[c["class"], c["support"], c["recall"]]
                                                          for c in task["per_class"]]
    [samples] = files.glob("media/table/**/samples_*.table.json")
    rows = json.loads(samples.read_text())["data"]
    logged_rows = [json.loads(line) for line in (logged["path"].parent / task["samples_file"]).read_text().splitlines()]
    assert [(r[1], r[3]) for r in rows] == [(r["id"], r["prediction"]) for r in logged_rows]
    assert len(list(files.glob("media/images/**/*.png"))) == 2  # confusion matrix and per-class recall
    assert json.loads((files / logged["path"].name).read_text()) == document  # the results file itself


def test_mlflow_server_received_parameters_metrics_and_artifacts(logged, tmp_path):
    from mlflow import MlflowClient

    client = MlflowClient(logged["url"])
    experiment = client.get_experiment_by_name("dfer-test")
    [run] = client.search_runs([experiment.experiment_id])
    document, task = logged["document"], logged["task"]
    assert run.info.run_name == document["run_id"] and run.info.status == "FINISHED"
    metrics = run.data.metrics
    key = TASK.replace("=", "_").replace(",", "_")  # MLflow's names take no '=' or ','
    for name in ("uar", "war", "macro_f1", "invalid_rate"):
        assert metrics[f"{key}/{name}"] == task["metrics"][name]
    assert [metrics[f"{key}/war_ci95_low"], metrics[f"{key}/war_ci95_high"]] == task["metrics"]["war_ci95"]
    assert run.data.params["model.name"] == "prior"
    assert run.data.params["harness.version"] == document["harness"]["version"]
    listed = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {logged["path"].name, "samples", "figures", "tables"} <= listed
    figures = [a.path for a in client.list_artifacts(run.info.run_id, "figures")]
    assert len(figures) == 2 and all(p.endswith(".png") for p in figures)
    local = Path(client.download_artifacts(run.info.run_id, logged["path"].name, str(tmp_path)))
    assert json.loads(local.read_text()) == document
    [table] = [a.path for a in client.list_artifacts(run.info.run_id, "tables") if a.path.endswith("per_class.json")]
    rows = json.loads(Path(client.download_artifacts(run.info.run_id, table, str(tmp_path))).read_text())["rows"]
    assert [r[4] for r in rows] == [c["recall"] for c in task["per_class"]]


def _trackio_logs(root: Path, project: str, run: str) -> tuple[dict, dict]:
    code = ("import json, sys; from trackio.sqlite_storage import SQLiteStorage as S; "
            "print(json.dumps([S.get_logs(sys.argv[1], sys.argv[2]), S.get_run_config(sys.argv[1], sys.argv[2])],"
            " default=str))")
    done = subprocess.run([sys.executable, "-c", code, project, run], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "TRACKIO_DIR": str(root)})
    assert done.returncode == 0, done.stderr[-2000:]
    logs, config = json.loads(done.stdout.strip().splitlines()[-1])
    merged = {}
    for entry in logs:
        merged.update(entry)
    return merged, config


def test_trackio_holds_the_same_figures(logged):
    logs, config = _trackio_logs(logged["root"] / "trackio", "dfer-test", logged["document"]["run_id"])
    task = logged["task"]
    assert logs[f"{TASK}/uar"] == task["metrics"]["uar"] and logs[f"{TASK}/war"] == task["metrics"]["war"]
    assert logs[f"{TASK}/n_invalid"] == task["counts"]["invalid"]
    assert config["model.name"] == "prior"


def test_secrets_never_reach_results_logs_or_output(logged):
    texts = [logged["path"].read_text(), logged["out"], logged["err"]]
    texts += [p.read_text() for p in logged["path"].parent.glob("samples_*.jsonl")]
    assert all(SECRET not in text for text in texts)
    # W&B's own metadata would hold the command line as typed (the MLflow URI's password): it is not collected
    written = [p for p in (logged["root"] / "wandb").rglob("*") if p.is_file()]
    assert written and not [p for p in written if SECRET.encode() in p.read_bytes()]
    resolved = logged["document"]["config"]["resolved"]
    assert "tracking_uri=http://***@127.0.0.1:" in resolved["mlflow_args"]
    from mlflow import MlflowClient

    client = MlflowClient(logged["url"])  # what the trackers were handed is masked too
    [run] = client.search_runs([client.get_experiment_by_name("dfer-test").experiment_id])
    assert "http://***@127.0.0.1" in run.data.tags["harness.command"]
    assert all(SECRET not in str(v) for v in [*run.data.tags.values(), *run.data.params.values()])


def test_harness_log_logs_runs_that_finished_elsewhere(logged, run_cli, tmp_path, monkeypatch):
    record = tmp_path / "record.jsonl"
    result = run_cli("log", str(logged["path"]), "-p", "recording_tracker", "--tracker", f"recorder:path={record}")
    assert result.code == 0, result
    steps = [json.loads(line) for line in record.read_text().splitlines()]
    assert [s["step"] for s in steps] == ["start", "log", "finish"]
    assert steps[0]["options"] == logged["document"]["config"]["resolved"]
    assert steps[1]["metrics"][f"{TASK}/uar"] == logged["task"]["metrics"]["uar"]

    env = {**logged["env"], "TRACKIO_DIR": str(tmp_path / "trackio")}
    done = subprocess.run([str(BIN / "harness"), "log", str(logged["path"]), "--to", "trackio"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    logs, _ = _trackio_logs(tmp_path / "trackio", "dfer-harness", logged["document"]["run_id"])
    assert logs[f"{TASK}/macro_f1"] == logged["task"]["metrics"]["macro_f1"]


@pytest.mark.parametrize("words, says", [
    (["--tracker", "wandbb"], "unknown tracker 'wandbb'. Did you mean 'wandb'"),
    (["--wandb-args", "mode=sometimes"], "mode"),
    (["--mlflow-args", "retries=-1"], "retries"),
    (["--tracker", "recorder:path=x", "--tracker", "recorder:path=y"], "named twice"),
])
def test_a_tracker_named_wrongly_stops_the_run_before_any_work(run_cli, tmp_path, words, says):
    result = run_cli("run", "--tasks", TASK, "--model", "majority", "--output-path", str(tmp_path / "out"),
                     "-p", "recording_tracker", *words)
    assert result.code == 2 and says in result.err, result
    assert not (tmp_path / "out").exists()


def test_a_missing_tracker_library_says_which_extra_to_install(run_cli, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "trackio", None)  # import trackio now raises ImportError
    result = run_cli("run", "--tasks", TASK, "--model", "majority", "--output-path", str(tmp_path / "out"),
                     "--trackio-args", "project=x")
    assert result.code == 2 and "pip install 'dfer-harness[trackio]'" in result.err, result


def _reference(run_cli, folder: Path) -> dict:
    result = run_cli("run", "--tasks", TASK, "--model", "prior", "--bootstrap", "200", "--output-path", str(folder))
    assert result.code == 0, result
    return json.loads(next(folder.glob("results_*.json")).read_text())["tasks"][TASK]


def test_a_tracker_that_cannot_start_costs_a_warning_not_the_run(run_cli, tmp_path):
    record = tmp_path / "record.jsonl"
    result = run_cli("run", "--tasks", TASK, "--model", "prior", "--bootstrap", "200", "--output-path",
                     str(tmp_path / "out"), "-p", "recording_tracker", "--tracker", f"recorder:path={record},fail=start")
    assert result.code == 0, result
    assert "tracker recorder failed to start (ConnectionError: tracking server at http://***@example.invalid" \
           in result.err and SECRET not in result.err
    task = json.loads(next((tmp_path / "out").glob("results_*.json")).read_text())["tasks"][TASK]
    reference = _reference(run_cli, tmp_path / "reference")
    assert task["metrics"] == reference["metrics"] and task["per_class"] == reference["per_class"]
    assert [json.loads(line)["step"] for line in record.read_text().splitlines()] == ["finish"]


def test_an_mlflow_server_gone_mid_run_costs_a_warning_not_the_run(mlflow_server, run_cli, tmp_path, monkeypatch):
    """Last in this module: it stops the shared server. The tracker opens its MLflow run, the server
    dies while clips are evaluated, and logging the finished run fails."""
    from harness import evaluator

    url, proc = mlflow_server
    real = evaluator.evaluate

    def server_dies_then_evaluate(*args, **kwargs):
        _stop(proc)
        return real(*args, **kwargs)

    monkeypatch.setattr(evaluator, "evaluate", server_dies_then_evaluate)
    started = time.monotonic()
    result = run_cli("run", "--tasks", TASK, "--model", "prior", "--bootstrap", "200", "--output-path",
                     str(tmp_path / "out"), "--mlflow-args", f"tracking_uri={url},experiment=gone,retries=0")
    assert result.code == 0, result
    assert "harness: warning: tracker mlflow failed to log the run (" in result.err, result.err
    assert time.monotonic() - started < 120  # a gone server costs seconds, not MLflow's default backoff
    monkeypatch.setattr(evaluator, "evaluate", real)
    task = json.loads(next((tmp_path / "out").glob("results_*.json")).read_text())["tasks"][TASK]
    reference = _reference(run_cli, tmp_path / "reference")
    assert task["metrics"] == reference["metrics"] and task["confusion"] == reference["confusion"]
