"""The model work the explorer's threads do, counted and stoppable, so the server can stop while
requests run without the process aborting.

When the interpreter exits, a daemon thread still inside torch is ended by unwinding it through
C++ frames, which aborts the process ("terminate called without an active exception", exit 134).
So every request's model work runs inside `Work.inside(check)`: the server knows how many threads
are at it (`Work.running`) and waits for none before it exits, and `check` is called before each
call of a watched model's embedding and recurrent layers (`watch`), which every read, trace and
forward of the model goes through once per chunk of at most 1,024 tokens (256 with the neural
cache or in a trace). A check that raises (the server is stopping, the client went away) ends
the work there: a 2,048-token prompt is read in a few such calls, never in one that cannot stop.
A token-by-token step does not go through them: a generation checks between its tokens.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Callable

_current = threading.local()  # .check: the check of the work this thread is doing, if any
_watched: weakref.WeakSet = weakref.WeakSet()  # modules with the check hook (once each, whatever the apps)


def _check_point(module, inputs) -> None:
    check = getattr(_current, "check", None)
    if check is not None:
        check()


def watch(model) -> None:
    """Call the running work's check before each call of the model's embedding and recurrent layers
    (a forward pre-hook; outside `Work.inside` it does nothing)."""
    for module in (model.embedding, *model.recurrent_layers):
        if module not in _watched:
            module.register_forward_pre_hook(_check_point)
            _watched.add(module)


class Work:
    """The requests doing model work in threads right now."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0

    @property
    def running(self) -> int:
        return self._running

    @contextlib.contextmanager
    def inside(self, check: Callable[[], None]):
        """Count this thread's work while the block runs; the watched models call `check` at their chunks."""
        with self._lock:
            self._running += 1
        previous = getattr(_current, "check", None)
        _current.check = check
        try:
            yield
        finally:
            _current.check = previous
            with self._lock:
                self._running -= 1
