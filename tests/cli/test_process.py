"""textgen/cli/process.py on its own: the secondary processes of a distributed run, output errors, and the
group's one-line errors (every command through it: tests/cli/test_cli.py; signals: tests/test_signals.py)."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from textgen.cli.process import TextgenGroup, output_error, secondary_process
from textgen.errors import TextgenError


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


def failing_group():
    @click.group(cls=TextgenGroup)
    def group() -> None:
        pass

    @group.command()
    @click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0)
    @click.option("--top-k", "top_k", type=int, default=0)
    def run(seed, top_k) -> None:
        if top_k < 0:
            raise TextgenError("top-k must be at least 0: give 0 (off) or more")

    return group


def test_the_group_turns_a_textgen_error_and_a_usage_mistake_into_one_line_and_exit_2():
    result = CliRunner().invoke(failing_group(), ["run", "--top-k", "-1"])
    assert result.exit_code == 2
    assert result.stderr == "error: top-k must be at least 0: give 0 (off) or more\n"
    usage = CliRunner().invoke(failing_group(), ["run", "--seed", "-5"])
    assert usage.exit_code == 2 and "Traceback" not in usage.output and "--seed" in usage.stderr
