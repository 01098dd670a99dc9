"""Atomic file writes: a temporary file in the target's folder, fsync, then os.replace.

A crash, Ctrl-C or full disk in the middle of a write leaves the previous file intact.
Output paths are checked before any work starts, but folders are created only when the
file is written, so a run that fails early leaves nothing behind.

Symbolic links: an output path the user names that is a link is written through (the link
stays, its target gets the new contents), as a shell's `>` would. Inside a folder textgen
manages (a model directory or run folder, its lightning/ and staging folders, a token cache)
a link is never followed: the link itself is replaced by the new file, so a link shipped in a
model archive cannot make textgen write anywhere else. Only a regular file is ever replaced:
a device, pipe, socket or folder at the path (or at the link's target) is refused.
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
from textgen.modeldir.names import LIGHTNING_DIR, META_FILE
from textgen.modeldir.safe_read import kind_of
from textgen.modeldir.shipped import refuse_shipped
from textgen.modeldir.swap import LEGACY_STAGING, LOCK_FILE, STAGING, check_not_loop, holds_lock


class WriteError(TextgenError):
    """A write that failed on an OSError (a full disk, a read-only folder): the previous file is
    kept. `path` and `reason` (the system's words) let a caller say it in its own terms."""

    def __init__(self, message: str, path: Path, reason: str):
        super().__init__(message)
        self.path, self.reason = path, reason


def _nearest_existing(folder: Path) -> Path:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def managed_folder(folder: str | os.PathLike) -> bool:
    """Whether textgen manages `folder`, so that a link in it is replaced, never followed: a model
    directory or run folder (it holds textgen.json or textgen's lock, or this process holds its
    lock), or the lightning/ or staging folder of one."""
    folder = Path(folder)
    if holds_lock(folder) or os.path.lexists(folder / LOCK_FILE) or os.path.lexists(folder / META_FILE):
        return True
    return folder.name in (LIGHTNING_DIR, STAGING, LEGACY_STAGING) and folder.parent != folder and managed_folder(folder.parent)


def check_replaceable(path: Path, what: str = "output path") -> None:
    """Refuse to replace anything but a regular file (or, where links are not followed, a link):
    a device, pipe, socket or folder at `path` stays what it is."""
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):  # nothing there to replace (a file in the way: said where the folder is made)
        return
    except OSError as error:
        raise TextgenError(f"cannot write {path} ({error.strerror}): choose a writable location") from None
    if stat.S_ISREG(mode) or stat.S_ISLNK(mode):
        return
    if stat.S_ISDIR(mode):
        raise TextgenError(f"{what} {path} is a folder: give a file name, e.g. {path / 'out'}")
    raise TextgenError(f"{what} {path} is {kind_of(mode)}: textgen replaces only regular files; choose a file name")


def _target(path: Path, follow_links: bool | None) -> Path:
    """Where a write to `path` lands: a link's target when links are followed here, else the path itself."""
    if follow_links is None:
        follow_links = not managed_folder(path.parent)
    if follow_links and path.is_symlink():  # written through: the link stays, its target gets the new contents
        return Path(os.path.realpath(path))
    return path


def prepare_output(path: str | os.PathLike, inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """Check an output file path before any work: its folder can be made and written, it is not
    a folder or a special file, not inside a shipped model, not a loop of symbolic links, and it is
    none of the `inputs`. Symbolic links are written through (see the module's docstring).

    Raises TextgenError naming the path and the fix.
    """
    raw = os.fspath(path)
    if raw.endswith(("/", os.sep)):
        raise TextgenError(f"output path {raw} ends with a slash: give a file name, e.g. {raw}out")
    path = Path(raw)
    check_not_loop(path, "output path")
    try:
        path = _target(path, None)
        refuse_shipped(path, follow_last=False)  # after _target: the entry the write replaces
        check_replaceable(path)
        if path.is_file() and not path.is_symlink():
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
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8",
                follow_links: bool | None = None) -> Iterator[IO]:
    """Open a temporary file beside `path`; on success it replaces `path`, on error it is removed.
    A symbolic link is written through (its target is replaced, the link stays) unless
    `follow_links` is False or, left None, the link lies in a folder textgen manages
    (managed_folder): then the link itself is replaced. Anything but a regular file at the path
    (a device, a pipe, a folder), a path inside a shipped model and a loop of links are refused.

    OSError while writing (a full disk, say) becomes a TextgenError; the old file is kept.
    """
    path = Path(path)
    check_not_loop(path, "output path")
    path = _target(path, follow_links)
    refuse_shipped(path, follow_last=False)  # after _target: the entry the write replaces
    check_replaceable(path)
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
            reason = error.strerror or str(error)
            raise WriteError(f"could not write {path} ({reason}); the previous file, if any, is intact", path, reason) from None
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path: str | os.PathLike, data: bytes, follow_links: bool | None = None) -> None:
    """Write `data` to `path` atomically (links: see atomic_open)."""
    with atomic_open(path, "wb", follow_links=follow_links) as file:
        file.write(data)


def write_text(path: str | os.PathLike, text: str, follow_links: bool | None = None) -> None:
    """Write `text` to `path` atomically as UTF-8."""
    write_bytes(path, text.encode("utf-8"), follow_links)
