"""The built-in trackers: Weights & Biases, MLflow and Trackio, each an optional extra.

Each logs the same things from the results file (:class:`harness.tracking.FinishedRun`): the
run's configuration, every task's summary figures (UAR, WAR, macro-F1 with their intervals,
invalid and failed rates, counts), per-class recall and the confusion matrix as tables, the
confusion and recall figures as images, the per-sample rows when the run logged them, and the
results file itself. Each library is imported only when its tracker is built, and a missing one
is a usage error with the extra to install.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import harness
from harness.errors import UsageError
from harness.results import slug
from harness.tracking import FinishedRun, Tracker, scratch


def _library(module: str, extra: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise UsageError(f"the {extra} tracker needs the {module} package ({exc}): "
                         f"pip install 'dfer-harness[{extra}]'") from None


class WandbTracker(Tracker):
    """Weights & Biases: one W&B run per harness run, online or offline (``mode=offline`` writes
    it under ``dir``/wandb for a later ``wandb sync``). The API key comes from W&B's own login or
    ``WANDB_API_KEY``, never from an argument, so it cannot reach a results file."""

    PARAMS = {
        "project": harness.Param(str, "W&B project (default: W&B's own, from WANDB_PROJECT)"),
        "entity": harness.Param(str, "W&B entity (team or user)"),
        "mode": harness.Param(str, "online, offline or disabled (default: W&B's own)",
                              choices=["online", "offline", "disabled"]),
        "group": harness.Param(str, "W&B group, e.g. the study's name"),
        "job_type": harness.Param(str, "W&B job type (default eval)"),
        "dir": harness.Param(str, "folder W&B writes its run files under (default: the working folder)"),
    }

    def __init__(self, params: dict[str, Any]):
        self.wandb, self.params, self.run = _library("wandb", "wandb"), params, None

    def start(self, options: dict[str, Any]) -> None:
        p = self.params
        self.run = self.wandb.init(project=p.get("project"), entity=p.get("entity"), mode=p.get("mode"),
                                   group=p.get("group"), job_type=p.get("job_type", "eval"), dir=p.get("dir"),
                                   config={"options": options}, reinit="create_new",
                                   # W&B's own metadata holds the process's command line as typed, credentials
                                   # included: it is left out (the run's options, masked, are the config)
                                   settings=self.wandb.Settings(console="off", silent=True, x_disable_meta=True,
                                                                save_code=False))

    def log(self, run: FinishedRun) -> str | None:
        wandb, wrun = self.wandb, self.run
        wrun.name = run.name
        wrun.config.update(run.params(), allow_val_change=True)
        wrun.summary.update(run.metrics())
        media: dict[str, Any] = {}
        with scratch() as folder:
            for key in run.document["tasks"]:
                columns, rows = run.per_class(key)
                media[f"{key}/per_class"] = wandb.Table(columns=columns, data=rows)
                columns, rows = run.confusion(key)
                media[f"{key}/confusion"] = wandb.Table(columns=columns, data=rows)
                columns, rows = run.samples(key)
                if rows:
                    media[f"{key}/samples"] = wandb.Table(columns=columns, data=rows)
            for name, path in run.figures(Path(folder)).items():
                media[f"{name}_figure"] = wandb.Image(str(path))
            wrun.log(media)
        wrun.save(str(run.results_path), base_path=str(run.results_path.parent), policy="now")
        for path in run.sample_paths.values():
            wrun.save(str(path), base_path=str(path.parent), policy="now")
        return wrun.url or wrun.dir

    def finish(self) -> None:
        if self.run is not None:
            self.run.finish()
            self.run = None


#: MLflow accepts letters, digits and ``_ - . space / :`` in parameter and metric names.
_MLFLOW_KEY = re.compile(r"[^\w\-. /:]")


class MlflowTracker(Tracker):
    """MLflow: one MLflow run per harness run in ``experiment``, on the tracking server (or store)
    at ``tracking_uri``. Parameters and metrics go in batches; the results file, the per-sample
    logs, the tables (JSON) and the figures are the run's artifacts. Credentials belong in
    MLflow's own ``MLFLOW_TRACKING_USERNAME``/``PASSWORD``; any in the URI are masked wherever the
    harness prints or records it."""

    PARAMS = {
        "tracking_uri": harness.Param(str, "MLflow tracking server or store (default: MLFLOW_TRACKING_URI, "
                                           "else MLflow's own ./mlruns)"),
        "experiment": harness.Param(str, "experiment name (default dfer-harness)"),
        "retries": harness.Param(int, "HTTP retries per request before the tracker gives up (default 2: a "
                                      "server that is gone costs seconds, not MLflow's minutes of backoff)",
                                 low=0, high=20),
        "timeout": harness.Param(int, "seconds per HTTP request (default 30)", low=1, high=3600),
    }

    def __init__(self, params: dict[str, Any]):
        self.mlflow = _library("mlflow", "mlflow")
        self.params = params
        self.client = None
        self.run_id: str | None = None
        self.experiment_id: str | None = None
        self.ok = False

    def start(self, options: dict[str, Any]) -> None:
        from harness.redact import add_secret

        os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = str(self.params.get("retries", 2))
        os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(self.params.get("timeout", 30))
        for variable in ("MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
            add_secret(os.environ.get(variable))
        self.client = self.mlflow.MlflowClient(tracking_uri=self.params.get("tracking_uri"))
        name = self.params.get("experiment", "dfer-harness")
        found = self.client.get_experiment_by_name(name)
        self.experiment_id = found.experiment_id if found else self.client.create_experiment(name)
        command = " ".join(str(x) for x in options.get("command") or [])[:5000]
        self.run_id = self.client.create_run(self.experiment_id, tags={"harness.command": command}).info.run_id

    def log(self, run: FinishedRun) -> str | None:
        from mlflow.entities import Metric, Param, RunTag

        client, run_id = self.client, self.run_id
        client.set_tag(run_id, "mlflow.runName", run.name)
        params = [Param(_MLFLOW_KEY.sub("_", k), v[:6000]) for k, v in run.params().items()]
        metrics = [Metric(_MLFLOW_KEY.sub("_", k), v, 0, 0) for k, v in run.metrics().items()]
        for i in range(0, len(params), 100):
            client.log_batch(run_id, params=params[i:i + 100])
        for i in range(0, len(metrics), 1000):
            client.log_batch(run_id, metrics=metrics[i:i + 1000])
        client.log_batch(run_id, tags=[RunTag("harness.run_id", run.name)])
        client.log_artifact(run_id, str(run.results_path))
        for path in run.sample_paths.values():
            client.log_artifact(run_id, str(path), "samples")
        for key in run.document["tasks"]:
            name = slug(key)
            for kind, (columns, rows) in (("per_class", run.per_class(key)), ("confusion", run.confusion(key))):
                client.log_dict(run_id, {"columns": columns, "rows": rows}, f"tables/{name}_{kind}.json")
        with scratch() as folder:
            for path in run.figures(Path(folder)).values():
                client.log_artifact(run_id, str(path), "figures")
        self.ok = True
        uri = self.client.tracking_uri
        return f"{uri}/#/experiments/{self.experiment_id}/runs/{run_id}" if uri.startswith("http") else f"{uri} run {run_id}"

    def finish(self) -> None:
        if self.client is not None and self.run_id is not None:
            run_id, self.run_id = self.run_id, None
            self.client.set_terminated(run_id, status="FINISHED" if self.ok else "FAILED")


class TrackioTracker(Tracker):
    """Trackio: local-first (a SQLite file per project under ``TRACKIO_DIR``, default Hugging Face's
    cache), viewed with ``trackio show --project NAME``."""

    PARAMS = {
        "project": harness.Param(str, "Trackio project (default dfer-harness)"),
        "group": harness.Param(str, "Trackio group, e.g. the study's name"),
    }

    def __init__(self, params: dict[str, Any]):
        self.trackio, self.params, self.open = _library("trackio", "trackio"), params, False

    def log(self, run: FinishedRun) -> str | None:
        trackio = self.trackio
        project = self.params.get("project", "dfer-harness")
        trackio.init(project=project, name=run.name, group=self.params.get("group"), config=run.params(),
                     capture_console=False, auto_log_cpu=False, auto_log_gpu=False)
        self.open = True
        logged: dict[str, Any] = dict(run.metrics())

        with scratch() as folder:
            for key in run.document["tasks"]:
                for kind, (columns, rows) in (("per_class", run.per_class(key)), ("confusion", run.confusion(key)),
                                              ("samples", run.samples(key))):
                    if rows:
                        logged[f"{key}/{kind}"] = trackio.Table(columns=columns, data=rows, allow_mixed_types=True)
            for name, path in run.figures(Path(folder)).items():
                logged[f"{name}_figure"] = trackio.Image(str(path))
            trackio.log(logged, step=0)
            self.finish()
        return f"trackio show --project {project}"

    def finish(self) -> None:
        if self.open:
            self.open = False
            self.trackio.finish()


@harness.hookimpl
def harness_register_trackers(register):
    register("wandb", WandbTracker, description="Weights & Biases (online or offline): pip install "
                                                "'dfer-harness[wandb]'")
    register("mlflow", MlflowTracker, description="MLflow tracking server or store: pip install "
                                                  "'dfer-harness[mlflow]'")
    register("trackio", TrackioTracker, description="Trackio, local-first: pip install 'dfer-harness[trackio]'")
