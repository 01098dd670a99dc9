"""textgen tune-cast and textgen tune."""

from __future__ import annotations

import click

from textgen.cli.common import SEED, counting_bar, float_list, int_list, note, print_json


def story_options(command):
    """--max-tokens, --seed and --quantize, the same for tune-cast and tune."""
    for option in reversed([
        click.option("--max-tokens", type=click.IntRange(1, 10_000), default=200, show_default=True,
                     help="At most this many tokens per story."),
        click.option("--seed", type=SEED, default=0, show_default=True, help="The same seed gives the same stories."),
        click.option("--quantize", type=click.Choice(["auto", "none", "int8", "bf16"]), default="auto", show_default=True,
                     help="Weights for generation (as in textgen generate)."),
    ]):
        command = option(command)
    return command


@click.command("tune-cast")
@click.argument("model_dir", metavar="MODEL")
@click.option("--valid", "valid_path", default=None, metavar="FILE",
              help="Human stories whose names per story to match [default: the validation file training used].")
@click.option("--samples", type=click.IntRange(1, 100_000), default=200, show_default=True,
              help="Stories generated per cast size (more: a steadier choice).")
@click.option("--sizes", callback=int_list, default="0,3,2,1", show_default=True,
              help="Cast sizes to try, comma-separated (0: no limit); a tie goes to the one listed first.")
@story_options
@click.option("--dry-run", is_flag=True, help="Show the search and the choice; leave textgen.json as it is.")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"valid", "human_names_per_story", "rows": [{"cast_size", "names_per_story", "ratio", ...}], '
                   '"chosen", "written"}.')
def tune_cast_command(model_dir: str, valid_path: str | None, samples: int, sizes: tuple[int, ...], max_tokens: int,
                      seed: int, quantize: str, dry_run: bool, as_json: bool) -> None:
    """Choose MODEL's cast size (--cast-size) on validation stories and record it as the model's
    own default.

    For each cast size, generate --samples stories with the model's other defaults and count
    the names per story; the size closest to the validation stories' is written into
    MODEL/textgen.json ("sampling"). generate, diagnose, the explorer and
    SamplingSettings.for_model start from it; --cast-size on a command still wins. A shipped
    model is never changed: tune your own copy (textgen export tinystories my-tinystories), or
    look with --dry-run.

    Example: textgen tune-cast checkpoints/little --valid corpora/little-stories.txt
    """
    from pathlib import Path

    from textgen.cli.common import load_for_generation
    from textgen.analysis.tune_cast import check_sizes, describe, record_cast, recorded_validation, tune_cast

    check_sizes(sizes)
    if not dry_run:  # refused before the search, not after it
        from textgen.modeldir.schema import read_metadata
        from textgen.modeldir.shipped import resolve_model_path
        from textgen.analysis.tune_cast import check_recordable

        read_metadata(model_dir)  # not a model directory: said as that, before its lock is looked at
        check_recordable(resolve_model_path(model_dir))
    loaded = load_for_generation(model_dir, quantize)
    if valid_path is None:
        valid_path = recorded_validation(loaded)
        note(f"validation stories: {valid_path} (the file training used)")
    bar = counting_bar(samples * len(sizes), " stories")
    try:
        tuning = tune_cast(loaded, valid_path, samples=samples, seed=seed, max_tokens=max_tokens, sizes=sizes,
                           on_size=bar.set_description_str, on_story=bar.update)
    finally:
        bar.close()
    section = None if dry_run else record_cast(loaded.path, tuning, loaded.metadata.get("files"))
    if as_json:
        print_json({"model": model_dir, **tuning.to_dict(), "written": section is not None})
        return
    for line in describe(tuning):
        click.echo(line)
    best = tuning.best
    if section is None:
        click.echo(f"best: --cast-size {tuning.chosen} ({best.ratio:.2f} x the validation stories' names); "
                   "--dry-run: textgen.json is unchanged")
    else:
        click.echo(f"chosen: --cast-size {tuning.chosen} ({best.ratio:.2f} x the validation stories' names), written to "
                   f"{Path(loaded.path) / 'textgen.json'}: generate, diagnose and the explorer use it unless --cast-size is given")


@click.command("tune")
@click.argument("model_dir", metavar="MODEL")
@click.option("--valid", "valid_path", required=True, metavar="FILE",
              help="Human stories of the kind the model writes, to measure each cell against.")
