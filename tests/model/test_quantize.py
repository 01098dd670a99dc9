"""textgen/model/quantize.py directly: the forms a model can take for generation, their sizes,
and that they predict what the float model predicts."""

from __future__ import annotations

import pytest
import torch

from textgen.model.config import ModelConfig
from textgen.errors import TextgenError
from textgen.model import LanguageModel
from textgen.model.quantize import quantize, resolve_mode, sampling_copy, weight_bytes


def model() -> LanguageModel:
    torch.manual_seed(0)
    return LanguageModel(ModelConfig(vocab_size=60, embed_dim=16, hidden_size=16)).eval()


def test_none_is_the_model_itself_and_auto_is_float32_on_every_cpu():
    float_model = model()
    assert quantize(float_model, "none") is float_model
    assert sampling_copy(float_model, "none") is float_model
    assert resolve_mode("auto") == "none"  # measured no slower anywhere, and the same story from a seed everywhere
    assert quantize(float_model, "auto") is float_model
    with pytest.raises(TextgenError, match="unknown"):
        quantize(float_model, "int4")


@pytest.mark.parametrize("mode", ["bf16", "int8"])
def test_smaller_forms_predict_what_the_float_model_predicts(mode):
    float_model = model()
    small = quantize(float_model, mode)
    assert small is not float_model
    tokens = torch.randint(4, 60, (2, 12), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = torch.softmax(float_model(tokens)[0].float(), dim=-1)
        got = torch.softmax(small(tokens)[0].float(), dim=-1)
    assert (got - expected).abs().max().item() < 0.02
    assert next(float_model.parameters()).dtype == torch.float32  # the float model is left as it was


def test_weight_bytes_per_form():
    float_model = model()
    parameters = sum(p.numel() for p in {id(p): p for p in float_model.parameters()}.values())
    assert weight_bytes(float_model, "none") == 4 * parameters
    assert weight_bytes(float_model, "bf16") == 2 * parameters
    assert weight_bytes(float_model, "none") > weight_bytes(float_model, "int8") > weight_bytes(float_model, "bf16") / 2
