"""The emotion lexicon: the words an answer may use for each emotion, with where each word comes from.

Eleven concepts cover the 7 basic classes (DFEW, FERV39k) and MAFW's 11. Each
English word is a lemma of a Princeton WordNet 3.0 synset, named beside it
(``wn:sad.a.01``), or the past participle of a verb lemma of one
(``wn:disgust.v.01+ed``: "revolted", "grossed out"). A handful of words the
harness's earlier table had and WordNet files elsewhere are kept and marked
``harness`` with the reason. Each Chinese word is a CC-CEDICT headword whose
English gloss names the concept (checked word by word when the table was
built); it is given in simplified and traditional characters, both as
CC-CEDICT spells them.

Sources and licences (docs/answers.md repeats them):

- Princeton WordNet 3.0, https://wordnet.princeton.edu, under the WordNet 3.0
  licence: "WordNet 3.0 Copyright 2006 by Princeton University. All rights
  reserved." It allows use, copying, modification and distribution for any
  purpose without fee, provided the copyright notice and the licence's
  disclaimer (THIS SOFTWARE AND DATABASE IS PROVIDED "AS IS" AND PRINCETON
  UNIVERSITY MAKES NO REPRESENTATIONS OR WARRANTIES, EXPRESS OR IMPLIED.)
  appear with it; SPDX identifier ``WordNet``.
- CC-CEDICT, https://cc-cedict.org, under Creative Commons
  Attribution-ShareAlike 4.0 (CC BY-SA 4.0). Only headwords are taken, in
  both scripts, not glosses.
- The one fold across concepts (anxiety words read as ``fear`` where a task
  has no anxiety class) follows GoEmotions' mapping of its categories onto
  Ekman's six, which puts nervousness under fear (Demszky et al., ACL 2020;
  google-research/goemotions, Apache 2.0).

Tasks extend the lexicon through their ``aliases`` (a YAML task's
``aliases:``, or a task class's ``aliases`` dict); :func:`synonyms_for` gives
the standard words for any class list.
"""

from __future__ import annotations

#: The concepts, in MAFW's order of its first seven then its four extra classes.
CONCEPTS = ("anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise",
            "contempt", "anxiety", "helplessness", "disappointment")

#: The names a class may go by for each concept (DFEW says "happy", MAFW "happiness").
CLASS_NAMES = {
    "anger": ("anger", "angry"), "disgust": ("disgust", "disgusted"), "fear": ("fear", "fearful"),
    "happiness": ("happiness", "happy"), "neutral": ("neutral",), "sadness": ("sadness", "sad"),
    "surprise": ("surprise", "surprised"), "contempt": ("contempt", "contemptuous"),
    "anxiety": ("anxiety", "anxious"), "helplessness": ("helplessness", "helpless"),
    "disappointment": ("disappointment", "disappointed"),
}

#: Where a task has no class for a concept, its words may stand for another concept's class.
FOLDS = {"anxiety": "fear"}

