"""What a request to the explorer may ask: the JSON bodies of its endpoints, each field with its
type, default and limits (FastAPI checks them and /docs lists them)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, create_model

from textgen.explorer.budget import MAX_NEW_TOKENS, MAX_TEXT, MAX_TOKENS, count
from textgen.sampling.schema import BY_NAME, PAGE_SETTINGS, Setting


class Request_(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, max_length=200, description="A model name from /api/models (default: the first).")


class NextRequest(Request_):
    text: str = Field(..., max_length=MAX_TEXT, description=f"The story so far (at most {count(MAX_TOKENS)} tokens).")
    top: int = Field(10, ge=1, le=100, description="How many words to list.")
    cache: bool | None = Field(None, description="The neural cache (default: as `textgen next`, on where training chose it).")


def setting_field(setting: Setting):
    """A request field for one setting of the sampling schema, with its bounds: None (the default)
    takes the model's own default (its textgen.json "sampling"), else the library's."""
    bounds = {}
    if setting.zero:  # 0 turns the rule off (or means greedy): the field starts at 0
        bounds["ge"] = 0
    elif setting.low is not None:
        bounds["gt" if setting.low_open else "ge"] = setting.low
    if setting.high is not None:
        bounds["lt" if setting.high_open else "le"] = setting.high
    return setting.kind | None, Field(None, description=f"{setting.help} Default: the model's own, else {setting.default:g}.",
                                      **bounds)


class Prompt_(Request_):
    prompt: str = Field("", max_length=MAX_TEXT, description=f"The story so far (at most {count(MAX_TOKENS)} tokens).")
    max_tokens: int = Field(200, ge=1, le=MAX_NEW_TOKENS)


# the page's sampling settings, then the cache and the seed (the order /docs lists them in)
GenerateRequest = create_model(
    "GenerateRequest", __base__=Prompt_, __module__=__name__,
    **{name: setting_field(BY_NAME[name]) for name in PAGE_SETTINGS},
    cache=(bool | None, Field(None, description="The neural cache (default: off when sampling, as `textgen generate`).")),
    seed=(int, Field(0, ge=0, lt=2**32)),
)


class TextRequest(Request_):
    text: str = Field(..., min_length=1, max_length=MAX_TEXT, description=f"At most {count(MAX_TOKENS)} tokens.")


class GatesRequest(TextRequest):
    layer: int = Field(1, ge=1, le=64)
    units: int = Field(3, ge=1, le=100, description="Most-changed memory units listed per word.")
    heatmap_units: int = Field(48, ge=1, le=512, description="Units in the heatmaps (the most varied).")
