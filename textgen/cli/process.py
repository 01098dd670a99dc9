"""A command as a process: one-line errors and exit codes, output that cannot be written, Ctrl-C,
SIGTERM and SIGHUP raised for the whole command (textgen/signals.py), closed standard streams, the
extra processes of a distributed run, and the command line as typed (recorded in textgen.json)."""

from __future__ import annotations

import contextlib
import io
import signal
import sys
import warnings

import click

from textgen import signals
from textgen.data.corpus import CorpusWarning
from textgen.errors import TextgenError
from textgen.signals import Terminated

_INVOCATION: list[str] = []  # the arguments of the running command, as typed


def invocation() -> list[str]:
    """The command being run, as typed: `textgen` and its arguments (recorded in textgen.json)."""
    return ["textgen", *_INVOCATION]


def secondary_process() -> bool:
    """True in the extra processes of a distributed run (rank 1 and up): the first one speaks for them."""
    import os

    return any((os.environ.get(name, "0") or "0").strip() not in ("0", "") for name in ("LOCAL_RANK", "NODE_RANK", "RANK"))


class ClosedOutput(io.TextIOBase):
    """Standard output that was closed when the command started (`>&-`): its first line fails, as on a
    full device, so the command says it could not write its output instead of ending quietly."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        import errno

        raise OSError(errno.EBADF, "standard output is closed")

    def isatty(self) -> bool:
        return False


def keep_standard_streams() -> None:
    """A command started with standard output or error closed (`>&-`, `2>&-`): /dev/null takes the
    closed file numbers, so no file the command opens becomes its output (a library writing to file 2
    would write into it), and the processes it starts inherit them. Output then fails at its first
    line (ClosedOutput); lines for a closed standard error are dropped."""
    import os

    while True:  # os.open takes the lowest free number: each closed one of 0, 1 and 2 in turn
        number = os.open(os.devnull, os.O_RDWR)
        if number > 2:
            os.close(number)
            break
    if sys.stdout is None:
        sys.stdout = ClosedOutput()
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - the command's standard error from now on


def follow_launcher() -> None:
    """In a process textgen started for a distributed run: end it once the process that started it
    has gone (killed, say), instead of waiting for it in the process group's set-up for 30 minutes.
    It writes nothing, so it ends at once."""
    import os
    import threading
    import time

    if signals.LAUNCHER not in os.environ:
        return

    def watch() -> None:
        while signals.launcher_alive():
            time.sleep(0.25)
        os._exit(1)

    threading.Thread(target=watch, name="textgen-launcher-watch", daemon=True).start()


def say_signal(signum: int) -> None:
    """The one line after a signal (none from the extra processes of a distributed run; none when
    standard error is gone, as when a terminal closed)."""
    if secondary_process():
        return
    with contextlib.suppress(OSError, ValueError):
        click.echo(signals.line(signum), err=True)


def output_error(error: OSError) -> bool:
    """Whether an OSError came from writing the command's output (click.echo to stdout or stderr):
    a full device, a closed pipe, a broken terminal."""
    trace = error.__traceback__
    while trace is not None:
        frame = trace.tb_frame
        if frame.f_code.co_name == "echo" and frame.f_globals.get("__name__") == "click.utils":
            return True
        trace = trace.tb_next
    return False


def output_failed(error: OSError) -> int:
    """A command's output could not be written: a closed pipe (`| head -1`) ends quietly with 141, as a
    program stopped by SIGPIPE does; anything else is one line and exit 2. Standard output then goes
    to /dev/null, so the interpreter's last flush at exit cannot fail a second time."""
    import errno
    import os

    with contextlib.suppress(OSError, ValueError, AttributeError, io.UnsupportedOperation):
        sys.stdout.fileno()
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    if error.errno == errno.EPIPE:
        return 141
    with contextlib.suppress(OSError):
        click.echo(f"error: cannot write output ({error.strerror or error})", err=True)
    return 2


class TextgenGroup(click.Group):
    """A click group that turns TextgenError and usage mistakes into one line on stderr and exit code 2,
    output that cannot be written (a full device, a closed pipe or a closed standard output) into one
    line or a quiet end, and Ctrl-C, SIGTERM and SIGHUP into an exception for the whole command, so
    that its cleanup runs, then one line and exit 130, 143 or 129 (textgen/signals.py)."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        _INVOCATION[:] = [str(arg) for arg in (sys.argv[1:] if args is None else args)]
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        keep_standard_streams()
        follow_launcher()
        with signals.command_signals():
            code = self.run(args, prog_name, complete_var, **extra)
        if signals.ending_at_once():  # a thread is stuck in C code (training/coordination.py): end here
            import os

            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(OSError, ValueError, AttributeError):
                    stream.flush()
            os._exit(code)
        sys.exit(code)

    def run(self, args, prog_name, complete_var, **extra) -> int:
        """The command, its errors as lines: its exit code."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("always", CorpusWarning)
                show = warnings.showwarning
                warnings.showwarning = lambda message, category, *rest: (
                    click.echo(f"note: {message}", err=True) if issubclass(category, CorpusWarning) else show(message, category, *rest))
                code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            code = code if isinstance(code, int) else 0
        except click.UsageError as error:
            hint = f" (see '{error.ctx.command_path} --help')" if error.ctx else ""
            click.echo(f"error: {error.format_message()}{hint}", err=True)
            code = 2
        except click.ClickException as error:
            click.echo(f"error: {error.format_message()}", err=True)
            code = error.exit_code
        except (click.Abort, KeyboardInterrupt):  # outside a command: while parsing
            signals.seen()
            say_signal(signal.SIGINT)
            code = 130
        except Terminated as stop:
            signals.seen()
            say_signal(stop.signum)
            code = signals.exit_code(stop.signum)
        except OSError as error:  # the output failed outside a command (--help, --version)
            if not output_error(error):
                raise
            code = output_failed(error)
        try:
            if sys.stdout is not None:
                sys.stdout.flush()  # buffered output fails here, not in the interpreter's flush at exit
        except OSError as error:
            failed = output_failed(error)
            code = failed if code == 0 else code
        return code

    def invoke(self, ctx: click.Context):
        try:
            result = super().invoke(ctx)
            signals.raise_swallowed()  # a signal a library caught and dropped still stops the command
            return result
        except TextgenError as error:
            click.echo(f"error: {error}", err=True)
            ctx.exit(2)
        except (KeyboardInterrupt, Terminated) as stop:
            signals.seen()
            signum = signals.signal_of(stop)
            say_signal(signum)
            ctx.exit(signals.exit_code(signum))
        except OSError as error:
            if not output_error(error):
                raise
            ctx.exit(output_failed(error))
