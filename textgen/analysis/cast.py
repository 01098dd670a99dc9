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
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch

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


def cast_metrics(stories: Iterable[str], window: int = WINDOW) -> dict:
    """Mean distinct names per story and mean late names per story."""
    casts = [story_cast(story, window) for story in stories]
    count = max(1, len(casts))
    return {"names_per_story": sum(len(cast.names) for cast in casts) / count,
            "late_names_per_story": sum(len(cast.late) for cast in casts) / count}


@dataclass(frozen=True)
class NameTokens:
    """Which vocabulary entries can begin a character's name, for the keep-the-cast rule.

    `name_id` (V,) gives each entry that begins a name the number of that name (the same for
    "▁Tom" and for "Tom" after a quote), and -1 for every other entry; `after_bare` marks the
    names written without a word-start mark, which begin a word only after a `bare` entry (the
    lone "▁", an opening quote); `word_starts` marks every entry that starts a word (to count
    a story's words)."""

    name_id: torch.Tensor
    after_bare: torch.Tensor
    bare: torch.Tensor
    word_starts: torch.Tensor
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
    name_id = torch.full((size,), -1, dtype=torch.long)
    after_bare, bare, starts = (torch.zeros(size, dtype=torch.bool) for _ in range(3))
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
                           frozenset(bare.nonzero()[:, 0].tolist()), tokenizer.decode)
    found = NameTokens(name_id, after_bare, bare, starts, len(numbers), split)
    tokenizer._name_tokens = found
    return found
