"""textgen/tokenizer/sentencepiece_tokenizer.py: round trips after normalisation, training (deterministic,
BPE, sizes that fit or fail with the size that works), long lines and words, damaged model files."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from textgen.errors import TextgenError
from textgen.tokenizer import (
    UNK_ID,
    load_tokenizer,
    tokenizer_from_bytes,
    train_tokenizer,
)
from textgen.tokenizer.sentencepiece_tokenizer import SENTENCEPIECE_MAX_LINE_BYTES



@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=120))
def test_sentencepiece_round_trip_after_normalisation(sentencepiece_tokenizer, text):
    """Byte fallback: any Unicode text comes back as the tokenizer's documented normal form."""
    ids = sentencepiece_tokenizer.encode(text)
    assert UNK_ID not in ids
    assert sentencepiece_tokenizer.decode(ids) == sentencepiece_tokenizer.normalize(text)


def test_sentencepiece_keeps_newlines_and_unusual_characters(sentencepiece_tokenizer):
    text = "Zoë saw a 🐶.\nThe end!\n\n日本"
    assert sentencepiece_tokenizer.decode(sentencepiece_tokenizer.encode(text)) == text
    assert sentencepiece_tokenizer.normalize("  a   b \nc") == "a b\nc"
    assert sentencepiece_tokenizer.unknown(text) == []


def test_sentencepiece_training_is_deterministic(little_stories):
    first = train_tokenizer(little_stories[:100], vocab_size=350)
    second = train_tokenizer(little_stories[:100], vocab_size=350)
    assert first.to_bytes() == second.to_bytes()


def test_bpe_on_request(little_stories):
    tokenizer = train_tokenizer(little_stories[:100], vocab_size=350, model_type="bpe")
    assert tokenizer.model_type == "bpe"
    assert "bpe" in tokenizer.describe()


def test_vocab_too_large_names_the_largest_that_works(little_stories):
    with pytest.raises(TextgenError, match=r"largest size that works is (\d+)") as error:
        train_tokenizer(little_stories[:50], vocab_size=5000)
    largest = int(error.value.args[0].split("works is ")[1].split()[0])
    assert train_tokenizer(little_stories[:50], vocab_size=largest).vocab_size == largest


def test_default_sentencepiece_size_shrinks_to_fit_with_a_note(little_stories):
    notes = []
    tokenizer = train_tokenizer(little_stories[:50], on_note=notes.append)
    assert tokenizer.vocab_size < 2048
    assert any("at most" in note for note in notes)


def test_sentencepiece_vocab_too_small(little_stories):
    with pytest.raises(TextgenError, match="needs at least"):
        train_tokenizer(little_stories[:20], vocab_size=64)


def test_long_lines_are_split_and_reported():
    long_line = " ".join(f"zebra{index % 7}quux" for index in range(SENTENCEPIECE_MAX_LINE_BYTES // 5))
    assert len(long_line.encode()) > SENTENCEPIECE_MAX_LINE_BYTES
    notes = []
    tokenizer = train_tokenizer(["Short line.", long_line], on_note=notes.append)
    assert any("split" in note for note in notes)
    # the long line was learned from, not skipped: its words are pieces of their own
    assert any("zebra" in tokenizer.id_to_piece(i) for i in range(tokenizer.vocab_size))


def test_truncated_sentencepiece_model(tmp_path, sentencepiece_tokenizer):
    path = tmp_path / "cut.model"
    path.write_bytes(sentencepiece_tokenizer.to_bytes()[:1000])
    with pytest.raises(TextgenError, match=str(path)):
        load_tokenizer(path)


def test_long_words_are_cut_so_every_part_fits():
    from textgen.tokenizer.sentencepiece_tokenizer import _split_long_line

    limit = SENTENCEPIECE_MAX_LINE_BYTES
    for line in ["ж" * 2500 + "a" * 5000, "x" * 10_000, ("word " * 2000).strip(), "a " + "b" * limit, "é" * limit]:
        parts = _split_long_line(line)
        assert all(0 < len(part.encode()) <= limit for part in parts)
        assert "".join(parts).replace(" ", "") == line.replace(" ", "")
    assert _split_long_line("b" * limit) == ["b" * limit]


def test_a_cut_long_word_is_learned_not_skipped(little_stories):
    tokenizer = train_tokenizer(little_stories[:50] + ["ж" * 2500 + "a" * 5000], vocab_size=400)
    assert "ж" in tokenizer.pieces("ж")[-1]  # a piece of its own, not byte fallback


@pytest.mark.parametrize("size", [1, 2, 3, 2_000_000_000])
def test_absurd_sentencepiece_sizes_fail_fast(little_stories, size):
    with pytest.raises(TextgenError, match="too small|above textgen's limit"):
        train_tokenizer(little_stories[:5], vocab_size=size)


def test_corrupt_piece_text_in_a_sentencepiece_model(tmp_path, sentencepiece_tokenizer):
    data = bytearray(sentencepiece_tokenizer.to_bytes())
    index = data.find(b"<0x7D>")
    data[index + 4] = 0xD1  # invalid UTF-8 inside a piece
    with pytest.raises(TextgenError, match="not a valid sentencepiece model"):
        tokenizer_from_bytes(bytes(data))


def test_describe_tells_whether_a_model_has_byte_fallback(sentencepiece_tokenizer):
    assert sentencepiece_tokenizer.byte_fallback
    assert sentencepiece_tokenizer.describe().endswith(", byte fallback, typographic quotes read as ASCII")


def test_typographic_quotes_read_as_ascii_ones(little_stories):
    """A book with curly quotes reads like one with straight quotes: the same ids, no byte pieces,
    and the rule travels in the model file."""
    tokenizer = train_tokenizer(little_stories[:100], vocab_size=350)
    curly, straight = "\u201cHi,\u201d said Tom. \u2018It\u2019s me.\u2019", "\"Hi,\" said Tom. 'It's me.'"
    assert tokenizer.encode(curly) == tokenizer.encode(straight)
    assert not any(tokenizer.id_to_piece(token).startswith("<0x") for token in tokenizer.encode(curly))
    assert tokenizer.normalize(curly) == straight
    assert tokenizer_from_bytes(tokenizer.to_bytes()).encode(curly) == tokenizer.encode(straight)


def test_tokenizers_from_before_the_quote_rule_keep_their_quotes(sentencepiece_tokenizer):
    """A model file without the rule (trained by an older textgen) encodes curly quotes as it always did."""
    from sentencepiece import sentencepiece_model_pb2

    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(sentencepiece_tokenizer.to_bytes())
    proto.normalizer_spec.name = "nmt_nfkc"
    older = tokenizer_from_bytes(proto.SerializeToString())
    assert not older.ascii_quotes
    assert older.decode(older.encode("\u201cHi\u201d")) == "\u201cHi\u201d"
    assert older.encode("\u201cHi\u201d") != older.encode('"Hi"')
