"""textgen corpus: stats, split, generate."""

from __future__ import annotations

import click

from textgen.cli.common import SEED, print_json, progress


@click.group()
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
    from textgen.data.corpus import corpus_stats

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
    from textgen.data.corpus import iter_stories, split_corpus

    counts, paths = split_corpus(path, out_dir, valid_fraction, test_fraction, seed,
                                 counted=progress(iter_stories(path), " stories"))
    if as_json:
        print_json({"stories": counts, "files": {name: str(p) for name, p in paths.items()}, "seed": seed})
    else:
        for name, count in counts.items():
            click.echo(f"{name:<6}{count:>8,} stories  -> {paths[name]}")


@corpus.command("generate")
@click.argument("name", type=click.Choice(["doug-jane-spot", "doug-jane-spot-more", "little-stories", "all"]))
@click.option("--out", "out_dir", default="corpora", show_default=True, help="Folder to write NAME.txt into.")
@click.option("--seed", default=0, show_default=True, type=SEED, help="Seed of the story generator (0 gives the committed files).")
def corpus_generate(name: str, out_dir: str, seed: int) -> None:
    """Write one of the project's own corpora (or all) from its seeded generator.

    Example: textgen corpus generate little-stories --out corpora
    """
    from textgen.data.storybook import CORPORA, write_corpus

    for corpus_name in CORPORA if name == "all" else [name]:
        click.echo(f"wrote {write_corpus(corpus_name, out_dir, seed)}")

