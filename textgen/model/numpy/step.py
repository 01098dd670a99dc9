"""`LanguageModel.step` at inference for one sequence in numpy, for float32 LSTM and RNN layers on
the CPU, with the cells' equations of textgen.model.numpy.cells.

At batch 1 a generation step is a few matrix-vector products and a dozen elementwise calls on
vectors of a few hundred values, so its time is the products' speed plus per-call overhead. On
this project's CPU (an AMD EPYC; torch's CPU build multiplies with MKL) numpy's OpenBLAS product
of one row takes 57 us where torch's addmm takes 80 (1 x 1536 x 384), and a numpy call costs
about 1 us against torch's 3-5 (BENCHMARKS.md, generation speed). Beside torch, numpy's BLAS is
held to one thread; without torch (the default `generate`) its thread count is measured. A batch of sequences keeps torch's
step, whose MKL product of many rows is the faster one. The state goes in and comes out as torch
tensors sharing memory with the arrays, so callers see the same step as torch's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from textgen.model.numpy.cells import lstm_update, rnn_update

if TYPE_CHECKING:
    from torch import Tensor


def array(tensor: Tensor) -> np.ndarray:
    """The tensor's values as an array sharing its memory (in-place edits show through)."""
    return tensor.detach().numpy() if tensor.requires_grad else tensor.numpy()


INPUT_TABLE_BYTES = 32 * 2**20  # the largest first-layer input table a generation step reads from
READ_BY_STEPS = 64  # LanguageModel.read takes one sequence's text up to this many tokens a step at a time
_BLAS_THREADS: list[int] = []  # the thread count numpy's BLAS is held to in this process, once one is set


def blas_threads(count: int = 1) -> None:
    """Hold numpy's BLAS to `count` threads from now on (torch's own threads are not touched). Beside
    torch one: a second thread saves 25 us a product but spins between calls on the core torch's
    threads need (measured: the prompt's LSTM call 69 ms instead of 3). Without torch the count is
    measured (textgen.model.numpy.language_model.choose_blas_threads). The count does not change
    the numbers: OpenBLAS splits a product by its outputs, never along a sum."""
    if _BLAS_THREADS[:1] != [count]:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=count, user_api="blas")
        _BLAS_THREADS[:] = [count]


def input_table(embedding: np.ndarray, w_ih: np.ndarray, b_ih: np.ndarray, b_hh: np.ndarray) -> np.ndarray:
    """Every token's input projection W_ih e + b_ih + b_hh, (V, blocks * H), for a first layer fed by
    `embedding` (V, I): a step reads one row of it instead of all of W_ih. Computed here for both
    paths (torch's step plan takes this array too), so a story's numbers do not depend on whether
    torch was loaded."""
    table = embedding @ w_ih.T
    table += b_ih + b_hh
    return table


def step_weights(w_ih: np.ndarray, w_hh: np.ndarray, b_ih: np.ndarray, b_hh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[W_ih | W_hh] transposed (I + H, blocks * H) and b_ih + b_hh, as a step multiplies [x, h] by them."""
    return np.ascontiguousarray(np.concatenate([w_ih, w_hh], axis=1).T), b_ih + b_hh


class NumpyStep:
    """One inference step of a whole model: embedding (or the first layer's input table), each
    layer's cell, the projection and the decoder, on float32 arrays. Made from a torch model's CPU
    tensors by `from_model` (LanguageModel._step_plan: the arrays share the tensors' memory), or
    from the weights file's arrays by textgen.model.numpy.language_model (no torch at all).

    `layers`: per layer (cell, the weight its [x, h] is multiplied by, bias), or for a first layer
    that reads `table`, (cell, W_hh transposed, None)."""

    def __init__(self, embedding: np.ndarray | None, table: np.ndarray | None, layers: list[tuple],
                 projection: tuple[np.ndarray, np.ndarray] | None, decoder: tuple[np.ndarray, np.ndarray]):
        self.embedding, self.table, self.layers = embedding, table, layers
        self.projection, self.decoder = projection, decoder

    @classmethod
    def from_model(cls, model, table: Tensor | None) -> NumpyStep:
        """The step of a torch LanguageModel whose layers all have a fast step, `table` its first
        layer's input table (or None). Numpy's BLAS keeps one thread beside torch's."""
        blas_threads(1)
        layers = []
        for index, layer in enumerate(model.layers):
            if index == 0 and table is not None:
                layers.append((layer.cell, array(layer.rnn.weight_hh_l0).T, None))
            else:
                weight, bias = layer.step_weights()  # [W_ih | W_hh] transposed, b_ih + b_hh
                layers.append((layer.cell, array(weight), array(bias)))
        projection = model.projection
        return cls(None if table is not None else array(model.embedding.weight), None if table is None else array(table),
                   layers, None if projection is None else (array(projection.weight).T, array(projection.bias)),
                   (array(model.decoder.weight).T, array(model.decoder.bias)))

    def zero_state(self) -> list[tuple[np.ndarray, ...]]:
        """Zero memories for one sequence: per layer (h, c) for an LSTM, (h,) for an RNN, each (1, H)."""
        state = []
        for cell, weight, _ in self.layers:
            size = weight.shape[1] // (4 if cell == "lstm" else 1)
            zeros = np.zeros((1, size), dtype=np.float32)
            state.append((zeros, zeros.copy()) if cell == "lstm" else (zeros,))
        return state

    def __call__(self, token: Tensor, state: list) -> tuple[Tensor, list]:
        """Logits (B, V) for one token per sequence (B,) and the new state, as `LanguageModel.step`."""
        import torch

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
