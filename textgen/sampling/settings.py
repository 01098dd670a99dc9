"""Sampling settings from the CLI (or Python) turned into the ordered list of processors."""

from __future__ import annotations

from dataclasses import dataclass

from textgen.errors import TextgenError
from textgen.sampling.processors import (
    DRY,
    BannedSequences,
    FrequencyPresencePenalty,
    KeepCast,
    MinP,
    NoRepeatNgram,
    Processor,
    RepetitionPenalty,
    Temperature,
    TopK,
    TopP,
)
from textgen.sampling.model_defaults import CAST_OPENING, CAST_SIZE, KEEP_CAST, model_defaults  # noqa: F401 (re-exported)
from textgen.tokenizer import EOS_ID, Tokenizer

DEFAULT_BREAKERS = ("\n", ".", "!", "?", '"', ",")


@dataclass(frozen=True)
class SamplingSettings:
    """What a user sets; zero or None turns a rule off. temperature 0 means greedy."""

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    min_p: float = 0.0
    repetition_penalty: float = 1.0
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    no_repeat_ngram: int = 0
    dry_multiplier: float = 0.0
    dry_base: float = 1.75
    dry_allowed_length: int = 2
    dry_breakers: tuple[str, ...] = DEFAULT_BREAKERS
    banned_words: tuple[str, ...] = ()
    keep_cast: float = KEEP_CAST
    cast_opening: int = CAST_OPENING
    cast_size: int = CAST_SIZE

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


def build_processors(settings: SamplingSettings, tokenizer: Tokenizer) -> list[Processor]:
    """The processors in their documented order; each checks its own arguments."""
    processors: list[Processor] = []
    if settings.repetition_penalty != 1.0:
        processors.append(RepetitionPenalty(settings.repetition_penalty))
    if settings.frequency_penalty or settings.presence_penalty:
        processors.append(FrequencyPresencePenalty(settings.frequency_penalty, settings.presence_penalty))
    if settings.no_repeat_ngram:
        if settings.no_repeat_ngram < 0:
            raise TextgenError(f"--no-repeat-ngram must be a whole number >= 1 (0 turns it off), got {settings.no_repeat_ngram}")
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
    if settings.temperature < 0 or settings.temperature != settings.temperature:
        raise TextgenError(f"temperature must be from 0 (greedy) to 100, got {settings.temperature!r}")
    if settings.temperature not in (0, 1):
        processors.append(Temperature(settings.temperature))
    if settings.top_k:
        processors.append(TopK(settings.top_k))
    if settings.top_p != 1.0:
        processors.append(TopP(settings.top_p))
    if settings.min_p:
        processors.append(MinP(settings.min_p))
    return processors
