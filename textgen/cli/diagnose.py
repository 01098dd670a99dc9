"""textgen diagnose: parse the options, call `textgen.analysis.diagnosis`, print its report."""

from __future__ import annotations

import sys

import click

from textgen.cli.common import SEED, counting_bar, given_options, note
from textgen.cli.inference_options import SAMPLING_PARAMS, cache_options, cache_settings, model_defaults_note, sampling_options, sampling_settings
from textgen.cli.show_diagnosis import show_comparison, show_report

GENERATION_OPTIONS = ("samples", "prompt", "max_tokens", "quantize", "compare_settings", "save_path", "show_stories",
                      *SAMPLING_PARAMS)  # what --text ignores
MAX_ATTRIBUTIONS = 100  # textgen.analysis.attribution.MAX_ATTRIBUTIONS, written out: importing it would load torch for --help
SAMPLING_OPTIONS = (*SAMPLING_PARAMS, "show_stories", "limit", "max_attributions")  # what --compare-settings ignores


@click.command("diagnose")
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
@cache_options(sampling=True)
@click.option("--compare-settings", is_flag=True,
              help="Generate --samples stories under each of 7 sampling settings and compare metrics and perplexity.")
@click.option("--baseline", "baseline_path", default=None, metavar="FILE",
              help="Human-written stories whose metrics are shown side by side [default with MODEL: its training corpus].")
@click.option("--no-baseline", is_flag=True, help="Skip the human baseline.")
@click.option("--save-samples", "save_path", default=None, metavar="FILE", help="Also write the generated stories to this .txt file.")
@click.option("--show-stories", is_flag=True, help="Print the generated stories before the findings.")
@click.option("--limit", type=click.IntRange(0, 100_000), default=30, show_default=True, help="Findings to print (all with --json).")
@click.option("--max-attributions", type=click.IntRange(0, 100_000), default=MAX_ATTRIBUTIONS, show_default=True,
              help="Attribute at most this many findings (the first ones); each costs a next-word search.")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"findings": [{"kind", "start", "end", "text", "sentence", "attribution", ...}], "metrics": {...}}.')
@click.pass_context
def diagnose_command(ctx: click.Context, model_dir: str | None, text_path: str | None, samples: int, prompt: str, max_tokens: int,
                     seed: int, quantize: str, compare_settings: bool, baseline_path: str | None, no_baseline: bool,
                     save_path: str | None, show_stories: bool, limit: int, max_attributions: int, as_json: bool,
                     **options) -> None:
    """Find repetition errors: self-objects ("Doug saw Doug."), immediate repeats ("the the"),
    phrase loops and repeated sentences, with seq-rep, distinct-n, rep-l, names per story and
    invented words per 1,000 (in neither an English word list nor the model's training text)
    beside a human baseline.

    With MODEL, generate --samples stories and diagnose them; each finding then shows the
    probability and rank the model gave the repeated word and its top 5 alternatives, and
    says whether the model or the sampling settings made the error. --compare-settings runs a
    small grid of sampling settings. With --text FILE, diagnose written stories (and attribute
    the findings when MODEL is given too). A sampling setting not given comes from the model's
    own defaults where its textgen.json has them (textgen tune-cast writes one).

    \b
    Examples:
      textgen diagnose checkpoints/little --samples 20 --temperature 0.8
      textgen diagnose checkpoints/little --compare-settings --samples 16
      textgen diagnose --text runs/samples.txt --baseline corpora/little-stories.txt
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
    settings = None  # with MODEL: the options, else the model's own defaults, else the library's
    if save_path:
        from textgen.modeldir.atomic import prepare_output

        prepare_output(save_path)  # a bad place is refused at once; what it must not overwrite is checked below
    stories = written_stories(text_path) if text_path else None
    if baseline_path:
        from textgen.data.corpus import iter_stories

        next(iter_stories(baseline_path))  # refused now rather than after generating
    loaded = sampler = None
    if model_dir is not None:
        import textgen
        from textgen.analysis.diagnosis import training_corpus
        from textgen.model.quantize import sampling_copy
        from textgen.sampling.generate import prompt_ids
        from textgen.sampling.sampler import Sampler

        loaded = textgen.load(model_dir)
        settings = sampling_settings(options, loaded)
        own = model_defaults_note(loaded, {} if compare_settings else options)
        if own and not text_path:
            note(own + (" (each setting of the grid starts from them)" if compare_settings else ""))
        neural_cache = cache_settings(loaded, options, sampling=not text_path)  # in front of the sampler and of attribution alike
        sampler = sampling_copy(loaded.model, quantize) if not text_path else None
        Sampler.for_model(loaded, settings)  # bad settings (a word the tokenizer cannot write) are refused before any work
        prompt_ids(loaded.tokenizer, prompt)
        if baseline_path is None and not no_baseline:
            baseline_path = training_corpus(loaded)
            if baseline_path is None:
                note("the model's training corpus is not where training found it, or has changed: "
                     "give --baseline FILE for a human baseline")
    if save_path and not text_path:
        from textgen.analysis.diagnosis import input_files
        from textgen.modeldir.atomic import prepare_output

        prepare_output(save_path, input_files(loaded, baseline_path))
    common = {"prompt": prompt, "max_tokens": max_tokens, "seed": seed, "sampler": sampler, "baseline": baseline_path,
              "cache": neural_cache if model_dir is not None else None,
              "save_path": save_path if not text_path else None, "model_name": model_dir, "note": note}
    if compare_settings:
        from textgen.analysis.diagnosis import comparison_grid, compare_settings as compare

        grid = comparison_grid(loaded.sampling)
        bar = counting_bar(samples * len(grid), " stories")
        comparison = compare(loaded, samples=samples, grid=grid, on_setting=bar.set_description_str, on_story=bar.update,
                             **common)
        bar.close()
        show_comparison(comparison, as_json)
        return
    from textgen.analysis.diagnosis import diagnose

    bar = counting_bar(samples if stories is None else 0, " stories")
    findings_bar = None

    def on_finding(count: int) -> None:
        nonlocal findings_bar
        if findings_bar is None:
            bar.close()
            findings_bar = counting_bar(0, " findings")
        findings_bar.update(count)

    report = diagnose(loaded, stories, settings=settings, samples=samples, max_attributions=max_attributions,
                      on_story=bar.update, on_finding=on_finding, **common)
    (findings_bar or bar).close()
    bar.close()
    show_report(report, show_stories, limit, as_json)


def written_stories(text_path: str):
    """The stories of --text FILE (- reads standard input, streamed with the caps of a corpus file)
    as a stream whose first story is read now, so a bad file is refused before the model loads."""
    import itertools

    from textgen.data.corpus import iter_stories, iter_stream_stories

    stream = iter_stream_stories(sys.stdin.buffer) if text_path == "-" else iter_stories(text_path)
    first = next(stream)
    return itertools.chain([first], stream)
