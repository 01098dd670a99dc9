"""Tokenizers: round trips (hypothesis), special tokens, files and bytes, training errors."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from textgen.errors import TextgenError
from textgen.tokenizer import (
    BOS_ID,
    EOS_ID,
    SPECIALS,
    UNK_ID,
    CharTokenizer,
    WordTokenizer,
    load_tokenizer,
    tokenizer_from_bytes,
    train_tokenizer,
)
from textgen.tokenizer.sentencepiece_tokenizer import SENTENCEPIECE_MAX_LINE_BYTES

FIXTURE_SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
WHITESPACE = st.sampled_from([" ", " ", " ", "\n", "  ", "\n\n", " \n"])


@FIXTURE_SETTINGS
@given(data=st.data())
def test_char_round_trip_on_its_alphabet(char_tokenizer, data):
    alphabet = [char_tokenizer.id_to_piece(i) for i in range(len(SPECIALS), char_tokenizer.vocab_size)]
    text = data.draw(st.text(alphabet=alphabet, max_size=200))
    assert char_tokenizer.unknown(text) == []
    assert char_tokenizer.decode(char_tokenizer.encode(text)) == text


@FIXTURE_SETTINGS
@given(data=st.data())
def test_word_round_trip_on_its_alphabet(word_tokenizer, data):
    """Any sequence of vocabulary tokens, joined by any spacing that keeps them apart, comes back exactly."""
    vocabulary = [word_tokenizer.id_to_piece(i) for i in range(len(SPECIALS), word_tokenizer.vocab_size)]
    tokens = [token for token in vocabulary if not token.isspace() and token != "<glue>"]
    drawn = data.draw(st.lists(st.sampled_from(tokens), max_size=40))
    text = data.draw(WHITESPACE | st.just("")) if drawn else ""
    for previous, token in zip([None, *drawn], drawn):
        if previous is not None:
            both_words = previous[-1].isalnum() and token[0].isalnum()
            text += data.draw(WHITESPACE if both_words else WHITESPACE | st.just(""))
        text += token
    text += data.draw(WHITESPACE | st.just(""))
    assert word_tokenizer.unknown(text) == []
    assert word_tokenizer.decode(word_tokenizer.encode(text)) == text


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


def test_doug_book_is_one_token_per_word(tmp_path):
    tokenizer = train_tokenizer(["Doug saw Jane. Jane saw Spot. Spot saw Doug."], kind="word")
    assert tokenizer.pieces("Doug saw Jane.") == ["Doug", "saw", "Jane", "."]
    assert tokenizer.pieces('He said, "Hi."') == ["<unk>"] * 5 + [".", "<unk>"]


def test_word_spacing_that_differs_from_the_default_is_spelled_out():
    tokenizer = train_tokenizer(['ice-cream and "hi" ( x ) a  b\tc'], kind="word")
    for text in ['ice-cream and "hi"', "( x )", "a  b", "a\tb", "icecream"[:3] + " - cream", " leading", "x\n"]:
        if not tokenizer.unknown(text):
            assert tokenizer.decode(tokenizer.encode(text)) == text
    assert tokenizer.pieces("ice-cream") == ["ice", "-", "cream"]


@pytest.mark.parametrize("kind", ["sentencepiece", "word", "char"])
def test_special_tokens_are_shared_by_every_kind(tokenizers, kind):
    tokenizer = tokenizers[kind]
    assert [tokenizer.id_to_piece(i) for i in range(4)] == list(SPECIALS)
    ids = tokenizer.encode("Tom was happy.", add_bos=True, add_eos=True)
    assert ids[0] == BOS_ID and ids[-1] == EOS_ID
    assert tokenizer.decode(ids) == tokenizer.normalize("Tom was happy.")


@pytest.mark.parametrize("kind", ["sentencepiece", "word", "char"])
def test_save_load_and_bytes_give_the_same_tokenizer(tokenizers, tmp_path, kind):
    tokenizer = tokenizers[kind]
    path = tmp_path / f"tok.{kind}"
    tokenizer.save(path)
    text = "Once upon a time, Lily saw a big red ball.\nShe was happy."
    for loaded in (load_tokenizer(path), tokenizer_from_bytes(tokenizer.to_bytes())):
        assert loaded.kind == tokenizer.kind
        assert loaded.vocab_size == tokenizer.vocab_size
        assert loaded.encode(text) == tokenizer.encode(text)
    assert oct(os.stat(path).st_mode & 0o777) != oct(0o600)  # follows the umask, not mkstemp's 0600


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


@pytest.mark.parametrize("kind", ["word", "char"])
def test_vocabulary_kinds_size_limits(kind, stories):
    full = train_tokenizer(stories, kind=kind)
    notes = []
    capped = train_tokenizer(stories, kind=kind, vocab_size=full.vocab_size + 1000, on_note=notes.append)
    assert capped.to_bytes() == full.to_bytes()  # a size above what the corpus has is a cap: every token is kept
    assert len(notes) == 1
    assert f"--vocab-size {full.vocab_size + 1000} is a cap" in notes[0]
    assert f"({full.vocab_size} tokens" in notes[0]
    exact = []
    assert train_tokenizer(stories, kind=kind, vocab_size=full.vocab_size, on_note=exact.append).vocab_size == full.vocab_size
    assert exact == []
    with pytest.raises(TextgenError, match="too small"):
        train_tokenizer(stories, kind=kind, vocab_size=3)
    smaller = train_tokenizer(stories, kind=kind, vocab_size=20)
    assert smaller.vocab_size == 20


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


def test_unknown_lists_what_a_word_or_char_tokenizer_cannot_encode(word_tokenizer, char_tokenizer):
    assert word_tokenizer.unknown("Lily saw a Zorblax!") == ["Zorblax"]
    assert char_tokenizer.unknown("Lily 🐶") == ["🐶"]
    assert word_tokenizer.decode(word_tokenizer.encode("Lily saw Zorblax.")) == "Lily saw ⁇."


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (os.urandom(64) + b"\x00", "not a valid sentencepiece model"),
        (b'{"format": "other"}', "not a textgen tokenizer"),
        (b'{"format": "textgen-tokenizer", "version": 1, "kind": "word", "pieces": ["a"]}', "must start with"),
        (b'{"format": "textgen-tokenizer", "version": 9, "kind": "word", "pieces": []}', "version 9"),
        (b"{broken", "broken JSON"),
    ],
)
def test_bad_tokenizer_files(tmp_path, content, message):
    path = tmp_path / "bad.model"
    path.write_bytes(content)
    with pytest.raises(TextgenError, match=message) as error:
        load_tokenizer(path)
    assert "\n" not in str(error.value)


def test_truncated_sentencepiece_model(tmp_path, sentencepiece_tokenizer):
    path = tmp_path / "cut.model"
    path.write_bytes(sentencepiece_tokenizer.to_bytes()[:1000])
    with pytest.raises(TextgenError, match=str(path)):
        load_tokenizer(path)


def test_missing_tokenizer_file(tmp_path):
    with pytest.raises(TextgenError, match="does not exist"):
        load_tokenizer(tmp_path / "none.model")


def test_decode_rejects_ids_outside_the_vocabulary(word_tokenizer):
    with pytest.raises(TextgenError, match="outside the vocabulary"):
        word_tokenizer.decode([word_tokenizer.vocab_size])


def test_vocabulary_classes_are_exported():
    assert WordTokenizer.kind == "word" and CharTokenizer.kind == "char"


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


@pytest.mark.parametrize(
    ("kind", "pieces", "message"),
    [("word", ["<pad>", "<unk>", "<s>", "</s>", "cat"], "lacks"),
     ("char", ["<pad>", "<unk>", "<s>", "</s>", " ", "\n", "ab"], "not single char tokens"),
     ("word", ["<pad>", "<unk>", "<s>", "</s>", "<glue>", " ", "\n", "two words"], "not single word tokens")],
)
def test_malformed_vocabularies_are_refused(kind, pieces, message):
    import json

    data = json.dumps({"format": "textgen-tokenizer", "version": 1, "kind": kind, "pieces": pieces}).encode()
    with pytest.raises(TextgenError, match=message):
        tokenizer_from_bytes(data, source="vocab.json")


def test_describe_tells_whether_a_model_has_byte_fallback(sentencepiece_tokenizer):
    assert sentencepiece_tokenizer.byte_fallback
    assert sentencepiece_tokenizer.describe().endswith(", byte fallback")


def test_each_kind_says_where_words_start_and_end(tokenizers):
    """The one place that knows each kind's conventions: nothing else branches on the kind."""
    from textgen.tokenizer import BOS_ID, EOS_ID, PAD_ID, UNK_ID

    for kind, tokenizer in tokenizers.items():
        roles = {token_id: tokenizer.word_role(token_id) for token_id in range(tokenizer.vocab_size)}
        assert roles[PAD_ID] is roles[UNK_ID] is roles[BOS_ID] is None, kind
        assert roles[EOS_ID] == "alone", kind
        assert tokenizer.word_label(EOS_ID) == "</s>"
        assert tokenizer.is_space(" ") and tokenizer.is_separator("<glue>") and not tokenizer.is_separator("cat")
    sp, word, char = tokenizers["sentencepiece"], tokenizers["word"], tokenizers["char"]
    assert set(word.word_role(i) for i in range(4, word.vocab_size)) <= {"alone", None}
    assert word.word_role(word.piece_to_id("<glue>")) is None
    assert word.whole_words and not sp.whole_words and not char.whole_words
    assert char.spaces_are_tokens and not sp.spaces_are_tokens
    assert char.word_role(char.piece_to_id("c")) == "continue" and char.word_role(char.piece_to_id(" ")) == "alone"
    assert char.word_pieces("cat") == [char.piece_to_id(" ")] + char.encode("cat")
    starts = [i for i in range(4, sp.vocab_size) if sp.id_to_piece(i).startswith("▁")]
    assert starts and all(sp.word_role(i) == "start" for i in starts)
    assert sp.is_space("▁") and not char.is_space("▁")
    longer = next(i for i in starts if len(sp.id_to_piece(i)) > 1)
    assert sp.word_label(longer) == sp.id_to_piece(longer)[1:]
    assert (word.unit, char.unit, sp.unit) == ("words", "characters", "characters")
