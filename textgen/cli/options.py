"""Options that several commands share (the neural cache, sampling, durations, config files),
and how their values become the library's settings."""

from __future__ import annotations

import click

from textgen.cli.common import note
from textgen.errors import TextgenError


CACHE_HELP = {
    False: "The neural cache that keeps a story's names [default: on when training chose settings for this model, "
           "i.e. it helped on validation text].",
    True: "The neural cache in front of the model while sampling [default: off: it lowers the loss of written text, "
          "but draws from it copy recent tokens (\"the the\"); with --text, on as in evaluate].",
}


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
    for option in reversed(options):
        function = option(function)
    return function


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



KEEP_CAST = 0.3  # textgen.sampling.settings.KEEP_CAST (not imported here: the CLI loads torch lazily)


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
                     help="Keep the characters: after a story's first 50 words, a name it has not used yet is this many "
                          "times as likely (1: off, 0: never)."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


# the parameter names sampling_options adds (diagnose notes which of them a mode ignores)
SAMPLING_PARAMS = ("temperature", "top_k", "top_p", "min_p", "repetition_penalty", "frequency_penalty",
                   "presence_penalty", "no_repeat_ngram", "dry_multiplier", "dry_base", "dry_allowed_length",
                   "dry_breakers", "banned", "keep_cast")


def sampling_settings(options: dict):
    from textgen.sampling.settings import DEFAULT_BREAKERS, SamplingSettings

    return SamplingSettings(
        temperature=options["temperature"], top_k=options["top_k"], top_p=options["top_p"], min_p=options["min_p"],
        repetition_penalty=options["repetition_penalty"], frequency_penalty=options["frequency_penalty"],
        presence_penalty=options["presence_penalty"], no_repeat_ngram=options["no_repeat_ngram"],
        dry_multiplier=options["dry_multiplier"], dry_base=options["dry_base"], dry_allowed_length=options["dry_allowed_length"],
        dry_breakers=tuple(options["dry_breakers"]) or DEFAULT_BREAKERS, banned_words=tuple(options["banned"]),
        keep_cast=options["keep_cast"])



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
        elif path.suffix.lower() == ".json":
            from textgen.files import parse_json

            data = parse_json(text, f"config file {path}")
        else:
            raise TextgenError(f"config file {path} must end in .toml, .yaml, .yml or .json")
    except TextgenError:
        raise
    except Exception as error:  # noqa: BLE001 (tomllib.TOMLDecodeError, yaml.YAMLError)
        raise TextgenError(f"config file {path} does not parse ({str(error).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise TextgenError(f"config file {path} must hold key = value settings")
    data = recorded_run(data)
    options = {p.name: p for p in ctx.command.params if isinstance(p, click.Option) and p.name != "config"}
    # a key is an option's name as typed (out, valid, json) or its parameter name (out_dir), with - or _
    by_flag = {flag.lstrip("-").replace("-", "_"): p.name for p in options.values() for flag in p.opts if flag.startswith("--")}
    by_flag.update({field: param for param, (_, field) in CONFIG_FIELDS.items() if param in options})  # activation_reg -> ar
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



def recorded_run(data: dict) -> dict:
    """A run's textgen.json as a config: its training block and its model block (without the
    vocabulary size, which the tokenizer sets); any other settings file as it is."""
    from textgen.model_dir import FORMAT

    if data.get("format") != FORMAT:
        return data
    model = {key: value for key, value in (data.get("model") or {}).items() if key != "vocab_size"}
    return {**(data.get("training") or {}), **model}


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



# --- options made from the config dataclasses ---------------------------------------------------

CONFIG_FIELDS: dict[str, tuple[str, str]] = {}  # option parameter -> (block of textgen.json, field name)


def config_option(cls, name: str):
    """The click option of a ModelConfig or TrainConfig field, from the field's default and its
    metadata (help, flag, choices, kind, parse), so a default and its help live once, in config.py."""
    from dataclasses import MISSING, fields

    from textgen.cli.common import SEED
    from textgen.config import ModelConfig

    spec = next(item for item in fields(cls) if item.name == name)
    meta = spec.metadata
    flag = meta.get("flag") or "--" + name.replace("_", "-")
    param = flag.split("/")[0].lstrip("-").replace("-", "_")
    default = meta["cli_default"] if "cli_default" in meta else spec.default
    if default is MISSING:
        raise ValueError(f"{cls.__name__}.{name} has no default to offer as an option")
    kind = meta.get("kind")
    kwargs: dict = {"default": default}
    if "choices" in meta:
        kwargs["type"] = click.Choice(list(meta["choices"]))
    elif kind:
        kwargs.update({"int": {"type": int}, "int>=1": {"type": click.IntRange(1)}, "float": {"type": float},
                       "seed": {"type": SEED}, "flag": {"is_flag": True}}[kind])
    parse = meta.get("parse")
    if parse:
        kwargs["callback"] = {"duration": parse_duration, "devices": devices_value,
                              "forget_bias": lambda ctx, option, value: forget_bias_value(value)}[parse]
    if kind != "flag":
        kwargs["show_default"] = True
    if meta.get("help"):
        kwargs["help"] = meta["help"]
    CONFIG_FIELDS[param] = ("model" if cls is ModelConfig else "training", name)
    return click.option(flag, param, **kwargs)


def config_values(options: dict, block: str, chosen=lambda name: True) -> dict:
    """The values of one block's options (model or training) as config field names; None (a size the
    run chooses) is left out of the model block."""
    values = {}
    for param, value in options.items():
        where = CONFIG_FIELDS.get(param)
        if where and where[0] == block and chosen(param) and not (block == "model" and value is None):
            values[where[1]] = value
    return values
