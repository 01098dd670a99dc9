"""The `textgen` command: parse options, call one library function, print.

Heavy libraries (torch, Lightning, sentencepiece) are imported inside the commands that
need them, so `textgen --help` answers at once. Every TextgenError becomes one line on
stderr and exit code 2; Ctrl-C exits with 130.
"""

from __future__ import annotations

import json
import sys
import warnings

import click

from textgen.corpus import CorpusWarning
from textgen.errors import TextgenError

SEED = click.IntRange(0, 2**32 - 1)


class TextgenGroup(click.Group):
    """A click group that turns TextgenError and usage mistakes into one line on stderr and exit code 2."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("always", CorpusWarning)
                warnings.showwarning = lambda message, *rest: note(str(message))
                code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as error:
            hint = f" (see '{error.ctx.command_path} --help')" if error.ctx else ""
            click.echo(f"error: {error.format_message()}{hint}", err=True)
            sys.exit(2)
        except click.ClickException as error:
            click.echo(f"error: {error.format_message()}", err=True)
            sys.exit(error.exit_code)
        except (click.Abort, KeyboardInterrupt):
            click.echo("interrupted", err=True)
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except TextgenError as error:
            click.echo(f"error: {error}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)


def print_json(data) -> None:
    click.echo(json.dumps(data, ensure_ascii=False))


def progress(iterable, unit: str):
    """A progress bar on stderr when it is a terminal; the iterable unchanged otherwise."""
    if not sys.stderr.isatty():
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, unit=unit, file=sys.stderr, leave=False, dynamic_ncols=True)


def note(message: str) -> None:
    click.echo(f"note: {message}", err=True)


@click.group(cls=TextgenGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="textgen")
def cli() -> None:
    """textgen: children's-book language models with LSTMs.

    Train a model on simple stories, generate new ones, look at next-word
    probabilities and diagnose repetition errors such as "Doug saw Doug.".
    """


# --- corpus ------------------------------------------------------------------------------

@cli.group()
def corpus() -> None:
    """Read, measure, split and generate story corpora."""


@corpus.command("stats")
@click.argument("path")
@click.option("--top", default=20, show_default=True, type=click.IntRange(0, 1000), help="How many common words to list.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def corpus_stats(path: str, top: int, as_json: bool) -> None:
    """Count stories, words, characters, bytes and vocabulary of PATH.

    PATH is a .txt file (stories split by blank lines or by <|endoftext|> lines), a
    .jsonl file with a "text" field, a .gz of either, or a folder of such files.

    Example: textgen corpus stats corpora/little-stories.txt
    """
    from textgen.corpus import corpus_stats

    stats = corpus_stats(path, top=top)
    if as_json:
        print_json({"path": path, **stats.to_dict()})
        return
    data = stats.to_dict()
    rows = [("corpus", f"{path} ({stats.files} file{'s' if stats.files != 1 else ''})")]
    rows += [(key.replace("_", " "), f"{data[key]:,}") for key in
             ("stories", "lines", "words", "characters", "bytes", "vocabulary", "longest_line_bytes")]
    rows.append(("words per story", f"{data['mean_words_per_story']:,}"))
    for name, value in rows:
        click.echo(f"{name:<20}{value}")
    if stats.top_words:
        click.echo(f"\n{len(stats.top_words)} most common words:")
        largest = stats.top_words[0][1]
        for word, count in stats.top_words:
            click.echo(f"  {word:<14}{count:>10,}  {'█' * max(1, round(30 * count / largest))}")


@corpus.command("split")
@click.argument("path")
@click.option("--out", "out_dir", required=True, help="Folder for train.txt, valid.txt and test.txt.")
@click.option("--valid-fraction", default=0.05, show_default=True, type=float, help="Share of stories for validation.")
@click.option("--test-fraction", default=0.05, show_default=True, type=float, help="Share of stories for testing.")
@click.option("--seed", default=0, show_default=True, type=SEED, help="The same seed gives the same split.")
@click.option("--json", "as_json", is_flag=True, help="Print the story count of each split as JSON.")
def corpus_split(path: str, out_dir: str, valid_fraction: float, test_fraction: float, seed: int, as_json: bool) -> None:
    """Split PATH into train/valid/test by story, with a fixed seed.

    Example: textgen corpus split corpora/little-stories.txt --out data/little
    """
    from pathlib import Path

    from textgen.atomic import atomic_open, prepare_output
    from textgen.corpus import SPLITS, assign_splits, corpus_files, format_stories, iter_stories

    inputs = corpus_files(path)
    paths = {name: prepare_output(Path(out_dir) / f"{name}.txt", inputs) for name in SPLITS}
    count = sum(1 for _ in progress(iter_stories(path), " stories"))
    names = assign_splits(count, valid_fraction, test_fraction, seed)
    with atomic_open(paths["train"]) as train, atomic_open(paths["valid"]) as valid, atomic_open(paths["test"]) as test:
        files = {"train": train, "valid": valid, "test": test}
        for story, name in zip(iter_stories(path), names):
            files[name].writelines(format_stories([story]))
    counts = {name: names.count(name) for name in SPLITS}
    if as_json:
        print_json({"stories": counts, "files": {name: str(p) for name, p in paths.items()}, "seed": seed})
    else:
        for name in SPLITS:
            click.echo(f"{name:<6}{counts[name]:>8,} stories  -> {paths[name]}")


@corpus.command("generate")
@click.argument("name", type=click.Choice(["doug-jane-spot", "doug-jane-spot-more", "little-stories", "all"]))
@click.option("--out", "out_dir", default="corpora", show_default=True, help="Folder to write NAME.txt into.")
@click.option("--seed", default=0, show_default=True, type=SEED, help="Seed of the story generator (0 gives the committed files).")
def corpus_generate(name: str, out_dir: str, seed: int) -> None:
    """Write one of the project's own corpora (or all) from its seeded generator.

    Example: textgen corpus generate little-stories --out corpora
    """
    from textgen.storybook import CORPORA, write_corpus

    for corpus_name in CORPORA if name == "all" else [name]:
        click.echo(f"wrote {write_corpus(corpus_name, out_dir, seed)}")


# --- tokenizer ---------------------------------------------------------------------------

@cli.group()
def tokenizer() -> None:
    """Train tokenizers and look at how they split text."""


@tokenizer.command("train")
@click.argument("corpus_path", metavar="CORPUS")
@click.option("--kind", type=click.Choice(["sentencepiece", "word", "char"]), default="sentencepiece", show_default=True,
              help="sentencepiece for real stories; word for the Doug book; char for tiny experiments.")
@click.option("--vocab-size", type=int, default=None,
              help="Number of tokens, special ones included [default: sentencepiece 2048 or what the corpus allows; word/char: every token seen].")
@click.option("--model-type", type=click.Choice(["unigram", "bpe"]), default="unigram", show_default=True,
              help="sentencepiece algorithm.")
@click.option("--seed", default=0, show_default=True, type=SEED, help="Seed for sampling very large corpora.")
@click.option("--out", "out_path", required=True, help="Tokenizer file to write.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
def tokenizer_train(corpus_path: str, kind: str, vocab_size: int | None, model_type: str, seed: int, out_path: str, as_json: bool) -> None:
    """Train a tokenizer on CORPUS and save it to one file.

    Example: textgen tokenizer train corpora/little-stories.txt --vocab-size 1024 --out little.model
    """
    import time

    from textgen.atomic import prepare_output
    from textgen.corpus import corpus_files, iter_stories
    from textgen.tokenizer import train_tokenizer

    out = prepare_output(out_path, inputs=corpus_files(corpus_path))
    started = time.perf_counter()
    stories = 0

    def counted():
        nonlocal stories
        for story in progress(iter_stories(corpus_path), " stories"):
            stories += 1
            yield story

    trained = train_tokenizer(counted(), kind=kind, vocab_size=vocab_size, model_type=model_type, seed=seed, on_note=note)
    trained.save(out)
    seconds = time.perf_counter() - started
    if as_json:
        print_json({"kind": trained.kind, "vocab_size": trained.vocab_size, "stories": stories, "out": str(out),
                    "seconds": round(seconds, 3), "special_tokens": {"pad": 0, "unk": 1, "bos": 2, "eos": 3}})
    else:
        click.echo(f"trained {trained.describe()} on {stories:,} stor{'y' if stories == 1 else 'ies'} in {seconds:.1f}s -> {out}")


def visible(piece: str) -> str:
    """A piece as printed: spaces and newlines made visible."""
    return piece.replace(" ", "␣").replace("\n", "↵").replace("\t", "⇥") or "∅"


@tokenizer.command("encode")
@click.argument("tokenizer_path", metavar="FILE")
@click.argument("text")
@click.option("--json", "as_json", is_flag=True, help='Print {"pieces": [...], "ids": [...], "decoded": ...}.')
def tokenizer_encode(tokenizer_path: str, text: str, as_json: bool) -> None:
    """Show how the tokenizer in FILE splits TEXT: pieces, ids and the text decoded back.

    TEXT "-" reads standard input.

    Example: textgen tokenizer encode little.model "Once upon a time, there was a cat."
    """
    from textgen.tokenizer import load_tokenizer
    from textgen.tokenizer.base import check_text

    if text == "-":
        text = sys.stdin.buffer.read().decode("utf-8", errors="surrogateescape")
    check_text(text, "TEXT")
    loaded = load_tokenizer(tokenizer_path)
    ids = loaded.encode(text)
    pieces = [loaded.id_to_piece(token_id) for token_id in ids]
    decoded = loaded.decode(ids)
    if as_json:
        print_json({"pieces": pieces, "ids": ids, "decoded": decoded})
        return
    unknown = loaded.unknown(text)
    click.echo(loaded.describe())
    ratio = f" ({len(text) / len(ids):.2f} characters per token)" if ids else ""
    click.echo(f"{len(ids)} tokens for {len(text)} characters{ratio}\n")
    line = []
    for piece in pieces:
        line.append(visible(piece))
        if piece == "\n":
            click.echo(" │ ".join(line))
            line = []
    if line:
        click.echo(" │ ".join(line))
    click.echo(f"\nids: {ids}")
    if unknown:
        click.echo(f"unknown to this tokenizer (encoded as <unk>, decoded as ⁇): {' '.join(map(repr, unknown))}")
    if decoded == text:
        click.echo("decoded: identical to the input")
    else:
        click.echo(f"decoded{'' if unknown else ' (after the tokenizer normalisation)'}: {decoded}")


@tokenizer.command("decode")
@click.argument("tokenizer_path", metavar="FILE")
@click.argument("ids", nargs=-1, type=int, required=True)
def tokenizer_decode(tokenizer_path: str, ids: tuple[int, ...]) -> None:
    """Turn token IDS back into text (put -- before the ids if one is negative).

    Example: textgen tokenizer decode little.model 2 215 37 9
    """
    from textgen.tokenizer import load_tokenizer

    click.echo(load_tokenizer(tokenizer_path).decode(ids))


@tokenizer.command("info")
@click.argument("tokenizer_path", metavar="FILE")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def tokenizer_info(tokenizer_path: str, as_json: bool) -> None:
    """Describe a tokenizer file: kind, size, special tokens and its first pieces.

    Example: textgen tokenizer info little.model
    """
    from textgen.tokenizer import load_tokenizer

    loaded = load_tokenizer(tokenizer_path)
    first = [loaded.id_to_piece(token_id) for token_id in range(min(loaded.vocab_size, 40))]
    if as_json:
        print_json({"kind": loaded.kind, "vocab_size": loaded.vocab_size, "describe": loaded.describe(),
                    "special_tokens": {"pad": loaded.pad_id, "unk": loaded.unk_id, "bos": loaded.bos_id, "eos": loaded.eos_id},
                    "first_pieces": first})
        return
    click.echo(loaded.describe())
    click.echo(f"special tokens: <pad> {loaded.pad_id}, <unk> {loaded.unk_id}, <s> (start of story) {loaded.bos_id}, </s> (end of story) {loaded.eos_id}")
    click.echo("first pieces: " + " │ ".join(visible(piece) for piece in first))


# --- experiments -------------------------------------------------------------------------

def int_list(ctx: click.Context | None, param: click.Parameter | None, text: str) -> tuple[int, ...]:
    """A click callback: "2,8,32" -> (2, 8, 32)."""
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a comma-separated list of whole numbers, e.g. 2,8,32") from None
    if not values:
        raise click.BadParameter("give at least one value, e.g. 2,8,32")
    return values


@cli.group()
def experiment() -> None:
    """Experiments that test what the toolkit teaches about recurrent memory."""


@experiment.command("memory-span")
@click.option("--cells", default="rnn,gru,lstm", show_default=True, help="Cells to compare (rnn, gru, lstm, peephole).")
@click.option("--spans", default="2,4,8,16,32,48,64", show_default=True, callback=int_list, help="Spans k: steps between the key and the question.")
@click.option("--steps", default=800, show_default=True, type=click.IntRange(1, 1_000_000), help="Training steps per cell, span and seed.")
@click.option("--seeds", default=2, show_default=True, type=click.IntRange(1, 100), help="Independent runs averaged per cell and span.")
@click.option("--budget", default=12_000, show_default=True, type=click.IntRange(100, 100_000_000), help="Parameters per model (hidden size is chosen to match).")
@click.option("--symbols", default=8, show_default=True, type=click.IntRange(2, 10_000), help="Alphabet size; chance is 1/symbols.")
@click.option("--forget-bias", default=3.0, show_default=True, type=float, help="Initial keep-gate bias of the gated cells (LSTM forget, GRU update).")
@click.option("--seed", default=0, show_default=True, type=SEED, help="First seed.")
@click.option("--plot", "plot_path", default=None, help="Write a PNG of accuracy against span.")
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
    if plot_path:
        from textgen.atomic import prepare_output

        prepare_output(plot_path)
    total = len(settings.cells) * len(settings.spans)
    bar = None
    if sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=total, unit=" runs", file=sys.stderr, leave=False)

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
        from textgen.plots import plot_memory_span

        plot_memory_span(results, settings.symbols, plot_path)
    if as_json:
        print_json(to_json(results, settings))
        return
    click.echo(results_table(results, settings.symbols))
    for cell, span in to_json(results, settings)["longest_span_90"].items():
        click.echo(f"{cell}: recalls at >= 90% up to k = {span}" if span else f"{cell}: below 90% even at k = {settings.spans[0]}")
    if plot_path:
        click.echo(f"plot -> {plot_path}")


def main() -> None:
    """Console entry point."""
    try:
        cli()
    except KeyboardInterrupt:  # raised outside a command, e.g. while parsing
        click.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