#: English words per concept: (word, source). Multi-word entries are matched as phrases; a hyphen
#: and a space are the same. Left out on purpose, though WordNet files them under an emotion:
#: words that describe faces as often as feelings ("tense", "tension", "composed", "blank",
#: "content", "concern"). Where a word kept here has a sense that is no emotion ("I'm afraid I
#: can't tell", "happy to help"), the parser reads the phrase as an idiom.
ENGLISH: dict[str, tuple[tuple[str, str], ...]] = {
    "anger": (
        ("angry", "wn:angry.a.01"), ("anger", "wn:anger.n.01"), ("angriness", "wn:anger.n.02"),
        ("ire", "wn:anger.n.01"), ("rage", "wn:fury.n.01"), ("fury", "wn:fury.n.01"),
        ("furious", "wn:angered.a.01"), ("enraged", "wn:angered.a.01"), ("infuriated", "wn:angered.a.01"),
        ("angered", "wn:angered.a.01"), ("irate", "wn:irate.a.01"), ("livid", "wn:livid.a.03"),
        ("indignant", "wn:indignant.a.01"), ("incensed", "wn:indignant.a.01"),
        ("outraged", "wn:indignant.a.01"), ("indignation", "wn:indignation.n.01"),
        ("annoyed", "wn:annoyed.a.01"), ("irritated", "wn:annoyed.a.01"), ("vexed", "wn:annoyed.a.02"),
        ("annoyance", "wn:annoyance.n.02"), ("vexation", "wn:annoyance.n.02"),
        ("irritation", "wn:irritation.n.01"), ("mad", "wn:huffy.a.02"), ("huffy", "wn:huffy.a.02"),
        ("wrathful", "wn:wrathful.a.01"), ("wrath", "wn:wrath.n.01"), ("resentful", "wn:resentful.a.01"),
        ("resentment", "wn:resentment.n.01"),
    ),
    "disgust": (
        ("disgust", "wn:disgust.n.01"), ("disgusted", "wn:disgusted.a.01"),
        ("revulsion", "wn:repugnance.n.01"), ("repugnance", "wn:repugnance.n.01"),
        ("repulsion", "wn:repugnance.n.01"), ("loathing", "wn:abhorrence.n.01"),
        ("abhorrence", "wn:abhorrence.n.01"), ("distaste", "wn:antipathy.n.01"),
        ("revolted", "wn:disgust.v.01+ed"), ("repelled", "wn:disgust.v.01+ed"),
        ("grossed out", "wn:disgust.v.01+ed"), ("sickened", "wn:disgust.v.02+ed"),
        ("nauseated", "wn:disgust.v.02+ed"), ("disgusting", "wn:disgusting.a.01"),
        ("revolting", "wn:disgusting.a.01"),
    ),
    "fear": (
        ("fear", "wn:fear.n.01"), ("fearfulness", "wn:fear.n.01"), ("fright", "wn:fear.n.01"),
        ("fearful", "wn:fearful.a.01"), ("afraid", "wn:afraid.a.01"), ("frightened", "wn:frightened.a.01"),
        ("scared", "wn:frightened.a.01"), ("terrified", "wn:panicky.a.01"), ("panicky", "wn:panicky.a.01"),
        ("panicked", "wn:panicky.a.01"), ("panic stricken", "wn:panicky.a.01"), ("panic", "wn:panic.n.01"),
        ("terror", "wn:panic.n.01"), ("terror stricken", "wn:terror-stricken.a.01"),
        ("horror", "wn:horror.n.01"), ("horrified", "wn:horrified.a.01"),
        ("horror stricken", "wn:horrified.a.01"), ("alarmed", "wn:alarmed.a.01"),
        ("dread", "wn:apprehension.n.01"), ("apprehension", "wn:apprehension.n.01"),
        ("apprehensive", "wn:apprehensive.a.03"),
    ),
    "happiness": (
        ("happy", "wn:happy.a.01"), ("happiness", "wn:happiness.n.02"), ("joy", "wn:joy.n.01"),
        ("joyfulness", "wn:joy.n.01"), ("joyousness", "wn:joy.n.01"), ("joyful", "wn:joyful.a.01"),
        ("joyous", "wn:joyous.a.01"), ("gleeful", "wn:elated.a.02"), ("elated", "wn:elated.a.02"),
        ("jubilant", "wn:elated.a.02"), ("elation", "wn:elation.n.02"), ("glad", "wn:glad.a.01"),
        ("gladness", "wn:gladness.n.01"), ("cheerful", "wn:cheerful.a.01"),
        ("cheerfulness", "wn:cheerfulness.n.02"), ("delighted", "wn:delighted.a.01"),
        ("delight", "wn:delight.n.01"), ("pleased", "wn:pleased.a.01"), ("blissful", "wn:blissful.a.01"),
        ("laughing", "wn:laughing.a.01"), ("amused", "wn:amused.a.01"), ("amusement", "wn:amusement.n.01"),
        ("contented", "wn:contented.a.01"), ("contentment", "wn:contentment.n.01"),
        ("smiling", "wn:beamish.a.01"),
    ),
    "neutral": (
        ("neutral", "wn:neutral.a.04"), ("expressionless", "wn:deadpan.a.01"),
        ("impassive", "wn:deadpan.a.01"), ("deadpan", "wn:deadpan.a.01"),
        ("poker faced", "wn:deadpan.a.01"), ("unexpressive", "wn:deadpan.a.01"),
        ("impassivity", "wn:emotionlessness.n.01"), ("impassiveness", "wn:emotionlessness.n.01"),
        ("emotionlessness", "wn:emotionlessness.n.01"), ("emotionless", "wn:emotionless.a.01"),
        ("unemotional", "wn:unemotional.a.01"), ("calm", "wn:calm.a.01"), ("serene", "wn:calm.a.01"),
        ("calmness", "wn:composure.n.01"), ("composure", "wn:composure.n.01"),
        ("stoic", "wn:stoic.a.01"),
        # the harness's: what models write for a face that shows nothing
        ("no emotion", "harness"), ("no expression", "harness"), ("neutrality", "harness"),
    ),
    "sadness": (
        ("sad", "wn:sad.a.01"), ("sadness", "wn:sadness.n.01"), ("unhappy", "wn:unhappy.a.01"),
        ("unhappiness", "wn:sadness.n.01"), ("sorrow", "wn:sorrow.n.01"), ("sorrowful", "wn:sorrowful.a.01"),
        ("sorrowfulness", "wn:sadness.n.02"), ("grief", "wn:grief.n.01"), ("grieving", "wn:bereaved.a.01"),
        ("mournful", "wn:mournful.a.01"), ("doleful", "wn:doleful.a.01"), ("melancholy", "wn:melancholy.a.01"),
        ("melancholic", "wn:melancholy.a.01"), ("heavyhearted", "wn:heavyhearted.a.01"),
        ("misery", "wn:misery.n.02"), ("miserable", "wn:miserable.a.01"), ("dejected", "wn:dejected.a.01"),
        ("dejection", "wn:dejection.n.01"), ("gloomy", "wn:gloomy.a.02"), ("depressed", "wn:gloomy.a.02"),
        ("downhearted", "wn:gloomy.a.02"), ("dispirited", "wn:gloomy.a.02"),
        ("despondent", "wn:despondent.a.01"), ("forlorn", "wn:forlorn.a.01"),
        ("brokenhearted", "wn:brokenhearted.a.01"), ("heartbroken", "wn:brokenhearted.a.01"),
        ("tearful", "wn:tearful.a.01"), ("woeful", "wn:woebegone.a.02"), ("woebegone", "wn:woebegone.a.02"),
        # WordNet files "upset" with worry (disquieted.a.01) and "crying" as a process (crying.n.01);
        # the earlier table read both as sad, and a crying face is DFEW's sad.
        ("upset", "harness"), ("crying", "harness"),
    ),
    "surprise": (
        ("surprise", "wn:surprise.n.01"), ("surprised", "wn:surprised.a.01"), ("amazed", "wn:amazed.a.01"),
        ("astonished", "wn:amazed.a.01"), ("astounded", "wn:amazed.a.01"), ("stunned", "wn:amazed.a.01"),
        ("astonishment", "wn:astonishment.n.01"), ("amazement", "wn:astonishment.n.01"),
        ("dumbfounded", "wn:dumbfounded.a.01"), ("flabbergasted", "wn:dumbfounded.a.01"),
        ("thunderstruck", "wn:dumbfounded.a.01"), ("dumbstruck", "wn:dumbfounded.a.01"),
        ("startled", "wn:startled.a.01"), ("openmouthed", "wn:goggle-eyed.a.01"),
        ("goggle eyed", "wn:goggle-eyed.a.01"), ("gobsmacked", "wn:gobsmacked.a.01"),
        ("shock", "wn:daze.n.01"),
        # WordNet files "shocked" under fear (aghast.a.01); a shocked face is the surprise display,
        # as the earlier table had it.
        ("shocked", "harness"),
    ),
    "contempt": (
        ("contempt", "wn:contempt.n.01"), ("disdain", "wn:contempt.n.01"), ("scorn", "wn:contempt.n.01"),
        ("contemptuous", "wn:contemptuous.a.01"), ("disdainful", "wn:contemptuous.a.01"),
        ("scornful", "wn:contemptuous.a.01"), ("contemptuousness", "wn:contemptuousness.n.01"),
        ("sneering", "wn:supercilious.a.02"), ("sneer", "wn:sneer.n.01"), ("derision", "wn:derision.n.01"),
        ("derisive", "wn:derisive.a.01"),
    ),
    "anxiety": (
        ("anxiety", "wn:anxiety.n.02"), ("anxiousness", "wn:anxiousness.n.02"), ("anxious", "wn:anxious.a.02"),
        ("nervous", "wn:anxious.a.02"), ("uneasy", "wn:anxious.a.02"), ("nervousness", "wn:nervousness.n.02"),
        ("jitteriness", "wn:jitteriness.n.01"), ("uneasiness", "wn:edginess.n.01"),
        ("edginess", "wn:edginess.n.01"), ("worry", "wn:worry.n.02"), ("worried", "wn:disquieted.a.01"),
        ("disquiet", "wn:anxiousness.n.02"), ("disquieted", "wn:disquieted.a.01"), ("angst", "wn:angst.n.01"),
        ("jittery", "wn:edgy.a.01"), ("jumpy", "wn:edgy.a.01"), ("edgy", "wn:edgy.a.01"),
        ("concerned", "wn:concerned.a.01"), ("troubled", "wn:troubled.a.01"),
    ),
    "helplessness": (
        ("helplessness", "wn:helplessness.n.03"), ("helpless", "wn:helpless.a.03"),
        ("powerless", "wn:powerless.a.01"), ("powerlessness", "wn:powerlessness.n.01"),
    ),
    "disappointment": (
        ("disappointment", "wn:disappointment.n.01"), ("letdown", "wn:disappointment.n.01"),
        ("disappointed", "wn:defeated.a.02"), ("let down", "wn:disappoint.v.01+ed"),
        ("frustration", "wn:frustration.n.01"), ("frustrated", "wn:defeated.a.02"),
    ),
}

