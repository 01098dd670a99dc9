"""textgen/model/language_model.py: fused and transparent paths agree, one-token steps equal
the whole-sequence pass, tied weights, AWD-LSTM regularisation, carried bf16 state."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn

from tests.conftest import REPO

from textgen.model.config import ModelConfig
from textgen.model import LanguageModel, activation_penalty, detach_state


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


def test_model_imports_neither_lightning_nor_click():
    code = ("import sys, textgen.model, textgen.model.config; "
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


def test_zero_length_input_and_wrong_shapes():
    for cell in ("lstm", "gru", "rnn", "peephole"):
        model = LanguageModel(ModelConfig(vocab_size=20, cell=cell, embed_dim=8, hidden_size=8)).eval()
        logits, state = model(torch.zeros(2, 0, dtype=torch.long))
        assert logits.shape == (2, 0, 20) and len(state) == model.config.num_layers
    with pytest.raises(ValueError, match="batch, time"):
        model(torch.zeros(5, dtype=torch.long))




@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn", "peephole"])
@pytest.mark.parametrize(("embed", "hidden", "layers"), [(8, 8, 1), (6, 10, 2)])
@pytest.mark.parametrize("batch", [1, 3])
def test_inference_steps_with_a_carried_state_equal_the_whole_sequence(cell, embed, hidden, layers, batch):
    """Generation's path: under no_grad each step runs the step plan (one sequence of an LSTM or
    RNN in numpy, a batch in torch; the GRU and peephole the fused kernel)."""
    torch.manual_seed(3)
    model = LanguageModel(ModelConfig(vocab_size=20, cell=cell, embed_dim=embed, hidden_size=hidden, num_layers=layers)).eval()
    tokens = torch.randint(0, 20, (batch, 7))
    with torch.no_grad():
        logits, final = model(tokens)
        step_logits, state = model(tokens[:, :1])
        for t in range(1, 7):
            out, state = model.step(tokens[:, t], state)
            assert torch.allclose(out, logits[:, t], atol=1e-5), t
    for whole, stepped in zip(final, state):
        assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(whole, stepped))


def test_the_step_plan_follows_weights_changed_in_place_and_layers_replaced():
    """The inference step keeps its weights between calls; an in-place edit or a replaced layer
    makes it gather them again, so a step always equals a fresh model with the same weights."""
    torch.manual_seed(4)
    config = ModelConfig(vocab_size=20, embed_dim=6, hidden_size=10, num_layers=2)
    model, other = LanguageModel(config).eval(), LanguageModel(config).eval()
    token = torch.tensor([5])
    with torch.no_grad():
        state = model.init_state(1)
        model.step(token, state)  # the plan is made
        model.layers[1].rnn = other.layers[1].rnn  # a replaced layer
        replaced, _ = model.step(token, state)
        fresh = LanguageModel(config).eval()
        fresh.load_state_dict(model.state_dict())
        assert torch.allclose(replaced, fresh.step(token, fresh.init_state(1))[0], atol=1e-6)
        model.decoder.bias.add_(1.0)  # an in-place edit
        edited, _ = model.step(token, state)
        assert torch.allclose(edited, replaced + 1.0, atol=1e-5)


def test_the_step_plan_follows_a_replaced_layer_a_replaced_parameter_and_loaded_weights():
    """Each way a model's weights change after its plan is made gives a new plan: a layer of the
    ModuleList replaced, one parameter replaced, new weights loaded (in place), the model moved to
    another dtype; and an unchanged model keeps its plan (the same object)."""
    torch.manual_seed(5)
    config = ModelConfig(vocab_size=20, embed_dim=6, hidden_size=10, num_layers=2, tie_weights=False)
    model, other = LanguageModel(config).eval(), LanguageModel(config).eval()
    token = torch.tensor([3, 7])  # a batch of two: torch's step plan

    def expected() -> torch.Tensor:
        fresh = LanguageModel(config).eval()
        fresh.load_state_dict(model.state_dict())
        return fresh(token.unsqueeze(1))[0][:, 0]

    with torch.no_grad():
        state = model.init_state(2)
        plan = model._step_plan()
        assert model._step_plan() is plan
        model.layers[0] = other.layers[0]  # through ModuleList.__setitem__
        assert torch.allclose(model.step(token, state)[0], expected(), atol=1e-6)
        plan = model._step_plan()
        model.decoder.weight = nn.Parameter(torch.randn(20, 10))  # one parameter replaced
        assert model._step_plan() is not plan
        assert torch.allclose(model.step(token, state)[0], expected(), atol=1e-6)
        plan = model._step_plan()
        model.load_state_dict(other.state_dict())  # copied in place: the same tensors, new versions
        assert model._step_plan() is not plan
        assert torch.allclose(model.step(token, state)[0], other.step(token, other.init_state(2))[0], atol=1e-6)
        plan = model._step_plan()
        model.to(torch.bfloat16)
        assert model._step_plan() is not plan
        assert model._step_plan().dtype == torch.bfloat16


def test_importing_the_model_registers_no_global_hook_on_torch():
    """The plan's staleness is the model's own business: importing textgen.model.language_model
    (in a fresh process) leaves every torch-wide module hook as it was."""
    code = ("import torch.nn.modules.module as m\n"
            "names = [n for n in dir(m) if n.startswith('_global') and isinstance(getattr(m, n), dict)]\n"
            "before = {n: len(getattr(m, n)) for n in names}\n"
            "import textgen.model.language_model, textgen.modeldir.store\n"
            "after = {n: len(getattr(m, n)) for n in names}\n"
            "print(len(names), before == after, sum(after.values()))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    count, unchanged, hooks = result.stdout.split()
    assert int(count) >= 8  # the parameter, module and buffer registration hooks and the forward/backward ones
    assert (unchanged, hooks) == ("True", "0")


@pytest.mark.parametrize("cell", ["lstm", "rnn"])
@pytest.mark.parametrize("table_limit", [None, 0])
@pytest.mark.parametrize("batch", [1, 2])  # numpy, torch
def test_the_first_layer_reads_its_input_table_and_follows_an_edited_embedding(cell, table_limit, batch, monkeypatch):
    """A generation step reads the first layer's input projection of the token from a table made
    once (embedding x W_ih + biases); a table over the size limit is not made and the step projects
    the embedding itself. Either way a step equals the whole sequence, also after the embedding
    (tied to the decoder) is edited in place."""
    import textgen.model.language_model as language_model

    if table_limit is not None:
        monkeypatch.setattr(language_model, "INPUT_TABLE_BYTES", table_limit)
    torch.manual_seed(5)
    model = LanguageModel(ModelConfig(vocab_size=30, cell=cell, embed_dim=6, hidden_size=10, num_layers=2)).eval()
    tokens = torch.randint(0, 30, (batch, 5))
    with torch.no_grad():
        for edit in range(2):
            logits, _ = model(tokens)
            _, state = model(tokens[:, :1])
            for t in range(1, 5):
                out, state = model.step(tokens[:, t], state)
                assert torch.allclose(out, logits[:, t], atol=1e-5), (edit, t)
            assert (model._step_plan().embedding is None) == (table_limit is None)
            model.embedding.weight.mul_(1.5)  # in place: the next round must see a new table


@pytest.mark.parametrize("cell", ["lstm", "rnn"])
def test_one_sequence_steps_in_numpy_as_torch_does_and_a_bf16_model_keeps_torch(cell, monkeypatch):
    """The numpy step (float32 on the CPU, batch 1) gives torch's step's logits and state; with it
    switched off torch's step runs; bf16 weights have no numpy step."""
    import textgen.model.language_model as language_model

    torch.manual_seed(6)
    model = LanguageModel(ModelConfig(vocab_size=25, cell=cell, embed_dim=6, hidden_size=12, num_layers=2)).eval()
    tokens = torch.randint(0, 25, (1, 6))
    runs = []
    with torch.no_grad():
        for numpy_step in (True, False):
            monkeypatch.setattr(language_model, "NUMPY_STEP", numpy_step)
            model._plan_cache = None
            assert (model._step_plan().numpy is not None) == numpy_step
            _, state = model(tokens[:, :1])
            outputs = []
            for t in range(1, 6):
                out, state = model.step(tokens[:, t], state)
                outputs.append(out)
            runs.append((torch.cat(outputs), [s for layer in state for s in layer]))
        assert torch.allclose(runs[0][0], runs[1][0], atol=1e-5)
        assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(runs[0][1], runs[1][1]))
        monkeypatch.setattr(language_model, "NUMPY_STEP", True)
        assert model.to(torch.bfloat16)._step_plan().numpy is None


