"""The run directory: one owner at a time, and a new run that replaces an old one only once it
has something to show.

- A lock (`OUT/.textgen.lock`, held with flock for the whole run) refuses a second `textgen train`
  on the same folder while the first runs; a killed run's lock goes with its process.
- `--overwrite` trains in `OUT/.next/` beside the old run, and swaps in after the first
  checkpoint: the old run stays whole until the new one has saved. A swap moves the old files to
  `OUT/.old/`, the new ones in, then deletes `.old/`; a run killed in between is finished (or
  rolled back) by the next `textgen train` on the folder.
- Only textgen's own files are ever moved or deleted: a user's file in OUT or in OUT/lightning/
  stays where it is.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from pathlib import Path

from textgen.errors import TextgenError
from textgen.model_dir import BEST_CHECKPOINT, LAST_CHECKPOINT, LIGHTNING_DIR, RUN_FILES

LIGHTNING_FILES = (LAST_CHECKPOINT, BEST_CHECKPOINT)
LOCK_FILE = ".textgen.lock"
STAGING, OLD = ".next", ".old"


def holds_run(folder: Path) -> bool:
    """Whether a folder holds textgen run files."""
    return folder.is_dir() and (any((folder / name).exists() for name in RUN_FILES)
                                or any((folder / LIGHTNING_DIR / name).exists() for name in LIGHTNING_FILES))


def run_entries(folder: Path) -> list[Path]:
    """textgen's own files in a run folder (and its lightning/ checkpoints), nothing else."""
    entries = [folder / name for name in RUN_FILES if (folder / name).exists()]
    lightning = folder / LIGHTNING_DIR
    if lightning.is_dir():
        entries += [path for path in lightning.iterdir()
                    if path.name in LIGHTNING_FILES or (path.name.startswith(".") and path.name.endswith(".tmp"))]
    return entries


class RunLock:
    """An exclusive lock on a run folder for as long as the run lasts (flock: released when the
    process ends, however it ends)."""

    def __init__(self, folder: Path):
        self.folder, self.handle = folder, None

    def __enter__(self) -> RunLock:
        import fcntl

        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / LOCK_FILE
        handle = open(path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            handle.seek(0)
            owner = handle.read().strip() or "another process"
            handle.close()
            if error.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise TextgenError(f"{self.folder} is being trained by another textgen process ({owner}): wait for it to "
                                   "finish or give another --out") from None
            raise TextgenError(f"cannot lock {path} ({error.strerror}): give another --out") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        self.handle = handle
        return self

    def __exit__(self, *exc) -> None:
        if self.handle is not None:
            with contextlib.suppress(OSError):
                (self.folder / LOCK_FILE).unlink()
            self.handle.close()
            self.handle = None


def recover(folder: Path) -> str | None:
    """Finish what a killed run left half done (call with the lock held). Returns what was done."""
    staging, old = folder / STAGING, folder / OLD
    if old.is_dir() and staging.is_dir():  # killed inside a swap: the new run had saved, so it is finished
        swap_in(folder, staging)
        return "finished replacing the previous run (a swap was interrupted)"
    if old.is_dir():
        if not holds_run(folder):  # nothing replaced it: the old run goes back
            for entry in run_entries(old):
                target = folder / entry.relative_to(old)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(entry, target)
        shutil.rmtree(old, ignore_errors=True)
        return "cleaned up after an interrupted swap"
    if staging.is_dir():  # a new run killed before its first checkpoint: the old run is whole
        shutil.rmtree(staging, ignore_errors=True)
        return "removed an unfinished --overwrite run (killed before its first checkpoint)"
    return None


def swap_in(folder: Path, staging: Path) -> None:
    """Replace the run in `folder` with the one in `staging` (textgen's files only)."""
    old = folder / OLD
    old.mkdir(exist_ok=True)
    for entry in run_entries(folder):
        target = old / entry.relative_to(folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(entry, target)
    for entry in run_entries(staging):
        target = folder / entry.relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(entry, target)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(staging, ignore_errors=True)


class RunPaths:
    """Where the run writes now: the staging folder of an --overwrite run until its first
    checkpoint, the output folder itself after that (and always for a new or resumed run)."""

    def __init__(self, folder: Path, staged: bool):
        self.folder = folder
        self.staging = folder / STAGING if staged else None
        self.current = self.staging or folder

    def saved(self) -> None:
        """A checkpoint was written: an --overwrite run now takes the old run's place."""
        if self.staging is not None and self.current == self.staging:
            swap_in(self.folder, self.staging)
            self.current = self.folder
