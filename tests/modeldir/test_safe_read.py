"""textgen/modeldir/safe_read.py directly: regular files only, size caps, UTF-8, and JSON with a nesting limit."""

from __future__ import annotations

import os

import pytest

from textgen.errors import TextgenError
from textgen.modeldir.safe_read import MAX_DEPTH, nesting_depth, parse_json, read_bytes, read_json, read_text


def test_a_regular_file_within_its_cap_is_read(tmp_path):
    path = tmp_path / "a.json"
    path.write_text('{"a": [1, 2, {"b": "x"}]}')
    assert read_bytes(path, "file", 100) == path.read_bytes()
    assert read_json(path, "model description", 100) == {"a": [1, 2, {"b": "x"}]}


@pytest.mark.parametrize(("make", "fragment"), [
    (lambda folder: folder / "missing.json", "does not exist"),
    (lambda folder: folder, "is a folder"),
    (lambda folder: (folder / "big.json").write_text("x" * 101) and folder / "big.json", "101 bytes, more than the 100"),
])
def test_missing_folders_and_oversized_files_are_refused_by_name(tmp_path, make, fragment):
    path = make(tmp_path)
    with pytest.raises(TextgenError, match=fragment) as raised:
        read_bytes(path, "config file", 100)
    assert str(path) in str(raised.value) and "config file" in str(raised.value)


def test_a_fifo_is_refused_without_opening_it(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)  # opening it for reading would block until a writer came
    with pytest.raises(TextgenError, match="not a regular file"):
        read_text(fifo, "tokenizer file", 100)


def test_text_must_be_utf8(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("café".encode("latin-1"))
    with pytest.raises(TextgenError, match="not UTF-8 .byte offset 3.: save it as UTF-8"):
        read_text(path, "config file", 100)


def test_nesting_depth_ignores_brackets_inside_strings():
    assert nesting_depth('{"a": [[1], {"b": "[[[{{{"}]}') == 3
    assert nesting_depth('"\\"[["') == 0 and nesting_depth("[]") == 1


def test_json_deeper_than_the_limit_is_one_error_and_bad_json_says_why():
    deep = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    with pytest.raises(TextgenError, match=f"nests deeper than {MAX_DEPTH} levels"):
        parse_json(deep, "textgen.json")
    at_limit = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert nesting_depth(at_limit) == MAX_DEPTH and isinstance(parse_json(at_limit, "x"), list)
    with pytest.raises(TextgenError, match="is not valid JSON .Expecting"):
        parse_json('{"a": }', "textgen.json")


def test_an_integer_of_more_digits_than_python_converts_is_one_error():
    """json.loads raises ValueError (not JSONDecodeError) for an integer over 4,300 digits."""
    for text in ('{"a": ' + "9" * 5000 + "}", "[" + "1" * 4301 + "]"):
        with pytest.raises(TextgenError, match="holds a number of more than 4,300 digits") as raised:
            parse_json(text, "textgen.json")
        assert "\n" not in str(raised.value) and "Exceeds the limit" not in str(raised.value)
    assert parse_json("[" + "1" * 4300 + "]", "x")[0] > 0  # at the limit it is a number


def test_a_link_is_refused_where_links_are_not_followed(tmp_path):
    target = tmp_path / "target.json"
    target.write_text("{}")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    assert read_json(link, "description", 100) == {}
    with pytest.raises(TextgenError, match="is a symbolic link"):
        read_json(link, "description", 100, follow_links=False)


def test_too_little_memory_to_read_a_file_is_one_error(tmp_path):
    """A sparse 2 GiB file under a 1 GiB address-space limit: the read cannot be reserved."""
    import subprocess
    import sys

    from tests.conftest import REPO

    big = tmp_path / "big.bin"
    with open(big, "wb") as file:
        file.truncate(2 << 30)  # sparse: no disk used
    code = ("import resource, sys\n"
            "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
            "from textgen.errors import TextgenError\n"
            "from textgen.modeldir.safe_read import read_bytes\n"
            "try:\n"
            "    read_bytes(sys.argv[1], 'model file', 4 << 30)\n"
            "except TextgenError as error:\n"
            "    print(error)\n")
    done = subprocess.run([sys.executable, "-c", code, str(big)], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("not enough memory to read model file") and "ulimit -v" in done.stdout
