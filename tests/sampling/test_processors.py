"""Logits processors: each rule on hand-made cases, argument checks, and (hypothesis) that every
processor keeps at least one token and the truncations keep the most likely one."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from textgen.sampling.cast_names import NameTokens
from textgen.errors import TextgenError
from textgen.sampling import (
    DRY,
    BannedSequences,
    FrequencyPresencePenalty,
    KeepCast,
    MinP,
    NoRepeatNgram,
    RepetitionPenalty,
    Temperature,
    TopK,
    TopP,
    apply_processors,
)


def test_repetition_penalty_is_sign_aware():
    logits = torch.tensor([[2.0, -2.0, 1.0]])
    out = RepetitionPenalty(2.0)(torch.tensor([[0, 1]]), logits)
    assert out.tolist() == [[1.0, -4.0, 1.0]]  # both seen tokens became less likely


def test_frequency_and_presence():
    out = FrequencyPresencePenalty(0.5, 1.0)(torch.tensor([[2, 2, 0]]), torch.zeros(1, 3))
    assert out.tolist() == [[-1.5, 0.0, -2.0]]


def test_no_repeat_ngram_bans_the_completing_token():
    history = torch.tensor([[5, 6, 7, 5, 6]])  # "5 6" was followed by 7 before
    out = NoRepeatNgram(3)(history, torch.zeros(1, 10))
    assert math.isinf(out[0, 7]) and torch.isfinite(out[0, :7]).all()
    assert torch.isfinite(NoRepeatNgram(3)(torch.tensor([[1, 2]]), torch.zeros(1, 10))).all()


def test_dry_penalises_extending_a_repeat_and_stops_at_breakers():
    history = torch.tensor([[1, 2, 3, 4, 9, 1, 2, 3]])  # "1 2 3" again: 4 would extend the repeat
    out = DRY(multiplier=1.0, base=2.0, allowed_length=2)(history, torch.zeros(1, 10))
    assert out[0, 4] == -(2.0 ** (3 - 2)) and (out[0, :4] == 0).all()
    with_breaker = DRY(multiplier=1.0, base=2.0, allowed_length=2, breakers=(2,))(history, torch.zeros(1, 10))
    assert (with_breaker == 0).all()


def test_banned_sequences_block_the_last_piece_after_the_others():
    processor = BannedSequences([[3], [5, 6]])
    out = processor(torch.tensor([[1, 5]]), torch.zeros(1, 8))
    assert math.isinf(out[0, 3]) and math.isinf(out[0, 6]) and out[0, 5] == 0
    assert torch.isfinite(processor(torch.tensor([[1, 2]]), torch.zeros(1, 8))[0, 6])


def names(name_id, starts, after_bare=None, bare=None) -> NameTokens:
    size = len(name_id)
    zeros = np.zeros(size, dtype=bool)
    return NameTokens(np.array(name_id, dtype=np.int64), zeros if after_bare is None else np.array(after_bare, dtype=bool),
                      zeros if bare is None else np.array(bare, dtype=bool), np.array(starts, dtype=bool), max(name_id) + 1)


def test_keep_cast_lowers_only_new_names_after_the_opening():
    # entries: 0 <s>, 1 "the" (word start), 2 "Doug" (name 0), 3 "Jane" (name 1), 4 "s" (continues a word)
    vocabulary = names([-1, -1, 0, 1, -1], [False, True, True, True, False])
    rule = KeepCast(0.25, vocabulary, opening=3)
    logits = torch.zeros(1, 5)
    opening = torch.tensor([[0, 2, 4, 1]])  # two words so far: the opening is still free
    assert torch.equal(rule(opening, logits), logits)
    late = torch.tensor([[0, 2, 4, 1, 1]])  # three words: Doug is in the story, Jane would be new
    out = rule(late, logits)
    assert out[0, 3].item() == pytest.approx(math.log(0.25))
    assert torch.equal(out[0, [0, 1, 2, 4]], logits[0, [0, 1, 2, 4]])
    long = torch.cat([torch.tensor([[0]]), torch.full((1, 20), 4)], dim=1)  # past 4 x opening tokens: late whatever they are
    assert rule(long, logits)[0, 2].item() == pytest.approx(math.log(0.25))
    banned = KeepCast(0.0, vocabulary, opening=3)(late, logits)
    assert torch.isneginf(banned[0, 3]) and torch.isfinite(banned[0, [0, 1, 2, 4]]).all()
    only_names = torch.tensor([[-50.0, -50.0, -50.0, 5.0, -50.0]])
    history = torch.tensor([[0, 1, 1, 1]])
    assert torch.isfinite(KeepCast(0.0, vocabulary, opening=3)(history, only_names)).any()
    batch = rule(torch.tensor([[0, 2, 1, 1], [0, 4, 4, 4]]), torch.zeros(2, 5))
    assert batch[0, 3].item() == pytest.approx(math.log(0.25)) and batch[1, 3].item() == 0  # rows decide apart


def test_a_full_cast_closes_the_opening_early():
    # entries: 0 <s>, 1 "the", 2 "Doug" (name 0), 3 "Jane" (name 1), 4 "s" (continues a word), 5 "Spot" (name 2)
    vocabulary = names([-1, -1, 0, 1, -1, 2], [False, True, True, True, False, True])
    rule = KeepCast(0.25, vocabulary, opening=50, cast=2)
    logits = torch.zeros(1, 6)
    one_name = torch.tensor([[0, 2, 1, 1]])  # Doug only, 3 words of a 50-word opening: every name is free
    assert torch.equal(rule(one_name, logits), logits)
    two_names = torch.tensor([[0, 2, 1, 3]])  # Doug and Jane: the cast is full, Spot would be a third
    out = rule(two_names, logits)
    assert out[0, 5].item() == pytest.approx(math.log(0.25))
    assert torch.equal(out[0, :5], logits[0, :5])  # Doug and Jane stay as likely as they were
    assert torch.equal(KeepCast(0.25, vocabulary, opening=50)(two_names, logits), logits)  # no size: the opening is free
    rows = rule(torch.cat([two_names, one_name]), torch.zeros(2, 6))
    assert rows[0, 5].item() == pytest.approx(math.log(0.25)) and rows[1, 5].item() == 0  # rows decide apart
    assert "once it has 2 names" in rule.describe()


def test_keep_cast_knows_a_name_by_any_of_its_spellings_and_bare_ones_only_after_a_quote():
    # 0 <s>, 1 "▁the", 2 "▁Tom" (name 0), 3 "Tom" (name 0, no word-start mark), 4 '▁"' (a bare start), 5 "▁Sue" (name 1)
    vocabulary = names([-1, -1, 0, 0, -1, 1], [False, True, True, False, True, True],
                       after_bare=[False, False, False, True, False, False],
                       bare=[False, False, False, False, True, False])
    rule = KeepCast(0.5, vocabulary, opening=2)
    logits = torch.zeros(1, 6)
    after_word = rule(torch.tensor([[0, 1, 1, 1]]), logits)  # "Tom" without its mark here would not begin a word
    assert after_word[0, 2].item() == pytest.approx(math.log(0.5)) and after_word[0, 3].item() == 0
    after_quote = rule(torch.tensor([[0, 1, 1, 4]]), logits)
    assert after_quote[0, 3].item() == pytest.approx(math.log(0.5))
    tom_seen = rule(torch.tensor([[0, 2, 1, 1, 4]]), logits)  # "▁Tom" is in the story: "Tom" after a quote is no new name
    assert tom_seen[0, 3].item() == 0 and tom_seen[0, 5].item() == pytest.approx(math.log(0.5))


def test_truncations():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert torch.isfinite(TopK(2)(None, logits)).tolist() == [[True, True, False, False]]
    assert torch.isfinite(TopP(0.7)(None, logits)).tolist() == [[True, True, False, False]]
    assert torch.isfinite(TopP(0.5)(None, logits)).tolist() == [[True, False, False, False]]
    assert torch.isfinite(MinP(0.3)(None, logits)).tolist() == [[True, True, True, False]]
    assert torch.allclose(Temperature(2.0)(None, logits), logits / 2)


@pytest.mark.parametrize(
    ("build", "message"),
    [(lambda: Temperature(-1), "outside"), (lambda: Temperature(0), "outside"), (lambda: TopP(0), "outside"),
     (lambda: TopP(1.5), "outside"), (lambda: TopK(0), ">= 1"), (lambda: MinP(1.0), "outside"),
     (lambda: MinP(-0.1), "outside"), (lambda: RepetitionPenalty(0), "outside"), (lambda: NoRepeatNgram(0), ">= 1"),
     (lambda: RepetitionPenalty(1e-300), r"1e-300 is outside \[1e-06, 100\]"),
     (lambda: DRY(1.0, base=1.0), "outside"), (lambda: BannedSequences([]), "empty"),
     (lambda: Temperature(float("nan")), "number"),
     (lambda: KeepCast(1.5, names([0, 1], [True, True])), "outside"),
     (lambda: KeepCast(-0.1, names([0, 1], [True, True])), "outside"),
     (lambda: KeepCast(0.1, names([0, 1], [True, True]), opening=-1), "cast-opening -1 is outside"),
     (lambda: KeepCast(0.1, names([0, 1], [True, True]), cast=1.5), "cast-size must be a whole number")],
)
def test_arguments_are_checked_when_built(build, message):
    with pytest.raises(TextgenError, match=message):
        build()


logit_rows = st.lists(st.floats(-30, 30), min_size=2, max_size=40)


@settings(max_examples=200, deadline=None)
@given(row=logit_rows, history=st.lists(st.integers(0, 1), min_size=0, max_size=30), k=st.integers(1, 50),
       p=st.floats(0.001, 1.0), min_p=st.floats(0.0, 0.999), n=st.integers(1, 4))
def test_every_processor_keeps_at_least_one_token(row, history, k, p, min_p, n):
    logits = torch.tensor([row])
    ids = torch.tensor([[token % len(row) for token in history]], dtype=torch.long).reshape(1, -1)
    processors = [RepetitionPenalty(1.3), FrequencyPresencePenalty(0.5, 0.5), NoRepeatNgram(n), DRY(0.8),
                  BannedSequences([[0], [1]]), KeepCast(0.0, names(list(range(len(row))), [True] * len(row)), opening=1),
                  Temperature(0.7), TopK(k), TopP(p), MinP(min_p)]
    for processor in processors:
        out = processor(ids, logits)
        assert torch.isfinite(out).any(), processor.describe()
    out = apply_processors(processors, ids, logits)
    assert torch.isfinite(out).any()
    assert not torch.isnan(torch.softmax(out, dim=-1)).any()


@settings(max_examples=200, deadline=None)
@given(row=logit_rows, k=st.integers(1, 50), p=st.floats(0.001, 1.0), min_p=st.floats(0.0, 0.999))
def test_truncations_keep_the_most_likely_token(row, k, p, min_p):
    logits = torch.tensor([row])
    best = logits.argmax()
    for processor in (TopK(k), TopP(p), MinP(min_p)):
        assert torch.isfinite(processor(None, logits)[0, best])


def split_vocabulary() -> NameTokens:
    """0 <s>, 1 "▁the", 2 "▁P" (begins "Pinky", "Pippa" and the opener "Please"), 3 "ink", 4 "ipp",
    5 "lease", 6 "y", 7 "a", 8 '▁"' (a bare start), 9 "." (a word by itself)."""
    from textgen.sampling.cast_names import SplitNames

    pieces = ["<s>", "▁the", "▁P", "ink", "ipp", "lease", "y", "a", '▁"', "."]
    roles = (None, "start", "start", "continue", "continue", "continue", "continue", "continue", "start", "alone")
    labels = tuple(piece.replace("▁", "") for piece in pieces)
    split = SplitNames(frozenset({2}), tuple((i, labels[i]) for i in (3, 4, 5, 6, 7)),
                       frozenset("Please"[:end] for end in range(1, 7)), roles, labels, frozenset({8}),
                       lambda ids: "".join(pieces[i] for i in ids if i).replace("▁", " "))
    vocabulary = names([-1] * 10, [role == "start" for role in roles])
    return NameTokens(vocabulary.name_id, vocabulary.after_bare, vocabulary.bare, vocabulary.word_starts, 0, split)


def test_keep_cast_tells_a_new_name_from_an_opener_at_the_entry_after_a_shared_first_one():
    """With "▁P" shared by names and "Please", the rule speaks at the next entry: "Pink(y)" is in the
    story, "Please" is an opener, "Pipp(a)", "Pa" and "Py" would be new; a word already new is left alone."""
    vocabulary = split_vocabulary()
    assert vocabulary.any
    rule = KeepCast(0.5, vocabulary, opening=3)
    logits = torch.zeros(1, 10)
    with_pinky = torch.tensor([[0, 2, 3, 6, 1, 1, 1, 9, 2]])  # "Pinky the the the. P"
    out = rule(with_pinky, logits)
    lowered = {i for i in range(10) if out[0, i].item() == pytest.approx(math.log(0.5))}
    assert lowered == {4, 6, 7}  # ipp, y, a; not ink (Pinky), not lease (Please), not the word starts
    without = rule(torch.tensor([[0, 1, 1, 1, 1, 9, 2]]), logits)
    assert without[0, 3].item() == pytest.approx(math.log(0.5)) and without[0, 5].item() == 0
    diverged = rule(torch.tensor([[0, 1, 1, 1, 1, 9, 2, 4]]), logits)  # "Pipp" is written: no entry is lowered
    assert torch.equal(diverged, logits)
    opening = KeepCast(0.5, vocabulary, opening=10)(with_pinky, logits)  # still in the opening: free
    assert torch.equal(opening, logits)
    after_quote = rule(torch.tensor([[0, 1, 1, 1, 9, 8, 2]]), logits)  # '"P': the quote is no part of the word
    assert after_quote[0, 4].item() == pytest.approx(math.log(0.5))
    banned = KeepCast(0.0, vocabulary, opening=3)(with_pinky, logits)
    assert torch.isneginf(banned[0, [4, 6, 7]]).all() and torch.isfinite(banned[0, [1, 3, 5]]).all()
    rows = rule(torch.cat([with_pinky, torch.tensor([[0, 2, 3, 6, 1, 1, 1, 9, 1]])]), torch.zeros(2, 10))
    assert rows[0, 4].item() == pytest.approx(math.log(0.5)) and rows[1, 4].item() == 0  # rows decide apart


def growing_views(rows: int = 3, prompt: int = 400, steps: int = 30, vocab: int = 40, seed: int = 0):
    """What generation gives the rules: views of one buffer whose rows start with the same prompt,
    one more token each step; yields (buffer, view, logits)."""
    generator = torch.Generator().manual_seed(seed)
    buffer = torch.empty(rows, prompt + steps, dtype=torch.long)
    buffer[:, :prompt] = torch.randint(0, vocab, (prompt,), generator=generator)
    for length in range(prompt, prompt + steps):
        yield buffer, buffer[:, :length], torch.randn(rows, vocab, generator=generator)
        buffer[:, length] = torch.randint(0, vocab, (rows,), generator=generator)


@pytest.mark.parametrize("build", [lambda: RepetitionPenalty(1.7), lambda: FrequencyPresencePenalty(0.4, 0.9),
                                   lambda: NoRepeatNgram(3)])
def test_history_rules_read_a_long_prompt_once_and_agree_with_a_fresh_reading(build):
    """A step costs the new token, not the prompt again: the rule applied to generation's growing
    view equals a new rule reading the whole history, and once read, the prompt's tokens are not
    read again (changing them afterwards changes nothing; a new buffer is read afresh)."""
    rule = build()
    for buffer, view, logits in growing_views():
        assert torch.equal(rule(view, logits), build()(view.clone(), logits))
    old = rule(view, logits)
    buffer[:, : view.shape[1] - 5] = 0  # the part already read, rewritten in place
    assert torch.equal(rule(view, logits), old)
    assert torch.equal(rule(view.clone(), logits), build()(view.clone(), logits))


def test_no_repeat_ngram_indexes_a_prompt_shared_by_every_row_once():
    rule = NoRepeatNgram(3)
    for _, view, logits in growing_views(rows=8, prompt=500, steps=10):
        rule(view, logits)
    assert len(rule._shared) > 10  # the prompt's n-grams, once
    assert sum(len(row) for row in rule._index) <= 8 * 10  # each row: only the n-grams it wrote


@pytest.mark.parametrize("temperature", [1e-300, 1e-40, 1e-38])
def test_a_temperature_too_small_for_float32_keeps_the_top_token_alone(temperature):
    """logits / 1e-300 overflows (or divides by float32's zero): every positive logit became +inf
    or NaN and the draw wrote nonsense ("jjjj"); the limit of a vanishing temperature is greedy."""
    logits = torch.tensor([[1.0, 3.0, 0.0, -2.0, float("-inf")], [-5.0, -1.0, -3.0, -4.0, -2.0]])
    scaled = Temperature(temperature)(None, logits)
    assert not torch.isnan(scaled).any()
    assert torch.softmax(scaled, dim=-1).tolist() == [[0.0, 1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0, 0.0]]


def test_a_draw_among_infinite_scores_takes_one_of_them_on_both_paths():
    """A rule that pushes scores to +inf (a penalty far below 1) leaves those tokens alone in the
    draw, one row in numpy and several in torch, instead of a NaN softmax's last token."""
    from textgen.sampling.generate import draw

    scores = torch.tensor([[0.0, float("inf"), 1.0, float("inf"), float("-inf")]])
    for seed in range(20):
        generator = torch.Generator().manual_seed(seed)
        assert int(draw(scores, generator)[0]) in (1, 3)
        assert set(draw(scores.expand(3, -1), generator).tolist()) <= {1, 3}


ROW_SETTINGS = [  # every rule, at the library's defaults and at values that leave a share (not 0)
    {},
    {"keep_cast": 0.0, "cast_size": 2, "cast_opening": 10, "stray_capitals": 0.3, "real_words": 0.5, "double_words": 0.2},
    {"keep_cast": 0.5, "cast_opening": 5, "temperature": 1e-30},  # a temperature whose division overflows: greedy's limit
    {"repetition_penalty": 1.4, "frequency_penalty": 0.3, "presence_penalty": 0.2, "no_repeat_ngram": 2,
     "dry_multiplier": 0.8, "banned_words": ("dog", "the cat"), "top_k": 40, "top_p": 0.9, "min_p": 0.05},
]


@pytest.mark.parametrize("options", ROW_SETTINGS, ids=["defaults", "shares", "overflow", "penalties"])
def test_each_rule_numpy_row_gives_its_torch_call_numbers_bit_for_bit(sentencepiece_tokenizer, little_stories, options):
    """One story on the CPU runs the rules' numpy rows (generate's default path); each gives exactly the
    numbers of its torch call on the same history and scores (so the same seed writes the same story on
    both paths), never changes its input, and every default rule has a row of its own (no torch call)."""
    import numpy as np

    from textgen.analysis.words import words_record
    from textgen.modeldir.store import recorded_words
    from textgen.sampling.processors import Processor
    from textgen.sampling.settings import SamplingSettings, build_processors
    from textgen.tokenizer import BOS_ID

    tokenizer = sentencepiece_tokenizer
    words = recorded_words({"words": words_record(little_stories)})
    processors = build_processors(SamplingSettings(**options), tokenizer, words)
    names = {type(p).__name__ for p in processors}
    if not options:
        assert names == {"KeepCast", "StrayCapitals", "RealWords", "DoubleWords", "Temperature"}
        assert all(type(p).row is not Processor.row for p in processors)
    generator = np.random.default_rng(7)
    checked = 0
    for story in little_stories[:12]:
        ids = [BOS_ID] + tokenizer.encode(story)
        for length in sorted({1, 2, 5, len(ids) // 3, len(ids) // 2, len(ids) - 1, len(ids)}):
            history = ids[:length]
            scores = (generator.standard_normal(tokenizer.vocab_size) * 3).astype(np.float32)
            scores[[0, 1, 2]] = -np.inf  # the never-written entries, as generation masks them
            for processor in processors:
                before = scores.copy()
                row = processor.row(history, scores)
                call = processor(torch.tensor([history]), torch.from_numpy(scores.copy())[None]).numpy()[0]
                assert row.dtype == np.float32 and np.array_equal(row, call), (type(processor).__name__, length)
                assert np.array_equal(scores, before)
                scores = call
                checked += 1
    assert checked >= 12 * 5 * len(processors)


@pytest.mark.parametrize("cast", [0, 2])
def test_keep_cast_reads_a_growing_history_from_where_it_stopped(sentencepiece_tokenizer, little_stories, cast):
    """The row rule counts the names of a list that grows by appending (generation's) from its last call on,
    with the window sliding past old names: at every length it gives what a fresh count and the torch call give."""
    import numpy as np

    from textgen.sampling.cast_names import name_tokens
    from textgen.tokenizer import BOS_ID

    tokenizer = sentencepiece_tokenizer
    names = name_tokens(tokenizer)
    growing, fresh = KeepCast(0.1, names, opening=3, cast=cast, window=7), KeepCast(0.1, names, opening=3, cast=cast, window=7)
    ids = [BOS_ID] + tokenizer.encode(" ".join(little_stories[:3]))
    history, changed = [], 0
    generator = np.random.default_rng(1)
    for token_id in ids:
        history.append(token_id)
        scores = generator.standard_normal(tokenizer.vocab_size).astype(np.float32)
        row = growing.row(history, scores)
        assert np.array_equal(row, fresh.row(list(history), scores))
        assert np.array_equal(row, growing(torch.tensor([history]), torch.from_numpy(scores)[None]).numpy()[0])
        changed += not np.array_equal(row, scores)
    assert len(ids) > 100 and changed > 50  # the rule was at work on many steps


@pytest.mark.parametrize("size", [1, 2, 3])
def test_no_repeat_ngram_reads_a_growing_history_from_where_it_stopped(size):
    """The row rule indexes a list that grows by appending from its last call on: at every length it bans
    what a fresh index and the torch call ban."""
    import numpy as np

    growing, fresh = NoRepeatNgram(size), NoRepeatNgram(size)
    generator = np.random.default_rng(size)
    history, banned = [], 0
    for token_id in generator.integers(0, 6, 80).tolist():
        history.append(token_id)
        scores = generator.standard_normal(6).astype(np.float32)
        row = growing.row(history, scores)
        assert np.array_equal(row, fresh.row(list(history), scores))
        assert np.array_equal(row, NoRepeatNgram(size)(torch.tensor([history]), torch.from_numpy(scores)[None]).numpy()[0])
        banned += int(np.isneginf(row).sum())
    assert banned > 40
