"""textgen/cli/common.py's helpers on their own: JSON output without NaN, the small parameter types, words and
percentages as the terminal shows them, which options were typed, output errors, the secondary processes of a
distributed run, and the group's one-line errors (every command through it: tests/cli/test_cli.py)."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner

from textgen.cli import common
from textgen.cli.common import (
    TextgenGroup, given_options, int_list, output_error, percent, print_json, secondary_process, shown_word
)
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


def test_words_and_percentages_as_the_terminal_shows_them():
    assert shown_word("end\n") == "end↵"
    assert (percent(0.5), percent(0.0123), percent(0.001), percent(0.0004)) == ("50.0%", "1.2%", "0.1%", "0.04%")


def test_secondary_processes_are_those_of_a_nonzero_rank(monkeypatch):
    for name in ("LOCAL_RANK", "NODE_RANK", "RANK"):
        monkeypatch.delenv(name, raising=False)
    assert not secondary_process()
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", " ")
    assert not secondary_process()
    monkeypatch.setenv("NODE_RANK", "1")
    assert secondary_process()


class FullDevice:
    def write(self, text):
        raise OSError(28, "No space left on device")

    def flush(self):
        pass


def test_an_output_error_is_one_raised_inside_click_echo():
    with pytest.raises(OSError) as raised:
        click.echo("story", file=FullDevice())
    assert output_error(raised.value)
    with pytest.raises(OSError) as elsewhere:
        FullDevice().write("story")
    assert not output_error(elsewhere.value)  # raised outside click.echo: not the command's output


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


def test_the_group_turns_a_textgen_error_and_a_usage_mistake_into_one_line_and_exit_2():
    result = CliRunner().invoke(command_group(), ["run", "--top-k", "-1"])
    assert result.exit_code == 2 and result.stderr == "error: top-k must be at least 0: give 0 (off) or more\n"
    usage = CliRunner().invoke(command_group(), ["run", "--seed", "-5"])
    assert usage.exit_code == 2 and "Traceback" not in usage.output and "--seed" in usage.stderr
