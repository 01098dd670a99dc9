"""textgen/modeldir/store.py directly: weights bytes in each dtype, a directory saved and loaded with its
hashes, the tensors a config expects, and the short names of shipped models."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load as load_safetensors

import textgen
from textgen.modeldir.store import (
    SHIPPED_MODELS,
    expected_tensors,
    model_bytes,
    resolve_model_path,
    save_model_dir,
    sha256,
)
from textgen.model.config import ModelConfig
from textgen.errors import TextgenError
from textgen.model import LanguageModel


@pytest.fixture()
def model():
    torch.manual_seed(0)
    return LanguageModel(ModelConfig(vocab_size=30, embed_dim=8, hidden_size=12)).eval()


def test_model_bytes_leave_out_the_tied_decoder_and_keep_the_dtype(model):
    for dtype, torch_dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
        tensors = load_safetensors(model_bytes(model, dtype))
        assert "decoder.weight" not in tensors and set(tensors) == set(expected_tensors(model.config))
        assert all(tensor.dtype == torch_dtype for tensor in tensors.values())
        assert all(tuple(tensors[name].shape) == shape for name, shape in expected_tensors(model.config).items())


def test_a_saved_directory_loads_with_the_same_logits_and_records_its_hashes(model, word_tokenizer, tmp_path):
    config = ModelConfig(vocab_size=word_tokenizer.vocab_size, embed_dim=8, hidden_size=12)
    model = LanguageModel(config).eval()
    folder = save_model_dir(tmp_path / "m", model, word_tokenizer, {"note": "direct test"})
    meta = json.loads((folder / "textgen.json").read_text())
    for name, digest in meta["files"].items():
        assert sha256((folder / name).read_bytes()) == digest
    loaded = textgen.load(folder)
    tokens = torch.tensor([word_tokenizer.encode("Doug saw Jane.")])
    with torch.no_grad():
        assert torch.allclose(loaded.model(tokens)[0], model(tokens)[0], atol=1e-6)
    assert loaded.model.decoder.weight is loaded.model.embedding.weight  # re-tied on load


def test_short_names_and_paths(tmp_path):
    assert resolve_model_path(tmp_path) == tmp_path  # a folder is itself
    with pytest.raises(TextgenError, match="neither a model directory nor a shipped model") as raised:
        resolve_model_path("no-such-model")
    assert all(name in str(raised.value) for name in SHIPPED_MODELS)
    assert resolve_model_path(str(tmp_path / "nested" / "x")) == tmp_path / "nested" / "x"  # a path: said to be missing on load
