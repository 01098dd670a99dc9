"""A run's checkpoint files: Lightning's checkpoint captured rather than written by Lightning, then
written by the run itself (the first process) through a temporary file in the same folder, so a
failed write is an OSError in one process that the others hear of in order, never a partial file;
what to say about a failed write; and the temporary files a killed write leaves, removed."""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from textgen.modeldir.names import BEST_CHECKPOINT, LAST_CHECKPOINT, LIGHTNING_DIR, RUN_FILES


def reason(error: BaseException) -> str:
    """The operating system's words for a failed write (a TextgenError from an atomic write carries the OSError)."""
    cause = error if isinstance(error, OSError) else error.__context__
    if isinstance(cause, OSError):
        return cause.strerror or str(cause)
    return str(error)


def remedy(error: BaseException) -> str:
    """What to do about a failed write, by its cause."""
    cause = error if isinstance(error, OSError) else error.__context__
    number = cause.errno if isinstance(cause, OSError) else None
    if number == errno.EFBIG:
        return "raise the file-size limit (ulimit -f)"
    if number in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "make the folder writable"
    return "free space"


class CheckpointCapture(TorchCheckpointIO):
    """Lightning's checkpoint, kept instead of written: the run's callback writes it itself (to last
    and best, each through a temporary file), so a failed write never leaves the processes of a run
    in different collective calls. Loading is Lightning's own."""

    def __init__(self) -> None:
        super().__init__()
        self.checkpoint: dict | None = None

    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:
        self.checkpoint = checkpoint  # called in the first process only

    def take(self) -> dict | None:
        checkpoint, self.checkpoint = self.checkpoint, None
        return checkpoint


def write_checkpoint(checkpoint: dict, path: Path) -> None:
    """torch.save to a temporary file in the same folder, fsync, then os.replace; on any failure the
    temporary file goes and the previous file stays. A failed write is an OSError (torch.save itself
    reports one as a RuntimeError about the zip writer's position)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temporary)  # a stale file, or a link planted at this name: never written through
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        with open(temporary, "wb", opener=lambda name, _: os.open(name, flags, 0o666)) as file:
            writer = RecordingWriter(file)
            try:
                torch.save(checkpoint, writer)
            except RuntimeError:
                if writer.error is not None:
                    raise writer.error from None
                raise
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


class RecordingWriter:
    """A file's write() that keeps the OSError it raised, for write_checkpoint."""

    def __init__(self, file) -> None:
        self.file, self.error = file, None
        self.name = file.name

    def write(self, data) -> int:
        try:
            return self.file.write(data)
        except OSError as error:
            self.error = error
            raise

    def flush(self) -> None:
        self.file.flush()


def remove_partial_files(folder: Path) -> list[Path]:
    """Delete the temporary files that an interrupted write of textgen's left in a run folder and its
    lightning/ (only textgen's own names: `.NAME.*.tmp` for its files); returns them."""
    names = (*RUN_FILES, LAST_CHECKPOINT, BEST_CHECKPOINT)
    removed = []
    for place in (folder, folder / LIGHTNING_DIR):
        try:
            entries = list(place.iterdir())
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            if name.endswith(".tmp") and any(name.startswith(f".{known}.") for known in names) and entry.is_file():
                with contextlib.suppress(OSError):
                    entry.unlink()
                    removed.append(entry)
    return removed
