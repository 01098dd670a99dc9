"""The `textgen` command: one module per command group, each parsing its options, calling
one library function and printing what it returns.

Heavy libraries (torch, Lightning, sentencepiece) are imported inside the commands that
need them, so `textgen --help` answers at once. Every TextgenError becomes one line on
stderr and exit code 2; Ctrl-C exits with 130.
"""

from __future__ import annotations

import sys

import click

from textgen.cli.classify import classify
from textgen.cli.process import TextgenGroup
from textgen.cli.corpus import corpus
from textgen.cli.diagnose import diagnose_command
from textgen.cli.evaluate import evaluate_command
from textgen.cli.experiment import experiment
from textgen.cli.gates import gates_command
from textgen.cli.generate import generate_command, next_command
from textgen.cli.serve import serve_command
from textgen.cli.tokenizer import tokenizer
from textgen.cli.train import export_command, train_command
from textgen.cli.tune import tune_cast_command, tune_command

__all__ = ["cli", "main"]


@click.group(cls=TextgenGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="textgen")
def cli() -> None:
    """textgen: children's-book language models with LSTMs.

    Train a model on simple stories, generate new ones, look at next-word
    probabilities and diagnose repetition errors such as "Doug saw Doug.".
    """



for command in (corpus, tokenizer, train_command, export_command, evaluate_command, generate_command, next_command,
                diagnose_command, tune_command, tune_cast_command, gates_command, experiment, serve_command, classify):
    cli.add_command(command)


def main() -> None:
    """Console entry point."""
    from textgen.training.budget import mark_process_start

    mark_process_start()  # a time-bounded command's clock starts with the process (textgen.training.budget)
    try:
        cli()
    except KeyboardInterrupt:  # raised outside a command, e.g. while parsing
        click.echo("interrupted", err=True)
        sys.exit(130)

