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
