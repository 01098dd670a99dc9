"""What the processes of a run decide together, the processes textgen starts, and the signals
that end a run.

With several processes (DDP) every collective call must be made by all of them in the same order,
so a decision that one process takes from its own clock or its own signal would leave the others
waiting in another call for ever. Every such decision is therefore taken once and shared:
the first process's clock (the time budget, when to save, the learning-rate schedule), a signal
received by any process and a loss that is not finite travel in one small all-reduce per step
(`agree`); what the first process validated and whether its writes succeeded travel in a broadcast
at each checkpoint (`from_first`). One process needs none of it.

`Team`: on one machine textgen starts the other processes itself (as Lightning would, which then
treats them as started outside it), so it can stop them, notice one that ended and wait for them;
each follows its launcher and ends when that is gone (cli/process.py `follow_launcher`).
`patient_setup`: the process group's set-up waits for every process in C code, where the main
thread runs no signal handler; it runs in a thread while the main thread waits in short steps.

`SignalWatch` owns SIGINT, SIGTERM and SIGHUP from just before Lightning starts until fit()
returns: while the run starts, a signal stops the start-up (nothing is trained yet, so there is
nothing to save) and the other processes with it; while it trains, the first is noted for `agree`
to share; a second stops the process at once, even while its main thread waits inside a
collective call.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from textgen import signals
from textgen.errors import TextgenError

EXIT_CODES = dict(signals.EXIT_CODES)  # SIGINT 130, SIGTERM 143, SIGHUP 129
LAUNCHER = signals.LAUNCHER  # set in the processes textgen starts: the first process's id


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


class RankStopped(TextgenError):
    """Another process of the run ended on its own (killed, or failed): the first process says so."""


class Team:
    """The other processes of a run on this machine, started by textgen: the same command with
    LOCAL_RANK 1, 2, ... and the address of the first process, as Lightning's own launcher would
    start them, except that textgen keeps them: `ended` tells of one that stopped, `kill` stops
    them all, `close` waits for them (and puts the environment back)."""

    def __init__(self, saved_environment: dict[str, str | None]):
        self.processes: list[subprocess.Popen] = []
        self.saved_environment = saved_environment

    @classmethod
    def start(cls, trainer) -> Team | None:
        """Start the other processes where Lightning would start them (its `ddp` strategies on one
        machine); None where there are none to start (one process, or a launcher such as torchrun)."""
        from lightning.pytorch.strategies.launchers import _SubprocessScriptLauncher

        strategy = trainer.strategy
        environment = getattr(strategy, "cluster_environment", None)
        if not isinstance(getattr(strategy, "launcher", None), _SubprocessScriptLauncher) or environment is None \
                or environment.creates_processes_externally:
            return None
        count = strategy.num_processes
        variables = {"MASTER_ADDR": environment.main_address, "MASTER_PORT": str(environment.main_port),
                     "NODE_RANK": str(environment.node_rank()), "WORLD_SIZE": str(count * strategy.num_nodes)}
        team = cls({name: os.environ.get(name) for name in (*variables, "LOCAL_RANK")})
        os.environ.update(variables, LOCAL_RANK="0")  # Lightning now sees processes started outside it: it starts none
        try:
            for rank in range(1, count):
                environment_of_rank = {**os.environ, "LOCAL_RANK": str(rank), LAUNCHER: str(os.getpid())}
                team.processes.append(subprocess.Popen(own_command(), env=environment_of_rank))
        except BaseException:
            team.close(failed=True)
            raise
        return team

    def ended(self, wait: float = 0.0) -> tuple[int, int] | None:
        """(rank, exit code) of a process that has ended, waiting up to `wait` seconds for one."""
        deadline = time.monotonic() + wait
        while True:
            for rank, process in enumerate(self.processes, start=1):
                if process.poll() is not None:
                    return rank, process.returncode
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)

    def check(self) -> None:
        """While the run starts: RankStopped if another process has ended."""
        if (ended := self.ended()) is not None:
            raise RankStopped(f"another training process (rank {ended[0]}) {how_it_ended(ended[1])} before training began")

    def kill(self) -> None:
        """Stop every other process at once (they write nothing: the first process saves)."""
        for process in self.processes:
            if process.returncode is None:
                with contextlib.suppress(OSError):
                    process.kill()

    def close(self, failed: bool, wait: float = 30.0) -> None:
        """After the run: wait up to `wait` seconds for the others to end by themselves (none when the
        run `failed`: they are stopped), stop any left, and put the environment back."""
        if failed:
            self.kill()
        deadline = time.monotonic() + wait
        for process in self.processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(5)
        for name, value in self.saved_environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def own_command() -> list[str]:
    """This process's command, to start another process of the run (as Lightning does)."""
    import __main__

    spec = getattr(__main__, "__spec__", None)
    if spec is not None:
        return [sys.executable, "-m", spec.name, *sys.argv[1:]]
    return [sys.executable, os.path.abspath(sys.argv[0]), *sys.argv[1:]]


