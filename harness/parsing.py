"""Answer parsing: deterministic, read as a careful reader reads, never a random fallback.

An answer goes through these steps; the first that decides names the rule recorded per sample
(docs/answers.md gives an example of each):

1. ``empty``: nothing but white space.
2. Reasoning: thinking in ``<think>…</think>`` and the other pairs of
   :data:`DEFAULT_REASONING_TAGS` (configurable per parser: :func:`reasoning_tags`) is set apart
   in ``.reasoning``; a closing tag without its opening one (the opening tag was in the prompt)
   makes everything before it reasoning. An opening tag that never closed: ``unclosed_reasoning``.
3. Answer wrappers: the last ``<answer>…</answer>`` (R1-style), GLM's
   ``<|begin_of_box|>…<|end_of_box|>`` and ``\\boxed{…}`` narrow the answer to their content
   (nothing left: ``empty``). Full-width letters and punctuation become ASCII (NFKC), Chinese
   punctuation its Latin counterpart.
4. ``correction``: after "wait", "actually", "on second thought", "no," and the like (等等, 不对,
   其实; "不，" after a question: 开心吗？不，他很生气), the last part that reads as an answer wins, if
   something was said before it.
5. ``letter`` / ``exact`` / ``alias``: the whole answer is an option letter (lettered prompts
   only: ``B``, ``(B)``, ``**B**``), a class name, or a synonym (the task's aliases; by default
   harness/lexicon.py's words).
6. ``json``: a JSON object with an answer-like key (``answer``, ``label``, ``emotion``, …);
   other keys (``alternatives``, ``confidence``, ``reasoning``) are ignored.
7. ``final``: an explicit statement: "Final answer: …" first, then "The answer is …",
   "Answer: …", "I'd go with …", "My choice is …", "My first (best) guess is …", "The correct
   option is …", 答案是…; among statements of one kind the last wins (a statement ends at its
   sentence, its line or the next marker of its kind). A letter so stated gives ``letter``.
8. ``letter``: the answer opens with a letter ("B. sad", "B) …", "B - sad", "B (sad)").
9. ``letter``: "option B" outside a statement (the last one not negated: "not option B",
   "option B is wrong" are skipped), "It's B", "B is correct"; "Either B or D" is ``hedge``.
10. ``final``: a bold answer (``**sad**``) when every bold answer agrees.
11. ``final``: the last conclusion ("So …", "Therefore …", "Overall …", 所以…) that names an
    answer, or a closing sentence that is nothing but one ("… are ruled out. C.").
12. ``first_line``: the first line or sentence of a longer answer is, or names, one class.
13. ``final``: "the emotion (shown) is …", 表情是….
14. ``mention``: the whole answer names exactly one class.

Two readings are valid but say how they were reached: ``first_hedged`` (in steps 7 and 11-14:
a class, then every other class only in a hedged afterthought right after it: "angry (though it
could also be read as disgust)", "angry, or possibly disgust": the first class) and
``all_denied`` (after step 14: nothing named, no doubt, and three or more classes denied in one
list: "the face shows no happiness, sadness or anger" is neutral, where neutral is a class).

Invalid readings, each with its own rule: ``hedge`` (two or more classes offered as
alternatives: "happy or surprise", "can't decide between…", "maybe sad, maybe angry"; or doubt
about the only one named: "not sure if she is angry"), ``ambiguous`` (two or more classes with no
hedge: "happy, then sad"), ``conflict`` (a letter and a class name that disagree, in any form:
"B. happy", "Answer: G (happy)", ``{"answer": "B", "emotion": "happy"}``), ``bad_letter`` (a
letter past the last option), ``no_match`` (no class at all), ``unclosed_reasoning``, ``empty``.

How classes are counted in steps 7-14: a class after "not", "no", "never", "rule out",
"unlike", "than", "instead of", 不, 没有, … in the same clause is not named, and the negation
runs through a list ("no sign of anger or fear" names neither) but stops at "but" or a new
clause ("not happy but sad" is sad; "surprise, not fear" is surprise); "anger is ruled out" and
"option B is wrong" negate what comes before them. A class named as a trace beside another
("neutral, with a hint of sadness") gives way to it, and so does one the face leaves ("starts
happy and turns angry", "from surprise to fear", 从惊讶变成恐惧: the one it ends on). "un-happy" is
not happy; "angry would be my last guess" rules angry out; "no particular emotion" is "no emotion".
Phrases whose emotion word is no answer ("I'm afraid I can't tell", "happy to help", "no doubt")
name nothing.

Cost: every step is linear in the length of the answer, and none cuts it (no bound on the text
read): a degenerate answer of a million characters (newline runs, "Final answer: " or "<think>"
repeated, …) parses in seconds and reads as its short form (bench/parse_degenerate.py). Regular
expressions that start a white-space scan at every character of a run, and statements that each
ran to the end of the answer, were quadratic before.
"""

from __future__ import annotations

import json
import re
import string
import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

#: Reasoning tag pairs stripped before parsing: the ``<think>`` family (Qwen3-VL-Thinking,
#: GLM-4.1V-Thinking, R1-Omni, HumanOmni, MiMo-VL), Kimi-VL-Thinking's ``◁think▷`` and the
#: spellings Open WebUI and lmms-eval also recognise.
DEFAULT_REASONING_TAGS: tuple[tuple[str, str], ...] = (
    ("<think>", "</think>"), ("<thinking>", "</thinking>"), ("<reasoning>", "</reasoning>"),
    ("<reason>", "</reason>"), ("<thought>", "</thought>"),
    ("<|begin_of_thought|>", "<|end_of_thought|>"), ("◁think▷", "◁/think▷"),
)

#: Every rule, in the order the parser tries them (invalid ones last).
RULES = ("correction", "letter", "exact", "alias", "json", "final", "first_line", "mention", "first_hedged",
         "all_denied", "hedge", "ambiguous", "conflict", "bad_letter", "no_match", "unclosed_reasoning", "empty")


