"""Answer parsing: tiered, deterministic, and never a random fallback.

Tiers, first match wins; the rule that decided is recorded per sample:
0. ``letter`` (lettered prompts only): the answer is an option letter
   (``B``, ``(B)``, ``B. sad``, ``Answer: B``), mapped through the order the
   options were shown in. Letters are upper case, and ``A`` and ``I`` (an
   article and a pronoun) count only where nothing but a letter can stand:
   alone, in brackets, or before punctuation. "The answer is I think sadness"
   is not option I. A letter whose option contradicts a class named beside
   it ("B. happy" when B is sad) is ``conflict``;
1. ``exact``: the whole answer (trimmed, lower-cased, outer punctuation and
   markdown removed) is a class name;
2. ``alias``: the whole answer is a synonym from the task's table;
3. ``first_line``: the first line, or its first sentence, is a class name
   or synonym, or names exactly one class ("sad.\\n\\nExplanation: not happy");
4. ``mention``: the whole answer names exactly one class (by name or
   synonym) as a whole word; hyphenated forms count (``sad-looking``), and a
   class after a negation ("does not look angry") does not. Naming two
   different classes is ``ambiguous``, none ``no_match``: both ``invalid``.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

_TOKENS = re.compile(r"[a-z]+(?:'[a-z]+)?|[.,;:!?()]")
_NEGATIONS = {"not", "no", "never", "without", "nor", "neither", "hardly", "barely", "non", "cannot",
              "lacks", "lacking", "absent", "than", "instead"}
_CLAUSE_BREAKS = {".", ",", ";", ":", "!", "?", "(", ")", "but", "and", "rather", "so", "yet"}
_NEGATION_WINDOW = 3  # words before a class name that can negate it
_OUTER = " \t\r\n.,;:!?\"'`*_()[]{}<>"
_AMBIGUOUS_LETTERS = "AI"  # an article and a pronoun: letters only where nothing else can stand
_LETTER_ALONE = re.compile(r"^[\(\[]?([A-Z])[\)\]]?[.:]?$")
_LETTER_LOWER_BRACKETED = re.compile(r"^[\(\[]([a-z])[\)\]]$")
_LETTER_LEADING = re.compile(r"^[\(\[]?([A-Z])[\)\].:]\s+(.*)$", re.S)
_LETTER_STATED = re.compile(r"(?i:\b(?:answer|option|choice)\b)(?:\s+(?i:is))?\s*[:\-]?\s*"
                            r"(?:[\(\[]([A-Za-z])[\)\]]|([A-Za-z])(?=$|[\s.,;:!?)]))")


@dataclass(frozen=True)
class Parsed:
    prediction: str | None  # a canonical class name, or None when invalid
    status: str  # "ok" | "invalid"
    rule: str  # letter | exact | alias | first_line | mention | ambiguous | no_match | bad_letter | conflict | empty


class AnswerParser:
    """Maps free text to one of a task's classes."""

    def __init__(self, classes: tuple[str, ...], aliases: dict[str, str]):
        self.classes = tuple(classes)
        self.names = {c.lower() for c in classes}
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
            parsed = self._letter(text.strip(), letters)
            if parsed is not None:
                return parsed
        whole = self._whole(text)
        if whole is not None:
            return whole
        first = self._first_line(text)
        if first is not None:
            return first
        found = self._mentions(text)
        if len(found) == 1:
            return Parsed(found.pop(), "ok", "mention")
        if len(found) > 1:
            return Parsed(None, "invalid", "ambiguous")
        return Parsed(None, "invalid", "no_match")

    # -- tiers -------------------------------------------------------------------------------------

    def _letter(self, text: str, letters: tuple[str, ...]) -> Parsed | None:
        head = text.splitlines()[0].strip().strip("*_` ")
        letter, rest = None, ""
        match = _LETTER_ALONE.match(head) or _LETTER_LOWER_BRACKETED.match(head)
        if match:
            letter = match.group(1).upper()
        else:
            match = _LETTER_LEADING.match(head)
            if match and not (match.group(1) in _AMBIGUOUS_LETTERS and head[1:2] not in ").]:"):
                letter, rest = match.group(1), match.group(2)
            else:
                for stated in _LETTER_STATED.finditer(text):
                    if stated.group(1) or _plain_letter(stated.group(2), text[stated.end():]):
                        letter = (stated.group(1) or stated.group(2)).upper()
                        break
        if letter is None:
            return None
        index = string.ascii_uppercase.index(letter)
        if index >= len(letters):
            return Parsed(None, "invalid", "bad_letter")
        named = self._whole(rest) if rest else None
        if named is not None and named.prediction != letters[index]:
            return Parsed(None, "invalid", "conflict")
        return Parsed(letters[index], "ok", "letter")

    def _whole(self, text: str) -> Parsed | None:
        cleaned = " ".join(text.strip().lower().strip(_OUTER).split())
        if cleaned in self.lookup:
            return Parsed(self.lookup[cleaned], "ok", "exact" if cleaned in self.names else "alias")
        return None

    def _first_line(self, text: str) -> Parsed | None:
        lines = [line for line in text.strip().splitlines() if line.strip(_OUTER)]
        if not lines or (len(lines) < 2 and not re.search(r"[.!?;]\s", text.strip())):
            return None  # nothing but punctuation, or a single sentence: the mention tier decides
        first = lines[0]
        sentence = re.split(r"(?<=[.!?;])\s", first.strip(), maxsplit=1)[0]
        for part in (first, sentence):
            whole = self._whole(part)
            if whole is not None:
                return Parsed(whole.prediction, "ok", "first_line")
        found = self._mentions(sentence)
        if len(found) == 1:
            return Parsed(found.pop(), "ok", "first_line")
        return None

    def _mentions(self, text: str) -> set[str]:
        """Classes named as whole words (or parts of hyphenated words), not negated."""
        tokens = _TOKENS.findall(text.lower().replace("-", " "))
        found: set[str] = set()
        for n in range(1, self._longest + 1):
            for i in range(len(tokens) - n + 1):
                target = self.lookup.get(" ".join(tokens[i:i + n]))
                if target is not None and not _negated(tokens, i):
                    found.add(target)
        return found


def _plain_letter(letter: str, after: str) -> bool:
    """Whether a letter stated after "answer is" is an option letter, judged by what follows it:
    a word after a lower-case letter, or after ``A``/``I``, makes it an article or a pronoun."""
    followed_by_word = re.match(r"\s+[A-Za-z]", after) is not None
    if letter.islower() or letter in _AMBIGUOUS_LETTERS:
        return not followed_by_word
    return True


def _negated(tokens: list[str], i: int) -> bool:
    """A negation among the few words before position ``i``, within the same clause."""
    for token in reversed(tokens[max(0, i - _NEGATION_WINDOW):i]):
        if token in _CLAUSE_BREAKS:
            return False
        if token in _NEGATIONS or token.endswith("n't"):
            return True
    return False
