"""Sampling: the schema of the settings (`schema`, declared once) and the settings (`settings`,
`model_defaults`: no torch), the logits processors (one rule each, in a documented order; a rule
imports torch only when it first runs on tensors), a story's making without torch (`stories`,
`uniforms`, `numpy_generate`), generation in torch (`generate`) and the Sampler that every command
writes stories with (`sampler`). The processors' names load their module when first used."""

from __future__ import annotations

import importlib

__all__ = ["DRY", "BannedSequences", "DoubleWords", "FrequencyPresencePenalty", "KeepCast", "MinP", "NoRepeatNgram",
           "Processor", "RealWords", "RepetitionPenalty", "StrayCapitals", "Temperature", "TopK", "TopP", "apply_processors"]


def __getattr__(name: str):
    if name in __all__:
        return getattr(importlib.import_module(f"{__name__}.processors"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
