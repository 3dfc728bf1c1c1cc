"""Secrets kept out of everything the harness writes or prints.

Two kinds: credentials inside URLs (``http://user:PASS@host/v1``) are recognised
by their shape; a secret value the harness is handed (a served model's API key)
is registered with :func:`add_secret` the moment it is read. Results documents
and per-sample logs are redacted when written, and the command's own output
streams when printed, so a server that echoes the key in an error body cannot
put it into a results file, a board, a published site or the terminal.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"
_URL_CREDENTIALS = re.compile(r"(?<=://)[^/\s:@'\"]+(?::[^/\s@'\"]*)?@")
_SECRETS: set[str] = set()


def add_secret(value: str | None) -> None:
    """Register a secret value (an API key): it is masked wherever it appears from now on."""
    if value and len(value) >= 4:  # a shorter "secret" would mask ordinary text
        _SECRETS.add(value)


def redact(text: str) -> str:
    """``text`` with URL credentials and registered secrets masked."""
    if "://" in text:
        text = _URL_CREDENTIALS.sub(MASK + "@", text)
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact_all(value: Any) -> Any:
    """Every string inside ``value`` (dicts, lists, keys too) redacted; other values as they are."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(k) if isinstance(k, str) else k: redact_all(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_all(v) for v in value]
    return value


class RedactingStream:
    """A text stream that masks secrets in what passes through it (the command's stdout and stderr)."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(redact(text))
        return len(text)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)
