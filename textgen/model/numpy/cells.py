"""The recurrent cells' step equations in numpy, in torch's gate order, for the two paths that run
without torch's per-call overhead: `classify predict` (no torch at all: textgen.classify.numpy_forward)
and a language model's inference step (textgen.model.numpy.step). The one home of these equations
outside torch. Torch-free: importing this never imports torch."""

from __future__ import annotations

import numpy as np


def sigmoid(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """0.5 (tanh(x / 2) + 1): no overflow warning for large negative x. `out` may be x itself."""
    out = np.multiply(x, 0.5, out=out)
    np.tanh(out, out=out)
    out += 1.0
    out *= 0.5
    return out


def lstm_update(z: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An LSTM's new STM h and LTM c (..., H) from its pre-activations z (..., 4H) = W_ih x + W_hh h +
    biases, blocks ignore i, forget f, learn N, use V, and its LTM c. Overwrites z."""
    size = c.shape[-1]
    learn = np.tanh(z[..., 2 * size: 3 * size])  # learn gate N (the candidate)
    gates = sigmoid(z, out=z)  # i, f and V in one call (the learn block's sigmoid goes unused)
    c = gates[..., size: 2 * size] * c + gates[..., :size] * learn  # remember gate: LTM * f + N * i
    return gates[..., 3 * size:] * np.tanh(c), c  # use gate: V * tanh(new LTM)


def rnn_update(z: np.ndarray) -> np.ndarray:
    """A plain RNN's new h (..., H) from its pre-activations z = W_ih x + W_hh h + biases. Overwrites z."""
    return np.tanh(z, out=z)


def gru_update(x_part: np.ndarray, h_part: np.ndarray, h: np.ndarray) -> np.ndarray:
    """A GRU's new h (..., H) from its input's part x_part = W_ih x + b_ih and its state's part
    h_part = W_hh h + b_hh (..., 3H, blocks reset, update, new), and its h: the reset gate scales
    the state's part of the new block only, so the two parts come apart."""
    size = h.shape[-1]
    reset = sigmoid(x_part[..., :size] + h_part[..., :size])
    update = sigmoid(x_part[..., size: 2 * size] + h_part[..., size: 2 * size])
    new = np.tanh(x_part[..., 2 * size:] + reset * h_part[..., 2 * size:])
    return (1.0 - update) * new + update * h
