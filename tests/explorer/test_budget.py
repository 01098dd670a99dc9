"""textgen/explorer/budget.py: a model's turns go in order of arrival, a long job gives way to the
requests waiting, waiting has a limit in time and in numbers, and a stopping server ends waits."""

from __future__ import annotations

import threading
import time

import pytest

from textgen.explorer import budget
from textgen.explorer.budget import Busy, Deadline, ModelTurns, OverBudget, Stopped, check_gates, check_tokens


def wait_until(condition, seconds: float = 5.0) -> None:
    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end
        time.sleep(0.001)


def test_turns_go_in_order_of_arrival():
    turns, order = ModelTurns("m", max_waiting=10), []
    first = turns.take()

    def request(number: int) -> None:
        with turns.take(wait=10):
            order.append(number)

    threads = []
    for number in range(5):
        threads.append(threading.Thread(target=request, args=(number,)))
        threads[-1].start()
        wait_until(lambda: turns.waiting == number + 1)  # each is in line before the next comes
    first.end()
    for thread in threads:
        thread.join(10)
    assert order == [0, 1, 2, 3, 4]


def test_a_long_job_gives_way_to_a_waiting_request_and_takes_its_turn_back(monkeypatch):
    monkeypatch.setattr(budget, "TURN_SLICE", 0.01)
    turns = ModelTurns("m")
    job = turns.take()
    served = threading.Event()

    def request() -> None:
        with turns.take(wait=10):
            served.set()

    thread = threading.Thread(target=request)
    thread.start()
    wait_until(lambda: turns.waiting == 1)
    job.give_way()  # within the slice: the job keeps its turn
    assert not served.is_set() and job.held
    time.sleep(0.02)
    job.give_way()  # held past the slice, someone waits: they go first
    assert served.is_set() and job.held and turns.waiting == 0
    thread.join(5)
    job.give_way()  # nobody waits: nothing happens
    assert job.held
    job.end()
    assert turns.acquire(blocking=False)


def test_waiting_has_a_limit_in_time_and_in_numbers():
    turns = ModelTurns("m", max_waiting=1)
    held = turns.take()
    start = time.monotonic()
    with pytest.raises(Busy, match="has been busy for 0.2 s; try again"):
        turns.take(wait=0.2)
    assert 0.15 < time.monotonic() - start < 1.5
    def wait_in_line() -> None:
        with turns.take(wait=10):
            pass

    waiter = threading.Thread(target=wait_in_line)
    waiter.start()
    wait_until(lambda: turns.waiting == 1)
    start = time.monotonic()
    with pytest.raises(Busy, match="1 requests are waiting for it"):
        turns.take(wait=10)
    assert time.monotonic() - start < 0.1  # refused at once, not after waiting
    held.end()
    waiter.join(5)
    assert not waiter.is_alive() and turns.acquire(blocking=False)  # the waiter had its turn and gave it back


def test_a_stopping_server_ends_every_wait():
    stopping = threading.Event()
    turns = ModelTurns("m", stopping=stopping)
    held = turns.take()
    outcome = {}

    def request() -> None:
        try:
            turns.take(wait=30)
        except Stopped:
            outcome["stopped"] = time.monotonic()

    thread = threading.Thread(target=request)
    thread.start()
    wait_until(lambda: turns.waiting == 1)
    stopped_at = time.monotonic()
    stopping.set()
    thread.join(5)
    assert outcome["stopped"] - stopped_at < 0.5
    held.end()


def test_no_work_takes_a_model_once_the_server_is_stopping():
    """A request next in line when the model comes free after the stop was given it and began its
    work (a prompt read the interpreter's exit then met): a stopping server gives no turn."""
    stopping = threading.Event()
    turns = ModelTurns("m", stopping=stopping)
    stopping.set()
    assert not turns.acquire(timeout=1) and not turns.acquire(blocking=False)
    with pytest.raises(Stopped):
        turns.take()
    with pytest.raises(Stopped), turns:
        pass


def test_deadline_and_limits_name_the_limit():
    deadline = Deadline(0.0, "the diagnosis")
    with pytest.raises(OverBudget, match="the diagnosis took longer than 0 s"):
        deadline.check()
    with pytest.raises(Stopped):
        Deadline(60, "x", stop=lambda: True).check()
    check_tokens(budget.MAX_TOKENS, "text")
    with pytest.raises(OverBudget, match="text has 9,000 tokens; this server reads at most 2,048 per request"):
        check_tokens(9_000, "text")
    check_gates(2_048, 48, 3)  # the page's defaults fit at the token limit
    with pytest.raises(OverBudget, match="ask for heatmap_units 195"):
        check_gates(512, 512, 3)


def test_the_largest_body_holds_the_longest_text_as_json_writes_it():
    import json

    longest = json.dumps({"model": "m" * 200, "prompt": "\U0001F600" * budget.MAX_TEXT, "max_tokens": 1000,
                          "temperature": 0.123456789, "top_k": 1_000_000, "cache": True, "seed": 2**32 - 1})
    assert len(longest.encode()) <= budget.MAX_BODY_BYTES < 2 * len(longest.encode())


def test_model_work_is_counted_and_stops_at_the_models_next_chunk():
    """Work.inside counts the thread's work and calls its check before each chunk's embedding and
    recurrent layer (a 3,000-token read is three chunks of at most 1,024): a check that raises ends
    the read there; outside the block the model runs unchecked."""
    import torch

    from textgen.model.config import ModelConfig
    from textgen.explorer.work import Work, watch
    from textgen.model import LanguageModel

    model = LanguageModel(ModelConfig(vocab_size=50, embed_dim=8, hidden_size=16)).eval()
    watch(model)
    watch(model)  # once per module, however many apps serve the model
    work, checks = Work(), []

    def check() -> None:
        checks.append(work.running)
        if len(checks) == 3:  # the second chunk's embedding
            raise Stopped

    tokens = torch.randint(5, 50, (1, 3000))
    with torch.no_grad(), pytest.raises(Stopped), work.inside(check):
        model.read(tokens)
    assert checks == [1, 1, 1] and work.running == 0
    with torch.no_grad():
        model.read(tokens)
    assert len(checks) == 3