@pytest.mark.parametrize(("cell", "batch", "length"), [("lstm", 1, 5), ("rnn", 1, 3), ("lstm", 2, 5), ("gru", 1, 4),
                                                        ("lstm", 1, 70)])
def test_read_gives_the_last_logits_and_state_of_the_whole_sequence(cell, batch, length):
    """How generation reads its prompt: a short one of one sequence a step at a time, anything else
    in one fused call; both give the whole sequence's last logits and state."""
    torch.manual_seed(7)
    model = LanguageModel(ModelConfig(vocab_size=20, cell=cell, embed_dim=6, hidden_size=10, num_layers=2)).eval()
    tokens = torch.randint(0, 20, (batch, length))
    with torch.no_grad():
        logits, state = model(tokens)
        last, read_state = model.read(tokens)
    assert last.shape == (batch, 20) and torch.allclose(last, logits[:, -1], atol=1e-5)
    assert all(torch.allclose(a, b, atol=1e-5) for whole, read in zip(state, read_state) for a, b in zip(whole, read))


def test_a_long_read_goes_in_chunks_and_decodes_only_its_last_position(monkeypatch):
    """All T logits of a long text are (T, V): `read` carries the state over chunks of READ_CHUNK
    tokens and decodes one position, from the start or from a given state."""
    import textgen.model.language_model as language_model

    monkeypatch.setattr(language_model, "READ_CHUNK", 32)
    torch.manual_seed(3)
    model = LanguageModel(ModelConfig(vocab_size=20, embed_dim=6, hidden_size=10, num_layers=2)).eval()
    tokens = torch.randint(0, 20, (2, 150))
    decoded, original = [], model.decode
    with torch.no_grad():
        logits, state = model(tokens)
        monkeypatch.setattr(model, "decode", lambda output: decoded.append(tuple(output.shape)) or original(output))
        last, read_state = model.read(tokens)
        _, half = model.read(tokens[:, :70])
        resumed, resumed_state = model.read(tokens[:, 70:], half)
    assert decoded == [(2, 10)] * 3  # one position per read
    for got, got_state in ((last, read_state), (resumed, resumed_state)):
        assert torch.allclose(got, logits[:, -1], atol=1e-5)
        assert all(torch.allclose(a, b, atol=1e-5) for whole, read in zip(state, got_state) for a, b in zip(whole, read))
