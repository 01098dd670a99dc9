"""textgen tune-cast."""

from __future__ import annotations

import click

from textgen.cli.common import SEED, counting_bar, int_list, note, print_json


@click.command("tune-cast")
@click.argument("model_dir", metavar="MODEL")
@click.option("--valid", "valid_path", default=None, metavar="FILE",
              help="Human stories whose names per story to match [default: the validation file training used].")
@click.option("--samples", type=click.IntRange(1, 100_000), default=200, show_default=True,
              help="Stories generated per cast size (more: a steadier choice).")
@click.option("--sizes", callback=int_list, default="0,3,2,1", show_default=True,
              help="Cast sizes to try, comma-separated (0: no limit); a tie goes to the one listed first.")
@click.option("--max-tokens", type=click.IntRange(1, 10_000), default=200, show_default=True, help="At most this many tokens per story.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="The same seed gives the same stories.")
@click.option("--quantize", type=click.Choice(["auto", "none", "int8", "bf16"]), default="auto", show_default=True,
              help="Weights for generation (as in textgen generate).")
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
