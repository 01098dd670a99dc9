"""textgen serve: the explorer, a local web page over the library."""

from __future__ import annotations

import click

from textgen.cli.common import note
from textgen.errors import TextgenError

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@click.command("serve")
@click.argument("model_dir", metavar="[MODEL]", default="tinystories")
@click.option("--model-dir", "more", multiple=True, metavar="DIR",
              help="Another model directory for the page's picker (repeatable); the page never takes a path.")
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on (another than loopback is reachable by others).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="The port (0: any free one).")
@click.option("--max-generations", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Generations at once; more are told to try again (HTTP 429).")
def serve_command(model_dir: str, more: tuple[str, ...], host: str, port: int, max_generations: int) -> None:
    """Start the explorer: a web page to write with MODEL (default: the shipped tinystories
    model) and watch its memory. Type a story and see the next words, continue it with any
    sampling settings (streamed word by word), diagnose it, and look at the forget, learn
    (ignore) and use gates over the words. Everything the page loads is served by textgen, so it
    works offline; the JSON API behind it is documented at /docs.

    \b
    Examples:
      textgen serve                                   # the shipped model on http://127.0.0.1:8000
      textgen serve checkpoints/little --model-dir checkpoints/doug --port 8080
    """
    import socket
    from pathlib import Path

    import textgen
    from textgen.checkpoint import SHIPPED_MODELS, resolve_model_path

    models: dict[str, object] = {}
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
    if host not in LOOPBACK:
        note(f"listening on {host}: anyone who can reach this machine can use the page and its CPU; "
             "use --host 127.0.0.1 to keep it to this machine")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise TextgenError(f"cannot listen on {host}:{port} ({error.strerror}): give another --port, or 0 for any free one") from None
    sock.listen(64)
    import uvicorn

    from textgen.explorer.app import create_app

    app = create_app(models, max_generations=max_generations)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"textgen explorer: http://{shown}:{bound}  (models: {', '.join(models)}; API docs at /docs; Ctrl-C stops it)",
               err=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    server.run(sockets=[sock])