@dataclass(frozen=True)
class Parsed:
    prediction: str | None  # a canonical class name, or None when invalid
    status: str  # "ok" | "invalid"
    rule: str  # one of RULES
    reasoning: str | None = None  # the reasoning set apart from the answer, if any
    answer_text: str | None = None  # what the rules read: the answer less reasoning and wrappers


def reasoning_tags(spec: str | Sequence | None) -> tuple[tuple[str, str], ...]:
    """Reasoning tag pairs from a run option or a model preset (as lmms-eval's ``--reasoning_tags``).

    ``None`` or ``"default"``: :data:`DEFAULT_REASONING_TAGS`; ``"none"`` or ``""``: no stripping;
    a JSON list of pairs (``[["<think>", "</think>"]]``); or tag names, comma-separated
    (``"think,reasoning"`` means ``<think>…</think>`` and ``<reasoning>…</reasoning>``)."""
    if spec is None:
        return DEFAULT_REASONING_TAGS
    if isinstance(spec, str):
        text = spec.strip()
        if text.lower() == "default":
            return DEFAULT_REASONING_TAGS
        if text.lower() in ("", "none", "off", "false"):
            return ()
        if text.startswith("["):
            spec = json.loads(text)
        else:
            return tuple((f"<{name.strip()}>", f"</{name.strip()}>") for name in text.split(",") if name.strip())
    pairs = []
    for pair in spec:
        if isinstance(pair, str) or len(pair) != 2 or not all(isinstance(t, str) and t for t in pair):
            raise ValueError(f"a reasoning tag pair is (opening, closing), two non-empty strings: got {pair!r}")
        pairs.append((pair[0], pair[1]))
    return tuple(pairs)


def rule_counts(results: Iterable) -> dict[str, int]:
    """How many answers each rule decided: over :class:`Parsed` objects or per-sample rows
    (dicts with a ``rule``; rows without one, failed samples, are left out). Rules in
    :data:`RULES` order, then any others by name."""
    counts: Counter = Counter()
    for r in results:
        rule = r.get("rule") if isinstance(r, dict) else getattr(r, "rule", None)
        if rule is not None:
            counts[rule] += 1
    order = {rule: i for i, rule in enumerate(RULES)}
    return {rule: counts[rule] for rule in sorted(counts, key=lambda k: (order.get(k, len(order)), k))}


# -- text preparation ----------------------------------------------------------------------------

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_PUNCT_MAP = str.maketrans({"。": ". ", "、": ", ", "「": '"', "」": '"', "『": '"', "』": '"', "“": '"',
                            "”": '"', "‘": "'", "’": "'", "《": '"', "》": '"', "【": "[", "】": "]",
                            "\u200b": "", "\u200c": "", "\u200d": "", "\ufeff": ""})
_SPACE_AFTER_CJK_PUNCT = re.compile(rf"([.!?;:,])(?=[{_CJK}])")
_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.S | re.I)
_ANSWER_OPEN = re.compile(r"<answer>", re.I)
_ANSWER_CLOSE = re.compile(r"</answer>", re.I)
_BOX = re.compile(r"<\|begin_of_box\|>(.*?)<\|end_of_box\|>", re.S)
_BOX_OPEN = re.compile(r"<\|begin_of_box\|>")
_LATEX_BOX = re.compile(r"\\boxed\{([^{}]*)\}")
_STRAY_MARKUP = re.compile(r"</?answer>|<\|(?:begin|end)_of_box\|>", re.I)


def _normalize(text: str) -> str:
    """Full-width letters and punctuation to ASCII (NFKC), Chinese punctuation to Latin, quotes plain."""
    text = unicodedata.normalize("NFKC", text).translate(_PUNCT_MAP)
    return _SPACE_AFTER_CJK_PUNCT.sub(r"\1 ", text)


# -- tokens, mentions, negation ------------------------------------------------------------------

_TOKENS = re.compile(rf"[a-z]+(?:'[a-z]+)?|[{_CJK}]|[.,;:!?()/]")
_HEDGE = "qqhedge"  # a hedging phrase ("not sure", "hard to say"): a cue, not a negation
_DOUBT = "qqdoubt"  # doubt about what follows ("not sure if", "can't tell whether"): cue and negation
_IDIOM = "qqidiom"  # a phrase whose emotion word is no answer ("I'm afraid", "no doubt", "happy to help")
_DOUBT_PHRASES = re.compile(
    r"\b(?:(?:am |'m |i'm )?not (?:entirely |completely |totally |quite |really )?(?:sure|certain) "
    r"(?:if|whether|about|between)|unsure (?:if|whether|about|between)|uncertain (?:if|whether|about|between)|"
    r"can(?:no|')?t (?:decide|tell|determine|say|choose)(?: (?:if|whether|between))?|"
    r"could(?:n't| not) (?:decide|tell|determine)(?: (?:if|whether|between))?|torn between|"
    r"(?:do not|don't) know (?:if|whether)|undecided between|(?:hard|difficult) to (?:say|tell|decide) "
    r"(?:if|whether|between))\b")
_HEDGE_PHRASES = re.compile(
    r"\b(?:(?:am |'m |i'm )?not (?:entirely |completely |totally |quite |really )?(?:sure|certain)|unsure|"
    r"uncertain|undecided|(?:hard|difficult) to (?:say|tell|decide|determine))\b")
_IDIOMS = re.compile(
    r"\b(?:i'm afraid|i am afraid|im afraid|i fear|afraid (?:not|so)|no doubt|without (?:a )?doubt|"
    r"not only|not just|no wonder|nothing but|no question|no matter|never mind|no worries|not to worry|"
    r"(?:do not|don't) worry|(?:be |am |'m |'d be |would be )?(?:happy|glad|pleased|delighted) to "
    r"(?:help|assist|answer|analy[sz]e|explain))\b")
