"""The explorer's front door, an ASGI middleware around the whole app (API, page, static files,
docs): it answers only requests addressed to this server, reads bodies up to a size limit, and
marks every response as this origin's own.

- Host: a browser sends the name it looked up, so a page on another site that points its own
  name at 127.0.0.1 (DNS rebinding) is told 421 here: only the loopback names, the address the
  server listens on and the names given with `--allow-host` are answered. The 421 says what to
  do in a few hundred characters at most, suggesting --allow-host only for a value it takes.
- Origin: a browser request made by another site's page (`Origin` not this server) is told 403,
  so no page elsewhere can start work here even where CORS would hide the answer.
- Body: `Content-Length` over the limit is told 413, and a body without one is counted as it
  arrives; the app sees a body only when all of it is in. An over-limit body whose length says
  at most MAX_DISCARD bytes is read and dropped before the 413 (a client that sends all of it
  before reading would otherwise meet a closed connection); a larger one is answered at once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
WILDCARD_ADDRESSES = ("0.0.0.0", "::", "")
# a browser leaves these ports out of Host (http's and https's): a Host without a port is port 80
# for this server's own names, and matches an --allow-host NAME:80 or NAME:443
DEFAULT_PORTS = (80, 443)
HOST_NAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")  # a DNS name or an IPv4 address, ASCII only
PORT = re.compile(r"[0-9]{1,5}")
LENGTH = re.compile(r"[0-9]{1,18}")  # a Content-Length: ASCII digits ("²".isdigit() is true)
MAX_NAME = 253  # characters of a DNS name
MAX_SUGGESTED = 80  # characters of a name an error message repeats in the --allow-host it suggests
MAX_DISCARD = 1_048_576  # bytes of an over-limit body read and dropped, so a client that sends all of it first reads the 413
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),  # no page elsewhere can frame this one and steer its clicks
    (b"content-security-policy",
     b"default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; object-src 'none'"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"referrer-policy", b"no-referrer"),
]


def shown(value: str, limit: int = 80) -> str:
    """A value from a request as an error message quotes it: repr, cut to `limit` characters."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


