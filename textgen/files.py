"""Reading the small files textgen opens (model descriptions, tokenizer files, config files):
only regular files (never a FIFO, a device or a folder, which could hang or never end), at most
a stated size, text as UTF-8, and JSON parsed with a limit on how deeply it nests. Every
refusal is a TextgenError naming the file and the fix.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from textgen.errors import TextgenError

MAX_DEPTH = 64  # textgen's own JSON nests 4 levels; far deeper is damage or an attack, not data


READ_STEP = 64 << 20  # a file that grew past its stat size is read on in steps of this many bytes


def read_bytes(path: str | os.PathLike, what: str, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most `max_bytes`. Only what the file holds is reserved
    (its size when opened, plus one byte to notice growth): `max_bytes` is a limit, never an
    allocation, so a 16 GiB limit costs a 7 MB file 7 MB."""
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise TextgenError(f"{what} {path} does not exist") from None
    except OSError as error:
        raise TextgenError(f"cannot read {what} {path} ({error.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file (a pipe, device or socket)"
        raise TextgenError(f"{what} {path} is {kind}: give a regular file")
    if info.st_size > max_bytes:
        raise TextgenError(f"{what} {path} has {info.st_size:,} bytes, more than the {max_bytes:,} such a file can have: "
                           "is it the right file?")
    try:
        with open(path, "rb") as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):  # replaced by a pipe since the stat
                raise TextgenError(f"{what} {path} is not a regular file (a pipe, device or socket): give a regular file")
            data = file.read(info.st_size + 1)
            if len(data) > info.st_size:  # it grew since the stat: read on, a step at a time, to the limit
                parts = [data]
                total = len(data)
                while total <= max_bytes:
                    part = file.read(min(READ_STEP, max_bytes + 1 - total))
                    if not part:
                        break
                    parts.append(part)
                    total += len(part)
                data = b"".join(parts)
    except OSError as error:
        raise TextgenError(f"cannot read {what} {path} ({error.strerror})") from None
    if len(data) > max_bytes:
        raise TextgenError(f"{what} {path} grew past {max_bytes:,} bytes while it was read: is it the right file?")
    return data


def read_text(path: str | os.PathLike, what: str, max_bytes: int) -> str:
    """The UTF-8 text of a regular file of at most `max_bytes`."""
    data = read_bytes(path, what, max_bytes)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise TextgenError(f"{what} {path} is not UTF-8 (byte offset {error.start}): save it as UTF-8") from None


def nesting_depth(text: str) -> int:
    """How deeply JSON text nests arrays and objects (brackets inside strings do not count)."""
    depth = deepest = 0
    in_string = escaped = False
    for character in text:
        if in_string:
            if escaped:
                escaped = False
            elif character == "\\":
                escaped = True
            elif character == '"':
                in_string = False
        elif character == '"':
            in_string = True
        elif character in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif character in "]}":
            depth -= 1
    return deepest


def parse_json(text: str, what: str, max_depth: int = MAX_DEPTH):
    """json.loads with a nesting limit (Python's own parser recurses and fails deep inputs with a
    RecursionError): one clear error instead."""
    if text.count("[") + text.count("{") > max_depth and nesting_depth(text) > max_depth:  # the count is a quick bound
        raise TextgenError(f"{what} nests deeper than {max_depth} levels: it is damaged or not what textgen wrote")
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:
        detail = error.msg if isinstance(error, json.JSONDecodeError) else "too deeply nested"
        raise TextgenError(f"{what} is not valid JSON ({detail})") from None


def read_json(path: str | os.PathLike, what: str, max_bytes: int, max_depth: int = MAX_DEPTH):
    """A regular JSON file of at most `max_bytes`, parsed with a nesting limit."""
    return parse_json(read_text(path, what, max_bytes), f"{what} {path}", max_depth)


def read_stream(stream, what: str, max_bytes: int) -> bytes:
    """At most `max_bytes` of an open binary stream (standard input), read to its end: more is
    refused once `max_bytes` + 1 have been read, so an endless stream cannot fill memory."""
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise TextgenError(f"{what} holds more than {max_bytes:,} bytes: give a shorter text (or a file to a command "
                           "that reads files)")
    return data
