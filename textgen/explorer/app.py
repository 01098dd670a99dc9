"""The explorer's web app: a JSON API over the library and one static page (no build step, no CDN).

Every endpoint is a thin map onto a library call and returns what the matching CLI command's
`--json` prints for the same input: `/api/next` is `textgen next --json`, `/api/diagnose` is
`textgen diagnose MODEL --text FILE --no-baseline --json` (plus `reference`, what one human story
measures), `/api/gates` is `textgen gates --json` (plus `heatmaps`, the matrices the memory view draws), and `/api/generate` streams what
`textgen generate --json` prints, word by word, as server-sent events.

Models are named, never given by path: the server is started with its model directories and
the page picks among their names. Requests on one model take turns (`budget.ModelTurns`).

Every request is bounded (the numbers are in textgen/explorer/budget.py and on /docs):
- a text or prompt has at most MAX_TEXT characters and MAX_TOKENS tokens (counted after encoding);
  more is a 422 naming the limit, before any model work;
- next words and gates read at most MAX_TOKENS tokens under the model's turn (about 1.5 s of the
  shipped model on a 2-core machine); a memory view sends at most MAX_HEATMAP_CELLS heatmap cells
  and MAX_LISTED_UNITS listed units;
- a generation writes at most MAX_NEW_TOKENS tokens, at most MAX_GENERATIONS at a time (the next
  one is told 429), and gives the model's turn to waiting requests every TURN_SLICE seconds;
- a diagnosis attributes at most MAX_FINDINGS findings in at most DIAGNOSE_SECONDS, giving way
  between findings;
- a request waits at most TURN_WAIT seconds for a model's turn, and at most MAX_WAITING wait at
  once; beyond either it is told 503 "busy, try again";
- /api/models never waits for a model;
- when the server stops, every request's model work ends at its next token or chunk of text
  (work.py), and the server waits for it before the process exits.
The front door (guard.py) answers only this server's Host names and its own page's Origin and
reads at most MAX_BODY_BYTES of body; the server (server.py) drops clients that send slowly.
"""

from __future__ import annotations

import asyncio
import json
import math
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles

from textgen.errors import TextgenError
from textgen.explorer.budget import (
    DIAGNOSE_SECONDS,
    MAX_BODY_BYTES,
    MAX_FINDINGS,
    MAX_GENERATIONS,
    MAX_HEATMAP_CELLS,
    MAX_LISTED_UNITS,
    MAX_NEW_TOKENS,
    MAX_TEXT,
    MAX_TOKENS,
    MAX_WAITING,
    SPARE_THREADS,
    TURN_SLICE,
    TURN_WAIT,
    Busy,
    Deadline,
    ModelTurns,
    OverBudget,
    Stopped,
    Turn,
    check_gates,
    check_tokens,
    count,
)
from textgen.explorer.guard import Guard, HostPolicy, shown
from textgen.explorer.requests import GatesRequest, GenerateRequest, NextRequest, TextRequest
from textgen.sampling.schema import PAGE_SETTINGS
from textgen.explorer.work import Work, watch

STATIC = Path(__file__).resolve().parent / "static"
MAX_DETAIL = 400  # characters of an error message: a message quoting the request never echoes much of it
MAX_ERRORS = 10  # validation problems listed in one answer
HEATMAP_DIGITS = 4  # decimals of a heatmap cell (the page shows 3)
LIMITS = [
    f"a text or prompt: at most {count(MAX_TEXT)} characters and {count(MAX_TOKENS)} tokens (counted after encoding)",
    f"a request body: at most {count(MAX_BODY_BYTES)} bytes",
    f"a generation: at most {count(MAX_NEW_TOKENS)} new tokens; {MAX_GENERATIONS} at once by default (more are told 429)",
    f"a diagnosis: at most {MAX_FINDINGS} findings and {DIAGNOSE_SECONDS:g} s",
    f"a memory view: at most {count(MAX_HEATMAP_CELLS)} heatmap cells (words x heatmap_units) and "
    f"{count(MAX_LISTED_UNITS)} listed units (words x units)",
    f"requests on one model take turns: a request holds a model for about 2 s at most (generations and diagnoses give "
    f"way every {TURN_SLICE:g} s), waits at most {TURN_WAIT:g} s for it, and at most {MAX_WAITING} wait at once "
    "(beyond either: 503, try again)",
    "the server answers only requests addressed to it (Host) from its own page (Origin)",
]

