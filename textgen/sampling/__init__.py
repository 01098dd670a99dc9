"""Sampling: logits processors (one rule each, in a documented order); generation comes next."""

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
    apply_processors,
)

__all__ = ["DRY", "BannedSequences", "FrequencyPresencePenalty", "KeepCast", "MinP", "NoRepeatNgram", "Processor", "RepetitionPenalty",
           "Temperature", "TopK", "TopP", "apply_processors"]
