"""textgen classify: train, predict, evaluate, explain (review -> rating)."""

from __future__ import annotations

import os
import sys

import click

from textgen.cli.common import check_plot, finish_run, note, print_json
from textgen.cli.process import invocation
from textgen.cli.options import (DROPOUT_AND_DEPTH, RUN_LIMITS, config_option, config_options, given_options, run_options,
                                 run_values)
from textgen.model.config import CLASSIFIER_AVERAGE, ClassifierConfig, ModelConfig, TrainConfig


@click.group("classify")
def classify() -> None:
    """Text classification with the same LSTM: review -> rating.

    Train a classifier on labelled texts (from scratch, or starting from a language
    model trained with `textgen train`, ULMFiT-style), then rate new texts, score it on
    a labelled file and see which words moved its rating.

    Example: textgen classify train runs/reviews/train.jsonl --valid runs/reviews/valid.jsonl --out checkpoints/stars
    """


@classify.command("train")
@click.argument("data")
@click.option("--valid", "valid_file", default=None, help="Labelled validation file (otherwise --valid-fraction of DATA).")
@click.option("--out", "out_dir", required=True, help="Model directory to write, e.g. checkpoints/stars.")
@click.option("--text-field", default="text", show_default=True, help="The text's field (.jsonl) or column (.csv).")
@click.option("--label-field", default="rating", show_default=True, help="The label's field or column.")
@click.option("--ordinal/--nominal", default=None,
              help="Labels are ordered ratings (MAE applies) or plain classes [default: ordinal when all are numbers].")
@click.option("--encoder", default=None, metavar="MODEL",
              help="Start from this language model (its tokenizer and recurrent layers), e.g. one `textgen train` made on the same kind of text.")
@click.option("--unfreeze", type=click.FloatRange(0, 1), default=None,
              help="With --encoder: share of the run during which only the head learns (ULMFiT: 0.1) [default: 0].")
@click.option("--lr-decay", type=click.FloatRange(1), default=None,
              help="With --encoder: each layer below the head learns at the rate above / this (ULMFiT: 2.6) [default: 1].")
@click.option("--tokenizer", "tokenizer_path", default=None, help="Use this tokenizer file instead of training one.")
@click.option("--tokenizer-kind", type=click.Choice(["sentencepiece", "word", "char"]), default="sentencepiece", show_default=True)
@click.option("--vocab-size", type=click.IntRange(1), default=None, help="Tokenizer size [default: sentencepiece 2048 or what the data allows].")
@config_option(ModelConfig, "cell")
@config_option(ModelConfig, "embed_dim", default=None, show_default=False,
               help="Embedding size [default: 128, or the encoder's].")
@config_option(ModelConfig, "hidden_size", default=None, show_default=False,
               help="Units per recurrent layer [default: 256, or the encoder's].")
@config_options(ModelConfig, *DROPOUT_AND_DEPTH)
@config_option(ClassifierConfig, "pooling", help="How the states over a text become one vector: the last one, their mean, "
               "their maximum per unit, or an attention-weighted mean.")
@config_option(ClassifierConfig, "head_dropout")
@config_option(ClassifierConfig, "class_weights")
@config_option(ClassifierConfig, "ordinal_weight")
@config_option(ClassifierConfig, "max_tokens")
@config_option(ClassifierConfig, "lm_weight")
@config_option(ClassifierConfig, "adversarial")
@config_option(ClassifierConfig, "decision_offsets", show_default=True)
@config_option(TrainConfig, "batch_size", help="Texts per step.")
@config_option(TrainConfig, "valid_fraction", default=0.1, help="Share of DATA held out for validation without --valid.")
@config_option(TrainConfig, "lr", default=3e-3)
@config_option(TrainConfig, "weight_decay", default=0.01)  # measured for the language model only
@config_option(TrainConfig, "warmup_steps", default=50)
@config_option(TrainConfig, "warmup_fraction")
@config_option(TrainConfig, "min_lr_ratio")
@config_option(TrainConfig, "schedule")
@config_option(TrainConfig, "grad_clip")
@config_option(TrainConfig, "average", default=CLASSIFIER_AVERAGE, help="Validate and export an exponential moving "
               "average of the weights with this decay a step (0: off).")
