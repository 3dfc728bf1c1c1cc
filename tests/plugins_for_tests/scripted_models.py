"""Models with scripted answers, to test prompts and parsing end to end."""
import harness
from harness.model import Model
from harness.types import Response


class Scripted(Model):
    batch_size = 4

    def __init__(self, args):
        self.answer = str(args.get("answer", "A"))

    def identity(self):
        return {"id": f"scripted-{self.answer}"}

    def predict(self, requests):
        return [Response(text=self.answer) for _ in requests]


class Echo(Model):
    """Answers with the first choice shown, by name: reveals the candidate order."""

    def identity(self):
        return {"id": "echo-first"}

    def predict(self, requests):
        return [Response(text=r.choices[0]) for r in requests]


@harness.hookimpl
def harness_register_models(register):
    register("scripted", Scripted, description="always gives the answer=... argument")
    register("echo-first", lambda args: Echo(), description="answers the first choice shown")


class Counting(Model):
    """Answers a class chosen by a hash of the sample id (deterministic, batch-invariant),
    counts its calls, and can be slowed down to be killed mid-run."""

    calls = 0
    batch_size = 2

    def __init__(self, args):
        self.delay = float(args.get("delay", 0))

    def identity(self):
        return {"id": "counting"}

    def predict(self, requests):
        import hashlib
        import time
        Counting.calls += len(requests)
        time.sleep(self.delay * len(requests))
        return [Response(text=r.choices[int(hashlib.sha256(r.sample_id.encode()).hexdigest(), 16)
                                        % len(r.choices)]) for r in requests]


@harness.hookimpl(specname="harness_register_models")
def register_counting(register):
    register("counting", Counting, description="hash-of-id answers; counts its calls")


class Sampler(Counting):
    """A model whose answers depend on the request's seed, as non-greedy decoding does."""

    sampling = True

    def identity(self):
        return {"id": "sampler"}

    def predict(self, requests):
        Counting.calls += len(requests)
        return [Response(text=r.choices[(hash(r.sample_id) + r.seed) % len(r.choices)]) for r in requests]


@harness.hookimpl(specname="harness_register_models")
def register_sampler(register):
    register("sampler", Sampler, description="answers depend on the seed")


class FlakyCaptioner(Model):
    """A captioner that describes every stretch except one (``fail_on``: a sample id), where its
    server answers with an error."""

    def __init__(self, args):
        self.fail_on = str(args.get("fail_on", ""))

    def identity(self):
        return {"id": "flaky-captioner", "fail_on": self.fail_on}

    def predict(self, requests):
        return [Response(error="captioner overloaded") if r.sample_id.startswith(self.fail_on + "#")
                else Response(text=f"the face changes ({len(r.frames.array)} frames)") for r in requests]


@harness.hookimpl(specname="harness_register_models")
def register_flaky(register):
    register("flaky-captioner", FlakyCaptioner, description="captions every stretch but those of one sample")


class Closing(Model):
    """Records its ``close()`` calls (``Closing.closed``, by model id); ``fail=predict`` raises in its
    first batch (a failed batch), ``fail=prepare`` stops the run (the engine is gone), ``fail=close``
    raises in its close."""

    closed: list[str] = []
    built: list["Closing"] = []  # every instance, in order
    closed_models: list["Closing"] = []  # every close() call's instance

    def __init__(self, args):
        self.fail = args.get("fail")
        self.id = f"closing-{args.get('id', 0)}"
        Closing.built.append(self)

    def identity(self):
        return {"id": self.id}

    def prepare(self, workload):
        if self.fail == "prepare":
            from harness.errors import ModelAborted
            raise ModelAborted("the engine is gone")

    def predict(self, requests):
        if self.fail == "predict":
            raise RuntimeError("the engine died")
        return [Response(text=r.choices[0]) for r in requests]

    def close(self):
        Closing.closed.append(self.id)
        Closing.closed_models.append(self)
        if self.fail == "close":
            raise RuntimeError("the engine would not stop")


@harness.hookimpl(specname="harness_register_models")
def register_closing(register):
    register("closing", Closing, description="records its close(); fail=predict|prepare|close")
