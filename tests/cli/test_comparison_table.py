"""`textgen diagnose --compare-settings` as text: fixed-width columns with at least one space between
any two cells, every number under its header, whatever the size of the values (a rate of 200 findings
per 1,000 words printed as `0.000200.000` before) or the length of a setting's name."""

from __future__ import annotations

import re

from click.testing import CliRunner

from textgen.analysis.diagnosis import SettingsComparison, SettingsRow
from textgen.cli import cli
from textgen.cli.show_diagnosis import SHORT_METRICS, show_comparison

KEYS = [key for key, _ in SHORT_METRICS]
NUMBER = re.compile(r"-?\d+\.\d+")  # one number as the table writes it: exactly one decimal point


def table(output: str) -> tuple[str, list[str]]:
    """The header line and the lines under it, up to the baseline's source line."""
    lines = output.splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith("setting "))
    body = []
    for line in lines[start + 1:]:
        if line.startswith(("baseline:", "columns:")):
            break
        body.append(line)
    return lines[start], body


def check_columns(header: str, body: list[str], names: list[str]) -> None:
    """Each line is its name, then one number per column, each ending where its header ends and
    separated from what is before it by at least one space."""
    headers = [(match.group(), match.end()) for match in re.finditer(r"\S+", header)]
    assert headers[0][0] == "setting" and [name for name, _ in headers[1:]] == [short for _, short in SHORT_METRICS] + ["ppl"]
    assert len(body) == len(names)
    for line, name in zip(body, names):
        assert line.startswith(name + " ")
        cells = list(re.finditer(r"\S+", line[len(name):]))
        # the human baseline has no perplexity: one cell fewer, the others in place
        assert len(cells) == len(headers) - 1 - (name == "human baseline"), line
        for cell, (short, end) in zip(cells, headers[1:]):
            assert NUMBER.fullmatch(cell.group()), f"{cell.group()!r} under {short} is not one number: {line}"
            assert len(name) + cell.end() == end, f"{cell.group()} is not under {short}: {line}"
            assert line[len(name) + cell.start() - 1] == " "


def comparison(rows: list[tuple[str, float, float]], baseline: dict | None) -> SettingsComparison:
    settings = [SettingsRow(name, {}, {key: value for key in KEYS}, perplexity, {}) for name, value, perplexity in rows]
    return SettingsComparison(settings, samples=8, prompt="Once", max_tokens=20, seed=0, baseline=baseline,
                              baseline_path="stories.txt")


def test_large_values_and_long_names_keep_their_columns(capsys):
    rows = [("temperature 1 (pure sampling)", 0.0, 2.36),
            ("a setting whose name is longer than the usual column", 200.0, 1234.5),
            ("greedy", 12345.678, 1.5)]
    baseline = {**{key: 0.25 for key in KEYS}, "stories": 8, "drawn_from": 100}
    show_comparison(comparison(rows, baseline), as_json=False)
    output = capsys.readouterr().out
    header, body = table(output)
    check_columns(header, body, [name for name, _, _ in rows] + ["human baseline"])
    assert "0.000200.000" not in output  # what the old table printed for this row
    assert all(line == line.rstrip() for line in output.splitlines())  # no trailing spaces


def test_small_values_keep_the_usual_widths(capsys):
    """Values that fit print as before: a 32-character name column and 7 characters a number."""
    show_comparison(comparison([("top-p 0.9", 0.256, 1.81)], None), as_json=False)
    header, body = table(capsys.readouterr().out)
    assert body == ["top-p 0.9".ljust(32) + "  0.256" * len(KEYS) + "    1.81"]
    assert header == "setting".ljust(32) + "".join(f"{short:>7}" for _, short in SHORT_METRICS) + "     ppl"
    check_columns(header, body, ["top-p 0.9"])


def test_the_command_prints_aligned_columns(trained):
    from textgen.analysis.diagnosis import comparison_grid

    result = CliRunner().invoke(cli, ["diagnose", str(trained), "--compare-settings", "--samples", "2", "--max-tokens", "20"])
    assert result.exit_code == 0, result.output
    header, body = table(result.stdout)
    check_columns(header, body, [name for name, _ in comparison_grid()] + ["human baseline"])
