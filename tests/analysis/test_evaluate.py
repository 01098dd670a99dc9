"""textgen/analysis/evaluate.py directly: the metrics from summed nats, and evaluation of a model whose
probabilities are known; and `textgen evaluate` on a trained model."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from textgen.cli import cli
from textgen.model.config import ModelConfig
from textgen.errors import TextgenError
from textgen.analysis.evaluate import evaluate_array, metrics_of
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


def files_under(folder) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*")}


def test_evaluate_writes_nothing_by_default_not_even_beside_the_model(trained, corpus, tmp_path):
    """A shipped model's installation may be read-only and must not change: evaluate keeps the
    corpus's tokens in memory unless --cache-dir is given, and its numbers are the same."""
    import shutil

    model = tmp_path / "install" / "model"
    shutil.copytree(trained, model)
    before = files_under(tmp_path)
    plain = CliRunner().invoke(cli, ["evaluate", str(model), str(corpus), "--json"])
    assert plain.exit_code == 0, plain.output
    assert files_under(tmp_path) == before  # no .cache beside the model, nothing anywhere here
    cached = CliRunner().invoke(cli, ["evaluate", str(model), str(corpus), "--json", "--cache-dir", str(tmp_path / "c")])
    assert cached.exit_code == 0, cached.output
    assert any(name.endswith(".uint16") for name in files_under(tmp_path / "c"))
    assert json.loads(plain.stdout)["loss"] == pytest.approx(json.loads(cached.stdout)["loss"])


def test_evaluate_goes_on_without_a_cache_it_cannot_write_and_names_cache_dir(trained, corpus, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = CliRunner().invoke(cli, ["evaluate", str(trained), str(corpus), "--json", "--cache-dir", str(blocker / "c")])
    assert result.exit_code == 0, result.output
    assert "cannot be written" in result.stderr and "--cache-dir" in result.stderr
    assert json.loads(result.stdout)["tokens"] > 0 and blocker.read_text() == "not a folder"


def test_evaluate_with_a_link_planted_in_its_cache_leaves_the_links_target_alone(trained, corpus, tmp_path):
    import os

    cache = tmp_path / "cache"
    first = CliRunner().invoke(cli, ["evaluate", str(trained), str(corpus), "--json", "--cache-dir", str(cache)])
    assert first.exit_code == 0, first.output
    victim = tmp_path / "victim.txt"
    victim.write_text("mine")
    for path in cache.iterdir():
        path.unlink()
        os.symlink(victim, path)
    again = CliRunner().invoke(cli, ["evaluate", str(trained), str(corpus), "--json", "--cache-dir", str(cache)])
    assert again.exit_code == 0, again.output
    assert victim.read_text() == "mine" and not any(path.is_symlink() for path in cache.iterdir())
    assert json.loads(again.stdout)["loss"] == pytest.approx(json.loads(first.stdout)["loss"])
