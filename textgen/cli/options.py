"""Options of training and the experiments: durations, config files, the options made from the
config dataclasses' fields, and how their values become the library's settings."""

from __future__ import annotations

import click

from textgen.errors import TextgenError


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

    from textgen.modeldir.layout import recorded_settings
    from textgen.modeldir.safe_read import read_text

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
            from textgen.modeldir.safe_read import parse_json

            data = parse_json(text, f"config file {path}")
        else:
            raise TextgenError(f"config file {path} must end in .toml, .yaml, .yml or .json")
    except TextgenError:
        raise
    except Exception as error:  # noqa: BLE001 (tomllib.TOMLDecodeError, yaml.YAMLError)
        raise TextgenError(f"config file {path} does not parse ({str(error).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise TextgenError(f"config file {path} must hold key = value settings")
    data = recorded_settings(data, path)
    options = {p.name: p for p in ctx.command.params if isinstance(p, click.Option) and p.name != "config"}
    # a key is an option's name as typed (out, valid, json) or its parameter name (out_dir), with - or _
    by_flag = {flag.lstrip("-").replace("-", "_"): p.name for p in options.values() for flag in p.opts if flag.startswith("--")}
    by_flag.update({field: param for param, (_, field) in CONFIG_FIELDS.items() if param in options})  # activation_reg -> ar
    settings = {by_flag.get(str(key).replace("-", "_"), str(key).replace("-", "_")): item for key, item in data.items()}
    typed = {by_flag.get(str(key).replace("-", "_"), str(key).replace("-", "_")): str(key) for key in data}
    unknown = sorted(set(settings) - set(options))
    if unknown:
        raise TextgenError(f"config file {path} has unknown settings {', '.join(unknown)}: use the option names of "
                           "`textgen train --help` (with - or _)")
    for key, item in settings.items():
        option = options[key]
        flag = option.is_flag
        number = isinstance(option.type, (click.types.IntParamType, click.types.FloatParamType, click.IntRange, click.FloatRange))
        kind = value_kind(item)
        if kind is not None or (isinstance(item, bool) and not flag) or (flag and not isinstance(item, bool)) \
                or (isinstance(option.type, (click.types.IntParamType, click.IntRange)) and isinstance(item, float)) \
                or (number and isinstance(item, str) and not item.strip()):
            shown = repr(item) if kind is None else _shown(item)
            what = f"is {kind}, not" if kind is not None else "is not"
            expected = expected_value(option)
            quote = " (write it in quotes)" if kind in ("a date", "a date and time", "a time of day") and \
                expected.startswith(("text", "a duration")) else ""
            flag = next((name for name in option.opts if name.startswith("--")), f"--{key.replace('_', '-')}")
            raise TextgenError(f"config file {path}: {typed[key]} = {shown} {what} a valid value for {flag}: it takes "
                               f"{expected}{quote}")
    ctx.default_map = {**(ctx.default_map or {}), **settings}
    return value



def value_kind(item) -> str | None:
    """What a config value is when it is no single setting (YAML and TOML read dates, times, sets, binary
    data, lists and tables), in words; None for text, a number, true/false or nothing."""
    import datetime

    if item is None or isinstance(item, (str, int, float, bool)):
        return None
    kinds = ((datetime.datetime, "a date and time"), (datetime.date, "a date"), (datetime.time, "a time of day"),
             ((bytes, bytearray), "binary data"), ((set, frozenset), "a set"), ((list, tuple), "a list"), (dict, "a table"))
    return next((name for types, name in kinds if isinstance(item, types)), f"a {type(item).__name__}")


def _shown(item) -> str:
    text = item.isoformat() if hasattr(item, "isoformat") else repr(item)
    return text if len(text) <= 60 else text[:57] + "..."


def expected_value(option: click.Option) -> str:
    """What an option takes, in words."""
    kind = option.type
    if option.is_flag:
        return "true or false"
    if isinstance(kind, (click.types.IntParamType, click.IntRange)):
        return "a whole number"
    if isinstance(kind, (click.types.FloatParamType, click.FloatRange)):
        return "a number"
    if isinstance(kind, click.Choice):
        return "one of " + ", ".join(str(choice) for choice in kind.choices)
    if option.callback is parse_duration:
        return "a duration such as 90s, 2m, 1.5h or 01:30:00"
    return "text"


def forget_bias_value(value):
    """--forget-bias: a number, or chrono[:T]."""
    if value is None or isinstance(value, (int, float)):
        return value
    try:
        return float(value)
    except ValueError:
        from textgen.model.config import chrono_span

        chrono_span(str(value))
        return str(value).strip().lower()


def devices_value(ctx, param, value):
    if value is None:
        return None
    text = str(value)
    return int(text) if text.isascii() and text.isdigit() else text  # "²".isdigit() is true, int() of it fails



# --- options made from the config dataclasses ---------------------------------------------------

CONFIG_FIELDS: dict[str, tuple[str, str]] = {}  # option parameter -> (block of textgen.json, field name)


def config_option(cls, name: str, **overrides):
    """The click option of a ModelConfig, TrainConfig or ClassifierConfig field, from the field's
    default and its metadata (help, flag, choices, kind, parse), so a default and its help live once,
    in config.py; `overrides` (default=, help=) serve a command whose own default differs."""
    from dataclasses import MISSING, fields

    from textgen.cli.common import SEED
    from textgen.model.config import ClassifierConfig, ModelConfig

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
    kwargs.update(overrides)
    CONFIG_FIELDS[param] = ({ModelConfig: "model", ClassifierConfig: "classifier"}.get(cls, "training"), name)
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


def given_options(ctx: click.Context, names) -> set[str]:
    """The options among `names` given on the command line or in --config (not left at their defaults)."""
    from click.core import ParameterSource

    given = (ParameterSource.COMMANDLINE, ParameterSource.DEFAULT_MAP)
    return {name for name in names if ctx.get_parameter_source(name) in given}


def run_values(options: dict, given: set[str], resume: bool, *blocks: str) -> list[dict]:
    """Each block's settings (model, classifier, training) for a training run; with --resume only
    the `given` options, the run's textgen.json holding the rest (see textgen.training.run.resumed_limits)."""
    from textgen.training.run import resumed_limits

    values = [config_values(options, block, (lambda name: name in given) if resume else (lambda name: True)) for block in blocks]
    if "training" in blocks:
        resumed_limits(values[blocks.index("training")], given, resume)
    return values


DROPOUT_AND_DEPTH = ("num_layers", "embed_dropout", "input_dropout", "hidden_dropout", "output_dropout", "weight_drop")
RUN_LIMITS = ("max_steps", "max_epochs", "max_time", "val_every", "log_every", "seed", "deterministic", "precision",
              "accelerator")  # the limits and hardware options every training command offers, in this order


def config_options(cls, *names: str):
    """config_option for each field, listed in `--help` in the order given."""
    def apply(function):
        for name in reversed(names):
            function = config_option(cls, name)(function)
        return function
    return apply


def run_options(function):
    """--resume, --overwrite and --json of a training command."""
    function = click.option("--json", "as_json", is_flag=True, help="Print the final summary as JSON.")(function)
    function = click.option("--overwrite", is_flag=True, help="Replace a previous run in OUT.")(function)
    return click.option("--resume", is_flag=True,
                        help="Continue from OUT/lightning/last.ckpt (optimizer, schedule, step, data position).")(function)
