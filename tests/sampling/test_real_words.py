"""The word rules' view of a vocabulary (textgen.sampling.real_words) and the two processors built on it:
real words (no word the training text lacks) and no doubled words ("the the")."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from textgen.analysis.detectors import find_immediate_repeats
from textgen.analysis.words import words_of
from textgen.model.config import ModelConfig
from textgen.model.language_model import LanguageModel
from textgen.sampling import DoubleWords, RealWords
from textgen.sampling.real_words import WordShapes, word_shapes
from textgen.sampling.sampler import Sampler
from textgen.sampling.settings import SamplingSettings, build_processors

TRAILING = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*$")


def entry_text(tokenizer, token_id: int) -> str:
    piece = tokenizer.id_to_piece(token_id)
    byte = re.fullmatch(r"<0x([0-9A-F]{2})>", piece)  # byte fallback: the character itself
    return chr(int(byte.group(1), 16)).lower() if byte else piece.replace("▁", " ").lower()


@pytest.fixture(scope="module")
def words(little_stories) -> frozenset[str]:
    return frozenset(word for story in little_stories for word in words_of(story))


@pytest.fixture(scope="module")
def shapes(sentencepiece_tokenizer, words) -> WordShapes:
    return WordShapes.build(sentencepiece_tokenizer, words)


@pytest.mark.parametrize("text", ["Once upon a ti", "Hopper said, \"I can ru", "The end.", "They ran and ran",
                                  "It was Pippa's", "Hopper saw a big "])
def test_the_unfinished_word_is_the_letters_the_text_ends_in(shapes, sentencepiece_tokenizer, text):
    ids = sentencepiece_tokenizer.encode(text)
    decoded = sentencepiece_tokenizer.decode(ids)
    ending = TRAILING.search(decoded.replace("’", "'").lower())
    assert shapes.unfinished(ids) == (ending.group() if ending else "")


def test_after_part_of_a_word_only_entries_that_lead_towards_a_listed_word_are_allowed(sentencepiece_tokenizer):
    shapes = WordShapes.build(sentencepiece_tokenizer, ["cat", "car", "dog"])
    allowed = shapes.allowed("ca")
    texts = {entry_text(sentencepiece_tokenizer, i) for i in np.flatnonzero(allowed).tolist()}
    assert {"t", "r"} <= texts  # the letters that make "cat" and "car", which every sentencepiece vocabulary has
    for text in texts:  # each allowed entry makes "cat" or "car", or goes on towards them
        assert any(("ca" + text).startswith(word) or word.startswith("ca" + text) for word in ("cat", "car")), text
    whole = shapes.allowed("cat")
    period = sentencepiece_tokenizer.piece_to_id(".")
    assert bool(whole[period])  # "cat." ends a listed word
    assert not bool(shapes.allowed("ca")[period])  # "ca." would end an unlisted one
    from textgen.tokenizer.base import EOS_ID

    assert bool(whole[EOS_ID]) and not bool(shapes.allowed("ca")[EOS_ID])


def test_a_word_start_is_allowed_only_for_listed_words(shapes, sentencepiece_tokenizer, words):
    allowed = shapes.allowed("")
    spaced = {token_id: re.fullmatch(r" ([a-z]+)", entry_text(sentencepiece_tokenizer, token_id))
              for token_id in range(4, sentencepiece_tokenizer.vocab_size)}
    spaced = {token_id: match.group(1) for token_id, match in spaced.items() if match is not None}
    assert len(spaced) > 50  # the vocabulary has many " word" entries to check
    for token_id, letters in spaced.items():
        begins = any(word.startswith(letters) for word in shapes.words)
        assert bool(allowed[token_id]) == begins, letters


def test_the_real_words_rule_masks_invented_words_and_keeps_the_best_where_nothing_is_left(sentencepiece_tokenizer):
    shapes = WordShapes.build(sentencepiece_tokenizer, ["cat"])
    history = torch.tensor([sentencepiece_tokenizer.encode("the cat")])
    logits = torch.zeros(1, sentencepiece_tokenizer.vocab_size)
    kept = RealWords(0.0, shapes)(history, logits)
    assert torch.equal(torch.isfinite(kept[0]), torch.from_numpy(shapes.allowed(shapes.unfinished(history[0].tolist()))))
    halved = RealWords(0.5, shapes)(history, logits)
    assert torch.allclose(halved[0][~torch.isfinite(kept[0])], torch.tensor(torch.log(torch.tensor(0.5)).item()))
    # a prompt that ends inside a word no list has: nothing is allowed, so the model's best entry stays
    stuck = torch.tensor([sentencepiece_tokenizer.encode("the zq")])
    logits = torch.randn(1, sentencepiece_tokenizer.vocab_size)
    assert not bool(shapes.allowed(shapes.unfinished(stuck[0].tolist())).any())
    out = RealWords(0.0, shapes)(stuck, logits)
    assert torch.isfinite(out[0]).sum() == 1
    assert int(out[0].argmax()) == int(logits[0].argmax())


@pytest.mark.parametrize("text,word", [("Hopper saw the", "the"), ("They ran and", "and"), ("Pip was happy", "happy"),
                                       ("Rosa smiled.\nRosa", "rosa")])
def test_doubling_stops_the_tokenizers_own_spelling_of_the_word_again(shapes, sentencepiece_tokenizer, text, word):
    tokenizer = sentencepiece_tokenizer
    ids = tokenizer.encode(text)
    doubled = tokenizer.encode(text + " " + text.split()[-1])
    assert doubled[:len(ids)] == ids
    spelling = doubled[len(ids):]  # how the tokenizer writes " the" after the text
    stopped = []
    for step, token_id in enumerate(spelling):  # some entry of that spelling is marked when its turn comes
        mask = shapes.doubling(ids + spelling[:step])
        stopped.append(bool(mask[token_id]))
    assert any(stopped), [tokenizer.id_to_piece(t) for t in spelling]
    for step in range(len(spelling) + 1):  # and what is marked writes the word again (or its start, after a space)
        history = ids + spelling[:step]
        for token_id in np.flatnonzero(shapes.doubling(history)).tolist():
            after = tokenizer.decode(history + [token_id]).lower()
            found = re.search(rf"{word}\s+([a-z]+)$", after)
            assert found is not None and word.startswith(found.group(1)), after


@pytest.mark.parametrize("text", ["It was very", "Knock", "Tom said no", "The end."])
def test_words_written_doubled_on_purpose_and_marks_are_free(shapes, sentencepiece_tokenizer, text):
    mask = shapes.doubling(sentencepiece_tokenizer.encode(text))
    assert not bool(mask.any()), text


def test_a_word_tokenizer_needs_neither_rule(word_tokenizer, words):
    assert WordShapes.build(word_tokenizer, words) is None
    processors = build_processors(SamplingSettings(real_words=0.0, double_words=0.0), word_tokenizer, words)
    assert not any(isinstance(p, (RealWords, DoubleWords)) for p in processors)


def test_without_recorded_words_only_the_doubling_rule_runs(sentencepiece_tokenizer, words):
    names = [type(p).__name__ for p in build_processors(SamplingSettings(), sentencepiece_tokenizer, None)]
    assert "DoubleWords" in names
    assert "RealWords" not in names
    names = [type(p).__name__ for p in build_processors(SamplingSettings(), sentencepiece_tokenizer, words)]
    assert names.index("RealWords") < names.index("DoubleWords")


def test_word_shapes_are_built_once_per_tokenizer_and_list(sentencepiece_tokenizer, words):
    assert word_shapes(sentencepiece_tokenizer, words) is word_shapes(sentencepiece_tokenizer, words)


def test_an_untrained_model_writes_only_listed_words_and_no_doubles_under_the_rules(sentencepiece_tokenizer, words):
    torch.manual_seed(0)
    model = LanguageModel(ModelConfig(vocab_size=sentencepiece_tokenizer.vocab_size, embed_dim=8, hidden_size=16)).eval()
    ruled = Sampler(model, sentencepiece_tokenizer, SamplingSettings(keep_cast=1.0), words=words).write(8, "", 80, seed=3)
    free = Sampler(model, sentencepiece_tokenizer, SamplingSettings(keep_cast=1.0, real_words=1.0, double_words=1.0),
                   words=words).write(8, "", 80, seed=3)
    def whole_words(sample) -> list[str]:  # a story cut at --max-tokens may end inside a word: that one is not whole
        found = words_of(sample.text)
        return found[:-1] if sample.stop_reason == "max_tokens" and TRAILING.search(sample.text) else found

    invented = [word for sample in ruled for word in whole_words(sample) if word not in words and
                not (word.endswith("'s") and word[:-2] in words)]
    assert sum(len(whole_words(sample)) for sample in ruled) > 100  # enough words to tell
    assert invented == []
    assert [f for sample in ruled for f in find_immediate_repeats(sample.text)] == []
    # the control: the same untrained model, unruled, spells words no story has
    assert any(word not in words for sample in free for word in whole_words(sample))


def test_the_last_words_read_from_a_short_tail_are_those_of_the_whole_look_back(shapes, sentencepiece_tokenizer,
                                                                                 little_stories):
    """Doubling reads the last two words from the last 8 entries where that gives the same matches as the
    last 32: on real stories cut everywhere, and on random entries (words spanning the cut, apostrophes
    and byte pieces), the matches are the 32-entry text's, and a word begun before the short tail is read whole."""
    import random

    from textgen.sampling.real_words import LAST_TWO, LAST_WORD, LOOK_BACK, SHORT_LOOK
    from textgen.tokenizer import BOS_ID

    tokenizer = sentencepiece_tokenizer
    letters = [i for i in range(4, tokenizer.vocab_size) if shapes.entries[i].continues and shapes.entries[i].lead]
    apostrophe = tokenizer.encode("'")[-1:]
    rows = [[BOS_ID] + tokenizer.encode(story) for story in little_stories[:30]]
    histories = [row[:end] for row in rows for end in range(1, len(row) + 1)]
    generator = random.Random(5)
    for _ in range(3000):  # long words spelled in pieces, with apostrophes, across the short tail's start
        pool = letters if generator.random() < 0.7 else range(4, tokenizer.vocab_size)
        history = [generator.choice(pool) if generator.random() > 0.1 else apostrophe[0] for _ in range(generator.randint(1, 40))]
        histories.append(history)
    longer = 0
    for history in histories:
        full = "".join(shapes.entries[token_id].text for token_id in history[-LOOK_BACK:])
        ending, found = shapes._last_words(history)
        expected_ending, expected_found = LAST_WORD.search(full), LAST_TWO.search(full)
        assert (ending and ending.group()) == (expected_ending and expected_ending.group()), history
        assert (found and found.groups()) == (expected_found and expected_found.groups()), history
        short = "".join(shapes.entries[token_id].text for token_id in history[-SHORT_LOOK:])
        longer += bool(expected_found) and len(history) > SHORT_LOOK and expected_found.start() < len(full) - len(short)
    assert longer > 50  # the cases where the last words begin before the short tail were met


def test_the_entries_that_go_on_with_a_word_are_found_both_ways_alike(shapes):
    """A word's mask is found from the beginnings that start with it where they are few (a long word
    begun), else by trying every entry that goes on with a word: both give what trying every entry gives."""
    import random

    def every_entry(unfinished: str) -> np.ndarray:
        mask = shapes.breaks_ok & shapes.whole(unfinished)
        for token_id, entry in shapes.leads:
            word = unfinished + entry.lead
            mask[token_id] = word in shapes.beginnings if entry.continues else (
                shapes.whole(word) and shapes._real(entry.rest, entry.trail))
        return mask

    prefixes = random.Random(3).sample(sorted(shapes.beginnings), 300) + ["s", "t", "th", "a", "zq", "lily'"]
    few = 0
    for unfinished in prefixes:
        shapes.masks.pop(unfinished, None)
        assert np.array_equal(shapes.allowed(unfinished), every_entry(unfinished)), unfinished
        first = sum(1 for word in shapes.ordered if word.startswith(unfinished))
        few += first < len(shapes.leads)
    assert 0 < few < len(prefixes)  # both ways were taken
