"""textgen/model/numpy/language_model.py: a language model directory read without torch gives the torch model's
logits and state bit for bit (the same arrays and products), checks the directory as torch's loader does, and
leaves the cells without a numpy step to torch."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import textgen
from textgen.errors import TextgenError
from textgen.model import LanguageModel
from textgen.model.config import ModelConfig
from textgen.model.numpy.language_model import NumpyLanguageModel
from textgen.modeldir.schema import language_model_tensors
from textgen.modeldir.store import expected_tensors, save_model_dir


@pytest.mark.parametrize("cell", ["lstm", "rnn", "gru"])
@pytest.mark.parametrize("tie", [True, False])
@pytest.mark.parametrize("sizes", [(8, 8, 1), (6, 10, 2)])
def test_the_tensors_named_without_torch_are_the_models_state_dict(cell, tie, sizes):
    embed, hidden, layers = sizes
    config = ModelConfig(vocab_size=30, cell=cell, embed_dim=embed, hidden_size=hidden, num_layers=layers, tie_weights=tie)
    assert language_model_tensors(config) == expected_tensors(config)


def saved_model(tmp_path, tokenizer, cell="lstm", tie=True, hidden=24, layers=1):
    torch.manual_seed(3)
    model = LanguageModel(ModelConfig(vocab_size=tokenizer.vocab_size, cell=cell, embed_dim=16, hidden_size=hidden,
                                      num_layers=layers, tie_weights=tie)).eval()
    path = tmp_path / f"{cell}-{tie}-{hidden}-{layers}"
    save_model_dir(path, model, tokenizer, {})
    return path


@pytest.mark.parametrize("cell", ["lstm", "rnn"])
@pytest.mark.parametrize("tie", [True, False])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("table", [True, False])
def test_the_logits_and_state_are_torchs_bit_for_bit(tmp_path, sentencepiece_tokenizer, monkeypatch, cell, tie, layers, table):
    from textgen.model import language_model as torch_model
    from textgen.model.numpy import language_model as numpy_model

    limit = 32 * 2**20 if table else 0  # 0: no input table, the first layer multiplies [x, h] as the others do
    monkeypatch.setattr(torch_model, "INPUT_TABLE_BYTES", limit)
    monkeypatch.setattr(numpy_model, "INPUT_TABLE_BYTES", limit)
    path = saved_model(tmp_path, sentencepiece_tokenizer, cell, tie, 24, layers)
    light = NumpyLanguageModel.load(path)
    loaded = textgen.load(path)
    assert (light.step.table is None) is not table
    ids = [1] + sentencepiece_tokenizer.encode("Once upon a time, Lily saw a big dog.")
    values, state = light.read(ids)
    with torch.no_grad():
        expected, expected_state = loaded.model.read(torch.tensor([ids]))
        for token_id in (5, 9, 40):  # and the steps after the prompt
            values, state = light.step.arrays_step(slice(token_id, token_id + 1), state)
            values = values[0]
            expected, expected_state = loaded.model.step(torch.tensor([token_id]), expected_state)
    assert np.array_equal(values, expected[0].numpy())
    for layer, expected_layer in zip(state, expected_state):
        assert all(np.array_equal(a, e.numpy()) for a, e in zip(layer, expected_layer))


def test_a_cell_without_a_numpy_step_is_left_to_torch(tmp_path, sentencepiece_tokenizer):
    assert NumpyLanguageModel.load(saved_model(tmp_path, sentencepiece_tokenizer, "gru")) is None


def test_the_description_words_and_sampling_defaults_are_the_torch_loaders(tmp_path, sentencepiece_tokenizer):
    path = saved_model(tmp_path, sentencepiece_tokenizer)
    meta = json.loads((path / "textgen.json").read_text())
    meta["words"] = {"count": 2, "list": "lily dog", "capitals": "Lily"}
    meta["sampling"] = {"settings": {"temperature": 0.8}}
    (path / "textgen.json").write_text(json.dumps(meta))
    light, loaded = NumpyLanguageModel.load(path), textgen.load(path)
    assert light.model is light and light.config == loaded.config and light.path == loaded.path
    assert light.words == loaded.words == {"lily", "dog"} and light.words.capitals == loaded.words.capitals == {"Lily"}
    assert light.sampling == loaded.sampling == {"temperature": 0.8}


def test_damaged_weights_are_refused_in_one_line(tmp_path, sentencepiece_tokenizer):
    from textgen.modeldir.names import MODEL_FILE
    from textgen.modeldir.schema import sha256

    path = saved_model(tmp_path, sentencepiece_tokenizer)
    data = bytearray((path / MODEL_FILE).read_bytes())
    data[-4:] = np.array([np.nan], dtype="<f4").tobytes()  # the last value of the last tensor
    (path / MODEL_FILE).write_bytes(bytes(data))
    meta = json.loads((path / "textgen.json").read_text())
    meta["files"][MODEL_FILE] = sha256(bytes(data))
    (path / "textgen.json").write_text(json.dumps(meta))
    with pytest.raises(TextgenError, match="NaN or infinite values"):
        NumpyLanguageModel.load(path)
    (path / MODEL_FILE).write_bytes(bytes(data[:-8]))  # truncated: its hash no longer matches
    with pytest.raises(TextgenError, match="does not match the hash"):
        NumpyLanguageModel.load(path)


def test_a_model_of_another_shape_is_refused_before_its_values_are_read(tmp_path, sentencepiece_tokenizer):
    path = saved_model(tmp_path, sentencepiece_tokenizer)
    meta = json.loads((path / "textgen.json").read_text())
    meta["model"]["hidden_size"] = 32
    (path / "textgen.json").write_text(json.dumps(meta))
    with pytest.raises(TextgenError, match="does not fit the model"):
        NumpyLanguageModel.load(path)


def test_reading_a_model_never_imports_torch():
    code = ("import sys; from textgen.model.numpy.language_model import NumpyLanguageModel; "
            "m = NumpyLanguageModel.load('tinystories'); print(m.config.cell, m.read([1, 5])[0].shape, 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split()[0] == "lstm" and done.stdout.split()[-1] == "False", done.stdout


class ClockedStep:
    """A step whose time, on a fake clock, depends on numpy's BLAS thread count (the last blas_threads call)."""

    def __init__(self, seconds_by_count: dict[int, float]):
        self.seconds_by_count, self.count, self.now = seconds_by_count, 1, 0.0

    def zero_state(self):
        return []

    def arrays_step(self, token, state):
        self.now += self.seconds_by_count[self.count]
        return None, state


