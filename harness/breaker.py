"""A circuit breaker shared by every request a remote model sends.

Without it a server that dies mid-run is noticed only after each remaining
request has spent its whole retry budget (about 30 minutes for a DFEW fold),
and a wrong API key lets every request of the run go out and be refused. The
breaker ends the run instead:

- at once, on a refusal that will be the same for every request: 401/403
  (authentication, authorization), 404/405 (no such model or route);
- after ``fatal_refusals`` other refusals (4xx) before the server has
  answered anything: the requests are wrong for this server, not one clip;
- after ``failures`` consecutive failed attempts across all requests
  (connection errors, timeouts, 5xx; 429 is waited out, not counted), or
  when attempts keep failing and no answer has come for ``seconds``.

Until the server has answered once, requests go one at a time (the plugin's
job), so a wrong key costs one request, not a run's worth.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

#: Refusals that every request of the run would get.
FATAL_STATUS = {401: "authentication failed (check the API key)",
                403: "not authorized (check the API key and its permissions)",
                404: "not found (check the model name and base_url)",
                405: "method not allowed (check base_url: it should end in /v1)"}


@dataclass
class Breaker:
    failures: int = 16
    seconds: float = 60.0
    fatal_refusals: int = 3
    consecutive: int = 0  # failed attempts since the last answer, across requests
    refusals: int = 0  # refusals before the first answer
    answered: bool = False  # the server has answered at least once
    since: float = field(default_factory=time.monotonic)  # last answer, or the start of this call
    last_error: str = ""
    reason: str | None = None  # why it tripped; None while closed

    def __post_init__(self):
        if self.failures < 1 or self.seconds <= 0 or self.fatal_refusals < 1:
            raise ValueError("breaker_failures and breaker_refusals must be at least 1, breaker_seconds above 0")

    def settings(self) -> dict:
        return {"failures": self.failures, "seconds": self.seconds, "fatal_refusals": self.fatal_refusals}

    def start(self) -> None:
        """A new batch of requests begins: time without an answer counts from here."""
        self.since = time.monotonic()

    def ok(self) -> None:
        self.consecutive, self.answered, self.since = 0, True, time.monotonic()

    def failed(self, error: str) -> str | None:
        """An attempt failed in a way a retry may cure; the reason if the breaker trips now."""
        self.consecutive += 1
        self.last_error = error
        return self.check()

    def refused(self, status: int, error: str) -> str | None:
        """The server refused a request (4xx); the reason if no request can succeed."""
        if status in FATAL_STATUS:
            return self.trip(f"the server refused the request, HTTP {status}, {FATAL_STATUS[status]}: {error}")
        if not self.answered:
            self.refusals += 1
            if self.refusals >= self.fatal_refusals:
                return self.trip(f"the server refused each of the first {self.refusals} requests and answered "
                                 f"none, so it would refuse them all; the last refusal: {error}")
        return None

    def check(self) -> str | None:
        """Trip when failures have piled up or lasted too long; the reason, or None."""
        if self.reason is None and self.consecutive:
            quiet = time.monotonic() - self.since
            if self.consecutive >= self.failures:
                self.trip(f"{self.consecutive} attempts in a row failed across requests (breaker_failures="
                          f"{self.failures}); the last: {self.last_error}")
            elif quiet >= self.seconds:
                self.trip(f"attempts keep failing and no answer came for {quiet:.0f} s (breaker_seconds="
                          f"{self.seconds:g}); the last failure: {self.last_error}")
        return self.reason

    def trip(self, reason: str) -> str:
        if self.reason is None:
            self.reason = reason
        return self.reason
