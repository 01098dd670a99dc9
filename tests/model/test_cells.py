"""textgen/model/cells.py: the seed's hand calculation, gates that stay in range, the peephole
cell's hand-written backward pass, and weight drop that leaves the module untouched."""

from __future__ import annotations

import math

import pytest
import torch

from textgen.model.config import ModelConfig
from textgen.model import LanguageModel
from textgen.model.cells import SIGMOID_GATES, LSTMLayer, PeepholeLayer, lstm_step


def test_the_seeds_hand_calculation():
    """One unit: forget weights 2.70 (STM), 1.63 (input), bias 1.62; ignore 2.00, 1.65, 0.62;
    new information 1.41, 0.94, -0.32; LTM 2, STM 1, input 1."""
    layer = LSTMLayer(1, 1)
    rnn = layer.rnn
    with torch.no_grad():
        # torch's block order: input (ignore), forget, candidate (learn), output (use)
        rnn.weight_ih_l0.copy_(torch.tensor([[1.65], [1.63], [0.94], [0.0]]))
        rnn.weight_hh_l0.copy_(torch.tensor([[2.00], [2.70], [1.41], [0.0]]))
        rnn.bias_ih_l0.copy_(torch.tensor([0.62, 1.62, -0.32, 0.0]))
        rnn.bias_hh_l0.zero_()
    x, stm, ltm = torch.ones(1, 1), torch.ones(1, 1), torch.full((1, 1), 2.0)
    _, new_ltm, gates = lstm_step(x, stm, ltm, rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0)
    forget_pre = 2.70 * 1 + 1.63 * 1 + 1.62
    ignore_pre = 2.00 * 1 + 1.65 * 1 + 0.62
    assert round(forget_pre, 2) == 5.95 and round(ignore_pre, 2) == 4.27
    assert round(gates["forget"].item(), 3) == 0.997
    assert round(gates["ignore"].item(), 3) == round(1 / (1 + math.exp(-4.27)), 3)
    assert round(gates["learn"].item(), 2) == round(math.tanh(2.03), 2) == 0.97
    expected = 2 * 0.997 + (1 / (1 + math.exp(-4.27))) * 0.97
    assert round(new_ltm.item(), 2) == round(expected, 2) == 2.95
    # the fused kernel computes the same step
    _, (_, fused_ltm) = layer(x.unsqueeze(1), (stm, ltm))
    assert abs(fused_ltm.item() - new_ltm.item()) < 1e-6


@pytest.mark.parametrize("cell", ["lstm", "peephole", "gru", "rnn"])
def test_gates_stay_in_their_squashing_range_for_huge_inputs(cell):
    """"It will never explode": sigmoid gates stay in [0, 1] and tanh values in [-1, 1] even for inputs
    of magnitude 1e4 (in float32 the open bounds round to the closed ones)."""
    torch.manual_seed(0)
    model = LanguageModel(ModelConfig(vocab_size=10, cell=cell, embed_dim=8, hidden_size=16, num_layers=2)).eval()
    with torch.no_grad():
        model.embedding.weight.mul_(1e5)  # embeddings of magnitude ~1e4
    trace = model.trace(torch.randint(0, 10, (2, 30)))
    for layer in trace.layers:
        for name, values in layer.items():
            assert torch.isfinite(values).all(), name
            if name in SIGMOID_GATES:
                assert values.min() >= 0 and values.max() <= 1, name
            elif name not in ("ltm", "cell"):
                assert values.min() >= -1 and values.max() <= 1, name
        if "ltm" in layer:  # LTM grows by at most 1 per step
            assert layer["ltm"].abs().max() <= 30 + 1e-4
    assert torch.isfinite(trace.logits).all()


def test_peephole_hand_written_backward_matches_numerical_gradients():
    from textgen.model.cells import PeepholeRecurrence

    torch.manual_seed(0)
    inputs = [torch.randn(2, 5, 12, dtype=torch.float64), torch.randn(12, 3, dtype=torch.float64) * 0.5,
              torch.randn(3, 3, dtype=torch.float64) * 0.5, torch.randn(2, 3, dtype=torch.float64),
              torch.randn(2, 3, dtype=torch.float64)]
    inputs = [tensor.requires_grad_() for tensor in inputs]
    assert torch.autograd.gradcheck(PeepholeRecurrence.apply, inputs)


def test_peephole_training_gradients_match_the_transparent_cells():
    torch.manual_seed(1)
    layer = PeepholeLayer(4, 6)
    x, state = torch.randn(3, 7, 4), (torch.randn(3, 6), torch.randn(3, 6))
    output, (h, c) = layer(x, state)
    (output.sum() + h.sum() * 2 + c.sum()).backward()
    fast = [p.grad.clone() for p in layer.parameters()]
    layer.zero_grad()
    traced, (h2, c2), _ = layer.trace(x, state)
    (traced.sum() + h2.sum() * 2 + c2.sum()).backward()
    for a, b in zip(fast, (p.grad for p in layer.parameters())):
        assert torch.allclose(a, b, atol=1e-5)


def test_peephole_gates_see_the_long_term_memory():
    layer = PeepholeLayer(3, 4)
    x, state = torch.randn(2, 3), (torch.randn(2, 4), torch.randn(2, 4))
    with torch.no_grad():
        layer.peephole.zero_()
    _, _, before = layer.step(x, state)
    with torch.no_grad():
        layer.peephole.fill_(1.0)
    _, _, after = layer.step(x, state)
    assert not torch.allclose(before["forget"], after["forget"])
    assert torch.allclose(before["learn"], after["learn"])  # the candidate has no peephole


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_weight_drop_leaves_the_module_untouched(cell):
    torch.manual_seed(0)
    model = LanguageModel(ModelConfig(vocab_size=20, cell=cell, embed_dim=8, hidden_size=8, weight_drop=0.5,
                                      embed_dropout=0, input_dropout=0, hidden_dropout=0, output_dropout=0))
    tokens = torch.randint(0, 20, (2, 5))
    model.eval()
    before = model(tokens)[0]
    model.train()
    assert not torch.allclose(model(tokens)[0], before)  # the hidden-to-hidden weights were dropped
    rnn = model.layers[0].rnn
    assert all(weight is parameter for weight, parameter in zip(rnn._flat_weights, rnn.parameters()))
    model.eval()
    assert torch.equal(model(tokens)[0], before)


def test_peephole_inference_keeps_no_gates_for_backward():
    layer = PeepholeLayer(4, 4)
    with torch.no_grad():
        output, _ = layer(torch.randn(2, 6, 4), layer.init_state(2))
    assert output.grad_fn is None
