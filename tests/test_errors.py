"""textgen/errors.py: the one exception type for bad input, which every command turns into one line and exit 2."""

from __future__ import annotations

from click.testing import CliRunner

import textgen
from textgen.cli import cli
from textgen.errors import TextgenError


def test_it_is_an_exception_with_its_message_and_the_package_exports_it():
    error = TextgenError("the prompt is empty: give some text")
    assert isinstance(error, Exception) and str(error) == "the prompt is empty: give some text"
    assert textgen.TextgenError is TextgenError


def test_a_command_prints_it_on_one_line_and_exits_2(tmp_path):
    result = CliRunner().invoke(cli, ["corpus", "stats", str(tmp_path / "missing.txt")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.startswith("error: corpus path ") and result.stderr.count("\n") == 1