@config_options(TrainConfig, *RUN_LIMITS)
@run_options
@click.pass_context
def train_classifier_command(ctx: click.Context, data: str, valid_file, out_dir: str, text_field: str, label_field: str,
                             ordinal, encoder, unfreeze, lr_decay, tokenizer_path, tokenizer_kind, vocab_size, resume,
                             overwrite, as_json, **options) -> None:
    """Train a classifier on the labelled texts in DATA (.jsonl or .csv, optionally .gz)
    into the model directory OUT.

    Each example is `<s> text </s>` read by the LSTM; the states over the text are pooled
    (last, mean, max or attention) into one vector and a linear head gives each class a
    score. Skewed classes are weighted (--class-weights). The best validation macro-F1
    is kept. The progress bar, Ctrl-C (a resumable checkpoint, exit 130), --resume and
    the model directory work as in `textgen train`; its textgen.json says "classifier".

    Example: textgen classify train runs/reviews/train.jsonl --valid runs/reviews/valid.jsonl --out checkpoints/stars --max-time 15m
    """
    from click.core import ParameterSource

    from textgen.training.classifier_run import ClassifierData, check_settings, encoder_settings, train_classifier
    from textgen.training.run import TokenizerSpec

    explicit = given_options(ctx, options)
    model, head, training = run_values(options, explicit, resume, "model", "classifier", "training")
    given = [flag for flag, name in (("--tokenizer", tokenizer_path), ("--vocab-size", vocab_size)) if name]
    if ctx.get_parameter_source("tokenizer_kind") == ParameterSource.COMMANDLINE:
        given.append("--tokenizer-kind")
    model, schedule = encoder_settings(encoder, model, explicit, given[0] if given else None, unfreeze, lr_decay)
    if not resume:
        check_settings(model, head, training)
    spec = TokenizerSpec(tokenizer_path, tokenizer_kind, vocab_size, "unigram")
    result = train_classifier(ClassifierData(data, valid_file, text_field, label_field, ordinal), out_dir, spec, model, head,
                              training, encoder=encoder, encoder_schedule=schedule, resume=resume, overwrite=overwrite,
                              progress_bar=sys.stderr.isatty(), command=invocation(),
                              report=lambda line: click.echo(line, err=True))
    finish_run(ctx, result, resume, as_json,
               lambda metrics: (f"validation (step {metrics['step']}): accuracy {metrics['accuracy']:.3f}, macro-F1 "
                                f"{metrics['macro_f1']:.3f}" + (f", MAE {metrics['mae']:.3f}" if "mae" in metrics else "")),
               f"classifier -> {result.out_dir} (the best validation macro-F1's weights)",
               f"textgen classify train {data} --out {out_dir}")


@classify.command("predict")
@click.argument("model_dir", metavar="MODEL")
@click.argument("text", required=False)
@click.option("--file", "file_path", default=None,
              help="Rate every text in this file: one per line (.txt, - for stdin, or a pipe), or the text field of a "
                   ".jsonl/.csv.")
@click.option("--text-field", default=None, help="The text's field in a .jsonl/.csv --file [default: the one MODEL was trained with].")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"label", "probabilities", "expected" (ordinal labels)}; with --file one object per line.')
def predict_command(model_dir: str, text: str | None, file_path: str | None, text_field: str | None, as_json: bool) -> None:
    """The rating (class) of TEXT, or of every text in --file, with the probability of every class.

    Example: textgen classify predict checkpoints/stars "Great taffy, my kids loved it."
    """
    from textgen.classify.predict import load_predictor, predict, rating_line, texts_to_rate
    from textgen.errors import TextgenError

    if (text is None) == (file_path is None):
        raise TextgenError("give TEXT or --file (one of them): e.g. textgen classify predict MODEL \"Great taffy!\"")
    if text is not None and not text.strip():
        raise TextgenError("TEXT is empty: give a review (or other text) to rate")
    loaded = load_predictor(model_dir)
    for texts in [[text]] if text is not None else texts_to_rate(loaded, file_path, text_field):
        for prediction in predict(loaded, texts):
            if as_json:
                print_json(prediction)
            else:
                click.echo(rating_line(loaded.labels, prediction, with_text=text is None))