def how_it_ended(code: int) -> str:
    """"was killed by SIGKILL", "was stopped by SIGTERM" (a textgen process says nothing then), "ended with exit code 1"."""
    stopped = {exit: signum for signum, exit in signals.EXIT_CODES.items()}
    if code < 0 or code in stopped:
        signum = -code if code < 0 else stopped[code]
        with contextlib.suppress(ValueError):
            return f"was {'killed' if code < 0 else 'stopped'} by {signal.Signals(signum).name}"
        return f"was killed by signal {signum}"
    return f"ended with exit code {code}" + (" (its lines above say why)" if code else "")


def launcher_gone() -> bool:
    """In a process textgen started: whether the first process has ended."""
    return not signals.launcher_alive()


def patient_setup(strategy, check: Callable[[], None]) -> None:
    """Make the strategy's process-group set-up (which waits in C code for every process, where no
    signal handler runs, for up to its 30-minute timeout) run in a thread while the main thread waits
    in steps of 0.1 s: a signal raises there, and `check()` may raise when another process ended. A
    set-up left waiting asks the CLI to end the process without the interpreter's exit."""
    setup = getattr(strategy, "setup_distributed", None)
    if setup is None:
        return

    def waited(*args, **kwargs):
        outcome: dict = {}

        def run() -> None:
            try:
                setup(*args, **kwargs)
            except BaseException as error:  # noqa: BLE001 - raised again in the main thread
                outcome["error"] = error

        thread = threading.Thread(target=run, name="textgen-process-group", daemon=True)
        thread.start()
        try:
            while thread.is_alive():
                thread.join(0.1)
                check()
        except BaseException:
            if thread.is_alive():
                signals.end_at_once()
            raise
        if "error" in outcome:
            raise outcome["error"]

    strategy.setup_distributed = waited


class SignalWatch:
    """SIGINT, SIGTERM and SIGHUP (those not ignored) from just before Lightning starts (`install`)
    until fit() returns (`uninstall`), in three phases:

    - starting (until `training()`): nothing is trained yet, so nothing is saved: the signal raises
      where it lands (KeyboardInterrupt or Terminated), and `on_start_signal(signum)`, from the
      watcher thread, stops the other processes, so a main thread waiting for them is released;
    - training: the first is noted (`received`) and the run saves and stops after the step in which
      every process learns of it;
    - finished (`finished()`: the loop is over, Lightning tears down): the first is noted, and the
      run reports it when fit() returns.

    A second signal calls `stop_now(signum)` at once. It is seen by a watcher thread reading the
    interpreter's wake-up pipe, so it works even while the main thread is blocked in a collective
    call, where Python runs no signal handler. uninstall() gives back the handlers found at install,
    whatever Lightning did in between (its Ctrl-C handling leaves SIGINT ignored, its SIGTERM handler
    would swallow a SIGTERM after training)."""

    def __init__(self, report: Callable[[str], None], stop_now: Callable[[int], None],
                 on_start_signal: Callable[[int], None] | None = None):
        self.report, self.stop_now, self.on_start_signal = report, stop_now, on_start_signal
        self.received: int | None = None
        self.phase = "starting"
        self._handlers: dict[int, object] = {}  # to give back
        self._pipe: tuple[int, int] | None = None
        self._wakeup_before = -1
        self._watcher: threading.Thread | None = None
        self._closing = False

    def install(self) -> None:
        """Take the signals (call from the main thread); the run is starting."""
        if self._pipe is not None or threading.current_thread() is not threading.main_thread():
            return
        self.phase = "starting"
        self._handlers = {signum: signal.getsignal(signum) for signum in EXIT_CODES
                          if signal.getsignal(signum) is not signal.SIG_IGN}  # nohup's SIGHUP stays ignored
        self._take()
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)
        self._pipe = (read_end, write_end)
        self._wakeup_before = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
        self._closing = False
        self._watcher = threading.Thread(target=self._watch, name="textgen-signal-watch", daemon=True)
        self._watcher.start()

    def _take(self) -> None:
        for signum in self._handlers:
            signal.signal(signum, self._note)

    def training(self) -> None:
        """Training begins: a signal now saves first (the handlers are taken again from Lightning's)."""
        self.phase = "training"
        if self._pipe is not None and threading.current_thread() is threading.main_thread():
            self._take()

    def finished(self) -> None:
        """The training loop is over: a signal is noted for the run to report."""
        self.phase = "finished"

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
        if self.received is not None:
            return
        self.received = signum
        if self.phase == "starting":
            signals.stop(signum)  # raised here; raised again should a library swallow it
        if self.phase == "training":
            with contextlib.suppress(OSError, ValueError):  # a closed terminal (SIGHUP) does not stop the save
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
                    if self.phase == "starting" and self.on_start_signal is not None:
                        self.on_start_signal(signum)