_CJK_DOUBT = re.compile(r"不确定|不能确定|无法确定|不知道|难以判断|难以确定|说不清|无法判断|不好说")
_NEGATORS = frozenset({
    "not", "no", "never", "without", "nor", "neither", "hardly", "barely", "non", "cannot", "lacks", "lacking",
    "lack", "absent", "absence", "than", "instead", "unlike", "except", "excluding", "exclude", "excludes",
    "eliminate", "eliminates", "eliminated", "eliminating", "rule", "rules", "ruled", "ruling", "nothing",
    "none", "opposed", _DOUBT, "不", "没", "无", "非", "未", "别", "除"})
_POST_NEGATORS = frozenset({"not", "unlikely", "excluded", "eliminated", "ruled", "wrong", "incorrect",
                            "absent", "missing", "lacking", "impossible", "never"})
_AUX = frozenset({"is", "are", "was", "were", "be", "been", "can", "could", "would", "should", "must",
                  "may", "might", "seems", "seem", "appears", "appear", "does", "do", "did", "definitely",
                  "clearly", "probably", "certainly", "also", "here", "really", "then", "likely"})
_CLAUSE_BREAKS = frozenset({".", ",", ";", ":", "!", "?", "(", ")", "but", "however", "though", "although",
                            "while", "whereas", "yet", "so", "and", "rather", "instead", "但", "而", "却"})
_LIST_GLUE = frozenset({",", "or", "nor", "and", "/", "either", "neither", "any", "a", "an", "the", "of",
                        "sign", "signs", "hint", "hints", "trace", "traces", "evidence", "even", "not", "no",
                        "also", "和", "或", "与", "及", "者", "也", "没", "有", "不"})
_COORDINATORS = frozenset({"or", "nor", "and", "/", "和", "或", "与", "及"})
_HEDGE_CUES = frozenset({"or", "either", "between", "maybe", "perhaps", "possibly", "possible", "might",
                         "could", "unsure", "uncertain", "unclear", "/", _HEDGE, _DOUBT, "或"})
_CJK_HEDGE_CUES = ("还是", "可能", "也许", "或许", "或者")
_TRACE_WORDS = frozenset({"hint", "hints", "touch", "tinge", "trace", "traces", "undertone", "undertones",
                          "slight", "slightly", "bit", "some", "little", "mild", "mildly", "somewhat", "略", "点",
                          "丝", "些"})
_NEGATION_WINDOW = 5  # tokens before a class that a negation can stand in
_SHIFT = "qqshift"  # a change from one expression to another ("turns", "becomes"): the later one stands
_UN_HYPHEN = re.compile(r"\bun-(?=[a-z])")  # "un-happy" is not happy (and not "unhappy", a synonym of sad)
_NO_PARTICULAR = re.compile(r"\bno (?:particular|discernible|visible|apparent|obvious|specific|clear|strong|"
                            r"identifiable|distinct|evident|noticeable|real) (emotion|expression)s?\b")
_LAST_GUESS = re.compile(r"\b(?:would be|will be|is|was) (?:my|the) (?:very )?last (?:guess|choice|pick|resort)\b")
_SHIFT_PHRASES = re.compile(
    r"\b(?:(?:turns?|turning|turned)(?: in)?(?: to| into)?|becomes?|becoming|became|(?:changes?|changing|changed|"
    r"shifts?|shifting|shifted|switch(?:es)?|switching|switched|transitions?|transitioning|transitioned) (?:to|into)|"
    r"(?:gives?|giving|gave) way to|(?:melts?|melting|melted) into|(?:ends?|ending|ended) up(?: as| in| with)?)\b"
    r"|变成|變成|变为|變為|转为|轉為|转变为|轉變為")
_AFTERTHOUGHT_CUES = frozenset({"possibly", "perhaps", "maybe"})  # "angry, or possibly disgust": angry, hedged
_MIN_DENIED = 3  # classes denied in one list that make a face read as neutral ("shows no happiness, sadness or anger")


def _tokens(text: str) -> list[str]:
    low = _UN_HYPHEN.sub("not ", text.lower()).replace("-", " ")
    low = _NO_PARTICULAR.sub(r"no \1", low)
    low = _LAST_GUESS.sub(" is unlikely ", low)
    low = _SHIFT_PHRASES.sub(f" {_SHIFT} ", low)
    low = _DOUBT_PHRASES.sub(f" {_DOUBT} ", low)
    low = _HEDGE_PHRASES.sub(f" {_HEDGE} ", low)
    low = _IDIOMS.sub(f" {_IDIOM} ", low)
    low = _CJK_DOUBT.sub(f" {_DOUBT} ", low)
    return _TOKENS.findall(low)


def _is_negator(token: str) -> bool:
    return token in _NEGATORS or token.endswith("n't")


@dataclass(frozen=True)
class _Mention:
    start: int
    end: int
    target: str
    negated: bool
    doubted: bool  # negated by a doubt ("not sure if …")
    secondary: bool  # qualified as a trace beside another ("neutral, with a hint of sadness")
    superseded: bool = False  # a state the face leaves ("starts happy and turns angry", "from surprise to fear")
    group: int = -1  # the first mention of the negated list it belongs to ("no happiness, sadness or anger")


def _named(mentions: list[_Mention]) -> set[str]:
    """The classes named and not negated; the main ones only where others are named as traces or
    as states the face leaves."""
    named = {m.target for m in mentions if not m.negated}
    main = {m.target for m in mentions if not m.negated and not m.secondary and not m.superseded}
    return main if main and len(main) < len(named) else named


