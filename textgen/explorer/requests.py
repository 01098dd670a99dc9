"""What a request to the explorer may ask: the JSON bodies of its endpoints, each field with its
type, default and limits (FastAPI checks them and /docs lists them)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from textgen.explorer.budget import MAX_NEW_TOKENS, MAX_TEXT, MAX_TOKENS, count
from textgen.sampling.processors import MAX_CAST_OPENING, MAX_CAST_SIZE

# the sampling settings the page sets (GenerateRequest's fields of those names)
PAGE_SETTINGS = ("temperature", "top_k", "top_p", "min_p", "repetition_penalty", "no_repeat_ngram", "dry_multiplier",
                 "keep_cast", "cast_opening", "cast_size")


class Request_(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, max_length=200, description="A model name from /api/models (default: the first).")


class NextRequest(Request_):
    text: str = Field(..., max_length=MAX_TEXT, description=f"The story so far (at most {count(MAX_TOKENS)} tokens).")
    top: int = Field(10, ge=1, le=100, description="How many words to list.")
    cache: bool | None = Field(None, description="The neural cache (default: as `textgen next`, on where training chose it).")


class GenerateRequest(Request_):
    prompt: str = Field("", max_length=MAX_TEXT, description=f"The story so far (at most {count(MAX_TOKENS)} tokens).")
    max_tokens: int = Field(200, ge=1, le=MAX_NEW_TOKENS)
    # sampling settings: None takes the model's own default (its textgen.json "sampling"), else the library's
    temperature: float | None = Field(None, ge=0, le=100)
    top_k: int | None = Field(None, ge=0, le=1_000_000)
    top_p: float | None = Field(None, gt=0, le=1)
    min_p: float | None = Field(None, ge=0, lt=1)
    repetition_penalty: float | None = Field(None, gt=0, le=10)
    no_repeat_ngram: int | None = Field(None, ge=0, le=20)
    dry_multiplier: float | None = Field(None, ge=0, le=100)
    keep_cast: float | None = Field(None, ge=0, le=1)
    cast_opening: int | None = Field(None, ge=0, le=MAX_CAST_OPENING)
    cast_size: int | None = Field(None, ge=0, le=MAX_CAST_SIZE)
    cache: bool | None = Field(None, description="The neural cache (default: off when sampling, as `textgen generate`).")
    seed: int = Field(0, ge=0, lt=2**32)


class TextRequest(Request_):
    text: str = Field(..., min_length=1, max_length=MAX_TEXT, description=f"At most {count(MAX_TOKENS)} tokens.")


class GatesRequest(TextRequest):
    layer: int = Field(1, ge=1, le=64)
    units: int = Field(3, ge=1, le=100, description="Most-changed memory units listed per word.")
    heatmap_units: int = Field(48, ge=1, le=512, description="Units in the heatmaps (the most varied).")
