"""The recurrent language model: fused and transparent paths agree, the seed's hand
calculation, bounded gates, AWD-LSTM regularisation and config checks."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch
from conftest import REPO

from textgen.config import ModelConfig
from textgen.errors import TextgenError
from textgen.model import LanguageModel, activation_penalty, detach_state
from textgen.model.cells import SIGMOID_GATES, LSTMLayer, PeepholeLayer, lstm_step


def random_state(model: LanguageModel, batch: int) -> list:
    return [tuple(torch.randn_like(s) for s in layer) for layer in model.init_state(batch)]


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn", "peephole"])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
def test_fused_and_transparent_paths_agree(cell, num_layers):
    torch.manual_seed(num_layers)
    model = LanguageModel(ModelConfig(vocab_size=40, cell=cell, embed_dim=8, hidden_size=16, num_layers=num_layers)).eval()
    tokens = torch.randint(0, 40, (4, 9))
    state = random_state(model, 4)
    logits, new_state = model(tokens, state)
    trace = model.trace(tokens, state)
    assert (logits - trace.logits).abs().max() < 1e-5
    for fused, transparent in zip(new_state, trace.state):
        for a, b in zip(fused, transparent):
            assert (a - b).abs().max() < 1e-5
    # carried state: two halves with the state passed on equal one whole run
    first, carried = model(tokens[:, :4], state)
    second, _ = model(tokens[:, 4:], carried)
    assert (torch.cat([first, second], dim=1) - logits).abs().max() < 1e-5


def test_trace_reports_both_vocabularies_and_shapes():
    model = LanguageModel(ModelConfig(vocab_size=30, embed_dim=8, hidden_size=16, num_layers=2)).eval()
    trace = model.trace(torch.randint(0, 30, (6,)))
    assert trace.logits.shape == (1, 6, 30) and len(trace.layers) == 2
    layer = trace.layers[0]
    for ours, standard in [("forget", "forget"), ("learn", "candidate"), ("ignore", "input"), ("use", "output"),
                           ("ltm", "cell"), ("stm", "hidden")]:
        assert layer[ours] is layer[standard]
        assert layer[ours].shape == (1, 6, 16)
    # STM is the use gate times tanh(LTM) at every step
    assert torch.allclose(layer["stm"], layer["use"] * torch.tanh(layer["ltm"]), atol=1e-6)


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


@pytest.mark.parametrize(("embed", "hidden"), [(8, 8), (8, 16)])
def test_tied_weights_and_projection(embed, hidden):
    config = ModelConfig(vocab_size=20, embed_dim=embed, hidden_size=hidden)
    model = LanguageModel(config)
    assert model.decoder.weight is model.embedding.weight
    assert (model.projection is not None) == (embed != hidden)
    assert model.parameter_count() == config.parameter_count()
    untied = ModelConfig(vocab_size=20, embed_dim=embed, hidden_size=hidden, tie_weights=False)
    assert LanguageModel(untied).parameter_count() == untied.parameter_count()


def test_dropouts_act_only_in_training_and_weight_drop_trains_the_raw_weight():
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=20, embed_dim=8, hidden_size=8, embed_dropout=0.3, input_dropout=0.3,
                         hidden_dropout=0.3, output_dropout=0.3, weight_drop=0.5)
    model = LanguageModel(config)
    tokens = torch.randint(0, 20, (2, 6))
    model.eval()
    assert torch.equal(model(tokens)[0], model(tokens)[0])
    model.train()
    assert not torch.equal(model(tokens)[0], model(tokens)[0])
    output = model.forward_with_activations(tokens)
    (output.logits.sum() + activation_penalty(output, config)).backward()
    assert model.layers[0].rnn.weight_hh_l0.grad.abs().sum() > 0
    assert activation_penalty(output, config).item() > 0


def test_step_matches_forward_and_detach_keeps_values():
    model = LanguageModel(ModelConfig(vocab_size=20, embed_dim=8, hidden_size=8)).eval()
    tokens = torch.randint(0, 20, (3, 5))
    logits, _ = model(tokens)
    state = None
    for t in range(5):
        step_logits, state = model.step(tokens[:, t], state)
        assert torch.allclose(step_logits, logits[:, t], atol=1e-6)
    detached = detach_state(state)
    assert all(not s.requires_grad for layer in detached for s in layer)


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"hidden_size": 0}, "hidden_size"), ({"embed_dim": -4}, "embed_dim"), ({"num_layers": 0}, "num_layers"),
     ({"vocab_size": 1.5}, "vocab_size"), ({"weight_drop": 1.0}, "weight_drop"), ({"embed_dropout": -0.1}, "embed_dropout"),
     ({"cell": "transformer"}, "cell"), ({"activation_reg": -1}, "activation_reg"), ({"tie_weights": "yes"}, "tie_weights"),
     ({"output_projection": False, "embed_dim": 8, "hidden_size": 16}, "tie_weights needs hidden_size"),
     ({"forget_bias": 50.0}, "forget_bias")],
)
def test_bad_configs_name_the_field(changes, field):
    with pytest.raises(TextgenError, match=field):
        ModelConfig(**{"vocab_size": 10, **changes})


def test_config_json_round_trip_rejects_unknown_keys():
    config = ModelConfig(vocab_size=10, cell="gru")
    assert ModelConfig.from_json(config.to_json()) == config
    with pytest.raises(TextgenError, match="unknown keys hidden"):
        ModelConfig.from_dict({"vocab_size": 10, "hidden": 5})
    assert "gru language model" in config.summary() and f"{config.parameter_count():,}" in config.summary()


def test_model_imports_neither_lightning_nor_click():
    code = ("import sys, textgen.model, textgen.config; "
            "print([m for m in ('lightning', 'pytorch_lightning', 'click') if m in sys.modules])")
    output = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"


@pytest.mark.parametrize("cell", ["lstm", "peephole", "gru", "rnn"])
def test_state_from_a_bf16_autocast_call_can_be_carried_without_autocast(cell):
    model = LanguageModel(ModelConfig(vocab_size=20, cell=cell, embed_dim=8, hidden_size=8)).eval()
    tokens = torch.randint(0, 20, (2, 4))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        _, state = model(tokens)
    assert all(s.dtype == torch.float32 for layer in state for s in layer)
    model(tokens, state)
    model.step(tokens[:, 0], state)
    model.trace(tokens, state)


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


def test_zero_length_input_and_wrong_shapes():
    for cell in ("lstm", "gru", "rnn", "peephole"):
        model = LanguageModel(ModelConfig(vocab_size=20, cell=cell, embed_dim=8, hidden_size=8)).eval()
        logits, state = model(torch.zeros(2, 0, dtype=torch.long))
        assert logits.shape == (2, 0, 20) and len(state) == model.config.num_layers
    with pytest.raises(ValueError, match="batch, time"):
        model(torch.zeros(5, dtype=torch.long))


def test_peephole_inference_keeps_no_gates_for_backward():
    layer = PeepholeLayer(4, 4)
    with torch.no_grad():
        output, _ = layer(torch.randn(2, 6, 4), layer.init_state(2))
    assert output.grad_fn is None
