"""The explorer's HTTP server: uvicorn's h11 protocol with the deadlines it lacks, and a stop on the
first Ctrl-C.

uvicorn reads request headers and bodies for as long as a client takes, and keeps every
connection it accepts. Here each connection has a deadline for its request headers (from the
moment it opens or its client has taken its last answer) and one for the body (from the end of
the headers); a client that misses one is told 408 and dropped. A reader that stops taking an
answer is dropped after a while, and at most `max_connections` are open: a new one pushes out the one
whose client has been quiet longest among those still sending a request (headers or body; never
one being answered, nor one whose answer is on its way), or is told 503 when every one is being
answered.

A signal (Ctrl-C, SIGTERM) stops the server at once: it tells the running work to stop
(`on_stop`), lets a stream say so, closes every connection, gives the work STOP_SECONDS to end
(the threads inside the model included, `busy`) and returns the signal.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import threading
from dataclasses import dataclass, field

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

STOP_SECONDS = 2.0  # what running requests get to end when the server stops
ANSWER_GRACE = 0.5  # of those, what an answer under way (a stream) gets to end by itself, saying the server stops
SENDING_LOOK = 0.25  # seconds between looks at an answer still in the server's buffer
REASONS = {408: "Request Timeout", 503: "Service Unavailable"}


@dataclass
class ServerLimits:
    """How long a client may take and how many connections are open at once."""

    header_seconds: float = 10.0  # to send the request line and headers
    body_seconds: float = 10.0  # to send the body after the headers
    write_seconds: float = 30.0  # to take an answer it has stopped reading
    keep_alive_seconds: int = 5  # an idle connection between requests
    max_connections: int = 100
    open: dict = field(default_factory=dict, repr=False)  # the open connections, oldest first

    def describe(self) -> list[str]:
        return [f"a client has {self.header_seconds:g} s to send a request's headers and {self.body_seconds:g} s more for "
                f"its body, and at most {self.max_connections} connections are open at once"]


def raw_answer(status: int, detail: str) -> bytes:
    """A whole HTTP answer with a JSON detail that closes the connection, written without h11
    (whose state may be past answering, e.g. before a request line has arrived)."""
    body = json.dumps({"detail": detail}).encode()
    return (f"HTTP/1.1 {status} {REASONS[status]}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            "connection: close\r\n\r\n").encode() + body


class DeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol with deadlines for the headers, the body and a stalled answer, and a
    cap on open connections (`limits`, set on the class by `protocol_for`).

    A connection is in one phase at a time (`phase_now`): "headers" (waiting for a request, or idle
    between requests), "body" (waiting for the rest of a request's body), None (the app is working
    on the request or writing its answer), "sending" (the app is done, but the answer is still in the
    server's buffer, waiting for the client to take it) or "closed". Only a connection waiting for
    its client ("headers", "body", "closed") may be pushed out to make room for a new one, the one
    whose client has been quiet longest first: its request has not reached the app, so nothing
    is lost but a client's slowness. An answer on its way is never cut for room; a client that
    stops taking it is dropped after write_seconds."""

    limits: ServerLimits

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.phase: str | None = None
        self.deadline: asyncio.TimerHandle | None = None
        self.write_deadline: asyncio.TimerHandle | None = None
        self.sending: asyncio.TimerHandle | None = None  # the next look at an answer still in the buffer
        self.quiet_since = self.loop.time()  # when the client last sent something, or the phase last changed
        self.buffered, self.progress = 0, self.quiet_since  # the answer's bytes in the buffer, and when they last went down
        open_ = self.limits.open
        if len(open_) >= self.limits.max_connections:
            waiting = [connection for connection in open_ if connection.phase_now() in ("headers", "body", "closed")]
            if not waiting:
                transport.write(raw_answer(503, f"the server has {len(open_)} connections open, the most it keeps, and "
                                                "is answering every one: try again in a moment"))
                transport.close()
                return
            quietest = min(waiting, key=lambda connection: connection.quiet_since)
            open_.pop(quietest, None)
            quietest.drop()
        open_[self] = None
        self.watch()

    def connection_lost(self, exc) -> None:
        self.limits.open.pop(self, None)
        self.cancel()
        for timer in (self.write_deadline, self.sending):
            if timer is not None:
                timer.cancel()
        self.write_deadline = self.sending = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self.quiet_since = self.loop.time()
        super().data_received(data)
        self.watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self.watch()

    def phase_now(self) -> str | None:
        if self.transport.get_write_buffer_size():
            return "sending"
        if self.transport.is_closing():
            return "closed"
        state, cycle = self.conn.their_state, self.cycle
        if state is h11.IDLE and (cycle is None or cycle.response_complete):
            return "headers"
        if state is h11.SEND_BODY and (cycle is None or not cycle.response_started):
            return "body"
        return None

    def watch(self) -> None:
        """Arm the deadline of the phase the connection is in: waiting for request headers, or
        for the rest of a body; none while the app answers. An answer still in the buffer is looked
        at again every SENDING_LOOK seconds (nothing else tells when the client has taken it)."""
        phase = self.phase_now()
        if phase == "sending" and self.sending is None:
            self.sending = self.loop.call_later(SENDING_LOOK, self.look_at_answer)
        if phase == self.phase:
            return
        self.cancel()
        self.phase, self.quiet_since = phase, self.loop.time()
        if phase == "sending":
            self.buffered, self.progress = self.transport.get_write_buffer_size(), self.quiet_since
        if phase in ("headers", "body"):
            seconds = self.limits.header_seconds if phase == "headers" else self.limits.body_seconds
            self.deadline = self.loop.call_later(seconds, self.expire, phase)

    def look_at_answer(self) -> None:
        """An answer is in the buffer: drop a client that has taken none of it for write_seconds."""
        self.sending = None
        now, buffered = self.loop.time(), self.transport.get_write_buffer_size()
        if buffered < self.buffered:
            self.progress = now
        self.buffered = buffered
        if buffered and now - self.progress > self.limits.write_seconds:
            self.drop()
            return
        self.watch()

    def cancel(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None

    def expire(self, phase: str) -> None:
        """A deadline passed: tell the client 408 (unless its answer has begun) and drop it."""
        self.deadline = None
        if self.transport.is_closing() or phase != self.phase_now():
            self.watch()
            return
        cycle = self.cycle if phase == "body" else None
        if cycle is not None:  # the app waiting for the body is told the client went away
            cycle.disconnected = True
            cycle.message_event.set()
        if cycle is None or not cycle.response_started:
            seconds = self.limits.header_seconds if phase == "headers" else self.limits.body_seconds
            what = "request headers" if phase == "headers" else "request body"
            self.transport.write(raw_answer(408, f"the {what} did not arrive within {seconds:g} s: the connection is closed"))
        self.transport.close()

    def pause_writing(self) -> None:
        super().pause_writing()
        if self.write_deadline is None:
            self.write_deadline = self.loop.call_later(self.limits.write_seconds, self.drop)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self.write_deadline is not None:
            self.write_deadline.cancel()
            self.write_deadline = None

    def drop(self) -> None:
        """Close the connection at once, whatever it was doing."""
        self.cancel()
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        self.transport.abort()


def protocol_for(limits: ServerLimits) -> type[DeadlineProtocol]:
    """A protocol class bound to one server's limits (uvicorn makes one protocol per connection)."""
    return type("ExplorerProtocol", (DeadlineProtocol,), {"limits": limits})


class ExplorerServer(uvicorn.Server):
    """uvicorn's server that stops on the first signal: running requests are told to stop and given
    STOP_SECONDS, and the signal is kept in `signal` for the command's exit code. `busy()`: how many
    threads are still at work inside the model (the command must not let the interpreter exit
    under them)."""

    def __init__(self, config: uvicorn.Config, on_stop=lambda: None, threads: int = 40, busy=lambda: 0):
        super().__init__(config)
        self.on_stop, self.threads, self.busy = on_stop, threads, busy
        self.signal: int | None = None

    async def startup(self, sockets=None) -> None:
        import anyio.to_thread

        # the app's sync endpoints run in anyio's worker threads (40 by default): enough for every
        # request that may wait for a model and as many again, so waiting never holds up the page
        anyio.to_thread.current_default_thread_limiter().total_tokens = self.threads
        await super().startup(sockets)

    def handle_exit(self, sig: int, frame) -> None:
        if self.signal is None:
            self.signal = sig
        self.should_exit = self.force_exit = True
        self.on_stop()

    @contextlib.contextmanager
    def capture_signals(self):
        """Catch SIGINT and SIGTERM while serving (main thread only) and restore the old handlers
        after; unlike uvicorn's own, the signal is not raised again (the command exits with its code).
        Once a signal has stopped the server, the process is ending (within STOP_SECONDS): a second
        one is ignored rather than let it kill the process halfway through its exit."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler if self.signal is None else signal.SIG_IGN)

    async def shutdown(self, sockets=None) -> None:
        """Stop: no new connections; the running work is told to stop (`on_stop`); an answer under way
        (a stream) gets ANSWER_GRACE to end by itself (the stream says the server is stopping); every
        connection is closed; then the requests' tasks and the threads at model work (`busy()`) get
        the rest of STOP_SECONDS to end. What is still running then is left: `busy()` says so."""
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        self.on_stop()
        loop = asyncio.get_running_loop()
        end, grace = loop.time() + STOP_SECONDS, loop.time() + ANSWER_GRACE
        connections = list(self.server_state.connections)
        for connection in connections:
            if not answering(connection):
                close(connection)
        while any(answering(connection) for connection in connections) and loop.time() < grace:
            await asyncio.sleep(0.02)
        for connection in connections:
            close(connection)
        while (self.server_state.tasks or self.busy()) and loop.time() < end:
            await asyncio.sleep(0.02)
        if self.server_state.tasks:  # work that did not end in time is cancelled: nothing to report about it
            logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL + 1)
            for task in list(self.server_state.tasks):
                task.cancel()


def answering(connection) -> bool:
    """Whether the connection's answer has begun and not ended (a stream)."""
    cycle = getattr(connection, "cycle", None)
    return (cycle is not None and cycle.response_started and not cycle.response_complete
            and not connection.transport.is_closing())


def close(connection) -> None:
    """Close a connection; a request still reading its body, or still answering, sees its client gone."""
    cycle = getattr(connection, "cycle", None)
    if cycle is not None and not cycle.response_complete:
        cycle.disconnected = True
        cycle.message_event.set()
    connection.transport.close()


def build_server(app, limits: ServerLimits | None = None, on_stop=lambda: None, threads: int = 40,
                 busy=lambda: 0) -> ExplorerServer:
    """The server for `app`, with `limits` (default: ServerLimits()) and at most `threads` worker
    threads; `busy()` counts the threads at model work, which a stopping server waits for."""
    limits = limits or ServerLimits()
    config = uvicorn.Config(app, http=protocol_for(limits), ws="none", lifespan="off", log_level="error",
                            access_log=False, timeout_keep_alive=limits.keep_alive_seconds, server_header=False)
    return ExplorerServer(config, on_stop, threads, busy)
