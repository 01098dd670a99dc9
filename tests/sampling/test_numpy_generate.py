"""textgen/sampling/numpy_generate.py: one story from a model read without torch is the story torch's path writes
from the same seed (ids, probabilities, ranks, text, stop reason and the streamed pieces), with the default rules
and others; `textgen generate` takes this path for one story and never imports torch, and takes torch's where the
two would differ."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

import textgen
from textgen.cli import cli
from textgen.errors import TextgenError
from textgen.model.numpy.language_model import NumpyLanguageModel
from textgen.sampling.numpy_generate import fits
from textgen.sampling.sampler import Sampler
from textgen.sampling.settings import SamplingSettings


@pytest.fixture(scope="module")
def both():
    """The shipped story model read both ways."""
    return NumpyLanguageModel.load("tinystories"), textgen.load("tinystories")


def written(loaded, settings=None, seed=0, prompt="", max_tokens=80, **options):
    pieces = []
    sampler = Sampler.for_model(loaded, settings, **options)
    story = sampler.write(1, prompt, max_tokens, seed, on_token=lambda index, text: pieces.append(text))[0]
    return story.to_dict(), pieces


CASES = [  # (settings, sampler options, prompt)
    (None, {}, ""),  # the default command: the model's own defaults and every default rule
    (None, {}, "Once upon a time, Tom and his dog"),
    (SamplingSettings(temperature=0.7, top_k=40, repetition_penalty=1.2, no_repeat_ngram=3), {}, "The cat"),
    (SamplingSettings(banned_words=("</s>",), keep_cast=0.0), {"stop": ("The end",)}, "Lily"),
    (None, {"greedy": True}, "One day,"),
    (SamplingSettings(real_words=1.0, double_words=1.0, keep_cast=1.0, stray_capitals=1.0), {}, ""),  # no rule at all
]


@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("seed", [0, 1, 7])
def test_the_story_is_torchs_for_the_same_seed(both, case, seed):
    settings, options, prompt = CASES[case]
    light, loaded = both
    light_story, light_pieces = written(light, settings, seed, prompt, **options)
    torch_story, torch_pieces = written(loaded, settings, seed, prompt, **options)
    assert light_story == torch_story
    assert light_pieces == torch_pieces and "".join(light_pieces) == light_story["text"]
    assert len(light_story["tokens"]) > 0


def test_more_stories_or_beams_are_refused_in_one_line(both):
    light, _ = both
    with pytest.raises(TextgenError, match="one story at a time"):
        Sampler.for_model(light).write(2)
    with pytest.raises(TextgenError, match="one story at a time"):
        Sampler.for_model(light, beams=2).write(1)


def test_a_prompt_longer_than_torchs_step_by_step_reading_does_not_fit(both):
    light, _ = both
    assert fits(light, "Once upon a time")
    assert not fits(light, " ".join(["Tom ran to the park."] * 20))


def generate_in_a_process(*args: str) -> tuple[str, bool]:
    """`textgen generate ARGS` in a fresh interpreter: its output and whether torch was imported."""
    code = ("import sys; from textgen.cli import cli\n"
            "try:\n    cli.main(sys.argv[1:], standalone_mode=False)\n"
            "finally:\n    print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code, "generate", *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout, done.stderr.strip().splitlines()[-1] == "TORCH"


def test_the_default_command_never_imports_torch_and_writes_torchs_story(both):
    _, loaded = both
    text, imported = generate_in_a_process("tinystories", "--max-tokens", "60", "--seed", "3", "--prompt", "Once upon a time")
    assert not imported
    story, _ = written(loaded, seed=3, prompt="Once upon a time", max_tokens=60)
    assert text == "Once upon a time" + story["text"] + "\n"


@pytest.mark.parametrize("args", [["-n", "2"], ["--beams", "2"], ["--quantize", "int8"], ["--cache"],
                                  ["--prompt", " ".join(["Tom ran to the park."] * 20)]])
def test_what_numpy_cannot_write_as_torch_does_goes_to_torch(args):
    _, imported = generate_in_a_process("tinystories", "--max-tokens", "5", *args)
    assert imported


def test_verbose_says_the_story_is_written_without_torch():
    result = CliRunner().invoke(cli, ["generate", "tinystories", "--max-tokens", "5", "--verbose"])
    assert result.exit_code == 0, result.output
    assert "weights: none (float32, read without torch: one story in numpy)" in result.stderr
    assert "processors, in order: keep the cast" in result.stderr
