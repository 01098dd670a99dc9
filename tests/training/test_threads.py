"""The threads torch computes with, chosen by how busy the machine is (textgen/training/threads.py)."""

from __future__ import annotations

import os

import pytest
import torch

from textgen.training import threads


def test_threads_follow_the_idle_cores(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    try:
        torch.set_num_threads(2)
        monkeypatch.setattr(threads, "idle_cores", lambda seconds=0.25: 0.7)
        assert threads.choose_threads() == (1, "1 of 2 cores are busy with other work")
        assert torch.get_num_threads() == 1
        torch.set_num_threads(2)
        monkeypatch.setattr(threads, "idle_cores", lambda seconds=0.25: 2.0)
        assert threads.choose_threads() == (2, "the cores are idle") and torch.get_num_threads() == 2
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        monkeypatch.setattr(threads, "idle_cores", lambda seconds=0.25: 0.0)
        assert threads.choose_threads() == (2, "OMP_NUM_THREADS") and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_idle_cores_reads_the_machine(monkeypatch):
    """The idle share of the time between two readings of /proc/stat, times the cores; a clock that did not
    move gives no answer; the real file gives a number of cores in range."""
    idle = threads.idle_cores(0.05)
    assert idle is not None
    assert 0.0 <= idle <= (os.cpu_count() or 1)
    readings = iter([(100, 400), (130, 500)])  # 30 of 100 ticks idle
    monkeypatch.setattr(threads, "_cpu_times", lambda: next(readings))
    assert threads.idle_cores(0.0) == pytest.approx(0.3 * (os.cpu_count() or 1))
    readings = iter([(100, 400), (100, 400)])
    monkeypatch.setattr(threads, "_cpu_times", lambda: next(readings))
    assert threads.idle_cores(0.0) is None
