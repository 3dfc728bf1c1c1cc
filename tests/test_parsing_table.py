"""Adversarial answers and what the parser must make of them, per task family (DFEW 7, MAFW 11).

Each row: the model's answer, whether the prompt lettered the options (in
the release order), the expected class (None: invalid) and the rule that
must decide. A reviewer can read this table as the parser's specification.
"""

from __future__ import annotations

import pytest

from harness.emotions import BASIC7, MAFW11, MAFW_SYNONYMS, SYNONYMS
from harness.parsing import AnswerParser

L = "letters"
N = "names"

DFEW = [
    # exact names and their dressing
    ("happy", N, "happy", "exact"),
    ("Happy", N, "happy", "exact"),
    ("HAPPY.", N, "happy", "exact"),
    ("  sad \n", N, "sad", "exact"),
    ("**Angry**", N, "angry", "exact"),
    ('"fear"', N, "fear", "exact"),
    ("`disgust`", N, "disgust", "exact"),
    ("(surprise)", N, "surprise", "exact"),
    ("neutral!", N, "neutral", "exact"),
    # synonyms
    ("Happiness", N, "happy", "alias"),
    ("sadness.", N, "sad", "alias"),
    ("anger", N, "angry", "alias"),
    ("Surprised", N, "surprise", "alias"),
    ("disgusted", N, "disgust", "alias"),
    ("fearful", N, "fear", "alias"),
    ("scared", N, "fear", "alias"),
    ("no emotion", N, "neutral", "alias"),
    ("Joy", N, "happy", "alias"),
    # a first line that answers, then talk
    ("sad.\n\nExplanation: not happy", N, "sad", "first_line"),
    ("Angry\nThe brows are lowered, unlike in surprise.", N, "angry", "first_line"),
    ("Fear. The eyes widen as in surprise.", N, "fear", "first_line"),
    ("The emotion is sadness. It is not happiness.", N, "sad", "first_line"),
    ("Happy; although one could argue neutral.", N, "happy", "first_line"),
    # mentions in a sentence
    ("The person looks happy.", N, "happy", "mention"),
    ("I think sadness", N, "sad", "mention"),
    ("The answer is I think sadness", N, "sad", "mention"),
    ("This face shows anger", N, "angry", "mention"),
    ("a happy-ish smile", N, "happy", "mention"),
    ("sad-looking", N, "sad", "mention"),
    ("The expression is one of disgust", N, "disgust", "mention"),
    ("It looks fearful to me", N, "fear", "mention"),
    ("not happy but sad", N, "sad", "mention"),
    ("sad rather than happy", N, "sad", "mention"),
    ("He is not angry, he is sad.", N, "sad", "mention"),
    ("more surprised than scared", N, "surprise", "mention"),
    ("Without doubt: angry", N, "angry", "mention"),
    # negations and ambiguity are invalid, never guessed
    ("The person does not look angry.", N, None, "no_match"),
    ("Not happy.", N, None, "no_match"),
    ("She isn't sad", N, None, "no_match"),
    ("never fearful", N, None, "no_match"),
    ("happy or sad", N, None, "ambiguous"),
    # nothing but punctuation (a random model wrote this): invalid, and no crash
    ("! ?", N, None, "no_match"),
    (". .\n;", L, None, "no_match"),
    ("Happy, sad, angry", N, None, "ambiguous"),
    ("It could be happy and it could be surprise", N, None, "ambiguous"),
    ("contempt", N, None, "no_match"),
    ("I cannot tell.", N, None, "no_match"),
    ("", N, None, "empty"),
    ("   \n ", N, None, "empty"),
    ("unhappiness", N, None, "no_match"),
    ("The sadder one", N, None, "no_match"),
    # lettered prompts: A happy, B sad, C neutral, D angry, E surprise, F disgust, G fear
    ("B", L, "sad", "letter"),
    ("(D)", L, "angry", "letter"),
    ("G.", L, "fear", "letter"),
    ("b", L, None, "no_match"),
    ("(b)", L, "sad", "letter"),
    ("Answer: E", L, "surprise", "letter"),
    ("answer: b", L, "sad", "letter"),
    ("The answer is C because the face is relaxed.", L, "neutral", "letter"),
    ("Option F", L, "disgust", "letter"),
    ("B. sad", L, "sad", "letter"),
    ("B) sad", L, "sad", "letter"),
    ("B. happy", L, None, "conflict"),
    ("A", L, "happy", "letter"),
    ("The answer is A happy face", L, "happy", "mention"),
    ("I think the answer is C.", L, "neutral", "letter"),
    ("I", L, None, "bad_letter"),
    ("The answer is I think sadness", L, "sad", "mention"),
    ("H", L, None, "bad_letter"),
    ("sad", L, "sad", "exact"),
    ("**B**", L, "sad", "letter"),
]

