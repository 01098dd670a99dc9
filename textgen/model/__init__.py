"""The recurrent language model and its transparent cells (pure torch: no Lightning, no click)."""

from textgen.config import CELLS, ModelConfig
from textgen.model.cells import GATE_NAMES, make_layer
from textgen.model.language_model import LanguageModel, ModelOutput, Trace, activation_penalty, detach_state

__all__ = ["CELLS", "GATE_NAMES", "LanguageModel", "ModelConfig", "ModelOutput", "Trace", "activation_penalty",
           "detach_state", "make_layer"]
