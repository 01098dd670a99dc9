"""textgen/cli/common.py's helpers on their own: JSON output without NaN, the small parameter types, words and
percentages as the terminal shows them, which options were typed."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner

from textgen.cli import common
from textgen.cli.common import float_list, given_options, int_list, percent, print_json, shown_word
from textgen.cli.process import TextgenGroup
from textgen.errors import TextgenError


def test_print_json_writes_one_line_with_nan_and_infinities_as_null(capsys):
    print_json({"a": float("nan"), "b": [1.5, float("inf"), {"c": float("-inf")}], "word": "Zoë"})
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and json.loads(out) == {"a": None, "b": [1.5, None, {"c": None}], "word": "Zoë"}
    assert "Zoë" in out  # not escaped


def test_int_list():
    assert int_list(None, None, "2,8,32") == (2, 8, 32) and int_list(None, None, " 3, ,4 ") == (3, 4)
    with pytest.raises(click.BadParameter, match="is not a comma-separated list of whole numbers"):
        int_list(None, None, "2,x")
    with pytest.raises(click.BadParameter, match="give at least one value"):
        int_list(None, None, " , ")


def test_float_list():
    assert float_list(None, None, "1,0.9, 0.8") == (1.0, 0.9, 0.8)
    with pytest.raises(click.BadParameter, match="'1,hot' is not a comma-separated list of numbers, e.g. 1,0.9,0.8"):
        float_list(None, None, "1,hot")
    with pytest.raises(click.BadParameter, match="give at least one value, e.g. 1,0.9,0.8"):
        float_list(None, None, ",")


def test_words_and_percentages_as_the_terminal_shows_them():
    assert shown_word("end\n") == "end↵"
    assert (percent(0.5), percent(0.0123), percent(0.001), percent(0.0004)) == ("50.0%", "1.2%", "0.1%", "0.04%")


def command_group():
    @click.group(cls=TextgenGroup)
    def group() -> None:
        pass

    @group.command()
    @click.option("--seed", type=common.SEED, default=0)
    @click.option("--top-k", "top_k", type=int, default=0)
    @click.pass_context
    def run(ctx, seed, top_k) -> None:
        click.echo(",".join(given_options(ctx, ["seed", "top_k"])))
        if top_k < 0:
            raise TextgenError("top-k must be at least 0: give 0 (off) or more")

    return group


def test_the_options_typed_on_the_command_line_are_named_as_typed():
    result = CliRunner().invoke(command_group(), ["run", "--top-k", "3"])
    assert result.exit_code == 0 and result.stdout == "--top-k\n"
    assert CliRunner().invoke(command_group(), ["run"]).stdout == "\n"
