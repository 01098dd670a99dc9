"""Tokenizers: one interface for sentencepiece, word-level and character-level vocabularies.

Every kind has the same special tokens at the same ids: 0 <pad>, 1 <unk>, 2 <s> (start of
story), 3 </s> (end of story). Each saves to one file and to bytes, so a checkpoint
carries it: sentencepiece as its own model protobuf, word and char as JSON.

Round trip: `decode(encode(text)) == normalize(text)`. For word and char tokenizers
`normalize` is the identity on any text of their alphabet; for sentencepiece it is NFKC,
runs of spaces and tabs become one space and each line is stripped (newlines are kept:
textgen encodes them as the control piece <nl>).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from textgen.errors import TextgenError
from textgen.tokenizer.base import (
    BOS,
    BOS_ID,
    DEFAULT_VOCAB_SIZE,
    EOS,
    EOS_ID,
    JSON_FORMAT,
    JSON_VERSION,
    KINDS,
    MAX_VOCAB_SIZE,
    PAD,
    PAD_ID,
    SPECIALS,
    UNK,
    UNK_ID,
    UNKNOWN_TEXT,
    Tokenizer,
)
from textgen.tokenizer.sentencepiece_tokenizer import (
    SentencePieceTokenizer,
    train_sentencepiece,
)
from textgen.tokenizer.vocabulary import CharTokenizer, WordTokenizer, train_vocabulary

__all__ = [
    "BOS", "BOS_ID", "DEFAULT_VOCAB_SIZE", "UNKNOWN_TEXT", "EOS", "EOS_ID", "KINDS", "PAD", "PAD_ID", "SPECIALS", "UNK", "UNK_ID", "CharTokenizer",
    "SentencePieceTokenizer", "Tokenizer", "WordTokenizer", "load_tokenizer", "tokenizer_from_bytes",
    "train_tokenizer",
]


def train_tokenizer(
    stories: Iterable[str],
    kind: str = "sentencepiece",
    vocab_size: int | None = None,
    model_type: str = "unigram",
    seed: int = 0,
    on_note: Callable[[str], None] = lambda note: None,
) -> Tokenizer:
    """Train a tokenizer of `kind` on stories (see train_sentencepiece and train_vocabulary)."""
    if kind not in KINDS:
        raise TextgenError(f"tokenizer kind {kind!r} is unknown: use one of {', '.join(KINDS)}")
    if vocab_size is not None and vocab_size < 1:
        raise TextgenError(f"vocabulary size {vocab_size} must be a positive number")
    if vocab_size is not None and vocab_size > MAX_VOCAB_SIZE:
        raise TextgenError(f"vocabulary size {vocab_size:,} is above textgen's limit of {MAX_VOCAB_SIZE:,}: choose a smaller size")
    if kind == "sentencepiece":
        return train_sentencepiece(stories, vocab_size, model_type, seed, on_note)
    if model_type != "unigram":
        on_note(f"model type {model_type} applies to sentencepiece only; ignored for a {kind} tokenizer")
    return train_vocabulary(kind, stories, vocab_size, on_note)


def tokenizer_from_bytes(data: bytes, source: str = "tokenizer") -> Tokenizer:
    """Rebuild a tokenizer from its file bytes (JSON for word/char, protobuf for sentencepiece)."""
    if not data:
        raise TextgenError(f"{source} is empty: train a tokenizer with `textgen tokenizer train`")
    if data.lstrip()[:1] == b"{":
        from textgen.modeldir.safe_read import JSONProblem, parse_json

        try:
            spec = parse_json(data.decode("utf-8"), source)
        except UnicodeDecodeError as error:
            raise TextgenError(f"{source} is not a valid tokenizer file (not UTF-8 at byte {error.start}): retrain it") from None
        except JSONProblem as error:
            raise TextgenError(f"{source} is not a valid tokenizer file (broken JSON: {error.detail}): retrain it") from None
        if not isinstance(spec, dict) or spec.get("format") != JSON_FORMAT:
            raise TextgenError(f"{source} is JSON but not a textgen tokenizer file: retrain it with `textgen tokenizer train`")
        if spec.get("version") != JSON_VERSION:
            raise TextgenError(f"{source} has tokenizer format version {spec.get('version')}, this textgen reads {JSON_VERSION}: retrain it")
        cls = {"word": WordTokenizer, "char": CharTokenizer}.get(spec.get("kind"))
        pieces = spec.get("pieces")
        if cls is None or not isinstance(pieces, list) or not all(isinstance(piece, str) and piece for piece in pieces):
            raise TextgenError(f"{source} has an unknown kind or a broken vocabulary: retrain it")
        try:
            return cls(pieces)
        except TextgenError as error:
            raise TextgenError(f"{source}: {error}") from None
    if source.lower().endswith(".json") or _looks_like_text(data):
        raise TextgenError(f"{source} is not a textgen tokenizer file: a word or char tokenizer is a JSON object "
                           "(tokenizer.json) and a sentencepiece one a binary model (tokenizer.model); retrain it with "
                           "`textgen tokenizer train`")
    try:
        return SentencePieceTokenizer(data)
    except TextgenError as error:
        raise TextgenError(f"{source}: {error}") from None


def _looks_like_text(data: bytes) -> bool:
    """Readable text (a sentencepiece model is a binary protobuf, which has NUL or control bytes early on)."""
    head = data[:4096]
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return not any(byte < 9 or 13 < byte < 32 for byte in head)


def load_tokenizer(path: str | os.PathLike) -> Tokenizer:
    """Load a tokenizer file written by Tokenizer.save (or a compatible sentencepiece .model): a
    regular file of at most MAX_TOKENIZER_BYTES (a pipe or a device is refused, never read)."""
    from textgen.modeldir.safe_read import read_bytes
    from textgen.modeldir.names import MAX_TOKENIZER_BYTES

    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise TextgenError(f"tokenizer file {path} does not exist: train one with `textgen tokenizer train CORPUS --out {path}`")
    if path.is_dir():
        raise TextgenError(f"tokenizer path {path} is a folder: give the tokenizer file")
    return tokenizer_from_bytes(read_bytes(path, "tokenizer file", MAX_TOKENIZER_BYTES), source=str(path))
