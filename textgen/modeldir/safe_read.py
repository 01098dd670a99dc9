"""Reading the small files textgen opens (model descriptions, tokenizer files, config files):
only regular files (never a FIFO, a device or a folder, which could hang or never end), at most
a stated size, text as UTF-8, and JSON parsed with a limit on how deeply it nests. Every
refusal is a TextgenError naming the file and the fix.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import sys
from pathlib import Path

from textgen.errors import TextgenError

MAX_DEPTH = 64  # textgen's own JSON nests 4 levels; far deeper is damage or an attack, not data


READ_STEP = 64 << 20  # a file that grew past its stat size is read on in steps of this many bytes
NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)
MAX_QUOTED = 80  # characters of a value quoted in a message; the rest is elided


def kind_of(mode: int) -> str:
    """What a file that is not a regular file is, for a message: "a folder", "a pipe", "a device" ..."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a regular file" if stat.S_ISREG(mode) else "a special file"


def shorten(text: str, limit: int = MAX_QUOTED) -> str:
    """A value of the user's data for a message: at most `limit` characters of it, and its length
    when cut (a 100,000-character label on one line helps nobody)."""
    text = str(text)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def read_bytes(path: str | os.PathLike, what: str, max_bytes: int, follow_links: bool = True) -> bytes:
    """The bytes of a regular file of at most `max_bytes`. Only what the file holds is reserved
    (its size when opened, plus one byte to notice growth): `max_bytes` is a limit, never an
    allocation, so a 16 GiB limit costs a 7 MB file 7 MB. With `follow_links` False a symbolic
    link is refused (a file of a folder textgen manages, which a link could point anywhere)."""
    path = Path(path)
    try:
        info = path.stat() if follow_links else path.lstat()
    except FileNotFoundError:
        raise TextgenError(f"{what} {path} does not exist") from None
    except OSError as error:
        raise TextgenError(f"cannot read {what} {path} ({error.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise TextgenError(f"{what} {path} is {kind_of(info.st_mode)}, not a regular file: give a regular file")
    if info.st_size > max_bytes:
        raise TextgenError(f"{what} {path} has {info.st_size:,} bytes, more than the {max_bytes:,} such a file can have: "
                           "is it the right file?")
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | (0 if follow_links else NO_FOLLOW))
        with open(descriptor, "rb") as file:
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
    except MemoryError:
        raise TextgenError(f"not enough memory to read {what} {path} ({info.st_size:,} bytes): free some memory, or raise "
                           "the limit (ulimit -v)") from None
    except OSError as error:
        if error.errno == errno.ELOOP and not follow_links:  # it became a link since the lstat
            raise TextgenError(f"{what} {path} is a symbolic link: give a regular file") from None
        raise TextgenError(f"cannot read {what} {path} ({error.strerror})") from None
    if len(data) > max_bytes:
        raise TextgenError(f"{what} {path} grew past {max_bytes:,} bytes while it was read: is it the right file?")
    return data


def read_text(path: str | os.PathLike, what: str, max_bytes: int, follow_links: bool = True) -> str:
    """The UTF-8 text of a regular file of at most `max_bytes`."""
    data = read_bytes(path, what, max_bytes, follow_links)
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


class JSONProblem(TextgenError):
    """JSON that textgen cannot read: `detail` says why, in a few words, for a caller's own message."""

    def __init__(self, message: str, detail: str):
        super().__init__(message)
        self.detail = detail


def parse_json(text: str, what: str, max_depth: int = MAX_DEPTH):
    """json.loads with a nesting limit (Python's own parser recurses and fails deep inputs with a
    RecursionError) and Python's limit on an integer's digits: one clear error (JSONProblem)
    instead of a traceback."""
    if text.count("[") + text.count("{") > max_depth and nesting_depth(text) > max_depth:  # the count is a quick bound
        raise JSONProblem(f"{what} nests deeper than {max_depth} levels: it is damaged or not what textgen wrote",
                          f"nested deeper than {max_depth} levels")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise JSONProblem(f"{what} is not valid JSON ({error.msg})", error.msg) from None
    except RecursionError:
        raise JSONProblem(f"{what} is not valid JSON (too deeply nested)", "too deeply nested") from None
    except ValueError:  # Python refuses to convert an integer of more than sys.get_int_max_str_digits() digits
        detail = f"a number of more than {sys.get_int_max_str_digits():,} digits"
        raise JSONProblem(f"{what} holds {detail} (it is damaged, or not a file textgen reads)", detail) from None


def read_json(path: str | os.PathLike, what: str, max_bytes: int, max_depth: int = MAX_DEPTH, follow_links: bool = True):
    """A regular JSON file of at most `max_bytes`, parsed with a nesting limit."""
    return parse_json(read_text(path, what, max_bytes, follow_links), f"{what} {path}", max_depth)


def read_stream(stream, what: str, max_bytes: int) -> bytes:
    """At most `max_bytes` of an open binary stream (standard input), read to its end: more is
    refused once `max_bytes` + 1 have been read, so an endless stream cannot fill memory."""
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise TextgenError(f"{what} holds more than {max_bytes:,} bytes: give a shorter text (or a file to a command "
                           "that reads files)")
    return data
