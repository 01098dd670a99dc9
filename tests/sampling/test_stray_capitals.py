"""The no-stray-capitals rule: which capitals a training text writes inside a sentence, which entries
the rule holds back, where a story is inside a sentence, and how the rule moves an opener's chance to
its lower-case entry."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from textgen.analysis.words import capitals_inside, words_record
from textgen.errors import TextgenError
from textgen.modeldir.store import recorded_words
from textgen.sampling import StrayCapitals
from textgen.sampling.settings import SamplingSettings, build_processors
from textgen.sampling.stray_capitals import inside_sentence, stray_capital_entries


@pytest.fixture(scope="module")
def capitals(little_stories) -> frozenset[str]:
    return frozenset(words_record(little_stories)["capitals"].split())


@pytest.fixture(scope="module")
def entries(sentencepiece_tokenizer, capitals):
    return stray_capital_entries(sentencepiece_tokenizer, capitals)


def test_capitals_inside_a_sentence_are_those_after_a_word():
    text = ('Jane saw Doug. The dog, Andy and I ran. "Hi," said Tom. She said, Lily\'s hat. Anna-Marie came.\n'
            'Sue ran; Max sat. "Look!" Ben said.')
    assert capitals_inside(text) == {"Doug", "Andy", "Tom", "Lily", "Max"}


def test_the_words_record_carries_the_capitals_and_reads_back(tmp_path):
    record = words_record(["Jane saw Doug.", "Doug saw the cat. The cat ran."])
    assert record["capitals"] == "Doug"
    assert record["count"] == 6  # jane saw doug the cat ran
    words = recorded_words({"words": record})
    assert words == {"jane", "saw", "doug", "the", "cat", "ran"} and words.capitals == {"Doug"}
    older = recorded_words({"words": {"count": 1, "list": "cat"}})  # recorded before capitals were
    assert older == {"cat"} and older.capitals is None
    with pytest.raises(TextgenError, match='"capitals"'):
        recorded_words({"words": {"count": 1, "list": "cat", "capitals": ["Doug"]}})


@pytest.mark.parametrize("text, inside", [
    ("", False), ("Once upon a time, Lily", True), ("Tom said.", False), ('He said, "', False),
    ('"Hi," ', True), ('"Hi!" ', False), ("the dog;", True), ("Hi!\n", False), ("It was 3", True), ("Look:", False)])
def test_inside_a_sentence(text, inside):
    assert inside_sentence(text) is inside


def test_the_rule_holds_back_whole_word_openers_but_not_names_or_their_first_pieces(entries, sentencepiece_tokenizer,
                                                                                    capitals):
    tokenizer = sentencepiece_tokenizer
    held = {tokenizer.id_to_piece(token) for token in np.flatnonzero(entries.stray).tolist()}
    assert {"▁The", "▁He"} <= held
    assert not any(piece.lstrip("▁").lower() in {"i", "mr", "mrs", "may", "end"} for piece in held)
    for name in capitals:  # no name, nor the first entry of one, is held back
        assert not entries.stray[tokenizer.encode(" " + name)[0]], name
    assert tokenizer.id_to_piece(int(entries.lower[tokenizer.piece_to_id("▁The")])) == "▁the"
    # a model that records no capitals cannot tell names' first entries: the rule is off
    assert not stray_capital_entries(tokenizer, None).any
    assert not any(isinstance(p, StrayCapitals) for p in build_processors(SamplingSettings(), tokenizer, None))


def test_a_character_tokenizer_has_nothing_to_hold_back(char_tokenizer, capitals):
    assert not stray_capital_entries(char_tokenizer, capitals).any


def test_inside_a_sentence_an_openers_chance_goes_to_its_lower_case_entry(entries, sentencepiece_tokenizer):
    tokenizer = sentencepiece_tokenizer
    upper, lower, other = (tokenizer.piece_to_id(piece) for piece in ("▁The", "▁the", "▁dog"))
    histories = [tokenizer.encode("Tom saw"), tokenizer.encode("Tom ran. ")]
    length = max(len(ids) for ids in histories)
    history = torch.tensor([[0] * (length - len(ids)) + ids for ids in histories])  # <pad> writes nothing: as the start
    logits = torch.zeros(2, tokenizer.vocab_size)
    logits[:, upper] = 3.0
    before = torch.softmax(logits, dim=-1)
    after = torch.softmax(StrayCapitals(0.0, entries)(history, logits), dim=-1)
    # "▁The" gives its chance to "▁the" (an opener with no lower-case entry, "▁Once", just loses its own), so
    # against any other word "▁the" gains what "▁The" had and the others stay as they were: no name gains
    assert after[0, upper] == 0
    assert after[0, lower] / after[0, other] == pytest.approx((before[0, upper] + before[0, lower]) / before[0, other])
    assert torch.equal(after[1], before[1])  # after "." a sentence starts: "The" is free
    half = torch.softmax(StrayCapitals(0.25, entries)(history, logits), dim=-1)
    assert half[0, upper] / half[0, other] == pytest.approx(0.25 * before[0, upper] / before[0, other])
    assert half[0, lower] / half[0, other] == pytest.approx((0.75 * before[0, upper] + before[0, lower]) / before[0, other])
    assert torch.equal(StrayCapitals(1.0, entries)(history, logits), logits)


def test_the_shipped_models_record_has_its_capitals():
    from textgen.modeldir.shipped import resolve_model_path

    metadata = json.loads((resolve_model_path("tinystories") / "textgen.json").read_text())
    capitals = metadata["words"]["capitals"].split()
    assert len(capitals) > 100 and all(word[0].isupper() and word[1:].islower() for word in capitals)
    assert capitals == sorted(set(capitals))
    assert {"Lily", "Tom"} <= set(capitals)
