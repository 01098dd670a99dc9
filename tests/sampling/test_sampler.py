"""textgen/sampling/sampler.py: the batch-and-seed rule, per-run processor state and what an
interrupt keeps."""

from __future__ import annotations

import pytest

from textgen.errors import TextgenError
from textgen.sampling.generate import generate
from textgen.sampling.sampler import GENERATION_BATCH, Sampler, batch_seeds
from textgen.sampling.settings import SamplingSettings, build_processors


def test_batch_b_uses_seed_plus_b():
    assert GENERATION_BATCH == 64
    assert batch_seeds(130, 5, 64) == [(0, 64, 5), (64, 64, 6), (128, 2, 7)]
    assert batch_seeds(3, None, 64) == [(0, 3, 0)]  # no seed: 0, the CLI's default
    assert batch_seeds(5, 2**32 - 1, 2) == [(0, 2, 2**32 - 1), (2, 2, 0), (4, 1, 1)]  # wraps at 2**32


def test_the_stories_are_generates_batch_by_batch(word_model):
    model, tokenizer = word_model
    settings = SamplingSettings(repetition_penalty=1.3, keep_cast=1.0)
    stories = Sampler(model, tokenizer, settings, batch_size=2).write(5, "Once upon a time", max_tokens=12, seed=3)
    processors = build_processors(settings, tokenizer)
    expected = [sample for seed, n in ((3, 2), (4, 2), (5, 1))
                for sample in generate(model, tokenizer, "Once upon a time", n=n, max_tokens=12, processors=processors, seed=seed)]
    assert [s.ids for s in stories] == [s.ids for s in expected]
    assert [s.text for s in stories] == [s.text for s in expected]
    assert len({tuple(s.ids) for s in stories}) > 1


def test_each_run_has_its_own_processors_and_the_same_seed_the_same_stories(word_model):
    model, tokenizer = word_model
    sampler = Sampler(model, tokenizer, SamplingSettings(repetition_penalty=1.5, no_repeat_ngram=2, keep_cast=1.0,
                                                         temperature=1.0))
    listed = sampler.processors
    first = sampler.write(3, max_tokens=15, seed=9)
    again = sampler.write(3, max_tokens=15, seed=9)
    assert [s.ids for s in first] == [s.ids for s in again]
    assert sampler.processors is listed  # what --verbose lists is not the state a run counts with
    penalty, ngrams = listed
    assert penalty._counts._base is None and ngrams._base is None  # never ran: each run counted with its own


def test_greedy_and_temperature_zero_write_the_same(word_model):
    model, tokenizer = word_model
    greedy = Sampler(model, tokenizer, SamplingSettings(keep_cast=1.0), greedy=True).write(2, "Lily", 10, seed=1)
    cold = Sampler(model, tokenizer, SamplingSettings(temperature=0, keep_cast=1.0)).write(2, "Lily", 10, seed=2)
    assert [s.ids for s in greedy] == [s.ids for s in cold]


def test_an_interrupt_keeps_what_the_batch_wrote_so_far(word_model):
    model, tokenizer = word_model
    settings = SamplingSettings(keep_cast=1.0, banned_words=("</s>",))  # stories run to max_tokens
    whole = Sampler(model, tokenizer, settings, batch_size=2).write(4, "the cat", max_tokens=10, seed=4)
    pieces = []

    def stop_in_the_second_batch(index: int, text: str) -> None:
        pieces.append(index)
        if pieces.count(3) == 3:
            raise KeyboardInterrupt

    sampler = Sampler(model, tokenizer, settings, batch_size=2)
    finished = []
    with pytest.raises(KeyboardInterrupt):
        for index, sample in sampler.stories(4, "the cat", max_tokens=10, seed=4, on_token=stop_in_the_second_batch):
            finished.append(index)
    assert finished == [0, 1]
    unfinished = sampler.interrupted()
    assert [index for index, _ in unfinished] == [2, 3]  # the batch being written, not the one before
    for index, sample in unfinished:
        assert sample.stop_reason == "interrupted" and sample.prompt == "the cat" and sample.tokens is None
        assert sample.text and whole[index].text.startswith(sample.text) and sample.text != whole[index].text
    assert unfinished[0][1].to_dict() == {"prompt": "the cat", "text": unfinished[0][1].text, "stop_reason": "interrupted",
                                          "tokens": None}


def test_bad_settings_are_refused_when_the_sampler_is_made(word_model):
    model, tokenizer = word_model
    with pytest.raises(TextgenError, match="--ban Zorbalux"):
        Sampler(model, tokenizer, SamplingSettings(banned_words=("Zorbalux",)))
    with pytest.raises(TextgenError, match="beams must be from 1 to 32"):
        Sampler(model, tokenizer, beams=40).write(1)
