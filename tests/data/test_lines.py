"""Reading text files line by line with every line capped while it is read (textgen/data/lines.py)."""

from __future__ import annotations

import pytest
from tests.conftest import write_repeated

from textgen.data.corpus import read_stories
from textgen.errors import TextgenError


def test_the_line_reader_holds_no_more_than_the_cap_and_a_buffer(tmp_path):
    """A 5 MB line with a 1,000-byte cap: refused once the cap is passed, the file read no further
    than the cap and one read-ahead buffer, the line number and the fix named."""
    from textgen.data.lines import capped_lines

    path = write_repeated(tmp_path / "long.txt", b"a", 5_000_000, head=b"short line\n" * 3)
    with open(path, "rb") as file:
        lines = capped_lines(file, path, max_bytes=1000)
        assert [next(lines) for _ in range(3)] == [b"short line\n"] * 3
        with pytest.raises(TextgenError) as error:
            next(lines)
        assert file.tell() <= 33 + 1002  # three short lines, then at most the cap and a CR LF
    assert str(error.value) == (f"line 4 of {path} is longer than 1,000 bytes: is it a text file? "
                                "Split long lines (a story or a review is far shorter)")


def test_the_line_reader_splits_old_mac_lines_and_keeps_crlf_whole():
    """A file of lone-CR lines longer than the cap reads line by line (none is too long), and a
    CR LF that straddles a read is one line ending, not a blank line."""
    import io

    from textgen.data.lines import capped_lines

    text = b"".join(b"line %d of an old Mac file\r" % number for number in range(200))  # about 5,000 bytes, no LF
    pieces = b"".join(capped_lines(io.BytesIO(text), "mac.txt", max_bytes=100)).split(b"\r")
    assert pieces[:-1] == [b"line %d of an old Mac file" % number for number in range(200)] and pieces[-1] == b""
    crlf = b"x" * 98 + b"\r\nnext\r\n"  # the CR is the 99th byte: the first read ends just after it
    assert list(capped_lines(io.BytesIO(crlf), "crlf.txt", max_bytes=98)) == [b"x" * 98 + b"\r\n", b"next\r\n"]
    with pytest.raises(TextgenError, match="line 2 of crlf.txt is longer than 97 bytes"):
        list(capped_lines(io.BytesIO(b"ok\n" + b"y" * 98 + b"\n"), "crlf.txt", max_bytes=97))


def test_devices_and_pipes_are_not_read_as_data_files(tmp_path):
    import os

    from textgen.data.lines import iter_lines

    with pytest.raises(TextgenError, match="corpus path /dev/zero is neither a file nor a folder"):
        read_stories("/dev/zero")
    device = tmp_path / "zero.jsonl"
    device.symlink_to("/dev/zero")
    with pytest.raises(TextgenError, match=r"zero\.jsonl is a device or socket, not a regular file: give a text file$"):
        next(iter_lines(device))
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    with pytest.raises(TextgenError, match=r"pipe\.txt is a pipe, not a regular file"):
        next(iter_lines(fifo))
    with pytest.raises(TextgenError, match="is a folder, not a file"):
        next(iter_lines(tmp_path))
