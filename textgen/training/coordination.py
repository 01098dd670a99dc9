"""What the processes of a run decide together, and the signals that end a run.

With several processes (DDP) every collective call must be made by all of them in the same order,
so a decision that one process takes from its own clock or its own signal would leave the others
waiting in another call for ever. Every such decision is therefore taken once and shared:
the first process's clock (the time budget, when to save, the learning-rate schedule), a signal
received by any process and a loss that is not finite travel in one small all-reduce per step
(`agree`); what the first process validated and whether its writes succeeded travel in a broadcast
at each checkpoint (`from_first`). One process needs none of it.

`SignalWatch` owns SIGINT and SIGTERM while training runs: the first is noted for `agree` to share,
a second stops the process at once, even while its main thread waits inside a collective call.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass

import torch

from textgen.errors import TextgenError

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


class RunFault(TextgenError):
    """A fault every process of the run stops on at the same step; the first process reports it."""


@dataclass(frozen=True)
class StepDecision:
    """What every process does after this step, as the first process's clock and any process's signal say."""

    seconds: float  # the run's training time so far (all invocations), by the first process's clock
    time_up: bool  # the time budget is spent: stop after this step
    save_due: bool  # a time-driven validation and checkpoint is due after this step
    signal: int | None  # SIGINT or SIGTERM received by some process (the first process's own, if it has one)
    loss_failed: bool  # some process's loss is NaN or infinite: stop before the update


def agree(trainer, seconds: float, time_up: bool, save_due: bool, signal_received: int | None,
          loss_failed: bool) -> StepDecision:
    """The step's decision: the clock-driven parts from the first process, a signal or a failed loss
    from any. One all-reduce (max) of six numbers with several processes; none with one."""
    first = trainer.is_global_zero
    own = float(signal_received or 0)
    values = [seconds if first else 0.0, float(time_up and first), float(save_due and first), own if first else 0.0, own,
              float(loss_failed)]
    if trainer.world_size > 1:
        tensor = torch.tensor(values, dtype=torch.float64, device=trainer.strategy.root_device)
        torch.distributed.all_reduce(tensor, op=torch.distributed.ReduceOp.MAX)
        values = tensor.tolist()
    received = int(values[3]) or int(values[4])
    return StepDecision(values[0], bool(values[1]), bool(values[2]), received or None, bool(values[5]))


def from_first(trainer, value):
    """The first process's `value` in every process (a pickled broadcast: for checkpoints, not for every step)."""
    if trainer is not None and trainer.world_size > 1:
        return trainer.strategy.broadcast(value, src=0)
    return value


class SignalWatch:
    """SIGINT and SIGTERM while training: the first is noted (`received`) and the run saves and stops
    after the step in which every process learns of it; a second calls `stop_now(signum)` at once.

    The second signal is seen by a watcher thread reading the interpreter's wake-up pipe, so it works
    even while the main thread is blocked in a collective call, where Python runs no signal handler.
    Create it before Lightning installs its own SIGTERM handler: uninstall() gives back the handlers
    it found then, not Lightning's (which would swallow a SIGTERM after training)."""

    def __init__(self, report: Callable[[str], None], stop_now: Callable[[int], None]):
        self.report, self.stop_now = report, stop_now
        self.received: int | None = None
        self._handlers = {signum: signal.getsignal(signum) for signum in EXIT_CODES}  # to give back
        self._pipe: tuple[int, int] | None = None
        self._wakeup_before = -1
        self._watcher: threading.Thread | None = None
        self._closing = False

    def install(self) -> None:
        """Take SIGINT and SIGTERM (call from the main thread)."""
        if self._pipe is not None or threading.current_thread() is not threading.main_thread():
            return
        for signum in EXIT_CODES:
            signal.signal(signum, self._note)
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)
        self._pipe = (read_end, write_end)
        self._wakeup_before = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
        self._closing = False
        self._watcher = threading.Thread(target=self._watch, name="textgen-signal-watch", daemon=True)
        self._watcher.start()

    def uninstall(self) -> None:
        """Give the signals back as they were before install (safe to call twice)."""
        if self._pipe is None:
            return
        for signum, handler in self._handlers.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        signal.set_wakeup_fd(self._wakeup_before)
        self._closing = True
        read_end, write_end = self._pipe
        with contextlib.suppress(OSError):
            os.write(write_end, b"\0")  # wakes the watcher, which sees it is closing
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        for end in (read_end, write_end):
            with contextlib.suppress(OSError):
                os.close(end)
        self._pipe = self._watcher = None

    def _note(self, signum, frame) -> None:
        if self.received is None:
            self.received = signum
            self.report(f"received {signal.Signals(signum).name}: saving a resumable checkpoint after this step "
                        "(a second signal stops at once)")

    def _watch(self) -> None:
        read_end = self._pipe[0]
        seen = 0
        while not self._closing:
            try:
                data = os.read(read_end, 64)
            except OSError:
                return
            if not data or self._closing:
                return
            for signum in data:
                if signum in EXIT_CODES:
                    seen += 1
                    if seen >= 2:
                        self.stop_now(signum)
                        return
