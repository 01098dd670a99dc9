"""Atomic file writes: a temporary file in the target's folder, fsync, then os.replace.

A crash, Ctrl-C or full disk in the middle of a write leaves the previous file intact.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from textgen.errors import TextgenError


def prepare_output(path: str | os.PathLike) -> Path:
    """Create the folder of an output file if needed and check it is writable, before any work.

    Raises TextgenError naming the folder when it cannot be created or written.
    """
    path = Path(path)
    if path.is_dir():
        raise TextgenError(f"output path {path} is a folder: give a file name, e.g. {path / 'out'}")
    folder = path.parent if str(path.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise TextgenError(
            f"cannot create output folder {folder} ({error.strerror}): choose a writable location"
        ) from None
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".textgen-probe-"):
            pass
    except OSError as error:
        raise TextgenError(
            f"cannot write to output folder {folder} ({error.strerror}): "
            "choose a writable location or fix its permissions"
        ) from None
    return path


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file beside `path`; on success it replaces `path`, on error it is removed."""
    path = Path(path)
    binary = "b" in mode
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(temp_name, 0o666 & ~_umask())  # mkstemp makes 0600; a normal file follows the umask
        with os.fdopen(handle, mode, encoding=None if binary else encoding) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically."""
    try:
        with atomic_open(path, "wb") as file:
            file.write(data)
    except OSError as error:
        raise TextgenError(f"could not write {path} ({error.strerror}); the previous file, if any, is intact") from None


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` to `path` atomically as UTF-8."""
    write_bytes(path, text.encode("utf-8"))
