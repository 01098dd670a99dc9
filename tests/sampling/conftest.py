"""What the sampling tests share: a tiny untrained word model (its draws depend only on the seed)."""

from __future__ import annotations

import pytest
import torch

from textgen.model import LanguageModel, ModelConfig
from textgen.tokenizer import train_tokenizer


@pytest.fixture(scope="module")
def word_model(little_stories):
    tokenizer = train_tokenizer(little_stories[:100], kind="word")
    torch.manual_seed(0)
    model = LanguageModel(ModelConfig(vocab_size=tokenizer.vocab_size, embed_dim=16, hidden_size=32, num_layers=1)).eval()
    return model, tokenizer
