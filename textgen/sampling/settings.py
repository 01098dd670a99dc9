"""Sampling settings from the CLI (or Python) turned into the ordered list of processors.
`SamplingSettings` has one field per setting of the schema (textgen/sampling/schema.py), in its
order, and checks each value against it when made. Torch-free until processors are built."""

from __future__ import annotations

from dataclasses import field, make_dataclass

from textgen.errors import TextgenError
from typing import TYPE_CHECKING

from textgen.sampling.model_defaults import model_defaults
from textgen.sampling.schema import SETTINGS
from textgen.tokenizer import EOS_ID

if TYPE_CHECKING:
    from textgen.sampling.processors import Processor
    from textgen.tokenizer import Tokenizer


class _Rules:
    """What a user sets; zero or None turns a rule off. temperature 0 means greedy. Each value is
    checked against the schema when the settings are made, so a bad one is refused before any work."""

    def __post_init__(self) -> None:
        for setting in SETTINGS:
            value = getattr(self, setting.name)
            if setting.kind is tuple and isinstance(value, list):
                object.__setattr__(self, setting.name, value := tuple(value))
            setting.check(value)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    @classmethod
    def for_model(cls, loaded=None, **given) -> SamplingSettings:
        """The settings for sampling from `loaded` (a `textgen.load` result, or None): each setting
        given here (not None) wins, then the model's own default from its textgen.json "sampling"
        section (`textgen tune-cast` writes one), then the library's."""
        own = model_defaults(loaded.metadata) if loaded is not None else {}
        return cls(**{**own, **{name: value for name, value in given.items() if value is not None}})


SamplingSettings = make_dataclass(
    "SamplingSettings", [(setting.name, setting.kind if setting.kind is not tuple else tuple[str, ...],
                          field(default=setting.default)) for setting in SETTINGS],
    bases=(_Rules,), frozen=True)
SamplingSettings.__module__ = __name__
SamplingSettings.__doc__ = _Rules.__doc__


def token_sequences(tokenizer: Tokenizer, word: str) -> list[list[int]]:
    """The token sequences a word can appear as (at the start of the text and after a space).
    "</s>" stands for the end of the story: banning it makes the story run to --max-tokens."""
    if word == "</s>":
        return [[EOS_ID]]
    found = []
    for text in (word, " " + word):
        ids = [token for token in tokenizer.encode(text) if not tokenizer.is_space(tokenizer.id_to_piece(token))]
        if ids and ids not in found:
            found.append(ids)
    return found


def build_processors(settings: SamplingSettings, tokenizer: Tokenizer, words=None) -> list[Processor]:
    """The processors in their documented order (fresh ones: a run's state starts empty); each
    checks its own arguments against the schema. `words`: the model's training words (LoadedModel.words)
    for the real-words rule, which is off without them, and their `capitals` for the no-stray-capitals rule."""
    from textgen.sampling.processors import (
        DRY,
        BannedSequences,
        FrequencyPresencePenalty,
        KeepCast,
        MinP,
        NoRepeatNgram,
        DoubleWords,
        RealWords,
        RepetitionPenalty,
        StrayCapitals,
        Temperature,
        TopK,
        TopP,
    )

    processors: list[Processor] = []
    if settings.repetition_penalty != 1.0:
        processors.append(RepetitionPenalty(settings.repetition_penalty))
    if settings.frequency_penalty or settings.presence_penalty:
        processors.append(FrequencyPresencePenalty(settings.frequency_penalty, settings.presence_penalty))
    if settings.no_repeat_ngram:
        processors.append(NoRepeatNgram(settings.no_repeat_ngram))
    if settings.dry_multiplier:
        breakers = {token for text in settings.dry_breakers for seq in token_sequences(tokenizer, text) for token in seq}
        processors.append(DRY(settings.dry_multiplier, settings.dry_base, settings.dry_allowed_length, tuple(sorted(breakers))))
    if settings.banned_words:
        unwritable = [word for word in settings.banned_words if word != "</s>" and tokenizer.unknown(word)]
        if unwritable:
            raise TextgenError(f"--ban {unwritable[0]}: this {tokenizer.kind} tokenizer does not know it, so the model can "
                               "never write it and there is nothing to ban; check the spelling")
        sequences = [seq for word in settings.banned_words for seq in token_sequences(tokenizer, word)]
        processors.append(BannedSequences(sequences, label=", ".join(settings.banned_words)))
    if settings.keep_cast != 1.0:
        from textgen.sampling.cast_names import name_tokens

        names = name_tokens(tokenizer)
        # the settings are checked even where there are no names
        processor = KeepCast(settings.keep_cast, names, opening=settings.cast_opening, cast=settings.cast_size)
        if names.any:  # a character tokenizer cannot tell names: nothing to keep
            processors.append(processor)
    if settings.stray_capitals != 1.0:
        from textgen.sampling.stray_capitals import stray_capital_entries

        entries = stray_capital_entries(tokenizer, getattr(words, "capitals", None))
        processor = StrayCapitals(settings.stray_capitals, entries)  # checked even where there is nothing to hold back
        if entries.any:  # a character tokenizer writes no whole words
            processors.append(processor)
    if settings.real_words != 1.0 or settings.double_words != 1.0:
        from textgen.sampling.real_words import word_shapes

        shapes = word_shapes(tokenizer, words)  # None for a word tokenizer: it writes only whole words of its own
        real = RealWords(settings.real_words, shapes)  # each is checked even where it has nothing to do
        double = DoubleWords(settings.double_words, shapes)
        if settings.real_words != 1.0 and shapes is not None and shapes.words:  # a model that records no words: off
            processors.append(real)
        if settings.double_words != 1.0 and shapes is not None:
            processors.append(double)
    if settings.temperature not in (0, 1):
        processors.append(Temperature(settings.temperature))
    if settings.top_k:
        processors.append(TopK(settings.top_k))
    if settings.top_p != 1.0:
        processors.append(TopP(settings.top_p))
    if settings.min_p:
        processors.append(MinP(settings.min_p))
    return processors
