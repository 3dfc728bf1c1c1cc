"""The seven basic-emotion classes shared by DFEW and FERV39k, MAFW's eleven, and answer synonyms."""

from harness.lexicon import synonyms_for

#: DFEW's order (its labels 1..7). Labels are keyed by name, never by integer id.
BASIC7 = ("happy", "sad", "neutral", "angry", "surprise", "disgust", "fear")

#: Share of each class over DFEW's 11,697 single-labelled clips (DESIGN.md section 5).
DFEW_SHARES = {"happy": 0.209, "sad": 0.162, "neutral": 0.228, "angry": 0.186,
               "surprise": 0.126, "disgust": 0.0124, "fear": 0.077}

#: Words a model may answer with, mapped to the canonical class: the lexicon's (harness/lexicon.py:
#: WordNet 3.0 and CC-CEDICT, sources and licences there and in docs/answers.md) for these classes.
#: MAFW-only concepts have no class here, except anxiety, whose words read as fear.
SYNONYMS = synonyms_for(BASIC7)

#: MAFW's eleven classes, in the order of its release.
MAFW11 = ("anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise",
          "contempt", "anxiety", "helplessness", "disappointment")

#: Answer words for MAFW's class names (which differ from DFEW's: "anger", not "angry").
MAFW_SYNONYMS = synonyms_for(MAFW11)


def standard_synonyms(classes: tuple[str, ...]) -> dict[str, str]:
    """The standard answer words that map onto ``classes`` (by name, any case), for tasks that
    define their own class list: DFEW-style and MAFW-style names both work (see
    :func:`harness.lexicon.synonyms_for`)."""
    return synonyms_for(tuple(classes))
