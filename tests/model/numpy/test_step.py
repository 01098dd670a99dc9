"""textgen/model/numpy/step.py: one sequence's inference step in numpy gives the logits and state of the model's
full forward pass, for LSTM and RNN layers, with and without the output projection and the input table; its
arrays share the tensors' memory (the switch between numpy and torch steps: tests/model/test_language_model.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from textgen.model import LanguageModel
from textgen.model.config import ModelConfig
from textgen.model.numpy.step import NumpyStep, array


def model_of(cell: str, tie: bool) -> LanguageModel:
    torch.manual_seed(8)
    return LanguageModel(ModelConfig(vocab_size=30, cell=cell, embed_dim=6, hidden_size=10, num_layers=2,
                                     tie_weights=tie)).eval()


@pytest.mark.parametrize("cell", ["lstm", "rnn"])
@pytest.mark.parametrize("tie", [True, False])  # tied: a projection from the hidden size to the embedding's
@pytest.mark.parametrize("table", [False, True])
def test_steps_give_the_full_forward_passes_logits_and_state(cell, tie, table):
    model = model_of(cell, tie)
    tokens = torch.randint(4, 30, (1, 7))
    with torch.no_grad():
        expected, expected_state = model(tokens)
        _, state = model(tokens[:, :1])
        if table:  # the first layer's input weights applied to every embedding, both biases folded in
            first = model.layers[0].rnn
            rows = model.embedding.weight @ first.weight_ih_l0.T + first.bias_ih_l0 + first.bias_hh_l0
            step = NumpyStep.from_model(model, rows)
        else:
            step = NumpyStep.from_model(model, None)
        assert (step.table is None) is not table and (step.projection is None) is not tie
        arrays = step.arrays(state)
        for t in range(1, tokens.shape[1]):
            logits, arrays = step.arrays_step(tokens[0, t:t + 1].numpy(), arrays)
            assert np.allclose(logits, expected[:, t].numpy(), atol=1e-5), t
    for layer, expected_layer in zip(arrays, expected_state):
        assert all(np.allclose(a, e.numpy(), atol=1e-5) for a, e in zip(layer, expected_layer))


def test_the_tensor_call_is_the_array_step_and_a_slice_token_is_one_row():
    model = model_of("lstm", tie=True)
    step = NumpyStep.from_model(model, None)
    with torch.no_grad():
        _, state = model(torch.tensor([[5]]))
        logits, new_state = step(torch.tensor([7]), state)
        by_slice, _ = step.arrays_step(slice(7, 8), step.arrays(state))
    assert isinstance(logits, torch.Tensor) and logits.shape == (1, 30) and np.allclose(logits.numpy(), by_slice)
    assert [tuple(s.shape for s in layer) for layer in new_state] == [((1, 10), (1, 10))] * 2


def test_arrays_share_the_tensors_memory():
    tensor = torch.zeros(3)
    values = array(tensor)
    values[1] = 5.0
    assert tensor[1] == 5.0
    weight = torch.nn.Parameter(torch.zeros(2))  # a tensor that needs gradients too
    array(weight)[0] = 3.0
    assert weight[0] == 3.0
