"""What one request to the explorer may cost: the limits every endpoint checks before it works,
and a model's turn (`ModelTurns`), which a request holds for a bounded time.

A request's work grows with its tokens, not its characters (one accented letter can be two byte
tokens), so texts are counted in tokens after encoding. Work that cannot be cut short (next
words, gates) is bounded by its tokens; work that goes on (a generation, a diagnosis) gives its
turn to the requests waiting for the model at short intervals and has a time limit of its own.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

MAX_TEXT = 20_000  # characters of a prompt or a text to read (checked before encoding)
MAX_TOKENS = 2_048  # tokens of a text or prompt one request reads: about 1.5 s of the shipped model's CPU
MAX_NEW_TOKENS = 1_000  # tokens one generation may write
MAX_GENERATIONS = 2  # generations at once (each holds a CPU core busy)
# the largest body a request needs: MAX_TEXT characters, each at most 12 bytes as JSON writes it
# (an escaped surrogate pair, "\ud83d\ude00"), and room for the other fields
MAX_BODY_BYTES = 12 * MAX_TEXT + 16_384
MAX_HEATMAP_CELLS = 100_000  # words x heatmap units of one memory view (each is 4-5 numbers sent)
MAX_LISTED_UNITS = 20_000  # words x units listed per word by one memory view
MAX_FINDINGS = 64  # findings one diagnosis attributes (each a next-word search of the model)
DIAGNOSE_SECONDS = 10.0  # the longest diagnosis the server runs
TURN_SLICE = 0.25  # seconds a generation or diagnosis keeps the model's turn while others wait for it
TURN_WAIT = 10.0  # seconds a request waits for a model's turn before it is told 503
MAX_WAITING = 32  # requests waiting for one model's turn (each a worker thread); more are told 503 at once
SPARE_THREADS = 40  # worker threads beyond the waiting ones: the page, its files and quick refusals never wait for one


class Busy(Exception):
    """The model's turn did not come in time (or too many requests wait for it): HTTP 503."""


class OverBudget(Exception):
    """A request asks for more work than the server does for one: HTTP 422, naming the limit."""


def count(number: int) -> str:
    return f"{number:,}"


def check_tokens(tokens: int, what: str) -> None:
    """Refuse a text of more than MAX_TOKENS tokens."""
    if tokens > MAX_TOKENS:
        raise OverBudget(f"{what} has {count(tokens)} tokens; this server reads at most {count(MAX_TOKENS)} per request: "
                         f"send a shorter {what}")


