"""The vocabulary entries that begin a name (textgen/sampling/cast_names.py), for the keep-the-cast
rule: one number per name whatever its spelling, openers refused, entries shared with an opener
kept apart for the next entry."""

from __future__ import annotations

import numpy as np

from textgen.sampling.cast_names import name_tokens
from textgen.tokenizer import train_tokenizer


def test_name_tokens_are_capitalised_word_starts_that_open_no_sentence(sentencepiece_tokenizer, word_tokenizer, char_tokenizer):
    openers = {"The", "She", "He", "Once", "There", "His", "Then", "Thank", "When", "Th", "S", "I"}
    for tokenizer, expected in ((word_tokenizer, {"Lily", "Hopper", "Jane"}), (sentencepiece_tokenizer, set())):
        names = name_tokens(tokenizer)
        ids = np.flatnonzero(names.name_id >= 0).tolist()
        labels = {tokenizer.word_label(i) for i in ids}
        capitalised = {tokenizer.word_label(i) for i in range(tokenizer.vocab_size) if tokenizer.word_label(i)[:1].isupper()}
        assert expected <= labels and not labels & openers and openers & capitalised  # the openers were there to refuse
        assert names.count == len({tokenizer.word_label(i) for i in ids})  # one number per name, whatever its spelling
        assert int(names.word_starts.sum()) > 20
        assert name_tokens(tokenizer) is name_tokens(tokenizer)  # made once
    names = name_tokens(char_tokenizer)
    assert names.count == 0 and not names.any


def test_a_name_written_after_a_quote_is_the_same_name(tmp_path):
    """A sentencepiece model spells "Tom" after a quote without its word-start mark: both spellings
    get one name number, and the quote is a bare start."""

    names = ("Tom", "Sue", "Ben", "Max", "Lily", "Anna")
    stories = [f'Once {n} ran to the park with {m}. Then {n} sat with {m} and {n} smiled at {m}. "{n}, come here!" '
               f'said Mom. "{m}, you too!" {n} and {m} came home.' for n in names for m in names if m != n] * 20
    tokenizer = train_tokenizer(stories, kind="sentencepiece")  # as many pieces as the corpus supports
    found = name_tokens(tokenizer)
    spelled = {tokenizer.id_to_piece(i): int(found.name_id[i]) for i in np.flatnonzero(found.name_id >= 0).tolist()}
    assert "▁Tom" in spelled and spelled.get("Tom") == spelled["▁Tom"], spelled
    assert bool(found.after_bare[tokenizer.piece_to_id("Tom")]) and not bool(found.after_bare[tokenizer.piece_to_id("▁Tom")])
    assert any(bool(found.bare[i]) for i in range(tokenizer.vocab_size) if '"' in tokenizer.id_to_piece(i))
    assert not {"▁Then", "▁Once", "Then", "▁"} & set(spelled) and {"▁" + name for name in names} <= set(spelled)


def test_first_entries_shared_with_openers_are_kept_apart_for_the_next_entry(sentencepiece_tokenizer):
    """In a small vocabulary "▁T" begins "The" and "Tom": it is no name entry but an ambiguous one,
    and the word in progress after it is found by walking back to its start."""
    names = name_tokens(sentencepiece_tokenizer)
    split = names.split
    assert split is not None and split.ambiguous
    assert all(int(names.name_id[token]) == -1 for token in split.ambiguous)
    assert all(sentencepiece_tokenizer.word_label(token)[:1].isupper() for token in split.ambiguous)
    assert all(letters.isalpha() and letters.islower() for _, letters in split.continues)
    assert "Plea" in split.openers and "Once" in split.openers and "Tom" not in split.openers
    start = min(token for token in split.ambiguous if sentencepiece_tokenizer.word_role(token) == "start")
    follow = split.continues[0][0]
    history = sentencepiece_tokenizer.encode("the cat saw") + [start, follow]
    assert split.word_in_progress(history) == [start, follow]  # walked back to the ambiguous start
    assert split.word_in_progress(history[:-2]) is None  # a word that began with no ambiguous entry
