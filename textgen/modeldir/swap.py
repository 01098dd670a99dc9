"""One writer at a time, and a set of files replaced as one step: what every writer of a model
directory or run folder (train, classify train, export, tune-cast, the training run's export of
its best weights) uses.

- `FolderLock(folder)`: flock on FOLDER/.textgen.lock while a command writes there; a second
  textgen process is refused in one line. The lock goes with its process, however it ends.
- `write_staged(folder, files)`: the new files are written and fsynced in FOLDER/.textgen-next/,
  beside the old ones. Once all are whole a manifest (.textgen-next/.swap.json: the names to move
  in, the names they replace) is written: the commit. Then the old names are removed and the new
  ones renamed into place, textgen.json last, with SIGINT, SIGTERM and SIGHUP held back until the
  renames are done (a signal then acts at once after them).
- A writer killed before its commit leaves the old files whole (and a .textgen-next/ that the
  next writer removes); one killed after it leaves a whole new set, part in FOLDER and part in
  .textgen-next/. Readers take each file from where it is now (`current_file`), so the directory
  loads; the next writer finishes the renames (`recover`).
- Older textgen staged in FOLDER/.next/ (and before the manifest, moved the old run to .old/):
  a .next/ or .old/ is recovered as textgen's only while it holds nothing but textgen's own file
  names; one that holds anything else is a user's folder (a web project's .next/, say) and is
  left alone.
- Only textgen's own names are ever removed or replaced: a user's file in the folder stays. The
  lock is a plain file textgen writes itself: a link, a device or a file of other text in its
  place is refused, never opened for writing.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import signal
import stat
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from textgen.errors import TextgenError
from textgen.modeldir.names import BEST_CHECKPOINT, LAST_CHECKPOINT, LIGHTNING_DIR, META_FILE, RUN_FILES
from textgen.modeldir.safe_read import NO_FOLLOW, kind_of, read_json
from textgen.modeldir.shipped import refuse_shipped

LOCK_FILE = ".textgen.lock"
STAGING = ".textgen-next"
LEGACY_STAGING = ".next"  # older textgen's staging folder: textgen's only while it holds only textgen's files
MANIFEST = ".swap.json"
LOCK_TEXT = re.compile(rb"(pid \d*\n?)?")  # what textgen writes into its lock (empty, or cut short by a kill)
HELD_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
_HELD_LOCKS: dict[str, FolderLock] = {}  # folders this process holds, by real path


class WriteFailed(TextgenError, OSError):
    """A staged write that failed: a TextgenError whose one line says what the folder holds now,
    and an OSError with the cause's errno and strerror, so a caller with its own words for a full
    disk (a training run: continue with --resume) can use them."""

    def __init__(self, message: str, cause: OSError):
        super().__init__(message)
        self.errno, self.strerror = cause.errno, cause.strerror

    def __str__(self) -> str:
        return str(self.args[0])


def check_not_loop(path: str | os.PathLike, what: str = "path") -> None:
    """Refuse a path that runs into a loop of symbolic links (os.stat follows every link in it)."""
    try:
        os.stat(path)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise TextgenError(f"{what} {path} runs into a loop of symbolic links: remove the link or give another "
                               "path") from None
    except ValueError:  # an embedded NUL: the caller's own checks name it
        pass


class FolderLock:
    """An exclusive lock on a folder while this process writes there (flock: released when the
    process ends, however it ends). Creates the folder. The shipped models are never locked, so
    nothing writes into them. The lock file is opened without following links and never
    truncated unless it is textgen's; a failure to write it (a full disk, a file-size limit)
    leaves neither it nor a folder this lock made."""

    def __init__(self, folder: str | os.PathLike, hint: str = "give another --out"):
        self.folder, self.hint, self.handle = Path(folder), hint, None

    def __enter__(self) -> FolderLock:
        import fcntl

        check_not_loop(self.folder, "output folder")
        refuse_shipped(self.folder)
        check_folder_path(self.folder, self.hint)
        made = missing_folders(self.folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise TextgenError(f"cannot write to {self.folder} ({error.strerror}): choose a writable location") from None
        path = self.folder / LOCK_FILE
        handle, created = None, False
        try:
            handle, created = open_lock(path, self.hint)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as error:
                if error.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    owner = os.pread(handle, 200, 0).decode("ascii", "replace").strip() or "another process"
                    raise TextgenError(f"{self.folder} is in use by another textgen process ({owner}): wait for it to "
                                       f"finish, or {self.hint}") from None
                raise TextgenError(f"cannot lock {path} ({error.strerror}): {self.hint}") from None
            os.ftruncate(handle, 0)
            text = f"pid {os.getpid()}\n".encode()
            if os.pwrite(handle, text, 0) != len(text):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except BaseException as error:
            if handle is not None:
                if created:
                    with contextlib.suppress(OSError):
                        path.unlink()
                os.close(handle)
            for place in made:  # a folder made for this lock goes again (when still empty)
                with contextlib.suppress(OSError):
                    place.rmdir()
            if isinstance(error, OSError):
                raise TextgenError(f"cannot write to {self.folder} ({_reason(error)}): {_advice(error)}") from None
            raise
        self.handle = handle
        _HELD_LOCKS[os.path.realpath(self.folder)] = self
        return self

    def __exit__(self, *exc) -> None:
        if self.handle is not None:
            _HELD_LOCKS.pop(os.path.realpath(self.folder), None)
            path = self.folder / LOCK_FILE
            with contextlib.suppress(OSError):
                mine, there = os.fstat(self.handle), os.lstat(path)
                if (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino):  # only the file this lock wrote goes
                    path.unlink()
            os.close(self.handle)
            self.handle = None


def open_lock(path: Path, hint: str) -> tuple[int, bool]:
    """The lock file open for reading and writing, and whether this call made it. A link, a
    device, a pipe, a file with other links to it or one holding other text than textgen's is
    refused (it could be anyone's file): nothing is written to it."""
    flags = os.O_RDWR | getattr(os, "O_CLOEXEC", 0) | NO_FOLLOW
    try:
        return os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o644), True
    except FileExistsError:
        pass
    info = os.lstat(path)  # opened only once known to be a regular file: opening a device can act on it
    if not stat.S_ISREG(info.st_mode):
        raise TextgenError(f"{path} is {kind_of(info.st_mode)}, not textgen's lock (a plain file textgen writes): "
                           f"remove it, or {hint}")
    try:
        handle = os.open(path, flags | getattr(os, "O_NONBLOCK", 0))
    except OSError as error:
        if error.errno == errno.ELOOP:  # it became a link since the lstat
            raise TextgenError(f"{path} is a symbolic link, not textgen's lock: remove it, or {hint}") from None
        raise
    info = os.fstat(handle)
    problem = None
    if not stat.S_ISREG(info.st_mode):
        problem = f"is {kind_of(info.st_mode)}"
    elif info.st_nlink != 1:
        problem = "has other names (hard links)"
    elif not LOCK_TEXT.fullmatch(os.pread(handle, 64, 0)):
        problem = "holds other text"
    if problem is not None:
        os.close(handle)
        raise TextgenError(f"{path} {problem}: it is not textgen's lock; move it away, or {hint}")
    return handle, False


