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
