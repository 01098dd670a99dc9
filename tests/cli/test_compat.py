"""What a user already has keeps working: a model directory written by an earlier textgen (before
the CLI became a package, tests/golden/compat/model) loads and gives the same JSON as then, and
every command's --help text is the recorded one (tests/golden/help)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from textgen.cli import cli

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
COMPAT = GOLDEN / "compat"


def commands(group=cli, prefix=()):
    yield prefix
    for name, command in sorted(getattr(group, "commands", {}).items()):
        yield from commands(command, prefix + (name,))


def test_every_command_has_a_recorded_help_text():
    recorded = sorted(path.stem for path in (GOLDEN / "help").glob("*.txt"))
    assert recorded == sorted("-".join(path) or "textgen" for path in commands())


@pytest.mark.parametrize("path", list(commands()), ids=lambda path: " ".join(path) or "textgen")
def test_help_text_is_unchanged(path):
    result = CliRunner().invoke(cli, [*path, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    expected = (GOLDEN / "help" / f"{'-'.join(path) or 'textgen'}.txt").read_text()
    assert result.output == expected


def same(got, want, where="") -> None:
    """Equal JSON, floats to 1e-5 relative (the thread count changes the last bits of a sum)."""
    if isinstance(want, float) and isinstance(got, (int, float)):
        assert got == pytest.approx(want, rel=1e-5, abs=1e-9), where
    elif isinstance(want, dict):
        assert isinstance(got, dict) and sorted(got) == sorted(want), where
        for key in want:
            same(got[key], want[key], f"{where}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), where
        for index, (a, b) in enumerate(zip(got, want)):
            same(a, b, f"{where}[{index}]")
    else:
        assert got == want, where


def comparable(data, folder: Path):
    """The JSON with this run's paths replaced by the recorded ones' names."""
    text = json.dumps(data)
    return json.loads(text.replace(str(folder), "COMPAT"))


CASES = {
    "evaluate.json": ["evaluate", "{model}", "{stories}", "--cache-dir", "{cache}", "--no-cache", "--json"],
    "next.json": ["next", "{model}", "Once upon a time, there was a", "--top", "8", "--json"],
    "next-words.json": ["next", "{model}", "Lily saw a", "--words", "cat,dog,ball", "--json"],
    "gates.json": ["gates", "{model}", "Lily saw a cat. The cat saw Lily.", "--json"],
    "generate.jsonl": ["generate", "{model}", "--prompt", "Once upon a time", "-n", "2", "--max-tokens", "30", "--seed", "3",
                       "--quantize", "none", "--keep-cast", "1", "--temperature", "1", "--cache", "--json"],  # the sampler of the time
    "diagnose.json": ["diagnose", "{model}", "--samples", "4", "--max-tokens", "40", "--seed", "2", "--no-baseline",
                      "--quantize", "none", "--temperature", "1", "--json"],
    "diagnose-text.json": ["diagnose", "{model}", "--text", "{stories}", "--no-baseline", "--json"],
    "diagnose-text-only.json": ["diagnose", "--text", "{stories}", "--json"],
    "compare.json": ["diagnose", "{model}", "--compare-settings", "--samples", "2", "--max-tokens", "20", "--no-baseline",
                     "--quantize", "none", "--json"],
    "corpus-stats.json": ["corpus", "stats", "{stories}", "--json"],
}


@pytest.fixture(scope="module")
def compat(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("compat")
    shutil.copytree(COMPAT / "model", folder / "model")
    shutil.copyfile(COMPAT / "stories.txt", folder / "stories.txt")
    return folder


@pytest.mark.parametrize("name", sorted(CASES))
def test_an_earlier_model_directory_gives_the_same_json(compat, name):
    values = {"model": str(compat / "model"), "stories": str(compat / "stories.txt"), "cache": str(compat / "cache")}
    result = CliRunner().invoke(cli, [part.format(**values) for part in CASES[name]])
    assert result.exit_code == 0, result.output
    recorded = (COMPAT / "outputs" / name).read_text()
    if name.endswith(".jsonl"):
        got = [comparable(json.loads(line), compat) for line in result.stdout.splitlines()]
        want = [json.loads(line) for line in recorded.splitlines()]
    else:
        got, want = comparable(json.loads(result.stdout), compat), json.loads(recorded)
    same(got, want, name)
