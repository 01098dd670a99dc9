"""Invented words: words of a story found in neither the model's training text nor an English word list.

A word is a run of letters with apostrophes inside it ("don't", "Lily's"), lowercased, with the
curly apostrophe read as the straight one. Numbers and anything with a digit ("3rd") are not words;
a hyphen or any other character splits words ("ice-cream" is "ice" and "cream"). A possessive is
its owner ("lily's" is checked as "lily", "dogs'" as "dogs"); a contraction is known when the word
list has it whole ("don't", "i'm") or when its stem is known and its ending is a contraction's
('ll, 've, 're, 'd, 'm, n't: "puppy'll").

The word list is pyspellchecker's English word-frequency list (about 160,000 words with plurals,
verb forms, contractions and common first names), read once, when first needed. The training
words are the words of the model's training corpus with the number of stories each is in: a
baseline drawn from that same corpus checks each story against the other stories only (a word
only that story has is invented there too), so the human value is not zero by construction.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*'?")
CONTRACTION_ENDINGS = ("n't", "'ll", "'ve", "'re", "'d", "'m", "'s")
WORD_LIST = "pyspellchecker's English word list"


def words_of(text: str) -> list[str]:
    """The words of a text, lowercased, as this module defines them (numbers left out)."""
    text = text.replace("’", "'").lower()
    found = []
    for match in WORD.finditer(text):
        before, after = text[match.start() - 1:match.start()], text[match.end():match.end() + 1]
        if before.isdigit() or after.isdigit():  # "3rd", "x2": part of a number
            continue
        word = match.group()
        if word.endswith("'") and not word.endswith("s'"):  # a closing quote mark, not a plural possessive
            word = word.rstrip("'")
        found.append(word)
    return [word for word in found if word]


def _owner(word: str) -> str:
    """A possessive's owner: "lily's" -> "lily", "dogs'" -> "dogs"; other words as they are."""
    if word.endswith("'s"):
        return word[:-2]
    return word[:-1] if word.endswith("'") else word


@functools.cache
def english_words() -> frozenset[str]:
    """pyspellchecker's English word list, lowercased (read from the installed package once)."""
    import gzip
    import importlib.resources
    import json

    from textgen.errors import TextgenError

    try:
        data = (importlib.resources.files("spellchecker") / "resources" / "en.json.gz").read_bytes()
    except (ModuleNotFoundError, FileNotFoundError) as error:
        raise TextgenError(f"the English word list is missing ({error}): pip install pyspellchecker") from error
    return frozenset(word.lower() for word in json.loads(gzip.decompress(data)))


@dataclass
class KnownWords:
    """What counts as a real word: the English word list, and the training text's words with the
    number of its stories each is in (empty when the training text is not at hand)."""

    training: Counter = field(default_factory=Counter)
    source: str | None = None  # the training corpus the words came from
    name: str | None = None  # how to show it (the path as the model's textgen.json records it); default `source`

    def known(self, word: str, own: frozenset[str] = frozenset()) -> bool:
        """Whether `word` (from words_of) is real. `own` are the words of the story it is in when
        that story is part of the training text: they do not count as training words for it."""
        english = english_words()
        for candidate in dict.fromkeys((word, _owner(word))):
            if candidate in english or self.training[candidate] > (candidate in own):
                return True
        for ending in CONTRACTION_ENDINGS:
            stem = word[:-len(ending)]
            if word.endswith(ending) and stem and (stem in english or self.training[stem] > (stem in own)):
                return True
        return False

    def invented(self, text: str, in_training: bool = False) -> list[str]:
        """The invented words of one story, in order, repeats kept. `in_training`: the story is one of
        the training stories (a baseline drawn from the training corpus), checked against the others."""
        words = words_of(text)
        own = frozenset(_stems(words)) if in_training else frozenset()
        return [word for word in words if not self.known(word, own)]


def _stems(words: Iterable[str]) -> set[str]:
    """Each word, its possessive owner and its contraction stem: the entries it adds to the training words."""
    found = set()
    for word in words:
        found.update((word, _owner(word)))
        found.update(word[:-len(e)] for e in CONTRACTION_ENDINGS if word.endswith(e) and len(word) > len(e))
    return found


def training_words(stories: Iterable[str], source: str | None = None) -> KnownWords:
    """KnownWords whose training words are those of `stories` (each counted once per story)."""
    counts: Counter = Counter()
    for story in stories:
        counts.update(_stems(words_of(story)))
    return KnownWords(counts, source)


CAPITAL_INSIDE = re.compile(r"(?:(?<=[^\W_] )|(?<=[^\W_][,;] ))[A-Z][a-z]+(?=(?:['’]s)?(?![\w'’-]))")  # "saw Doug", "and, Lily": after a word, not a mark


def capitals_inside(text: str) -> set[str]:
    """The capitalised words `text` writes inside a sentence: right after a word (or its comma) and a space,
    "Doug" in "Jane saw Doug." (names, mostly), never the first word of a sentence or of speech."""
    return set(CAPITAL_INSIDE.findall(text))


def words_record(stories: Iterable[str]) -> dict:
    """textgen.json's "words": every word of the stories (words_of), sorted, space-separated, with their count;
    what the real-words rule keeps to and the invented-words check reads where the corpus is not at hand.
    "capitals": the capitalised words written inside a sentence (capitals_inside), which tell the no-stray-capitals
    rule which of its entries may begin a name ("▁Do" of "Doug"; keeping only those of two stories or more held back
    more entries and measured no better: BENCHMARKS.md)."""
    found: set[str] = set()
    capitals: set[str] = set()
    for story in stories:
        found.update(words_of(story))
        capitals.update(capitals_inside(story))
    return {"count": len(found), "list": " ".join(sorted(found)), "capitals": " ".join(sorted(capitals))}


def corpus_words(path, name: str | None = None) -> KnownWords:
    """KnownWords from a training corpus file or folder (any corpus format), shown as `name`."""
    from textgen.data.corpus import iter_stories

    known = training_words(iter_stories(path), str(path))
    known.name = name
    return known


def invented_summary(counts: Counter, words: int, known: KnownWords, examples: int = 10) -> dict:
    """The `invented_words` object of a diagnosis: what was checked against and the commonest invented words."""
    return {"checked_against": [WORD_LIST] + ([known.name or known.source] if known.source else []),
            "training_text": known.source is not None, "count": sum(counts.values()), "words": words,
            "examples": [{"word": word, "count": count} for word, count in counts.most_common(examples)]}
