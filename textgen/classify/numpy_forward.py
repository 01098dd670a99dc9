"""A classifier's forward pass in numpy, for `textgen classify predict`: the whole process answers
in under 2 s on a laptop CPU only without torch, whose import alone takes 1.3-2.2 s there.

It reads the same model directory as `load_classifier` with the same checks (textgen.json's
schema, every file against its hash, the tokenizer's size, each tensor's name, shape and type,
NaN), and runs the same network: embedding, the recurrent layers (LSTM, GRU or plain RNN with
torch's equations and gate order), the pooling, the head and the decision offsets tuned on
validation. tests/classify/test_numpy_forward.py checks it against the torch network. A peephole
layer is not written here: `load` returns None and the caller uses torch.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from textgen.classify.data import Labels, encode_text
from textgen.model.config import CELL_BLOCKS, ClassifierConfig, ModelConfig
from textgen.errors import TextgenError
from textgen.modeldir.layout import META_FILE, MODEL_FILE
from textgen.modeldir.schema import read_checked_files, read_metadata, resolve_model_path, shape_problems
from textgen.model.numpy.cells import lstm_update, sigmoid

CELLS = ("lstm", "gru", "rnn")  # the cells written here (peephole: torch)
CLASSIFIER = "classifier"  # textgen.json's "task" of a classifier


def classifier_tensors(config: ModelConfig, head: ClassifierConfig) -> dict[str, tuple[int, ...]]:
    """The tensors a classifier of these settings stores, by name, with their shapes
    (textgen.model.classifier.Classifier's state dict for the cells above)."""
    blocks, hidden = CELL_BLOCKS[config.cell], config.hidden_size
    shapes: dict[str, tuple[int, ...]] = {"embedding.weight": (config.vocab_size, config.embed_dim)}
    for index in range(config.num_layers):
        width = config.embed_dim if index == 0 else hidden
        shapes.update({f"layers.{index}.rnn.weight_ih_l0": (blocks * hidden, width),
                       f"layers.{index}.rnn.weight_hh_l0": (blocks * hidden, hidden),
                       f"layers.{index}.rnn.bias_ih_l0": (blocks * hidden,),
                       f"layers.{index}.rnn.bias_hh_l0": (blocks * hidden,)})
    if head.pooling == "attention":
        shapes.update({"attention.weight": (1, hidden), "attention.bias": (1,)})
    pooled = hidden * (3 if head.pooling == "concat" else 1)
    shapes.update({"head.weight": (head.num_classes, pooled), "head.bias": (head.num_classes,)})
    return shapes


def decode_tensors(data: bytes, declared: dict, source: Path) -> dict[str, np.ndarray]:
    """The safetensors file's tensors as float32 arrays (bfloat16 is float32's upper half)."""
    start = 8 + int.from_bytes(data[:8], "little")
    header = json.loads(data[8:start])
    tensors = {}
    for name, (dtype, shape) in declared.items():
        begin, end = (start + offset for offset in header[name]["data_offsets"])
        raw = data[begin:end]
        if dtype == "F32":
            array = np.frombuffer(raw, dtype="<f4")
        elif dtype == "F16":
            array = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        else:  # BF16
            array = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        if array.size != int(np.prod(shape)):
            raise TextgenError(f"{source} is not a valid safetensors file ({name} holds {array.size:,} values "
                               f"for a shape of {tuple(shape)}): export the model again")
        tensors[name] = array.reshape(shape).astype(np.float32, copy=False)
    return tensors


def classifier_description(path: str | os.PathLike) -> tuple[Path, dict, ModelConfig, ClassifierConfig, Labels]:
    """A classifier directory's path (a shipped name resolved), textgen.json, model and head settings
    and labels, checked: what both loaders (torch's and numpy's) read before the weights."""
    path = resolve_model_path(path)
    meta = read_metadata(path)
    if meta.get("task") != CLASSIFIER:
        raise TextgenError(f"{path} is a language model, not a classifier: give a classifier's model directory")
    try:
        config = ModelConfig.from_dict(meta["model"])
        head = ClassifierConfig.from_dict(meta["classifier"])
        labels = Labels.from_dict(meta["labels"])
    except (TextgenError, KeyError, TypeError, ValueError) as error:
        raise TextgenError(f"{path / META_FILE}: the classifier's description is broken ({error}); train it again") from None
    if len(labels.names) != head.num_classes:
        raise TextgenError(f"{path / META_FILE}: {len(labels.names)} labels for {head.num_classes} classes; train it again")
    return path, meta, config, head, labels


def decision_offsets(metadata: dict, classes: int) -> list[float]:
    """Per-class offsets tuned on the validation set for macro-F1 (zeros when none were tuned)."""
    return (metadata.get("decision") or {}).get("bias") or [0.0] * classes


@dataclass
class NumpyClassifier:
    """A classifier directory's network as numpy arrays, with its tokenizer and labels."""

    config: ModelConfig
    head: ClassifierConfig
    labels: Labels
    tokenizer: object
    weights: dict[str, np.ndarray]
    metadata: dict = field(default_factory=dict)
    path: Path | None = None

    @classmethod
    def load(cls, path: str | os.PathLike) -> NumpyClassifier | None:
        """The classifier at `path` (or None for a cell not written here), with load_classifier's checks."""
        path, meta, config, head, labels = classifier_description(path)
        if config.cell not in CELLS:
            return None
        data, tokenizer, declared = read_checked_files(path, meta, config.vocab_size, config.parameter_count())
        problems = shape_problems(declared, classifier_tensors(config, head))
        if problems:
            raise TextgenError(f"{path / MODEL_FILE} does not fit the model in {META_FILE}: {'; '.join(problems[:3])}")
        try:
            weights = decode_tensors(data, declared, path / MODEL_FILE)
        except (KeyError, TypeError, ValueError) as error:
            raise TextgenError(f"{path / MODEL_FILE} is not a valid safetensors file ({error})") from None
        broken = sorted(name for name, array in weights.items() if not np.isfinite(array).all())
        if broken:
            raise TextgenError(f"{path / MODEL_FILE} has NaN or infinite values in {', '.join(broken[:3])}: the weights are "
                               "damaged; use an earlier checkpoint or train again")
        return cls(config, head, labels, tokenizer, weights, meta, path)

    @property
    def decision_bias(self) -> np.ndarray:
        return np.asarray(decision_offsets(self.metadata, len(self.labels.names)), dtype=np.float32)

    def states(self, ids: list[int]) -> np.ndarray:
        """The last layer's outputs (T, H) over one text's token ids."""
        x = self.weights["embedding.weight"][np.asarray(ids, dtype=np.int64)]
        hidden = self.config.hidden_size
        for index in range(self.config.num_layers):
            prefix = f"layers.{index}.rnn."
            w_ih, w_hh = self.weights[prefix + "weight_ih_l0"], self.weights[prefix + "weight_hh_l0"]
            b_ih, b_hh = self.weights[prefix + "bias_ih_l0"], self.weights[prefix + "bias_hh_l0"]
            projected = x @ w_ih.T + b_ih  # every position's input part at once (T, blocks * H)
            recurrent = np.ascontiguousarray(w_hh.T)
            h = np.zeros(hidden, dtype=np.float32)
            c = np.zeros(hidden, dtype=np.float32)
            outputs = np.empty((len(ids), hidden), dtype=np.float32)
            for t in range(len(ids)):
                if self.config.cell == "lstm":  # torch's gate order: ignore (input), forget, learn (candidate), use (output)
                    h, c = lstm_update(projected[t] + h @ recurrent + b_hh, c)
                elif self.config.cell == "gru":  # reset, update, new
                    part = h @ recurrent + b_hh
                    reset = sigmoid(projected[t, :hidden] + part[:hidden])
                    update = sigmoid(projected[t, hidden: 2 * hidden] + part[hidden: 2 * hidden])
                    new = np.tanh(projected[t, 2 * hidden:] + reset * part[2 * hidden:])
                    h = (1.0 - update) * new + update * h
                else:
                    h = np.tanh(projected[t] + h @ recurrent + b_hh)
                outputs[t] = h
            x = outputs
        return x

    def pool(self, outputs: np.ndarray) -> np.ndarray:
        pooling = self.head.pooling
        if pooling == "last":
            return outputs[-1]
        if pooling == "mean":
            return outputs.mean(axis=0)
        if pooling == "max":
            return outputs.max(axis=0)
        if pooling == "concat":
            return np.concatenate([outputs[-1], outputs.max(axis=0), outputs.mean(axis=0)])
        scores = outputs @ self.weights["attention.weight"][0] + self.weights["attention.bias"][0]
        weights = np.exp(scores - scores.max())
        return (weights / weights.sum()) @ outputs

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """(N, K) probabilities of every class for each text, as class_probabilities gives them."""
        limit, offsets = self.head.max_tokens, self.decision_bias
        out = np.zeros((len(texts), len(self.labels.names)), dtype=np.float32)
        for row, text in enumerate(texts):
            pooled = self.pool(self.states(encode_text(self.tokenizer, text)[:limit]))
            scores = pooled @ self.weights["head.weight"].T + self.weights["head.bias"] + offsets
            exp = np.exp(scores - scores.max())
            out[row] = exp / exp.sum()
        return out
