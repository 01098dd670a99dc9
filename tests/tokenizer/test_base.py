"""textgen/tokenizer/base.py: the interface every tokenizer kind shares: text checks, pieces, atomic
saves, id checks, and where words start and end (the one place that knows each kind's conventions)."""

from __future__ import annotations

import pytest

from textgen.errors import TextgenError
from textgen.tokenizer import UNK_ID, load_tokenizer
from textgen.tokenizer.base import EOS_ID, check_text


def test_check_text_passes_utf8_and_names_the_position_of_a_lone_surrogate():
    assert check_text("Zoë saw 🐶") == "Zoë saw 🐶"
    with pytest.raises(TextgenError, match=r"^the prompt is not valid UTF-8 \(bad character at position 3\)") as error:
        check_text("abc\udc80def", "the prompt")
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("kind", ["sentencepiece", "word", "char"])
def test_pieces_are_the_entries_encode_gives(tokenizers, kind):
    tokenizer = tokenizers[kind]
    text = "Lily saw a big dog."
    assert tokenizer.pieces(text) == [tokenizer.id_to_piece(i) for i in tokenizer.encode(text)]


@pytest.mark.parametrize("kind", ["sentencepiece", "word", "char"])
def test_save_replaces_a_file_whole_and_leaves_no_temporary_file(tokenizers, tmp_path, kind):
    tokenizer = tokenizers[kind]
    path = tmp_path / "tok"
    path.write_bytes(b"an older tokenizer")
    tokenizer.save(path)
    assert path.read_bytes() == tokenizer.to_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["tok"]
    assert load_tokenizer(path).to_bytes() == tokenizer.to_bytes()


def test_describe_names_the_kind_and_size(tokenizers):
    assert tokenizers["word"].describe().startswith(f"word tokenizer, {tokenizers['word'].vocab_size} tokens")
    assert tokenizers["char"].describe().startswith("char tokenizer, 48 tokens")
    assert tokenizers["sentencepiece"].describe().startswith("sentencepiece")


@pytest.mark.parametrize("kind", ["sentencepiece", "word", "char"])
def test_ids_outside_the_vocabulary_are_one_error(tokenizers, kind):
    tokenizer = tokenizers[kind]
    assert tokenizer._check_ids([EOS_ID, tokenizer.vocab_size - 1]) == [EOS_ID, tokenizer.vocab_size - 1]
    for bad in (-1, tokenizer.vocab_size):
        with pytest.raises(TextgenError, match=f"token id {bad} is outside the vocabulary "
                                               rf"\(0..{tokenizer.vocab_size - 1}\)"):
            tokenizer.decode([EOS_ID, bad])


def test_an_unknown_piece_is_unk(tokenizers):
    for tokenizer in tokenizers.values():
        assert tokenizer.piece_to_id("no-such-entry-zzz") == UNK_ID


def test_each_kind_says_where_words_start_and_end(tokenizers):
    """The one place that knows each kind's conventions: nothing else branches on the kind."""
    from textgen.tokenizer import BOS_ID, EOS_ID, PAD_ID

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
