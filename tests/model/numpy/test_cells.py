"""textgen/model/numpy/cells.py: the numpy sigmoid and LSTM update against torch's, and no torch imported."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import torch
from tests.conftest import ONE_THREAD, REPO

from textgen.model.numpy.cells import lstm_update, sigmoid


def test_sigmoid_is_torchs_without_overflow_and_may_write_in_place():
    x = np.array([-1000.0, -30.0, -1.0, 0.0, 2.5, 1000.0], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow warning would fail here
        result = sigmoid(x.copy())
    assert np.allclose(result, torch.sigmoid(torch.from_numpy(x)).numpy(), atol=1e-7)
    out = x.copy()
    assert sigmoid(out, out=out) is out and np.allclose(out, result)


def test_the_lstm_update_is_torchs_lstm_cell():
    torch.manual_seed(2)
    cell = torch.nn.LSTMCell(5, 4)
    x, h, c = torch.randn(3, 5), torch.randn(3, 4), torch.randn(3, 4)
    with torch.no_grad():
        expected_h, expected_c = cell(x, (h, c))
        z = (x @ cell.weight_ih.T + cell.bias_ih + h @ cell.weight_hh.T + cell.bias_hh).numpy().copy()
    new_h, new_c = lstm_update(z, c.numpy())
    assert np.allclose(new_h, expected_h.numpy(), atol=1e-6) and np.allclose(new_c, expected_c.numpy(), atol=1e-6)


def test_importing_the_cells_imports_no_torch():
    code = "import sys, textgen.model.numpy.cells; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=ONE_THREAD, capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["False"], done.stderr
