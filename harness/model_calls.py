"""A model's calls through the response cache: answers already known are taken from it, new ones
are stored the moment they come back (so a crash or an abort loses nothing answered)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.errors import ModelAborted
from harness.model import Model
from harness.response_cache import ResponseCache, request_key
from harness.types import Request, Response


def checked(response) -> Response:
    """``response`` if it is well formed, else an error response for its sample alone: a model (or a
    server's reply) that hands back something else fails that sample, never the run."""
    if not isinstance(response, Response):
        return Response(error=f"the model returned {type(response).__name__}, not a Response")
    if response.text is not None and not isinstance(response.text, str):
        return Response(error=f"the model's answer is {type(response.text).__name__}, not text: {response.text!r:.200}")
    if response.scores is not None and not (isinstance(response.scores, dict) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in response.scores.values())):
        return Response(error=f"the model's scores are not numbers by class: {response.scores!r:.200}")
    return response


@dataclass
class Pending:
    """A batch's cache keys, the answers the cache had, and the indices still to ask the model."""

    keys: list[str]
    known: dict[str, Response]
    todo: list[int]


@dataclass
class CachedCalls:
    """``model`` behind ``cache`` (None: no cache). ``identity`` is the model's cache identity
    (its ``identity()`` plus the provenance of its answers); ``protocol`` what else keys an answer
    (the frame protocol, or a strategy's role)."""

    model: Model
    cache: ResponseCache | None
    identity: dict | None
    protocol: dict = field(default_factory=dict)
    from_cache: int = 0  # answers taken from the cache
    corrupt: int = 0  # cache entries that did not parse (recomputed)

    def lookup(self, requests: list[Request]) -> Pending:
        """What the cache knows of ``requests``."""
        if not self.cache:
            return Pending([], {}, list(range(len(requests))))
        keys = [request_key(self.identity, self.protocol, r, self.model.sampling) for r in requests]
        before = len(self.cache.corrupt)
        known = self.cache.get_many(keys)
        self.corrupt += len(self.cache.corrupt) - before
        self.from_cache += len(known)
        return Pending(keys, known, [i for i in range(len(requests)) if keys[i] not in known])

    def ask(self, requests: list[Request], pending: Pending, inputs: Any = None) -> list[Response]:
        """The model's answers to ``pending.todo`` (from ``inputs`` when its ``preprocess`` built them),
        stored in the cache at once, merged with the known ones in request order."""
        fresh: list[Response] = []
        if pending.todo:
            asked = [requests[i] for i in pending.todo]
            try:
                fresh = self.model.predict(asked) if inputs is None else self.model.predict_preprocessed(asked, inputs)
            except ModelAborted as exc:  # keep what did come back: the rerun resumes from it
                self._store(pending, exc.answered)
                raise
            if len(fresh) != len(pending.todo):
                raise RuntimeError(f"model returned {len(fresh)} responses for {len(pending.todo)} requests")
            fresh = [checked(r) for r in fresh]
            self._store(pending, fresh)
        answers = dict(zip(pending.todo, fresh))
        return [answers[i] if i in answers else pending.known[pending.keys[i]] for i in range(len(requests))]

    def answer(self, requests: list[Request]) -> list[Response]:
        """``lookup`` then ``ask``: the model's responses, from the cache where it has them."""
        return self.ask(requests, self.lookup(requests))

    def _store(self, pending: Pending, answers: list[Response | None]) -> None:
        if not self.cache:
            return
        got = [(pending.keys[i], r) for i, r in zip(pending.todo, answers) if r is not None and r.error is None]
        if got:
            self.cache.put_many(str(self.identity.get("id")), got)
