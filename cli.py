"""The `textgen` command: parse options, call one library function, print.

Heavy libraries (torch, Lightning, sentencepiece) are imported inside the commands that
need them, so `textgen --help` answers at once. Every TextgenError becomes one line on
stderr and exit code 2; Ctrl-C exits with 130.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

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
                show = warnings.showwarning
                warnings.showwarning = lambda message, category, *rest: (
                    note(str(message)) if issubclass(category, CorpusWarning) else show(message, category, *rest))
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


# --- the neural cache (evaluate, generate, next, diagnose) ----------------------------------

def cache_options(function):
    """The neural cache options of evaluate, generate, next and diagnose."""
    options = [
        click.option("--cache/--no-cache", "cache_enabled", default=None,
                     help="The neural cache that keeps a story's names [default: on when training chose settings for "
                          "this model, i.e. it helped on validation text]."),
        click.option("--cache-weight", type=float, default=None, help="The cache's share of each prediction, in [0, 1)."),
        click.option("--cache-theta", type=float, default=None, help="How sharply the cache prefers similar states (0, 100]."),
        click.option("--cache-size", type=int, default=None, help="How many earlier positions the cache remembers."),
        click.option("--cache-scope", type=click.Choice(["story", "all"]), default=None,
                     help="Empty the cache at each story start, or keep it across stories."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def cache_settings(loaded, options: dict):
    """The cache settings a command uses (None: off), from the model's tuned ones and the options."""
    from textgen.cache import resolve_cache

    enabled = options.pop("cache_enabled", None)
    values = {name: options.pop(f"cache_{name}", None) for name in ("weight", "theta", "size", "scope")}
    tuned = loaded.cache if loaded is not None else None
    settings = resolve_cache(tuned, enabled, **values)
    if enabled and tuned is None and not any(value is not None for value in values.values()):
        note("this model has no cache settings chosen on validation text: using the defaults "
             f"({settings.describe() if settings else 'off'})")
    return settings


# --- training and evaluation -------------------------------------------------------------

def parse_duration(ctx, param, value: str | None) -> float | None:
    """'90s', '2m', '1.5h', '1d', 'HH:MM:SS' or plain seconds -> seconds."""
    if value is None:
        return None
    text = str(value).strip().lower()
    if not text:
        raise click.BadParameter("give a duration, e.g. 90s, 2m, 1.5h or 01:30:00")
    try:
        if ":" in text:
            parts = [float(part) for part in text.split(":")]
            seconds = sum(part * 60**index for index, part in enumerate(reversed(parts)))
        else:
            units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
            seconds = float(text[:-1]) * units[text[-1]] if text[-1] in units else float(text)
    except (ValueError, KeyError):
        raise click.BadParameter(f"{value!r} is not a duration: use e.g. 90s, 2m, 1.5h or 01:30:00") from None
    if not 0 < seconds <= 366 * 86400:
        raise click.BadParameter(f"{value!r} must be longer than zero and at most a year")
    return seconds


