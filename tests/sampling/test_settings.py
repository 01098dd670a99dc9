"""textgen/sampling/settings.py directly: the processors a setting builds, in their order, and the
token sequences a banned word can take."""

from __future__ import annotations

import pytest

from textgen.errors import TextgenError
from textgen.sampling import (DRY, BannedSequences, DoubleWords, KeepCast, MinP, NoRepeatNgram, RealWords, RepetitionPenalty,
                              Temperature, TopK, TopP)
from textgen.sampling.settings import SamplingSettings, build_processors, token_sequences
from textgen.tokenizer import EOS_ID


def test_plain_sampling_builds_only_the_cast_and_word_rules(word_tokenizer, char_tokenizer):
    plain = SamplingSettings(temperature=1.0)  # the library's temperature is 0.9: a rule of its own
    assert [type(p) for p in build_processors(SamplingSettings(), word_tokenizer)] == [KeepCast, Temperature]
    assert [type(p) for p in build_processors(plain, word_tokenizer)] == [KeepCast]  # it writes whole words
    assert build_processors(SamplingSettings(keep_cast=1.0, temperature=1.0), word_tokenizer) == []
    # a character tokenizer cannot tell names; without recorded words only the doubled-words rule has work
    assert [type(p) for p in build_processors(plain, char_tokenizer)] == [DoubleWords]
    assert [type(p) for p in build_processors(plain, char_tokenizer, frozenset({"cat"}))] == [RealWords, DoubleWords]
    assert build_processors(SamplingSettings(real_words=1.0, double_words=1.0, temperature=1.0), char_tokenizer,
                            frozenset({"cat"})) == []
    assert SamplingSettings(temperature=0).greedy and not SamplingSettings().greedy


def test_every_knob_adds_its_processor_in_the_documented_order(word_tokenizer):
    settings = SamplingSettings(temperature=0.7, top_k=5, top_p=0.9, min_p=0.05, repetition_penalty=1.3,
                                no_repeat_ngram=3, dry_multiplier=2.0, banned_words=("cat",))
    kinds = [type(processor) for processor in build_processors(settings, word_tokenizer)]
    assert kinds == [RepetitionPenalty, NoRepeatNgram, DRY, BannedSequences, KeepCast, Temperature, TopK, TopP, MinP]


def test_bad_settings_are_refused(word_tokenizer):
    with pytest.raises(TextgenError, match="temperature"):
        build_processors(SamplingSettings(temperature=-1), word_tokenizer)
    with pytest.raises(TextgenError, match="no-repeat-ngram"):
        build_processors(SamplingSettings(no_repeat_ngram=-2), word_tokenizer)
    with pytest.raises(TextgenError, match="keep-cast"):
        build_processors(SamplingSettings(keep_cast=1.5), word_tokenizer)
    with pytest.raises(TextgenError, match="--ban Zorbalux"):
        build_processors(SamplingSettings(banned_words=("Zorbalux",)), word_tokenizer)


def test_a_banned_word_is_banned_at_the_start_and_after_a_space(sentencepiece_tokenizer):
    sequences = token_sequences(sentencepiece_tokenizer, "cat")
    assert sequences  # at least one way to write it
    assert all(sentencepiece_tokenizer.decode(sequence).strip() == "cat" for sequence in sequences)
    assert token_sequences(sentencepiece_tokenizer, "</s>") == [[EOS_ID]]
