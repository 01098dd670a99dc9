"""textgen/evaluate.py directly: the metrics from summed nats, and evaluation of a model whose
probabilities are known; and `textgen evaluate` on a trained model."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from textgen.cli import cli
from textgen.config import ModelConfig
from textgen.errors import TextgenError
from textgen.evaluate import evaluate_array, metrics_of
from textgen.model import LanguageModel
from tests.conftest import one_line_error


def test_metrics_from_nats_match_their_definitions():
    metrics = metrics_of(total_nats=200.0, total_tokens=100, coverage=1.0, words=40, size_bytes=180, stories=10)
    assert metrics["loss"] == 2.0
    assert metrics["perplexity"] == pytest.approx(math.exp(2.0))
    assert metrics["word_perplexity"] == pytest.approx(math.exp(200.0 / 50))  # words plus one end per story
    assert metrics["bits_per_byte"] == pytest.approx(200.0 / math.log(2) / 190)
    assert (metrics["tokens"], metrics["words"], metrics["bytes"], metrics["stories"]) == (100, 40, 180, 10)
    scaled = metrics_of(100.0, 50, 0.5, 40, 180, 10)  # half the tokens scored: the counts scale with it
    assert scaled["bits_per_byte"] == pytest.approx(metrics["bits_per_byte"])


def uniform_model(vocab: int) -> LanguageModel:
    model = LanguageModel(ModelConfig(vocab_size=vocab, embed_dim=8, hidden_size=8, tie_weights=False))
    with torch.no_grad():
        model.decoder.weight.zero_()
        model.decoder.bias.zero_()  # every token equally likely, whatever the input
    return model


@pytest.mark.parametrize("streams", [1, 3])
def test_a_uniform_model_scores_log_vocab_per_token(streams):
    model = uniform_model(50)
    array = np.random.default_rng(0).integers(4, 50, size=301)
    metrics = evaluate_array(model, array, words=100, size_bytes=600, stories=5, streams=streams, seq_len=16)
    assert metrics["loss"] == pytest.approx(math.log(50), rel=1e-5)
    assert metrics["perplexity"] == pytest.approx(50, rel=1e-4)
    assert metrics["tokens"] == 300 // streams * streams  # parallel streams leave fewer than `streams` tokens out


def test_too_short_a_text_is_refused():
    with pytest.raises(TextgenError, match="too short"):
        evaluate_array(uniform_model(10), np.array([4]), 1, 1, 1)


def test_evaluate_cli(trained, corpus):
    result = CliRunner().invoke(cli, ["evaluate", str(trained), str(corpus), "--json", "--cache-dir", str(trained.parent / "cache")])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"tokens", "words", "bytes", "loss", "perplexity", "word_perplexity", "bits_per_byte"} <= data.keys()
    assert abs(data["perplexity"] - torch.tensor(data["loss"]).exp().item()) < 1e-3
    assert data["word_perplexity"] > data["perplexity"]  # more than one token per word
    text = CliRunner().invoke(cli, ["evaluate", str(trained), str(corpus), "--cache-dir", str(trained.parent / "cache")])
    assert "bits per byte" in text.stdout
    missing = CliRunner().invoke(cli, ["evaluate", str(trained.parent / "nope"), str(corpus)])
    one_line_error(missing, "does not exist")
