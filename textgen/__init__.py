"""textgen: children's-book language models with LSTMs: train, generate, inspect, diagnose.

Importing the package is cheap: torch, Lightning and sentencepiece load only when a
module that needs them is imported.
"""

from textgen.errors import TextgenError

__version__ = "0.1.0"

__all__ = ["TextgenError", "__version__", "compare_settings", "diagnose", "generate", "load", "next_words"]


def load(path, device="cpu"):
    """Load a model directory (textgen.json, model.safetensors, tokenizer) for inference; nothing is unpickled."""
    from textgen.modeldir.store import load as load_model_dir

    return load_model_dir(path, device)


def _loaded(model):
    """A loaded model as it is; a model directory or a shipped name ("tinystories") loaded."""
    return model if hasattr(model, "tokenizer") else load(model)


def generate(model, prompt: str = "", n: int = 1, seed: int | None = None, max_tokens: int = 200, **settings) -> list[str]:
    """`n` stories (each with its prompt) written by `model` (a loaded model, a model directory or a
    shipped name like "tinystories"), as `textgen generate` writes them with the same seed:
    `settings` are the sampling schema's (temperature=0.8, top_p=0.95, keep_cast=1.0, banned_words=("cat",);
    textgen/sampling/schema.py lists them); one not given comes from the model's own defaults (its
    textgen.json), else the library's. `seed` None is 0, the CLI's default. The weights are used as
    loaded (the CLI's --quantize none) and the neural cache is off, as the CLI's default for sampling."""
    from textgen.errors import TextgenError
    from textgen.model.neural_cache import resolve_cache, with_cache
    from textgen.sampling.sampler import Sampler
    from textgen.sampling.schema import BY_NAME
    from textgen.sampling.settings import SamplingSettings

    unknown = [name for name in settings if name not in BY_NAME]
    if unknown:
        raise TextgenError(f"{unknown[0]} is not a sampling setting (known: {', '.join(BY_NAME)})")
    loaded = _loaded(model)
    sampler = Sampler.for_model(loaded, SamplingSettings.for_model(loaded, **settings),
                                model=with_cache(loaded.model, resolve_cache(loaded.cache, sampling=True)))
    return [prompt + sample.text for sample in sampler.write(n, prompt, max_tokens, seed)]


def next_words(model, text: str, top: int = 10) -> list[tuple[str, float]]:
    """The `top` most likely next words after `text` with their probabilities, most likely first,
    as `textgen next MODEL TEXT --top N` lists them (`model`: as for `generate`)."""
    from textgen.analysis.next_words import next_words as search
    from textgen.model.neural_cache import resolve_cache, with_cache
    from textgen.tokenizer.base import check_text

    loaded = _loaded(model)
    context = check_text(text, "text").rstrip(" ")
    result = search(with_cache(loaded.model, resolve_cache(loaded.cache)), loaded.tokenizer, context, top)
    return [(word.word, word.probability) for word in result.words]


def diagnose(model=None, stories=None, **options):
    """Find repetition errors in `stories`, or in stories generated from `model` (a loaded model or a
    model directory); see `textgen.analysis.diagnosis.diagnose`. Returns a DiagnosisReport."""
    from textgen.analysis.diagnosis import diagnose as run

    return run(_loaded(model) if model is not None else None, stories, **options)


def compare_settings(model, **options):
    """Stories under each of a grid of sampling settings, with their metrics; see
    `textgen.analysis.diagnosis.compare_settings`. Returns a SettingsComparison."""
    from textgen.analysis.diagnosis import compare_settings as run

    return run(_loaded(model), **options)
