"""The explorer's web app: a JSON API over the library and one static page (no build step, no CDN).

Every endpoint is a thin map onto a library call and returns what the matching CLI command's
`--json` prints for the same input: `/api/next` is `textgen next --json`, `/api/diagnose` is
`textgen diagnose MODEL --text FILE --no-baseline --json`, `/api/gates` is `textgen gates --json`
(plus `heatmaps`, the matrices the memory view draws), and `/api/generate` streams what
`textgen generate --json` prints, word by word, as server-sent events.

Models are named, never given by path: the server is started with its model directories and
the page picks among their names. One lock per model: requests that use the same model take
turns, so a model is never read while another request changes its cached step weights.
Generations run in a worker thread each, at most `max_generations` at a time (the next one is
told 429); a client that goes away stops its generation at the next token.
"""

from __future__ import annotations

import asyncio
import json
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from textgen.errors import TextgenError
from textgen.sampling.processors import MAX_CAST_OPENING, MAX_CAST_SIZE

STATIC = Path(__file__).resolve().parent / "static"
MAX_TEXT = 20_000  # characters of a prompt or a text to read
MAX_NEW_TOKENS = 1_000  # tokens one generation may write
MAX_GENERATIONS = 2  # generations at once (each holds a CPU core busy)


# the sampling settings the page sets (GenerateRequest's fields of those names)
PAGE_SETTINGS = ("temperature", "top_k", "top_p", "min_p", "repetition_penalty", "no_repeat_ngram", "dry_multiplier",
                 "keep_cast", "cast_opening", "cast_size")


class Request_(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, description="A model name from /api/models (default: the first).")


class NextRequest(Request_):
    text: str = Field(..., max_length=MAX_TEXT, description="The story so far.")
    top: int = Field(10, ge=1, le=100, description="How many words to list.")
    cache: bool | None = Field(None, description="The neural cache (default: as `textgen next`, on where training chose it).")


class GenerateRequest(Request_):
    prompt: str = Field("", max_length=MAX_TEXT)
    max_tokens: int = Field(200, ge=1, le=MAX_NEW_TOKENS)
    # sampling settings: None takes the model's own default (its textgen.json "sampling"), else the library's
    temperature: float | None = Field(None, ge=0, le=100)
    top_k: int | None = Field(None, ge=0)
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
    text: str = Field(..., min_length=1, max_length=MAX_TEXT)


class GatesRequest(TextRequest):
    layer: int = Field(1, ge=1, le=64)
    units: int = Field(3, ge=1, le=100, description="Most-changed memory units listed per word.")
    heatmap_units: int = Field(48, ge=1, le=512, description="Units in the heatmaps (the most varied).")


@dataclass
class Slot:
    """One model the server offers: loaded once, used under its lock."""

    name: str
    loaded: object
    lock: threading.Lock = field(default_factory=threading.Lock)

    def describe(self) -> dict:
        config = self.loaded.model.config
        return {"name": self.name, "summary": config.summary(), "cell": config.cell, "layers": config.num_layers,
                "hidden_size": config.hidden_size, "tokenizer": self.loaded.tokenizer.kind,
                "cache": self.loaded.cache.to_dict() if self.loaded.cache else None,
                "sampling": self.sampling(), "own_sampling": self.loaded.sampling}

    def sampling(self) -> dict:
        """The page's sampling fields at this model's defaults (its own where it has them)."""
        from dataclasses import asdict

        from textgen.sampling.settings import SamplingSettings

        settings = asdict(SamplingSettings.for_model(self.loaded))
        return {name: settings[name] for name in PAGE_SETTINGS}


class Cancelled(Exception):
    """The client went away: the generation stops at its next token."""


class Generation:
    """One generation in a worker thread; `events()` yields its server-sent events as they come."""

    def __init__(self, slot: Slot, request: GenerateRequest, done: threading.Semaphore):
        self.slot, self.request, self.done = slot, request, done
        self.queue: queue.Queue = queue.Queue()
        self.cancelled = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Generation:
        self.thread.start()
        return self

    def _run(self) -> None:
        from textgen.cache import resolve_cache, with_cache
        from textgen.sampling.generate import generate
        from textgen.sampling.settings import SamplingSettings, build_processors

        request, loaded = self.request, self.slot.loaded
        try:
            settings = SamplingSettings.for_model(loaded, **{name: getattr(request, name) for name in PAGE_SETTINGS})
            with self.slot.lock:
                model = with_cache(loaded.model, resolve_cache(loaded.cache, request.cache, sampling=True))
                processors = build_processors(settings, loaded.tokenizer)

                def on_token(row: int, text: str) -> None:
                    if self.cancelled.is_set():
                        raise Cancelled
                    self.queue.put(("token", {"text": text}))

                [sample] = generate(model, loaded.tokenizer, request.prompt, n=1, max_tokens=request.max_tokens,
                                    processors=processors, greedy=settings.greedy, seed=request.seed, on_token=on_token)
            self.queue.put(("done", sample.to_dict()))
        except Cancelled:
            self.queue.put(("cancelled", {}))
        except TextgenError as error:
            self.queue.put(("error", {"detail": str(error)}))
        except Exception as error:  # noqa: BLE001 - the stream says what went wrong instead of hanging
            self.queue.put(("error", {"detail": f"generation failed: {error}"}))
        finally:
            self.done.release()

    async def events(self):
        """`event: token` for each new piece of text, then `event: done` with the whole story (or `error`)."""
        try:
            while True:
                try:
                    kind, data = self.queue.get_nowait()
                except queue.Empty:
                    await asyncio.sleep(0.01)
                    continue
                if kind == "cancelled":
                    return
                yield f"event: {kind}\ndata: {json.dumps(data)}\n\n"
                if kind in ("done", "error"):
                    return
        finally:  # the client went away (the response is closed) or the story is done
            self.cancelled.set()


