"""textgen/model/numpy/cells.py: one step of each cell in numpy equals torch's cell of the same
weights (torch's gate order), for the classifier's numpy forward pass and the generation step."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from tests.conftest import REPO
from textgen.model.numpy.cells import gru_update, lstm_update, rnn_update, sigmoid


@pytest.mark.parametrize("batch", [(), (3,)])
def test_each_cell_steps_as_torch_does(batch):
    torch.manual_seed(1)
    size, width = 5, 4
    x, h, c = torch.randn(*batch, width), torch.randn(*batch, size), torch.randn(*batch, size)
    lstm, gru, rnn = torch.nn.LSTMCell(width, size), torch.nn.GRUCell(width, size), torch.nn.RNNCell(width, size)

    def parts(cell):
        with torch.no_grad():
            return ((x @ cell.weight_ih.T + cell.bias_ih).numpy(), (h @ cell.weight_hh.T + cell.bias_hh).numpy())

    with torch.no_grad():
        want_h, want_c = lstm(x, (h, c))
        x_part, h_part = parts(lstm)
        got_h, got_c = lstm_update(x_part + h_part, c.numpy().copy())
        np.testing.assert_allclose(got_h, want_h.numpy(), atol=1e-6)
        np.testing.assert_allclose(got_c, want_c.numpy(), atol=1e-6)
        x_part, h_part = parts(gru)
        np.testing.assert_allclose(gru_update(x_part, h_part, h.numpy()), gru(x, h).numpy(), atol=1e-6)
        x_part, h_part = parts(rnn)
        np.testing.assert_allclose(rnn_update(x_part + h_part), rnn(x, h).numpy(), atol=1e-6)


def test_sigmoid_needs_no_exp_and_writes_in_place():
    x = np.array([-1000.0, -2.0, 0.0, 3.0, 1000.0], dtype=np.float32)
    expected = 1 / (1 + np.exp(-x.astype(np.float64)))
    with np.errstate(all="raise"):  # no overflow warning for large negative x
        np.testing.assert_allclose(sigmoid(x), expected, atol=1e-6)
        assert sigmoid(x, out=x) is x
    np.testing.assert_allclose(x, expected, atol=1e-6)


def test_the_numpy_cells_import_no_torch():
    code = "import sys, textgen.model.numpy.cells; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert result.stdout.strip() == "False"