def _first_hedged(tokens: list[str], mentions: list[_Mention]) -> str | None:
    """"angry (though it could also be read as disgust)", "angry, or possibly disgust": the first
    class, when every other class named stands in an afterthought right after it (a parenthesis
    with a hedge in it, or "or possibly/perhaps/maybe" up to the end of the sentence)."""
    named = [m for m in mentions if not m.negated]
    if len(named) < 2:
        return None
    first = named[0]
    p = first.end
    while p < len(tokens) and tokens[p] == ",":
        p += 1
    if p >= len(tokens):
        return None
    if tokens[p] == "(":
        close = next((j for j in range(p + 1, len(tokens)) if tokens[j] == ")"), len(tokens))
        if not any(t in _HEDGE_CUES for t in tokens[p + 1:close]):
            return None
    elif tokens[p] == "or" and p + 1 < len(tokens) and tokens[p + 1] in _AFTERTHOUGHT_CUES:
        close = next((j for j in range(p + 2, len(tokens)) if tokens[j] in (".", ";", "!", "?")), len(tokens))
    else:
        return None
    others = [m for m in named[1:] if m.target != first.target]
    if all(p < m.start and m.end <= close for m in others):
        return first.target
    return None


def _denied_neutral(tokens: list[str], mentions: list[_Mention], neutral: str | None) -> bool:
    """"The face shows no happiness, sadness or anger": nothing named, and three or more classes
    (not neutral) denied in one list, with no doubt expressed: the face shows none of them."""
    if neutral is None or any(not m.negated or m.doubted or m.target == neutral for m in mentions):
        return False
    if _DOUBT in tokens or _HEDGE in tokens:
        return False
    groups: dict[int, set[str]] = {}
    for m in mentions:
        if m.group >= 0:
            groups.setdefault(m.group, set()).add(m.target)
    return any(len(targets) >= _MIN_DENIED for targets in groups.values())


def _secondary(tokens: list[str], start: int, floor: int) -> bool:
    for j in range(start - 1, max(floor, start - 3) - 1, -1):
        if tokens[j] in _TRACE_WORDS:
            return True
        if tokens[j] in (".", ";", "!", "?"):
            return False
    return False


def _pre_negation(tokens: list[str], start: int, floor: int) -> str | None:
    """The negator before ``start`` in the same clause (not reaching back past ``floor``)."""
    for j in range(start - 1, max(floor, start - _NEGATION_WINDOW) - 1, -1):
        token = tokens[j]
        if _is_negator(token):
            return token
        if token in _CLAUSE_BREAKS:
            return None
    return None


def _post_negated(tokens: list[str], end: int, ceiling: int) -> bool:
    """"anger is ruled out", "happiness is unlikely", "sad isn't right": a negation after a class."""
    for j in range(end, min(ceiling, end + 4)):
        token = tokens[j]
        if token in _POST_NEGATORS or token.endswith("n't"):
            return True
        if token not in _AUX:
            return False
    return False


# -- patterns for statements and letters ---------------------------------------------------------

_LETTER_ALONE = re.compile(r"^[\(\[]?([A-Z])[\)\]]?[.:]?$")
_LETTER_LOWER_BRACKETED = re.compile(r"^[\(\[]([a-z])[\)\]]$")
_LETTER_LEADING = re.compile(r"^[\(\[]?([A-Z])(?:[\)\]]|[.:,](?=\s)|\s*[-–—](?=\s)|\s*(?=\())\s*(.*)$", re.S)
_OBJECT_LETTER = re.compile(
    rf"^\s*(?:(?:the\s+)?(?:option|choice|letter)\s*)?[\(\[]?[\"']?([A-Za-z])[\"']?[\)\]]?"
    rf"(?=$|[\s.,;:!?()\]\"'/]|[{_CJK}])")
_OR_LETTER = re.compile(r"\b(?:or|and)\s+(?:option\s+)?[\(\[]?([A-Z])\b[\)\]]?")
_BRACKETED_LETTER = re.compile(r"[\(\[]([A-Z])[\)\]]")
_OPTION_MENTION = re.compile(r"(?i)\b(?:option|choice|letter)\b\s*[:=]?\s*[\(\[]?([A-Za-z])\b[\)\]]?|选项\s*([A-Za-z])")
_ATTACHED = re.compile(r"\s*[:.)\]\-–—,]?\s*\(?([^,;.()\n]*)")
_WEAK_LETTER = re.compile(r"(?i)(?:\b(?:i think|i believe|i guess|i'd guess|it's|it is|that's|that is|this is|"
                          r"probably|likely|most likely|clearly)|(?:,|\bso|\btherefore|\bthus|\bhence))\s+"
                          r"(?:option\s+)?(?=[\(\[]?(?-i:[A-Z])\b)")
_LETTER_AFFIRMED = re.compile(r"(?:^|(?<=[\s(]))(?:option\s+)?\(?([A-Z])\)?\s+(?:is|seems|looks|would be)\s+(?:the\s+)?"
                              r"(?:correct|right|best|answer|most likely|most appropriate|most fitting)\b")
_LETTER_OR = re.compile(r"\b([A-Z])\)?\s*(?:or|/)\s*(?:option\s+)?\(?([A-Z])\b")
_LETTER_POST_NEGATION = re.compile(  # matched at a position (no ^): no copy of the rest of the answer
    r"(?i)\W*(?:(?:is|are|was|seems|would be|can be|should be|must be)\s+)?(?:definitely\s+|clearly\s+)?"
    r"(?:not\b|wrong\b|incorrect\b|unlikely\b|ruled out\b|excluded\b|eliminated\b|isn't\b|doesn't\b)")
_LETTER_PRE_NEGATION = re.compile(
    r"(?i)(?:\bnot|\bno|n't|\bnever|\bexclud\w*|\beliminat\w*|\brul\w* out|\bunlike|\bexcept|\binstead of|"
    r"\bother than|不是|不选|排除|并非|非)\s*(?:\w+\s*){0,2}$")
_CLAUSE_END = re.compile(r"[.;!?,\n]")
_SENTENCE_END = re.compile(r"[.!?;](?=\s|$)|\n")
_CONCESSION = re.compile(  # a white-space scan starts at its run's first character (or comma): inside a run was quadratic
    r"(?i)(?:,|(?<![\s,]))\s+(?:though|although|even though|but|however|while|whereas|yet)\b|,\s*但|,\s*不过")
