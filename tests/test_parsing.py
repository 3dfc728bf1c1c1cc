"""Answer parsing: a table of real-looking answers and their expected outcome."""

import pytest

from harness.emotions import BASIC7, SYNONYMS
from harness.parsing import AnswerParser

PARSER = AnswerParser(BASIC7, SYNONYMS)


@pytest.mark.parametrize("text, prediction, rule", [
    ("happy", "happy", "exact"),
    ("Happy", "happy", "exact"),
    (" Surprise.\n", "surprise", "exact"),
    ("Happiness.", "happy", "alias"),
    ("**Anger**", "angry", "alias"),
    ("The person looks angry", "angry", "mention"),
    ("I think she is scared.", "fear", "mention"),
    ("The expression shows no emotion at all", "neutral", "mention"),
    ("sad or angry", None, "ambiguous"),
    ("Happy, then sad", None, "ambiguous"),
    ("", None, "empty"),
    ("   ", None, "empty"),
    (None, None, "empty"),
    ("I cannot tell.", None, "no_match"),
    ("B", None, "no_match"),
    ("unhappy", "sad", "alias"),
    ("saddest", None, "no_match"),  # whole words only: no partial matches
])
def test_answer_table(text, prediction, rule):
    parsed = PARSER.parse(text)
    assert (parsed.prediction, parsed.rule) == (prediction, rule)
    assert parsed.status == ("ok" if prediction else "invalid")


def test_same_class_named_twice_is_not_ambiguous():
    parsed = PARSER.parse("Happy. The person is happy and joyful.")
    assert (parsed.prediction, parsed.status) == ("happy", "ok")


def test_alias_to_unknown_class_is_rejected():
    with pytest.raises(ValueError, match="not one of the classes"):
        AnswerParser(("a", "b"), {"x": "c"})
