"""The shipped story model (textgen/shipped/tinystories-lstm): it loads by its short name from the
CLI and the Python API, its files match the hashes in its textgen.json, it stays under 20 MB
without Lightning's resume state, its card quotes its numbers, and it writes a story."""

from __future__ import annotations

import hashlib
import json

from click.testing import CliRunner

import textgen
from textgen.modeldir.store import SHIPPED_DIR, SHIPPED_MODELS, resolve_model_path
from textgen.cli import cli

FOLDER = SHIPPED_DIR / SHIPPED_MODELS["tinystories"]


def test_the_shipped_model_is_whole_and_small():
    meta = json.loads((FOLDER / "textgen.json").read_text())
    assert meta["status"] == "trained" and meta["weights_dtype"] == "bfloat16"
    for name, digest in meta["files"].items():
        assert hashlib.sha256((FOLDER / name).read_bytes()).hexdigest() == digest, name
    size = sum(path.stat().st_size for path in FOLDER.rglob("*") if path.is_file())
    assert size < 20 * 2**20
    assert not (FOLDER / "lightning").exists()
    assert resolve_model_path("tinystories") == FOLDER


def test_the_card_gives_the_numbers_and_the_command_that_measured_them():
    card = (FOLDER / "README.md").read_text()
    meta = json.loads((FOLDER / "textgen.json").read_text())
    assert "benchmarks/model_card.py" in card and "bits per byte" in card and "perplexity" in card
    assert f"{meta['metrics']['step']:,}" in card  # the training steps the card describes are the model's


def test_the_card_has_each_section_once_and_its_training_data_check():
    card = (FOLDER / "README.md").read_text()
    headings = [line for line in card.splitlines() if line.startswith("## ")]
    assert len(headings) == len(set(headings)) >= 5, headings  # an edit once left a second copy of the card in it
    assert "benchmarks/training_data.py" in card  # the V1-alone vs V1+V2 check that chose the training text


def test_it_loads_by_its_short_name_and_writes_a_story():
    loaded = textgen.load("tinystories")
    assert loaded.model.config.hidden_size >= 256
    result = CliRunner().invoke(cli, ["generate", "tinystories", "--prompt", "Once upon a time", "--max-tokens", "60",
                                      "--seed", "1"])
    assert result.exit_code == 0, result.output
    story = result.stdout.strip()
    assert story.startswith("Once upon a time") and len(story.split()) >= 25
    again = CliRunner().invoke(cli, ["generate", "tinystories", "--prompt", "Once upon a time", "--max-tokens", "60",
                                     "--seed", "1"])
    assert again.stdout == result.stdout  # a seed gives the same story


def test_next_words_on_the_shipped_model_are_real_words():
    result = CliRunner().invoke(cli, ["next", "tinystories", "Once upon a time, there was a little", "--json"])
    assert result.exit_code == 0, result.output
    words = [item["word"].strip() for item in json.loads(result.stdout)["words"]]
    assert {"girl", "boy"} & set(words[:5]), words
