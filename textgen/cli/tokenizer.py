"""textgen tokenizer: train, encode, decode, info."""

from __future__ import annotations

import sys

import click

from textgen.cli.common import SEED, note, print_json, progress


@click.group()
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

    Example: textgen tokenizer train corpora/little-stories.txt --vocab-size 800 --out little.model
    """
    import time

    from textgen.modeldir.atomic import prepare_output
    from textgen.data.corpus import corpus_files, iter_stories
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
    from textgen.data.lines import MAX_LINE_BYTES
    from textgen.modeldir.safe_read import read_stream
    from textgen.tokenizer import load_tokenizer
    from textgen.tokenizer.base import check_text

    if text == "-":
        text = read_stream(sys.stdin.buffer, "standard input", MAX_LINE_BYTES).decode("utf-8", errors="surrogateescape")
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

    Example: textgen tokenizer decode little.model 310 294 301 263 309
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

