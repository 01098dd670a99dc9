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
    from textgen.cache import resolve_cache

    enabled = options.pop("cache_enabled", None)
    values = {name: options.pop(f"cache_{name}", None) for name in ("weight", "theta", "size", "scope")}
    tuned = loaded.cache if loaded is not None else None
    settings = resolve_cache(tuned, enabled, **values, sampling=sampling)
    if enabled and tuned is None and not any(value is not None for value in values.values()):
        note("this model has no cache settings chosen on validation text: using the defaults "
             f"({settings.describe() if settings else 'off'})")
    return settings



KEEP_CAST = 0.1  # textgen.sampling.settings.KEEP_CAST (not imported here: the CLI loads torch lazily)
CAST_OPENING = 50  # textgen.sampling.settings.CAST_OPENING
CAST_SIZE = 0  # textgen.sampling.settings.CAST_SIZE


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
        click.option("--keep-cast", type=float, default=KEEP_CAST, show_default=True,
                     help="Keep the characters: after a story's opening, a name it has not used yet is this many "
                          "times as likely (1: off, 0: never)."),
        click.option("--cast-opening", type=int, default=CAST_OPENING, show_default=True,
                     help="Keep the cast: the opening, where new names are free, is this many words."),
        click.option("--cast-size", type=int, default=CAST_SIZE, show_default=True,
                     help="Keep the cast: the opening ends early once the story has this many names (0: no limit)."),
    ]
    return with_options(function, options)


# the parameter names sampling_options adds (diagnose notes which of them a mode ignores)
SAMPLING_PARAMS = ("temperature", "top_k", "top_p", "min_p", "repetition_penalty", "frequency_penalty",
                   "presence_penalty", "no_repeat_ngram", "dry_multiplier", "dry_base", "dry_allowed_length",
                   "dry_breakers", "banned", "keep_cast", "cast_opening", "cast_size")


def sampling_settings(options: dict):
    from textgen.sampling.settings import DEFAULT_BREAKERS, SamplingSettings

    return SamplingSettings(
        temperature=options["temperature"], top_k=options["top_k"], top_p=options["top_p"], min_p=options["min_p"],
        repetition_penalty=options["repetition_penalty"], frequency_penalty=options["frequency_penalty"],
        presence_penalty=options["presence_penalty"], no_repeat_ngram=options["no_repeat_ngram"],
        dry_multiplier=options["dry_multiplier"], dry_base=options["dry_base"], dry_allowed_length=options["dry_allowed_length"],
        dry_breakers=tuple(options["dry_breakers"]) or DEFAULT_BREAKERS, banned_words=tuple(options["banned"]),
        keep_cast=options["keep_cast"], cast_opening=options["cast_opening"], cast_size=options["cast_size"])
