"""textgen/analysis/detectors/metrics.py: seq-rep, rep-l, distinct-n and the finding rates, checked by hand."""

from __future__ import annotations

import pytest

from textgen.analysis.detectors import rep_l, seq_rep, text_metrics


def test_metrics_match_hand_computed_values():
    tokens = "the cat saw the cat".split()
    assert seq_rep(tokens, 1) == pytest.approx(1 - 3 / 5)
    assert seq_rep(tokens, 2) == pytest.approx(1 - 3 / 4)
    assert rep_l(tokens, 16) == pytest.approx(2 / 5)  # the second "the" and "cat"
    assert rep_l(tokens, 1) == 0.0
    metrics = text_metrics(["The cat saw the cat.", "A b c d."])
    assert metrics["words"] == 9 and metrics["stories"] == 2
    assert metrics["seq_rep_1"] == pytest.approx((0.4 + 0.0) / 2)
    assert metrics["distinct_1"] == pytest.approx(7 / 9)
    assert metrics["rep_16"] == pytest.approx(2 / 9)
    assert metrics["self-object_per_1000_words"] == pytest.approx(1000 / 9)


def test_seq_rep_averages_over_stories_that_have_n_grams():
    assert text_metrics(["a b a b a.", "Yes."])["seq_rep_2"] == pytest.approx(0.5)  # "Yes." has no bigram
    assert text_metrics(["a b a b a.", "Yes."])["seq_rep_1"] == pytest.approx((0.6 + 0.0) / 2)
