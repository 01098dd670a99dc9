"""textgen/explorer/work.py beyond one thread's read (tests/explorer/test_budget.py has that): works in
several threads are counted together, a nested block's check is the innermost and the outer one comes back,
and each thread sees its own check."""

from __future__ import annotations

import threading

import pytest
import torch

from textgen.explorer.work import Work, watch
from textgen.model import LanguageModel
from textgen.model.config import ModelConfig


class Stopped(Exception):
    pass


def test_works_in_several_threads_are_counted_together():
    work, inside, leave = Work(), threading.Barrier(4), threading.Event()

    def job() -> None:
        with work.inside(lambda: None):
            inside.wait(10)
            leave.wait(10)

    threads = [threading.Thread(target=job) for _ in range(3)]
    for thread in threads:
        thread.start()
    inside.wait(10)
    assert work.running == 3
    leave.set()
    for thread in threads:
        thread.join(10)
    assert work.running == 0


def test_the_innermost_check_runs_and_the_outer_one_comes_back():
    model = LanguageModel(ModelConfig(vocab_size=20, embed_dim=4, hidden_size=8)).eval()
    watch(model)
    tokens = torch.randint(5, 20, (1, 4))
    work, calls = Work(), []
    with torch.no_grad(), work.inside(lambda: calls.append("outer")):
        with work.inside(lambda: calls.append("inner")):
            assert work.running == 2
            model(tokens)
        inner = len(calls)
        model(tokens)
    assert set(calls[:inner]) == {"inner"} and set(calls[inner:]) == {"outer"} and inner == len(calls) - inner > 0
    assert work.running == 0


def test_a_raising_check_leaves_the_count_right_and_other_threads_unchecked():
    model = LanguageModel(ModelConfig(vocab_size=20, embed_dim=4, hidden_size=8)).eval()
    watch(model)
    tokens = torch.randint(5, 20, (1, 4))
    work, other = Work(), []

    def stop() -> None:
        raise Stopped

    with torch.no_grad():
        with pytest.raises(Stopped), work.inside(stop):
            thread = threading.Thread(target=lambda: other.append(model(tokens)[0].shape))
            thread.start()
            thread.join(10)
            model(tokens)
    assert work.running == 0 and len(other) == 1  # the other thread's read ran to its end
