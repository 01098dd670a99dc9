"""Dropout that grows with a --max-time run's planned epochs (textgen/training/regularisation.py)."""

from __future__ import annotations

import pytest

from textgen.model.config import ModelConfig
from textgen.training import regularisation as rule


def test_planned_epochs_follow_the_budget_the_step_and_the_corpus():
    # 300 s at a 47 ms timed step (the Xeon's bf16-mixed 1 x 384): 300 * 0.93 / (1.5 * 0.047) = 3,957 steps of 2,048 tokens
    epochs = rule.planned_epochs(300.0, 0.047, 2048, 457_674)
    assert epochs == pytest.approx(300 * 0.93 / (1.5 * 0.047) * 2048 / 457_674)
    assert 17.0 < epochs < 18.0  # the run itself trained 3,741 steps: 16.7 epochs
    assert rule.planned_epochs(1200.0, 0.047, 2048, 457_674) == pytest.approx(4 * epochs)
    assert rule.planned_epochs(300.0, 0.047, 2048, 2 * 457_674) == pytest.approx(epochs / 2)


@pytest.mark.parametrize("epochs, expected", [(1.0, 1.0), (16.0, 1.0), (24.0, 1.5), (32.0, 2.0), (40.0, 2.5), (400.0, 2.5)])
def test_the_factor_is_one_then_grows_with_the_epochs_up_to_its_cap(epochs, expected):
    assert rule.factor(epochs) == pytest.approx(expected)


def test_regularise_scales_every_dropout_and_says_so():
    config = ModelConfig(vocab_size=100)
    same, line = rule.regularise(config, 10.0)
    assert same == config
    assert line == "dropouts: the defaults (10 planned epochs of the training text; they grow past 16)"
    assert rule.regularise(config, 0.25)[1] == "dropouts: the defaults (0.2 planned epochs of the training text; they grow past 16)"
    scaled, line = rule.regularise(config, 32.0)
    for name in rule.DROPOUTS:
        assert getattr(scaled, name) == pytest.approx(2 * getattr(config, name))
    assert scaled.hidden_size == config.hidden_size and scaled.vocab_size == config.vocab_size
    assert line.startswith("dropouts: x 2.00 = 0.1, 0.2, 0.2, 0.2, 0.2 (embed, input, hidden, output, weight drop) "
                           "for 32 planned epochs")
    capped, _ = rule.regularise(config, 1000.0)
    assert capped.input_dropout == pytest.approx(0.25) and capped.embed_dropout == pytest.approx(0.125)
