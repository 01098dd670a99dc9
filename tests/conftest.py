"""Tiny real objects for the tests: a dozen stories, corpus files in every format, tokenizers."""

from __future__ import annotations

import gzip
import itertools
import json
import os
import sys
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)  # the tests' models are tiny: more threads only contend on a 2-core machine

REPO = Path(__file__).resolve().parent.parent

DOUG_STORIES = [
    "Doug saw Jane. Jane saw Spot. Spot saw Doug.",
    "Jane saw Spot. Spot saw Doug. Doug saw Jane.",
    "Spot saw Doug. Doug saw Jane.\nJane saw Spot.",
]
TINY_STORIES = [
    "Once upon a time, there was a little cat named Tom. Tom liked to play in the sun.",
    "Lily had a red ball. She threw the ball to her dog. The dog ran fast and caught it!",
    'One day, Ben went to the park. "Can I play too?" asked Sam. They played all day.',
    "Mia was sad. Her kite was stuck in a tree.\nHer dad helped her. Mia smiled and said thank you.",
    "The duck swam in the pond. It saw a frog on a lily pad. The frog said hello.",
    "Max built a tower of blocks. It fell down. Max tried again, and the tower stood tall.",
    "Anna and her mom baked cookies. The kitchen smelled sweet. They shared the cookies with Tim.",
    "A little bird could not fly. Sue gave it water and a warm bed. Soon the bird was well.",
    "It was a rainy day. Leo played inside with his truck. Then the sun came out.",
    "Zoe was afraid of the dark. Her grandma held her hand. Zoe was brave and went to sleep.",
    "Sam and Tom had a race to the big tree. Tom fell, and Sam helped him up.",
    "The bunny found a carrot in the garden. It was big and orange. The bunny was happy.",
]


class Killed(BaseException):
    """Stands for SIGKILL: no cleanup runs, and nothing the code does on an exception may roll a commit back."""


def killed_at_rename(monkeypatch, at: int, action) -> None:
    """Run `action()` with its `at`-th os.replace (1-based) raising Killed, as a kill between two
    renames would stop it; the renames before it happen."""
    real, calls = os.replace, []

    def replace(source, target):
        calls.append(target)
        if len(calls) == at:
            raise Killed
        real(source, target)

    monkeypatch.setattr(os, "replace", replace)
    try:
        action()
    except Killed:
        pass
    finally:
        monkeypatch.undo()


def write_repeated(path: Path, piece: bytes, total: int, compress: bool = False, head: bytes = b"") -> Path:
    """`head`, then `piece` repeated to `total` bytes, written a MiB at a time (never held whole)."""
    import zlib

    block = piece * max(1, (1 << 20) // len(piece))
    packer = zlib.compressobj(9, zlib.DEFLATED, 31) if compress else None
    with open(path, "wb") as file:
        file.write(packer.compress(head) if packer else head)
        for start in range(0, total, len(block)):
            chunk = block[: total - start]
            file.write(packer.compress(chunk) if packer else chunk)
        if packer:
            file.write(packer.flush())
    return path


def write_marker_file(path: Path, stories: list[str]) -> Path:
    path.write_text("".join(f"{story}\n<|endoftext|>\n" for story in stories), encoding="utf-8")
    return path


@pytest.fixture
def stories() -> list[str]:
    return list(TINY_STORIES)


@pytest.fixture
def corpus_txt(tmp_path: Path) -> Path:
    """The tiny stories as a TinyStories-format file."""
    return write_marker_file(tmp_path / "tiny.txt", TINY_STORIES)


@pytest.fixture
def corpus_blank(tmp_path: Path) -> Path:
    """The tiny stories separated by blank lines."""
    path = tmp_path / "blank.txt"
    path.write_text("\n\n".join(TINY_STORIES) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def corpus_jsonl_gz(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as file:
        for story in TINY_STORIES:
            file.write(json.dumps({"text": story, "id": 1}) + "\n")
    return path


@pytest.fixture(scope="session")
def little_stories() -> list[str]:
    """Two hundred generated little stories (about 90 KB): enough for a real sentencepiece model."""
    from textgen.data.storybook import generate_stories

    return list(itertools.islice(generate_stories("little-stories"), 200))


@pytest.fixture(scope="session")
def sentencepiece_tokenizer(little_stories):
    from textgen.tokenizer import train_tokenizer

    return train_tokenizer(little_stories, kind="sentencepiece", vocab_size=400)


@pytest.fixture(scope="session")
def word_tokenizer(little_stories):
    from textgen.tokenizer import train_tokenizer

    return train_tokenizer(little_stories, kind="word")


@pytest.fixture(scope="session")
def char_tokenizer(little_stories):
    from textgen.tokenizer import train_tokenizer

    return train_tokenizer(little_stories, kind="char", vocab_size=48)


@pytest.fixture(scope="session")
def tokenizers(sentencepiece_tokenizer, word_tokenizer, char_tokenizer) -> dict:
    return {"sentencepiece": sentencepiece_tokenizer, "word": word_tokenizer, "char": char_tokenizer}


@pytest.fixture(scope="session")
def corpus(tmp_path_factory, little_stories) -> Path:
    """120 little stories as a corpus file for training tests."""
    path = tmp_path_factory.mktemp("corpus") / "stories.txt"
    path.write_text("".join(f"{story}\n<|endoftext|>\n" for story in little_stories[:120]))
    return path


@pytest.fixture(scope="session")
def trained(tmp_path_factory, corpus) -> Path:
    """A tiny model directory trained for 20 steps with a word tokenizer."""
    from click.testing import CliRunner

    from textgen.cli import cli

    out = tmp_path_factory.mktemp("runs") / "tiny"
    result = CliRunner().invoke(cli, ["train", str(corpus), "--out", str(out), "--tokenizer-kind", "word", "--embed-dim", "8",
                                      "--hidden-size", "16", "--num-layers", "1", "--batch-size", "4", "--seq-len", "8",
                                      "--val-every", "10", "--log-every", "5", "--max-steps", "20",
                                      "--cache-dir", str(out.parent / "cache")])
    assert result.exit_code == 0, result.output
    return out


ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}  # tiny models: threads only contend


def textgen_process(*args: str) -> list[str]:
    return [sys.executable, "-m", "textgen.cli", *args]


def one_line_error(result, fragment: str) -> None:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and fragment in lines[0], result.stderr
