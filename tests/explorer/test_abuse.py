"""Issue 32's probes of the explorer, against a real server on a loopback port (uvicorn in a thread,
raw sockets and http.client; Ctrl-C in a real `textgen serve` process): a rebinding Host, a
cross-site Origin, a huge body, slow headers, a body never sent, 1,500 partial connections,
over-budget next/diagnose/gates/generate, a model's turn held by a generation, the UTF-8 stream
and Ctrl-C. Each is refused in one line (or completes within its bound) and another client still
gets /api/models within 2 s."""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import pytest
import torch

from tests.conftest import ONE_THREAD, REPO
from textgen.modeldir.store import LoadedModel, save_model_dir
from textgen.model.config import ModelConfig
from textgen.explorer import budget
from textgen.explorer.app import create_app
from textgen.explorer.budget import MAX_BODY_BYTES, MAX_TOKENS
from textgen.explorer.guard import HostPolicy
from textgen.explorer.server import ServerLimits, build_server
from textgen.model import LanguageModel
from textgen.tokenizer import EOS_ID

QUICK = 2.0  # seconds within which another client must get /api/models, whatever else runs
LIMITS = dict(header_seconds=1.0, body_seconds=1.0, write_seconds=2.0, keep_alive_seconds=1, max_connections=40)


@pytest.fixture(scope="module")
def babbler(sentencepiece_tokenizer) -> LoadedModel:
    """An untrained model over a byte-fallback sentencepiece tokenizer that never ends a story: it
    writes byte pieces often, so characters split over tokens, and a generation runs to max_tokens."""
    torch.manual_seed(0)
    model = LanguageModel(ModelConfig(vocab_size=sentencepiece_tokenizer.vocab_size, embed_dim=8, hidden_size=128)).eval()
    with torch.no_grad():
        model.decoder.bias[EOS_ID] = -1e4
    return LoadedModel(model, sentencepiece_tokenizer)


@dataclass
class Served:
    port: int
    app: object
    limits: ServerLimits

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"


