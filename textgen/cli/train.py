"""textgen train and textgen export."""

from __future__ import annotations

import sys

import click

from textgen.cli.common import finish_run, note
from textgen.cli.process import invocation
from textgen.cli.options import (DROPOUT_AND_DEPTH, RUN_LIMITS, config_option, config_options, given_options, load_config_file,
                                 run_options, run_values)
from textgen.model.config import ModelConfig, TrainConfig


@click.command("train")
@click.argument("corpus")
@click.option("--out", "out_dir", required=True, help="Model directory to write, e.g. checkpoints/little.")
@click.option("--config", type=str, callback=load_config_file, is_eager=True, expose_value=False,
              help="TOML, YAML or JSON file of these options, or a run's textgen.json (flags given here override it).")
@click.option("--tokenizer", "tokenizer_path", default=None, help="Use this tokenizer file instead of training one.")
@click.option("--tokenizer-kind", type=click.Choice(["sentencepiece", "word", "char"]), default="sentencepiece", show_default=True)
@click.option("--vocab-size", type=click.IntRange(1), default=None, help="Tokenizer size [default: sentencepiece 2048 or what the corpus allows].")
@click.option("--tokenizer-type", type=click.Choice(["unigram", "bpe"]), default="unigram", show_default=True)
@config_option(ModelConfig, "cell")
@config_option(ModelConfig, "embed_dim")
@config_option(ModelConfig, "hidden_size")
@config_options(ModelConfig, *DROPOUT_AND_DEPTH)
@config_option(ModelConfig, "activation_reg")
@config_option(ModelConfig, "temporal_activation_reg")
@config_option(ModelConfig, "forget_bias")
@config_option(ModelConfig, "tie_weights")
@config_option(ModelConfig, "output_projection")
@config_option(TrainConfig, "seq_len")
@config_option(TrainConfig, "batch_size")
@config_option(TrainConfig, "batching")
@click.option("--valid", "valid_file", default=None, help="Validation corpus (otherwise --valid-fraction of the stories).")
@config_option(TrainConfig, "valid_fraction")
@click.option("--cache-dir", default=None, help="Token cache folder [default: .cache beside the model directory].")
@config_option(TrainConfig, "optimizer")
@config_option(TrainConfig, "lr")
@config_option(TrainConfig, "weight_decay")
@config_option(TrainConfig, "warmup_steps")
@config_option(TrainConfig, "warmup_fraction")
@config_option(TrainConfig, "min_lr_ratio")
@config_option(TrainConfig, "schedule")
@config_option(TrainConfig, "grad_clip")
@config_option(TrainConfig, "nonmono")
@config_option(TrainConfig, "average")
@config_options(TrainConfig, *RUN_LIMITS)
@config_option(TrainConfig, "devices")
@config_option(TrainConfig, "num_nodes")
@config_option(TrainConfig, "strategy")
@run_options
@click.pass_context
def train_command(ctx: click.Context, corpus: str, out_dir: str, tokenizer_path, tokenizer_kind, vocab_size, tokenizer_type,
                  valid_file, cache_dir, resume, overwrite, as_json, **options) -> None:
    """Train a language model on CORPUS into the model directory OUT.

    Shows the config and parameter count, a progress bar with loss, validation
    perplexity and tokens/s, and a summary. Ctrl-C or SIGTERM saves a resumable
    checkpoint and exits with 130 or 143 (a second one stops at once); --resume
    continues where it stopped.

    Example: textgen train corpora/little-stories.txt --out checkpoints/little --max-time 2m
    """
    from textgen.training.budget import command_started

    started = command_started()
    from textgen.training.run import TokenizerSpec, check_launcher, check_settings, primary_process, train

    model, training = run_values(options, given_options(ctx, options), resume, "model", "training")
    from textgen.training.regularisation import DROPOUTS

    unset = set(DROPOUTS) - given_options(ctx, DROPOUTS)
    model = {name: value for name, value in model.items() if name not in unset}  # the run plans them (regularisation.py)
    primary = primary_process()
    given = given_options(ctx, ("vocab_size", "tokenizer_kind", "tokenizer_type", "valid_fraction"))
    spec = TokenizerSpec(tokenizer_path, tokenizer_kind if "tokenizer_kind" in given or not resume else None, vocab_size,
                         tokenizer_type)
    if primary and tokenizer_path and given & {"vocab_size", "tokenizer_kind", "tokenizer_type"}:
        note("--tokenizer FILE is used as it is: --vocab-size, --tokenizer-kind and --tokenizer-type are ignored")
    if primary and valid_file and "valid_fraction" in given:
        note("--valid FILE is the validation set: --valid-fraction is ignored")
    check_launcher(options["num_nodes"])
    if not resume:
        check_settings(model, training)

    def report(line: str) -> None:
        if primary:
            click.echo(line, err=True)

    from textgen.training.coordination import RunFault

    try:
        result = train(corpus, out_dir, spec, model, training, valid_file=valid_file, cache_dir=cache_dir, resume=resume,
                       overwrite=overwrite, progress_bar=sys.stderr.isatty(), command=invocation(),
                       primary=primary, report=report, started=started)
    except RunFault:
        if primary:
            raise
        return  # every process stopped on it together: the first one reports it, and its exit code is the run's
    if not primary:
        return
    finish_run(ctx, result, resume, as_json,
               lambda metrics: (f"validation: loss {metrics['loss']:.4f}, perplexity {metrics['perplexity']:.3f}, word "
                                f"perplexity {metrics['word_perplexity']:.3f}, bits per byte {metrics['bits_per_byte']:.4f}"),
               f"model -> {result.out_dir}", f"textgen train {corpus} --out {out_dir}")


