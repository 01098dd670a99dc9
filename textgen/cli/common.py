"""What every command shares: one-line errors and exit codes, JSON output, progress bars,
notes, and the small parameter types (seeds, durations, lists, plot paths)."""

from __future__ import annotations

import contextlib
import io
import json
import sys
import warnings

import click

from textgen.corpus import CorpusWarning
from textgen.errors import TextgenError

SEED = click.IntRange(0, 2**32 - 1)
_INVOCATION: list[str] = []  # the arguments of the running command, as typed


def invocation() -> list[str]:
    """The command being run, as typed: `textgen` and its arguments (recorded in textgen.json)."""
    return ["textgen", *_INVOCATION]


class Terminated(BaseException):
    """SIGTERM, raised where a command asked for it (`terminate_as_exception`) so that its cleanup runs."""


@contextlib.contextmanager
def terminate_as_exception():
    """While the block runs, SIGTERM raises Terminated (like Ctrl-C's KeyboardInterrupt) instead of
    ending the process at once, so staged files are removed; the CLI exits 143."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        yield
        return

    def handler(signum, frame):
        raise Terminated

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


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
    and output that cannot be written (a full device, a closed pipe) into one line or a quiet end."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        _INVOCATION[:] = [str(arg) for arg in (sys.argv[1:] if args is None else args)]
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("always", CorpusWarning)
                show = warnings.showwarning
                warnings.showwarning = lambda message, category, *rest: (
                    note(str(message)) if issubclass(category, CorpusWarning) else show(message, category, *rest))
                code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            code = code if isinstance(code, int) else 0
        except click.UsageError as error:
            hint = f" (see '{error.ctx.command_path} --help')" if error.ctx else ""
            click.echo(f"error: {error.format_message()}{hint}", err=True)
            code = 2
        except click.ClickException as error:
            click.echo(f"error: {error.format_message()}", err=True)
            code = error.exit_code
        except (click.Abort, KeyboardInterrupt):
            click.echo("interrupted", err=True)
            code = 130
        except OSError as error:  # the output failed outside a command (--help, --version)
            if not output_error(error):
                raise
            code = output_failed(error)
        try:
            if sys.stdout is not None:  # None when the process started with standard output closed
                sys.stdout.flush()  # buffered output fails here, not in the interpreter's flush at exit
        except OSError as error:
            failed = output_failed(error)
            code = failed if code == 0 else code
        sys.exit(code)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except TextgenError as error:
            click.echo(f"error: {error}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except Terminated:
            click.echo("terminated", err=True)
            ctx.exit(143)
        except OSError as error:
            if not output_error(error):
                raise
            ctx.exit(output_failed(error))


def print_json(data) -> None:
    """One JSON object on stdout; NaN and infinities become null (JSON has no such numbers)."""
    import math

    def clean(value):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {key: clean(item) for key, item in value.items()}
        if isinstance(value, list):
            return [clean(item) for item in value]
        return value

    click.echo(json.dumps(clean(data), ensure_ascii=False))


def progress(iterable, unit: str):
    """A progress bar on stderr when it is a terminal; the iterable unchanged otherwise."""
    if not sys.stderr.isatty():
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, unit=unit, file=sys.stderr, leave=False, dynamic_ncols=True)


def note(message: str) -> None:
    click.echo(f"note: {message}", err=True)



def counting_bar(total: int, unit: str):
    """A tqdm bar on stderr when it is a terminal; otherwise an object that ignores updates."""
    if not sys.stderr.isatty():
        class Silent:
            def update(self, count: int = 1) -> None:
                pass

            def close(self) -> None:
                pass

            def set_description_str(self, text: str) -> None:
                pass

            def set_postfix_str(self, text: str) -> None:
                pass

        return Silent()
    from tqdm import tqdm

    return tqdm(total=total or None, unit=unit, file=sys.stderr, leave=False, dynamic_ncols=True)


def check_plot(plot_path: str | None) -> None:
    """Refuse a plot path that cannot be written before any work is done."""
    if plot_path:
        from textgen.plots import check_plot_path

        check_plot_path(plot_path)


def shown_word(word: str) -> str:
    """A word as the terminal shows it: a newline is ↵."""
    return word.replace("\n", "↵")


def percent(value: float) -> str:
    return f"{100 * value:.1f}%" if value >= 0.001 else f"{100 * value:.2g}%"


def int_list(ctx: click.Context | None, param: click.Parameter | None, text: str) -> tuple[int, ...]:
    """A click callback: "2,8,32" -> (2, 8, 32)."""
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a comma-separated list of whole numbers, e.g. 2,8,32") from None
    if not values:
        raise click.BadParameter("give at least one value, e.g. 2,8,32")
    return values


def given_options(ctx: click.Context, names) -> list[str]:
    """The flags (as the user types them) of the named parameters given on the command line."""
    from click.core import ParameterSource

    flags = {param.name: param.opts[0] for param in ctx.command.params}
    return [flags[name] for name in names if ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE]


def load_for_generation(model_dir: str, quantize: str):
    """A loaded model whose `model` is the one to sample from (bf16 or int8 where asked)."""
    import textgen
    from textgen.model.quantize import sampling_copy

    loaded = textgen.load(model_dir)
    loaded.model = sampling_copy(loaded.model, quantize)
    return loaded


def finish_run(ctx: click.Context, result, resume: bool, as_json: bool, validation, saved: str, again: str) -> None:
    """A training command's last words: the summary (JSON or a line, with `validation(metrics)`
    describing the validation), where the model went, and on a signal how to continue, exit 130/143."""
    metrics = result.metrics
    parameters = result.parameters if result.parameters is not None else result.model_config.parameter_count()
    summary = {"out": str(result.out_dir), "steps": result.steps, "new_steps": result.new_steps,
               "seconds": round(result.seconds, 1), "parameters": parameters, "interrupted": bool(result.signal),
               **{f"valid_{key}": value for key, value in metrics.items() if key != "step"}}
    if as_json:
        print_json(summary)
    else:
        line = (f"trained {result.new_steps} more steps (now at step {result.steps}) in {result.seconds:.0f}s" if resume
                else f"trained {result.steps} steps in {result.seconds:.0f}s")
        if metrics:
            line += f"; {validation(metrics)}"
        click.echo(f"{line}\n{saved}")
    if result.signal:
        import signal as signals

        click.echo(f"interrupted by {signals.Signals(result.signal).name} at step {result.steps}: checkpoint saved; "
                   f"continue with: {again} --resume", err=True)
        ctx.exit(130 if result.signal == signals.SIGINT else 143)
