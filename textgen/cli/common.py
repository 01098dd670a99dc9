"""What the commands share for what they print: JSON output, progress bars, notes, words and
percentages, and the small parameter types (seeds, lists, plot paths). How a command runs as a
process (one-line errors, exit codes, signals, closed streams) is textgen/cli/process.py's."""

from __future__ import annotations

import json
import signal
import sys

import click

from textgen import signals
from textgen.signals import Terminated  # noqa: F401 - raised by SIGTERM and SIGHUP; commands catch it from here

SEED = click.IntRange(0, 2**32 - 1)


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
        from textgen.analysis.plots import check_plot_path

        check_plot_path(plot_path)


def shown_word(word: str) -> str:
    """A word as the terminal shows it: a newline is ↵."""
    return word.replace("\n", "↵")


def percent(value: float) -> str:
    return f"{100 * value:.1f}%" if value >= 0.001 else f"{100 * value:.2g}%"


def _number_list(text: str, parse, what: str, example: str) -> tuple:
    try:
        values = tuple(parse(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a comma-separated list of {what}, e.g. {example}") from None
    if not values:
        raise click.BadParameter(f"give at least one value, e.g. {example}")
    return values


def int_list(ctx: click.Context | None, param: click.Parameter | None, text: str) -> tuple[int, ...]:
    """A click callback: "2,8,32" -> (2, 8, 32)."""
    return _number_list(text, int, "whole numbers", "2,8,32")


def float_list(ctx: click.Context | None, param: click.Parameter | None, text: str) -> tuple[float, ...]:
    """A click callback: "1,0.9,0.8" -> (1.0, 0.9, 0.8)."""
    return _number_list(text, float, "numbers", "1,0.9,0.8")


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
               **({"wall_seconds": round(result.wall_seconds, 1)} if getattr(result, "wall_seconds", None) is not None else {}),
               **({"budget_seconds": round(result.budget_seconds, 1)} if getattr(result, "budget_seconds", None) else {}),
               **({"precision": result.precision} if getattr(result, "precision", None) else {}),
               **{f"valid_{key}": value for key, value in metrics.items() if key != "step"}}
    if as_json:
        print_json(summary)
    else:
        line = (f"trained {result.new_steps} more steps (now at step {result.steps}) in {result.seconds:.0f}s" if resume
                else f"trained {result.steps} steps in {result.seconds:.0f}s")
        if getattr(result, "budget_seconds", None):
            line += f" ({result.wall_seconds:.0f}s in all of this invocation's {result.budget_seconds:.0f}s budget)"
        if metrics:
            line += f"; {validation(metrics)}"
        click.echo(f"{line}\n{saved}")
    if result.signal:
        click.echo(f"interrupted by {signal.Signals(result.signal).name} at step {result.steps}: checkpoint saved; "
                   f"continue with: {again} --resume", err=True)
        ctx.exit(signals.exit_code(result.signal))
