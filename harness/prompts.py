"""Prompt templates: the words a model is asked, kept apart from task data."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PromptTemplate:
    """A system prompt and a user prompt with a ``{choices}`` slot.

    The rendered messages put the video before the question, the order most
    video VLMs were trained on.
    """

    name: str
    system: str
    user: str

    def render(self, choices: tuple[str, ...]) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        if self.system:
            messages.append({"role": "system", "content": [{"type": "text", "text": self.system}]})
        text = self.user.format(choices=", ".join(choices))
        messages.append({"role": "user", "content": [{"type": "video"},
                                                     {"type": "text", "text": text}]})
        return messages

    def to_dict(self, choices: tuple[str, ...]) -> dict[str, Any]:
        return {"name": self.name, "system": self.system, "user": self.user,
                "rendered": self.user.format(choices=", ".join(choices)),
                "choices": list(choices)}


def prompt_hash(messages: list[dict[str, Any]]) -> str:
    """A short stable hash of the exact messages, for per-sample logs."""
    text = json.dumps(messages, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


NAMES = PromptTemplate(
    name="names",
    system="You are an expert in facial expression analysis.",
    user=("Watch the video of a person's face. Which emotion does the facial expression "
          "show? Choose one of: {choices}. Answer with one word."),
)