def check_folder_path(folder: Path, hint: str) -> None:
    """Refuse a folder path that is a link to nothing or a file, before anything is made."""
    if folder.is_symlink() and not folder.exists():
        raise TextgenError(f"{folder} is a symbolic link to {os.readlink(folder)}, which does not exist: create that "
                           f"folder, remove the link, or {hint}")
    if folder.exists() and not folder.is_dir():
        raise TextgenError(f"{folder} is a file, not a folder: {hint}")


def missing_folders(folder: Path) -> list[Path]:
    """The folders of `folder`'s path that do not exist yet, deepest first."""
    missing = []
    place = Path(folder)
    while not place.exists() and not place.is_symlink() and place != place.parent:
        missing.append(place)
        place = place.parent
    return missing


def holds_lock(folder: str | os.PathLike) -> bool:
    """Whether this process holds the lock on `folder` (a training run holds its folder's)."""
    return os.path.realpath(folder) in _HELD_LOCKS


@contextlib.contextmanager
def locked(folder: str | os.PathLike, hint: str = "give another --out") -> Iterator[None]:
    """The folder's lock for as long as the block runs: taken here, or already held by this process."""
    if holds_lock(folder):
        yield
    else:
        with FolderLock(folder, hint):
            yield


@contextlib.contextmanager
def held_signals() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP wait while the block runs (a few renames), then act as usual.

    The mask holds a signal back from this thread only; one sent to the process may go to another
    thread (torch's, a progress bar's), and Python would then run its handler here at once. So in the
    main thread the handlers are also replaced, for the block, by one that notes the signal; the
    handlers come back, the mask is lifted (a held signal arrives), and a noted one is raised again."""
    noted: list[int] = []
    handlers: dict[int, object] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in HELD_SIGNALS:
            with contextlib.suppress(OSError, ValueError):
                handler = signal.getsignal(signum)
                if handler not in (signal.SIG_IGN, None):
                    signal.signal(signum, lambda received, frame: noted.append(received))
                    handlers[signum] = handler
    try:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, HELD_SIGNALS)
    except (AttributeError, OSError, ValueError):  # no signal masks on this platform
        previous = None
    try:
        yield
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        if previous is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        for signum in dict.fromkeys(noted):
            signal.raise_signal(signum)


# the manifest ------------------------------------------------------------------------------------

def read_manifest(staging: Path) -> dict | None:
    """The committed swap in a staging folder ({"write": [...], "remove": [...]}), or None when
    the staging folder was never committed (its writer stopped before every file was whole)."""
    if not os.path.lexists(staging / MANIFEST):
        return None
    try:  # textgen's own file: a link, a huge or deeply nested file is not a manifest (and is never followed)
        manifest = read_json(staging / MANIFEST, "swap manifest", 1 << 20, follow_links=False)
    except TextgenError:
        return None
    if not isinstance(manifest, dict):
        return None
    names = [manifest.get("write"), manifest.get("remove")]
    if not all(isinstance(group, list) and all(isinstance(name, str) and textgen_name(name) for name in group)
               for group in names):
        return None  # a manifest naming anything else is not textgen's: nothing is moved or removed by it
    return manifest


def textgen_name(name: str) -> bool:
    """Whether a name (relative to the folder) is one of textgen's own files, the only kind a swap
    moves or removes: a model directory's and a run's files, lightning/ checkpoints and their
    temporary files."""
    if name in RUN_FILES:
        return True
    folder, _, base = name.partition("/")
    temporary = base.startswith(".") and base.endswith(".tmp") and base != ".tmp"  # a checkpoint being saved
    return folder == LIGHTNING_DIR and "/" not in base and (base in (LAST_CHECKPOINT, BEST_CHECKPOINT) or temporary)


def real_folder(path: Path) -> bool:
    """A folder itself, not a link to one."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def holds_only_textgen_files(folder: Path, extra: Iterable[str] = (MANIFEST, f"{MANIFEST}.tmp")) -> bool:
    """Whether a folder (an older textgen's .next/ or .old/) holds nothing but textgen's own files:
    textgen_name's files, their atomic writes' temporary files, a lightning/ folder of those, and
    the names in `extra`. No links. A folder holding anything else is not textgen's."""
    extra = set(extra)
    foreign = []
    for root, folders, names in os.walk(folder, onerror=foreign.append):
        place = Path(root)
        for name in folders:
            if place != folder or name != LIGHTNING_DIR or (place / name).is_symlink():
                return False
        for name in names:
            relative = (place / name).relative_to(folder).as_posix()
            if (place / name).is_symlink() or not (textgen_name(relative) or relative in extra
                                                   or temporary_of_run_file(relative)):
                return False
    return not foreign


