"""The sentencepiece tokenizer: unigram or BPE with byte fallback; newlines as the control piece <nl>."""

from __future__ import annotations

import io
import os
import random
import re
from collections.abc import Callable, Iterable

from textgen.errors import TextgenError
from textgen.tokenizer.base import (
    BOS,
    BOS_ID,
    DEFAULT_VOCAB_SIZE,
    EOS,
    EOS_ID,
    PAD,
    PAD_ID,
    SPECIALS,
    UNK,
    UNK_ID,
    Tokenizer,
)

NEWLINE_PIECE = "<nl>"
SENTENCEPIECE_MAX_LINE_BYTES = 4192  # sentencepiece skips longer training lines silently
SENTENCEPIECE_MAX_SENTENCES = 2_000_000  # sampled (seeded) beyond this
# Typographic quotes read as ASCII ones: books differ in which they use (of the ten classics only Oz
# has curly quotes), and a character unseen in training costs three byte pieces with untrained
# embeddings. One character for one, so offsets into the text hold. Tokenizers trained since
# carry the rule in their model file (the normalizer's name ends in QUOTES_RULE); older ones keep theirs.
ASCII_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"',
                              "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'"})
QUOTES_RULE = "+ascii_quotes"


class SentencePieceTokenizer(Tokenizer):
    """A sentencepiece model (unigram or BPE, byte fallback); newlines become the control piece <nl>."""

    kind = "sentencepiece"
    word_start_mark = "▁"

    def __init__(self, model_proto: bytes):
        import sentencepiece

        try:
            self._processor = sentencepiece.SentencePieceProcessor(model_proto=model_proto)
        except (RuntimeError, OSError, TypeError, ValueError) as error:  # ValueError covers broken UTF-8 pieces
            reason = str(error).splitlines()[-1] if str(error) else type(error).__name__
            reason = re.sub(r"^\w+: \S+\.cc\(\d+\) \[[^]]*\]\s*", "", reason).strip() or "it does not parse as one"  # drop sentencepiece's source lines
            raise TextgenError(f"not a valid sentencepiece model ({reason}): retrain it with `textgen tokenizer train`") from None
        self._proto = bytes(model_proto)
        processor = self._processor
        expected = {PAD: PAD_ID, UNK: UNK_ID, BOS: BOS_ID, EOS: EOS_ID}
        wrong = [piece for piece, token_id in expected.items() if processor.piece_to_id(piece) != token_id]
        if wrong:
            raise TextgenError(
                f"sentencepiece model has {', '.join(wrong)} at other ids than textgen's "
                "(0 <pad>, 1 <unk>, 2 <s>, 3 </s>): train it with `textgen tokenizer train`"
            )
        newline_id = processor.piece_to_id(NEWLINE_PIECE)
        self.newline_id = newline_id if newline_id != UNK_ID else None
        self.ascii_quotes = self._proto_spec().normalizer_spec.name.endswith(QUOTES_RULE)

    def _proto_spec(self):
        from sentencepiece import sentencepiece_model_pb2

        proto = sentencepiece_model_pb2.ModelProto()
        proto.ParseFromString(self._proto)
        return proto

    def _quotes(self, text: str) -> str:
        return text.translate(ASCII_QUOTES) if self.ascii_quotes else text

    @property
    def vocab_size(self) -> int:
        return self._processor.get_piece_size()

    @property
    def model_type(self) -> str:
        from sentencepiece import sentencepiece_model_pb2

        return sentencepiece_model_pb2.TrainerSpec.ModelType.Name(self._proto_spec().trainer_spec.model_type).lower()

    def encode(self, text: str, add_bos: bool = False, add_eos: bool = False) -> list[int]:
        ids = [BOS_ID] if add_bos else []
        text = self._quotes(text)
        lines = text.split("\n") if self.newline_id is not None else [text]
        for number, line in enumerate(lines):
            if number:
                ids.append(self.newline_id)
            ids.extend(self._processor.encode(line))
        if add_eos:
            ids.append(EOS_ID)
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        lines: list[list[int]] = [[]]
        for token_id in self._check_ids(ids):
            if token_id == self.newline_id:
                lines.append([])
            elif token_id not in (PAD_ID, BOS_ID, EOS_ID):
                lines[-1].append(token_id)
        return "\n".join(self._processor.decode(line) for line in lines)

    def id_to_piece(self, token_id: int) -> str:
        if token_id == self.newline_id:
            return "\n"
        return self._processor.id_to_piece(int(token_id))

    def piece_to_id(self, piece: str) -> int:
        if piece == "\n" and self.newline_id is not None:
            return self.newline_id
        return self._processor.piece_to_id(piece)

    def normalize(self, text: str) -> str:
        text = self._quotes(text)
        lines = text.split("\n") if self.newline_id is not None else [text]
        return "\n".join(self._normalize_line(line) for line in lines)

    def _normalize_line(self, line: str) -> str:
        normalized = self._processor.normalize(line).replace("▁", " ")
        return normalized[1:] if normalized.startswith(" ") else normalized

    def unknown(self, text: str) -> list[str]:
        if self.byte_fallback:  # nothing is unknown
            return []
        return sorted({char for char in text if self._processor.encode(self._quotes(char)) == [UNK_ID]} - {"\n"})

    def to_bytes(self) -> bytes:
        return self._proto

    @property
    def byte_fallback(self) -> bool:
        return self._processor.piece_to_id("<0x00>") != UNK_ID

    def describe(self) -> str:
        fallback = "byte fallback" if self.byte_fallback else "no byte fallback"
        quotes = ", typographic quotes read as ASCII" if self.ascii_quotes else ""
        return f"sentencepiece {self.model_type} tokenizer, {self.vocab_size} pieces, {fallback}{quotes}"