def check_gates(words: int, heatmap_units: int, units: int) -> None:
    """Refuse a memory view whose heatmaps or unit lists would be larger than the limits."""
    if words * heatmap_units > MAX_HEATMAP_CELLS:
        fits = max(1, MAX_HEATMAP_CELLS // max(1, words))
        raise OverBudget(f"heatmap_units {heatmap_units} over {count(words)} words is {count(words * heatmap_units)} cells; "
                         f"this server sends at most {count(MAX_HEATMAP_CELLS)}: ask for heatmap_units {fits} or a shorter text")
    if words * units > MAX_LISTED_UNITS:
        fits = max(1, MAX_LISTED_UNITS // max(1, words))
        raise OverBudget(f"units {units} over {count(words)} words lists {count(words * units)} units; this server lists "
                         f"at most {count(MAX_LISTED_UNITS)}: ask for units {fits} or a shorter text")


class ModelTurns:
    """One model's turns, first come first served. `take` waits at most `wait` seconds and
    refuses at once when MAX_WAITING requests already wait (Busy); the holder of a long job
    calls `Turn.give_way` between small pieces of it, which lets the waiting requests go first.

    Interleaving is safe: a request keeps its own recurrent state, and the model's parameters
    and step plan are only read at inference (the plan is rebuilt into a new object when a
    weight changes, never edited in place). The turns bound how long the others wait."""

    def __init__(self, name: str, max_waiting: int = MAX_WAITING, stopping: threading.Event | None = None):
        self.name, self.max_waiting = name, max_waiting
        self.stopping = stopping or threading.Event()  # set: nobody waits any longer (the server is stopping)
        self._condition = threading.Condition()
        self._queue: deque[object] = deque()
        self._held = False

    @property
    def waiting(self) -> int:
        return len(self._queue)

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """As threading.Lock.acquire, in order of arrival; False at once when the server is stopping."""
        me = object()
        end = None if timeout is None or timeout < 0 else time.monotonic() + timeout
        with self._condition:
            self._queue.append(me)
            try:
                while True:
                    if self.stopping.is_set():  # checked first: no work starts once the server stops
                        return False
                    if not self._held and self._queue[0] is me:
                        self._held = True
                        return True
                    left = None if end is None else end - time.monotonic()
                    if not blocking or (left is not None and left <= 0):
                        return False
                    self._condition.wait(0.1 if left is None else min(0.1, left))  # 0.1: see `stopping` soon
            finally:
                self._queue.remove(me)
                self._condition.notify_all()  # the next in line may be first now

    def release(self) -> None:
        with self._condition:
            if not self._held:
                raise RuntimeError("release of a model turn that is not held")
            self._held = False
            self._condition.notify_all()

    def __enter__(self) -> ModelTurns:
        if not self.acquire():
            raise Stopped
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def take(self, wait: float | None = None) -> Turn:
        """The model's turn, held until `Turn.end` (or the end of a `with` block); Busy when it does not
        come within `wait` seconds (default TURN_WAIT) or MAX_WAITING requests already wait."""
        wait = TURN_WAIT if wait is None else wait
        if self.waiting >= self.max_waiting:
            raise Busy(f"model {self.name!r} is busy: {self.waiting} requests are waiting for it; try again in a few seconds")
        if not self.acquire(timeout=wait):
            if self.stopping.is_set():
                raise Stopped
            raise Busy(f"model {self.name!r} has been busy for {wait:g} s; try again in a few seconds")
        return Turn(self)


class Turn:
    """A held turn of one model."""

    def __init__(self, turns: ModelTurns):
        self.turns, self.since, self.held = turns, time.monotonic(), True

    def give_way(self, stop: Callable[[], bool] = lambda: False, wait: float | None = None) -> None:
        """After TURN_SLICE seconds with the turn, and only when others wait for it: let them go
        first, then take it back. Busy when that takes over `wait` seconds (default 3 x TURN_WAIT:
        the running work waits longer than a new request); Stopped when `stop()` turns true meanwhile
        (the turn is then not held)."""
        if time.monotonic() - self.since < TURN_SLICE or not self.turns.waiting:
            return
        wait = 3 * TURN_WAIT if wait is None else wait
        self.end()
        deadline = time.monotonic() + wait
        while not self.turns.acquire(timeout=0.1):
            if stop() or self.turns.stopping.is_set():
                raise Stopped
            if time.monotonic() > deadline:
                raise Busy(f"model {self.turns.name!r} has been busy for {wait:g} s; try again in a few seconds")
        self.since, self.held = time.monotonic(), True

    def end(self) -> None:
        if self.held:
            self.held = False
            self.turns.release()

    def __enter__(self) -> Turn:
        return self

    def __exit__(self, *exc) -> None:
        self.end()


class Deadline:
    """A time limit checked from a library call's progress callbacks: `check()` raises OverBudget
    once `seconds` have passed, and Stopped when `stop()` is true (the server is stopping)."""

    def __init__(self, seconds: float, what: str, stop: Callable[[], bool] = lambda: False):
        self.seconds, self.what, self.stop = seconds, what, stop
        self.end = time.monotonic() + seconds

    def check(self) -> None:
        if self.stop():
            raise Stopped
        if time.monotonic() > self.end:
            raise OverBudget(f"{self.what} took longer than {self.seconds:g} s, the most this server gives one request: "
                             "send a shorter text, or run the CLI command for long ones")


class Stopped(Exception):
    """The server is stopping: the work ends at its next check."""
