"""textgen serve: the explorer, a local web page over the library."""

from __future__ import annotations

import contextlib
import os
import signal
import sys

import click

from textgen.cli.common import note
from textgen.errors import TextgenError
from textgen.signals import command_signals, raise_swallowed

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
WILDCARDS = {"0.0.0.0", "::"}


@click.command("serve")
@click.argument("model_dir", metavar="[MODEL]", default="tinystories")
@click.option("--model-dir", "more", multiple=True, metavar="DIR",
              help="Another model directory for the page's picker (repeatable); the page never takes a path.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="The address to listen on (another than loopback is reachable by others).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="The port (0: any free one).")
@click.option("--allow-host", "allow_hosts", multiple=True, metavar="NAME",
              help="Also answer requests addressed to NAME, on any port (NAME:PORT: that port only; repeatable): a name "
                   "this machine has on your network, or a proxy's. Others are refused, so no web page elsewhere can "
                   "use the server.")
@click.option("--max-generations", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Generations at once; more are told to try again (HTTP 429).")
def serve_command(model_dir: str, more: tuple[str, ...], host: str, port: int, allow_hosts: tuple[str, ...],
                  max_generations: int) -> None:
    """Start the explorer: a web page to write with MODEL (default: the shipped tinystories
    model) and watch its memory. Type a story and see the next words, continue it with any
    sampling settings (streamed word by word), diagnose it, and look at the forget, learn
    (ignore) and use gates over the words. Everything the page loads is served by textgen, so it
    works offline; the JSON API behind it and its limits are documented at /docs. Ctrl-C stops it.

    \b
    Examples:
      textgen serve                                   # the shipped model on http://127.0.0.1:8000
      textgen serve checkpoints/little --model-dir checkpoints/doug --port 8080
      textgen serve --host 0.0.0.0 --allow-host mybox.local   # for the other machines on your network
    """
    started = None
    try:
        with signals_while_starting():
            started = start(model_dir, more, host, port, allow_hosts, max_generations)
    except BaseException:
        if started is not None:  # a signal that a library swallowed while the models loaded, raised again
            started[2].close()
        raise
    app, server, sock, address = started
    click.echo(f"textgen explorer: {address}  (models: {', '.join(app.state.slots)}; API docs at /docs; Ctrl-C stops it)",
               err=True)
    server.run(sockets=[sock])
    if server.signal is not None:
        exit_after(server.signal, app.state.work)


def start(model_dir: str, more: tuple[str, ...], host: str, port: int, allow_hosts: tuple[str, ...], max_generations: int):
    """The app, its server, the listening socket and the address to open, the models loaded."""
    from pathlib import Path

    import textgen
    from textgen.modeldir.store import SHIPPED_MODELS, resolve_model_path
    from textgen.explorer.guard import HostPolicy

    for name in allow_hosts:
        check_allowed(name)
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host  # [::1], as addresses are printed
    sock = listen(host, port)  # before the models load: a wrong address or a taken port is said at once
    models: dict[str, object] = {}
    try:
        for given in (model_dir, *more):
            try:
                path = resolve_model_path(given)
            except TextgenError as error:
                hint = " (or give MODEL, a folder written by `textgen train`)" if given == model_dir else ""
                raise TextgenError(f"{error}{hint}") from None
            name = given if given in SHIPPED_MODELS and not Path(given).exists() else path.resolve().name
            base, number = name, 2
            while name in models:
                name, number = f"{base}-{number}", number + 1
            models[name] = textgen.load(path)
    except BaseException:
        sock.close()
        raise
    from textgen.explorer.app import create_app
    from textgen.explorer.server import build_server

    bound = sock.getsockname()[1]
    hosts = HostPolicy(bound, host, allow_hosts)
    if host in WILDCARDS:
        note(f"listening on every address of this machine (--host {host}): anyone who can reach it can use the page and "
             f"its CPU, as http://ADDRESS:{bound} with one of its addresses (a name needs --allow-host NAME); "
             "use --host 127.0.0.1 to keep it to this machine")
    elif host not in LOOPBACK:
        note(f"listening on {host}: anyone who can reach this machine can use the page and its CPU; "
             "use --host 127.0.0.1 to keep it to this machine")
    app = create_app(models, max_generations=max_generations, hosts=hosts)
    server = build_server(app, on_stop=app.state.stopping.set, threads=app.state.threads, busy=lambda: app.state.work.running)
    return app, server, sock, hosts.address()


@contextlib.contextmanager
def signals_while_starting():
    """Ctrl-C (KeyboardInterrupt), SIGTERM and SIGHUP (Terminated) while the command imports torch and
    loads the models: each is raised where it lands, and one that a library swallowed is raised again
    by the next import or when the block ends (torch's import of numpy catches every exception from
    it, so a Ctrl-C in that moment was lost and the server started anyway). The command's own
    handlers (textgen/signals.py) where it runs under the CLI; these, given back after, where not."""
    with command_signals():
        yield
        raise_swallowed()


def exit_after(sig: int, work) -> None:
    """End the command after `sig` stopped the server: its one line ("interrupted", exit 130, or
    "terminated", 143). While a request's thread is still inside the model (`work.running`: it did
    not stop within STOP_SECONDS) the interpreter's exit would abort in it (exit 134), so the
    process ends here at once, its line said; the server has nothing to save."""
    said, code = ("interrupted", 130) if sig == signal.SIGINT else ("terminated", 143)
    if work.running:
        click.echo(said, err=True)
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(code)
    if sig == signal.SIGINT:
        raise KeyboardInterrupt  # the command's one line, "interrupted", and exit code 130
    click.echo(said, err=True)
    sys.exit(code)


def check_allowed(name: str) -> None:
    """An --allow-host value the server can match, or a TextgenError that says how to write it."""
    from textgen.explorer.guard import ipv6, split_host

    if split_host(name) is not None:
        return
    text = name.strip()
    if "*" in text:
        raise TextgenError(f"--allow-host {name!r}: a pattern would let any web page under it use the server; give each "
                           "name the server should answer, e.g. --allow-host mybox.local (repeatable)")
    if ipv6(text):
        raise TextgenError(f"--allow-host {name!r}: an IPv6 address goes in brackets, as a browser's address bar shows "
                           f"it: --allow-host '[{text}]'")
    raise TextgenError(f"--allow-host {name!r} is not a host name: give it as a browser's address bar shows it, "
                       "e.g. --allow-host mybox.local, --allow-host 192.168.1.20 or --allow-host mybox.local:8080")


def listen(host: str, port: int):
    """A socket listening on host:port, or a TextgenError that says what is wrong with them."""
    import errno
    import ipaddress
    import re
    import socket

    anywhere = "use 127.0.0.1 (this machine only), 0.0.0.0 (every network it is on) or one of its own addresses"
    if re.fullmatch(r"[\d.]+", host):  # looks like an IPv4 address: never a name to look up
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise TextgenError(f"--host {host} is not a valid IPv4 address (four numbers from 0 to 255): "
                               f"{anywhere}") from None
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as error:
        raise TextgenError(f"--host {host} is not an address or a name this machine knows ({error.strerror}): "
                           f"{anywhere}") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise TextgenError(f"port {port} is in use on {host} (another program listens there): give another --port, "
                               "or 0 for any free one") from None
        if error.errno == errno.EADDRNOTAVAIL:
            raise TextgenError(f"--host {host} is not an address of this machine: {anywhere}") from None
        if error.errno in (errno.EACCES, errno.EPERM):
            raise TextgenError(f"port {port} needs administrator rights: give a --port from 1024 up, "
                               "or 0 for any free one") from None
        raise TextgenError(f"cannot listen on {host}:{port} ({error.strerror})") from None
    sock.listen(128)
    return sock
