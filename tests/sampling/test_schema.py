"""textgen/sampling/schema.py: every consumer of a sampling setting agrees with its one declaration.
At each setting's edge values the CLI option, the settings dataclass, a textgen.json default,
the explorer's request model and the processor's own check accept and refuse the same values."""

from __future__ import annotations

import math
from dataclasses import fields
from types import SimpleNamespace

import click
import pytest
import torch
from click.testing import CliRunner
from pydantic import ValidationError

from textgen.errors import TextgenError
from textgen.sampling import (
    DRY,
    DoubleWords,
    FrequencyPresencePenalty,
    KeepCast,
    MinP,
    RealWords,
    NoRepeatNgram,
    RepetitionPenalty,
    StrayCapitals,
    Temperature,
    TopK,
    TopP,
)
from textgen.sampling.schema import BY_NAME, PAGE_SETTINGS, SETTINGS

_NO_ENTRIES = SimpleNamespace(lower=torch.full((4,), -1), stray=torch.zeros(4, dtype=torch.bool))  # no stray capitals

# each numeric setting's rule, built with one value of the setting (0 of a setting with `zero` builds no rule)
RULES = {
    "temperature": Temperature,
    "top_k": TopK,
    "top_p": TopP,
    "min_p": MinP,
    "repetition_penalty": RepetitionPenalty,
    "frequency_penalty": lambda value: FrequencyPresencePenalty(value, 0.0),
    "presence_penalty": lambda value: FrequencyPresencePenalty(0.0, value),
    "no_repeat_ngram": NoRepeatNgram,
    "dry_multiplier": DRY,
    "dry_base": lambda value: DRY(1.0, base=value),
    "dry_allowed_length": lambda value: DRY(1.0, allowed_length=value),
    "keep_cast": lambda value: KeepCast(value, None),
    "cast_opening": lambda value: KeepCast(0.5, None, opening=value),
    "cast_size": lambda value: KeepCast(0.5, None, cast=value),
    "stray_capitals": lambda value: StrayCapitals(value, _NO_ENTRIES),
    "real_words": lambda value: RealWords(value, None),
    "double_words": lambda value: DoubleWords(value, None),
}
NUMERIC = [setting for setting in SETTINGS if setting.kind is not tuple]


def edges(setting) -> list:
    """The values at and just beyond each bound, 0, the default and (unbounded above) a large one."""
    values = [0, -1, setting.default]
    for bound, outward in ((setting.low, -math.inf), (setting.high, math.inf)):
        if bound is None:
            continue
        if setting.kind is int:
            values += [int(bound), int(bound) + (1 if outward > 0 else -1)]
        else:
            values += [float(bound), math.nextafter(float(bound), outward)]
    if setting.high is None:
        values.append(10**6)
    return list(dict.fromkeys(values))


def accepted(make) -> bool:
    try:
        make()
    except (TextgenError, ValidationError):
        return False
    return True


def options_command() -> click.Command:
    """A command with the sampling options that makes the settings from them, as generate does."""
    from textgen.cli.inference_options import sampling_options, sampling_settings

    def command(**options):
        sampling_settings(options)

    return click.command()(sampling_options(command))


def cli_accepts(setting, value) -> bool:
    command = options_command()
    result = CliRunner().invoke(command, [setting.option, repr(value)])
    assert result.exception is None or isinstance(result.exception, TextgenError), result.output
    return result.exception is None


def test_the_schema_lists_every_setting_once_in_the_dataclass_order():
    from textgen.sampling.model_defaults import SETTABLE
    from textgen.sampling.settings import SamplingSettings

    assert [f.name for f in fields(SamplingSettings)] == [setting.name for setting in SETTINGS]
    assert {f.name: f.default for f in fields(SamplingSettings)} == {setting.name: setting.default for setting in SETTINGS}
    assert list(SETTABLE) == [setting.name for setting in NUMERIC]
    assert set(RULES) == set(SETTABLE)


