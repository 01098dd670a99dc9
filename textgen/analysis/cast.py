"""The cast of a story: which character names it uses, and which first appear late.

A story that keeps its characters names one or two and stays with them; a model that forgets
them brings in new names as it goes ("Luke ... his friend Rusty ... Tiger and his grandma ...
Bumpy stirred"). Within the first `window` words of a story (150 by default, so long and short
stories compare), a name is a capitalised word that is not a common word:
- written capitalised inside a sentence ("said Lily", "named Tom"), or
- only ever at the start of a sentence or of speech, and then mentioned at least twice, never
  written in lower case in the story and not in the list of words that open sentences
  ("Suddenly", "Look", "The").
A possessive counts as its name ("Lily's" is Lily); contractions ("I'm") and the parts of a
hyphenated word ("Ice-Cream") are not names.
A late name is one whose first mention comes after the first third of those words.
Known limits: a character called only by a common noun ("the dog") is not a name, and a
one-off capitalised word mid-sentence ("Christmas", "Pizza") counts as one.
A second definition, `speech_aware_names`, checks the first: a name is a capitalised word
written at least once where no sentence starts. A sentence starts a story, a line, follows
. ! or ? (also inside quotes: in “"Hi!" Tom said.” Tom starts one, as "She" does in “"Hi!" She
smiled.”), and follows an opening quote (in “"Come," said Tom. "Look!"” Look starts one), not a
closing one (in “"Hi," Tom said.” Tom is inside a sentence). No list of openers: a word that only
ever opens sentences is not a name however often it comes.
Plain text only (no torch); the vocabulary entries that begin a name, for sampling's keep-the-cast
rule, are textgen.sampling.cast_names'.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

WINDOW = 150
WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
SENTENCE_BREAK = re.compile(r"[.!?\n“\"‘:]")
POSSESSIVE = re.compile(r"['’]s$")
TITLES = {"mr", "mrs", "ms", "miss", "dr", "st"}
# words that open sentences or speech without being names (lower case)
OPENERS = set("""
a about above after again all almost along also always am an and another any anyone anything are as at away back be
because been before behind being below beside besides best better between big both but by can can't come could did didn't
do does doesn't don't down during each either else even ever every everybody everyone everything first for from go good
goodbye great had has have he hello her here hers herself hey hi him himself his how however i if in inside instead into is
isn't it it's its just later let let's like little look maybe me meanwhile might more most much must my near never new next
no nobody none nor not nothing now of off oh okay ok on once one only or other our out outside over please quick quickly
really right see she should since so some somebody someone something sometimes soon still stop such suddenly sure than
thank thanks that that's the their them then there there's these they they're this those though through to today together
tonight too two three four five under until up us very wait was we well were what what's when where which while who
why will with without wow would yes yesterday yet you your yours yay hooray ah oops ouch uh um hmm shh sorry dear listen
remember watch help try why finally luckily sadly happily soon later first second third last once upon all both after
instead even everywhere somewhere anywhere nowhere mr mrs ms miss dr sir madam the end december january february march april
eventually finally meanwhile afterwards anyway once inside nearby together
may june july august september october november monday tuesday wednesday thursday friday saturday sunday
""".split())


@dataclass
class Cast:
    """The names of one story (in order of first mention) and those that came late."""

    names: list[str] = field(default_factory=list)
    late: list[str] = field(default_factory=list)


def story_cast(story: str, window: int = WINDOW) -> Cast:
    """The character names in the first `window` words of a story, and the late ones."""
    words = list(WORD.finditer(story))[:window]
    if not words:
        return Cast()
    first_seen: dict[str, int] = {}
    mentions: dict[str, int] = {}
    inside: set[str] = set()  # capitalised at least once inside a sentence
    lower: set[str] = set()  # written in lower case somewhere
    previous, previous_end = "", 0
    for index, match in enumerate(words):
        word = POSSESSIVE.sub("", match.group())
        gap = story[previous_end:match.start()]
        starts = index == 0 or (bool(SENTENCE_BREAK.search(gap)) and previous.lower() not in TITLES)
        hyphenated = gap.endswith("-") or story[match.end():match.end() + 1] == "-"
        previous, previous_end = word, match.end()
        if word[0].islower():
            lower.add(word)
            continue
        if len(word) < 2 or word.isupper() or not word[0].isupper() or "'" in word or "’" in word or hyphenated:
            continue
        first_seen.setdefault(word, index)
        mentions[word] = mentions.get(word, 0) + 1
        if not starts:
            inside.add(word)
    names = [word for word in sorted(first_seen, key=first_seen.get)
             if word.lower() not in OPENERS and (word in inside or (word.lower() not in lower and mentions[word] >= 2))]
    third = len(words) / 3
    return Cast(names, [name for name in names if first_seen[name] >= third])


OPENING_QUOTE = re.compile(r"(?:[“‘]|(?:^|(?<=[\s(\[—–-]))[\"'])$")
SENTENCE_END = re.compile(r"[.!?]")


def _starts_sentence(gap: str, index: int, previous: str) -> bool:
    """Whether a word after `gap` (the text since the previous word) starts a sentence, the second way."""
    if index == 0 or "\n" in gap or OPENING_QUOTE.search(gap):
        return True
    return bool(SENTENCE_END.search(gap)) and previous.lower() not in TITLES


def speech_aware_names(story: str, window: int = WINDOW) -> list[str]:
    """The names of the first `window` words by the second definition (the module's docstring), in order
    of first mention: capitalised words written at least once inside a sentence."""
    names: dict[str, None] = {}
    previous, previous_end = "", 0
    for index, match in enumerate(list(WORD.finditer(story))[:window]):
        word = POSSESSIVE.sub("", match.group())
        gap = story[previous_end:match.start()]
        starts = _starts_sentence(gap, index, previous)
        hyphenated = gap.endswith("-") or story[match.end():match.end() + 1] == "-"
        previous, previous_end = word, match.end()
        if (not starts and len(word) >= 2 and word[0].isupper() and not word.isupper() and "'" not in word
                and "’" not in word and not hyphenated and word.lower() not in TITLES):
            names.setdefault(word)
    return list(names)


def cast_metrics(stories: Iterable[str], window: int = WINDOW) -> dict:
    """Mean distinct names per story, mean late names per story, and mean names per story by the
    second definition (`speech_aware_names`)."""
    stories = list(stories)
    casts = [story_cast(story, window) for story in stories]
    count = max(1, len(casts))
    return {"names_per_story": sum(len(cast.names) for cast in casts) / count,
            "late_names_per_story": sum(len(cast.late) for cast in casts) / count,
            "speech_aware_names_per_story": sum(len(speech_aware_names(story, window)) for story in stories) / count}
