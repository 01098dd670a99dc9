"""The sampling settings' library defaults, and the ones a model may carry as its own.

A model directory's textgen.json may hold a "sampling" section, {"settings": {name: value},
...}, written by `textgen tune-cast` (with the evidence it chose on) or by hand. Every inference
command (generate, diagnose and its --compare-settings, the explorer, `SamplingSettings.for_model`)
then starts from the model's values; an option given explicitly still wins. Torch-free: the CLI
and the model-file checks read it without loading torch.
"""

from __future__ import annotations

import math

from textgen.sampling.schema import SETTINGS

# the settings a model may set for itself, with their type and the library's default (the schema's)
SETTABLE: dict[str, tuple[type, float | int]] = {setting.name: (setting.kind, setting.default)
                                                  for setting in SETTINGS if setting.carried}


def section_problem(section) -> str | None:
    """What is wrong with a textgen.json "sampling" section (None: nothing). Values are checked
    for their type here; their ranges when the settings are used, as an option's are."""
    if section is None:
        return None
    if not isinstance(section, dict) or not isinstance(section.get("settings"), dict):
        return "sampling must be null or an object with \"settings\" (an object of setting -> value)"
    for name, value in section["settings"].items():
        if name not in SETTABLE:
            return f"sampling.settings.{name} is not a setting a model can carry (known: {', '.join(SETTABLE)})"
        kind = SETTABLE[name][0]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or (kind is int and not float(value).is_integer()):
            return f"sampling.settings.{name} must be {'a whole number' if kind is int else 'a number'}, got {value!r}"
    return None


def model_defaults(metadata) -> dict:
    """The sampling settings a model's textgen.json gives as its own defaults ({} when none),
    each of its setting's type (3.0 read as 3 for a whole-number setting)."""
    section = metadata.get("sampling") if isinstance(metadata, dict) else None
    if section is None or section_problem(section) is not None:  # load() has refused a bad section already
        return {}
    return {name: SETTABLE[name][0](value) for name, value in section["settings"].items()}


def describe_defaults(defaults: dict) -> str:
    """"--cast-size 1, --temperature 0.8": the model's defaults as the options that set them."""
    return ", ".join(f"--{name.replace('_', '-')} {value:g}" for name, value in defaults.items())
