"""textgen generate from the command line: streaming, --json, refused settings and Ctrl-C
(textgen/cli/generate.py; the sampler itself is tested in tests/sampling)."""

from __future__ import annotations

import json
import signal
import subprocess

import pytest
from click.testing import CliRunner

from textgen.cli import cli
from tests.conftest import ONE_THREAD, REPO, one_line_error, textgen_process


def test_generate_cli_streams_and_prints_json(trained):
    runner = CliRunner()
    plain = runner.invoke(cli, ["generate", str(trained), "--prompt", "Once upon a time", "-n", "2", "--max-tokens", "15",
                                "--seed", "4", "--verbose"])
    assert plain.exit_code == 0, plain.output
    assert plain.stdout.startswith("Once upon a time") and "--- story 2" in plain.stdout
    assert "processors, in order" in plain.stderr
    lines = runner.invoke(cli, ["generate", str(trained), "-n", "2", "--max-tokens", "15", "--seed", "4", "--json",
                                "--top-k", "5", "--repetition-penalty", "1.2"]).stdout.splitlines()
    stories = [json.loads(line) for line in lines]
    assert len(stories) == 2 and all({"text", "tokens"} <= story.keys() for story in stories)
    assert all({"token", "probability", "rank"} <= token.keys() for story in stories for token in story["tokens"])
    again = runner.invoke(cli, ["generate", str(trained), "-n", "2", "--max-tokens", "15", "--seed", "4", "--json",
                                "--top-k", "5", "--repetition-penalty", "1.2"]).stdout.splitlines()
    assert again == lines


@pytest.mark.parametrize(("args", "fragment"), [(["--temperature", "-1"], "temperature"), (["--top-p", "0"], "top-p"),
                                                (["--top-k", "-2"], "top-k"), (["--min-p", "1"], "min-p"),
                                                (["--max-tokens", "0"], "max tokens"), (["--prompt", "a Zorblax"], "Zorblax"),
                                                (["--cast-opening", "-1"], "cast-opening"),
                                                (["--cast-size", "101"], "cast-size")])
def test_generate_bad_settings(trained, args, fragment):
    one_line_error(CliRunner().invoke(cli, ["generate", str(trained), *args]), fragment)


def interruptible() -> None:
    """Ctrl-C as at a terminal: a test run started in the background (a shell without job control)
    passes its children SIGINT ignored, and Python then leaves it ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_during_generation_keeps_the_story_so_far(trained):
    # a thousand stories of 10,000 tokens: no machine writes them all before the signal arrives (one story of a
    # tiny model in numpy can be over in half a second)
    process = subprocess.Popen(textgen_process("generate", str(trained), "--prompt", "Lily", "--max-tokens", "10000",
                                               "-n", "1000", "--ban", "</s>"),
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ONE_THREAD,
                               preexec_fn=interruptible)
    first = process.stdout.read(12)  # blocks until the story is being written (on a busy machine, not after a fixed time)
    process.send_signal(signal.SIGINT)
    rest, stderr = process.communicate(timeout=60)
    stdout = first + rest
    assert process.returncode == 130, stderr
    assert stdout.startswith("Lily")
    assert len(stdout.split()) > 1
    assert "interrupted" in stderr and "Traceback" not in stderr
