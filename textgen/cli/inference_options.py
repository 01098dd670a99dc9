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


def sampling_option(setting):
    """The click option of one setting of the sampling schema. Its default is None, so that the
    model's own default (textgen.json "sampling") can apply; the help shows the library's value.
    Ranges are the schema's, checked when the settings are made (SamplingSettings)."""
    if setting.kind is tuple:
        return click.option(setting.option, setting.name, multiple=True, help=setting.help)
    return click.option(setting.option, setting.name, type=setting.kind, default=None,
                        help=f"{setting.help}  [default: {setting.default:g}]")


def sampling_options(function):
    """The sampling options shared by generate and diagnose, one per setting of the schema
    (textgen/sampling/schema.py). A setting not given comes from the model's own defaults where
    its textgen.json has them, else from the library."""
    from textgen.sampling.schema import SETTINGS

    return with_options(function, [sampling_option(setting) for setting in SETTINGS])


def _names() -> tuple[str, ...]:
    from textgen.sampling.schema import SETTINGS

    return tuple(setting.name for setting in SETTINGS)


SAMPLING_PARAMS = _names()  # the parameter names sampling_options adds (diagnose notes which of them a mode ignores)


def sampling_settings(options: dict, loaded=None):
    """The settings a command samples with: each option given, else the model's own default
    (`loaded`'s textgen.json), else the library's; a value out of the schema's range is refused."""
    from textgen.sampling.settings import SamplingSettings

    return SamplingSettings.for_model(loaded, **{name: (tuple(options[name]) or None) if isinstance(options[name], tuple)
                                                 else options[name] for name in SAMPLING_PARAMS})


def model_defaults_note(loaded, options: dict) -> str | None:
    """"the model's own sampling defaults: --cast-size 1" for the model's defaults that no option
    overrode (None when there are none)."""
    from textgen.sampling.model_defaults import describe_defaults

    used = {name: value for name, value in (loaded.sampling if loaded is not None else {}).items() if options.get(name) is None}
    return f"the model's own sampling defaults (its textgen.json; an option overrides them): {describe_defaults(used)}" \
        if used else None
