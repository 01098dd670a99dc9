"""textgen/modeldir/swap.py on its own: a set of files replaced as one step, only textgen's names moved or
removed, the lock, signals held over the renames, and recovery of what a killed writer left (kills at every
rename of real commands: tests/e2e/test_model_writes.py)."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys

import pytest
from tests.conftest import ONE_THREAD, REPO

from textgen.errors import TextgenError
from textgen.modeldir import swap
from textgen.modeldir.swap import (
    LOCK_FILE, MANIFEST, STAGING, FolderLock, WriteFailed, commit, current_file, holds_lock, locked,
    recover, textgen_name, write_staged
)


def folder_with(tmp_path, **files):
    folder = tmp_path / "model"
    folder.mkdir()
    for name, text in files.items():
        (folder / name.replace("__", ".")).write_text(text)
    return folder


def names(folder) -> list[str]:
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*"))


@pytest.mark.parametrize(("name", "ours"), [
    ("textgen.json", True), ("model.safetensors", True), ("tokenizer.model", True), ("loss.png", True),
    ("lightning/last.ckpt", True), ("lightning/best.ckpt", True), ("lightning/.last.ckpt.12.tmp", True),
    ("notes.txt", False), ("lightning/other.ckpt", False), ("lightning/.tmp", False), ("lightning/a/last.ckpt", False),
    ("../textgen.json", False), ("sub/textgen.json", False),
])
def test_textgen_names(name, ours):
    assert textgen_name(name) is ours


def test_write_staged_replaces_the_set_removes_only_what_it_names_and_keeps_a_users_file(tmp_path):
    folder = folder_with(tmp_path, textgen__json="old", model__safetensors="old weights", loss__png="old curve",
                         notes__txt="mine")
    write_staged(folder, {"textgen.json": b"new", "model.safetensors": b"new weights"}, remove=["loss.png"])
    assert names(folder) == ["model.safetensors", "notes.txt", "textgen.json"]  # no staging folder, no lock left
    assert (folder / "textgen.json").read_text() == "new" and (folder / "model.safetensors").read_text() == "new weights"
    assert (folder / "notes.txt").read_text() == "mine"


def test_copies_are_staged_like_contents(tmp_path):
    source = tmp_path / "best.ckpt"
    source.write_bytes(b"checkpoint")
    folder = tmp_path / "new" / "run"
    write_staged(folder, {"textgen.json": b"{}"}, copies={"lightning/best.ckpt": source})
    assert names(folder) == ["lightning", "lightning/best.ckpt", "textgen.json"]
    assert (folder / "lightning" / "best.ckpt").read_bytes() == b"checkpoint" and source.exists()


def test_a_swap_never_moves_or_removes_a_users_file(tmp_path):
    folder = folder_with(tmp_path, notes__txt="mine")
    (folder / STAGING).mkdir()
    with pytest.raises(ValueError, match="only textgen's own files, not notes.txt"):
        commit(folder, folder / STAGING, ["textgen.json"], remove=["notes.txt"])
    assert (folder / "notes.txt").read_text() == "mine"


def test_a_failed_write_leaves_the_folder_as_it_was_and_says_why(tmp_path, monkeypatch):
    folder = folder_with(tmp_path, textgen__json="old")

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(swap, "_write_file", full)
    with pytest.raises(WriteFailed) as error:
        write_staged(folder, {"textgen.json": b"new"})
    assert str(error.value) == (f"could not write {folder} (No space left on device): the files there are unchanged; "
                                "free some space, or write elsewhere")
    assert isinstance(error.value, TextgenError) and error.value.errno == errno.ENOSPC
    assert names(folder) == ["textgen.json"] and (folder / "textgen.json").read_text() == "old"
    with pytest.raises(WriteFailed):
        write_staged(tmp_path / "made" / "here", {"textgen.json": b"new"})
    assert not (tmp_path / "made").exists()  # the folders the write made go again


def committed_but_unfinished(tmp_path):
    """A writer killed after its commit: the manifest is written, the new textgen.json is still staged."""
    folder = folder_with(tmp_path, textgen__json="old", model__safetensors="new weights", loss__png="old curve")
    staging = folder / STAGING
    staging.mkdir()
    (staging / "textgen.json").write_text("new")
    (staging / MANIFEST).write_text(json.dumps({"write": ["model.safetensors", "textgen.json"], "remove": ["loss.png"]}))
    return folder


def test_readers_take_a_committed_file_from_the_staging_folder(tmp_path):
    folder = committed_but_unfinished(tmp_path)
    assert current_file(folder, "textgen.json") == folder / STAGING / "textgen.json"
    assert current_file(folder, "model.safetensors") == folder / "model.safetensors"  # already moved in
    (folder / STAGING / MANIFEST).unlink()  # not committed: the staged file is not the model's yet
    assert current_file(folder, "textgen.json") == folder / "textgen.json"


def test_recover_finishes_a_committed_swap(tmp_path):
    folder = committed_but_unfinished(tmp_path)
    assert recover(folder).startswith("finished replacing its files")
    assert names(folder) == ["model.safetensors", "textgen.json"] and (folder / "textgen.json").read_text() == "new"
    assert recover(folder) is None


def test_recover_removes_an_uncommitted_staging_folder(tmp_path):
    folder = folder_with(tmp_path, textgen__json="old")
    (folder / STAGING).mkdir()
    (folder / STAGING / "textgen.json").write_text("half")
    assert recover(folder).startswith("removed an unfinished write")
    assert names(folder) == ["textgen.json"] and (folder / "textgen.json").read_text() == "old"


def test_a_manifest_naming_a_users_file_is_not_textgens(tmp_path):
    folder = committed_but_unfinished(tmp_path)
    (folder / STAGING / MANIFEST).write_text(json.dumps({"write": ["textgen.json"], "remove": ["notes.txt"]}))
    assert current_file(folder, "textgen.json") == folder / "textgen.json"
    recover(folder)  # removed as an unfinished write: nothing it names is touched
    assert (folder / "textgen.json").read_text() == "old"


def test_an_older_textgens_next_folder_is_recovered_only_when_it_holds_textgens_files(tmp_path):
    folder = folder_with(tmp_path, textgen__json="old")
    (folder / ".next").mkdir()
    (folder / ".next" / "textgen.json").write_text("half")
    assert recover(folder) is not None and not (folder / ".next").exists()
    (folder / ".next").mkdir()
    (folder / ".next" / "page.js").write_text("a web project's")
    assert recover(folder) is None and (folder / ".next" / "page.js").read_text() == "a web project's"


def test_something_else_where_textgen_stages_is_refused(tmp_path):
    folder = folder_with(tmp_path, textgen__json="old")
    (folder / STAGING).write_text("a file")
    with pytest.raises(TextgenError, match="is in the way of textgen's staging folder"):
        recover(folder)


def test_the_lock_is_exclusive_names_its_owner_and_goes_with_its_holder(tmp_path):
    folder = tmp_path / "run"
    with FolderLock(folder):
        assert (folder / LOCK_FILE).read_text() == f"pid {os.getpid()}\n" and holds_lock(folder)
        with pytest.raises(TextgenError) as error:
            FolderLock(folder, hint="give another --out").__enter__()
        assert str(error.value) == (f"{folder} is in use by another textgen process (pid {os.getpid()}): wait for it to "
                                    "finish, or give another --out")
        with locked(folder):  # this process holds it already: no second lock
            pass
    assert not (folder / LOCK_FILE).exists() and not holds_lock(folder)


@pytest.mark.parametrize(("planted", "fragment"), [("text", "holds other text"), ("link", "symbolic link"),
                                                    ("folder", "not textgen's lock")])
def test_a_lock_file_that_is_not_textgens_is_refused_and_left_alone(tmp_path, planted, fragment):
    folder = folder_with(tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    lock = folder / LOCK_FILE
    {"text": lambda: lock.write_text("precious"), "link": lambda: lock.symlink_to(victim), "folder": lock.mkdir}[planted]()
    with pytest.raises(TextgenError, match=fragment):
        FolderLock(folder).__enter__()
    assert victim.read_text() == "precious" and os.path.lexists(lock)


def test_a_lock_path_that_is_a_file_or_a_dangling_link_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(TextgenError, match="is a file, not a folder"):
        FolderLock(tmp_path / "file").__enter__()
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(TextgenError, match="which does not exist"):
        FolderLock(tmp_path / "dangling").__enter__()


HELD_SIGNAL = r"""
import os, signal, sys, threading, time
from textgen.modeldir.swap import held_signals

