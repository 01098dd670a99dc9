"""Atomic file writes: a temporary file in the target's folder, fsync, then os.replace.

A crash, Ctrl-C or full disk in the middle of a write leaves the previous file intact.
Output paths are checked before any work starts, but folders are created only when the
file is written, so a run that fails early leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from textgen.errors import TextgenError


def _nearest_existing(folder: Path) -> Path:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def prepare_output(path: str | os.PathLike, inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """Check an output file path before any work: its folder can be made and written, it is not
    a folder or a special file, not inside a shipped model, not a loop of symbolic links, and it is
    none of the `inputs`. Symbolic links are written through.

    Raises TextgenError naming the path and the fix.
    """
    from textgen.folder_swap import check_not_loop
    from textgen.model_files import refuse_shipped

    raw = os.fspath(path)
    if raw.endswith(("/", os.sep)):
        raise TextgenError(f"output path {raw} ends with a slash: give a file name, e.g. {raw}out")
    path = Path(raw)
    check_not_loop(path, "output path")
    refuse_shipped(path)
    try:
        if path.is_symlink():
            path = Path(os.path.realpath(path))
        if path.exists():
            if path.is_dir():
                raise TextgenError(f"output path {path} is a folder: give a file name, e.g. {path / 'out'}")
            if not stat.S_ISREG(path.stat().st_mode):
                raise TextgenError(f"output path {path} is not a regular file (a device, pipe or socket): choose a file name")
            for source in inputs:
                if Path(source).exists() and path.samefile(source):
                    raise TextgenError(f"output path {path} is also an input: choose another file name")
        folder = _nearest_existing(path.parent if str(path.parent) else Path("."))
        if not folder.is_dir():
            raise TextgenError(f"cannot create output folder {path.parent}: {folder} is a file; choose a writable location")
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".textgen-probe-"):
            pass
    except PermissionError as error:
        raise TextgenError(f"cannot write to {path.parent} ({error.strerror}): choose a writable location or fix its permissions") from None
    except OSError as error:
        raise TextgenError(f"cannot write to {path.parent} ({error.strerror}): choose a writable location") from None
    return path


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file beside `path`; on success it replaces `path`, on error it is removed.
    A symbolic link is written through (its target is replaced, the link stays); a path inside a
    shipped model or through a loop of links is refused.

    OSError while writing (a full disk, say) becomes a TextgenError; the old file is kept.
    """
    from textgen.folder_swap import check_not_loop
    from textgen.model_files import refuse_shipped

    path = Path(path)
    check_not_loop(path, "output path")
    if path.is_symlink():  # written through: the link stays, its target gets the new contents
        path = Path(os.path.realpath(path))
    refuse_shipped(path)
    binary = "b" in mode
    temp_name = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.chmod(temp_name, 0o666 & ~_umask())  # mkstemp makes 0600; a normal file follows the umask
        with os.fdopen(handle, mode, encoding=None if binary else encoding) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp_name, path)
    except BaseException as error:
        if temp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp_name)
        if isinstance(error, OSError):
            raise TextgenError(f"could not write {path} ({error.strerror or error}); the previous file, if any, is intact") from None
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically."""
    with atomic_open(path, "wb") as file:
        file.write(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` to `path` atomically as UTF-8."""
    write_bytes(path, text.encode("utf-8"))
