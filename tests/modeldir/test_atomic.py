"""Output checks and atomic writes: nothing lost, nothing half-written, nothing left behind."""

from __future__ import annotations

import errno
import os

import pytest

from textgen.modeldir.atomic import atomic_open, prepare_output, write_bytes
from textgen.errors import TextgenError


def test_full_disk_keeps_the_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "model.bin"
    target.write_bytes(b"old")

    def full(_fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(TextgenError, match="No space left on device.*intact"):
        write_bytes(target, b"new contents")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["model.bin"]


def test_an_exception_mid_write_removes_the_temporary_file(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(KeyboardInterrupt):
        with atomic_open(target) as file:
            file.write("half")
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []


def test_folders_are_created_only_when_writing(tmp_path):
    target = prepare_output(tmp_path / "a" / "b" / "out.txt")
    assert not (tmp_path / "a").exists()
    write_bytes(target, b"x")
    assert target.read_bytes() == b"x"


@pytest.mark.parametrize("case", ["fifo", "folder", "slash", "under-file", "input"])
def test_bad_output_paths(tmp_path, case):
    source = tmp_path / "corpus.txt"
    source.write_text("story")
    path = {"fifo": tmp_path / "pipe", "folder": tmp_path, "slash": f"{tmp_path}/new/",
            "under-file": source / "out.txt", "input": source}[case]
    if case == "fifo":
        os.mkfifo(path)
    with pytest.raises(TextgenError) as error:
        prepare_output(path, inputs=[source])
    assert "\n" not in str(error.value)
    assert source.read_text() == "story"


def test_symbolic_links_are_written_through(tmp_path):
    real = tmp_path / "real.txt"
    real.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    write_bytes(prepare_output(link), b"new")
    assert link.is_symlink() and real.read_text() == "new"


def test_a_link_given_as_it_is_is_written_through_and_loops_and_the_shipped_model_are_refused(tmp_path):
    from textgen.modeldir.shipped import SHIPPED_DIR

    real = tmp_path / "real.txt"
    real.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    write_bytes(link, b"new")  # the path as the user gave it, as plots write
    assert link.is_symlink() and real.read_text() == "new"
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    for path in (loop, loop / "below.txt"):
        with pytest.raises(TextgenError, match="loop of symbolic links"):
            write_bytes(path, b"x")
        with pytest.raises(TextgenError, match="loop of symbolic links"):
            prepare_output(path)
    shipped = SHIPPED_DIR / "tinystories-lstm" / "never-written.txt"
    with pytest.raises(TextgenError, match="shipped model tinystories"):
        write_bytes(shipped, b"x")
    assert not shipped.exists()


def test_only_regular_files_are_replaced_a_link_to_a_pipe_included(tmp_path):
    """A write through a link to a device once turned the device into a regular file: anything
    but a regular file at the path, or at the end of a link the user named, is refused."""
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    link = tmp_path / "link.txt"
    link.symlink_to(pipe)
    folder = tmp_path / "folder"
    folder.mkdir()
    for path in (pipe, link, folder):
        with pytest.raises(TextgenError) as raised:
            write_bytes(path, b"x")
        assert "\n" not in str(raised.value)
    import stat

    assert stat.S_ISFIFO(os.lstat(pipe).st_mode) and link.is_symlink() and folder.is_dir()
    with pytest.raises(TextgenError, match="is a pipe"):
        prepare_output(link)


@pytest.mark.parametrize("marker", ["textgen.json", ".textgen.lock"])
def test_a_link_inside_a_folder_textgen_manages_is_replaced_not_followed(tmp_path, marker):
    """In a model directory or run folder (it holds textgen.json or textgen's lock) and its
    lightning/, a link is the folder's own entry: a write replaces it, its target stays."""
    model = tmp_path / "model"
    (model / "lightning").mkdir(parents=True)
    (model / marker).write_text("{}")
    victim = tmp_path / "victim.txt"
    victim.write_text("mine")
    for path in (model / "metrics.csv", model / "lightning" / "notes.bin"):
        path.symlink_to(victim)
        write_bytes(path, b"new")
        assert not path.is_symlink() and path.read_bytes() == b"new"
    assert victim.read_text() == "mine"


def test_follow_links_false_replaces_the_link_anywhere(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("mine")
    link = tmp_path / "cache.bin"
    link.symlink_to(victim)
    write_bytes(link, b"new", follow_links=False)
    assert victim.read_text() == "mine" and not link.is_symlink() and link.read_bytes() == b"new"