@click.option("--samples", type=click.IntRange(1, 100_000), default=32, show_default=True,
              help="Stories generated per cell, and validation stories measured (more: a steadier choice).")
@click.option("--temperatures", callback=float_list, default="1,0.9,0.8", show_default=True,
              help="Temperatures to try, comma-separated.")
@click.option("--min-ps", callback=float_list, default="0,0.05,0.1", show_default=True,
              help="Min-p values to try, comma-separated (0: off).")
@click.option("--sizes", callback=int_list, default="0,3,2,1", show_default=True,
              help="Cast sizes to try, comma-separated (0: no limit).")
@click.option("--prompt", default="", show_default=True,
              help='The start every story is written from, as your users will write them (e.g. "Once upon a time").')
@story_options
@click.option("--dry-run", is_flag=True, help="Show the table and the choice; leave textgen.json as it is.")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"valid", "human", "rows": [{"temperature", "min_p", "cast_size", "names", "invented", '
                   '"qualifies", ...}], "chosen", "chosen_settings", "qualified", "written"}.')
def tune_command(model_dir: str, valid_path: str, samples: int, temperatures: tuple[float, ...], min_ps: tuple[float, ...],
                 sizes: tuple[int, ...], prompt: str, max_tokens: int, seed: int, quantize: str, dry_run: bool,
                 as_json: bool) -> None:
    """Choose MODEL's temperature, min-p and cast size on validation stories and record them as
    the model's own defaults.

    Every cell of the grid (--temperatures x --min-ps x --sizes) writes --samples stories with
    the model's other defaults; each is measured beside as many --valid stories: names per
    story, seq-rep-4, immediate repeats, distinct-2/3 and invented words per 1,000. The rule:
    keep the cells with names per story within 20% of the human value, seq-rep-4 and immediate
    repeats at most 1.5x, distinct-2 at least 0.9x; of those the fewest invented words wins (if
    none is within every band, the one that breaks them least). The choice and the whole table
    are written into MODEL/textgen.json ("sampling"), which generate, diagnose and the explorer
    start from; an option given on a command still wins. A shipped model is never changed: tune
    your own copy (textgen export tinystories my-tinystories), or look with --dry-run.

    Example: textgen tune checkpoints/little --valid corpora/little-stories.txt
    """
    from pathlib import Path

    from textgen.analysis.tune import check_grid, describe, human_metrics, tune
    from textgen.analysis.tune_cast import record_cast
    from textgen.cli.common import load_for_generation

    check_grid(temperatures, min_ps, sizes)
    human_metrics(valid_path, 1)  # a missing, empty or unmeasurable file is refused before the model loads
    from textgen.modeldir.names import LANGUAGE_MODEL
    from textgen.modeldir.schema import read_description

    path, _ = read_description(model_dir, LANGUAGE_MODEL)  # a classifier is refused before its folder is locked
    if not dry_run:  # refused before the search, not after it
        from textgen.analysis.tune_cast import check_recordable

        check_recordable(path, "tune")
    loaded = load_for_generation(model_dir, quantize)
    from textgen.analysis.diagnosis import known_words

    from textgen.sampling.generate import prompt_ids

    prompt_ids(loaded.tokenizer, prompt)  # a prompt the tokenizer cannot write is refused before the search
    known = known_words(loaded)
    bar = counting_bar(samples * len(temperatures) * len(min_ps) * len(sizes), " stories")
    try:
        tuning = tune(loaded, valid_path, samples=samples, seed=seed, max_tokens=max_tokens, temperatures=temperatures,
                      min_ps=min_ps, sizes=sizes, known=known, on_cell=bar.set_description_str, on_story=bar.update,
                      prompt=prompt)
    finally:
        bar.close()
    section = None if dry_run else record_cast(loaded.path, tuning, loaded.metadata.get("files"), "tune")
    if as_json:
        print_json({"model": model_dir, **tuning.to_dict(), "written": section is not None})
        return
    for line in describe(tuning):
        click.echo(line)
    chosen = f"--temperature {tuning.best.temperature:g} --min-p {tuning.best.min_p:g} --cast-size {tuning.best.cast_size}"
    if section is None:
        click.echo(f"best: {chosen}; --dry-run: textgen.json is unchanged")
    else:
        click.echo(f"chosen: {chosen}, written to {Path(loaded.path) / 'textgen.json'}: generate, diagnose and the "
                   "explorer use it unless an option is given")
