"""textgen/explorer/app.py through FastAPI's test client: every endpoint, the same numbers as the
CLI's --json, every refusal (4xx JSON naming the problem), the generation limit and a client
that goes away."""

from __future__ import annotations

import json
import re
import threading
import time

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

import textgen
from textgen.cli import cli
from textgen.explorer.app import MAX_TEXT, Generation, GenerateRequest, Slot, create_app

LOCAL = "http://127.0.0.1"  # the test client's address: the app answers only its own Host names

@pytest.fixture(scope="module")
def loaded(trained):
    return textgen.load(trained)


@pytest.fixture(scope="module")
def client(loaded):
    return TestClient(create_app({"tiny": loaded, "tiny-2": loaded}, max_generations=1), base_url=LOCAL)


def cli_json(*args) -> dict:
    result = CliRunner().invoke(cli, [*map(str, args), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def events(response) -> list[tuple[str, dict]]:
    found = []
    for block in response.text.split("\n\n"):
        if block.strip():
            kind = next(line[7:] for line in block.splitlines() if line.startswith("event: "))
            data = json.loads(next(line[6:] for line in block.splitlines() if line.startswith("data: ")))
            found.append((kind, data))
    return found


def test_the_page_and_its_files_are_served_and_load_nothing_from_elsewhere(client):
    page = client.get("/")
    assert page.status_code == 200 and "textgen explorer" in page.text
    for asset in ("/static/app.js", "/static/style.css", "/static/favicon.svg"):
        assert client.get(asset).status_code == 200
    assert client.get("/openapi.json").json()["paths"].keys() >= {"/api/next", "/api/generate", "/api/diagnose",
                                                                  "/api/gates", "/api/models"}


def test_no_served_page_loads_anything_from_elsewhere(client):
    """Every HTML page the server sends (the page, /docs) and the files they load name no address
    outside the server: it works offline (the usual /docs loads Swagger from a CDN)."""
    served = {path: client.get(path) for path in ("/", "/docs", "/static/app.js", "/static/style.css")}
    assert all(response.status_code == 200 for response in served.values())
    assert served["/docs"].headers["content-type"].startswith("text/html") and "/api/generate" in served["/docs"].text
    assert "2,048 tokens" in served["/docs"].text  # the limits are stated
    for path, response in served.items():
        urls = re.findall(r"https?://[^\s\"'<>)]+", response.text) + re.findall(r"[\"'(]//[^\s\"'<>)]+", response.text)
        outside = [url for url in urls if not re.match(r"https?://(127\.0\.0\.1|localhost)(:\d+)?(/|$)", url)]
        assert outside == [], path
    assert client.get("/redoc").status_code == 404


def test_malformed_json_is_a_422_that_names_the_position(client):
    response = client.post("/api/next", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("the body is not valid JSON (at character 1")  # not "1: JSON decode error"
    assert client.post("/api/next", content=b'{"text": "the"}', headers={"Content-Type": "text/plain"}).json()["detail"] == \
        "the body must be a JSON object (Content-Type: application/json)"


def test_error_answers_never_echo_much_of_the_request(client):
    """A refusal quotes at most a short piece of what it refuses: a 100,000-character field name,
    model name or unknown word gives an answer of a few hundred bytes, with at most 10 problems listed."""
    long = "x" * 100_000
    answers = [client.post("/api/next", json={"text": "the", long: 1}),
               client.post("/api/next", json={"text": "the", "model": long}),
               client.post("/api/next", json={"text": "the cat " + "Zorblax" * 2_000}),
               client.post("/api/next", json={"text": "the", **{f"field{n}": n for n in range(5_000)}})]
    assert [response.status_code for response in answers] == [422, 422, 400, 422]
    for response in answers:
        assert len(response.content) < 3_000 and len(response.json()["detail"]) <= 400
    assert len(answers[3].json()["errors"]) == 10


def test_models_lists_names_and_never_paths(client, trained):
    data = client.get("/api/models").json()
    assert data["default"] == "tiny" and [m["name"] for m in data["models"]] == ["tiny", "tiny-2"]
    assert str(trained) not in json.dumps(data)
    assert data["models"][0]["cell"] == "lstm" and data["models"][0]["layers"] == 1
    assert data["limits"] == {"max_text": 20_000, "max_tokens": 2_048, "max_new_tokens": 1_000}


def test_next_equals_the_cli(client, trained):
    got = client.post("/api/next", json={"text": "the cat saw", "top": 7}).json()
    _same(got, cli_json("next", trained, "the cat saw", "--top", "7"))
    assert len(got["words"]) == 7


def _same(a, b) -> None:
    """Equal JSON with floats to 1e-5 relative (assert-based, so a difference fails at its place)."""
    if isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-5, abs=1e-9)
    elif isinstance(a, dict):
        assert sorted(a) == sorted(b)
        for key in a:
            _same(a[key], b[key])
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    else:
        assert a == b


def test_gates_and_diagnose_equal_the_cli(client, trained, tmp_path):
    text = "the cat saw the cat. the dog saw the dog."
    gates = client.post("/api/gates", json={"text": text, "units": 2}).json()
    want = cli_json("gates", trained, text, "--units", "2")
    heatmaps = gates.pop("heatmaps")
    assert gates.pop("model") == "tiny" and want.pop("model") == str(trained)
    _same(gates, want)
    assert len(heatmaps["words"]) == len(want["words"]) and len(heatmaps["memory"]) == len(want["words"])
    assert set(heatmaps["gates"]) == set(want["gate_names"]) and len(heatmaps["units"]) == want["units"]
    story = tmp_path / "story.txt"
    story.write_text(text + "\n")
    diagnosed = client.post("/api/diagnose", json={"text": text}).json()
    want = cli_json("diagnose", trained, "--text", story, "--no-baseline")
    assert diagnosed.pop("model") == "tiny" and want.pop("model") == str(trained)
    reference = diagnosed.pop("reference")  # the page's human value, which the CLI's --json does not carry
    _same(diagnosed, want)
    assert {f["kind"] for f in diagnosed["findings"]} >= {"self-object"}  # "the cat saw the cat"
    # the tiny model's training corpus is at hand: one of its stories, on average, beside the text
    from textgen.analysis.diagnosis import STORY_METRICS, one_story_means
    from textgen.data.corpus import iter_stories

    assert reference["source"].endswith(f"training stories ({textgen.load(trained).metadata['corpus']['path']})")
    assert set(reference["metrics"]) == set(STORY_METRICS)
    from textgen.analysis.words import words_of

    long_enough = [story for story in iter_stories(textgen.load(trained).metadata["corpus"]["path"])
                   if len(words_of(story)) >= 20][:200]
    assert reference["stories"] == len(long_enough)
    assert reference["metrics"]["words"] == pytest.approx(one_story_means(long_enough)["words"])


def test_generate_streams_tokens_then_what_the_cli_prints(client, trained):
    body = {"prompt": "the cat", "max_tokens": 12, "seed": 5, "temperature": 0.9}
    response = client.post("/api/generate", json=body)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    found = events(response)
    kinds = [kind for kind, _ in found]
    assert kinds[-1] == "done" and set(kinds[:-1]) == {"token"} and len(kinds) > 2
    done = found[-1][1]
    assert "".join(data["text"] for kind, data in found[:-1]) == done["text"]
    line = CliRunner().invoke(cli, ["generate", str(trained), "--prompt", "the cat", "--max-tokens", "12", "--seed", "5",
                                    "--temperature", "0.9", "--quantize", "none", "--json"])
    assert line.exit_code == 0, line.output
    _same(done, json.loads(line.stdout))


@pytest.mark.parametrize(("path", "body", "status", "field"), [
    ("/api/next", {"text": "x" * (MAX_TEXT + 1)}, 422, "text"),
    ("/api/next", {"text": "the", "top": 0}, 422, "top"),
    ("/api/next", {"text": 5}, 422, "text"),
    ("/api/next", {"text": "the", "colour": "red"}, 422, "colour"),
    ("/api/next", {}, 422, "text"),
    ("/api/generate", {"max_tokens": 100_000}, 422, "max_tokens"),
    ("/api/generate", {"temperature": -1}, 422, "temperature"),
    ("/api/generate", {"top_p": "high"}, 422, "top_p"),
    ("/api/generate", {"prompt": "the Zorblax"}, 400, "Zorblax"),
    ("/api/gates", {"text": "the cat", "layer": 3}, 400, "--layer 3 does not exist"),
    ("/api/gates", {"text": ""}, 422, "text"),
    ("/api/diagnose", {"text": "the cat", "model": "nope"}, 404, "no model named 'nope'"),
    ("/api/next", {"text": "the cat", "model": "../../etc"}, 404, "no model named"),
])
def test_bad_requests_get_a_4xx_json_error_naming_the_problem(client, path, body, status, field):
    response = client.post(path, json=body)
    assert response.status_code == status, response.text
    assert field in response.json()["detail"]


def test_generations_beyond_the_limit_are_told_429(loaded):
    app = create_app({"tiny": loaded}, max_generations=1)
    client = TestClient(app, base_url=LOCAL)
    assert app.state.generations.acquire(blocking=False)  # as if one generation were running
    refused = client.post("/api/generate", json={"prompt": "the", "max_tokens": 5})
    assert refused.status_code == 429 and "try again" in refused.json()["detail"]
    assert "1 generation is running or waiting for its model" in refused.json()["detail"]  # a waiting one holds a place
    app.state.generations.release()
    allowed = client.post("/api/generate", json={"prompt": "the", "max_tokens": 5})
    assert allowed.status_code == 200 and events(allowed)[-1][0] == "done"
    assert app.state.generations.acquire(blocking=False)  # the finished generation gave its place back


def test_a_client_that_goes_away_stops_its_generation(loaded):
    """The stream's reader closing (what Starlette does when the client disconnects) cancels the
    worker at its next token: far fewer than the tokens asked for are written."""
    import asyncio

    done = threading.Semaphore(0)
    job = Generation(Slot("tiny", loaded), GenerateRequest(prompt="the", max_tokens=1000), done).start()

    async def read_one_then_leave():
        stream = job.events()
        first = await stream.__anext__()
        await stream.aclose()
        return first

    first = asyncio.run(read_one_then_leave())
    assert first.startswith("event: token")
    assert done.acquire(timeout=30)  # the worker ended and gave its place back
    job.thread.join(5)
    assert not job.thread.is_alive()
    written = 0
    while not job.queue.empty():
        kind, _ = job.queue.get()
        written += kind == "token"
    assert written < 900 and job.cancelled.is_set()


def test_requests_on_one_model_wait_for_its_lock(loaded):
    app = create_app({"tiny": loaded})
    client = TestClient(app, base_url=LOCAL)
    lock = app.state.slots["tiny"].lock
    results = {}
    lock.acquire()  # another request is using the model
    thread = threading.Thread(target=lambda: results.update(response=client.post("/api/next", json={"text": "the cat"})))
    thread.start()
    time.sleep(0.5)
    waiting = thread.is_alive() and "response" not in results
    lock.release()
    thread.join(60)
    assert waiting and results["response"].status_code == 200
