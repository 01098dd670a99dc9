"""textgen: children's-book language models with LSTMs: train, generate, inspect, diagnose.

Importing the package is cheap: torch, Lightning and sentencepiece load only when a
module that needs them is imported.
"""

from textgen.errors import TextgenError

__version__ = "0.1.0"

__all__ = ["TextgenError", "__version__", "load"]


def load(path, device="cpu"):
    """Load a model directory (textgen.json, model.safetensors, tokenizer) for inference; nothing is unpickled."""
    from textgen.checkpoint import load as load_model_dir

    return load_model_dir(path, device)
