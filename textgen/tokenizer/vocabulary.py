"""Word-level and character-level tokenizers: an explicit vocabulary saved as JSON."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

from textgen.errors import TextgenError
from textgen.tokenizer.base import (
    BOS,
    BOS_ID,
    EOS,
    EOS_ID,
    GLUE,
    JSON_FORMAT,
    JSON_VERSION,
    PAD,
    SPECIALS,
    UNK,
    UNK_ID,
    UNKNOWN_TEXT,
    Tokenizer,
)


class VocabularyTokenizer(Tokenizer):
    """A tokenizer whose vocabulary is an explicit list of pieces, saved as JSON."""

    always: tuple[str, ...] = ()  # pieces every vocabulary of this kind has

    def __init__(self, pieces: Sequence[str]):
        pieces = list(pieces)
        fix = "retrain it with `textgen tokenizer train`"
        if tuple(pieces[: len(SPECIALS)]) != SPECIALS:
            raise TextgenError(f"{self.kind} vocabulary must start with {', '.join(SPECIALS)}: {fix}")
        if len(set(pieces)) != len(pieces):
            raise TextgenError(f"{self.kind} vocabulary has duplicate entries: {fix}")
        missing = [repr(piece) for piece in self.always if piece not in pieces]
        if missing:
            raise TextgenError(f"{self.kind} vocabulary lacks {', '.join(missing)}: {fix}")
        bad = [piece for piece in pieces[len(SPECIALS):] if piece not in self.always and self.split(piece) != [piece]]
        if bad:
            raise TextgenError(f"{self.kind} vocabulary has entries that are not single {self.kind} tokens ({bad[0]!r}): {fix}")
        self._pieces = pieces
        self._ids = {piece: token_id for token_id, piece in enumerate(pieces)}

    @property
    def vocab_size(self) -> int:
        return len(self._pieces)

    def id_to_piece(self, token_id: int) -> str:
        return self._pieces[int(token_id)]

    def piece_to_id(self, piece: str) -> int:
        return self._ids.get(piece, UNK_ID)

    def to_bytes(self) -> bytes:
        data = {"format": JSON_FORMAT, "version": JSON_VERSION, "kind": self.kind, "pieces": self._pieces}
        return json.dumps(data, ensure_ascii=False, indent=0).encode("utf-8")

    def describe(self) -> str:
        return f"{self.kind} tokenizer, {self.vocab_size} tokens ({len(SPECIALS)} special)"


class CharTokenizer(VocabularyTokenizer):
    """One id per character."""

    kind = "char"
    spaces_are_tokens = True
    always = (" ", "\n")

    @staticmethod
    def split(text: str) -> list[str]:
        return list(text)

    def encode(self, text: str, add_bos: bool = False, add_eos: bool = False) -> list[int]:
        ids = [self._ids.get(char, UNK_ID) for char in text]
        return ([BOS_ID] if add_bos else []) + ids + ([EOS_ID] if add_eos else [])

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(_decode_piece(self._pieces[token_id]) for token_id in self._check_ids(ids))

    def normalize(self, text: str) -> str:
        return text

    def unknown(self, text: str) -> list[str]:
        return sorted({char for char in text if char not in self._ids})


WORD_PATTERN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*|\S|\s")
OPENERS = {"(", "[", "{", "“", "‘"}
JOINERS = {"-", "/"}


def _is_word(piece: str) -> bool:
    return piece[0].isalnum() or piece == UNK  # an unknown piece decodes as a word


class WordTokenizer(VocabularyTokenizer):
    """Words, punctuation marks and whitespace, with spacing implied.

    "Doug saw Jane." is four tokens: Doug, saw, Jane, '.'. The space before a word is
    implied, as is no space before punctuation or after an opening bracket or quote, and
    none around '-' and '/'. Any other spacing is spelled out with whitespace tokens
    (' ', '\\n', ...) or the <glue> token (no space where one would be implied), so
    decode(encode(text)) == text for any text made of the vocabulary.
    """

    kind = "word"
    whole_words = True
    unit = "words"
    always = (GLUE, " ", "\n")

    @staticmethod
    def split(text: str) -> list[str]:
        """Words, single punctuation marks and single whitespace characters."""
        return WORD_PATTERN.findall(text)

    @staticmethod
    def _default_gaps(tokens: Iterable[str]) -> list[str]:
        """The implied spacing before each non-whitespace token."""
        gaps, previous, open_quote = [], None, False
        for token in tokens:
            opener = token in OPENERS or (token == '"' and not open_quote)
            if previous is None or previous in JOINERS or token in JOINERS:
                gap = ""
            elif _is_word(token):
                gap = "" if previous in OPENERS or previous == '"' and open_quote else " "
            else:
                gap = " " if opener and not (previous in OPENERS or previous == '"' and open_quote) else ""
            if token == '"':
                open_quote = not open_quote
            gaps.append(gap)
            previous = token
        return gaps

    def encode(self, text: str, add_bos: bool = False, add_eos: bool = False) -> list[int]:
        return [self._ids.get(piece, UNK_ID) for piece in self._pieces_of(text, add_bos, add_eos)]

    def _pieces_of(self, text: str, add_bos: bool = False, add_eos: bool = False) -> list[str]:
        split = self.split(text)
        words = [token for token in split if not token.isspace()]
        defaults = iter(self._default_gaps(words))
        pieces, gap = [BOS] if add_bos else [], []
        for token in split:
            if token.isspace():
                gap.append(token)
                continue
            default = next(defaults)
            if "".join(gap) != default:
                pieces.extend(gap or [GLUE])
            pieces.append(token)
            gap = []
        pieces.extend(gap)
        return pieces + ([EOS] if add_eos else [])

    def decode(self, ids: Iterable[int]) -> str:
        tokens = [self._pieces[token_id] for token_id in self._check_ids(ids)]
        tokens = [token for token in tokens if token not in (PAD, BOS, EOS)]
        words = [token for token in tokens if token != GLUE and not token.isspace()]
        defaults = iter(self._default_gaps(words))
        out, gap, glued = [], [], False
        for token in tokens:
            if token == GLUE:
                glued = True
            elif token.isspace():
                gap.append(token)
            else:
                default = next(defaults)
                out.append("" if glued else "".join(gap) if gap else default)
                out.append(_decode_piece(token))
                gap, glued = [], False
        out.extend(gap)
        return "".join(out)

    def pieces(self, text: str) -> list[str]:
        return [piece if piece in self._ids else UNK for piece in self._pieces_of(text)]

    def normalize(self, text: str) -> str:
        return text

    def unknown(self, text: str) -> list[str]:
        return sorted({token for token in self.split(text) if token not in self._ids})


def _decode_piece(piece: str) -> str:
    if piece == UNK:
        return UNKNOWN_TEXT
    return "" if piece in SPECIALS else piece


def train_vocabulary(
    kind: str, stories: Iterable[str], vocab_size: int | None = None, on_note: Callable[[str], None] = lambda note: None
) -> VocabularyTokenizer:
    """Build a word or char vocabulary: the special tokens, then tokens by descending count.
    `vocab_size` is a cap, as in word-level trainers: a corpus with fewer distinct tokens keeps
    them all (and `on_note` says so)."""
    cls = {"word": WordTokenizer, "char": CharTokenizer}[kind]
    counts: Counter[str] = Counter()
    for story in stories:
        counts.update(cls.split(story))
    fixed = list(SPECIALS) + [piece for piece in cls.always if piece not in SPECIALS]
    ranked = [piece for piece, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0])) if piece not in fixed]
    largest = len(fixed) + len(ranked)
    unit = "words and marks" if kind == "word" else "characters"
    if vocab_size is not None:
        if vocab_size <= len(fixed):
            raise TextgenError(f"vocabulary size {vocab_size} is too small: a {kind} tokenizer needs at least {len(fixed) + 1}")
        if vocab_size > largest:
            on_note(f"--vocab-size {vocab_size} is a cap: the corpus has {len(ranked)} distinct {unit}, so the vocabulary "
                    f"keeps all of them ({largest} tokens with the special ones)")
            vocab_size = largest
    return cls(fixed + ranked[: (vocab_size or largest) - len(fixed)])