@dataclass
class Slot:
    """One model the server offers: loaded once, used in turns (`lock`)."""

    name: str
    loaded: object
    lock: ModelTurns = field(init=False)

    def __post_init__(self) -> None:
        self.lock = ModelTurns(self.name)

    def reference(self) -> dict | None:
        """What one human story measures (analysis.diagnosis.story_reference), found once per model."""
        if not hasattr(self, "_reference"):
            from textgen.analysis.diagnosis import story_reference

            self._reference = story_reference(self.loaded)
        return self._reference

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
    """The client went away: the generation stops at its next token (or chunk of its prompt)."""


STOPPING = "the server is stopping"


def brief(message: str, limit: int = MAX_DETAIL) -> str:
    """An error message on one line, cut to `limit` characters."""
    message = " ".join(message.split())
    return message if len(message) <= limit else message[: limit - 1] + "…"


def finite(value):
    """The value with NaN and infinities as None, as the CLI's --json prints them (JSON has no such numbers)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [finite(item) for item in value]
    return value


def answer(data: dict) -> JSONResponse:
    """A JSON answer rendered here, in the request's worker thread, not on the event loop."""
    return JSONResponse(finite(data))


@dataclass
class Generation:
    """One generation in a worker thread, which holds the model's turn `turn` and gives way while
    it writes; `events()` yields its server-sent events as they come."""

    slot: Slot
    request: GenerateRequest
    done: threading.Semaphore
    turn: Turn | None = None  # taken by the endpoint; None: the worker takes it
    stopping: threading.Event = field(default_factory=threading.Event)
    work: Work = field(default_factory=Work)

    def __post_init__(self) -> None:
        self.queue: queue.Queue = queue.Queue()
        self.cancelled = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Generation:
        self.thread.start()
        return self

    def _stop(self) -> bool:
        return self.cancelled.is_set() or self.stopping.is_set()

    def _check(self) -> None:
        """Between tokens and the prompt's chunks: end here when the server stops or the client went away."""
        if self.stopping.is_set():
            raise Stopped
        if self.cancelled.is_set():
            raise Cancelled

    def _run(self) -> None:
        from textgen.model.neural_cache import resolve_cache, with_cache
        from textgen.sampling.sampler import Sampler
        from textgen.sampling.settings import SamplingSettings

        request, loaded = self.request, self.slot.loaded
        try:
            with self.work.inside(self._check), self.turn or self.slot.lock.take() as turn:
                settings = SamplingSettings.for_model(loaded, **{name: getattr(request, name) for name in PAGE_SETTINGS})
                model = with_cache(loaded.model, resolve_cache(loaded.cache, request.cache, sampling=True))
                sampler = Sampler.for_model(loaded, settings, model=model)

                def on_token(row: int, text: str) -> None:
                    self._check()
                    self.queue.put(("token", {"text": text}))
                    turn.give_way(self._stop)

                [sample] = sampler.write(1, request.prompt, request.max_tokens, request.seed, on_token=on_token)
            self.queue.put(("done", finite(sample.to_dict())))
        except Stopped:
            self.queue.put(("error", {"detail": STOPPING}))
        except Cancelled:
            self.queue.put(("cancelled", {}))
        except (TextgenError, Busy) as error:
            self.queue.put(("error", {"detail": brief(str(error))}))
        except Exception as error:  # noqa: BLE001 - the stream says what went wrong instead of hanging
            self.queue.put(("error", {"detail": brief(f"generation failed: {error}")}))
        finally:
            self.done.release()

    async def events(self):
        """`event: token` for each new piece of text, then `event: done` with the whole story (or `error`,
        also when the server stops: the stream says so at once, whatever the worker is doing)."""
        try:
            while True:
                try:
                    kind, data = self.queue.get_nowait()
                except queue.Empty:
                    if self.stopping.is_set():
                        kind, data = "error", {"detail": STOPPING}
                    else:
                        await asyncio.sleep(0.01)
                        continue
                if kind == "cancelled":
                    return
                yield f"event: {kind}\ndata: {json.dumps(data)}\n\n"
                if kind in ("done", "error"):
                    return
        finally:  # the client went away (the response is closed) or the story is done
            self.cancelled.set()