_FINAL_MARKER = re.compile(
    r"(?i)\bfinal\s+(?:answer|choice|verdict|decision|prediction|classification|label|emotion|response)\b"
    r"(?:\s+(?:is|would be|will be|should be))?\s*[:=\-–—]?|最终(?:的)?(?:答案|选择)\s*(?:是|为)?\s*:?")
_ANSWER_MARKERS = re.compile(
    r"(?i)(?:\b(?:answer|prediction|classification)\b\s*(?:(?:is|would be|will be|should be|must be|"
    r"seems to be|appears to be|here is)\b\s*[:=]?|[:=\-–—]|\n)"
    r"|\b(?:correct|best|right|most likely|most appropriate|most fitting|closest|likeliest)\s+"
    r"(?:answer|option|choice|emotion|expression|label|class|category|match)\s*(?:is|would be|:|=)"
    r"|\bi(?:'d| would| will|'ll| shall)?\s+(?:go with|choose|pick|select|say|answer|opt for|settle on|"
    r"lean toward|lean towards|classify (?:it|this|the \w+) as|label (?:it|this) as)\b\s*:?"
    r"|\bmy (?:answer|choice|pick|guess|prediction|(?:final|first|best|top) guess|(?:first|top) choice)\s*"
    r"(?:is|would be|:)"
    r"|答案\s*(?:是|为|应该是|应为)?\s*:?|我(?:会|的)?选(?:择)?\s*(?:是)?\s*:?|应该选\s*:?)")
_CONCLUSION = re.compile(  # after a newline only spaces: every newline of a run starting a scan was quadratic
    r"(?i)(?:^\s*|(?<=[.!?])\s*|(?<=\n)[^\S\n]*)(?:so|therefore|thus|hence|overall|in conclusion|in summary|to conclude|"
    r"to summarize|in short|ultimately|all in all|in the end|consequently|综上所述|综上|因此|所以|总之|"
    r"总的来说)\b\s*[,:]?\s*")
_EMOTION_IS = re.compile(
    r"(?i)\b(?:emotion|expression|emotional state|feeling|mood|label|category|class)\b"
    r"(?:\s+(?:shown|displayed|expressed|depicted|conveyed|portrayed|visible|here|present|being shown|"
    r"being displayed|in (?:the|this) (?:video|clip|image|frames?)|on (?:the|their|his|her) face|of "
    r"(?:the|this) (?:person|subject|individual|man|woman)))*\s*(?:is|:|would be|seems to be|appears to be)\s"
    r"|(?:表情|情绪|情感)(?:是|为)")
_BOLD = re.compile(r"\*\*([^*\n]{1,40}?)\*\*|__([^_\n]{1,40}?)__")
_MARKDOWN = re.compile(r"[*`#>]+")
_JSON_KEYS = ("final_answer", "answer", "final", "prediction", "predicted_emotion", "predicted_label",
              "label", "emotion", "expression", "class", "category", "choice", "option", "result", "output")
_JSON_FIELD = re.compile(r"[\"']?(final_answer|answer|prediction|predicted_emotion|predicted_label|label|"
                         r"emotion|expression|class|category|choice|option|result|output)[\"']?\s*:\s*"
                         r"[\"']([^\"'\n{}]{1,60})[\"']", re.I)
_CORRECTION = re.compile(
    r"(?i)\b(?:wait|actually|correction|on second thought|on (?:further |closer )?reflection|"
    r"on closer (?:look|inspection|examination)|scratch that|i mean|let me (?:reconsider|correct|rethink)|"
    r"i take (?:that|it) back|i was wrong|i misspoke|(?:let me )?change my answer|revise my answer)\b"
    r"|(?:^|(?<=[.!?;,:—–-]))\s*(?:no|nope|不|不是)\s*[,.!;:—–-]"
    r"|等等|不对|更正|纠正|其实")
_AMBIGUOUS_LETTERS = "AI"  # an article and a pronoun: letters only where nothing else can stand
_OUTER = " \t\r\n.,;:!?\"'`*_()[]{}<>"