def split_host(value: str) -> tuple[str, int | None] | None:
    """A Host header (or --allow-host value) as (lower-case name, port or None); None when it is not
    one: a DNS name or IPv4 address, or an IPv6 address in brackets, and a port of ASCII digits."""
    value = value.strip()
    if not value.isascii():  # a browser sends a name in ASCII (punycode); lower() would map a few signs to letters
        return None
    value = value.lower()
    if value.startswith("["):  # an IPv6 address: [::1]:8000
        name, bracket, rest = value[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")) or not ipv6(name):
            return None
        port_text = rest[1:]
    else:
        if value.count(":") > 1:
            return None
        name, _, port_text = value.partition(":")
        name = name[:-1] if name.endswith(".") else name
        if not HOST_NAME.fullmatch(name) or len(name) > MAX_NAME:
            return None
    if not port_text:
        return name, None
    if not PORT.fullmatch(port_text) or not 0 < int(port_text) < 65536:  # ASCII digits only: "²".isdigit() is true
        return None
    return name, int(port_text)


def ipv6(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def host_text(name: str, port: int | None = None) -> str:
    """A (name, port) as a Host header or --allow-host value writes it: an IPv6 address in brackets."""
    host = f"[{name}]" if ":" in name else name
    return host if port is None else f"{host}:{port}"


class HostPolicy:
    """Which Host headers this server answers: the loopback names and the address it listens on,
    each with its port, and the `--allow-host` names (any port unless one is given). Bound to every
    address (0.0.0.0, ::), the wildcard itself is one of its names: connecting to 0.0.0.0 reaches
    this machine, and a Host of 0.0.0.0 or [::] is never what a page on another site sends (a DNS
    name pointed at 0.0.0.0 still sends that name)."""

    def __init__(self, port: int | None = None, bound: str | None = None, allowed: Iterable[str] = ()):
        self.port = port  # None: any port (an app not yet bound, e.g. under a test client)
        self.bound = (bound or "127.0.0.1").strip("[]").lower()
        self.local = set(LOOPBACK_NAMES)
        if self.bound in WILDCARD_ADDRESSES:
            self.local |= {"0.0.0.0", "::"}
        else:
            self.local.add(self.bound)
        self.names: set[str] = set()
        self.pairs: set[tuple[str, int]] = set()
        for value in allowed:
            parsed = split_host(value)
            if parsed is None:
                raise ValueError(f"not a host name: {value!r}")
            name, port = parsed
            if port is None:
                self.names.add(name)
            else:
                self.pairs.add((name, port))

    def permits(self, host: str | None, local_address: str | None = None) -> bool:
        """Whether a request with this Host header, received on `local_address`, is for this server."""
        parsed = split_host(host) if host else None
        if parsed is None:
            return False
        name, port = parsed
        if name in self.names or any((name, given) in self.pairs for given in ((port,) if port else DEFAULT_PORTS)):
            return True
        return self.is_local(name, local_address) and (self.port is None or (port or 80) == self.port)

    def is_local(self, name: str, local_address: str | None = None) -> bool:
        return name in self.local or (local_address is not None and name == local_address.lower())

    def address(self) -> str:
        """The address to open in a browser on this machine: the loopback address when the server
        listens on every address."""
        host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(self.bound, self.bound)
        return f"http://{host_text(host)}" + (f":{self.port}" if self.port else "")

    def refusal(self, host: str | None, local_address: str | None = None) -> str:
        """Why a request with this Host is refused, and what to do (a suggestion only for a Host that
        --allow-host takes, and that admits no more than that Host)."""
        if not host:
            return f"the request has no Host header: this server answers requests for {self.address()}"
        parsed = split_host(host)
        if parsed is None:
            return (f"Host {shown(host)} is not a host name and port: this server answers requests for {self.address()}")
        name, port = parsed
        exact = host_text(name, port or 80)
        if self.is_local(name, local_address):  # this machine's name, but another port
            named = f"port {port}" if port else "no port (port 80)"
            return (f"Host {shown(host)} names {named}, but this server listens on port {self.port}: open "
                    f"http://{host_text(name, self.port)}"
                    + (f"; if a proxy forwards {exact} here, start the server with --allow-host {exact}"
                       if len(exact) <= MAX_SUGGESTED else ""))
        suggestion = (f"start the server with --allow-host {host_text(name)}" if len(name) <= MAX_SUGGESTED
                      else "start the server with --allow-host and that name")
        return (f"Host {shown(host)} is not this server's address ({self.address()}): a page on another site may be "
                f"trying to reach it; to serve that name on purpose, {suggestion}")


def same_origin(origin: str, host: str, scheme: str = "http") -> bool:
    """Whether a browser's Origin header names the site the request went to: its scheme and Host."""
    default = {"http": 80, "https": 443}
    try:
        parts = urlsplit(origin)
        origin_port = parts.port or default.get(parts.scheme)
    except ValueError:
        return False
    parsed = split_host(host)
    if parts.scheme != scheme or scheme not in default or parts.hostname is None or parsed is None:
        return False
    name, port = parsed
    return parts.hostname.rstrip(".") == name and origin_port == (port or default[scheme])


def header(scope: dict, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


async def respond(send, status: int, detail: str, close: bool = False) -> None:
    """A JSON error answer {"detail": ...}, with the security headers."""
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *SECURITY_HEADERS]
    if close:  # the rest of the request is never read: the connection cannot carry another
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """The middleware: Host and Origin checks, the body limit, the security headers."""

    def __init__(self, app, policy: HostPolicy, max_body: int):
        self.app, self.policy, self.max_body = app, policy, max_body

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "websocket":  # the explorer has no websocket: refuse before anything runs
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = header(scope, b"host")
        server = scope.get("server")
        local_address = server[0] if server else None
        if not self.policy.permits(host, local_address):
            await respond(send, 421, self.policy.refusal(host, local_address), close=True)
            return
        origin = header(scope, b"origin")
        if origin is not None and not same_origin(origin, host or "", scope.get("scheme", "http")):
            await respond(send, 403, f"a request from the page at {shown(origin)} is refused: this server answers only "
                                     f"its own page, {self.policy.address()}", close=True)
            return
        length = header(scope, b"content-length")
        declared = int(length.strip()) if length is not None and LENGTH.fullmatch(length.strip()) else None
        if length is not None and (declared is None or declared > self.max_body):
            if declared is not None and declared <= MAX_DISCARD and not await discard(receive):
                return  # the client went away while sending it
            await respond(send, 413, self.too_large(), close=True)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client went away (or was dropped for a slow body): nobody to answer
            body += message.get("body", b"")
            if len(body) > self.max_body:  # a body of unknown length (chunked): refused as soon as it is over
                await respond(send, 413, self.too_large(), close=True)
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, replay(bytes(body), receive), secured(send))

    def too_large(self) -> str:
        return (f"the request body is over {self.max_body:,} bytes, the most this server reads (a text at the "
                "character limit fits): send a shorter text")


async def discard(receive) -> bool:
    """Read and drop a body that is over the limit (its Content-Length at most MAX_DISCARD bytes): a
    client that sends its whole body before it reads the answer (most do) then gets the 413 rather
    than a broken pipe. False when the client went away. The body's deadline still holds."""
    read = 0
    while read <= MAX_DISCARD:
        message = await receive()
        if message["type"] == "http.disconnect":
            return False
        read += len(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return True


def replay(body: bytes, receive):
    """A receive that gives the app the whole body once, then whatever comes next (a disconnect)."""
    sent = False

    async def receive_again():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return receive_again


def secured(send):
    """A send that adds the security headers to the response."""

    async def send_secured(message):
        if message["type"] == "http.response.start":
            names = {key.lower() for key, _ in message.get("headers", ())}
            extra = [(key, value) for key, value in SECURITY_HEADERS if key not in names]
            message = {**message, "headers": [*message.get("headers", ()), *extra]}
        await send(message)

    return send_secured
