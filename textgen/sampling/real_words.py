"""How each vocabulary entry spells words, for the two word rules of sampling
(textgen.sampling.processors): real words (RealWords) and no doubled words (DoubleWords).

Real words: which entries would write a word the model's training text does not have.
A sub-word model spells words piece by piece, and the long tail of its distribution holds pieces
that join into words no one writes ("puppear", "intotreck"). The rule knows the training text's
words (textgen.json's "words", recorded by `textgen train`) and, at each step, the word each story
is in the middle of: an entry may continue that word only towards a word of the list, and may
end it (a space, a mark, the end of the story) only where it is a whole word of the list.

Words are as textgen.analysis.words.words_of reads them (lowercased letters with inner
apostrophes, "’" as "'"), so the rule and the invented-words metric agree; a word's possessive
("lily's") is a word too. A word tokenizer writes only whole words of its own list, so the
rule has nothing to do there. The masks are computed once per unfinished word and kept.

No doubled words: which entries would write the word just written again, with only a space or a
line break between ("the the", "and and"), as the immediate-repeat detector finds them; the words
written doubled on purpose (sounds, "very very", "had had") stay free. An entry that would leave
the word being written equal to the last one ("the" + " the") counts as doubling it.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from textgen.analysis.detectors.lexicon import GRAMMATICAL_DOUBLES, INTENSIFIERS, SOUND_DOUBLES
from textgen.tokenizer.base import BOS_ID, EOS_ID, PAD_ID, UNK_ID

MEANT_DOUBLES = frozenset(SOUND_DOUBLES | INTENSIFIERS | GRAMMATICAL_DOUBLES)  # "knock knock", "very very", "had had"
HARD_BREAK = "\x00"  # what the end of the story and the control entries write, for the doubled-word reading
BYTE = re.compile(r"<0x([0-9A-Fa-f]{2})>")
LAST_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*$")
LAST_TWO = re.compile(r"([^\W\d_]+(?:'[^\W\d_]+)*)(\s+)([^\W\d_]*)$")
MASK_CACHE = 8_192  # unfinished words whose masks are kept (2 KB each for 2,048 entries)
LOOK_BACK = 32  # entries read back to find where the current word began
SHORT_LOOK = 8  # entries read first for the last two words; LOOK_BACK where they may begin before these
NOT_IN_WORDS = re.compile(r"[^\w\s']|[\d_]")  # a character no word, apostrophe or space is made of


def _word_text(text: str) -> str:
    return text.replace("’", "'").lower()


@dataclass
class _Entry:
    """One vocabulary entry's shape: `lead`, the letters (and apostrophes) it starts with, which go
    on with the word before it; `continues`: it is nothing else (no space, mark or digit), so the
    word goes on after it; `rest`: the whole words it writes after its first break, which must be
    real; `trail`: the unfinished word it ends with ("" where it ends with a break)."""

    lead: str
    continues: bool
    rest: tuple[str, ...]
    trail: str
    fresh: tuple[tuple[str, ...], str]  # (whole words, unfinished word) when no word comes before it
    text: str = HARD_BREAK  # what it writes, lowercased ("\x00": a control entry or the end of the story)
    first: str = ""  # the word it starts after a space (" the" -> "the"; "" where it starts otherwise)
    junk: bool = False  # a byte of a character the vocabulary lacks: never part of a real word


def _runs(text: str) -> tuple[tuple[str, ...], str]:
    """The whole words of `text` (each followed by a break) and the word it ends in ("" if none);
    an apostrophe counts as a letter only inside or at the end of a word, as words_of reads it."""
    words, current = [], ""
    for char in text:
        if char.isalpha() or (char == "'" and current):
            current += char
        else:
            if current:
                words.append(current)
            current = ""
    return tuple(words), current


def _entry(text: str | None) -> _Entry:
    """The shape of an entry that writes `text` (None: it writes a break, such as the end of the story)."""
    if text is None:
        return _Entry("", False, (), "", ((), ""))
    text = _word_text(text)
    cut = 0
    while cut < len(text) and (text[cut].isalpha() or text[cut] == "'"):
        cut += 1
    lead, remainder = text[:cut], text[cut:]
    rest, trail = _runs(remainder) if remainder else ((), "")
    spaced = re.match(r"\s+([^\W\d_]+(?:'[^\W\d_]+)*)", text)
    return _Entry(lead, not remainder, rest, trail, _runs(text), text, spaced.group(1) if spaced else "")


@dataclass
class WordShapes:
    """What the rule needs for one tokenizer and one list of words: each entry's shape, the words
    and every beginning of a word, and the masks found so far (by unfinished word)."""

    entries: list[_Entry]
    words: frozenset[str]  # empty: no list of words (the real-words rule has nothing to keep to)
    beginnings: frozenset[str]
    breaks_ok: np.ndarray  # (V,) bool: entries with no letter at their start whose own words are real
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    by_lead: dict[str, list[int]] = field(default_factory=dict)  # entries by the letters they start with
    by_first: dict[str, list[int]] = field(default_factory=dict)  # entries by the word they start after a space
    doubles: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    leads: list[tuple[int, _Entry]] = field(default_factory=list)  # the entries that go on with the word before them
    ordered: list[str] = field(default_factory=list)  # the beginnings, sorted: those of one word are side by side

    @classmethod
    def build(cls, tokenizer, words: Iterable[str] | None = None) -> WordShapes | None:
        """The shapes for `tokenizer` and `words` (None for a word tokenizer: it writes whole words of its own)."""
        if tokenizer.whole_words:
            return None
        words = frozenset(_word_text(word) for word in words or () if word)
        words = words | {word + "'s" for word in words if not word.endswith("'s")}
        beginnings = {word[:end] for word in words for end in range(1, len(word) + 1)}
        beginnings |= {word + "'" for word in words}  # a closing quote mark after a word, or a plural possessive
        entries = []
        for token_id in range(tokenizer.vocab_size):
            if token_id in (PAD_ID, UNK_ID, BOS_ID, EOS_ID):
                entries.append(_entry(None))
                continue
            piece = tokenizer.id_to_piece(token_id)
            byte = BYTE.fullmatch(piece)
            if byte is not None:  # byte fallback: an ASCII character as itself, a piece of another one as junk
                value = int(byte.group(1), 16)
                entries.append(_entry(chr(value)) if value < 0x80 else _Entry("", False, (), "", ((), ""), junk=True))
                continue
            mark = tokenizer.word_start_mark
            entries.append(_entry(piece.replace(mark, " ") if mark else piece))
        shapes = cls(entries, words, frozenset(beginnings), np.zeros(0, dtype=bool))
        shapes.breaks_ok = np.array([not entry.lead and not entry.junk and shapes._real(entry.rest, entry.trail)
                                     for entry in entries], dtype=bool)
        for token_id, entry in enumerate(entries):
            if entry.lead:
                shapes.by_lead.setdefault(entry.lead, []).append(token_id)
                shapes.leads.append((token_id, entry))
            if entry.first:
                shapes.by_first.setdefault(entry.first, []).append(token_id)
        shapes.ordered = sorted(shapes.beginnings)
        return shapes

    def doubling(self, history: list[int]) -> np.ndarray:
        """(V,) bool: the entries that would write the story's last word again right after it, with
        only spaces or line breaks between (none where the word is one written doubled on purpose)."""
        ending, found = self._last_words(history)
        current = ending.group() if ending else ""  # the word the story ends in, whole or not
        last, unfinished = (found.group(1), found.group(3)) if found else ("", "")
        key = (current, last, unfinished)
        mask = self.doubles.get(key)
        if mask is None:
            ids = []
            if current and current not in MEANT_DOUBLES:  # "the", then " the"
                ids += self.by_first.get(current, [])
            if last and last not in MEANT_DOUBLES and last != unfinished and last.startswith(unfinished):
                # "the ", then "the" or " the"; "the th", then "e"
                ids += self.by_lead.get(last[len(unfinished):], []) if unfinished else \
                    self.by_lead.get(last, []) + self.by_first.get(last, [])
            mask = np.zeros(len(self.entries), dtype=bool)
            mask[ids] = True
            if len(self.doubles) >= MASK_CACHE:
                self.doubles.clear()
            self.doubles[key] = mask
        return mask

    def _last_words(self, history: list[int]) -> tuple[re.Match | None, re.Match | None]:
        """The last word and the last two words of the text of the last LOOK_BACK entries (LAST_WORD,
        LAST_TWO), read from the last SHORT_LOOK entries where that gives the same matches. A match
        ends at the text's end and is made of letters, apostrophes and spaces, and the expressions
        look at no character before it: one that begins at the short text's third character or
        later (the first two could be the apostrophe and letter of a word begun earlier), or none
        where the short text has a character no match holds, is the longer text's too."""
        for back in (SHORT_LOOK, LOOK_BACK):
            tail = "".join(self.entries[token_id].text for token_id in history[-back:])
            ending, found = LAST_WORD.search(tail), LAST_TWO.search(tail)
            if back == LOOK_BACK or len(history) <= back:
                break
            if (ending is None or ending.start() > 1) and (found.start() > 1 if found else NOT_IN_WORDS.search(tail)):
                break
        return ending, found

    def whole(self, word: str) -> bool:
        """`word` is a word of the list (a closing quote mark after it aside)."""
        return word in self.words or (word.endswith("'") and word[:-1] in self.words)

    def _real(self, rest: tuple[str, ...], trail: str) -> bool:
        return all(self.whole(word) for word in rest) and (not trail or trail in self.beginnings)

    def allowed(self, unfinished: str) -> np.ndarray:
        """(V,) bool: the entries that keep every word real after `unfinished` (the word being
        written, "" at a word's start)."""
        mask = self.masks.get(unfinished)
        if mask is not None:
            return mask
        if not unfinished:
            mask = np.array([not entry.junk and self._real(*entry.fresh) for entry in self.entries], dtype=bool)
        else:
            mask = self.breaks_ok & self.whole(unfinished)  # an entry that goes on with the word is False here
            ids, goes_on = self._going_on(unfinished)
            if ids:  # one assignment for them all
                mask[ids] = goes_on
        if len(self.masks) >= MASK_CACHE:
            self.masks.clear()
        self.masks[unfinished] = mask
        return mask

    def _going_on(self, unfinished: str) -> tuple[list[int], list[bool]]:
        """The entries that go on with `unfinished` ("th" + "e") and whether each keeps the words real:
        found from the beginnings that start with it (side by side in `ordered`) where they are fewer
        than such entries (a long word begun), else by trying every such entry. Each way, an entry
        can keep the words real only where the word it makes is a beginning."""
        first = bisect_left(self.ordered, unfinished)
        last = bisect_left(self.ordered, unfinished + "\U0010ffff", first)
        if last - first < len(self.leads):
            found = (((token_id, self.entries[token_id]), word) for word in self.ordered[first:last]
                     for token_id in self.by_lead.get(word[len(unfinished):], ()))
        else:
            found = ((entry, unfinished + entry[1].lead) for entry in self.leads)
        ids, goes_on = [], []
        for (token_id, entry), word in found:
            ids.append(token_id)
            goes_on.append(word in self.beginnings if entry.continues else
                           self.whole(word) and self._real(entry.rest, entry.trail))
        return ids, goes_on

    def unfinished(self, history: list[int]) -> str:
        """The word a story ends in the middle of ("" when its last entry ends with a break): the
        word the last entry with a break ends in, and the letters written after it."""
        parts = []
        for token_id in reversed(history[-LOOK_BACK:]):
            entry = self.entries[token_id]
            parts.append(entry.lead if entry.continues else entry.trail)
            if not entry.continues:
                break
        return "".join(reversed(parts))


_SHAPES: dict[tuple[int, int], tuple[object, object, WordShapes | None]] = {}


def word_shapes(tokenizer, words) -> WordShapes | None:
    """WordShapes.build, kept per tokenizer and word list (a tune grid builds its processors 36 times)."""
    key = (id(tokenizer), id(words))
    kept = _SHAPES.get(key)
    if kept is None or kept[0] is not tokenizer or kept[1] is not words:
        if len(_SHAPES) >= 8:
            _SHAPES.clear()
        kept = _SHAPES[key] = (tokenizer, words, WordShapes.build(tokenizer, words))
    return kept[2]
