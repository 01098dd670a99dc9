"""textgen/model/classifier.py: padding never changes a text's scores, every pooling learns a cue
wherever it sits, a language model's embedding and layers load by key; the head's config is checked."""

from __future__ import annotations

import pytest
import torch

from textgen.model.config import POOLINGS, ClassifierConfig, ModelConfig
from textgen.errors import TextgenError
from textgen.model import LanguageModel
from textgen.model.classifier import Classifier

SHAPE = {"vocab_size": 12, "embed_dim": 8, "hidden_size": 16}
QUIET = {"embed_dropout": 0.0, "input_dropout": 0.0, "hidden_dropout": 0.0, "output_dropout": 0.0, "weight_drop": 0.0}


def classifier(pooling: str, **shape) -> Classifier:
    torch.manual_seed(0)
    return Classifier(ModelConfig(**{**SHAPE, **QUIET, **shape}), ClassifierConfig(num_classes=3, pooling=pooling, head_dropout=0.0))


@pytest.mark.parametrize("pooling", POOLINGS)
def test_padding_does_not_change_a_texts_scores(pooling):
    model = classifier(pooling, num_layers=2).eval()
    short, long = torch.tensor([4, 5, 6]), torch.tensor([7, 8, 9, 10, 11, 4])
    alone = model(short[None], torch.tensor([3]))
    batch = torch.zeros(2, 6, dtype=torch.long)
    batch[0, :3], batch[1] = short, long
    together = model(batch, torch.tensor([3, 6]))
    assert torch.allclose(together[0], alone[0], atol=1e-6)
    assert torch.allclose(together[1], model(long[None], torch.tensor([6]))[0], atol=1e-6)
    assert together.shape == (2, 3)


@pytest.mark.parametrize("pooling", POOLINGS)
def test_every_pooling_learns_a_cue_wherever_it_sits(pooling):
    """Class 1 when token 3 occurs anywhere in a text of random tokens 4..11, else class 0."""
    generator = torch.Generator().manual_seed(1)
    tokens = torch.randint(4, 12, (48, 8), generator=generator)
    labels = torch.arange(48) % 2
    where = torch.randint(0, 8, (48,), generator=generator)
    tokens[labels == 1, where[labels == 1]] = 3
    lengths = torch.full((48,), 8)
    model = classifier(pooling)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    for _ in range(150):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(tokens, lengths), labels).backward()
        optimizer.step()
    model.eval()
    assert (model(tokens, lengths).argmax(dim=1) == labels).float().mean().item() == 1.0


def test_a_language_models_embedding_and_layers_load_by_key():
    torch.manual_seed(3)
    language_model = LanguageModel(ModelConfig(**SHAPE))
    model = classifier("mean")
    head = model.head.weight.detach().clone()
    model.load_encoder(language_model)
    assert torch.equal(model.embedding.weight, language_model.embedding.weight)
    theirs = language_model.state_dict()
    assert all(torch.equal(value, theirs[key]) for key, value in model.state_dict().items() if key.startswith("layers."))
    assert torch.equal(model.head.weight, head)  # the head is the classifier's own
    with pytest.raises(ValueError, match="lacks layers.1"):
        classifier("mean", num_layers=2).load_encoder(language_model)


@pytest.mark.parametrize(("options", "message"), [
    ({"num_classes": 1}, "num_classes must be an integer >= 2"),
    ({"num_classes": 3, "pooling": "sum"}, "pooling 'sum' is unknown: choose one of last, mean, max, attention"),
    ({"num_classes": 3, "class_weights": "inverse"}, "class weighting 'inverse' is unknown"),
    ({"num_classes": 3, "head_dropout": 1.0}, r"head_dropout must be in \[0, 1\)"),
    ({"num_classes": 3, "max_tokens": 0}, "max_tokens must be a positive integer"),
])
def test_the_head_config_is_checked(options, message):
    with pytest.raises(TextgenError, match=message):
        ClassifierConfig(**options)


def test_a_language_model_of_another_size_is_refused_in_one_line():
    with pytest.raises(ValueError, match=r"shape differs: embedding.weight is \(12, 8\) where the classifier has \(12, 4\)"):
        classifier("mean", embed_dim=4).load_encoder(LanguageModel(ModelConfig(**SHAPE)))