#: Chinese words per concept: (simplified, traditional...), all CC-CEDICT headwords.
CHINESE: dict[str, tuple[tuple[str, ...], ...]] = {
    "anger": (("愤怒", "憤怒"), ("生气", "生氣"), ("恼怒", "惱怒"), ("气愤", "氣憤"), ("发怒", "發怒"),
              ("恼火", "惱火"), ("愤慨", "憤慨"), ("暴怒", "暴怒")),
    "disgust": (("厌恶", "厭惡"), ("恶心", "惡心", "噁心"), ("反感", "反感"), ("嫌恶", "嫌惡")),
    "fear": (("恐惧", "恐懼"), ("害怕", "害怕"), ("惊恐", "驚恐"), ("恐慌", "恐慌"), ("畏惧", "畏懼"),
             ("惧怕", "懼怕"), ("惊慌", "驚慌"), ("恐怖", "恐怖")),
    "happiness": (("高兴", "高興"), ("快乐", "快樂"), ("开心", "開心"), ("喜悦", "喜悅"), ("愉快", "愉快"),
                  ("欢乐", "歡樂"), ("幸福", "幸福"), ("欣喜", "欣喜"), ("愉悦", "愉悅"), ("欢喜", "歡喜")),
    "neutral": (("中性", "中性"), ("中立", "中立"), ("平静", "平靜"), ("冷静", "冷靜"), ("镇定", "鎮定"),
                ("无表情", "無表情")),
    "sadness": (("悲伤", "悲傷"), ("伤心", "傷心"), ("难过", "難過"), ("悲哀", "悲哀"), ("哀伤", "哀傷"),
                ("忧伤", "憂傷"), ("悲痛", "悲痛"), ("忧郁", "憂鬱"), ("沮丧", "沮喪")),
    "surprise": (("惊讶", "驚訝"), ("吃惊", "吃驚"), ("惊奇", "驚奇"), ("诧异", "詫異"), ("震惊", "震驚"),
                 ("惊愕", "驚愕")),
    "contempt": (("蔑视", "蔑視"), ("轻蔑", "輕蔑"), ("鄙视", "鄙視"), ("不屑", "不屑")),
    "anxiety": (("焦虑", "焦慮"), ("担心", "擔心"), ("忧虑", "憂慮"), ("紧张", "緊張"), ("不安", "不安"),
                ("焦急", "焦急"), ("担忧", "擔憂")),
    "helplessness": (("无助", "無助"), ("无奈", "無奈"), ("无能为力", "無能為力")),
    "disappointment": (("失望", "失望"), ("失落", "失落")),
}