def test_the_cli_options_are_the_schemas():
    from textgen.cli.inference_options import SAMPLING_PARAMS

    command = options_command()
    params = {param.name: param for param in command.params}
    assert tuple(params) == SAMPLING_PARAMS == tuple(setting.name for setting in SETTINGS)
    for setting in SETTINGS:
        param = params[setting.name]
        assert param.opts == [setting.option]
        assert param.default is None if setting.kind is not tuple else param.multiple
        assert param.help.startswith(setting.help)


def test_the_explorer_request_has_the_page_settings_with_the_schemas_bounds():
    from textgen.explorer.requests import GenerateRequest

    assert PAGE_SETTINGS == ("temperature", "top_k", "top_p", "min_p", "repetition_penalty", "no_repeat_ngram",
                             "dry_multiplier", "keep_cast", "cast_opening", "cast_size", "stray_capitals", "real_words",
                             "double_words")
    assert set(PAGE_SETTINGS) <= set(GenerateRequest.model_fields)
    assert not {setting.name for setting in SETTINGS if not setting.page} & set(GenerateRequest.model_fields)
    # the bound that disagreed: the page capped it at 10, the processor at 100
    assert accepted(lambda: GenerateRequest(repetition_penalty=50.0)) and accepted(lambda: RepetitionPenalty(50.0))


@pytest.mark.parametrize("setting", NUMERIC, ids=lambda setting: setting.name)
def test_every_consumer_accepts_and_refuses_the_same_edge_values(setting):
    from textgen.explorer.requests import GenerateRequest
    from textgen.sampling.settings import SamplingSettings

    verdicts = {}
    for value in edges(setting):
        expected = setting.accepts(value)
        verdicts[value] = expected
        assert accepted(lambda: SamplingSettings(**{setting.name: value})) is expected, value
        assert cli_accepts(setting, value) is expected, value
        # a model's textgen.json default: loads (its type is right), refused with the schema's range when used
        model = SimpleNamespace(metadata={"sampling": {"settings": {setting.name: value}}})
        assert accepted(lambda: SamplingSettings.for_model(model)) is expected, value
        if setting.page:
            assert accepted(lambda: GenerateRequest(**{setting.name: value})) is expected, value
        if setting.zero and value == 0:  # 0 turns the rule off (or means greedy): the rule itself never takes it
            assert not accepted(lambda: RULES[setting.name](value))
        else:
            assert accepted(lambda: RULES[setting.name](value)) is expected, value
    assert True in verdicts.values() and False in verdicts.values(), verdicts  # the edges reach both sides


def test_a_refusal_names_the_setting_and_its_range():
    with pytest.raises(TextgenError, match=r"repetition penalty 200 is outside \[1e-06, 100\]"):
        BY_NAME["repetition_penalty"].check(200.0)
    with pytest.raises(TextgenError, match=r"top-k must be a whole number >= 1 \(0 turns it off\), got -1"):
        BY_NAME["top_k"].check(-1)
    with pytest.raises(TextgenError, match=r"temperature -1 is outside \[0, 100\] \(0: greedy\)"):
        BY_NAME["temperature"].check(-1.0)
    with pytest.raises(TextgenError, match=r"temperature 0 is outside \(0, 100\] \(0: greedy\)"):
        Temperature(0.0)  # the rule itself: greedy is the sampler's, not a temperature to divide by
    with pytest.raises(TextgenError, match="cast-size must be a whole number, got 1.5"):
        BY_NAME["cast_size"].check(1.5)
    with pytest.raises(TextgenError, match="must be a number, got nan"):
        BY_NAME["top_p"].check(float("nan"))
    with pytest.raises(TextgenError, match="banned words must be a list of texts"):
        BY_NAME["banned_words"].check(("cat", 3))


def test_the_sampling_schema_and_settings_load_no_torch():
    import subprocess
    import sys

    code = ("import sys, textgen.sampling.schema, textgen.sampling.model_defaults, textgen.sampling.settings, "
            "textgen.cli.inference_options; textgen.sampling.settings.SamplingSettings(temperature=0.5); "
            "print('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
