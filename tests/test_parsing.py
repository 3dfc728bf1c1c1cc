"""Answer parsing: a table of real-looking answers and their expected outcome."""

import pytest

from harness import lexicon
from harness.emotions import BASIC7, MAFW_SYNONYMS, SYNONYMS
from harness.parsing import DEFAULT_REASONING_TAGS, RULES, AnswerParser, reasoning_tags, rule_counts

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
    ("sad or angry", None, "hedge"),
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


# -- reasoning ---------------------------------------------------------------------------------------

def test_reasoning_is_set_apart_from_the_answer():
    parsed = PARSER.parse("<think>The smile is broad, but the brows rise: surprise?</think>\n\nHappy")
    assert (parsed.prediction, parsed.rule) == ("happy", "exact")
    assert parsed.reasoning == "The smile is broad, but the brows rise: surprise?"
    assert parsed.answer_text == "Happy"
    plain = PARSER.parse("sad")
    assert plain.reasoning is None and plain.answer_text == "sad"


def test_a_closing_tag_alone_ends_reasoning_begun_in_the_prompt():
    parsed = PARSER.parse("The mouth turns down, not a smile.\n</think>\n\nsad")
    assert (parsed.prediction, parsed.reasoning) == ("sad", "The mouth turns down, not a smile.")


def test_reasoning_that_never_closed_is_invalid_with_its_own_rule():
    parsed = PARSER.parse("<think>The eyes are wide, so it must be")
    assert (parsed.prediction, parsed.status, parsed.rule) == (None, "invalid", "unclosed_reasoning")
    assert parsed.reasoning == "The eyes are wide, so it must be"


def test_r1_answer_tags_and_glm_boxes_hold_the_answer():
    r1 = PARSER.parse("<think>Happy? The eyes do not smile.</think>\n<answer>sad</answer>")
    glm = PARSER.parse("<think>raised brows</think><answer><|begin_of_box|>surprise<|end_of_box|></answer>")
    assert (r1.prediction, r1.answer_text) == ("sad", "sad")
    assert glm.prediction == "surprise"


def test_reasoning_tags_are_configurable():
    text = "<think>happy</think> sad"
    assert AnswerParser(BASIC7, SYNONYMS, reasoning_tags=()).parse(text).prediction is None  # two classes
    custom = AnswerParser(BASIC7, SYNONYMS, reasoning_tags=reasoning_tags('[["[[", "]]"]]'))
    assert custom.parse("[[happy at first]] sad").prediction == "sad"
    assert reasoning_tags(None) == reasoning_tags("default") == DEFAULT_REASONING_TAGS
    assert reasoning_tags("none") == ()
    assert reasoning_tags("think,reasoning") == (("<think>", "</think>"), ("<reasoning>", "</reasoning>"))
    with pytest.raises(ValueError, match="reasoning tag pair"):
        reasoning_tags([["<think>"]])


# -- rules and their counts ----------------------------------------------------------------------------

def test_every_rule_is_listed_and_only_readings_are_ok():
    texts = ["sad", "Happiness", "B", "The person looks sad.", "sad.\nNot happy.", '{"answer": "sad"}',
             "Final answer: sad", "Happy. Wait, no: sad.", "happy or sad", "happy and sad", "B. happy",
             "H", "hmm", "", "<think>x"]
    for text in texts:
        parsed = PARSER.parse(text, letters=BASIC7)
        assert parsed.rule in RULES
        assert (parsed.status == "ok") == (parsed.prediction is not None)


def test_rule_counts_over_parses_and_rows():
    parses = [PARSER.parse(t) for t in ("sad", "happy", "Happiness", "happy or sad")]
    assert rule_counts(parses) == {"exact": 2, "alias": 1, "hedge": 1}
    rows = [{"rule": "exact"}, {"rule": None}, {"rule": "mention"}, {"rule": "exact"}]
    assert rule_counts(rows) == {"exact": 2, "mention": 1}
    assert list(rule_counts([{"rule": "no_match"}, {"rule": "letter"}])) == ["letter", "no_match"]


# -- the lexicon ---------------------------------------------------------------------------------------

def test_every_lexicon_word_has_one_concept_and_a_source():
    seen = {}
    for concept in lexicon.CONCEPTS:
        for word, source in lexicon.ENGLISH[concept]:
            assert word not in seen, f"{word!r} is in {seen[word]} and {concept}"
            seen[word] = concept
            assert source == "harness" or source.startswith("wn:"), (word, source)
        for forms in lexicon.CHINESE[concept]:
            assert len(forms) >= 2, f"{forms[0]}: simplified and traditional"
            for form in forms:
                assert seen.get(form, concept) == concept, form
                seen[form] = concept


