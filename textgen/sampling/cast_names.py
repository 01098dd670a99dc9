"""The vocabulary entries that begin a character's name, as arrays for the keep-the-cast rule
(textgen.sampling.processors.KeepCast): a name is a capitalised run of letters that is not a
word that opens sentences (textgen.analysis.cast.OPENERS, the story analysis's own list, so the
rule and the cast metrics agree on what a name is)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from textgen.analysis.cast import OPENERS


@dataclass(frozen=True)
class NameTokens:
    """Which vocabulary entries can begin a character's name, for the keep-the-cast rule.

    `name_id` (V,) gives each entry that begins a name the number of that name (the same for
    "▁Tom" and for "Tom" after a quote), and -1 for every other entry; `after_bare` marks the
    names written without a word-start mark, which begin a word only after a `bare` entry (the
    lone "▁", an opening quote); `word_starts` marks every entry that starts a word (to count
    a story's words)."""

    name_id: np.ndarray  # (V,) int64
    after_bare: np.ndarray  # (V,) bool, as the two below
    bare: np.ndarray
    word_starts: np.ndarray
    count: int
    split: SplitNames | None = None  # names that begin with an entry an opener begins with too

    @property
    def any(self) -> bool:
        return self.count > 0 or self.split is not None


CAPITALISED = re.compile(r"[A-Z][a-z]+")


@dataclass(frozen=True)
class SplitNames:
    """Names whose first entry also begins a sentence opener's spelling ("▁P" of "Pippa" and of
    "Please"), common in small vocabularies: whether such a word is a new name shows only at the
    entry after, so the rule looks at the word in progress there. `ambiguous` holds those first
    entries; `continues` the entries that go on with a word (id, letters); `openers` every
    prefix of a capitalised opener; `roles`, `labels` and `bare` describe each entry."""

    ambiguous: frozenset
    continues: tuple
    openers: frozenset
    roles: tuple
    labels: tuple
    bare: frozenset
    decode: object  # the tokenizer's decode, to read the names a story already has

    def word_in_progress(self, recent: list[int]) -> list[int] | None:
        """The letter entries of the capitalised word the history ends inside, when it began with
        an ambiguous entry; None otherwise."""
        word: list[int] = []
        for token in reversed(recent):
            role = self.roles[token]
            if token in self.bare:
                break
            if role == "continue":
                word.append(token)
                continue
            if role == "start":
                word.append(token)
                break
            return None
        else:
            return None
        word.reverse()
        return word if word and word[0] in self.ambiguous else None

    def new_name_entries(self, history: list[int], word: list[int]) -> list[int]:
        """The entries that would turn the word in progress into a name the story has not used
        (and no opener): only at the first entry where it parts from every known word."""
        prefix = "".join(self.labels[token] for token in word)
        if not (prefix.isalpha() and prefix[0].isupper()):
            return []
        known = {found[:end] for found in CAPITALISED.findall(self.decode(history[: len(history) - len(word)]))
                 for end in range(1, len(found) + 1)}
        if prefix not in known and prefix not in self.openers:
            return []  # already a new word: the rule spoke at its first entry, a half-written word is left alone
        return [token for token, letters in self.continues
                if prefix + letters not in known and prefix + letters not in self.openers]


def name_tokens(tokenizer) -> NameTokens:
    """The entries that begin a name: a capitalised run of letters ("▁Lily", "▁Tom", "▁B" of "Beep")
    that is not a sentence opener ("▁The", "▁Once") and does not begin the tokenizer's spelling of
    one, after a space or after a quote ("▁Th" of "Thank", "Don" of "Don't"). A character
    tokenizer has no entries that start words, so it has no names. Made once per tokenizer."""
    cached = getattr(tokenizer, "_name_tokens", None)
    if cached is not None:
        return cached
    size = tokenizer.vocab_size
    name_id = np.full(size, -1, dtype=np.int64)
    after_bare, bare, starts = (np.zeros(size, dtype=bool) for _ in range(3))
    mark = tokenizer.word_start_mark or ""
    opener_starts: set[int] = set()  # the first entry of an opener's spelling, after a space or a quote
    if not tokenizer.whole_words and not tokenizer.spaces_are_tokens:
        for opener in OPENERS:
            spelled = opener.capitalize()
            if tokenizer.unknown(spelled):
                continue
            opener_starts.update(tokenizer.encode(spelled)[:1])
            quoted = tokenizer.encode('"' + spelled)
            opener_starts.update(quoted[1:2])
    numbers: dict[str, int] = {}
    ambiguous: set[int] = set()
    for token_id in range(size):
        role = tokenizer.word_role(token_id)
        piece = tokenizer.id_to_piece(token_id)
        if role is None:
            continue
        word_start = role == "start" or (tokenizer.whole_words and role == "alone")
        starts[token_id] = word_start
        if tokenizer.spaces_are_tokens:
            continue
        if piece in (mark, mark + '"', mark + "“", '"', "“", mark + "(", "("):
            bare[token_id] = True
            continue
        word = tokenizer.word_label(token_id)
        if not (word.isalpha() and word[0].isupper() and (len(word) == 1 or word[1:].islower())):
            continue
        if word.lower() in OPENERS:
            continue
        if token_id in opener_starts:
            ambiguous.add(token_id)  # "▁P" begins "Please" and "Pippa": told apart at the next entry
            continue
        if word_start or role == "continue":
            name_id[token_id] = numbers.setdefault(word, len(numbers))
            after_bare[token_id] = not word_start
    split = None
    if ambiguous:
        roles = tuple(tokenizer.word_role(token_id) for token_id in range(size))
        labels = tuple(tokenizer.word_label(token_id) for token_id in range(size))
        continues = tuple((token_id, labels[token_id]) for token_id in range(size)
                          if roles[token_id] == "continue" and labels[token_id].isalpha() and labels[token_id].islower())
        openers = frozenset(opener.capitalize()[:end] for opener in OPENERS if opener.isalpha()
                            for end in range(1, len(opener) + 1))
        split = SplitNames(frozenset(ambiguous), continues, openers, roles, labels,
                           frozenset(np.flatnonzero(bare).tolist()), tokenizer.decode)
    found = NameTokens(name_id, after_bare, bare, starts, len(numbers), split)
    tokenizer._name_tokens = found
    return found
