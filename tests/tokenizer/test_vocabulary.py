"""textgen/tokenizer/vocabulary.py: the word and character tokenizers: round trips on their alphabets
(hypothesis), spacing, size caps, unknown words, malformed vocabularies."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from textgen.errors import TextgenError
from textgen.tokenizer import (
    SPECIALS,
    CharTokenizer,
    WordTokenizer,
    tokenizer_from_bytes,
    train_tokenizer,
)

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


def test_doug_book_is_one_token_per_word(tmp_path):
    tokenizer = train_tokenizer(["Doug saw Jane. Jane saw Spot. Spot saw Doug."], kind="word")
    assert tokenizer.pieces("Doug saw Jane.") == ["Doug", "saw", "Jane", "."]
    assert tokenizer.pieces('He said, "Hi."') == ["<unk>"] * 5 + [".", "<unk>"]


def test_word_spacing_that_differs_from_the_default_is_spelled_out():
    tokenizer = train_tokenizer(['ice-cream and "hi" ( x ) a  b\tc'], kind="word")
    for text in ['ice-cream and "hi"', "( x )", "a  b", "a\tb", "ice - cream", " x", "x\n"]:
        assert tokenizer.unknown(text) == [], text  # every word of these was in the corpus
        assert tokenizer.decode(tokenizer.encode(text)) == text
    assert tokenizer.unknown(" leading") == ["leading"]  # a word the corpus lacks is named, not spelled out
    assert tokenizer.pieces("ice-cream") == ["ice", "-", "cream"]


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


def test_unknown_lists_what_a_word_or_char_tokenizer_cannot_encode(word_tokenizer, char_tokenizer):
    assert word_tokenizer.unknown("Lily saw a Zorblax!") == ["Zorblax"]
    assert char_tokenizer.unknown("Lily 🐶") == ["🐶"]
    assert word_tokenizer.decode(word_tokenizer.encode("Lily saw Zorblax.")) == "Lily saw ⁇."


def test_decode_rejects_ids_outside_the_vocabulary(word_tokenizer):
    with pytest.raises(TextgenError, match="outside the vocabulary"):
        word_tokenizer.decode([word_tokenizer.vocab_size])


def test_vocabulary_classes_are_exported():
    assert WordTokenizer.kind == "word" and CharTokenizer.kind == "char"


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