def test_the_standard_tables_keep_the_earlier_words():
    earlier = {"happiness": "happy", "joy": "happy", "smiling": "happy", "sorrow": "sad", "upset": "sad",
               "crying": "sad", "calm": "neutral", "no emotion": "neutral", "mad": "angry", "rage": "angry",
               "shocked": "surprise", "revulsion": "disgust", "afraid": "fear", "anxious": "fear"}
    assert {w: SYNONYMS[w] for w in earlier} == earlier
    assert MAFW_SYNONYMS["anxious"] == "anxiety" and MAFW_SYNONYMS["letdown"] == "disappointment"


def test_anxiety_words_read_as_fear_only_where_a_task_has_no_anxiety_class():
    assert lexicon.synonyms_for(("Happy", "Fear"))["nervous"] == "Fear"
    assert lexicon.synonyms_for(("fear", "anxiety"))["nervous"] == "anxiety"
    assert "disappointed" not in lexicon.synonyms_for(BASIC7)


def test_tasks_extend_the_lexicon_through_their_aliases():
    parser = AnswerParser(BASIC7, {**SYNONYMS, "beaming": "happy", "一脸愁容": "sad"})
    assert parser.parse("beaming").prediction == "happy"
    assert parser.parse("她一脸愁容").prediction == "sad"


def test_chinese_and_full_width_answers():
    assert PARSER.parse("答案：悲伤").prediction == "sad"
    assert PARSER.parse("悲傷").prediction == "sad"
    assert PARSER.parse("答案是Ｂ", letters=BASIC7).prediction == "sad"
    assert PARSER.parse("不是高兴").rule == "no_match"


def test_random_bytes_do_not_crash():
    for text in ("\x00\x1c\ufffd", "�B�ness�app", "<think><think></think>", "{", "}{", "**", "\\boxed{",
                 "<answer>", "◁/think▷", "Ａ" * 50, "答" * 3):
        assert PARSER.parse(text, letters=BASIC7).status in ("ok", "invalid")


# -- degenerate answers (issue 33): every rule is linear, and the reading does not depend on the length --------

DEGENERATE = [  # (builder of an answer about n characters long, lettered prompt?, reading, rule)
    (lambda n: "happy" + "\n" * n + "x", False, "happy", "first_line"),
    (lambda n: "happy" + " " * n + "x", False, "happy", "mention"),
    (lambda n: "Final answer: " * (n // 14) + "sad", False, "sad", "final"),
    (lambda n: "The answer is " * (n // 14), False, None, "no_match"),
    (lambda n: "sad. wait, actually " * (n // 20) + "happy", False, "happy", "correction"),
    (lambda n: "not " + "happy or sad or angry or " * (n // 25) + "surprise", False, "neutral", "all_denied"),
    (lambda n: "option B " * (n // 9), True, "sad", "letter"),
    (lambda n: "<think>" * (n // 7), False, None, "unclosed_reasoning"),
    (lambda n: "<answer>sad" * (n // 11), False, "sad", "exact"),
    (lambda n: "So, " * (n // 4) + "fear", False, "fear", "final"),
    (lambda n: "happy" + "\n\n. " * (n // 4) + "x", False, "happy", "first_line"),
]


@pytest.mark.timeout(20)  # no speed assertion: only a quadratic blow-up (minutes at this size) can reach it
@pytest.mark.parametrize("build, lettered, prediction, rule", DEGENERATE)
def test_degenerate_answers_read_as_their_short_forms(build, lettered, prediction, rule):
    letters = BASIC7 if lettered else None
    short = PARSER.parse(build(60), letters=letters)
    long = PARSER.parse(build(200_000), letters=letters)
    assert (short.prediction, short.rule) == (prediction, rule)
    assert (long.prediction, long.rule) == (prediction, rule)


def test_readings_added_for_issue_33_are_valid_rules():
    for text, rule in (("angry (though it could also be read as disgust)", "first_hedged"),
                       ("The face shows no happiness, sadness or anger.", "all_denied")):
        parsed = PARSER.parse(text)
        assert parsed.rule == rule and parsed.rule in RULES and parsed.status == "ok"
    assert list(rule_counts([{"rule": "first_hedged"}, {"rule": "mention"}, {"rule": "hedge"}])) == [
        "mention", "first_hedged", "hedge"]
