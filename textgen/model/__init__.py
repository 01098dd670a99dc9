"""The models: configs, transparent cells, the language model, the classifier, the neural cache,
quantized forms, and the cells' equations in numpy (`textgen.model.numpy`).

`textgen.model.config` and `textgen.model.numpy` import no torch (classify predict and the CLI's
help run without it); the names below load their torch modules when first used."""

from __future__ import annotations

import importlib

_HOMES = {"CELLS": "config", "ModelConfig": "config", "GATE_NAMES": "cells", "make_layer": "cells",
          "LanguageModel": "language_model", "ModelOutput": "language_model", "Trace": "language_model",
          "activation_penalty": "language_model", "detach_state": "language_model"}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
