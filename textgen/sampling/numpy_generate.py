"""One story from a model read without torch (textgen.model.numpy.language_model): what the
default `textgen generate` runs, so a first story does not wait for torch's import (3.3-3.7 s on
the 2-core AMD EPYC, two thirds of the story's time on the Intel Xeon).

The prompt is read a token at a time from zero memories, the never-written tokens and the bans
that hold whatever came before are folded into one row, and `write_one` (textgen.sampling.stories)
writes the story with the uniform numbers torch's generator gives the seed
(textgen.sampling.uniforms): the same steps, rules and draws as torch's path for one story on
float32 CPU weights, so the same story from the same seed. A prompt longer than READ_BY_STEPS tokens
is read by torch's fused kernel there, whose numbers differ in the last bits: `fits` says so, and
the command then takes torch's path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from textgen.model.numpy.language_model import NumpyLanguageModel
from textgen.model.numpy.step import READ_BY_STEPS
from textgen.sampling.processors import Processor
from textgen.sampling.stories import (
    Sample,
    Writing,
    _stop_strings,
    check_generation,
    fold_static_bans,
    never_written_row,
    prompt_ids,
    write_one,
)
from textgen.sampling.uniforms import seeded_uniforms


def fits(model: NumpyLanguageModel, prompt: str) -> bool:
    """Whether this path writes the story torch's path writes after `prompt` (its ids, <s> included,
    are read a token at a time there too)."""
    return len(prompt_ids(model.tokenizer, prompt.rstrip(" "))) <= READ_BY_STEPS


def generate_one(model: NumpyLanguageModel, prompt: str = "", max_tokens: int = 200, processors: Sequence[Processor] = (),
                 greedy: bool = False, seed: int | None = 0, stop: Sequence[str] = (),
                 on_token: Callable[[int, str], None] | None = None) -> list[Sample]:
    """One story after `prompt` (a list of one, as textgen.sampling.generate.generate gives);
    `on_token(0, text)` streams each new piece of text."""
    check_generation(1, max_tokens, 1)
    tokenizer = model.tokenizer
    stop = _stop_strings(tokenizer, stop)
    start = prompt_ids(tokenizer, prompt.rstrip(" "))  # a trailing space is implied by the next word
    writing = Writing(tokenizer, prompt, start, 1, stop, on_token)
    values, state = model.read(start)
    banned, processors = fold_static_bans(never_written_row(len(values)), processors)
    uniforms = iter(seeded_uniforms(0 if seed is None else seed, max_tokens))
    return write_one(model.step, state, values, banned, processors, greedy, uniforms, list(start), max_tokens, writing)
