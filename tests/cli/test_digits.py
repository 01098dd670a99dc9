"""Values typed with digits that are not ASCII: "²".isdigit() is true but int("²") fails, which
was a traceback; each is now a one-line error naming the value."""

from __future__ import annotations

from click.testing import CliRunner

from tests.conftest import one_line_error
from textgen.cli import cli


def test_devices_of_other_digits_is_a_one_line_error(corpus, tmp_path):
    result = CliRunner().invoke(cli, ["train", str(corpus), "--out", str(tmp_path / "run"), "--devices", "\u00b2",
                                      "--max-steps", "1"])
    one_line_error(result, "--devices \u00b2")
    assert not (tmp_path / "run").exists()


def test_a_chrono_span_of_other_digits_is_a_one_line_error(corpus, tmp_path):
    result = CliRunner().invoke(cli, ["train", str(corpus), "--out", str(tmp_path / "run"), "--forget-bias", "chrono:\u00b2",
                                      "--max-steps", "1"])
    one_line_error(result, "forget_bias 'chrono:\u00b2' is not a number or chrono[:T]")
