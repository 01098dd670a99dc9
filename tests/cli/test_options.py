"""textgen/cli/options.py's value rules on their own: durations, what a config value is in words, what an option
takes, a recorded run as a config, --forget-bias and --devices (config files through `textgen train`:
tests/training/test_run.py)."""

from __future__ import annotations

import datetime

import click
import pytest

from textgen.cli.options import (
    devices_value, expected_value, forget_bias_value, parse_duration, value_kind
)
from textgen.errors import TextgenError


@pytest.mark.parametrize(("text", "seconds"), [
    ("90s", 90), ("2m", 120), ("1.5h", 5400), ("1d", 86400), ("01:30:00", 5400), ("2:30", 150), ("45", 45),
    (" 3M ", 180), ("366d", 366 * 86400),
])
def test_durations(text, seconds):
    assert parse_duration(None, None, text) == seconds


@pytest.mark.parametrize(("text", "message"), [
    ("", "give a duration"), ("soon", "is not a duration"), ("5w", "is not a duration"), ("1:x", "is not a duration"),
    ("0", "longer than zero"), ("-5m", "longer than zero"), ("367d", "at most a year"),
])
def test_bad_durations(text, message):
    with pytest.raises(click.BadParameter, match=message):
        parse_duration(None, None, text)


def test_no_duration_is_none():
    assert parse_duration(None, None, None) is None


@pytest.mark.parametrize(("item", "kind"), [
    ("text", None), (3, None), (2.5, None), (True, None), (None, None),
    (datetime.date(2024, 1, 2), "a date"), (datetime.datetime(2024, 1, 2, 3, 4), "a date and time"),
    (datetime.time(3, 4), "a time of day"), (b"\x00", "binary data"), ({1}, "a set"), ([1], "a list"), ({"a": 1}, "a table"),
    (complex(1, 2), "a complex"),
])
def test_what_a_config_value_is(item, kind):
    assert value_kind(item) == kind


@pytest.mark.parametrize(("option", "expected"), [
    (click.Option(["--json"], is_flag=True), "true or false"),
    (click.Option(["--steps"], type=int), "a whole number"),
    (click.Option(["--steps"], type=click.IntRange(1, 5)), "a whole number"),
    (click.Option(["--lr"], type=float), "a number"),
    (click.Option(["--cell"], type=click.Choice(["lstm", "gru"])), "one of lstm, gru"),
    (click.Option(["--max-time"], callback=parse_duration), "a duration such as 90s, 2m, 1.5h or 01:30:00"),
    (click.Option(["--out"]), "text"),
])
def test_what_an_option_takes(option, expected):
    assert expected_value(option) == expected


def test_forget_bias_is_a_number_or_a_chrono_span():
    assert forget_bias_value(None) is None and forget_bias_value(2) == 2 and forget_bias_value("1.5") == 1.5
    assert forget_bias_value(" Chrono:50 ") == "chrono:50"
    with pytest.raises(TextgenError):
        forget_bias_value("warm")


def test_devices_are_a_count_or_a_list():
    assert devices_value(None, None, "2") == 2 and devices_value(None, None, "0,1") == "0,1"
    assert devices_value(None, None, "auto") == "auto" and devices_value(None, None, "²") == "²"
    assert devices_value(None, None, None) is None
