"""A model whose worker process dies the first time it answers (a marker file remembers), as a
lost Ray worker would; afterwards it answers by a hash of the sample id."""
import hashlib
import os

import harness
from harness.model import Model
from harness.types import Response


class CrashOnce(Model):
    batch_size = 4

    def __init__(self, args):
        self.marker = str(args["marker"])

    def identity(self):
        return {"id": "crash-once"}

    def predict(self, requests):
        if not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os._exit(1)  # the process dies mid-shard, without cleaning up
        return [Response(text=r.choices[int(hashlib.sha256(r.sample_id.encode()).hexdigest(), 16) % len(r.choices)])
                for r in requests]


@harness.hookimpl
def harness_register_models(register):
    register("crash-once", CrashOnce, description="dies once, then answers by a hash of the sample id")
