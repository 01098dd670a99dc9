"""The explorer's HTTP server: uvicorn's h11 protocol with the deadlines it lacks, and a stop on the
first Ctrl-C.

uvicorn reads request headers and bodies for as long as a client takes, and keeps every
connection it accepts. Here each connection has a deadline for its request headers (from the
moment it opens or its last answer ends) and one for the body (from the end of the headers);
a client that misses one is told 408 and dropped. A reader that stops taking an answer is
dropped after a while, and at most `max_connections` are open: a new one pushes out the oldest
that has not yet sent its request headers, or is told 503 when every one is being answered.

A signal (Ctrl-C, SIGTERM) stops the server at once: it closes every connection, tells the
running work to stop (`on_stop`), gives it STOP_SECONDS to end and returns the signal.
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
    cap on open connections (`limits`, set on the class by `protocol_for`)."""

    limits: ServerLimits

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.phase: str | None = None
        self.deadline: asyncio.TimerHandle | None = None
        self.write_deadline: asyncio.TimerHandle | None = None
        open_ = self.limits.open
        if len(open_) >= self.limits.max_connections:
            idle = next((connection for connection in open_ if connection.phase == "headers"), None)
            if idle is None:
                transport.write(raw_answer(503, f"the server has {len(open_)} connections open, the most it keeps: "
                                                "try again in a moment"))
                transport.close()
                return
            open_.pop(idle, None)
            idle.drop()
        open_[self] = None
        self.watch()

    def connection_lost(self, exc) -> None:
        self.limits.open.pop(self, None)
        self.cancel()
        if self.write_deadline is not None:
            self.write_deadline.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self.watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self.watch()

    def watch(self) -> None:
        """Arm the deadline of the phase the connection is in: waiting for request headers, or
        for the rest of a body; none while the app answers."""
        if self.transport.is_closing():
            self.cancel()
            return
        state = self.conn.their_state
        if state is h11.IDLE and (self.cycle is None or self.cycle.response_complete):
            phase = "headers"
        elif state is h11.SEND_BODY:
            phase = "body"
        else:
            phase = None
        if phase == self.phase:
            return
        self.cancel()
        self.phase = phase
        if phase is not None:
            seconds = self.limits.header_seconds if phase == "headers" else self.limits.body_seconds
            self.deadline = self.loop.call_later(seconds, self.expire, phase)

    def cancel(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None

    def expire(self, phase: str) -> None:
        """A deadline passed: tell the client 408 (unless its answer has begun) and drop it."""
        self.deadline = None
        if self.transport.is_closing() or phase != self.phase:
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
    STOP_SECONDS, and the signal is kept in `signal` for the command's exit code."""

    def __init__(self, config: uvicorn.Config, on_stop=lambda: None, threads: int = 40):
        super().__init__(config)
        self.on_stop, self.threads = on_stop, threads
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
        after; unlike uvicorn's own, the signal is not raised again (the command exits with its code)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    async def shutdown(self, sockets=None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        self.on_stop()
        for connection in list(self.server_state.connections):
            cycle = getattr(connection, "cycle", None)
            if cycle is not None and not cycle.response_complete:
                cycle.disconnected = True  # a streaming answer sees its client gone and ends
                cycle.message_event.set()
            connection.transport.close()
        loop = asyncio.get_running_loop()
        end = loop.time() + STOP_SECONDS
        while self.server_state.tasks and loop.time() < end:
            await asyncio.sleep(0.02)
        if self.server_state.tasks:  # work that did not end in time is cancelled: nothing to report about it
            logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL + 1)
            for task in list(self.server_state.tasks):
                task.cancel()


def build_server(app, limits: ServerLimits | None = None, on_stop=lambda: None, threads: int = 40) -> ExplorerServer:
    """The server for `app`, with `limits` (default: ServerLimits()) and at most `threads` worker threads."""
    limits = limits or ServerLimits()
    config = uvicorn.Config(app, http=protocol_for(limits), ws="none", lifespan="off", log_level="error",
                            access_log=False, timeout_keep_alive=limits.keep_alive_seconds, server_header=False)
    return ExplorerServer(config, on_stop, threads)