@contextlib.contextmanager
def running(models: dict, **limits):
    """The explorer over `models` served on a free loopback port by the real server, in a thread."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(256)
    port = sock.getsockname()[1]
    app = create_app(models, hosts=HostPolicy(port, "127.0.0.1"))
    server_limits = ServerLimits(**{**LIMITS, **limits})
    server = build_server(app, server_limits, on_stop=app.state.stopping.set, threads=app.state.threads)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    end = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < end and thread.is_alive(), "the server did not start"
        time.sleep(0.01)
    try:
        yield Served(port, app, server_limits)
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def served(babbler):
    with running({"babbler": babbler}) as served:
        yield served


def call(served: Served, method: str, path: str, body=None, headers: dict | None = None, timeout: float = 30):
    """(status, headers, body bytes) of one request, Host this server unless `headers` says otherwise."""
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=timeout)
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    sent = {"Host": served.host, **({"Content-Type": "application/json"} if data is not None else {}), **(headers or {})}
    try:
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def detail(raw: bytes) -> str:
    """The one-line message of an error answer."""
    message = json.loads(raw)["detail"]
    assert isinstance(message, str) and "\n" not in message and len(message) < 500
    return message


def models_answer_quickly(served: Served) -> None:
    """Another client gets /api/models within QUICK seconds."""
    start = time.monotonic()
    status, _, body = call(served, "GET", "/api/models", timeout=QUICK + 1)
    took = time.monotonic() - start
    assert status == 200 and json.loads(body)["default"] == "babbler"
    assert took < QUICK, f"/api/models took {took:.2f} s"


def raw(served: Served, data: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", served.port), timeout=10)
    sock.sendall(data)
    return sock


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    sock.close()
    return b"".join(chunks)


def events(raw_body: bytes) -> list[tuple[str, dict]]:
    found = []
    for block in raw_body.decode().split("\n\n"):
        if block.strip():
            kind = re.search(r"^event: (.*)$", block, re.M).group(1)
            found.append((kind, json.loads(re.search(r"^data: (.*)$", block, re.M).group(1))))
    return found


# --- S1: DNS rebinding and other sites' pages -------------------------------------------------

@pytest.mark.parametrize("path", ["/", "/static/app.js", "/docs", "/openapi.json", "/api/models"])
def test_a_rebinding_host_is_refused_on_every_path(served, path):
    status, headers, body = call(served, "GET", path, headers={"Host": f"rebind.attacker.example:{served.port}"})
    assert status == 421 and headers["connection"] == "close"
    assert "--allow-host rebind.attacker.example" in detail(body) and "not this server's address" in detail(body)
    models_answer_quickly(served)


def test_the_issue_rebinding_generate_is_refused_and_starts_nothing(served):
    before = served.app.state.generations._value
    status, _, body = call(served, "POST", "/api/generate", {"prompt": "Once", "max_tokens": 3},
                           headers={"Host": f"rebind.attacker.example:{served.port}",
                                    "Origin": f"http://rebind.attacker.example:{served.port}"})
    assert status == 421 and "--allow-host" in detail(body)
    assert served.app.state.generations._value == before  # no generation slot was taken
    models_answer_quickly(served)


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "[::1]:{port}", "LOCALHOST:{port}"])
def test_loopback_names_with_the_port_are_answered(served, host):
    status, _, _ = call(served, "GET", "/api/models", headers={"Host": host.format(port=served.port)})
    assert status == 200


@pytest.mark.parametrize("host", ["127.0.0.1:1", "127.0.0.1", "localhost.attacker.example:{port}", "127.0.0.1.nip.io:{port}",
                                  "0.0.0.0:{port}"])
def test_other_hosts_and_ports_are_refused(served, host):
    status, _, body = call(served, "GET", "/api/models", headers={"Host": host.format(port=served.port)})
    assert status == 421 and "--allow-host" in detail(body)


def test_a_request_without_host_is_refused(served):
    answer = read_all(raw(served, b"GET /api/models HTTP/1.0\r\n\r\n"))
    assert answer.startswith(b"HTTP/1.1 421") and b"has no Host header" in answer
    models_answer_quickly(served)


@pytest.mark.parametrize("origin", ["http://rebind.attacker.example:{port}", "null", "http://127.0.0.1:1",
                                    "https://127.0.0.1:{port}", "http://localhost:{port}"])
def test_a_request_from_another_sites_page_is_refused(served, origin):
    status, _, body = call(served, "POST", "/api/next", {"text": "Once"}, headers={"Origin": origin.format(port=served.port)})
    assert status == 403 and "answers only its own page" in detail(body)
    models_answer_quickly(served)


def test_the_page_itself_is_answered_and_marked_as_this_origins_own(served):
    status, headers, _ = call(served, "POST", "/api/next", {"text": "Once"}, headers={"Origin": f"http://{served.host}"})
    assert status == 200
    assert "frame-ancestors 'none'" in headers["content-security-policy"] and headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff" and "access-control-allow-origin" not in headers


def test_allow_host_admits_a_name_on_purpose(babbler):
    policy = HostPolicy(8000, "0.0.0.0", ["mybox.local", "proxy.example:443"])
    assert policy.permits("mybox.local:8000") and policy.permits("mybox.local") and policy.permits("MYBOX.LOCAL.:9")
    assert policy.permits("proxy.example:443") and not policy.permits("proxy.example:8000")
    assert policy.permits("192.168.1.20:8000", local_address="192.168.1.20")  # the address a request came in on
    assert not policy.permits("192.168.1.20:8000", local_address="127.0.0.1")
    assert not policy.permits("rebind.attacker.example:8000") and not policy.permits(None)


# --- H5, H6: bodies, headers and connections --------------------------------------------------

def test_a_huge_content_length_is_refused_at_once(served):
    start = time.monotonic()
    sock = raw(served, f"POST /api/next HTTP/1.1\r\nHost: {served.host}\r\nContent-Type: application/json\r\n"
                       "Content-Length: 1000000000\r\n\r\n".encode())
    answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 413") and time.monotonic() - start < 1
    assert f"{MAX_BODY_BYTES:,} bytes".encode() in answer
    models_answer_quickly(served)


def test_a_chunked_body_is_counted_as_it_arrives(served):
    sock = raw(served, f"POST /api/next HTTP/1.1\r\nHost: {served.host}\r\nContent-Type: application/json\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n".encode())
    chunk = b"x" * 65536
    with contextlib.suppress(ConnectionResetError, BrokenPipeError):
        for _ in range(MAX_BODY_BYTES // len(chunk) + 2):  # just over the limit, then the server answers
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 413") and b"the most this server reads" in answer
    models_answer_quickly(served)


def test_the_largest_legitimate_body_fits(served):
    """MAX_TEXT characters that JSON writes at 12 bytes each (astral characters, escaped) are under the limit."""
    text = "\U0001F600" * budget.MAX_TEXT
    body = json.dumps({"text": text}).encode()  # ensure_ascii: each character is "\ud83d\ude00"
    assert len(body) <= MAX_BODY_BYTES
    status, _, answer = call(served, "POST", "/api/next", body)
    assert status == 422 and "tokens" in detail(answer)  # read, then refused for its tokens, not its size


def test_slow_headers_are_dropped_and_others_answered(served):
    sock = raw(served, f"GET /api/models HTTP/1.1\r\nHost: {served.host}\r\n".encode())  # the blank line never comes
    models_answer_quickly(served)
    start = time.monotonic()
    answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408") and b"request headers did not arrive within 1 s" in answer
    assert time.monotonic() - start < served.limits.header_seconds + 1.5


def test_a_body_never_sent_is_dropped_and_others_answered(served):
    sock = raw(served, f"POST /api/next HTTP/1.1\r\nHost: {served.host}\r\nContent-Type: application/json\r\n"
                       "Content-Length: 100\r\n\r\n{".encode())
    models_answer_quickly(served)
    start = time.monotonic()
    answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408") and b"request body did not arrive within 1 s" in answer
    assert time.monotonic() - start < served.limits.body_seconds + 1.5


def test_1500_partial_connections_do_not_shut_others_out(served):
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096:  # the flood's 1,500 sockets and the server's own share this process's file limit
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    flood = []
    try:
        for _ in range(1500):
            sock = socket.create_connection(("127.0.0.1", served.port), timeout=10)
            sock.sendall(b"GET /api/models HTTP/1.1\r\n")  # and never more
            flood.append(sock)
        models_answer_quickly(served)
        assert len(served.limits.open) <= served.limits.max_connections
    finally:
        for sock in flood:
            sock.close()


def test_a_reader_that_stops_reading_is_dropped(served):
    """A client that asks for a large answer (a memory view of a few MB) and never reads it is
    dropped after write_seconds, and its answer's memory with it."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: the answer waits in the server
    sock.settimeout(10)
    sock.connect(("127.0.0.1", served.port))
    body = json.dumps({"text": "a. " * 500, "heatmap_units": 96, "units": 20}).encode()  # 1,000 words
    sock.sendall(f"POST /api/gates HTTP/1.1\r\nHost: {served.host}\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    head = sock.recv(1024)
    length = int(re.search(rb"content-length: (\d+)", head).group(1))
    assert head.startswith(b"HTTP/1.1 200") and length > 2_000_000
    models_answer_quickly(served)
    time.sleep(served.limits.write_seconds + 1)
    assert len(head) + len(read_all(sock)) < length  # the connection was closed before the answer was taken
    models_answer_quickly(served)


# --- H1-H3: every endpoint's work is bounded in tokens -----------------------------------------

@pytest.mark.parametrize(("path", "body", "message"), [
    ("/api/next", {"text": "a" + "\u0301" * 19_999}, "text has 39,999 tokens"),  # 40 KB of JSON, 20k characters
    ("/api/generate", {"prompt": "\u00e9" * 4_500, "cache": True, "max_tokens": 5}, "prompt has 9,001 tokens"),
    ("/api/diagnose", {"text": "a." * 10_000}, "tokens; this server reads at most"),
    ("/api/diagnose", {"text": "a." * 900}, "the text has 898 findings; this server attributes at most 64"),
    ("/api/gates", {"text": "a." * 10_000, "heatmap_units": 512}, "tokens; this server reads at most"),
    ("/api/gates", {"text": "a. " * 1_000, "heatmap_units": 512}, "this server sends at most 100,000"),  # 2,000 words
    ("/api/gates", {"text": "a. " * 1_000, "units": 100}, "this server lists at most 20,000"),
])
def test_over_budget_requests_are_refused_naming_the_limit(served, path, body, message):
    start = time.monotonic()
    status, _, answer = call(served, "POST", path, body)
    assert status == 422 and message in detail(answer), answer[:300]
    if "tokens" in message:
        assert f"{MAX_TOKENS:,}" in detail(answer)
    assert time.monotonic() - start < QUICK  # refused before any model work
    models_answer_quickly(served)


def test_a_diagnosis_over_its_time_is_stopped_naming_the_limit(served, monkeypatch):
    import textgen.explorer.app as app_module

    monkeypatch.setattr(app_module, "DIAGNOSE_SECONDS", 0.0)
    status, _, answer = call(served, "POST", "/api/diagnose", {"text": "the cat saw the cat. the dog saw the dog."})
    assert status == 422 and "took longer than 0 s" in detail(answer)
    assert served.app.state.slots["babbler"].lock.acquire(timeout=1)  # the turn was given back
    served.app.state.slots["babbler"].lock.release()
    models_answer_quickly(served)


def test_a_request_that_cannot_get_the_model_is_told_503_not_queued_forever(served, monkeypatch):
    monkeypatch.setattr(budget, "TURN_WAIT", 0.3)
    lock = served.app.state.slots["babbler"].lock
    assert lock.acquire(timeout=5)  # another request holds the model
    try:
        start = time.monotonic()
        status, headers, answer = call(served, "POST", "/api/next", {"text": "Once"})
        assert status == 503 and "busy" in detail(answer) and headers["retry-after"]
        assert time.monotonic() - start < QUICK
        models_answer_quickly(served)
    finally:
        lock.release()


def test_requests_beyond_those_waiting_for_a_model_are_told_503_at_once(served, monkeypatch):
    """While a model is held, at most max_waiting requests wait for it (each a worker thread); the
    rest are told 503 at once, and the page and its files are still served."""
    lock = served.app.state.slots["babbler"].lock
    monkeypatch.setattr(lock, "max_waiting", 6)
    answers: list[int] = []
    assert lock.acquire(timeout=5)
    try:
        clients = [threading.Thread(target=lambda: answers.append(call(served, "POST", "/api/next", {"text": "Once"})[0]))
                   for _ in range(10)]
        for client in clients:
            client.start()
        end = time.monotonic() + 10
        while lock.waiting < 6 or len(answers) < 4:
            assert time.monotonic() < end, (lock.waiting, answers)
            time.sleep(0.01)
        assert answers == [503] * 4  # told at once, while six wait
        start = time.monotonic()
        for path in ("/", "/static/app.js", "/docs"):
            assert call(served, "GET", path, timeout=QUICK)[0] == 200
        assert time.monotonic() - start < QUICK
        models_answer_quickly(served)
    finally:
        lock.release()
    for client in clients:
        client.join(30)
    assert sorted(answers) == [200] * 6 + [503] * 4


def test_a_generation_gives_the_model_to_waiting_requests(served, monkeypatch):
    """A next-words request made while a 1,000-token generation streams is answered before the
    generation ends: the generation holds the model's turn only TURN_SLICE at a time."""
    monkeypatch.setattr(budget, "TURN_SLICE", 0.02)
    finished = {}

    def generate():
        finished["stream"] = call(served, "POST", "/api/generate", {"prompt": "Once", "max_tokens": 1000, "seed": 3})
        finished["generation"] = time.monotonic()

    thread = threading.Thread(target=generate)
    thread.start()
    end = time.monotonic() + 10
    while not served.app.state.slots["babbler"].lock._held:  # the generation has the model
        assert time.monotonic() < end
        time.sleep(0.001)
    status, _, _ = call(served, "POST", "/api/next", {"text": "Once upon"})
    answered = time.monotonic()
    models_answer_quickly(served)
    thread.join(60)
    assert status == 200 and events(finished["stream"][2])[-1][0] == "done"
    assert answered < finished["generation"]


# --- U2: the stream is whole characters ----------------------------------------------------------

def test_the_stream_sends_whole_characters_and_adds_up_to_the_story(served):
    """Over 30 seeds of a model that writes byte pieces, the token events concatenated are the
    final text: a character split over tokens is sent once it is whole, never as U+FFFD first."""
    split = 0
    for seed in range(30):
        status, _, body = call(served, "POST", "/api/generate", {"prompt": "Once", "max_tokens": 150, "seed": seed})
        found = events(body)
        assert status == 200 and found[-1][0] == "done"
        streamed = "".join(data["text"] for kind, data in found if kind == "token")
        assert streamed == found[-1][1]["text"], f"seed {seed}"
        split += sum(1 for character in streamed if ord(character) > 127 and character != "\ufffd")
    assert split > 10  # the seeds did split characters over tokens (each such character is 2-4 byte pieces)
    models_answer_quickly(served)


# --- T3: Ctrl-C ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("sent", "code", "said"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_the_first_ctrl_c_stops_the_server_while_requests_run(babbler, tmp_path, sent, code, said):
    """Ctrl-C (or SIGTERM) while a generation streams and a request waits for its body: the server
    stops at once with one line and its exit code (uvicorn waited for every connection to close,
    so the first Ctrl-C was ignored and the second printed CancelledError tracebacks)."""
    folder = save_model_dir(tmp_path / "babbler", babbler.model, babbler.tokenizer, {})
    process = subprocess.Popen([sys.executable, "-m", "textgen.cli", "serve", str(folder), "--port", "0"], cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ONE_THREAD)
    try:
        line = process.stderr.readline()
        port = int(re.search(r"http://127\.0\.0\.1:(\d+)", line).group(1))
        served = Served(port, None, ServerLimits())
        body = json.dumps({"prompt": "Once", "max_tokens": 1000}).encode()
        stream = raw(served, f"POST /api/generate HTTP/1.1\r\nHost: {served.host}\r\nContent-Type: application/json\r\n"
                             f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        received = b""
        while b"event: token" not in received:  # the generation streams
            received += stream.recv(4096)
        waiting = raw(served, f"POST /api/next HTTP/1.1\r\nHost: {served.host}\r\nContent-Length: 100\r\n\r\n".encode())
        time.sleep(0.2)  # the body that never comes is being waited for (the server gives it 10 s)
        start = time.monotonic()
        process.send_signal(sent)
        exit_code = process.wait(timeout=8)
        took = time.monotonic() - start
        errors = process.stderr.read()
        for sock in (stream, waiting):
            sock.settimeout(5)
            read_all(sock)  # both connections were closed
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert exit_code == code and took < 4, (exit_code, took, errors)
    assert errors == said + "\n"  # one line: no CancelledError, no traceback


# --- the second review: a stop inside the model, room for clients, Host details ----------------

@pytest.fixture(scope="module")
def patient(babbler):
    """A server whose deadlines (30 s) do not end a stalled client first: what the connection cap
    alone does about 100 bodies that never come, or about room while an answer is on its way."""
    with running({"babbler": babbler}, header_seconds=30.0, body_seconds=30.0, write_seconds=30.0,
                 keep_alive_seconds=30) as served:
        yield served


def read_answer(sock: socket.socket) -> tuple[bytes, bytes]:
    """(head, body) of one answer with a Content-Length, read off a connection that stays open."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        assert chunk, received[:200]
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    length = int(re.search(rb"content-length: (\d+)", head).group(1))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head, body


def test_connections_that_never_send_their_body_do_not_shut_others_out(patient):
    """100 connections that send a request's headers with Content-Length: 10 and never the body
    (the review's t_conn.py) took every place, and other clients got 503 for as long as they were
    held open. At the cap, the connection whose client has been quiet longest makes room."""
    head = (f"POST /api/next HTTP/1.1\r\nHost: {patient.host}\r\nContent-Type: application/json\r\n"
            "Content-Length: 10\r\n\r\n").encode()
    flood = []
    try:
        for _ in range(100):
            flood.append(raw(patient, head))
        time.sleep(0.3)  # every one is waiting for its body (30 s)
        for _ in range(3):
            models_answer_quickly(patient)
        assert len(patient.limits.open) <= patient.limits.max_connections
    finally:
        for sock in flood:
            sock.close()


def test_an_answer_on_its_way_is_not_pushed_out_to_make_room(patient):
    """A reader taking a large answer slowly, whose answer the app has finished (it waits in the
    server's buffer), is still taking it: connections that need room push out others, not it (the
    review's t_evict2.py cut a 5 MB answer at 2.8 MB)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: the answer waits in the server
    sock.settimeout(10)
    sock.connect(("127.0.0.1", patient.port))
    body = json.dumps({"text": "a. " * 500, "heatmap_units": 96, "units": 20}).encode()
    sock.sendall(f"POST /api/gates HTTP/1.1\r\nHost: {patient.host}\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    first = sock.recv(4096)
    assert first.startswith(b"HTTP/1.1 200")
    time.sleep(0.5)  # the app has written all of it: the rest waits in the server's buffer
    flood = [socket.create_connection(("127.0.0.1", patient.port)) for _ in range(patient.limits.max_connections + 1)]
    try:
        time.sleep(0.3)
        head, answer = read_answer(_Prefixed(sock, first))
        length = int(re.search(rb"content-length: (\d+)", head).group(1))
        assert length > 2_000_000 and len(answer) == length
        assert json.loads(answer)["model"] == "babbler"
        models_answer_quickly(patient)
    finally:
        sock.close()
        for other in flood:
            other.close()


def dechunked(body: bytes) -> bytes:
    """A chunked HTTP body's data."""
    data = b""
    while body:
        size, _, rest = body.partition(b"\r\n")
        if int(size, 16) == 0:
            break
        data, body = data + rest[: int(size, 16)], rest[int(size, 16) + 2:]
    return data


class _Prefixed:
    """A socket whose first bytes were already received."""

    def __init__(self, sock: socket.socket, first: bytes):
        self.sock, self.first = sock, first

    def recv(self, size: int) -> bytes:
        if self.first:
            data, self.first = self.first, b""
            return data
        return self.sock.recv(size)


@pytest.mark.parametrize("host", ["localhost:\u00b2", "[::1]:\u00b3", "127.0.0.1:8\u00b9"])
def test_a_host_port_of_other_digits_is_refused_not_a_500(served, host):
    """"²".isdigit() is true and int("²") fails: the review's superscript port gave 500 and a traceback."""
    status, _, body = call(served, "GET", "/api/models", headers={"Host": host})
    assert status == 421 and "is not a host name" in detail(body) and "--allow-host" not in detail(body)
    models_answer_quickly(served)


def test_a_content_length_of_other_digits_is_refused_not_a_500():
    import asyncio

    from textgen.explorer.guard import Guard

    sent: list[dict] = []

    async def app(scope, receive, send):
        raise AssertionError("the app is never reached")

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "scheme": "http", "server": ("127.0.0.1", 8000), "method": "POST", "path": "/api/next",
             "headers": [(b"host", b"127.0.0.1:8000"), (b"content-length", "\u00b2".encode("latin-1"))]}
    asyncio.run(Guard(app, HostPolicy(8000), MAX_BODY_BYTES)(scope, receive, send))
    assert sent[0]["status"] == 413


def test_a_421_quotes_little_of_a_long_host_and_suggests_only_what_allow_host_takes(served):
    """A 10,000-character Host gave a 10 KB 421 (the --allow-host suggestion repeated it whole); a
    Host --allow-host refuses was suggested to it; a loopback name on another port was told to
    allow the bare name, which would admit every port."""
    status, _, body = call(served, "GET", "/api/models", headers={"Host": "a" * 10_000})
    assert status == 421 and len(body) < 500
    status, _, body = call(served, "GET", "/api/models", headers={"Host": "b" * 200 + ".example"})  # a name, too long to repeat
    assert status == 421 and len(body) < 500 and "--allow-host" in detail(body)
    status, _, body = call(served, "GET", "/api/models", headers={"Host": "evil.example:abc"})
    assert status == 421 and "--allow-host" not in detail(body) and "is not a host name" in detail(body)
    for host, exact in (("localhost:80", "localhost:80"), ("localhost", "localhost:80"), ("[::1]:81", "[::1]:81")):
        status, _, body = call(served, "GET", "/api/models", headers={"Host": host})
        message = detail(body)
        assert status == 421 and f"listens on port {served.port}" in message
        assert message.count("--allow-host") == 1 and message.endswith(f"--allow-host {exact}")


def test_the_wildcard_addresses_are_this_machines_names_when_bound_to_them():
    """Bound to 0.0.0.0 (or ::), the printed address is one a browser here can open, and a Host of
    the wildcard itself is answered (a DNS name pointed at 0.0.0.0 still sends that name)."""
    for bound, address in (("0.0.0.0", "http://127.0.0.1:8000"), ("::", "http://[::1]:8000"), ("[::]", "http://[::1]:8000")):
        policy = HostPolicy(8000, bound)
        assert policy.address() == address
        assert policy.permits("0.0.0.0:8000") and policy.permits("[::]:8000") and policy.permits("localhost:8000")
        assert not policy.permits("0.0.0.0:8001") and not policy.permits("rebind.attacker.example:8000")
    loopback = HostPolicy(8000, "127.0.0.1")
    assert not loopback.permits("0.0.0.0:8000") and loopback.address() == "http://127.0.0.1:8000"
    assert HostPolicy(8000, "::1").address() == "http://[::1]:8000"


def test_allow_host_with_a_default_port_matches_a_browser_that_leaves_it_out():
    policy = HostPolicy(8000, "0.0.0.0", ["mybox.local:80", "proxy.example:443", "[fe80::1]:8000"])
    assert policy.permits("mybox.local") and policy.permits("mybox.local:80") and not policy.permits("mybox.local:8000")
    assert policy.permits("proxy.example") and policy.permits("proxy.example:443") and not policy.permits("proxy.example:80")
    assert policy.permits("[fe80::1]:8000") and not policy.permits("[fe80::1]")


def test_a_stream_stopped_by_the_server_says_so(babbler, monkeypatch):
    """A generation streaming when the server stops ends with an `error` event ("the server is
    stopping"), not a stream cut without a word."""
    monkeypatch.setattr(budget, "TURN_SLICE", 0.0)
    got: dict = {}
    with running({"babbler": babbler}) as served:
        lock = served.app.state.slots["babbler"].lock
        body = json.dumps({"prompt": "Once", "max_tokens": 1000}).encode()
        stream = raw(served, f"POST /api/generate HTTP/1.1\r\nHost: {served.host}\r\nContent-Type: application/json\r\n"
                             f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        received = b""
        while b"event: token" not in received:
            received += stream.recv(4096)
        assert lock.acquire(timeout=10)  # the generation gives way and waits for the model: the stream is mid-story
        reader = threading.Thread(target=lambda: got.setdefault("rest", read_all(stream)))
        reader.start()
    lock.release()
    reader.join(10)
    answer = received + got["rest"]
    found = events(dechunked(answer.partition(b"\r\n\r\n")[2]))
    assert found[-1] == ("error", {"detail": "the server is stopping"}) and found[0][0] == "token"


def test_an_ordinary_client_sending_an_over_limit_body_reads_the_413(served):
    """A client that sends its whole body before it reads the answer (urllib, http.client) met a
    closed connection (BrokenPipeError) when the body was over the limit and took a moment to send:
    the server reads and drops an over-limit body of up to 1 MB, so the client gets the 413."""
    body = json.dumps({"text": "a" * 600_000}).encode()
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
    try:
        connection.putrequest("POST", "/api/next", skip_host=True)
        for name, value in (("Host", served.host), ("Content-Type", "application/json"), ("Content-Length", len(body))):
            connection.putheader(name, str(value))
        connection.endheaders()
        for start in range(0, len(body), 60_000):  # a link slower than loopback: ten pieces over 0.2 s
            connection.send(body[start: start + 60_000])
            time.sleep(0.02)
        response = connection.getresponse()
        assert response.status == 413 and "the most this server reads" in detail(response.read())
    finally:
        connection.close()
    models_answer_quickly(served)


@pytest.mark.slow
def test_a_signal_while_long_prompts_are_read_exits_cleanly_every_time(sentencepiece_tokenizer, tmp_path):
    """Ctrl-C or SIGTERM while generations read 2,000-token prompts with the neural cache: the
    threads were inside torch when the interpreter exited, and the process aborted ("terminate
    called without an active exception", exit 134) 2 or 3 times in 3. Now the reads stop at their
    next chunk and the server waits for them: five tries, each one line and its exit code."""
    torch.manual_seed(0)
    model = LanguageModel(ModelConfig(vocab_size=sentencepiece_tokenizer.vocab_size, embed_dim=8, hidden_size=768)).eval()
    folder = save_model_dir(tmp_path / "reader", model, sentencepiece_tokenizer, {})
    body = json.dumps({"prompt": "a. " * 1000, "max_tokens": 1000, "temperature": 1.5, "cache": True}).encode()
    outcomes = []
    for sent in (signal.SIGINT, signal.SIGTERM, signal.SIGINT, signal.SIGTERM, signal.SIGINT):
        process = subprocess.Popen([sys.executable, "-m", "textgen.cli", "serve", str(folder), "--port", "0"], cwd=REPO,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ONE_THREAD)
        try:
            port = int(re.search(r"http://127\.0\.0\.1:(\d+)", process.stderr.readline()).group(1))
            served = Served(port, None, ServerLimits())
            request = (f"POST /api/generate HTTP/1.1\r\nHost: {served.host}\r\nContent-Type: application/json\r\n"
                       f"Content-Length: {len(body)}\r\n\r\n").encode() + body
            streams = [raw(served, request) for _ in range(2)]
            received = b""
            while b"\r\n\r\n" not in received:  # the first generation has the model and reads its prompt
                received += streams[0].recv(4096)
            start = time.monotonic()
            process.send_signal(sent)
            code = process.wait(timeout=15)
            took = time.monotonic() - start
            streams[0].settimeout(5)
            said_stop = b"the server is stopping" in received + read_all(streams[0])
            streams[1].close()
            outcomes.append((code, process.stderr.read(), took < 4, said_stop))
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert outcomes == [(130, "interrupted\n", True, True), (143, "terminated\n", True, True)] * 2 + \
        [(130, "interrupted\n", True, True)], outcomes
