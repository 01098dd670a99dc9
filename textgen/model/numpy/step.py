"""`LanguageModel.step` at inference for one sequence in numpy, for float32 LSTM and RNN layers on
the CPU, with the cells' equations of textgen.model.numpy.cells.

At batch 1 a generation step is a few matrix-vector products and a dozen elementwise calls on
vectors of a few hundred values, so its time is the products' speed plus per-call overhead. On
this project's CPU (an AMD EPYC; torch's CPU build multiplies with MKL) numpy's OpenBLAS product
of one row takes 57 us where torch's addmm takes 80 (1 x 1536 x 384), and a numpy call costs
about 1 us against torch's 3-5 (BENCHMARKS.md, generation speed). Numpy's BLAS is held to one
thread: a second one saves 25 us a product but spins between calls on the core torch's threads
need (measured: the prompt's LSTM call 69 ms instead of 3). A batch of sequences keeps torch's
step, whose MKL product of many rows is the faster one. The state goes in and comes out as torch
tensors sharing memory with the arrays, so callers see the same step as torch's.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from textgen.model.numpy.cells import lstm_update, rnn_update


def array(tensor: Tensor) -> np.ndarray:
    """The tensor's values as an array sharing its memory (in-place edits show through)."""
    return tensor.detach().numpy() if tensor.requires_grad else tensor.numpy()


_ONE_BLAS_THREAD: list = []  # threadpoolctl's limit, set once per process and kept


def one_blas_thread() -> None:
    """Hold numpy's BLAS to one thread from now on (torch's own threads are not touched)."""
    if not _ONE_BLAS_THREAD:
        from threadpoolctl import threadpool_limits

        _ONE_BLAS_THREAD.append(threadpool_limits(limits=1, user_api="blas"))


class NumpyStep:
    """One inference step of a whole model: embedding (or the first layer's input table), each
    layer's cell, the projection and the decoder. Made by `LanguageModel._step_plan` from the
    model's float32 CPU tensors, whose memory it shares, for the layers that have a fast step (LSTM, RNN)."""

    def __init__(self, model, table: Tensor | None):
        one_blas_thread()
        layers = list(model.layers)
        self.embedding = None if table is not None else array(model.embedding.weight)
        self.table = None if table is None else array(table)  # (V, blocks * H), both biases folded in
        self.layers = []  # per layer: cell, the weight its [x, h] (or, reading the table, h) is multiplied by, bias
        for index, layer in enumerate(layers):
            if index == 0 and table is not None:
                self.layers.append((layer.cell, array(layer.rnn.weight_hh_l0).T, None))
            else:
                weight, bias = layer.step_weights()  # [W_ih | W_hh] transposed, b_ih + b_hh
                self.layers.append((layer.cell, array(weight), array(bias)))
        projection = model.projection
        self.projection = None if projection is None else (array(projection.weight).T, array(projection.bias))
        self.decoder = (array(model.decoder.weight).T, array(model.decoder.bias))

    def __call__(self, token: Tensor, state: list) -> tuple[Tensor, list]:
        """Logits (B, V) for one token per sequence (B,) and the new state, as `LanguageModel.step`."""
        logits, new_state = self.arrays_step(token.numpy(), self.arrays(state))
        return torch.from_numpy(logits), [tuple(torch.from_numpy(s) for s in layer) for layer in new_state]

    @staticmethod
    def arrays(state: list) -> list[tuple[np.ndarray, ...]]:
        """A model state (per layer a tuple of (B, H) tensors) as arrays sharing its memory."""
        return [tuple(array(s) for s in layer) for layer in state]

    def arrays_step(self, token, state: list[tuple[np.ndarray, ...]]) -> tuple[np.ndarray, list[tuple[np.ndarray, ...]]]:
        """The step on arrays: token is the rows' ids (B,) or, for one sequence, a slice of one id
        (`slice(id, id + 1)`: indexing by a slice makes no array); logits (B, V) and the new state.
        Generation of one story keeps its state in arrays and calls this directly, with no torch call
        in the loop."""
        x, new_state = token, []
        for index, ((cell, weight, bias), layer_state) in enumerate(zip(self.layers, state)):
            h = layer_state[0]
            if bias is None:  # the first layer reads its token's row of the input table
                z = h @ weight
                z += self.table[x]
            else:
                x = self.embedding[x] if index == 0 else x
                z = np.concatenate([x, h], axis=1) @ weight
                z += bias
            if cell == "lstm":
                x, c = lstm_update(z, layer_state[1])
                new_state.append((x, c))
            else:
                x = rnn_update(z)
                new_state.append((x,))
        if self.projection is not None:
            x = x @ self.projection[0]
            x += self.projection[1]
        logits = x @ self.decoder[0]
        logits += self.decoder[1]
        return logits, new_state
