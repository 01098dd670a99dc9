"""textgen: children's-book language models with LSTMs: train, generate, inspect, diagnose.

Importing the package is cheap: torch, Lightning and sentencepiece load only when a
module that needs them is imported.
"""

from textgen.errors import TextgenError

__version__ = "0.1.0"

__all__ = ["TextgenError", "__version__", "compare_settings", "diagnose", "load"]


def load(path, device="cpu"):
    """Load a model directory (textgen.json, model.safetensors, tokenizer) for inference; nothing is unpickled."""
    from textgen.modeldir.store import load as load_model_dir

    return load_model_dir(path, device)


def diagnose(model=None, stories=None, **options):
    """Find repetition errors in `stories`, or in stories generated from `model` (a loaded model or a
    model directory); see `textgen.analysis.diagnosis.diagnose`. Returns a DiagnosisReport."""
    from textgen.analysis.diagnosis import diagnose as run

    if model is not None and not hasattr(model, "tokenizer"):
        model = load(model)
    return run(model, stories, **options)


def compare_settings(model, **options):
    """Stories under each of a grid of sampling settings, with their metrics; see
    `textgen.analysis.diagnosis.compare_settings`. Returns a SettingsComparison."""
    from textgen.analysis.diagnosis import compare_settings as run

    if not hasattr(model, "tokenizer"):
        model = load(model)
    return run(model, **options)