class AnswerParser:
    """Maps free text to one of a task's classes (see the module docstring for the rules)."""

    def __init__(self, classes: tuple[str, ...], aliases: dict[str, str],
                 reasoning_tags: Sequence[tuple[str, str]] | None = None):
        self.classes = tuple(classes)
        self.lookup: dict[str, str] = {}
        self.names: set[str] = set()
        for c in self.classes:
            key = _key(c)
            self.names.add(key)
            self.lookup.setdefault(key, c)
        for alias, target in aliases.items():
            if target not in self.classes:
                raise ValueError(f"alias {alias!r} points to {target!r}, "
                                 f"which is not one of the classes {self.classes}")
            key = _key(alias)
            if key:
                self.lookup.setdefault(key, target)
        self._longest = max((len(k.split()) for k in self.lookup), default=1)
        self._phrase_heads = {k.split()[0] for k in self.lookup if " " in k}  # words that may open a phrase
        tags = DEFAULT_REASONING_TAGS if reasoning_tags is None else tuple(reasoning_tags)
        self.reasoning_tags = tags
        self._tags = [(re.compile(re.escape(o) + r"(.*?)" + re.escape(c), re.S | re.I),
                       re.compile(re.escape(o), re.I), re.compile(re.escape(c), re.I)) for o, c in tags]

    # -- the whole answer ------------------------------------------------------------------------

    def parse(self, text: str | None, letters: tuple[str, ...] | None = None) -> Parsed:
        """Parse an answer; ``letters`` is the option order shown by a lettered prompt."""
        if text is None or not text.strip():
            return Parsed(None, "invalid", "empty")
        reasoning, answer, unclosed = self._split_reasoning(text)
        if unclosed:
            return Parsed(None, "invalid", "unclosed_reasoning", reasoning, answer.strip() or None)
        answer = _unwrap(answer)
        if not answer.strip():
            return Parsed(None, "invalid", "empty", reasoning, None)
        prediction, rule = self._decide(_normalize(answer).strip(), letters)
        return Parsed(prediction, "ok" if prediction is not None else "invalid", rule, reasoning, answer.strip())

    def _split_reasoning(self, text: str) -> tuple[str | None, str, bool]:
        thoughts: list[str] = []
        unclosed = False
        for block, opening, closing in self._tags:
            closes = list(closing.finditer(text))
            if closes:  # blocks end by the last closing tag: an opening after it never scans to the end
                end = closes[-1].end()
                head = text[:end]
                thoughts.extend(m.group(1).strip() for m in block.finditer(head))
                text = block.sub("\n", head) + text[end:]
                closes = list(closing.finditer(text))
            if closes:  # the opening tag was in the prompt (Qwen3-Thinking's template puts it there)
                last = closes[-1]
                thoughts.append(closing.sub("", text[:last.start()]).strip())
                text = text[last.end():]
            opened = opening.search(text)
            if opened:
                thoughts.append(text[opened.end():].strip())
                text = text[:opened.start()]
                unclosed = True
        reasoning = "\n\n".join(t for t in thoughts if t) or None
        return reasoning, text, unclosed

    def _decide(self, text: str, letters) -> tuple[str | None, str]:
        """Corrections first: the last part after a correction marker that reads as an answer."""
        marks = list(_CORRECTION.finditer(text))
        if marks:
            for k in range(len(marks) - 1, -1, -1):
                after = text[marks[k].end():marks[k + 1].start()] if k + 1 < len(marks) else text[marks[k].end():]
                reading = self._read(after.strip(" ,.;:!?—–-"), letters)
                if reading[1] == "no_match":
                    continue
                before = self._read(text[:marks[k].start()], letters)
                if before[1] == "no_match":
                    break  # nothing was said before the marker: nothing to correct
                return (reading[0], "correction") if reading[0] is not None else reading
        return self._read(text, letters)

    def _read(self, text: str, letters) -> tuple[str | None, str]:
        text = text.strip()
        if not text:
            return None, "no_match"
        bare = self._bare(text, letters)
        if bare is not None:
            return bare
        plain = _MARKDOWN.sub(" ", text)
        if not plain.strip():
            return None, "no_match"
        tiers = (lambda: self._json(text, letters),
                 lambda: self._statements(plain, letters, _FINAL_MARKER),
                 lambda: self._statements(plain, letters, _ANSWER_MARKERS),
                 lambda: self._leading_letter(plain, letters),
                 lambda: self._letter_hedge(plain, letters),
                 lambda: self._option_mentions(plain, letters),
                 lambda: self._weak_letters(plain, letters),
                 lambda: self._bold(text, letters),
                 lambda: self._statements(plain, letters, _CONCLUSION),
                 lambda: self._last_sentence(plain, letters),
                 lambda: self._first_line(plain),
                 lambda: self._statements(plain, letters, _EMOTION_IS))
        for tier in tiers:
            reading = tier()
            if reading is not None:
                return reading
        return self._mentioned(plain, letters)

    # -- tiers -------------------------------------------------------------------------------------

    def _whole(self, text: str) -> tuple[str, str] | None:
        key = _key(text.strip().strip(_OUTER))
        if key in self.lookup:
            return self.lookup[key], ("exact" if key in self.names else "alias")
        return None

    def _bare(self, text: str, letters) -> tuple[str | None, str] | None:
        """The whole answer is a letter, a class name or a synonym."""
        if letters:
            head = text.strip().strip("*_`\"' ")
            match = _LETTER_ALONE.match(head) or _LETTER_LOWER_BRACKETED.match(head)
            if match:
                return self._letter(match.group(1).upper(), letters)
        whole = self._whole(text)
        if whole is not None:
            return whole
        return None

    def _letter(self, letter: str, letters, rest: str = "") -> tuple[str | None, str]:
        index = string.ascii_uppercase.index(letter)
        if index >= len(letters):
            return None, "bad_letter"
        named = _named(self._mentions(rest)) if rest else set()
        if named and letters[index] not in named:
            return None, "conflict"
        return letters[index], "letter"

    def _json(self, text: str, letters) -> tuple[str | None, str] | None:
        if "{" not in text:
            return None
        values: list[str] = []
        start, end = text.find("{"), text.rfind("}")
        obj = None
        if end > start:
            chunk = text[start:end + 1]
            for attempt in (chunk, chunk.replace("'", '"')):
                try:
                    obj = json.loads(attempt)
                    break
                except ValueError:
                    continue
        if isinstance(obj, dict):
            values = _json_values(obj)
        else:
            values = [m.group(2) for m in _JSON_FIELD.finditer(text)]
        readings = []
        for value in values:
            reading = self._object(value, letters, whole=True)
            if reading is not None:
                readings.append(reading)
        if not readings:
            return None
        found = {r[0] for r in readings if r[0] is not None}
        if len(found) > 1:
            return None, ("conflict" if any(r[1] == "letter" for r in readings) else "ambiguous")
        if found:
            return found.pop(), "json"
        return readings[0]

    def _statements(self, text: str, letters, marker: re.Pattern,
                    letters_only: bool = False) -> tuple[str | None, str] | None:
        """The last statement after ``marker`` that reads as an answer.

        A statement ends at its sentence, its line, or the next marker of the same kind, whichever
        comes first: the spans are disjoint, so the work is linear in the answer however many
        markers it repeats ("Final answer: " ten thousand times was quadratic)."""
        found = None
        marks = list(marker.finditer(text))
        for k, m in enumerate(marks):
            bound = marks[k + 1].start() if k + 1 < len(marks) else len(text)
            reading = self._object(_sentence(text, m.end(), bound), letters, rest_of_line=_line(text, m.end(), bound),
                                   letters_only=letters_only)
            if reading is not None:
                found = reading
        return found

    def _object(self, obj: str, letters, whole: bool = False, rest_of_line: str = "",
                letters_only: bool = False) -> tuple | None:
        """What a statement says: a letter (lettered prompts), or the classes it names."""
        obj = obj.strip().strip("*`").strip()
        if not obj:
            return None
        if whole:
            bare = self._bare(obj, letters)
            if bare is not None:
                return bare if bare[1] != "exact" and bare[1] != "alias" else (bare[0], "final")
        if letters:
            match = _OBJECT_LETTER.match(obj)
            if match and _plain_letter(match.group(1), obj[match.end():]):
                letter = match.group(1).upper()
                rest = obj[match.end():]
                other = [x for x in _OR_LETTER.findall(rest) if x != letter]
                if other:
                    return None, "hedge"
                if rest.strip(_OUTER) == "" and rest_of_line:
                    rest = rest_of_line[rest_of_line.find(match.group(1)) + 1:] if match.group(1) in rest_of_line else ""
                    if self._whole(rest) is None:
                        rest = ""
                return self._letter(letter, letters, rest)
        if letters_only:
            return None
        tokens, mentions = self._scan(obj)
        named = _named(mentions)
        if letters:
            bracketed = _BRACKETED_LETTER.search(obj)
            if bracketed and named:
                index = string.ascii_uppercase.index(bracketed.group(1))
                if index < len(letters) and letters[index] not in named:
                    return None, "conflict"
        if len(named) == 1:
            return named.pop(), "final"
        if len(named) > 1:
            first = _first_hedged(tokens, mentions)
            if first is not None:
                return first, "first_hedged"
            return None, ("hedge" if _hedged(obj) else "ambiguous")
        if any(m.doubted for m in mentions):
            return None, "hedge"
        return None

    def _leading_letter(self, text: str, letters) -> tuple[str | None, str] | None:
        if not letters:
            return None
        head = text.strip().splitlines()[0].strip().strip("_\"' ")
        match = _LETTER_LEADING.match(head)
        if not match or (match.group(1) in _AMBIGUOUS_LETTERS and head[1:2] not in ").]:"
                         and not re.match(r"[AI]\s*\(", head)):
            return None
        rest = _SENTENCE_END.split(match.group(2), maxsplit=1)[0]
        return self._letter(match.group(1), letters, rest)

    def _option_mentions(self, text: str, letters) -> tuple[str | None, str] | None:
        """"option B" outside a statement; negated ones ("not option B", "option B is wrong") skipped."""
        if not letters:
            return None
        chosen = None
        for m in _OPTION_MENTION.finditer(text):
            before = text[max(0, m.start() - 40):m.start()]
            before = _CLAUSE_END.split(before)[-1]
            if _LETTER_PRE_NEGATION.search(before) or _LETTER_POST_NEGATION.match(text, m.end()):
                continue
            chosen = m
        if chosen is None:
            return None
        letter = (chosen.group(1) or chosen.group(2)).upper()
        return self._letter(letter, letters, _ATTACHED.match(text, chosen.end()).group(1))

    def _letter_hedge(self, text: str, letters) -> tuple[str | None, str] | None:
        """"Either B or D", "B/D": two option letters offered as alternatives."""
        if not letters:
            return None
        for m in _LETTER_OR.finditer(text):
            pair = {m.group(1), m.group(2)}
            if len(pair) == 2 and all(string.ascii_uppercase.index(x) < len(letters) for x in pair):
                return None, "hedge"
        return None

    def _weak_letters(self, text: str, letters) -> tuple[str | None, str] | None:
        """"It's B", "I think D": a letter stated without the word "answer"."""
        if not letters:
            return None
        stated = self._statements(text, letters, _WEAK_LETTER, letters_only=True)
        if stated is not None:
            return stated
        affirmed = list(_LETTER_AFFIRMED.finditer(text))
        return self._letter(affirmed[-1].group(1), letters) if affirmed else None

    def _bold(self, text: str, letters) -> tuple[str | None, str] | None:
        readings = set()
        for m in _BOLD.finditer(text):
            bare = self._bare(m.group(1) or m.group(2), letters)
            if bare is not None and bare[0] is not None:
                readings.add((bare[0], "letter" if bare[1] == "letter" else "final"))
        return readings.pop() if len(readings) == 1 else None

    def _last_sentence(self, text: str, letters) -> tuple[str | None, str] | None:
        """A closing sentence that is nothing but an answer ("… are ruled out. C.")."""
        sentences = [p for p in _SENTENCE_END.split(text) if p.strip(_OUTER)]
        if len(sentences) < 2:
            return None
        bare = self._bare(sentences[-1], letters)
        if bare is None or bare[0] is None:
            return None
        return bare[0], ("letter" if bare[1] == "letter" else "final")

    def _first_line(self, text: str) -> tuple[str, str] | None:
        lines = [line for line in text.strip().splitlines() if line.strip(_OUTER)]
        if not lines or (len(lines) < 2 and not re.search(r"[.!?;]\s", text.strip())):
            return None  # nothing but punctuation, or a single sentence: the mention tier decides
        first = lines[0]
        sentence = re.split(r"(?<=[.!?;])\s", first.strip(), maxsplit=1)[0]
        for part in (first, sentence):
            whole = self._whole(part)
            if whole is not None:
                return whole[0], "first_line"
        tokens, mentions = self._scan(sentence)
        named = _named(mentions)
        if len(named) == 1 and not _hedged(sentence):
            return named.pop(), "first_line"
        if len(named) > 1:
            first = _first_hedged(tokens, mentions)
            if first is not None:
                return first, "first_hedged"
        return None

    def _mentioned(self, text: str, letters) -> tuple[str | None, str]:
        tokens, mentions = self._scan(text)
        named = _named(mentions)
        if len(named) == 1:
            return named.pop(), "mention"
        if len(named) > 1:
            first = _first_hedged(tokens, mentions)
            if first is not None:
                return first, "first_hedged"
            return None, ("hedge" if _hedged(text) else "ambiguous")
        if any(m.doubted for m in mentions):
            return None, "hedge"
        if _denied_neutral(tokens, mentions, self.lookup.get("neutral")):
            return self.lookup["neutral"], "all_denied"
        return None, "no_match"

    def _mentions(self, text: str) -> list[_Mention]:
        return self._scan(text)[1]

    def _scan(self, text: str) -> tuple[list[str], list[_Mention]]:
        """The tokens, and the classes named as whole words (or parts of hyphenated words), longest
        phrase first, each with whether a negation covers it (within its clause, or through a list
        it heads)."""
        tokens = _tokens(text)
        spans: list[tuple[int, int, str]] = []
        i = 0
        while i < len(tokens):
            longest = min(self._longest, len(tokens) - i) if tokens[i] in self._phrase_heads else 1
            for n in range(longest, 0, -1):
                target = self.lookup.get(" ".join(tokens[i:i + n]))
                if target is not None:
                    spans.append((i, i + n, target))
                    i += n
                    break
            else:
                i += 1
        own = [_pre_negation(tokens, start, spans[k - 1][1] if k else 0) for k, (start, _, _) in enumerate(spans)]
        # lists: mentions joined only by commas, "or", "and", "nor" (and "no", "any", "sign of", …)
        links = [all(t in _LIST_GLUE for t in tokens[spans[k - 1][1]:spans[k][0]]) for k in range(1, len(spans))]
        coordinated = [any(t in _COORDINATORS for t in tokens[spans[k - 1][1]:spans[k][0]])
                       for k in range(1, len(spans))]
        inherited: list[str | None] = [None] * len(spans)
        group = [-1] * len(spans)
        k = 0
        while k < len(spans):
            j = k
            while j + 1 < len(spans) and links[j]:
                j += 1
            if j > k and own[k] is not None and any(coordinated[k:j]):
                for m in range(k, j + 1):  # "no sign of anger, fear or disgust": the head's negation runs on
                    inherited[m] = own[k]
                    group[m] = k
            k = j + 1
        out: list[_Mention] = []
        for k, (start, end, target) in enumerate(spans):
            negator = own[k] or inherited[k]
            ceiling = spans[k + 1][0] if k + 1 < len(spans) else len(tokens)
            negated = negator is not None or _post_negated(tokens, end, ceiling)
            floor = spans[k - 1][1] if k else 0
            secondary = _secondary(tokens, start, floor)
            between = tokens[end:ceiling] if k + 1 < len(spans) else ()
            superseded = _SHIFT in between or (list(between) in (["to"], ["into"])
                                               and any(t in ("from", "从", "從") for t in tokens[max(floor, start - 3):start]))
            out.append(_Mention(start, end, target, negated, negator == _DOUBT, secondary, superseded, group[k]))
        return tokens, out