def create_app(models: dict[str, object], max_generations: int = MAX_GENERATIONS, hosts: HostPolicy | None = None) -> FastAPI:
    """The app over `models` ({name: loaded model}); the first is the default. `hosts`: the Host
    names it answers (default: the loopback names, any port)."""
    if not models:
        raise TextgenError("the explorer needs at least one model")
    slots = {name: Slot(name, loaded) for name, loaded in models.items()}
    default = next(iter(slots))
    generations = threading.Semaphore(max_generations)
    stopping = threading.Event()  # set when the server stops: running work ends at its next check
    work = Work()  # the requests at work in threads: the server waits for none before it exits
    for slot in slots.values():
        slot.lock.stopping = stopping
        watch(slot.loaded.model)

    def check() -> None:
        if stopping.is_set():
            raise Stopped
    app = FastAPI(title="textgen explorer", version="1", docs_url=None, redoc_url=None,
                  description="Write with a textgen model and watch its memory. The same numbers as the CLI's --json.")
    app.state.slots, app.state.generations, app.state.stopping, app.state.work = slots, generations, stopping, work
    app.state.threads = SPARE_THREADS + len(slots) * (MAX_WAITING + 1)  # the worker threads the server allows
    app.add_middleware(Guard, policy=hosts or HostPolicy(), max_body=MAX_BODY_BYTES)
    listing = {"default": default, "models": [slot.describe() for slot in slots.values()],  # the models never change
               "limits": {"max_text": MAX_TEXT, "max_tokens": MAX_TOKENS, "max_new_tokens": MAX_NEW_TOKENS}}

    def slot_of(name: str | None) -> Slot:
        slot = slots.get(name or default)
        if slot is None:
            raise HTTPException(404, f"no model named {shown(name or '')}: GET /api/models lists them ({', '.join(slots)})")
        return slot

    @app.exception_handler(TextgenError)
    async def textgen_error(request: Request, error: TextgenError):
        return JSONResponse({"detail": brief(str(error))}, status_code=400)

    @app.exception_handler(OverBudget)
    async def over_budget(request: Request, error: OverBudget):
        return JSONResponse({"detail": brief(str(error))}, status_code=422)

    @app.exception_handler(Busy)
    async def busy(request: Request, error: Busy):
        return JSONResponse({"detail": brief(str(error))}, status_code=503, headers={"Retry-After": "2"})

    @app.exception_handler(Stopped)
    async def stopped(request: Request, error: Stopped):
        return JSONResponse({"detail": STOPPING}, status_code=503)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError):
        problems = [problem(item) for item in error.errors()]
        first = problems[0] if problems else {"field": "body", "message": "invalid"}
        return JSONResponse({"detail": brief(f"{first['field']}: {first['message']}" if first["field"] else first["message"]),
                             "errors": problems[:MAX_ERRORS]}, status_code=422)

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC / "index.html")

    @app.get("/docs", include_in_schema=False)
    async def docs():
        from textgen.explorer.docs import api_page

        return HTMLResponse(api_page(app.openapi(), LIMITS))

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/api/models")
    async def list_models() -> dict:
        """The models this server offers (the page's picker), the first being the default, and the
        limits a request must keep (characters and tokens of a text, new tokens). Never waits for a model."""
        return listing

    @app.post("/api/next")
    def next_words_endpoint(request: NextRequest):
        """The most likely next words after the text: `textgen next MODEL TEXT --top N --json`."""
        from textgen.model.neural_cache import resolve_cache, with_cache
        from textgen.analysis.next_words import next_words
        from textgen.sampling.generate import prompt_ids
        from textgen.tokenizer.base import check_text

        with work.inside(check):  # counted: a stopping server waits for it to leave the model
            slot = slot_of(request.model)
            context = check_text(request.text, "text").rstrip(" ")
            ids = prompt_ids(slot.loaded.tokenizer, context, "the text")
            check_tokens(len(ids) - 1, "text")
            with slot.lock.take():
                loaded = slot.loaded
                model = with_cache(loaded.model, resolve_cache(loaded.cache, request.cache))
                result = next_words(model, loaded.tokenizer, context, request.top, context_ids=ids).to_dict()
            return answer(result)

    @app.post("/api/generate")
    def generate_endpoint(request: GenerateRequest):
        """A continuation of the prompt as server-sent events: `token` events with each new piece of
        text, then `done` with what `textgen generate --json` prints for the story. The concatenated
        `token` texts are the story's text: a character whose bytes are split over tokens is sent
        when it is whole."""
        from textgen.sampling.generate import prompt_ids
        from textgen.tokenizer.base import check_text

        with work.inside(check):  # counted: a stopping server waits for it to leave the model
            slot = slot_of(request.model)
            check_text(request.prompt, "prompt")
            # unknown words are a 400 before the stream starts
            ids = prompt_ids(slot.loaded.tokenizer, request.prompt.rstrip(" "))
            check_tokens(len(ids) - 1, "prompt")
            if not generations.acquire(blocking=False):
                running = "generations are running or waiting for their" if max_generations > 1 else \
                    "generation is running or waiting for its"
                raise HTTPException(429, f"{max_generations} {running} model, the most this server runs at once: "
                                         "try again when one has finished")
            try:
                turn = slot.lock.take()
            except (Busy, Stopped):
                generations.release()
                raise
            job = Generation(slot, request, generations, turn, stopping, work).start()
            return StreamingResponse(job.events(), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @app.post("/api/diagnose")
    def diagnose_endpoint(request: TextRequest):
        """Repetition findings in the text, attributed by the model:
        `textgen diagnose MODEL --text FILE --no-baseline --json`, plus `reference`: what one human
        story measures on the same metrics (analysis.diagnosis.story_reference; null where the model
        has no tune record and its training corpus is not at hand)."""
        from textgen.analysis.diagnosis import diagnose
        from textgen.analysis.detectors import diagnose_story
        from textgen.tokenizer.base import check_text

        with work.inside(check):  # counted: a stopping server waits for it to leave the model
            slot = slot_of(request.model)
            check_text(request.text, "text")
            check_tokens(len(slot.loaded.tokenizer.encode(request.text)), "text")
            findings = len(diagnose_story(request.text))  # text work only (a few ms): the model's work is per finding
            if findings > MAX_FINDINGS:
                raise OverBudget(f"the text has {count(findings)} findings; this server attributes at most {MAX_FINDINGS} "
                                 "per request: diagnose a shorter text, or run `textgen diagnose` on it")
            deadline = Deadline(DIAGNOSE_SECONDS, "the diagnosis", stopping.is_set)
            with slot.lock.take() as turn:
                def progress(_: int) -> None:
                    deadline.check()
                    turn.give_way(stopping.is_set)

                report = diagnose(slot.loaded, [request.text], model_name=slot.name, on_story=progress, on_finding=progress)
            # the one thing the CLI's --json lacks: what one human story measures, beside the text's metrics
            return answer({**report.to_dict(), "reference": slot.reference()})

    @app.post("/api/gates")
    def gates_endpoint(request: GatesRequest):
        """What each gate did, word by word: `textgen gates MODEL TEXT --layer L --units N --json`, plus
        `heatmaps` (words x the most varied units) of the memory and of each gate."""
        from textgen.analysis.gates import gate_report, group_words
        from textgen.sampling.generate import prompt_ids
        from textgen.tokenizer.base import check_text

        with work.inside(check):  # counted: a stopping server waits for it to leave the model
            slot = slot_of(request.model)
            tokenizer = slot.loaded.tokenizer
            ids = prompt_ids(tokenizer, check_text(request.text, "text"), "the text")  # the page's words, as /api/next says it
            check_tokens(len(ids) - 1, "text")
            units = slot.loaded.model.config.hidden_size  # a layer's units: no more can be shown or listed
            check_gates(len(group_words(tokenizer, ids[1:])), min(request.heatmap_units, units), min(request.units, units))
            with slot.lock.take():
                report = gate_report(slot.loaded.model, tokenizer, request.text, request.layer, request.units)
            heatmaps = report.heatmaps(request.heatmap_units, max_words=None)  # every word: the request limits bound the cells
            # the cells are colours on the page: 4 decimals send a third of the bytes of full floats
            heatmaps["memory"] = rounded(heatmaps["memory"])
            heatmaps["gates"] = {name: rounded(rows) for name, rows in heatmaps["gates"].items()}
            return answer({"model": slot.name, **report.to_dict(), "heatmaps": heatmaps})

    return app


def rounded(rows: list[list[float]], digits: int = HEATMAP_DIGITS) -> list[list[float]]:
    return [[round(value, digits) for value in row] for row in rows]


def problem(item: dict) -> dict:
    """One validation problem as the API reports it: the field (cut short), a message, its type."""
    location = [part for part in item.get("loc", ()) if part != "body"]
    kind = item.get("type", "invalid")
    if kind == "json_invalid":  # pydantic puts the character position where a field name would be
        position = location[0] if location else 0
        reason = (item.get("ctx") or {}).get("error", "")
        return {"field": "", "message": f"the body is not valid JSON (at character {position}{': ' + reason if reason else ''})",
                "type": kind}
    if not location and kind in ("model_attributes_type", "dict_type"):
        return {"field": "", "message": "the body must be a JSON object (Content-Type: application/json)", "type": kind}
    if not location and kind == "missing":
        return {"field": "", "message": "the body is empty: send a JSON object (Content-Type: application/json)",
                "type": kind}
    where = ".".join(str(part) for part in location) or "body"
    return {"field": where if len(where) <= 60 else where[:59] + "…", "message": item.get("msg", "invalid"), "type": kind}
