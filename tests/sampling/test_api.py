"""textgen.generate and textgen.next_words (textgen/__init__.py): the README's Python example runs
as written, and both give what the CLI prints for the same input."""

from __future__ import annotations

import contextlib
import io
import json

import pytest
from click.testing import CliRunner

import textgen
from textgen.cli import cli

README_EXAMPLE = '''
import textgen
model = textgen.load("tinystories")
print(textgen.generate(model, "Once upon a time", seed=1)[0])
for word, p in textgen.next_words(model, "Lily saw a", top=5): print(f"{word} {p:.3f}")
'''


@pytest.fixture(scope="module")
def shipped():
    return textgen.load("tinystories")


def test_the_readme_example_runs():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(README_EXAMPLE, "README.md", "exec"), {})
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("Once upon a time")
    words = lines[-5:]
    assert len(words) == 5 and all(len(line.split(" ")) == 2 for line in words)
    probabilities = [float(line.split(" ")[1]) for line in words]
    assert probabilities == sorted(probabilities, reverse=True) and 0 < probabilities[0] <= 1


def test_generate_writes_what_the_cli_writes(shipped, tmp_path):
    stories = textgen.generate(shipped, "Once upon a time", n=2, seed=3, max_tokens=30, temperature=0.8, top_p=0.95)
    result = CliRunner().invoke(cli, ["generate", "tinystories", "--prompt", "Once upon a time", "-n", "2", "--seed", "3",
                                      "--max-tokens", "30", "--temperature", "0.8", "--top-p", "0.95", "--quantize", "none",
                                      "--json"])
    assert result.exit_code == 0, result.output
    printed = [json.loads(line) for line in result.output.splitlines()]
    assert stories == [line["prompt"] + line["text"] for line in printed]
    assert stories[0] != stories[1]
    assert textgen.generate("tinystories", "Once upon a time", n=2, seed=3, max_tokens=30, temperature=0.8,
                            top_p=0.95) == stories  # a shipped name loads the same model
    assert textgen.generate(shipped, max_tokens=20) == textgen.generate(shipped, max_tokens=20, seed=0)  # None is 0


def test_the_models_own_defaults_apply_and_a_setting_wins(shipped):
    own = shipped.sampling  # the shipped model's textgen.json "sampling" settings
    assert own  # it carries some (tune-cast chose its cast size)
    name, value = next(iter(own.items()))
    assert textgen.generate(shipped, max_tokens=25, seed=2) == textgen.generate(shipped, max_tokens=25, seed=2,
                                                                                **{name: value})
    greedy = textgen.generate(shipped, "Lily", n=2, max_tokens=15, temperature=0)
    assert greedy[0] == greedy[1]


def test_unknown_and_out_of_range_settings_are_refused(shipped):
    with pytest.raises(textgen.TextgenError, match="temprature is not a sampling setting"):
        textgen.generate(shipped, temprature=0.8)
    with pytest.raises(textgen.TextgenError, match=r"top-p 1.5 is outside \(0, 1\]"):
        textgen.generate(shipped, top_p=1.5)


def test_next_words_lists_what_the_cli_lists(shipped):
    listed = textgen.next_words(shipped, "Lily saw a", top=5)
    result = CliRunner().invoke(cli, ["next", "tinystories", "Lily saw a", "--top", "5", "--json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)["words"]
    assert listed == [(word["word"], word["probability"]) for word in printed]
    assert len(listed) == 5