def _hedged(text: str) -> bool:
    tokens = _tokens(text)
    return any(t in _HEDGE_CUES for t in tokens) or any(cue in text for cue in _CJK_HEDGE_CUES)


def _key(text: str) -> str:
    """A lookup key: the words (and single CJK characters) of ``text``, lower case, space-joined."""
    return " ".join(t for t in _TOKENS.findall(_normalize(text).lower().replace("-", " ")) if t[0].isalpha())


def _unwrap(text: str) -> str:
    """The content of the last <answer>, GLM box or \\boxed{} wrapper; the text itself if none."""
    closes = list(_ANSWER_CLOSE.finditer(text))  # an <answer> after the last </answer> is no block
    tags = _ANSWER_TAG.findall(text, 0, closes[-1].end()) if closes else []
    if tags:
        text = tags[-1]
    else:
        opened = list(_ANSWER_OPEN.finditer(text))
        if opened:
            text = text[opened[-1].end():]
    close = text.rfind("<|end_of_box|>")
    boxes = _BOX.findall(text, 0, close + len("<|end_of_box|>")) if close >= 0 else []
    if boxes:
        text = boxes[-1]
    else:
        opened = list(_BOX_OPEN.finditer(text))
        if opened:
            text = text[opened[-1].end():]
    latex = _LATEX_BOX.findall(text)
    if latex:
        text = latex[-1]
    return _STRAY_MARKUP.sub(" ", text)