@pytest.mark.parametrize("two, chosen", [(0.0004, 2), (0.00086, 2), (0.00088, 1), (0.0015, 1)])
def test_blas_threads_are_chosen_by_timing_the_step(monkeypatch, two, chosen):
    from textgen.model.numpy import language_model

    step = ClockedStep({1: 0.001, 2: two})  # 1 thread: 1 ms a step; 2 threads must be 1.15 x faster to be kept
    counts = []

    def set_count(count):
        step.count = count
        counts.append(count)

    monkeypatch.setattr(language_model, "blas_threads", set_count)
    monkeypatch.setattr(language_model.time, "perf_counter", lambda: step.now)
    monkeypatch.setattr(language_model, "available_threads", lambda: 2)
    line = language_model.choose_blas_threads(step)
    assert counts[-1] == chosen and counts[:-1] == [1, 2] * language_model.TIMED_ROUNDS
    assert line.startswith(f"numpy's BLAS: {chosen} thread") and "1.00 ms with 1" in line


def test_one_core_or_a_thread_setting_of_one_takes_one_thread_without_timing(monkeypatch):
    from textgen.model.numpy import language_model

    counts = []
    monkeypatch.setattr(language_model, "blas_threads", counts.append)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    assert language_model.available_threads() == 1
    assert language_model.choose_blas_threads(None) == "numpy's BLAS: 1 thread (one core)" and counts == [1]
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert language_model.available_threads() == 3
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")  # OpenBLAS's own setting wins
    assert language_model.available_threads() == 2
