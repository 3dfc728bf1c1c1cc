"""The seven basic-emotion classes shared by DFEW and FERV39k, and answer synonyms."""

#: DFEW's order (its labels 1..7). Labels are keyed by name, never by integer id.
BASIC7 = ("happy", "sad", "neutral", "angry", "surprise", "disgust", "fear")

#: Share of each class over DFEW's 11,697 single-labelled clips (DESIGN.md section 5).
DFEW_SHARES = {"happy": 0.209, "sad": 0.162, "neutral": 0.228, "angry": 0.186,
               "surprise": 0.126, "disgust": 0.0124, "fear": 0.077}

#: Words a model may answer with, mapped to the canonical class (lower case).
SYNONYMS = {
    "happiness": "happy", "joy": "happy", "joyful": "happy", "glad": "happy",
    "smiling": "happy", "pleased": "happy", "cheerful": "happy",
    "sadness": "sad", "unhappy": "sad", "sorrow": "sad", "sorrowful": "sad",
    "upset": "sad", "crying": "sad",
    "calm": "neutral", "expressionless": "neutral", "no emotion": "neutral",
    "anger": "angry", "mad": "angry", "furious": "angry", "annoyed": "angry",
    "rage": "angry", "irritated": "angry",
    "surprised": "surprise", "astonished": "surprise", "amazed": "surprise",
    "shocked": "surprise", "astonishment": "surprise",
    "disgusted": "disgust", "revulsion": "disgust", "disgusting": "disgust",
    "fearful": "fear", "afraid": "fear", "scared": "fear", "frightened": "fear",
    "terrified": "fear", "anxious": "fear",
}

#: MAFW's eleven classes, in the order of its release.
MAFW11 = ("anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise",
          "contempt", "anxiety", "helplessness", "disappointment")

#: Answer words for MAFW's class names (which differ from DFEW's: "anger", not "angry").
MAFW_SYNONYMS = {
    "angry": "anger", "mad": "anger", "furious": "anger", "annoyed": "anger", "rage": "anger",
    "disgusted": "disgust", "revulsion": "disgust",
    "afraid": "fear", "scared": "fear", "fearful": "fear", "frightened": "fear", "terrified": "fear",
    "happy": "happiness", "joy": "happiness", "joyful": "happiness", "glad": "happiness",
    "smiling": "happiness", "pleased": "happiness",
    "calm": "neutral", "expressionless": "neutral", "no emotion": "neutral",
    "sad": "sadness", "unhappy": "sadness", "sorrow": "sadness", "upset": "sadness",
    "surprised": "surprise", "astonished": "surprise", "amazed": "surprise", "shocked": "surprise",
    "contemptuous": "contempt", "scorn": "contempt", "disdain": "contempt",
    "anxious": "anxiety", "worried": "anxiety", "nervous": "anxiety", "worry": "anxiety",
    "helpless": "helplessness", "powerless": "helplessness",
    "disappointed": "disappointment", "letdown": "disappointment",
}


def standard_synonyms(classes: tuple[str, ...]) -> dict[str, str]:
    """The standard answer words that map onto ``classes`` (by name, any case), for tasks that
    define their own class list: DFEW-style and MAFW-style names both work."""
    by_name = {c.lower(): c for c in classes}
    out: dict[str, str] = {}
    for table in (SYNONYMS, MAFW_SYNONYMS):
        for word, target in table.items():
            if target in by_name and word not in by_name:
                out.setdefault(word, by_name[target])
    # a class named like a synonym's target in the other table (happy vs happiness)
    for word, target in {**SYNONYMS, **MAFW_SYNONYMS}.items():
        if word in by_name and target not in by_name:
            out.setdefault(target, by_name[word])
    return out