def load_config_file(ctx: click.Context, param, value: str | None):
    """--config FILE (TOML or YAML): its keys become the defaults, so flags given on the command line win."""
    if value is None:
        return None
    from pathlib import Path

    from textgen.files import read_text

    path = Path(value)
    text = read_text(path, "config file", 1 << 20)
    try:
        if path.suffix.lower() == ".toml":
            import tomllib

            data = tomllib.loads(text)
        elif path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            raise TextgenError(f"config file {path} must end in .toml, .yaml or .yml")
    except TextgenError:
        raise
    except Exception as error:  # noqa: BLE001 (tomllib.TOMLDecodeError, yaml.YAMLError)
        raise TextgenError(f"config file {path} does not parse ({str(error).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise TextgenError(f"config file {path} must hold key = value settings")
    options = {p.name: p for p in ctx.command.params if isinstance(p, click.Option) and p.name != "config"}
    # a key is an option's name as typed (out, valid, json) or its parameter name (out_dir), with - or _
    by_flag = {flag.lstrip("-").replace("-", "_"): p.name for p in options.values() for flag in p.opts if flag.startswith("--")}
    settings = {by_flag.get(str(key).replace("-", "_"), str(key).replace("-", "_")): item for key, item in data.items()}
    unknown = sorted(set(settings) - set(options))
    if unknown:
        raise TextgenError(f"config file {path} has unknown settings {', '.join(unknown)}: use the option names of "
                           "`textgen train --help` (with - or _)")
    for key, item in settings.items():
        option = options[key]
        flag = option.is_flag
        number = isinstance(option.type, (click.types.IntParamType, click.types.FloatParamType, click.IntRange, click.FloatRange))
        if isinstance(item, (list, dict)) or (isinstance(item, bool) and not flag) or (flag and not isinstance(item, bool)) \
                or (isinstance(option.type, (click.types.IntParamType, click.IntRange)) and isinstance(item, float)) \
                or (number and isinstance(item, str) and not item.strip()):
            raise TextgenError(f"config file {path}: {key} = {item!r} is not a valid value for --{key.replace('_', '-')}")
    ctx.default_map = {**(ctx.default_map or {}), **settings}
    return value


MODEL_OPTIONS = {"cell": "cell", "embed_dim": "embed_dim", "hidden_size": "hidden_size", "num_layers": "num_layers",
                 "embed_dropout": "embed_dropout", "input_dropout": "input_dropout", "hidden_dropout": "hidden_dropout",
                 "output_dropout": "output_dropout", "weight_drop": "weight_drop", "ar": "activation_reg",
                 "tar": "temporal_activation_reg", "forget_bias": "forget_bias", "tie": "tie_weights",
                 "output_projection": "output_projection"}
TRAIN_OPTIONS = ("seq_len", "batch_size", "batching", "valid_fraction", "optimizer", "lr", "weight_decay", "warmup_steps",
                 "warmup_fraction",
                 "min_lr_ratio", "schedule", "grad_clip", "max_steps", "max_epochs", "max_time", "val_every", "log_every",
                 "seed", "deterministic", "precision", "accelerator", "devices", "num_nodes", "strategy")


def forget_bias_value(value):
    """--forget-bias: a number, or chrono[:T]."""
    if value is None or isinstance(value, (int, float)):
        return value
    try:
        return float(value)
    except ValueError:
        from textgen.config import chrono_span

        chrono_span(str(value))
        return str(value).strip().lower()


def devices_value(ctx, param, value):
    if value is None:
        return None
    text = str(value)
    return int(text) if text.isdigit() else text


@cli.command("train")
@click.argument("corpus")
@click.option("--out", "out_dir", required=True, help="Model directory to write, e.g. checkpoints/little.")
@click.option("--config", type=str, callback=load_config_file, is_eager=True, expose_value=False,
              help="TOML or YAML file of these options (flags given here override it).")
@click.option("--tokenizer", "tokenizer_path", default=None, help="Use this tokenizer file instead of training one.")
@click.option("--tokenizer-kind", type=click.Choice(["sentencepiece", "word", "char"]), default="sentencepiece", show_default=True)
@click.option("--vocab-size", type=click.IntRange(1), default=None, help="Tokenizer size [default: sentencepiece 2048 or what the corpus allows].")
@click.option("--tokenizer-type", type=click.Choice(["unigram", "bpe"]), default="unigram", show_default=True)
@click.option("--cell", type=click.Choice(["lstm", "peephole", "gru", "rnn"]), default="lstm", show_default=True)
@click.option("--embed-dim", type=int, default=None, help="Token embedding size [default: the hidden size, at most 256].")
@click.option("--hidden-size", type=int, default=None,
              help="Units per layer [default: from the time budget, 384 for 5 minutes; the run prints the rule].")
@click.option("--num-layers", type=int, default=1, show_default=True)
@click.option("--embed-dropout", type=float, default=0.05, show_default=True, help="Drop whole words (AWD-LSTM).")
@click.option("--input-dropout", type=float, default=0.1, show_default=True, help="Locked dropout on the embeddings.")
@click.option("--hidden-dropout", type=float, default=0.1, show_default=True, help="Locked dropout between layers.")
@click.option("--output-dropout", type=float, default=0.1, show_default=True, help="Locked dropout on the last layer.")
@click.option("--weight-drop", type=float, default=0.1, show_default=True, help="DropConnect on hidden-to-hidden weights.")
@click.option("--ar", type=float, default=4.0, show_default=True, help="Activation regularisation (alpha).")
@click.option("--tar", type=float, default=2.0, show_default=True, help="Temporal activation regularisation (beta).")
@click.option("--forget-bias", default="1.0", show_default=True, callback=lambda ctx, param, value: forget_bias_value(value),
              help="Initial bias of the keep gates, or chrono[:T]: time scales up to T steps (Tallec & Ollivier 2018).")
@click.option("--tie/--no-tie", default=True, show_default=True, help="Share the embedding and decoder weights.")
@click.option("--output-projection/--no-output-projection", default=True, show_default=True)
@click.option("--seq-len", type=int, default=64, show_default=True, help="Tokens per truncated-backprop chunk.")
@click.option("--batch-size", type=int, default=32, show_default=True, help="Sequences per step, over all processes.")
@click.option("--batching", type=click.Choice(["stream", "windows"]), default="stream", show_default=True,
              help="stream: contiguous streams with state carried; windows: random windows, fresh state.")
@click.option("--valid", "valid_file", default=None, help="Validation corpus (otherwise --valid-fraction of the stories).")
@click.option("--valid-fraction", type=float, default=0.05, show_default=True)
@click.option("--cache-dir", default=None, help="Token cache folder [default: .cache beside the model directory].")
@click.option("--optimizer", type=click.Choice(["adamw", "ntasgd"]), default="adamw", show_default=True)
@click.option("--lr", type=float, default=1e-2, show_default=True, help="Peak learning rate.")
@click.option("--weight-decay", type=float, default=0.01, show_default=True)
@click.option("--warmup-steps", type=int, default=100, show_default=True, help="Warm-up steps when steps bound the run.")
@click.option("--warmup-fraction", type=float, default=0.03, show_default=True,
              help="Warm-up share of --max-time when time alone bounds the run.")
@click.option("--min-lr-ratio", type=float, default=0.1, show_default=True, help="Cosine decays to lr times this.")
@click.option("--schedule", type=click.Choice(["cosine", "constant"]), default="cosine", show_default=True)
@click.option("--grad-clip", type=float, default=1.0, show_default=True, help="Gradient norm clipping (0: off).")
@click.option("--max-steps", type=click.IntRange(1), default=None,
              help="Stop after this many steps [default: 1000 when neither --max-time nor --max-epochs is given]. "
                   "With --max-time too, whichever comes first, and the schedule follows the steps.")
@click.option("--max-epochs", type=click.IntRange(1), default=None)
@click.option("--max-time", callback=parse_duration, default=None,
              help="Train for this long: 90s, 2m, 1h, HH:MM:SS. Alone, it is the run's whole budget (resumes included) "
                   "and the learning rate decays with the time used.")
@click.option("--val-every", type=click.IntRange(1), default=None,
              help="Steps between validation and checkpoints [default: 200; a sixth of --max-time when time bounds the run].")
@click.option("--log-every", type=click.IntRange(1), default=10, show_default=True)
@click.option("--seed", type=SEED, default=0, show_default=True)
@click.option("--deterministic", is_flag=True, help="torch's deterministic algorithms (exact resume checks).")
@click.option("--precision", default="32", show_default=True, help="32, or bf16-mixed where the machine supports it.")
@click.option("--accelerator", default="auto", show_default=True, help="Lightning accelerator: cpu, gpu, auto.")
@click.option("--devices", default="1", show_default=True, callback=devices_value, help="Processes/devices per node, or 'auto'.")
@click.option("--num-nodes", type=click.IntRange(1), default=1, show_default=True)
@click.option("--strategy", default="auto", show_default=True, help="Lightning strategy, e.g. ddp.")
@click.option("--resume", is_flag=True, help="Continue from OUT/lightning/last.ckpt (optimizer, schedule, step, data position).")
@click.option("--overwrite", is_flag=True, help="Replace a previous run in OUT.")
@click.option("--json", "as_json", is_flag=True, help="Print the final summary as JSON.")
@click.pass_context
def train_command(ctx: click.Context, corpus: str, out_dir: str, tokenizer_path, tokenizer_kind, vocab_size, tokenizer_type,
                  valid_file, cache_dir, resume, overwrite, as_json, **options) -> None:
    """Train a language model on CORPUS into the model directory OUT.

    Shows the config and parameter count, a progress bar with loss, validation
    perplexity and tokens/s, and a summary. Ctrl-C or SIGTERM saves a resumable
    checkpoint and exits with 130 or 143; --resume continues where it stopped.

    Example: textgen train corpora/little-stories.txt --out checkpoints/little --max-time 2m
    """
    import os

    from click.core import ParameterSource

    from textgen.training.run import TokenizerSpec, train

    explicit = {name for name in options if ctx.get_parameter_source(name) in (ParameterSource.COMMANDLINE, ParameterSource.DEFAULT_MAP)}
    chosen = (lambda name: name in explicit) if resume else (lambda name: True)
    model = {field: options[name] for name, field in MODEL_OPTIONS.items() if chosen(name) and options[name] is not None}
    training = {name: options[name] for name in TRAIN_OPTIONS if chosen(name)}
    if resume and "max_steps" not in explicit:
        training.pop("max_steps", None)
    primary = all(int(os.environ.get(name, "0") or 0) == 0 for name in ("LOCAL_RANK", "NODE_RANK", "RANK"))
    kind_given = ctx.get_parameter_source("tokenizer_kind") in (ParameterSource.COMMANDLINE, ParameterSource.DEFAULT_MAP)
    spec = TokenizerSpec(tokenizer_path, tokenizer_kind if kind_given or not resume else None, vocab_size, tokenizer_type)
    given = {name for name in ("vocab_size", "tokenizer_kind", "tokenizer_type", "valid_fraction")
             if ctx.get_parameter_source(name) in (ParameterSource.COMMANDLINE, ParameterSource.DEFAULT_MAP)}
    if primary and tokenizer_path and given & {"vocab_size", "tokenizer_kind", "tokenizer_type"}:
        note("--tokenizer FILE is used as it is: --vocab-size, --tokenizer-kind and --tokenizer-type are ignored")
    if primary and valid_file and "valid_fraction" in given:
        note("--valid FILE is the validation set: --valid-fraction is ignored")
    launched = any(name in os.environ for name in ("WORLD_SIZE", "SLURM_NTASKS", "TORCHELASTIC_RUN_ID"))
    if options["num_nodes"] > 1 and not launched:
        raise TextgenError(f"--num-nodes {options['num_nodes']} needs a launcher that starts every node: run under torchrun "
                           "or srun (see the README's scale-out commands), or use --num-nodes 1")
    from textgen.config import ModelConfig, TrainConfig

    if not resume:  # check every setting before any work
        TrainConfig(**training)
        ModelConfig(vocab_size=1, **model)

    def report(line: str) -> None:
        if primary:
            click.echo(line, err=True)

    result = train(corpus, out_dir, spec, model, training, valid_file=valid_file, cache_dir=cache_dir, resume=resume,
                   overwrite=overwrite, progress_bar=sys.stderr.isatty(), command=["textgen", *sys.argv[1:]],
                   primary=primary, report=report)
    if not primary:
        return
    metrics = result.metrics
    summary = {"out": str(result.out_dir), "steps": result.steps, "new_steps": result.new_steps,
               "seconds": round(result.seconds, 1),
               "parameters": result.model_config.parameter_count(), "interrupted": bool(result.signal),
               **{f"valid_{key}": value for key, value in metrics.items() if key != "step"}}
    if as_json:
        print_json(summary)
    else:
        line = (f"trained {result.new_steps} more steps (now at step {result.steps}) in {result.seconds:.0f}s" if resume
                else f"trained {result.steps} steps in {result.seconds:.0f}s")
        if metrics:
            line += (f"; validation: loss {metrics['loss']:.4f}, perplexity {metrics['perplexity']:.3f}, "
                     f"word perplexity {metrics['word_perplexity']:.3f}, bits per byte {metrics['bits_per_byte']:.4f}")
        click.echo(f"{line}\nmodel -> {result.out_dir}")
    if result.signal:
        import signal as signals

        click.echo(f"interrupted by {signals.Signals(result.signal).name} at step {result.steps}: checkpoint saved; "
                   f"continue with: textgen train {corpus} --out {out_dir} --resume", err=True)
        ctx.exit(130 if result.signal == signals.SIGINT else 143)


@cli.command("export")
@click.argument("model_dir", metavar="MODEL")
@click.argument("out_dir", metavar="OUT")
@click.option("--dtype", type=click.Choice(["float32", "bfloat16"]), default="bfloat16", show_default=True,
              help="How the weights are stored (bfloat16 halves the file; loading turns them back into float32).")
@click.option("--overwrite", is_flag=True, help="Replace a model directory already in OUT.")
def export_command(model_dir: str, out_dir: str, dtype: str, overwrite: bool) -> None:
    """Copy MODEL into OUT for sharing: the weights (in --dtype), the tokenizer, textgen.json,
    and the training curves, without the lightning/ resume state.

    Example: textgen export checkpoints/tiny checkpoints/tiny-small --dtype bfloat16
    """
    import shutil
    from pathlib import Path

    import textgen
    from textgen.atomic import prepare_output
    from textgen.checkpoint import META_FILE, save_model_dir

    loaded = textgen.load(model_dir)
    out = Path(out_dir)
    if out.resolve() == loaded.path.resolve():
        raise TextgenError(f"OUT {out} is MODEL itself: give another folder")
    if (out / META_FILE).exists() and not overwrite:
        raise TextgenError(f"{out} holds a model directory already: add --overwrite to replace it")
    prepare_output(out / META_FILE)
    keep = {key: value for key, value in loaded.metadata.items()
            if key not in ("format", "format_version", "model", "tokenizer", "files", "weights_dtype")}
    save_model_dir(out, loaded.model, loaded.tokenizer, {**keep, "exported_from": str(model_dir)}, dtype=dtype)
    for name in ("metrics.csv", "loss.png"):
        if (loaded.path / name).is_file():
            shutil.copyfile(loaded.path / name, out / name)
    size = sum(path.stat().st_size for path in out.iterdir() if path.is_file())
    click.echo(f"{model_dir} -> {out} ({dtype} weights, {size / 2**20:.1f} MiB in all)")


@cli.command("evaluate")
@click.argument("model_dir", metavar="MODEL")
@click.argument("corpus")
@click.option("--streams", type=click.IntRange(1, 4096), default=1, show_default=True,
              help="Parallel streams (faster; 1 carries the state across the whole corpus).")
@click.option("--seq-len", type=click.IntRange(1, 1_000_000), default=256, show_default=True, help="Tokens per forward call.")
@click.option("--cache-dir", default=None, help="Token cache folder [default: .cache beside the model directory].")
@cache_options
@click.option("--json", "as_json", is_flag=True,
              help='Print tokens, words, bytes, loss, perplexity, word_perplexity, bits_per_byte, and "cache": the same '
                   'numbers with the neural cache and its settings (null when it is off).')
def evaluate_command(model_dir: str, corpus: str, streams: int, seq_len: int, cache_dir: str | None, as_json: bool,
                     **options) -> None:
    """Perplexity per token and per word, and bits per byte, of MODEL on CORPUS: the plain
    model's, and beside them the model's with the neural cache when it is on.

    Example: textgen evaluate checkpoints/little ../shared/corpora/tinystories/valid.txt
    """
    from pathlib import Path

    import textgen
    from textgen.data import cached_tokens
    from textgen.evaluate import evaluate_array

    loaded = textgen.load(model_dir)
    neural_cache = cache_settings(loaded, options)
    cache = Path(cache_dir) if cache_dir else Path(model_dir).resolve().parent / ".cache"
    array = cached_tokens(corpus, loaded.tokenizer, cache)
    unknown = array.unknown_share()
    if unknown > 0.01:
        note(f"{100 * unknown:.1f}% of the tokens of {corpus} are <unk>: the model's tokenizer does not cover this text, "
             "so these numbers look better than they are")
    metrics = evaluate_array(loaded.model, array.load(), array.words, array.bytes, array.stories, streams=streams, seq_len=seq_len,
                             cache=neural_cache)
    metrics.setdefault("cache", None)
    skipped = array.tokens - 1 - metrics["tokens"]
    if skipped > 0:
        note(f"{streams} streams left the last {skipped:,} tokens unscored (the metrics scale to the scored share)")
    if as_json:
        print_json({"model": model_dir, "corpus": corpus, **metrics})
        return
    click.echo(f"{model_dir} on {corpus}: {array.stories:,} stories")
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


# --- generation ----------------------------------------------------------------------------

def sampling_options(function):
    """The sampling options shared by generate (and later diagnose)."""
    options = [
        click.option("--temperature", type=float, default=1.0, show_default=True, help="0 means greedy."),
        click.option("--top-k", type=int, default=0, show_default=True, help="Keep the k most likely tokens (0: off)."),
        click.option("--top-p", type=float, default=1.0, show_default=True, help="Nucleus: keep tokens up to this probability mass."),
        click.option("--min-p", type=float, default=0.0, show_default=True, help="Keep tokens at least this share of the best."),
        click.option("--repetition-penalty", type=float, default=1.0, show_default=True, help="CTRL penalty for seen tokens (1: off)."),
        click.option("--frequency-penalty", type=float, default=0.0, show_default=True,
                     help="Subtract this times a token's count so far (0: off)."),
        click.option("--presence-penalty", type=float, default=0.0, show_default=True,
                     help="Subtract this once from every token seen so far (0: off)."),
        click.option("--no-repeat-ngram", type=int, default=0, show_default=True, help="Forbid repeating n-grams of this size."),
        click.option("--dry-multiplier", type=float, default=0.0, show_default=True, help="DRY penalty strength (0: off)."),
        click.option("--dry-base", type=float, default=1.75, show_default=True,
                     help="DRY: the penalty grows by this factor per repeated token."),
        click.option("--dry-allowed-length", type=int, default=2, show_default=True,
                     help="DRY: repeats up to this many tokens go unpenalised."),
        click.option("--dry-breaker", "dry_breakers", multiple=True,
                     help='Text that breaks a DRY repeat (repeatable) [default: newline . ! ? " ,].'),
        click.option("--ban", "banned", multiple=True, help="A word never to write (repeatable; </s>: never end the story)."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


GENERATION_BATCH = 64  # stories generated at once (diagnose uses the same batches and seeds)


def sampling_settings(options: dict):
    from textgen.sampling.settings import DEFAULT_BREAKERS, SamplingSettings

    return SamplingSettings(
        temperature=options["temperature"], top_k=options["top_k"], top_p=options["top_p"], min_p=options["min_p"],
        repetition_penalty=options["repetition_penalty"], frequency_penalty=options["frequency_penalty"],
        presence_penalty=options["presence_penalty"], no_repeat_ngram=options["no_repeat_ngram"],
        dry_multiplier=options["dry_multiplier"], dry_base=options["dry_base"], dry_allowed_length=options["dry_allowed_length"],
        dry_breakers=tuple(options["dry_breakers"]) or DEFAULT_BREAKERS, banned_words=tuple(options["banned"]))


@cli.command("generate")
@click.argument("model_dir", metavar="MODEL")
@click.option("--prompt", default="", help="How the story starts (default: from the start of a story).")
@click.option("-n", "count", type=int, default=1, show_default=True, help="Stories to write (one batch).")
@click.option("--max-tokens", type=int, default=200, show_default=True, help="At most this many new tokens (1..10,000).")
@sampling_options
@click.option("--beams", type=int, default=1, show_default=True, help="Beam search with this many beams.")
@click.option("--greedy", is_flag=True, help="Always take the most likely token.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="The same seed gives the same stories.")
@click.option("--stop", "stops", multiple=True, help="Stop a story when this text appears (repeatable).")
@click.option("--quantize", type=click.Choice(["auto", "none", "int8", "bf16"]), default="auto", show_default=True,
              help="Weights for generation: auto = bf16 where the CPU has it natively, else float32 (README: speed table).")
@cache_options
@click.option("--verbose", is_flag=True, help="Print the processors in the order they are applied.")
@click.option("--json", "as_json", is_flag=True, help='One object per story per line: {"text", "tokens": [{"token", "probability", "rank"}], ...}.')
def generate_command(model_dir: str, prompt: str, count: int, max_tokens: int, beams: int, greedy: bool, seed: int,
                     stops: tuple[str, ...], quantize: str, verbose: bool, as_json: bool, **options) -> None:
    """Write new stories with MODEL, streamed to the terminal as they are written.

    Example: textgen generate checkpoints/little --prompt "Once upon a time" -n 3 --temperature 0.8 --top-p 0.9
    """
    from textgen.sampling.generate import check_generation, generate, prompt_ids
    from textgen.sampling.settings import build_processors
    from textgen.tokenizer.base import check_text

    check_text(prompt, "--prompt")
    check_generation(count, max_tokens, beams)
    loaded = load_for_generation(model_dir, quantize)
    from textgen.cache import with_cache

    neural_cache = cache_settings(loaded, options)
    loaded.model = with_cache(loaded.model, neural_cache)
    settings = sampling_settings(options)
    processors = build_processors(settings, loaded.tokenizer)
    prompt_ids(loaded.tokenizer, prompt)  # unknown words are refused before anything is written
    if verbose:
        from textgen.model.quantize import resolve_mode

        click.echo(f"weights: {resolve_mode(quantize) if quantize != 'none' else 'none'}", err=True)
        click.echo(neural_cache.describe() if neural_cache else "neural cache: off", err=True)
        click.echo("processors, in order: " + ("; ".join(p.describe() for p in processors) or "none"), err=True)
    live = not as_json and beams == 1
    batch_size = count if beams > 1 else GENERATION_BATCH  # stories are written in batches: memory does not grow with -n
    streamed: dict[int, str] = {}
    offset = 0

    def on_token(row: int, text: str) -> None:
        streamed[offset + row] = streamed.get(offset + row, "") + text
        if offset + row == 0 and live:
            click.echo(text, nl=False)

    if live:
        click.echo(prompt, nl=False)
    try:
        for batch, offset in enumerate(range(0, count, batch_size)):
            streamed.clear()
            # batch b uses seed + b, as diagnose does, so the first 64 stories are the same in both
            samples = generate(loaded.model, loaded.tokenizer, prompt, n=min(batch_size, count - offset), max_tokens=max_tokens,
                               processors=processors, greedy=greedy or settings.greedy, beams=beams,
                               seed=(seed + batch) % 2**32, stop=stops, on_token=on_token)
            for index, sample in enumerate(samples, start=offset):
                if as_json:
                    print_json(sample.to_dict())
                elif index == 0 and live:
                    click.echo()
                else:
                    click.echo(f"\n--- story {index + 1}\n{prompt}{sample.text}")
    except KeyboardInterrupt:
        if live and 0 in streamed:
            click.echo()
        for row in sorted(streamed):
            if as_json:  # what was written so far, in the same form as finished stories
                print_json({"prompt": prompt, "text": streamed[row], "stop_reason": "interrupted", "tokens": None})
            elif not (row == 0 and live):
                click.echo(f"\n--- story {row + 1} (interrupted)\n{prompt}{streamed[row]}")
        click.echo("interrupted", err=True)
        sys.exit(130)


@cli.command("next")
@click.argument("model_dir", metavar="MODEL")
@click.argument("text")
@click.option("--top", type=click.IntRange(1, 10_000), default=10, show_default=True, help="How many words to list.")
@click.option("--words", "word_list", default=None, help="Score exactly these words, comma-separated (e.g. Jane,Spot,Doug).")
@click.option("--pieces", is_flag=True, help="Show the raw next-token distribution instead of words.")
@click.option("--plot", "plot_path", default=None, metavar="FILE.png", help="Draw the probabilities as a PNG bar chart.")
@cache_options
@click.option("--json", "as_json", is_flag=True, help='Print {"context", "words": [{"word", "probability"}], "coverage"}.')
def next_command(model_dir: str, text: str, top: int, word_list: str | None, pieces: bool, plot_path: str | None,
                 as_json: bool, **options) -> None:
    """What does MODEL expect after TEXT? Whole words with their probabilities, even with a
    sentencepiece model (a word's probability is that of its pieces in sequence and of the
    word ending there).

    Example: textgen next checkpoints/little "Once upon a time, there was a" --top 10
    """
    import textgen
    from textgen.inspection import next_tokens, next_words, score_words
    from textgen.tokenizer.base import check_text

    check_text(text, "TEXT")
    if plot_path:
        from textgen.plots import check_plot_path

        check_plot_path(plot_path)
    words = None
    if word_list is not None:
        words = [word.strip() for word in word_list.split(",") if word.strip()]
        if not words:
            raise TextgenError("the --words list is empty: give words separated by commas, e.g. --words Jane,Spot")
    loaded = textgen.load(model_dir)
    from textgen.cache import with_cache

    loaded.model = with_cache(loaded.model, cache_settings(loaded, options))
    context = text.rstrip(" ")
    if words is not None:
        result = score_words(loaded.model, loaded.tokenizer, context, words)
    elif pieces:
        result = next_tokens(loaded.model, loaded.tokenizer, context, top)
    else:
        result = next_words(loaded.model, loaded.tokenizer, context, top)
    if plot_path:
        from textgen.plots import plot_next_words

        plot_next_words(result, plot_path)
    if as_json:
        print_json(result.to_dict())
        return
    kind = "pieces" if pieces else "words"
    click.echo(f"after “{context}”:")
    largest = max((w.probability for w in result.words), default=0) or 1
    width = max((len(w.word) for w in result.words), default=4)
    for w in result.words:
        label = w.word.replace("\n", "↵")
        split = f"  ({' + '.join(w.pieces)})" if kind == "words" and len(w.pieces) > 1 else ""
        bar = "█" * max(1, round(30 * w.probability / largest)) if w.known else "(not in the model's vocabulary: never written)"
        click.echo(f"  {label:<{width}}  {100 * w.probability:6.2f}%  {bar}{split}")
    exactness = "" if result.exact else " (search stopped early: the list may miss some words)"
    click.echo(f"these {kind} cover {100 * result.coverage:.1f}% of the probability{exactness}")
    if plot_path:
        click.echo(f"plot -> {plot_path}")


GENERATION_OPTIONS = ("samples", "prompt", "max_tokens", "quantize", "compare_settings", "save_path", "show_stories",
                      "temperature", "top_k", "top_p", "min_p", "repetition_penalty", "frequency_penalty", "presence_penalty",
                      "no_repeat_ngram", "dry_multiplier", "dry_base", "dry_allowed_length", "dry_breakers", "banned")
SAMPLING_OPTIONS = ("temperature", "top_k", "top_p", "min_p", "repetition_penalty", "frequency_penalty", "presence_penalty",
                    "no_repeat_ngram", "dry_multiplier", "dry_base", "dry_allowed_length", "dry_breakers", "banned",
                    "show_stories", "limit")


def given_options(ctx: click.Context, names) -> list[str]:
    """The flags (as the user types them) of the named parameters given on the command line."""
    from click.core import ParameterSource

    flags = {param.name: param.opts[0] for param in ctx.command.params}
    return [flags[name] for name in names if ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE]


SHORT_METRICS = (("seq_rep_1", "rep-1"), ("seq_rep_2", "rep-2"), ("seq_rep_3", "rep-3"), ("seq_rep_4", "rep-4"),
                 ("distinct_1", "dist-1"), ("distinct_2", "dist-2"), ("distinct_3", "dist-3"), ("rep_16", "r16"),
                 ("rep_32", "r32"), ("rep_128", "r128"), ("self-object_per_1000_words", "self"),
                 ("immediate-repeat_per_1000_words", "imm"), ("phrase-loop_per_1000_words", "loop"),
                 ("repeated-sentence_per_1000_words", "sent"), ("names_per_story", "names"), ("late_names_per_story", "late"))


def quantized_copy(loaded, quantize: str):
    """The model to sample from: a bf16 or int8 copy where asked (auto: bf16 where the CPU has it
    natively), the loaded float model otherwise. The float model stays in `loaded.model`."""
    if quantize == "none" or next(loaded.model.parameters()).device.type != "cpu":
        return loaded.model
    from textgen.model.quantize import quantize as quantized

    # torch deprecates its quantised tensor constructors but still runs them; the message is noise here
    warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*")
    return quantized(loaded.model, quantize)


def load_for_generation(model_dir: str, quantize: str):
    """A loaded model whose `model` is the one to sample from."""
    import textgen

    loaded = textgen.load(model_dir)
    loaded.model = quantized_copy(loaded, quantize)
    return loaded


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

        return Silent()
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, file=sys.stderr, leave=False, dynamic_ncols=True)


def recorded_corpora(loaded) -> list[str]:
    """The paths a model's textgen.json gives for its training corpus (as typed, and absolute)."""
    corpus = loaded.metadata.get("corpus") if loaded is not None and isinstance(loaded.metadata, dict) else None
    if not isinstance(corpus, dict):
        return []
    return [path for path in (corpus.get("absolute_path"), corpus.get("path")) if isinstance(path, str)]


def training_corpus(loaded) -> str | None:
    """The corpus a model was trained on, when it is still there unchanged (same fingerprint)."""
    from textgen.corpus import fingerprint

    expected = loaded.metadata["corpus"].get("fingerprint") if recorded_corpora(loaded) else None
    for path in dict.fromkeys(recorded_corpora(loaded)):
        try:
            if expected and fingerprint(path) == expected:
                return path
        except (OSError, TextgenError):
            continue
    return None


def baseline_line(baseline: dict, path: str) -> str:
    counted = f"{baseline['stories']:,} stor{'y' if baseline['stories'] == 1 else 'ies'}"
    return f"baseline: {counted} drawn from the first {baseline['drawn_from']:,} of {path}"


def shown_word(word: str) -> str:
    """A word as the terminal shows it: a newline is ↵."""
    return word.replace("\n", "↵")


def percent(value: float) -> str:
    return f"{100 * value:.1f}%" if value >= 0.001 else f"{100 * value:.2g}%"


@cli.command("diagnose")
@click.argument("model_dir", metavar="[MODEL]", required=False)
@click.option("--text", "text_path", default=None, metavar="FILE",
              help="Diagnose these stories (any corpus format; - reads standard input) instead of generating; with MODEL, "
                   "findings are also attributed.")
@click.option("--samples", type=click.IntRange(1, 100_000), default=20, show_default=True, help="Stories to generate with MODEL.")
@click.option("--prompt", default="", help="How each generated story starts.")
@click.option("--max-tokens", type=click.IntRange(1, 10_000), default=200, show_default=True, help="At most this many tokens per story.")
@sampling_options
@click.option("--seed", type=SEED, default=0, show_default=True, help="The same seed and settings give the stories `textgen generate` writes.")
@click.option("--quantize", type=click.Choice(["auto", "none", "int8", "bf16"]), default="auto", show_default=True,
              help="Weights for generation (as in textgen generate).")
@cache_options
@click.option("--compare-settings", is_flag=True,
              help="Generate --samples stories under each of 7 sampling settings and compare metrics and perplexity.")
@click.option("--baseline", "baseline_path", default=None, metavar="FILE",
              help="Human-written stories whose metrics are shown side by side [default with MODEL: its training corpus].")
@click.option("--no-baseline", is_flag=True, help="Skip the human baseline.")
@click.option("--save-samples", "save_path", default=None, metavar="FILE", help="Also write the generated stories to this .txt file.")
@click.option("--show-stories", is_flag=True, help="Print the generated stories before the findings.")
@click.option("--limit", type=click.IntRange(0, 100_000), default=30, show_default=True, help="Findings to print (all with --json).")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"findings": [{"kind", "start", "end", "text", "sentence", "attribution", ...}], "metrics": {...}}.')
@click.pass_context
def diagnose_command(ctx: click.Context, model_dir: str | None, text_path: str | None, samples: int, prompt: str, max_tokens: int,
                     seed: int, quantize: str, compare_settings: bool, baseline_path: str | None, no_baseline: bool,
                     save_path: str | None, show_stories: bool, limit: int, as_json: bool, **options) -> None:
    """Find repetition errors: self-objects ("Doug saw Doug."), immediate repeats ("the the"),
    phrase loops and repeated sentences, with seq-rep, distinct-n and rep-l metrics beside a
    human baseline.

    With MODEL, generate --samples stories and diagnose them; each finding then shows the
    probability and rank the model gave the repeated word and its top 5 alternatives, and
    says whether the model or the sampling settings made the error. --compare-settings runs a
    small grid of sampling settings. With --text FILE, diagnose written stories (and attribute
    the findings when MODEL is given too).

    \b
    Examples:
      textgen diagnose checkpoints/little --samples 20 --temperature 0.8
      textgen diagnose checkpoints/little --compare-settings --samples 16
      textgen diagnose --text samples.txt --baseline corpora/little-stories.txt
    """
    from textgen.tokenizer.base import check_text

    if model_dir is None and text_path is None:
        raise click.UsageError("give MODEL to generate stories and diagnose them, or --text FILE to diagnose written ones")
    if compare_settings and text_path:
        raise click.UsageError("--compare-settings generates new stories for each setting: give MODEL without --text")
    if baseline_path and no_baseline:
        raise click.UsageError("--baseline and --no-baseline contradict each other: give one")
    if text_path:
        ignored = given_options(ctx, GENERATION_OPTIONS)
        if ignored:
            note(f"{', '.join(ignored)} {'applies' if len(ignored) == 1 else 'apply'} only when stories are generated; "
                 "--text stories are diagnosed as written")
    if compare_settings:
        ignored = given_options(ctx, SAMPLING_OPTIONS)
        if ignored:
            note(f"--compare-settings samples with its own grid of settings: {', '.join(ignored)} "
                 f"{'is' if len(ignored) == 1 else 'are'} not used")
    check_text(prompt, "--prompt")
    settings = sampling_settings(options)
    if save_path:
        from textgen.atomic import prepare_output

        prepare_output(save_path)  # a bad place is refused at once; what it must not overwrite is checked below
    from_stdin = text_path == "-"
    if from_stdin:
        text_path = stdin_corpus()
    stories = None
    if text_path:
        import itertools

        from textgen.corpus import iter_stories

        def streamed(path: str):
            try:
                yield from iter_stories(path)
            except TextgenError as error:
                if from_stdin:
                    raise TextgenError(str(error).replace(f"corpus {path}", "standard input").replace(path, "standard input")) from None
                raise

        stream = streamed(text_path)
        first = next(stream)  # a bad file is refused before the model loads; the rest streams
        stories = itertools.chain([first], stream)
    if baseline_path:
        from textgen.corpus import iter_stories

        next(iter_stories(baseline_path))  # refused now rather than after generating
    loaded = sampler = None
    if model_dir is not None:
        import textgen

        loaded = textgen.load(model_dir)
        from textgen.cache import with_cache

        neural_cache = cache_settings(loaded, options)
        sampler = with_cache(quantized_copy(loaded, quantize) if not text_path else loaded.model, neural_cache)
        loaded.model = with_cache(loaded.model, neural_cache)  # attribution reads the distribution the sampler saw
        from textgen.sampling.generate import prompt_ids
        from textgen.sampling.settings import build_processors

        build_processors(settings, loaded.tokenizer)  # bad settings are refused before any work
        prompt_ids(loaded.tokenizer, prompt)
        if baseline_path is None and not no_baseline:
            baseline_path = training_corpus(loaded)
            if baseline_path is None:
                note("the model's training corpus is not where training found it, or has changed: "
                     "give --baseline FILE for a human baseline")
    if save_path and not text_path:
        from textgen.atomic import prepare_output
        from textgen.corpus import corpus_files

        inputs = [path for source in (baseline_path, *recorded_corpora(loaded)) if source and Path(source).exists()
                  for path in corpus_files(source)]
        if model_dir is not None:
            inputs += [path for path in Path(model_dir).iterdir() if path.is_file()]
        prepare_output(save_path, inputs)
    if compare_settings:
        compare_sampling_settings(loaded, sampler, model_dir, samples, prompt, max_tokens, seed, baseline_path, save_path, as_json)
        return
    diagnose_stories(loaded, sampler, model_dir, stories, text_path, samples, prompt, max_tokens, seed, settings, baseline_path,
                     save_path if not text_path else None, show_stories, limit, as_json)


def stdin_corpus() -> str:
    """`--text -`: standard input saved to a temporary .txt file (removed at exit), read as any corpus."""
    import atexit
    import os
    import tempfile

    data = sys.stdin.buffer.read()
    handle, path = tempfile.mkstemp(prefix="textgen-stdin-", suffix=".txt")
    with os.fdopen(handle, "wb") as file:
        file.write(data)
    atexit.register(lambda: os.path.exists(path) and os.remove(path))
    return path


def save_stories(path: str, stories: list[str]) -> None:
    """Generated stories as a corpus `--text` reads back: each ends with an <|endoftext|> line, so
    blank lines inside a story stay. An empty story cannot be a corpus entry: it is left out, with a note."""
    from textgen.atomic import write_text

    kept = [story for story in stories if story.strip()]
    if len(kept) < len(stories):
        note(f"{len(stories) - len(kept)} empty stor{'y' if len(stories) - len(kept) == 1 else 'ies'} not saved to {path}")
    write_text(path, "".join(f"{story.strip(chr(10))}\n<|endoftext|>\n" for story in kept))


def diagnose_stories(loaded, sampler, model_dir, stories, text_path, samples, prompt, max_tokens, seed, settings, baseline_path,
                     save_path, show_stories, limit, as_json) -> None:
    """Generate (unless stories are given), find, attribute and print."""
    from dataclasses import asdict

    from textgen.diagnostics import KINDS, diagnose_story

    generated = None
    if stories is None:
        from textgen.attribution import sample_stories

        bar = counting_bar(samples, " stories")
        generated = sample_stories(sampler, loaded.tokenizer, settings, samples, prompt, max_tokens, seed, on_batch=bar.update)
        bar.close()
        stories = [prompt + sample.text for sample in generated]
        if save_path:
            save_stories(save_path, stories)
    # stories stream through: only those with findings are kept (for attribution), so a corpus of any size fits
    from textgen.diagnostics import TextMetrics

    accumulated, items, count = TextMetrics(), [], 0
    bar = counting_bar(0, " stories") if generated is None else None
    for index, story in enumerate(stories):
        found = diagnose_story(story, prompt if generated is not None else "")  # the user's prompt is not the model's
        accumulated.add(story, found)
        items += [(index, story, finding) for finding in found]
        count += 1
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    attributions = [None] * len(items)
    if loaded is not None and items:
        from textgen.attribution import attribute_all

        bar = counting_bar(len(items), " findings")
        contexts = None
        if generated is not None:  # the model's own tokens: its text may not re-encode (a word model's <glue>)
            from textgen.attribution import token_context

            contexts = [token_context(loaded.tokenizer, prompt, generated[index], finding.word_start)
                        for index, _, finding in items]
        attributions = attribute_all(loaded.model, loaded.tokenizer, [(story, finding) for _, story, finding in items],
                                     contexts=contexts,
                                     on_done=bar.update)
        bar.close()
        unscored = sum(a is None for a in attributions)
        if unscored:
            note(f"{unscored} finding(s) are not attributed: their text has words or characters the model's tokenizer does not know")
    findings = [{"story": index, **finding.to_dict(), **({"attribution": a.to_dict() if a else None} if loaded else {})}
                for (index, _, finding), a in zip(items, attributions)]
    metrics = accumulated.result()
    if generated is not None:
        from textgen.attribution import samples_perplexity

        metrics["perplexity"] = samples_perplexity(generated)
    baseline = None
    if baseline_path:
        from textgen.attribution import baseline_metrics

        baseline = baseline_metrics(baseline_path, count, seed)
    if as_json:
        data = {"findings": findings, "metrics": metrics, "baseline": baseline}
        if model_dir is not None:
            data["model"] = model_dir
        if generated is not None:
            data["settings"] = {"prompt": prompt, "max_tokens": max_tokens, "seed": seed, **asdict(settings)}
            from textgen.cast import story_cast

            data["samples"] = [{"text": story, "stop_reason": sample.stop_reason, "tokens": len(sample.tokens),
                                "names": story_cast(story).names, "late_names": story_cast(story).late}
                               for story, sample in zip(stories, generated)]
        print_json(data)
        return
    if show_stories and generated is not None:
        for index, story in enumerate(stories):
            click.echo(f"--- story {index + 1}\n{story}\n")
    counts = {kind: sum(f["kind"] == kind for f in findings) for kind in KINDS}
    plural = "story" if count == 1 else "stories"
    source = f"{count:,} generated {plural}" if generated is not None else f"{count:,} {plural}"
    click.echo(f"{source}, {metrics['words']:,} words: " + ", ".join(f"{counts[kind]} {kind}" for kind in KINDS))
    for finding in findings[:limit]:
        where = "" if finding["text"] == finding["sentence"] else f" in “{shown_word(finding['sentence'])}”"
        click.echo(f"  story {finding['story'] + 1}, {finding['kind']}: “{shown_word(finding['text'])}”{where}\n"
                   f"      {finding['explanation']}")
        attribution = finding.get("attribution")
        if attribution:
            rank = f"rank {attribution['rank']}" if attribution["rank"] else f"below its top {attribution['ranked_words']}"
            others = ", ".join(f"“{shown_word(a['word'])}” {percent(a['probability'])}" for a in attribution["alternatives"])
            click.echo(f"      model: “{shown_word(attribution['word'])}” {percent(attribution['probability'])} ({rank}); "
                       f"instead: {others or 'nothing else'}\n      → {attribution['blame']}")
    if len(findings) > limit:
        click.echo(f"  ... {len(findings) - limit} more (--limit, or --json for all)")
    attributed = [f["attribution"] for f in findings if f.get("attribution")]
    if attributed:
        from textgen.attribution import ADVICE

        blames = {blame: sum(a["blame"] == blame for a in attributed) for blame in ADVICE}
        click.echo("\nwho made the errors: " + ", ".join(f"{count} {blame}" for blame, count in blames.items())
                   + ("" if generated is not None else " (the advice is for when such text is sampled from this model)"))
        for blame, count in blames.items():
            if count:
                click.echo(f"  {blame}: {ADVICE[blame]}")
    header = f"\n{'metric':<34}{'text' if generated is None else 'samples':>10}"
    if baseline:
        header += f"{'baseline':>12}"
    click.echo(header)
    for key, value in metrics.items():
        if key in ("stories", "words"):
            continue
        shown = baseline.get(key) if baseline else None
        click.echo(f"{key:<34}{value:>10.4f}" + (f"{shown:>12.4f}" if isinstance(shown, float) else ""))
    if baseline:
        click.echo(baseline_line(baseline, baseline_path))


def compare_sampling_settings(loaded, sampler, model_dir, samples, prompt, max_tokens, seed, baseline_path, save_path,
                              as_json) -> None:
    """One row per sampling setting: every metric, the finding rates and the samples' perplexity."""
    from dataclasses import asdict

    from textgen.attribution import baseline_metrics, comparison_grid, sample_stories, samples_perplexity
    from textgen.diagnostics import KINDS, diagnose_story, text_metrics

    grid = comparison_grid()
    rows, written = [], []
    bar = counting_bar(samples * len(grid), " stories")
    for name, settings in grid:
        bar.set_description_str(name)
        generated = sample_stories(sampler, loaded.tokenizer, settings, samples, prompt, max_tokens, seed, on_batch=bar.update)
        stories = [prompt + sample.text for sample in generated]
        written += [f"[{name}] {story}" for story in stories]
        per_story = [diagnose_story(story, prompt) for story in stories]
        counts = {kind: sum(f.kind == kind for found in per_story for f in found) for kind in KINDS}
        rows.append({"name": name, "options": asdict(settings), "metrics": text_metrics(stories, per_story),
                     "perplexity": samples_perplexity(generated), "findings": counts})
    bar.close()
    if save_path:
        save_stories(save_path, written)
    baseline = baseline_metrics(baseline_path, samples, seed) if baseline_path else None
    if as_json:
        print_json({"model": model_dir, "samples": samples, "prompt": prompt, "max_tokens": max_tokens, "seed": seed,
                    "settings": rows, "baseline": baseline})
        return
    click.echo(f"{samples} stories per setting (seed {seed}); seq-rep, distinct and rep-l are shares, findings are per 1,000 words")
    click.echo(f"{'setting':<32}" + "".join(f"{short:>7}" for _, short in SHORT_METRICS) + f"{'ppl':>8}")
    for row in rows:
        click.echo(f"{row['name']:<32}" + "".join(f"{row['metrics'][key]:>7.3f}" for key, _ in SHORT_METRICS)
                   + f"{row['perplexity']:>8.2f}")
    if baseline:
        click.echo(f"{'human baseline':<32}" + "".join(f"{baseline[key]:>7.3f}" for key, _ in SHORT_METRICS) + f"{'':>8}")
        click.echo(baseline_line(baseline, baseline_path))
    click.echo("columns: rep-n = seq-rep-n, dist-n = distinct-n, rN = rep-l over the last N words; self, imm, loop, sent = "
               "self-object, immediate-repeat, phrase-loop, repeated-sentence findings per 1,000 words; "
               "ppl = perplexity per token of the samples under the model (before sampling changed it)")


@cli.command("gates")
@click.argument("model_dir", metavar="MODEL")
@click.argument("text")
@click.option("--layer", type=int, default=1, show_default=True, help="Which layer to show (1 = the one that reads the words).")
@click.option("--units", "top_units", type=click.IntRange(1, 100), default=3, show_default=True,
              help="How many most-changed memory units to list per word.")
@click.option("--plot", "plot_path", default=None, metavar="FILE.png", help="Draw heatmaps (words x units) of the memory and each gate as a PNG.")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"words": [{"word", "gates", "memory_change", "top_units"}], "saturation", "gate_names", ...}.')
def gates_command(model_dir: str, text: str, layer: int, top_units: int, plot_path: str | None, as_json: bool) -> None:
    """Show what each gate did while MODEL read TEXT, word by word.

    Per word: the mean forget gate, ignore factor (input gate) and use gate (output gate)
    over the layer's units, and the units whose long-term memory (LTM, cell state) changed
    most. A saturation summary gives each gate's share of values under 0.1 (shut) and over
    0.9 (open). GRU models show their update and reset gates and their STM (hidden state).

    Example: textgen gates checkpoints/little "Doug saw Jane. Jane saw" --plot gates.png
    """
    import textgen
    from textgen.gates import gate_report, gate_title
    from textgen.tokenizer.base import check_text

    check_text(text, "TEXT")
    if plot_path:
        from textgen.plots import check_plot_path

        check_plot_path(plot_path)
    loaded = textgen.load(model_dir)
    report = gate_report(loaded.model, loaded.tokenizer, text, layer, top_units)
    if plot_path:
        from textgen.plots import plot_gates

        plot_gates(report, plot_path)
    if as_json:
        print_json({"model": model_dir, **report.to_dict(), **({"plot": plot_path} if plot_path else {})})
        return
    names = list(report.gate_names)
    memory = "LTM" if report.memory == "ltm" else "STM"
    averaged = "gates are means over the word's tokens and all units" if names else "a plain RNN has no gates"
    click.echo(f"{report.cell} layer {report.layer} of {report.layers}, {report.units} units; {averaged}; {memory} = {'long' if memory == 'LTM' else 'short'}-term memory "
               f"({'cell' if memory == 'LTM' else 'hidden'} state)")
    width = max([4, *(len(w.word) for w in report.words)]) + 2
    width = min(width, 24)
    header = "".join(f"{name:>9}" for name in names)
    standard = "".join(f"{'(' + report.gate_names[name] + ')':>9}" for name in names)
    click.echo(f"{'word':<{width}}{header}   {memory} units that changed most (before -> after)")
    if any(report.gate_names[name] != name for name in names):
        click.echo(f"{'':<{width}}{standard}")
    for word in report.words:
        label = word.word if len(word.word) < width - 1 else word.word[: width - 2] + "…"
        changes = ", ".join(f"u{u.unit} {u.before:+.2f}->{u.after:+.2f}" for u in word.top_units)
        click.echo(f"{label:<{width}}" + "".join(f"{word.gates[name]:>9.3f}" for name in names) + f"   {changes}")
    if names:
        click.echo(f"\nsaturation over {report.tokens} tokens x {report.units} units "
                   "(share of values < 0.1 | > 0.9; Karpathy et al. 2015):")
        for name in names:
            share = report.saturation[name]
            click.echo(f"  {gate_title(name, report.gate_names[name]):<30}{100 * share['below_0.1']:6.1f}% | "
                       f"{100 * share['above_0.9']:5.1f}%")
    else:
        click.echo("\na plain RNN has no gates: only its STM (hidden state) is shown")
    if plot_path:
        click.echo(f"plot -> {plot_path}")


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
    if plot_path:
        from textgen.plots import check_plot_path

        check_plot_path(plot_path)
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
    from textgen.plots import plot_doug

    name_list = tuple(part.strip() for part in names.split(",") if part.strip())
    options = {"names": name_list, "verb": verb.strip(), "sentences": sentences, "steps": steps, "hidden_size": hidden_size,
               "seed": seed}
    if corpus is not None:
        options["corpus"] = corpus
    settings = DougSettings(**options)
    if plot_path:
        from textgen.plots import check_plot_path

        check_plot_path(plot_path)
    result = run_doug(settings, on_progress=lambda message: click.echo(f"  {message}", err=True) if not as_json else None)
    if plot_path:
        plot_doug(result, plot_path)
    if as_json:
        print_json(to_json(result))
        return
    click.echo(report(result))
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