def _json_values(obj: dict, depth: int = 0) -> list[str]:
    """String values under answer-like keys, the first level first."""
    lowered = {str(k).lower(): v for k, v in obj.items()}
    out = []
    for key in _JSON_KEYS:
        value = lowered.get(key)
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            out.append(" or ".join(value))
    if not out and depth < 2:
        for value in obj.values():
            if isinstance(value, dict):
                out.extend(_json_values(value, depth + 1))
    return out


def _sentence(text: str, start: int, bound: int) -> str:
    """From ``start`` to the end of its sentence (or line), or to a concession ("…, though anger is
    possible"), which qualifies the statement rather than adding to it; never past ``bound``."""
    match = _SENTENCE_END.search(text, start, bound)
    sentence = text[start:match.start() if match else bound]
    return _CONCESSION.split(sentence, maxsplit=1)[0]


def _line(text: str, start: int, bound: int) -> str:
    end = text.find("\n", start, bound)
    return text[start:end if end >= 0 else bound]


def _plain_letter(letter: str, after: str) -> bool:
    """Whether a letter stated after "answer is" is an option letter, judged by what follows it:
    a word after a lower-case letter, or after ``A``/``I``, makes it an article or a pronoun."""
    followed_by_word = re.match(r"\s+[A-Za-z]", after) is not None
    if letter.islower() or letter in _AMBIGUOUS_LETTERS:
        return not followed_by_word
    return True
