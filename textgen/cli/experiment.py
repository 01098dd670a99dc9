"""textgen experiment: memory-span and doug."""

from __future__ import annotations

import sys

import click

from textgen.cli.common import SEED, check_plot, counting_bar, int_list, print_json
from textgen.cli.options import forget_bias_value


@click.group()
def experiment() -> None:
    """Experiments that test what the toolkit teaches about recurrent memory."""


@experiment.command("memory-span", short_help="How many steps back can rnn, gru and lstm recall a token?")
@click.option("--cells", default="rnn,gru,lstm,lstm+chrono", show_default=True,
              help="Cells to compare (rnn, gru, lstm, peephole; +chrono: chrono initialisation over the longest span).")
@click.option("--spans", default="2,4,8,16,32,48,64", show_default=True, callback=int_list, help="Spans k: steps between the key and the question.")
@click.option("--steps", default=800, show_default=True, type=click.IntRange(1, 1_000_000), help="Training steps per cell, span and seed.")
@click.option("--seeds", default=2, show_default=True, type=click.IntRange(1, 100), help="Independent runs averaged per cell and span.")
@click.option("--budget", default=12_000, show_default=True, type=click.IntRange(100, 100_000_000), help="Parameters per model (hidden size is chosen to match).")
@click.option("--symbols", default=8, show_default=True, type=click.IntRange(2, 10_000), help="Alphabet size; chance is 1/symbols.")
@click.option("--forget-bias", default="3.0", show_default=True, callback=lambda ctx, param, value: forget_bias_value(value),
              help="Initial keep-gate bias of the gated cells (LSTM forget, GRU update), or chrono[:T].")
@click.option("--seed", default=0, show_default=True, type=SEED, help="First seed.")
@click.option("--plot", "plot_path", default=None, metavar="FILE.png", help="Write a PNG of accuracy against span.")
@click.option("--json", "as_json", is_flag=True, help='Print {"results": [{"cell", "k", "accuracy", ...}], ...}.')
def experiment_memory_span(cells: str, spans: tuple[int, ...], steps: int, seeds: int, budget: int, symbols: int, forget_bias: float,
                           seed: int, plot_path: str | None, as_json: bool) -> None:
    """Can each cell recall the token it saw k steps back? Trains rnn, gru and lstm at an equal
    parameter budget and equal steps on a synthetic recall task and prints accuracy by k.

    The claim under test: a plain RNN handles 8-10 steps and then fails; an LSTM does not.
    The defaults take about 3 minutes on 2 CPU cores.

    Example: textgen experiment memory-span --plot memory-span.png
    """
    from textgen.experiments.memory_span import MemorySpanSettings, results_table, run_memory_span, to_json

    cell_names = tuple(part.strip() for part in cells.split(",") if part.strip())
    settings = MemorySpanSettings(cells=cell_names, spans=spans, steps=steps, seeds=seeds,
                                  parameter_budget=budget, symbols=symbols, forget_bias=forget_bias, seed=seed)
    check_plot(plot_path)
    total = len(settings.cells) * len(settings.spans)
    bar = counting_bar(total, " runs") if sys.stderr.isatty() else None

    def report(result) -> None:
        if bar is not None:
            bar.set_postfix_str(f"{result.cell} k={result.k}: {100 * result.accuracy:.0f}%")
            bar.update()
        elif not as_json:
            click.echo(f"  {result.cell:<9} k={result.k:<4} accuracy {100 * result.accuracy:5.1f}%  ({result.seconds:.1f}s)", err=True)

    results = run_memory_span(settings, on_result=report)
    if bar is not None:
        bar.close()
    if plot_path:
        from textgen.analysis.plots import plot_memory_span

        plot_memory_span(results, settings.symbols, plot_path)
    if as_json:
        print_json(to_json(results, settings))
        return
    click.echo(results_table(results, settings.symbols))
    for cell, span in to_json(results, settings)["longest_span_90"].items():
        click.echo(f"{cell}: recalls at >= 90% up to k = {span}" if span else f"{cell}: below 90% even at k = {settings.spans[0]}")
    if plot_path:
        click.echo(f"plot -> {plot_path}")


@experiment.command("doug", short_help="Why an LSTM does not write \"Doug saw Doug.\": a memoryless model does.")
@click.option("--corpus", default=None, metavar="FILE", help="The book to learn [default: the bundled corpora/doug-jane-spot.txt].")
@click.option("--names", default="Doug,Jane,Spot", show_default=True, help="The book's names, comma-separated (for the trace).")
@click.option("--verb", default="saw", show_default=True, help="The verb between subject and object.")
@click.option("--sentences", default=500, show_default=True, type=click.IntRange(1, 100_000),
              help="Sentences with an object to sample from each model.")
@click.option("--steps", default=500, show_default=True, type=click.IntRange(1, 1_000_000), help="Training steps per model.")
@click.option("--hidden-size", default=32, show_default=True, type=click.IntRange(1, 4096), help="LSTM units.")
@click.option("--seed", default=0, show_default=True, type=SEED)
@click.option("--plot", "plot_path", default=None, metavar="FILE.png", help="Write a PNG: the two rates, the subject units' LTM and forget gates.")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"memoryless": {"self_object_rate", "sentences", ...}, "lstm": {...}, "trace": {...}}.')
def experiment_doug(corpus: str | None, names: str, verb: str, sentences: int, steps: int, hidden_size: int, seed: int,
                    plot_path: str | None, as_json: bool) -> None:
    """The seed's story: in "Doug saw Jane. Jane saw Spot. Spot saw Doug." a model that sees
    only the current word writes "Doug saw Doug." one time in three; an LSTM remembers the
    subject and does not.

    Trains both models on the book, samples sentences from each at temperature 1 and counts
    the "X saw X" sentences, then traces the LSTM on "Doug saw": which long-term memory (LTM,
    cell state) units carry the subject, and how the forget gate keeps them through "saw".
    Takes a few seconds on 2 CPU cores.

    Example: textgen experiment doug --plot doug.png
    """
    from textgen.experiments.doug import DougSettings, report, run_doug, to_json
    from textgen.analysis.plots import plot_doug
    from textgen.training.threads import choose_threads

    threads, why = choose_threads()  # torch's threads beside other work wait on each other: 52 s against 4.1 s
    if why.endswith("other work"):
        click.echo(f"note: {threads} thread{'s' * (threads != 1)} ({why}; OMP_NUM_THREADS sets them)", err=True)

    name_list = tuple(part.strip() for part in names.split(",") if part.strip())
    options = {"names": name_list, "verb": verb.strip(), "sentences": sentences, "steps": steps, "hidden_size": hidden_size,
               "seed": seed}
    if corpus is not None:
        options["corpus"] = corpus
    settings = DougSettings(**options)
    check_plot(plot_path)
    result = run_doug(settings, on_progress=lambda message: click.echo(f"  {message}", err=True) if not as_json else None)
    if plot_path:
        plot_doug(result, plot_path)
    if as_json:
        print_json(to_json(result))
        return
    click.echo(report(result))
    if plot_path:
        click.echo(f"plot -> {plot_path}")

