"""The run directory: one owner at a time, and a new run that replaces an old one only once it
has something to show.

- A lock (`OUT/.textgen.lock`, held with flock for the whole run) refuses a second textgen
  process (train, export, tune-cast) on the same folder while the first runs; a killed run's lock
  goes with its process.
- `--overwrite` trains in `OUT/.textgen-next/` beside the old run, and swaps in after the first
  checkpoint: the old run stays whole until the new one has saved. The swap is textgen's staged
  write (textgen/modeldir/swap.py): a manifest commits it, then the old files go and the new ones are
  renamed in, signals held back; a run killed in between is loaded from the whole new set and
  finished by the next textgen command that writes the folder.
- Only textgen's own files are ever moved or deleted: a user's file in OUT or in OUT/lightning/
  stays where it is, and so does a user's `.next/` or `.old/` (older textgen's staging names,
  recovered only while they hold nothing but textgen's files).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from textgen.modeldir.swap import (
    LEGACY_STAGING,
    LOCK_FILE,
    STAGING,
    FolderLock,
    commit,
    holds_only_textgen_files,
    read_manifest,
    real_folder,
)
from textgen.modeldir.swap import recover as recover_staged
from textgen.errors import TextgenError
from textgen.modeldir.names import BEST_CHECKPOINT, CLASSIFIER, LAST_CHECKPOINT, LIGHTNING_DIR, META_FILE, RUN_FILES, task_of

LIGHTNING_FILES = (LAST_CHECKPOINT, BEST_CHECKPOINT)
OLD = ".old"  # the old run's files during a swap, in textgen before the staged write's manifest (never written now)
RunLock = FolderLock  # the run folder's lock is every writer's lock

__all__ = ["LIGHTNING_FILES", "LOCK_FILE", "OLD", "STAGING", "RunLock", "RunPaths", "holds_run", "read_run_description",
           "recover", "run_entries", "swap_in"]


def holds_run(folder: Path) -> bool:
    """Whether a folder holds textgen run files."""
    return folder.is_dir() and (any((folder / name).exists() for name in RUN_FILES)
                                or any((folder / LIGHTNING_DIR / name).exists() for name in LIGHTNING_FILES))


def run_entries(folder: Path) -> list[Path]:
    """textgen's own files in a run folder (and its lightning/ checkpoints), nothing else."""
    entries = [folder / name for name in RUN_FILES if os.path.lexists(folder / name)]
    lightning = folder / LIGHTNING_DIR
    if lightning.is_dir():
        entries += [path for path in lightning.iterdir()
                    if path.name in LIGHTNING_FILES or (path.name.startswith(".") and path.name.endswith(".tmp"))]
    return entries


def run_names(folder: Path) -> list[str]:
    """run_entries as names relative to the folder (lightning/last.ckpt ...)."""
    return [entry.relative_to(folder).as_posix() for entry in run_entries(folder)]


def recover(folder: Path) -> str | None:
    """Finish what a killed run left half done (call with the lock held). Returns what was done.
    An older textgen's .old/ and .next/ count only while they hold nothing but textgen's files."""
    staging, old = folder / LEGACY_STAGING, folder / OLD
    if real_folder(old) and holds_only_textgen_files(old, ()):  # a swap of textgen before the manifest
        if real_folder(staging) and holds_only_textgen_files(staging) and read_manifest(staging) is None:
            # killed inside it: the new run had saved
            for entry in run_entries(staging):
                target = folder / entry.relative_to(staging)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(entry, target)
            shutil.rmtree(staging, ignore_errors=True)
            shutil.rmtree(old, ignore_errors=True)
            return "finished replacing the previous run (a swap was interrupted)"
        if not holds_run(folder):  # nothing replaced it: the old run goes back
            for entry in run_entries(old):
                target = folder / entry.relative_to(old)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(entry, target)
        shutil.rmtree(old, ignore_errors=True)
        if not staging.is_dir():
            return "cleaned up after an interrupted swap"
    return recover_staged(folder)


def check_temporary_folder() -> None:
    """Python's temporary folder is usable. Lightning's import (torchmetrics) asks for it and fails
    with a traceback when not even a few bytes can be written there (a full disk, `ulimit -f 0`):
    a training run says so in one line before it starts."""
    import tempfile

    try:
        tempfile.gettempdir()
    except FileNotFoundError:
        raise TextgenError("no usable temporary folder: not even a small file could be written in /tmp, /var/tmp or the "
                           "current folder (a full disk, or a file-size limit: ulimit -f); free some space or raise the "
                           "limit (TMPDIR names another folder)") from None


def read_run_description(folder: Path) -> dict:
    """A run's textgen.json for --resume (and for a distributed run's other processes): read with
    every textgen file's bounds (a regular file, its size and nesting limited) and checked for the
    fields a resume reads, each problem one TextgenError naming the file."""
    from textgen.modeldir.layout import ModelDirectory
    from textgen.modeldir.schema import check_metadata

    path = folder / META_FILE
    meta = ModelDirectory(folder).read_metadata()
    check_metadata(meta, path)
    classifier = task_of(meta) == CLASSIFIER
    for name in ("training", "corpus", "labels", "classifier"):
        if (name in meta or (classifier and name in ("labels", "classifier"))) and not isinstance(meta.get(name), dict):
            raise TextgenError(f"{path}: {name} must be an object; the run's description is damaged: train a new run")
    labels = meta.get("labels")
    if labels is not None and (not isinstance(labels.get("names"), list) or not isinstance(labels.get("ordinal"), bool)):
        raise TextgenError(f"{path}: labels must have \"names\" (a list) and \"ordinal\" (true or false); the run's "
                           "description is damaged: train a new run")
    return meta


def swap_in(folder: Path, staging: Path) -> None:
    """Replace the run in `folder` with the one in `staging` (textgen's files only), as one step."""
    commit(folder, staging, run_names(staging), run_names(folder))


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