MAFW = [
    ("anger", N, "anger", "exact"),
    ("Happiness.", N, "happiness", "exact"),
    ("helplessness", N, "helplessness", "exact"),
    ("Disappointment", N, "disappointment", "exact"),
    ("contempt", N, "contempt", "exact"),
    ("anxiety", N, "anxiety", "exact"),
    ("neutral", N, "neutral", "exact"),
    ("angry", N, "anger", "alias"),
    ("happy", N, "happiness", "alias"),
    ("sad", N, "sadness", "alias"),
    ("Disappointed", N, "disappointment", "alias"),
    ("helpless", N, "helplessness", "alias"),
    ("anxious", N, "anxiety", "alias"),
    ("worried", N, "anxiety", "alias"),
    ("contemptuous", N, "contempt", "alias"),
    ("scared", N, "fear", "alias"),
    ("surprised", N, "surprise", "alias"),
    ("disgusted", N, "disgust", "alias"),
    ("sadness.\nThe mouth corners drop, not anger.", N, "sadness", "first_line"),
    ("Contempt. One side of the lip rises, unlike disgust.", N, "contempt", "first_line"),
    ("Helplessness; perhaps sadness.", N, "helplessness", "first_line"),
    ("The person feels helpless.", N, "helplessness", "mention"),
    ("She seems disappointed with the result", N, "disappointment", "mention"),
    ("a nervous look", N, "anxiety", "mention"),
    ("I think sadness", N, "sadness", "mention"),
    ("The answer is I think sadness", N, "sadness", "mention"),
    ("sad-looking eyes", N, "sadness", "mention"),
    ("He is not angry, he is anxious.", N, "anxiety", "mention"),
    ("anxiety rather than fear", N, "anxiety", "mention"),
    ("The face shows contempt", N, "contempt", "mention"),
    ("Not disgust.", N, None, "no_match"),
    ("The person does not look angry.", N, None, "no_match"),
    ("doesn't seem disappointed", N, None, "no_match"),
    ("sadness or disappointment", N, None, "ambiguous"),
    ("anger and contempt", N, None, "ambiguous"),
    ("helpless and anxious", N, None, "ambiguous"),
    ("confused", N, None, "no_match"),
    ("", N, None, "empty"),
    ("I cannot tell", N, None, "no_match"),
    ("boredom", N, None, "no_match"),
    # letters: A anger, B disgust, C fear, D happiness, E neutral, F sadness, G surprise,
    # H contempt, I anxiety, J helplessness, K disappointment
    ("I", L, "anxiety", "letter"),
    ("(I)", L, "anxiety", "letter"),
    ("I.", L, "anxiety", "letter"),
    ("Answer: I", L, "anxiety", "letter"),
    ("The answer is I think sadness", L, "sadness", "mention"),
    ("I think it is sadness", L, "sadness", "mention"),
    ("I believe the answer is K.", L, "disappointment", "letter"),
    ("K", L, "disappointment", "letter"),
    ("J. helplessness", L, "helplessness", "letter"),
    ("J. sadness", L, None, "conflict"),
    ("(h)", L, "contempt", "letter"),
    ("h", L, None, "no_match"),
    ("L", L, None, "bad_letter"),
    ("Option B", L, "disgust", "letter"),
    ("The answer is A.", L, "anger", "letter"),
    ("A person in distress", L, None, "no_match"),
    ("The answer is A sad face", L, "sadness", "mention"),
    ("choice: H", L, "contempt", "letter"),
    ("contempt", L, "contempt", "exact"),
    ("**F**", L, "sadness", "letter"),
    ("F) sadness", L, "sadness", "letter"),
    ("I'd say G", L, None, "no_match"),  # a letter in chatter without "answer"/"option" is not taken
]


def _check(parser: AnswerParser, classes, rows):
    failures = []
    for text, kind, expected, rule in rows:
        got = parser.parse(text, letters=tuple(classes) if kind == L else None)
        if (got.prediction, got.rule) != (expected, rule):
            failures.append(f"{text!r} ({kind}): got {got.prediction!r} by {got.rule}, "
                            f"expected {expected!r} by {rule}")
        assert got.status == ("ok" if expected else "invalid")
    assert not failures, "\n".join(failures)


def test_the_table_is_large_enough():
    assert len(DFEW) >= 60 and len(MAFW) >= 60


def test_dfew_answers():
    _check(AnswerParser(BASIC7, SYNONYMS), BASIC7, DFEW)


def test_mafw_answers():
    _check(AnswerParser(MAFW11, MAFW_SYNONYMS), MAFW11, MAFW)


@pytest.mark.parametrize("text", [row[0] for row in DFEW])
def test_parsing_is_deterministic(text):
    parser = AnswerParser(BASIC7, SYNONYMS)
    assert parser.parse(text) == parser.parse(text) == AnswerParser(BASIC7, SYNONYMS).parse(text)
