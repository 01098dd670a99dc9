"""textgen evaluate."""

from __future__ import annotations

import click

from textgen.cli.common import note, print_json
from textgen.cli.inference_options import cache_options, cache_settings


@click.command("evaluate")
@click.argument("model_dir", metavar="MODEL")
@click.argument("corpus")
@click.option("--streams", type=click.IntRange(1, 4096), default=1, show_default=True,
              help="Parallel streams (faster; 1 carries the state across the whole corpus).")
@click.option("--seq-len", type=click.IntRange(1, 1_000_000), default=256, show_default=True, help="Tokens per forward call.")
@click.option("--cache-dir", default=None,
              help="Keep CORPUS's tokens in this folder for the next run [default: none, tokens stay in memory].")
@cache_options
@click.option("--json", "as_json", is_flag=True,
              help='Print tokens, words, bytes, loss, perplexity, word_perplexity, bits_per_byte, and "cache": the same '
                   'numbers with the neural cache and its settings (null when it is off).')
def evaluate_command(model_dir: str, corpus: str, streams: int, seq_len: int, cache_dir: str | None, as_json: bool,
                     **options) -> None:
    """Perplexity per token and per word, and bits per byte, of MODEL on CORPUS: the plain
    model's, and beside them the model's with the neural cache when it is on.

    Example: textgen evaluate tinystories corpora/doug-jane-spot.txt
    """
    import textgen
    from textgen.analysis.evaluate import evaluate_corpus

    loaded = textgen.load(model_dir)
    neural_cache = cache_settings(loaded, options)
    metrics = evaluate_corpus(loaded, corpus, streams, seq_len, cache_dir, neural_cache, note=note)
    if as_json:
        print_json({"model": model_dir, "corpus": corpus, **metrics})
        return
    click.echo(f"{model_dir} on {corpus}: {metrics['stories']:,} stories")
    cached = metrics["cache"]
    if cached:
        click.echo(f"  {'':<22}{'plain':>12}{'with cache':>12}")
    for key, label in (("tokens", "tokens"), ("words", "words"), ("bytes", "bytes"), ("loss", "loss (nats/token)"),
                       ("perplexity", "perplexity per token"), ("word_perplexity", "perplexity per word"),
                       ("bits_per_byte", "bits per byte")):
        value = metrics[key]
        shown = f"{value:,.4f}" if isinstance(value, float) else f"{value:,}"
        if cached:
            beside = f"{cached[key]:,.4f}" if key in cached else ""
            click.echo(f"  {label:<22}{shown:>12}{beside:>12}")
        else:
            click.echo(f"  {label:<22}{shown}")
    if cached:
        change = 100 * (1 - cached["bits_per_byte"] / metrics["bits_per_byte"])
        click.echo(f"  {neural_cache.describe()}: {change:.1f}% fewer bits per byte")
    else:
        click.echo("  neural cache: off (--cache turns it on)")