def words(concept: str) -> tuple[str, ...]:
    """Every word of a concept, English then Chinese (both scripts), without repeats."""
    out = [w for w, _ in ENGLISH[concept]]
    for forms in CHINESE[concept]:
        out.extend(forms)
    return tuple(dict.fromkeys(out))


def concept_of(class_name: str) -> str | None:
    """The concept a class name stands for (``happy`` and ``Happiness`` both give ``happiness``;
    a class named with another of the lexicon's words, ``joy`` or ``worried``, gives its concept)."""
    name = class_name.strip().lower()
    for concept, names in CLASS_NAMES.items():
        if name in names:
            return concept
    for concept in CONCEPTS:
        if name in words(concept):
            return concept
    return None


def synonyms_for(classes: tuple[str, ...] | list[str]) -> dict[str, str]:
    """The lexicon's words that map onto ``classes`` (matched by name, any case), word -> class.

    A class named for a concept gets all the concept's words; a concept without a class of its
    own lends its words through :data:`FOLDS` (anxiety to fear) where that class exists. A word that
    is itself one of the class names is left out (the class wins)."""
    by_concept: dict[str, str] = {}
    for c in classes:
        concept = concept_of(c)
        if concept is not None:
            by_concept.setdefault(concept, c)
    names = {c.lower() for c in classes}
    out: dict[str, str] = {}
    for concept in CONCEPTS:
        target = by_concept.get(concept)
        if target is None and FOLDS.get(concept) in by_concept:
            target = by_concept[FOLDS[concept]]
        if target is None:
            continue
        for word in words(concept):
            if word not in names:
                out.setdefault(word, target)
    return out
