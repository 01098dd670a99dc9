"""Next-word probabilities: exact products of pieces, sums to 1 for a word tokenizer, CLI."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from textgen.cli import cli
from textgen.model.config import ModelConfig
from textgen.analysis.next_words import PieceRoles, next_tokens, next_words, score_words
from textgen.model import LanguageModel
from textgen.tokenizer import BOS_ID


def tiny_model(tokenizer, seed=0):
    torch.manual_seed(seed)
    return LanguageModel(ModelConfig(vocab_size=tokenizer.vocab_size, embed_dim=16, hidden_size=16, num_layers=1)).eval()


def direct_probability(model, tokenizer, context: str, pieces: list[int], ends: bool = True) -> float:
    """P(pieces in sequence after context) * P(the next piece ends the word), from one forward pass."""
    ids = [BOS_ID] + tokenizer.encode(context)
    with torch.no_grad():
        logits, _ = model(torch.tensor([ids + pieces]))
    probabilities = torch.softmax(logits[0].float(), dim=-1)
    value = 1.0
    for offset, token_id in enumerate(pieces):
        value *= float(probabilities[len(ids) - 1 + offset, token_id])
    if ends:
        value *= float(probabilities[len(ids) - 1 + len(pieces)][PieceRoles(tokenizer).ending].sum())
    return value


@pytest.mark.parametrize("kind", ["sentencepiece", "char"])
def test_word_probabilities_are_products_of_piece_probabilities(tokenizers, kind):
    tokenizer = tokenizers[kind]
    model = tiny_model(tokenizer)
    result = next_words(model, tokenizer, "Once upon a time, there was", top=15)
    words = [w for w in result.words if w.word[0].isalnum()]
    assert words
    # a word the tokenizer must split into several pieces, so the product is over more than one factor
    (rare,) = score_words(model, tokenizer, "Once upon a time, there was", ["Zorbalux"]).words
    assert len(PieceRoles(tokenizer).word_pieces("Zorbalux")) > 1
    words.append(rare)
    for w in words:
        pieces = PieceRoles(tokenizer).word_pieces(w.word)
        assert abs(direct_probability(model, tokenizer, "Once upon a time, there was", pieces) - w.probability) < 1e-6
    assert result.words == sorted(result.words, key=lambda w: w.probability, reverse=True)
    assert abs(result.coverage - sum(w.probability for w in result.words)) < 1e-9


def test_word_tokenizer_probabilities_sum_to_one_over_the_vocabulary(word_tokenizer):
    model = tiny_model(word_tokenizer)
    result = next_words(model, word_tokenizer, "Lily saw a", top=word_tokenizer.vocab_size)
    control = [0, 1, BOS_ID, word_tokenizer.piece_to_id("<glue>")]  # <pad>, <unk>, <s>, <glue>: never a next word
    assert not {w.word for w in result.words} & {"<pad>", "<unk>", "<s>", "<glue>"}
    with torch.no_grad():
        logits, _ = model(torch.tensor([[BOS_ID, *word_tokenizer.encode("Lily saw a")]]))
    control_mass = float(torch.softmax(logits[0, -1], dim=-1)[control].sum())
    assert abs(sum(w.probability for w in result.words) + control_mass - 1.0) < 1e-5
    assert result.exact


def test_scored_words_match_the_search(tokenizers):
    tokenizer = tokenizers["sentencepiece"]
    model = tiny_model(tokenizer, seed=3)
    listed = next_words(model, tokenizer, "Tom was", top=40)
    names = [w.word for w in listed.words if w.word[0].isalnum()]
    assert names
    scored = score_words(model, tokenizer, "Tom was", names)
    assert [w.word for w in scored.words] == names  # one score per word asked, in order
    for found, exact in zip([w for w in listed.words if w.word[0].isalnum()], scored.words):
        assert abs(found.probability - exact.probability) < 1e-6


def test_pieces_are_the_raw_distribution(word_tokenizer):
    model = tiny_model(word_tokenizer)
    result = next_tokens(model, word_tokenizer, "Lily", top=word_tokenizer.vocab_size)
    assert abs(result.coverage - 1.0) < 1e-5


def test_next_cli(tmp_path, request):
    trained = request.getfixturevalue("trained")
    runner = CliRunner()
    plot = tmp_path / "next.png"
    result = runner.invoke(cli, ["next", str(trained), "Once upon a time", "--json", "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"context", "words", "coverage"} <= data.keys() and data["words"][0]["probability"] > 0
    assert plot.read_bytes()[:4] == b"\x89PNG"
    text = runner.invoke(cli, ["next", str(trained), "Lily saw", "--words", "the,a"])
    assert text.exit_code == 0 and "cover" in text.stdout
    empty = runner.invoke(cli, ["next", str(trained), "Lily", "--words", " , "])
    assert empty.exit_code == 2 and "empty" in empty.stderr
    unknown = runner.invoke(cli, ["next", str(trained), "Lily saw a Zorblax"])
    assert unknown.exit_code == 2 and "Zorblax" in unknown.stderr
