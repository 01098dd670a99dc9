"""A classifier's forward pass in numpy, for `textgen classify predict`: the whole process answers
in under 2 s on a laptop CPU only without torch, whose import alone takes 1.3-2.2 s there.

It reads the same model directory as `load_classifier` with the same checks (textgen.json's
schema, every file against its hash, the tokenizer's size, each tensor's name, shape and type,
NaN), and runs the same network: embedding, the recurrent layers (LSTM, GRU or plain RNN with
torch's equations and gate order), the pooling, the head and the decision offsets tuned on
validation. The cells' equations are textgen.model.numpy.cells'; the description, the hashes and
the tensors are read by textgen.modeldir.schema. tests/classify/test_numpy_forward.py checks it
against the torch network. A peephole layer is not written here: `load` returns None and the
caller uses torch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from textgen.classify.data import Labels, encode_text
from textgen.errors import TextgenError
from textgen.model.config import ClassifierConfig, ModelConfig
from textgen.model.numpy.cells import gru_update, lstm_update, rnn_update
from textgen.modeldir.names import META_FILE, MODEL_FILE
from textgen.modeldir.schema import (
    classifier_description,
    classifier_tensors,
    decision_offsets,
    read_checked_files,
    safetensors_arrays,
    shape_problems,
)

CELLS = ("lstm", "gru", "rnn")  # the cells written here (peephole: torch)


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
        weights = safetensors_arrays(data, declared, path / MODEL_FILE)
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
                if self.config.cell == "gru":
                    h = gru_update(projected[t], h @ recurrent + b_hh, h)
                elif self.config.cell == "lstm":
                    h, c = lstm_update(projected[t] + h @ recurrent + b_hh, c)
                else:
                    h = rnn_update(projected[t] + h @ recurrent + b_hh)
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
