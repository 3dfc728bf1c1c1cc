"""A third-party tracker, registered through the same hook as the built-in ones: it appends what it
is handed to a JSON Lines file (``path=...``); ``fail=start|log`` makes it raise at that step."""

import json

import harness


class Recorder(harness.Tracker):
    PARAMS = {"path": harness.Param(str, "where to append"),
              "fail": harness.Param(str, "raise at this step", choices=["start", "log"])}

    def __init__(self, params):
        self.path, self.fail = params["path"], params.get("fail")

    def _write(self, **entry):
        with open(self.path, "a") as f:
            f.write(json.dumps(entry) + "\n")

    def start(self, options):
        if self.fail == "start":
            raise ConnectionError("tracking server at http://user:hunter22@example.invalid is not there")
        self._write(step="start", options=options)

    def log(self, run):
        if self.fail == "log":
            raise ConnectionError("server went away")
        self._write(step="log", name=run.name, metrics=run.metrics(), params=run.params(),
                    results=str(run.results_path))
        return self.path

    def finish(self):
        self._write(step="finish")


@harness.hookimpl
def harness_register_trackers(register):
    register("recorder", Recorder, description="appends what it is handed to a file (tests)")
