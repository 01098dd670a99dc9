"""The vocabulary entries for the no-stray-capitals rule of sampling (textgen.sampling.processors.StrayCapitals).

A small model learns that "The", "It" and "Then" begin sentences, and now and then writes one with
its capital inside a sentence ("and The dog ran", "she saw It"). A reader takes such a word for a
name, and so does the quote-aware names count (textgen.analysis.cast.speech_aware_names), which has
no list of openers. The rule knows two things:
- which entries write a sentence opener capitalised as a whole word of their own ("▁The", "▁It"):
  the openers of textgen.analysis.cast.OPENERS, less the words written with a capital inside a
  sentence too ("I", titles such as "Mr", months and days, "End" of "The End");
- whether a story is inside a sentence: the last character written, spaces aside, is a letter, a
  digit, a comma or a semicolon, or a closing quote mark after a comma ("Hi," he said); after . ! ?
  : an opening quote mark or a line break a sentence or speech may start, and the story's start is one.
An entry that also begins a longer word the training text capitalises inside a sentence ("▁Do" of
"Doug", "▁And" of "Andy": textgen.json's "words" record "capitals") stays free, since what it begins
may be a name. A model that records no capitals (trained before textgen recorded them; `textgen
export` adds them where the corpus is at hand) has the rule off. A character tokenizer writes no
whole words, so the rule has nothing to do there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from textgen.analysis.cast import OPENERS, TITLES
from textgen.tokenizer.base import BOS_ID, EOS_ID, PAD_ID, UNK_ID

MONTHS_AND_DAYS = frozenset("""january february march april may june july august september october november december
monday tuesday wednesday thursday friday saturday sunday""".split())
# openers that keep their capital inside a sentence too ("Lily and I", "said Mr", "in May", "The End")
CAPITAL_INSIDE = frozenset(TITLES | MONTHS_AND_DAYS | {"i", "sir", "madam", "end"})
STRAY = frozenset(OPENERS - CAPITAL_INSIDE)
INSIDE_MARKS = ",;"  # a sentence goes on after these
LOOK_BACK = 8  # entries read back past spaces to find the last characters written
QUOTES = "\"”'’"


@dataclass(frozen=True)
class StrayCapitalEntries:
    """`stray` (V,) bool: the entries that write a capitalised opener as a whole word ("▁The")."""

    stray: np.ndarray  # (V,) bool
    texts: tuple[str, ...]  # what each entry writes ("" for the control entries and the end of the story)
    lower: np.ndarray  # (V,) int64: each stray entry's lower-case entry ("▁The" -> "▁the"), -1 where none (and elsewhere)

    @property
    def any(self) -> bool:
        return bool(self.stray.any())

    def inside(self, history) -> np.ndarray:
        """(B,) bool: each story is inside a sentence after `history` (B, T) token ids; the start of a story is not."""
        return np.array([self.inside_row(row) for row in history[:, -LOOK_BACK:].tolist()], dtype=bool)

    def inside_row(self, history: list[int]) -> bool:
        """`inside` for one story's ids."""
        return inside_sentence("".join(self.texts[token] for token in history[-LOOK_BACK:]))


def inside_sentence(text: str) -> bool:
    """Whether a story that ends in `text` is inside a sentence: its last character, spaces aside, is a
    letter, a digit, a comma or a semicolon, or a closing quote mark right after a comma ("Hi," he said)."""
    text = text.rstrip(" ")
    if not text:
        return False
    last = text[-1]
    if last in QUOTES:
        return text[-2:-1] == ","
    return last.isalnum() or last in INSIDE_MARKS


def stray_capital_entries(tokenizer, capitals=None) -> StrayCapitalEntries:
    """The entries for `tokenizer` and `capitals` (the capitalised words its training text writes inside
    a sentence; None: not recorded), made once per tokenizer and list."""
    cached = getattr(tokenizer, "_stray_capitals", None)
    if cached is not None and cached[0] is capitals:
        return cached[1]
    size = tokenizer.vocab_size
    stray = np.zeros(size, dtype=bool)
    texts = [""] * size
    for token_id in range(size):
        if token_id in (PAD_ID, UNK_ID, BOS_ID, EOS_ID):
            texts[token_id] = "\n"  # the start or end of a story: a sentence may start after it
            continue
        texts[token_id] = text = tokenizer.decode([token_id])
        mark = tokenizer.word_start_mark
        if mark and tokenizer.id_to_piece(token_id).startswith(mark) and not text.startswith(" "):
            texts[token_id] = " " + text  # decode drops the space a lone entry starts with ('▁"' opens speech)
        role = tokenizer.word_role(token_id)
        if role == "start" or (tokenizer.whole_words and role == "alone"):
            word = tokenizer.word_label(token_id)
            stray[token_id] = (word.isalpha() and word[0].isupper() and word[1:] == word[1:].lower()
                               and word.lower() in STRAY)
    if capitals is None:
        stray[:] = False  # which entries begin names cannot be told: the rule is off
    elif not tokenizer.whole_words:
        for word in capitals:  # "▁Do" begins "Doug": it stays free
            ids = tokenizer.encode(" " + word)
            if len(ids) > 1 and stray[ids[0]]:
                stray[ids[0]] = False
    lower = np.full(size, -1, dtype=np.int64)
    for token_id in np.flatnonzero(stray).tolist():
        lowered = tokenizer.id_to_piece(token_id).lower()
        lower_id = tokenizer.piece_to_id(lowered)
        if lower_id not in (UNK_ID, token_id) and tokenizer.id_to_piece(lower_id) == lowered:
            lower[token_id] = lower_id
    found = StrayCapitalEntries(stray, tuple(texts), lower)
    tokenizer._stray_capitals = (capitals, found)
    return found