@classify.command("evaluate")
@click.argument("model_dir", metavar="MODEL")
@click.argument("data")
@click.option("--text-field", default=None, help="The text's field [default: the one MODEL was trained with].")
@click.option("--label-field", default=None, help="The label's field [default: the one MODEL was trained with].")
@click.option("--plot", "plot_path", default=None, metavar="FILE.png", help="Draw the confusion matrix.")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"examples", "loss", "accuracy", "macro_f1", "mae" (ordinal), "per_class", "confusion", "majority"}.')
def evaluate_classifier_command(model_dir: str, data: str, text_field, label_field, plot_path, as_json: bool) -> None:
    """Accuracy, macro-F1, mean absolute error (ordinal labels) and per-class precision and
    recall of MODEL on the labelled file DATA, beside always answering the most common class.

    Example: textgen classify evaluate checkpoints/stars runs/reviews/test.jsonl --plot confusion.png
    """
    from textgen.classify.predict import describe_evaluation, evaluate_classifier, load_classifier

    check_plot(plot_path)
    loaded = load_classifier(model_dir)
    metrics = evaluate_classifier(loaded, data, text_field, label_field)
    if plot_path:
        from textgen.analysis.plots import plot_confusion

        plot_confusion(metrics, loaded.labels.names, plot_path, title=f"{model_dir} on {data}")
    if as_json:
        print_json({"model": model_dir, **metrics, **({"plot": plot_path} if plot_path else {})})
        return
    for line in describe_evaluation(metrics, model_dir, data):
        click.echo(line)
    if plot_path:
        click.echo(f"plot -> {plot_path}")


@classify.command("explain")
@click.argument("model_dir", metavar="MODEL")
@click.argument("text")
@click.option("--method", type=click.Choice(["occlusion", "integrated-gradients"]), default="occlusion", show_default=True,
              help="Occlusion: the change when the word is taken out; integrated gradients: gradients along the path from an empty text.")
@click.option("--steps", type=click.IntRange(1, 1024), default=32, show_default=True, help="Integrated gradients' steps along the path.")
@click.option("--layer", type=int, default=1, show_default=True, help="Which layer's gates to show (1 = the one that reads the words).")
@click.option("--plot", "plot_path", default=None, metavar="FILE.png", help="Draw the words on boxes coloured by their effect.")
@click.option("--json", "as_json", is_flag=True, help='Print {"label", "probabilities", "words": [{"word", "score"}], "gates", ...}.')
@click.pass_context
def explain_command(ctx: click.Context, model_dir: str, text: str, method: str, steps: int, layer: int, plot_path, as_json: bool) -> None:
    """How much each word of TEXT moved MODEL's rating, and what the gates did while it read.

    Words that raised the rating are green, words that lowered it red (for ordinal labels
    the rating is the expected number of stars; otherwise the log-probability of the
    predicted class). Then the gates' view as `textgen gates` shows it: forget gate,
    learn gate's ignore factor (input gate) and use gate (output gate) per word.

    Example: textgen classify explain checkpoints/stars "The taffy was stale and hard." --plot why.png
    """
    from textgen.classify.explain import explain
    from textgen.classify.predict import load_classifier
    from textgen.analysis.gates import gate_report

    check_plot(plot_path)
    loaded = load_classifier(model_dir)
    explanation = explain(loaded, text, method, steps)
    report = gate_report(loaded.model, loaded.tokenizer, text, layer, allow_unknown=True)
    if plot_path:
        from textgen.analysis.plots import plot_explanation

        plot_explanation(explanation, plot_path)
    if as_json:
        print_json({"model": model_dir, **explanation.to_dict(), "gates": report.to_dict(),
                    **({"plot": plot_path} if plot_path else {})})
        return
    from textgen.cli.gates import print_gate_report

    probability = explanation.probabilities[explanation.label]
    click.echo(f"predicted {explanation.label} ({100 * probability:.0f}%); {explanation.explained} {explanation.value:.3f}; "
               f"each word's effect on it ({explanation.method}):")
    from click import utils

    colour = not utils.should_strip_ansi(sys.stdout, ctx.color) and not os.environ.get("NO_COLOR")
    limit = max([abs(word.score) for word in explanation.words] + [1e-9])
    shown = []
    for word in explanation.words:
        if colour:
            strength = abs(word.score) / limit
            background = None if strength < 0.15 else (("green" if strength < 0.6 else "bright_green") if word.score > 0
                                                        else ("red" if strength < 0.6 else "bright_red"))
            shown.append(click.style(word.word, bg=background, fg="black" if background else None))
        else:
            shown.append(f"{word.word}({word.score:+.2f})")
    click.echo(" ".join(shown))
    top = sorted(explanation.words, key=lambda word: -abs(word.score))[:5]
    click.echo("most: " + ", ".join(f"{word.word} {word.score:+.3f}" for word in top))
    if explanation.gap is not None:
        click.echo(f"integrated gradients' completeness gap: {explanation.gap:+.4f} (more --steps lower it)")
    click.echo("")
    print_gate_report(report)
    if plot_path:
        click.echo(f"plot -> {plot_path}")
    if loaded.tokenizer.kind != "sentencepiece" and loaded.tokenizer.unknown(text):
        note(f"{len(loaded.tokenizer.unknown(text))} of the text's words are unknown to this {loaded.tokenizer.kind} tokenizer "
             "and read as <unk>")