def temporary_of_run_file(name: str) -> bool:
    """An atomic write's temporary file of one of textgen's files in the folder (.textgen.json.k2j3.tmp)."""
    return name.startswith(".") and name.endswith(".tmp") and any(name[1:].startswith(f"{run}.") for run in RUN_FILES)


def staging_folders(folder: Path) -> list[Path]:
    """The staging folders of `folder` that are textgen's: .textgen-next/, and an older textgen's
    .next/ while it holds only textgen's files."""
    found = []
    if real_folder(folder / STAGING):
        found.append(folder / STAGING)
    legacy = folder / LEGACY_STAGING
    if real_folder(legacy) and holds_only_textgen_files(legacy):
        found.append(legacy)
    return found


def current_file(folder: str | os.PathLike, name: str) -> Path:
    """Where a file of `folder` is now: in its committed staging folder while a swap is unfinished
    (a writer killed, or one swapping right now, after its commit), else in the folder."""
    folder = Path(folder)
    for staging in staging_folders(folder):
        manifest = read_manifest(staging)
        if manifest is not None and name in manifest["write"] and (staging / name).is_file():
            return staging / name
    return folder / name


# writing -----------------------------------------------------------------------------------------

def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _ordered(names: Iterable[str]) -> list[str]:
    """The names to move in, textgen.json last: a reader that sees the new description finds the new files."""
    return sorted(set(names), key=lambda name: (name == META_FILE, name))


def commit(folder: Path, staging: Path, write: Iterable[str], remove: Iterable[str] = ()) -> None:
    """Move the staged files `write` (names relative to both folders) into `folder`, removing the
    names of `remove` that are not replaced: the manifest first (the commit), then the renames,
    signals held back throughout. Call with the folder's lock held."""
    manifest = {"write": _ordered(write), "remove": sorted(set(remove) - set(write))}
    strange = [name for name in (*manifest["write"], *manifest["remove"]) if not textgen_name(name)]
    if strange:
        raise ValueError(f"a swap moves and removes only textgen's own files, not {', '.join(strange)}")
    with held_signals():
        temporary = staging / f"{MANIFEST}.tmp"
        try:
            with open(temporary, "w", encoding="utf-8") as file:
                file.write(json.dumps(manifest))
                file.flush()
                os.fsync(file.fileno())
            _fsync_folder(staging)
            os.replace(temporary, staging / MANIFEST)
        except OSError:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise
        _fsync_folder(staging)
        finish(folder, staging, manifest)


