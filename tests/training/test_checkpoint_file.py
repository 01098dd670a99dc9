"""textgen/training/checkpoint_file.py: a checkpoint written whole or not at all, the words and remedy for a
failed write, the captured checkpoint, and the temporary files a killed write leaves."""

from __future__ import annotations

import errno
import os

import pytest
import torch

from textgen.errors import TextgenError
from textgen.modeldir.layout import LIGHTNING_DIR
from textgen.training.checkpoint_file import CheckpointCapture, reason, remedy, remove_partial_files, write_checkpoint


def test_a_checkpoint_is_written_whole_and_replaces_the_old_one(tmp_path):
    path = tmp_path / "last.ckpt"
    write_checkpoint({"step": 1, "weights": torch.ones(3)}, path)
    write_checkpoint({"step": 2, "weights": torch.zeros(3)}, path)
    loaded = torch.load(path, weights_only=True)
    assert loaded["step"] == 2 and torch.equal(loaded["weights"], torch.zeros(3))
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    write_checkpoint({"step": 1}, path)
    before = path.read_bytes()
    real_fsync = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError) as error:
        write_checkpoint({"step": 2}, path)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert error.value.errno == errno.ENOSPC
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_a_link_planted_at_the_temporary_name_is_never_written_through(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    path = tmp_path / "last.ckpt"
    (tmp_path / f".last.ckpt.{os.getpid()}.tmp").symlink_to(victim)
    write_checkpoint({"step": 3}, path)
    assert victim.read_text() == "precious" and torch.load(path, weights_only=True) == {"step": 3}


def wrapped_in_textgen_error(error: OSError) -> TextgenError:
    """A TextgenError raised while handling `error`, as an atomic write raises one: the OSError is its context."""
    with pytest.raises(TextgenError) as raised:
        try:
            raise error
        except OSError:
            raise TextgenError("cannot write") from None
    return raised.value


@pytest.mark.parametrize(("number", "expected"), [
    (errno.EFBIG, "raise the file-size limit (ulimit -f)"), (errno.EACCES, "make the folder writable"),
    (errno.EPERM, "make the folder writable"), (errno.EROFS, "make the folder writable"), (errno.ENOSPC, "free space"),
])
def test_the_remedy_follows_the_cause(number, expected):
    error = OSError(number, os.strerror(number))
    assert remedy(error) == expected and reason(error) == os.strerror(number)
    wrapped = wrapped_in_textgen_error(error)
    assert remedy(wrapped) == expected and reason(wrapped) == os.strerror(number)


def test_an_error_with_no_os_cause_is_said_as_it_is():
    assert reason(RuntimeError("zip writer failed")) == "zip writer failed" and remedy(RuntimeError("x")) == "free space"


def test_the_capture_keeps_the_checkpoint_once():
    capture = CheckpointCapture()
    assert capture.take() is None
    capture.save_checkpoint({"step": 4}, "ignored/path.ckpt")
    assert capture.take() == {"step": 4} and capture.take() is None


def test_only_textgens_own_temporary_files_are_removed(tmp_path):
    lightning = tmp_path / LIGHTNING_DIR
    lightning.mkdir()
    partial = [tmp_path / ".textgen.json.123.tmp", lightning / ".last.ckpt.99.tmp", lightning / ".best.ckpt.7.tmp"]
    kept = [tmp_path / ".notes.txt.1.tmp", tmp_path / "textgen.json", lightning / "last.ckpt", tmp_path / "mine.tmp"]
    for path in partial + kept:
        path.write_text("x")
    (tmp_path / ".model.safetensors.5.tmp").mkdir()  # a folder is not a temporary file
    assert sorted(remove_partial_files(tmp_path)) == sorted(partial)
    assert all(path.exists() for path in kept) and (tmp_path / ".model.safetensors.5.tmp").is_dir()
    assert remove_partial_files(tmp_path / "missing") == []
