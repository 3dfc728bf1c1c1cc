"""Prompt templates: the words a model is asked, kept apart from task data.

Three kinds, each with its own system prompt:
- ``names``: the question lists the class names and asks for one word;
- ``letters``: the classes are lettered options (A, B, C, ...);
- ``open``: no list at all; the free answer is mapped through the task's synonyms.
"""

from __future__ import annotations

import hashlib
import json
import string
from dataclasses import dataclass
from typing import Any

KINDS = ("names", "letters", "open")


@dataclass(frozen=True)
class PromptTemplate:
    """A system prompt and a user prompt with a ``{choices}`` slot.

    The rendered messages put the video before the question, the order most
    video VLMs were trained on.
    """

    name: str
    system: str
    user: str
    kind: str = "names"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"prompt kind must be one of {KINDS}, got {self.kind!r}")

    def text(self, choices: tuple[str, ...]) -> str:
        if self.kind == "letters":
            if len(choices) > len(string.ascii_uppercase):
                raise ValueError("too many choices for lettered options")
            listed = "\n".join(f"{string.ascii_uppercase[i]}. {c}" for i, c in enumerate(choices))
        else:
            listed = ", ".join(choices)
        return self.user.format(choices=listed)

    def answer_keys(self, choices: tuple[str, ...]) -> tuple[str, ...]:
        """What the model is asked to write for each choice: letters, or () for the names."""
        return tuple(string.ascii_uppercase[:len(choices)]) if self.kind == "letters" else ()

    def render(self, choices: tuple[str, ...]) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        if self.system:
            messages.append({"role": "system", "content": [{"type": "text", "text": self.system}]})
        messages.append({"role": "user", "content": [{"type": "video"},
                                                     {"type": "text", "text": self.text(choices)}]})
        return messages

    def to_dict(self, choices: tuple[str, ...]) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "system": self.system, "user": self.user,
                "rendered": self.text(choices), "choices": list(choices)}


def prompt_hash(messages: list[dict[str, Any]]) -> str:
    """A short stable hash of the exact messages, for per-sample logs."""
    text = json.dumps(messages, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


SYSTEM = "You are an expert in facial expression analysis."

NAMES = PromptTemplate(
    name="names", kind="names", system=SYSTEM,
    user=("Watch the video of a person's face. Which emotion does the facial expression "
          "show? Choose one of: {choices}. Answer with one word."),
)

LETTERS = PromptTemplate(
    name="letters", kind="letters", system=SYSTEM,
    user=("Watch the video of a person's face. Which emotion does the facial expression "
          "show?\n{choices}\nAnswer with the option's letter."),
)

OPEN = PromptTemplate(
    name="open", kind="open", system=SYSTEM,
    user=("Watch the video of a person's face. What emotion does the facial expression show? "
          "Answer with one word."),
)

#: The templates every DFER task ships unless it defines its own.
DEFAULT_TEMPLATES = {t.name: t for t in (NAMES, LETTERS, OPEN)}
