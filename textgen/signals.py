"""What a signal does to a textgen command.

Ctrl-C (SIGINT), SIGTERM and SIGHUP raise an exception where they land, KeyboardInterrupt or
`Terminated`, for the whole command (`command_signals`), so that every `finally` and cleanup runs:
a temporary file goes (atomic writes remove theirs on any exception), a run folder that never saved
goes. The CLI then ends with one line and the shell's code for the signal: 130, 143 or 129.
A signal that was ignored when the command started (nohup's SIGHUP, a background job's SIGINT)
stays ignored. Training takes the signals over while it runs (training/coordination.py:
a signal there saves a checkpoint first).

A library may catch the exception and drop it: torch's import of numpy catches every exception
from it, so a Ctrl-C in that moment was lost and the command went on. Such a signal is raised
again (`raise_swallowed`) at the next import of a module (an audit hook) and when the command
returns, never while its exception is still on its way out (in an `except`, `finally` or
`__exit__` that handles it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading

STOPPING = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
EXIT_CODES = {signum: 128 + int(signum) for signum in STOPPING}  # 130, 143, 129: what a shell reports for them
LINES = {signum: line for signum, line in ((getattr(signal, "SIGINT", None), "interrupted"),
                                            (getattr(signal, "SIGTERM", None), "terminated"),
                                            (getattr(signal, "SIGHUP", None), "hung up (SIGHUP)")) if signum is not None}


LAUNCHER = "TEXTGEN_LAUNCHER_PID"  # in the processes textgen starts for a distributed run: the first process's id
_PARENT = os.getppid()  # when textgen was imported


def launcher_alive() -> bool:
    """In a process textgen started for a run: whether the process that started it is still there
    (True in any other process). A child of it is given another parent when it ends; one started
    through a wrapper asks whether it exists."""
    text = os.environ.get(LAUNCHER, "")
    if not text.isdigit():
        return True
    launcher = int(text)
    if _PARENT == launcher:
        return os.getppid() == launcher
    try:
        os.kill(launcher, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


class Terminated(BaseException):
    """SIGTERM or SIGHUP, raised where it lands (as Ctrl-C's KeyboardInterrupt) so that cleanup runs."""

    def __init__(self, signum: int = signal.SIGTERM):
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)


def stop_exception(signum: int) -> BaseException:
    """The exception a stopping signal raises: KeyboardInterrupt for SIGINT, Terminated otherwise."""
    return KeyboardInterrupt() if signum == signal.SIGINT else Terminated(signum)


def signal_of(error: BaseException | None) -> int | None:
    """The signal an exception stands for (KeyboardInterrupt: SIGINT), or None."""
    if isinstance(error, KeyboardInterrupt):
        return signal.SIGINT
    if isinstance(error, Terminated):
        return error.signum
    return None


def exit_code(signum: int) -> int:
    return EXIT_CODES.get(signum, 128 + int(signum))


def line(signum: int) -> str:
    """The command's last line after the signal."""
    return LINES.get(signum, f"stopped by {signal.Signals(signum).name}")


def at_default(signum: int) -> bool:
    """Whether the signal does what it does by default (not ignored, not taken by someone else)."""
    handler = signal.getsignal(signum)
    return handler is signal.SIG_DFL or (signum == signal.SIGINT and handler is signal.default_int_handler)


class _State:
    raised: BaseException | None = None  # the last signal's exception, until the command has seen it
    active = False
    audited = False
    end_at_once = False


_state = _State()


def stop(signum: int) -> None:
    """Raise the signal's exception; while a command runs, it is remembered until the command has seen it."""
    error = stop_exception(signum)
    if _state.active:
        _state.raised = error
    raise error


def _handler(signum, frame) -> None:
    stop(signum)


def _audit(event: str, args) -> None:
    if event == "import" and _state.raised is not None:
        raise_swallowed()


@contextlib.contextmanager
def command_signals():
    """While the block runs, SIGINT, SIGTERM and SIGHUP (each where it does what it does by default)
    raise KeyboardInterrupt or Terminated; the handlers found are given back after it."""
    if _state.active or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for signum in STOPPING:
        if at_default(signum):
            previous[signum] = signal.signal(signum, _handler)
    if not _state.audited:  # an audit hook stays for the life of the process: added once, idle outside a command
        sys.addaudithook(_audit)
        _state.audited = True
    _state.active, _state.raised = True, None
    try:
        yield
    finally:
        _state.active, _state.raised = False, None
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def taking_signals() -> bool:
    """Whether a command's handlers are in place (the CLI's, in the main thread)."""
    return _state.active


def raise_swallowed() -> None:
    """Raise again a signal whose exception a library caught and dropped; nothing when there is none
    or while its exception is still on its way out."""
    error = _state.raised
    if error is None or not _state.active or threading.current_thread() is not threading.main_thread() \
            or _on_its_way(error):
        return
    stop(signal_of(error))


def seen() -> None:
    """The command has met the signal's exception (the CLI is saying its line): nothing to raise again."""
    _state.raised = None


def _on_its_way(error: BaseException) -> bool:
    current, looked = sys.exc_info()[1], 0
    while current is not None and looked < 100:
        if current is error:
            return True
        current = current.__context__ or current.__cause__
        looked += 1
    return False


def end_at_once() -> None:
    """Ask the CLI to end the process with os._exit once its line is written: a thread is left inside
    C code (a distributed start-up that never finished) that the interpreter's exit would wait on or
    abort in."""
    _state.end_at_once = True


def ending_at_once() -> bool:
    return _state.end_at_once