def finish(folder: Path, staging: Path, manifest: dict) -> None:
    """Carry out a committed swap (again, after a kill: every step may be repeated)."""
    touched = {folder}
    for name in manifest["remove"]:
        with contextlib.suppress(FileNotFoundError):
            (folder / name).unlink()
        touched.add((folder / name).parent)
    for name in manifest["write"]:
        source = staging / name
        if source.is_file():
            target = folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
            touched.add(target.parent)
    for place in sorted(touched, key=lambda path: len(path.parts), reverse=True):
        _fsync_folder(place)
        if place != folder and place.is_relative_to(folder):
            with contextlib.suppress(OSError):
                place.rmdir()  # a lightning/ folder that held only what was removed; a user's file keeps it
    with contextlib.suppress(FileNotFoundError):
        (staging / MANIFEST).unlink()
    shutil.rmtree(staging, ignore_errors=True)


def recover(folder: str | os.PathLike) -> str | None:
    """Finish a committed swap a killed writer left, or remove its uncommitted staging folder
    (call with the lock held; an older textgen's .next/ too, while it holds only textgen's files).
    Returns what was done, or None. Something other than a folder where textgen stages (a link,
    a file) is refused: nothing is written through it."""
    folder = Path(folder)
    if os.path.lexists(folder / STAGING) and not real_folder(folder / STAGING):
        raise TextgenError(f"{folder / STAGING} is in the way of textgen's staging folder (it is not a folder textgen "
                           "made): move it away")
    done = None
    for staging in staging_folders(folder):
        manifest = read_manifest(staging)
        if manifest is not None:
            finish(folder, staging, manifest)
            done = "finished replacing its files (a write was interrupted after the new files were whole)"
        else:
            shutil.rmtree(staging, ignore_errors=True)
            done = done or "removed an unfinished write (stopped before its files were whole; the files in place were kept)"
    return done


def write_staged(folder: str | os.PathLike, contents: dict[str, bytes], copies: dict[str, Path] | None = None,
                 remove: Iterable[str] = (), hint: str = "give another folder") -> None:
    """Replace files of `folder` as one step: `contents` ({name: bytes}) and `copies` ({name: file
    to copy}) are staged, then swapped in, the names in `remove` going (textgen's own names only).

    A failure before the swap (a full disk, a file-size limit, Ctrl-C) removes the staged files and
    leaves the folder as it was (a folder this call made is removed again): OSError becomes one
    TextgenError that says so."""
    folder = Path(folder)
    check_not_loop(folder, "output folder")
    with removed_on_failure(folder):
        with locked(folder, hint):
            recover(folder)
            staging = folder / STAGING
            try:
                staging.mkdir()
                for name, data in contents.items():
                    _write_file(staging / name, data)
                for name, source in (copies or {}).items():
                    _copy_file(source, staging / name)
            except BaseException as error:
                shutil.rmtree(staging, ignore_errors=True)
                if isinstance(error, OSError) and not isinstance(error, TextgenError):
                    raise WriteFailed(f"could not write {folder} ({_reason(error)}): the files there are unchanged; "
                                      f"{_advice(error)}", error) from None
                raise
            try:
                commit(folder, staging, [*contents, *(copies or {})], remove)
            except OSError as error:
                if read_manifest(staging) is None:
                    shutil.rmtree(staging, ignore_errors=True)
                    raise WriteFailed(f"could not write {folder} ({_reason(error)}): the files there are unchanged; "
                                      f"{_advice(error)}", error) from None
                raise WriteFailed(f"could not finish replacing the files in {folder} ({_reason(error)}): the new set is "
                                  f"whole in {staging}, textgen loads it from there, and the next textgen command that "
                                  "writes the folder finishes the move", error) from None


@contextlib.contextmanager
def removed_on_failure(folder: Path) -> Iterator[None]:
    """The folders of `folder`'s path that do not exist yet are removed again if the block fails
    (when empty: a failed write leaves no folder behind)."""
    missing = missing_folders(folder)
    try:
        yield
    except BaseException:
        for place in missing:
            with contextlib.suppress(OSError):
                place.rmdir()
        raise


def _reason(error: OSError) -> str:
    return error.strerror or str(error)


def _advice(error: OSError) -> str:
    if error.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return "free some space, or write elsewhere"
    if error.errno == errno.EFBIG:
        return "the file-size limit (ulimit -f) is smaller than the files: raise it, or write elsewhere"
    return "check the folder's permissions, or write elsewhere"


def _write_file(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


def _copy_file(source: Path, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(source, "rb") as reader, open(path, "wb") as file:
        shutil.copyfileobj(reader, file, 1 << 20)
        file.flush()
        os.fsync(file.fileno())
