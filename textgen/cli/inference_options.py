"""Options that the inference commands share (the neural cache and the sampling rules) and how
their values become the library's settings."""

from __future__ import annotations

import click

from textgen.cli.common import note

CACHE_HELP = {
    False: "The neural cache that keeps a story's names [default: on when training chose settings for this model, "
           "i.e. it helped on validation text].",
    True: "The neural cache in front of the model while sampling [default: off: it lowers the loss of written text, "
          "but draws from it copy recent tokens (\"the the\"); with --text, on as in evaluate].",
}


def with_options(function, options: list):
    """`function` with the click options added in the order listed (as --help shows them)."""
    for option in reversed(options):
        function = option(function)
    return function


def cache_options(function=None, *, sampling: bool = False):
    """The neural cache options of evaluate, generate, next and diagnose (`sampling`: off by default)."""
    if function is None:
        return lambda inner: cache_options(inner, sampling=sampling)
    options = [
        click.option("--cache/--no-cache", "cache_enabled", default=None, help=CACHE_HELP[sampling]),
        click.option("--cache-weight", type=float, default=None, help="The cache's share of each prediction, in [0, 1)."),
        click.option("--cache-theta", type=float, default=None, help="How sharply the cache prefers similar states (0, 100]."),
        click.option("--cache-size", type=int, default=None, help="How many earlier positions the cache remembers."),
        click.option("--cache-scope", type=click.Choice(["story", "all"]), default=None,
                     help="Empty the cache at each story start, or keep it across stories."),
    ]
    return with_options(function, options)


def cache_settings(loaded, options: dict, sampling: bool = False):
    """The cache settings a command uses (None: off), from the model's tuned ones and the options;
    off by default when `sampling`."""
    from textgen.model.neural_cache import resolve_cache

    enabled = options.pop("cache_enabled", None)
    values = {name: options.pop(f"cache_{name}", None) for name in ("weight", "theta", "size", "scope")}
    tuned = loaded.cache if loaded is not None else None
    settings = resolve_cache(tuned, enabled, **values, sampling=sampling)
    if enabled and tuned is None and not any(value is not None for value in values.values()):
        note("this model has no cache settings chosen on validation text: using the defaults "
             f"({settings.describe() if settings else 'off'})")
    return settings


def _default(name: str, help: str) -> dict:
    """A sampling option's default and help: None, so that the model's own default (textgen.json
    "sampling") can apply; the help shows the library's value."""
    from textgen.sampling.model_defaults import SETTABLE

    return {"default": None, "help": f"{help}  [default: {SETTABLE[name][1]:g}]"}


def sampling_options(function):
    """The sampling options shared by generate and diagnose. A setting not given comes from the
    model's own defaults where its textgen.json has them, else from the library."""
    options = [
        click.option("--temperature", type=float, **_default("temperature", "0 means greedy.")),
        click.option("--top-k", type=int, **_default("top_k", "Keep the k most likely tokens (0: off).")),
        click.option("--top-p", type=float, **_default("top_p", "Nucleus: keep tokens up to this probability mass.")),
        click.option("--min-p", type=float, **_default("min_p", "Keep tokens at least this share of the best.")),
        click.option("--repetition-penalty", type=float,
                     **_default("repetition_penalty", "CTRL penalty for seen tokens (1: off).")),
        click.option("--frequency-penalty", type=float,
                     **_default("frequency_penalty", "Subtract this times a token's count so far (0: off).")),
        click.option("--presence-penalty", type=float,
                     **_default("presence_penalty", "Subtract this once from every token seen so far (0: off).")),
        click.option("--no-repeat-ngram", type=int, **_default("no_repeat_ngram", "Forbid repeating n-grams of this size.")),
        click.option("--dry-multiplier", type=float, **_default("dry_multiplier", "DRY penalty strength (0: off).")),
        click.option("--dry-base", type=float,
                     **_default("dry_base", "DRY: the penalty grows by this factor per repeated token.")),
        click.option("--dry-allowed-length", type=int,
                     **_default("dry_allowed_length", "DRY: repeats up to this many tokens go unpenalised.")),
        click.option("--dry-breaker", "dry_breakers", multiple=True,
                     help='Text that breaks a DRY repeat (repeatable) [default: newline . ! ? " ,].'),
        click.option("--ban", "banned", multiple=True, help="A word never to write (repeatable; </s>: never end the story)."),
        click.option("--keep-cast", type=float,
                     **_default("keep_cast", "Keep the characters: after a story's opening, a name it has not used yet "
                                             "is this many times as likely (1: off, 0: never).")),
        click.option("--cast-opening", type=int,
                     **_default("cast_opening", "Keep the cast: the opening, where new names are free, is this many words.")),
        click.option("--cast-size", type=int,
                     **_default("cast_size", "Keep the cast: the opening ends early once the story has this many names "
                                             "(0: no limit).")),
    ]
    return with_options(function, options)


# the parameter names sampling_options adds (diagnose notes which of them a mode ignores)
SAMPLING_PARAMS = ("temperature", "top_k", "top_p", "min_p", "repetition_penalty", "frequency_penalty",
                   "presence_penalty", "no_repeat_ngram", "dry_multiplier", "dry_base", "dry_allowed_length",
                   "dry_breakers", "banned", "keep_cast", "cast_opening", "cast_size")


def sampling_settings(options: dict, loaded=None):
    """The settings a command samples with: each option given, else the model's own default
    (`loaded`'s textgen.json), else the library's."""
    from textgen.sampling.settings import SamplingSettings

    given = {name: options[name] for name in SAMPLING_PARAMS if name not in ("dry_breakers", "banned")}
    return SamplingSettings.for_model(loaded, **given, dry_breakers=tuple(options["dry_breakers"]) or None,
                                      banned_words=tuple(options["banned"]) or None)


def model_defaults_note(loaded, options: dict) -> str | None:
    """"the model's own sampling defaults: --cast-size 1" for the model's defaults that no option
    overrode (None when there are none)."""
    from textgen.sampling.model_defaults import describe_defaults

    used = {name: value for name, value in (loaded.sampling if loaded is not None else {}).items() if options.get(name) is None}
    return f"the model's own sampling defaults (its textgen.json; an option overrides them): {describe_defaults(used)}" \
        if used else None