if sys.argv[1] == "thread":  # another thread, as torch's, a progress bar's or a watcher's in a real command
    threading.Thread(target=threading.Event().wait, daemon=True).start()
received = []
signal.signal(signal.SIGHUP, lambda signum, frame: received.append(signum))
with held_signals():
    os.kill(os.getpid(), signal.SIGHUP)  # process-directed, as Ctrl-C or a kill from outside
    for _ in range(30):  # 0.3 s for a handler to run, were the signal let through (the GIL taken back after
        time.sleep(0.01)  # each sleep looks at pending signals)
    inside = list(received)
for _ in range(300):
    if received:
        break
    time.sleep(0.01)
print(inside, received)
"""


def held_signal_run(threads: str) -> str:
    done = subprocess.run([sys.executable, "-c", HELD_SIGNAL, threads], cwd=REPO, env=ONE_THREAD, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_signals_wait_until_the_renames_are_done():
    """In a fresh process of one thread (this test process may have threads of earlier tests)."""
    assert held_signal_run("alone") == f"[] [{int(signal.SIGHUP)}]"


def test_signals_wait_until_the_renames_are_done_in_a_process_with_other_threads():
    """A process-directed signal may go to a thread that does not block it (textgen export has three
    threads at its renames): Python then ran the handler in the middle of the renames."""
    assert held_signal_run("thread") == f"[] [{int(signal.SIGHUP)}]"