def _training_sentences(stories: Iterable[str], seed: int, on_note: Callable[[str], None]) -> list[str]:
    """Lines of the stories for sentencepiece: long lines split at spaces, sampled beyond the cap."""
    rng = random.Random(seed)
    sentences: list[str] = []
    seen = split_lines = 0
    for story in stories:
        for line in story.split("\n"):
            parts = _split_long_line(line)
            split_lines += len(parts) > 1
            for part in parts:
                part = part.translate(ASCII_QUOTES)
                seen += 1
                if len(sentences) < SENTENCEPIECE_MAX_SENTENCES:
                    sentences.append(part)
                elif (slot := rng.randrange(seen)) < SENTENCEPIECE_MAX_SENTENCES:
                    sentences[slot] = part  # reservoir sampling keeps a uniform sample
    if split_lines:
        on_note(f"{split_lines} lines were longer than sentencepiece's {SENTENCEPIECE_MAX_LINE_BYTES}-byte limit "
                "(it would skip them silently): they were split at spaces for tokenizer training")
    if seen > SENTENCEPIECE_MAX_SENTENCES:
        on_note(f"trained on a seeded sample of {SENTENCEPIECE_MAX_SENTENCES:,} of {seen:,} lines")
    return sentences


def _split_long_line(line: str, limit: int = SENTENCEPIECE_MAX_LINE_BYTES) -> list[str]:
    """Cut a line into parts of at most `limit` UTF-8 bytes, at spaces where possible."""
    if len(line.encode("utf-8")) <= limit:
        return [line]
    parts: list[str] = []
    current, size = [], 0  # words of the part being built, and its size in bytes
    for word in line.split(" "):
        for piece in _cut_word(word, limit):
            extra = len(piece.encode("utf-8")) + (1 if current else 0)
            if current and size + extra > limit:
                parts.append(" ".join(current))
                current, size = [], 0
                extra -= 1
            current.append(piece)
            size += extra
    if current:
        parts.append(" ".join(current))
    return [part for part in parts if part]


def _cut_word(word: str, limit: int) -> list[str]:
    """A word longer than `limit` bytes cut into runs of characters that each fit."""
    if len(word.encode("utf-8")) <= limit:
        return [word]
    pieces, current, size = [], [], 0
    for char in word:
        width = len(char.encode("utf-8"))
        if size + width > limit:
            pieces.append("".join(current))
            current, size = [], 0
        current.append(char)
        size += width
    pieces.append("".join(current))
    return pieces


def train_sentencepiece(
    stories: Iterable[str],
    vocab_size: int | None = None,
    model_type: str = "unigram",
    seed: int = 0,
    on_note: Callable[[str], None] = lambda note: None,
) -> SentencePieceTokenizer:
    """Train a sentencepiece model with byte fallback and full character coverage.

    With vocab_size None the default (2048) is used, lowered to the largest size the
    corpus supports; an explicit size that is too large or too small is an error naming
    the size that works.
    """
    import sentencepiece

    if model_type not in ("unigram", "bpe"):
        raise TextgenError(f"sentencepiece model type {model_type!r} is unknown: use unigram or bpe")
    asked = vocab_size or DEFAULT_VOCAB_SIZE["sentencepiece"]
    if asked <= len(SPECIALS) + 1:  # sentencepiece fails with an internal error below its own minimum
        raise TextgenError(f"vocabulary size {asked} is too small: a sentencepiece tokenizer needs 256 byte pieces, "
                           "every character of the corpus and the special tokens (try 512 or more)")
    sentences = _training_sentences(stories, seed, on_note)
    sentencepiece.set_random_generator_seed(seed)

    def train(size: int) -> bytes:
        writer = io.BytesIO()
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences), model_writer=writer, vocab_size=size, model_type=model_type,
            character_coverage=1.0, byte_fallback=True, pad_id=PAD_ID, unk_id=UNK_ID, bos_id=BOS_ID,
            eos_id=EOS_ID, pad_piece=PAD, unk_piece=UNK, bos_piece=BOS, eos_piece=EOS,
            control_symbols=[NEWLINE_PIECE], max_sentence_length=SENTENCEPIECE_MAX_LINE_BYTES,
            input_sentence_size=0, num_threads=max(1, min(8, os.cpu_count() or 1)), minloglevel=2,
        )
        from sentencepiece import sentencepiece_model_pb2

        proto = sentencepiece_model_pb2.ModelProto()
        proto.ParseFromString(writer.getvalue())
        proto.normalizer_spec.name += QUOTES_RULE  # the encoder maps quotes as the trainer did (see ASCII_QUOTES)
        return proto.SerializeToString()

    try:
        return SentencePieceTokenizer(train(asked))
    except RuntimeError as error:
        message = str(error)
        if too_high := re.search(r"value <= (\d+)", message):
            largest = int(too_high.group(1))
            if vocab_size is None:
                on_note(f"this corpus supports at most {largest} pieces; using {largest} instead of the default {asked}")
                return SentencePieceTokenizer(train(largest))
            raise TextgenError(
                f"corpus too small for vocabulary size {asked}: the largest size that works is {largest} "
                f"(use --vocab-size {largest} or less, or a larger corpus)"
            ) from None
        if too_low := re.search(r"smaller than required_chars\. \d+ vs (\d+)", message):
            raise TextgenError(
                f"vocabulary size {asked} is too small: this corpus needs at least {too_low.group(1)} pieces "
                "(256 byte-fallback pieces, every character of the corpus, and the special tokens)"
            ) from None
        raise TextgenError(f"sentencepiece could not train on this corpus: {message.splitlines()[-1]}") from None


