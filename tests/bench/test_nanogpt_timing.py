"""How benchmarks/nanogpt_peer.py sizes nanoGPT's run to the budget: a timing run of train.py stopped
once its iterations have taken a share of the budget, and the sizing from what it printed. A stand-in
train.py (no torch) prints iterations as nanoGPT's does, each claiming more time than it takes."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import nanogpt_peer  # noqa: E402


def test_timing_seconds_is_a_share_of_the_budget_within_its_bounds():
    assert nanogpt_peer.timing_seconds(60) == nanogpt_peer.TIMING_LEAST
    assert nanogpt_peer.timing_seconds(1200) == pytest.approx(24.0)
    assert nanogpt_peer.timing_seconds(36000) == nanogpt_peer.TIMING_MOST


def test_measure_separates_plain_iterations_from_evaluations():
    times = {index: 0.05 for index in range(0, 121)}
    times[0] = 3.0  # the first iteration and its unsaved evaluation: warm-up, not counted
    times[40] = times[80] = times[120] = 0.95
    times[7] = 0.11  # a slow plain iteration counts in the mean, as it does in the real run
    measured = nanogpt_peer.measure(times, 40)
    plain = 121 - nanogpt_peer.WARM_UP - 3
    assert measured["iterations_timed"] == plain
    assert measured["seconds_per_iteration"] == pytest.approx((0.05 * (plain - 1) + 0.11) / plain)
    assert measured["seconds_per_eval"] == pytest.approx(0.95 - measured["seconds_per_iteration"])


def test_measure_without_an_evaluation_is_an_error():
    with pytest.raises(RuntimeError, match="no evaluated iteration"):
        nanogpt_peer.measure({index: 0.05 for index in range(0, 30)}, 40)


def fake_checkout(path: Path, plain_ms: float, eval_ms: float) -> Path:
    """A train.py that prints nanoGPT's iteration lines, claiming `plain_ms` a plain iteration and
    `eval_ms` one at a multiple of its --eval_interval, and sleeping a tenth of that."""
    path.mkdir()
    (path / "train.py").write_text(textwrap.dedent(f"""
        import sys, time
        every = int([arg for arg in sys.argv if arg.startswith("--eval_interval=")][0].split("=")[1])
        for index in range(10**6):
            claimed = {eval_ms} if index % every == 0 else {plain_ms}
            time.sleep(claimed / 10000)
            if index % every == 0:
                print(f"step {{index}}: train loss 2.0, val loss 2.1", flush=True)
            print(f"iter {{index}}: loss 2.0, time {{claimed:.2f}}ms, mfu 1.00%", flush=True)
        """))
    return path


def test_timing_run_stops_after_its_share_and_sizes_the_iterations(tmp_path):
    checkout = fake_checkout(tmp_path / "checkout", plain_ms=80.0, eval_ms=1000.0)
    measured = nanogpt_peer.timing(checkout, tmp_path / "data", tmp_path, 1200.0)
    assert measured["seconds_per_iteration"] == pytest.approx(0.080)
    assert measured["seconds_per_eval"] == pytest.approx(0.920)
    # 24 s of iterations at 80 ms: 300 plain ones, and the run stopped within a poll (0.5 s) after
    assert 300 <= measured["iterations_timed"] <= 400
    max_iters, interval = nanogpt_peer.size_iterations(1200.0, measured["seconds_per_iteration"],
                                                       measured["seconds_per_eval"])
    planned = (max_iters + 1) * 0.080 + (max_iters // interval + 1) * 0.920
    assert 1190 <= planned <= 1200
    assert max_iters % interval == 0


def test_timing_run_that_never_evaluates_fails_in_one_line(tmp_path):
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / "train.py").write_text("print('Traceback: no such dataset')\n")
    with pytest.raises(RuntimeError, match="the timing run of train.py failed: Traceback: no such dataset"):
        nanogpt_peer.timing(checkout, tmp_path / "data", tmp_path, 300.0)
