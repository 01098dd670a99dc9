"""textgen/classify/numpy_forward.py: `classify predict`'s torch-free forward pass gives the torch
network's probabilities for every cell it writes, pooling, depth and stored type, checks a directory
as load_classifier does, and leaves a peephole layer to torch; the predict process never imports torch."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from tests.conftest import ONE_THREAD

from textgen.modeldir.schema import classifier_tensors
from textgen.modeldir.store import export_model
from textgen.classify.data import Labels
from textgen.classify.numpy_forward import NumpyClassifier
from textgen.classify.predict import class_probabilities, load_classifier, predict, save_classifier_dir
from textgen.model.config import ClassifierConfig, ModelConfig
from textgen.errors import TextgenError
from textgen.model.classifier import Classifier

LABELS = Labels(("1", "2", "3", "4"), ordinal=True)
TEXTS = ["Great taffy, my kids loved it.", "The box came broken\n\nand the nuts were stale.", "ok", "x " * 300]


def save(folder, tokenizer, cell="lstm", pooling="max", layers=1, max_tokens=512, decision=None):
    torch.manual_seed(1)
    config = ModelConfig(vocab_size=tokenizer.vocab_size, cell=cell, embed_dim=8, hidden_size=12, num_layers=layers)
    model = Classifier(config, ClassifierConfig(num_classes=4, pooling=pooling, max_tokens=max_tokens)).eval()
    with torch.no_grad():  # biases away from their zero start, so a wrong bias would show
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.3)
    save_classifier_dir(folder, model, tokenizer, LABELS, {"decision": decision} if decision else {})
    return folder, model


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("pooling", ["last", "mean", "max", "concat", "attention"])
def test_the_numpy_pass_gives_the_torch_probabilities(tmp_path, sentencepiece_tokenizer, cell, pooling):
    folder, model = save(tmp_path / "clf", sentencepiece_tokenizer, cell, pooling, layers=2, max_tokens=40,
                         decision={"bias": [0.3, -0.2, 0.0, 0.1]})
    fast = NumpyClassifier.load(folder)
    assert classifier_tensors(fast.config, fast.head) == {name: tuple(t.shape) for name, t in model.state_dict().items()}
    expected = class_probabilities(load_classifier(folder), TEXTS).numpy()
    got = fast.probabilities(TEXTS)
    assert got.shape == (len(TEXTS), 4)
    np.testing.assert_allclose(got, expected, atol=2e-6)
    for ours, theirs in zip(predict(fast, TEXTS), predict(load_classifier(folder), TEXTS), strict=True):
        assert ours["label"] == theirs["label"] and ours["expected"] == pytest.approx(theirs["expected"], abs=1e-5)
        assert ours["probabilities"] == pytest.approx(theirs["probabilities"], abs=2e-6)


def test_bfloat16_weights_decode_as_torch_reads_them(tmp_path, sentencepiece_tokenizer):
    folder, _ = save(tmp_path / "clf", sentencepiece_tokenizer, pooling="concat")
    export_model(folder, tmp_path / "bf16", dtype="bfloat16")
    assert json.loads((tmp_path / "bf16" / "textgen.json").read_text())["weights_dtype"] == "bfloat16"
    np.testing.assert_allclose(NumpyClassifier.load(tmp_path / "bf16").probabilities(TEXTS),
                               class_probabilities(load_classifier(tmp_path / "bf16"), TEXTS).numpy(), atol=2e-6)


def test_a_peephole_layer_is_left_to_torch(tmp_path, sentencepiece_tokenizer):
    folder, _ = save(tmp_path / "clf", sentencepiece_tokenizer, cell="peephole")
    assert NumpyClassifier.load(folder) is None


def test_a_damaged_directory_is_refused_as_load_classifier_refuses_it(tmp_path, sentencepiece_tokenizer):
    folder, _ = save(tmp_path / "clf", sentencepiece_tokenizer)
    weights = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(weights[:-4] + b"\x00\x00\xc0\x7f")  # the last value NaN: the hash fails first
    for loader in (NumpyClassifier.load, load_classifier):
        with pytest.raises(TextgenError, match="does not match the hash recorded in textgen.json"):
            loader(folder)
    meta = json.loads((folder / "textgen.json").read_text())
    meta["model"]["hidden_size"] = 13  # a description the weights do not fit (hash of the weights made to match)
    import hashlib

    meta["files"]["model.safetensors"] = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    (folder / "textgen.json").write_text(json.dumps(meta))
    for loader in (NumpyClassifier.load, load_classifier):
        with pytest.raises(TextgenError, match="does not fit the model in textgen.json"):
            loader(folder)


def test_nan_weights_are_refused(tmp_path, sentencepiece_tokenizer):
    folder, model = save(tmp_path / "clf", sentencepiece_tokenizer)
    with torch.no_grad():
        model.head.bias[0] = float("nan")
    save_classifier_dir(folder, model, sentencepiece_tokenizer, LABELS, {})
    with pytest.raises(TextgenError, match="NaN or infinite values in head.bias"):
        NumpyClassifier.load(folder)


def test_a_language_model_directory_is_refused(tmp_path, sentencepiece_tokenizer):
    from textgen.modeldir.store import save_model_dir
    from textgen.model import LanguageModel

    save_model_dir(tmp_path / "lm", LanguageModel(ModelConfig(vocab_size=sentencepiece_tokenizer.vocab_size, embed_dim=8,
                                                              hidden_size=8)), sentencepiece_tokenizer, {})
    with pytest.raises(TextgenError, match="is a language model, not a classifier"):
        NumpyClassifier.load(tmp_path / "lm")


def test_classify_predict_runs_without_importing_torch(tmp_path, sentencepiece_tokenizer):
    folder, _ = save(tmp_path / "clf", sentencepiece_tokenizer)
    code = ("import runpy, sys\n"
            "sys.argv = ['textgen', 'classify', 'predict', sys.argv[1], 'Great taffy!', '--json']\n"
            "try:\n    runpy.run_module('textgen.cli', run_name='__main__')\n"
            "except SystemExit as stop:\n    assert not stop.code, stop.code\n"
            "print('torch imported' if 'torch' in sys.modules else 'no torch', file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True, env=ONE_THREAD)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "no torch"
    answer = json.loads(done.stdout)
    expected = predict(load_classifier(folder), ["Great taffy!"])[0]
    assert answer["label"] == expected["label"]
    assert answer["probabilities"] == pytest.approx(expected["probabilities"], abs=1e-6)
