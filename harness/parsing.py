"""Answer parsing: tiered, deterministic, and never a random fallback.

Tiers, first match wins:
0. ``letter`` (lettered prompts only): the answer is an option letter
   (``B``, ``(B)``, ``B. sad``, ``Answer: B``), mapped through the order the
   options were shown in;
1. ``exact``: the whole answer (trimmed, lower-cased, outer punctuation
   removed) is a class name;
2. ``alias``: the whole answer is a synonym from the task's table;
3. ``mention``: the answer names exactly one class (by name or synonym) as a
   whole word. Naming two different classes, or none, is ``invalid``.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

_WORD = re.compile(r"[a-z]+(?:[-'][a-z]+)*")
_LETTER_PATTERNS = (
    re.compile(r"^[\(\[]?([A-Za-z])[\)\]]?[.:]?$"),  # "B", "(b)", "B."
    re.compile(r"^[\(\[]?([A-Z])[\)\].:]\s"),  # "B. sad", "(B) sad"
    re.compile(r"(?i:answer|option)(?:\s+is)?\s*[:\-]?\s*[\(\[]?([A-Z])\b"),  # "Answer: B"
)


@dataclass(frozen=True)
class Parsed:
    prediction: str | None  # a canonical class name, or None when invalid
    status: str  # "ok" | "invalid"
    rule: str  # letter | exact | alias | mention | ambiguous | no_match | bad_letter | empty


class AnswerParser:
    """Maps free text to one of a task's classes."""

    def __init__(self, classes: tuple[str, ...], aliases: dict[str, str]):
        self.classes = tuple(classes)
        self.lookup: dict[str, str] = {c.lower(): c for c in classes}
        for alias, target in aliases.items():
            if target not in self.classes:
                raise ValueError(f"alias {alias!r} points to {target!r}, "
                                 f"which is not one of the classes {self.classes}")
            self.lookup.setdefault(alias.lower(), target)
        self._longest = max((len(k.split()) for k in self.lookup), default=1)

    def parse(self, text: str | None, letters: tuple[str, ...] | None = None) -> Parsed:
        """Parse an answer; ``letters`` is the option order shown by a lettered prompt."""
        if text is None or not text.strip():
            return Parsed(None, "invalid", "empty")
        if letters:
            for pattern in _LETTER_PATTERNS:
                match = pattern.search(text.strip())
                if match:
                    index = string.ascii_uppercase.index(match.group(1).upper())
                    if index >= len(letters):
                        return Parsed(None, "invalid", "bad_letter")
                    return Parsed(letters[index], "ok", "letter")
        cleaned = text.strip().lower().strip(" \t\r\n.,;:!?\"'`*()[]{}")
        if cleaned in self.lookup:
            rule = "exact" if cleaned in {c.lower() for c in self.classes} else "alias"
            return Parsed(self.lookup[cleaned], "ok", rule)
        words = _WORD.findall(text.lower())
        found: set[str] = set()
        for n in range(1, self._longest + 1):
            for i in range(len(words) - n + 1):
                target = self.lookup.get(" ".join(words[i:i + n]))
                if target is not None:
                    found.add(target)
        if len(found) == 1:
            return Parsed(found.pop(), "ok", "mention")
        if len(found) > 1:
            return Parsed(None, "invalid", "ambiguous")
        return Parsed(None, "invalid", "no_match")
