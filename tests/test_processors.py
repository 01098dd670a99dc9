"""Logits processors: each rule on hand-made cases, argument checks, and (hypothesis) that every
processor keeps at least one token and the truncations keep the most likely one."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from textgen.errors import TextgenError
from textgen.sampling import (
    DRY,
    BannedSequences,
    FrequencyPresencePenalty,
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
     (lambda: DRY(1.0, base=1.0), "outside"), (lambda: BannedSequences([]), "empty"),
     (lambda: Temperature(float("nan")), "number")],
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
                  BannedSequences([[0], [1]]), Temperature(0.7), TopK(k), TopP(p), MinP(min_p)]
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