def missing_words(model_dir: str) -> dict | None:
    """The "words" record for a model directory that has none (or one without "capitals"), from its training
    corpus where that is still there unchanged (else None, with a note: the rules that need it are off for the copy)."""
    from types import SimpleNamespace

    from textgen.analysis.diagnosis import training_corpus
    from textgen.analysis.words import words_record
    from textgen.data.corpus import iter_stories
    from textgen.errors import TextgenError
    from textgen.modeldir.layout import ModelDirectory
    from textgen.modeldir.names import LANGUAGE_MODEL, task_of
    from textgen.modeldir.store import resolve_model_path

    try:
        metadata = ModelDirectory(resolve_model_path(model_dir)).read_metadata()
    except TextgenError:
        return None  # export itself says what is wrong with MODEL
    if not isinstance(metadata, dict) or task_of(metadata) != LANGUAGE_MODEL:
        return None
    recorded = metadata.get("words")
    if isinstance(recorded, dict) and "capitals" in recorded:
        return None
    corpus = training_corpus(SimpleNamespace(metadata=metadata))
    if corpus is None:
        note(f"{model_dir} records no training words (or not their capitals) and its training corpus is not where "
             "training found it (or has changed): the copy writes without the rules that need them")
        return None
    return words_record(iter_stories(corpus))


@click.command("export")
@click.argument("model_dir", metavar="MODEL")
@click.argument("out_dir", metavar="OUT")
@click.option("--dtype", type=click.Choice(["float32", "bfloat16"]), default="bfloat16", show_default=True,
              help="How the weights are stored (bfloat16 halves the file; loading turns them back into float32).")
@click.option("--overwrite", is_flag=True,
              help="Replace the model directory or training run already in OUT (a run's lightning/ resume state goes too).")
def export_command(model_dir: str, out_dir: str, dtype: str, overwrite: bool) -> None:
    """Copy MODEL into OUT for sharing: the weights (in --dtype), the tokenizer, textgen.json,
    and the training curves, without the lightning/ resume state.

    OUT's files are replaced as one step: stopped at any point (Ctrl-C, a full disk), OUT holds
    the old model or the new one, whole. Files export does not write are left alone.

    A model trained before textgen recorded its training words (textgen.json's "words", which the
    real-words rule keeps to, and their "capitals", which the no-stray-capitals rule reads) gets them
    here, where its training corpus is still there unchanged.

    Example: textgen export checkpoints/little checkpoints/little-small --dtype bfloat16
    """
    from textgen.modeldir.store import export_model

    size = export_model(model_dir, out_dir, dtype, overwrite, on_note=note, words=missing_words(model_dir))  # a signal raises: its staged files go
    click.echo(f"{model_dir} -> {out_dir} ({dtype} weights, {size / 2**20:.1f} MiB in all)")