def create_app(models: dict[str, object], max_generations: int = MAX_GENERATIONS) -> FastAPI:
    """The app over `models` ({name: loaded model}); the first is the default."""
    if not models:
        raise TextgenError("the explorer needs at least one model")
    slots = {name: Slot(name, loaded) for name, loaded in models.items()}
    default = next(iter(slots))
    generations = threading.Semaphore(max_generations)
    app = FastAPI(title="textgen explorer", version="1",
                  description="Write with a textgen model and watch its memory. The same numbers as the CLI's --json.")
    app.state.slots, app.state.generations = slots, generations

    def slot_of(name: str | None) -> Slot:
        slot = slots.get(name or default)
        if slot is None:
            raise HTTPException(404, f"no model named {name!r}: GET /api/models lists them ({', '.join(slots)})")
        return slot

    @app.exception_handler(TextgenError)
    async def textgen_error(request: Request, error: TextgenError):
        return JSONResponse({"detail": str(error)}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError):
        problems = []
        for item in error.errors():
            where = ".".join(str(part) for part in item.get("loc", ()) if part != "body") or "body"
            problems.append({"field": where, "message": item.get("msg", "invalid"), "type": item.get("type")})
        first = problems[0] if problems else {"field": "body", "message": "invalid"}
        return JSONResponse({"detail": f"{first['field']}: {first['message']}", "errors": problems}, status_code=422)

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/api/models")
    def list_models() -> dict:
        """The models this server offers (the page's picker); the first is the default."""
        return {"default": default, "models": [slot.describe() for slot in slots.values()]}

    @app.post("/api/next")
    def next_words_endpoint(request: NextRequest) -> dict:
        """The most likely next words after the text: `textgen next MODEL TEXT --top N --json`."""
        from textgen.cache import resolve_cache, with_cache
        from textgen.inspection import next_words
        from textgen.tokenizer.base import check_text

        slot = slot_of(request.model)
        check_text(request.text, "text")
        with slot.lock:
            loaded = slot.loaded
            model = with_cache(loaded.model, resolve_cache(loaded.cache, request.cache))
            return next_words(model, loaded.tokenizer, request.text.rstrip(" "), request.top).to_dict()

    @app.post("/api/generate")
    def generate_endpoint(request: GenerateRequest):
        """A continuation of the prompt as server-sent events: `token` events with each new piece of
        text, then `done` with what `textgen generate --json` prints for the story."""
        from textgen.sampling.generate import prompt_ids
        from textgen.tokenizer.base import check_text

        slot = slot_of(request.model)
        check_text(request.prompt, "prompt")
        prompt_ids(slot.loaded.tokenizer, request.prompt)  # unknown words are a 400 before the stream starts
        if not generations.acquire(blocking=False):
            raise HTTPException(429, f"{max_generations} generations are running, the most this server runs at once: "
                                     "try again when one has finished")
        job = Generation(slot, request, generations).start()
        return StreamingResponse(job.events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @app.post("/api/diagnose")
    def diagnose_endpoint(request: TextRequest) -> dict:
        """Repetition findings in the text, attributed by the model:
        `textgen diagnose MODEL --text FILE --no-baseline --json`."""
        from textgen.diagnosis import diagnose

        slot = slot_of(request.model)
        with slot.lock:
            return diagnose(slot.loaded, [request.text], model_name=slot.name).to_dict()

    @app.post("/api/gates")
    def gates_endpoint(request: GatesRequest) -> dict:
        """What each gate did, word by word: `textgen gates MODEL TEXT --layer L --units N --json`, plus
        `heatmaps` (words x the most varied units) of the memory and of each gate."""
        from textgen.gates import gate_report

        slot = slot_of(request.model)
        with slot.lock:
            report = gate_report(slot.loaded.model, slot.loaded.tokenizer, request.text, request.layer, request.units)
        return {"model": slot.name, **report.to_dict(), "heatmaps": report.heatmaps(request.heatmap_units)}

    return app
