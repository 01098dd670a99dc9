"""The Tokenizer interface and the special tokens every kind shares."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterable

from textgen.modeldir.atomic import write_bytes
from textgen.errors import TextgenError

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
SPECIALS = (PAD, UNK, BOS, EOS)
PAD_ID, UNK_ID, BOS_ID, EOS_ID = range(4)
GLUE = "<glue>"  # a word tokenizer's "no space here", where a space would be the default
UNKNOWN_TEXT = "⁇"  # what an unknown id decodes to in word/char text (sentencepiece writes " ⁇ ")
KINDS = ("sentencepiece", "word", "char")
MAX_VOCAB_SIZE = 1 << 20  # far above any useful size; larger values make sentencepiece hang or fail
DEFAULT_VOCAB_SIZE = {"sentencepiece": 2048, "word": None, "char": None}  # None: every token seen
JSON_FORMAT = "textgen-tokenizer"
JSON_VERSION = 1


def check_text(text: str, what: str = "text") -> str:
    """Refuse text that cannot be UTF-8 (lone surrogates, e.g. from undecodable command-line bytes)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise TextgenError(f"{what} is not valid UTF-8 (bad character at position {error.start}): "
                           "give UTF-8 text, or set a UTF-8 locale in the terminal") from None
    return text


class Tokenizer(ABC):
    """Text to ids and back. Subclasses: SentencePieceTokenizer, WordTokenizer, CharTokenizer."""

    kind: str
    pad_id, unk_id, bos_id, eos_id = PAD_ID, UNK_ID, BOS_ID, EOS_ID

    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """Number of ids, special tokens included."""

    @abstractmethod
    def encode(self, text: str, add_bos: bool = False, add_eos: bool = False) -> list[int]:
        """Ids of `text`, optionally wrapped in the start and end of story tokens."""

    @abstractmethod
    def decode(self, ids: Iterable[int]) -> str:
        """Text of `ids`; special tokens are dropped, unknown ids become ' ⁇ '."""

    @abstractmethod
    def id_to_piece(self, token_id: int) -> str:
        """The vocabulary entry of one id."""

    @abstractmethod
    def piece_to_id(self, piece: str) -> int:
        """The id of a vocabulary entry, or unk_id."""

    @abstractmethod
    def normalize(self, text: str) -> str:
        """What decode(encode(text)) gives for text the tokenizer fully knows."""

    @abstractmethod
    def unknown(self, text: str) -> list[str]:
        """The words or characters of `text` that would encode as <unk> (empty with byte fallback)."""

    @abstractmethod
    def to_bytes(self) -> bytes:
        """The whole tokenizer as the bytes of its file."""

    def pieces(self, text: str) -> list[str]:
        """The vocabulary entries that `text` encodes to."""
        return [self.id_to_piece(token_id) for token_id in self.encode(text)]

    def save(self, path: str | os.PathLike) -> None:
        """Write the tokenizer file atomically."""
        write_bytes(path, self.to_bytes())

    def describe(self) -> str:
        """A one-line summary."""
        return f"{self.kind} tokenizer, {self.vocab_size} tokens"

    # --- where words start and end: the one place that knows each kind's conventions ------------

    whole_words = False  # every entry is a whole word, mark or space (a word tokenizer)
    spaces_are_tokens = False  # a space is a token of its own that starts the next word (a char tokenizer)
    word_start_mark: str | None = None  # the prefix of entries that begin a word (sentencepiece's "▁")
    unit = "characters"  # what `unknown` reports: words or characters

    def is_space(self, piece: str) -> bool:
        """An entry that is only a space (" ", or sentencepiece's lone "▁")."""
        return piece == " " or (self.word_start_mark is not None and piece == self.word_start_mark)

    def is_separator(self, piece: str) -> bool:
        """An entry that only separates words: a space, or a word model's <glue>."""
        return self.is_space(piece) or piece == GLUE

    def word_role(self, token_id: int) -> str | None:
        """How an entry relates to words: "start" (begins a word), "continue" (goes on with one),
        "alone" (a word, mark, space or the end of the story by itself) or None (a control token
        that is never written: <pad>, <unk>, <s>, <glue>)."""
        if token_id in (PAD_ID, UNK_ID, BOS_ID):
            return None
        piece = self.id_to_piece(token_id)
        if piece == GLUE:
            return None if self.whole_words else "alone"
        if self.whole_words:
            return "alone"
        if token_id == EOS_ID or piece in ("\n", " "):
            return "alone"
        if self.word_start_mark is not None and piece.startswith(self.word_start_mark):
            return "start"
        if piece.startswith("<0x") or piece[0].isalnum() or piece[0] in "'’":
            return "continue"  # a letter run, or a byte of a multi-byte character
        return "alone"  # punctuation

    def word_pieces(self, word: str) -> list[int]:
        """The tokenizer's own segmentation of a word as it follows a space."""
        if self.spaces_are_tokens:
            return [self.piece_to_id(" ")] + self.encode(word)
        return self.encode(word)

    def word_label(self, token_id: int) -> str:
        """An entry as a word of a list: the end of the story is </s>, a start-of-word mark is dropped."""
        if token_id == EOS_ID:
            return "</s>"
        piece = self.id_to_piece(token_id)
        return (piece.replace(self.word_start_mark, " ") if self.word_start_mark else piece).strip() or piece

    def _check_ids(self, ids: Iterable[int]) -> list[int]:
        ids = [int(token_id) for token_id in ids]
        for token_id in ids:
            if not 0 <= token_id < self.vocab_size:
                raise TextgenError(f"token id {token_id} is outside the vocabulary (0..{self.vocab_size - 1})")
        return ids


