"""Reading text files line by line, bounded while reading: a regular file (or a pipe where a
command allows one, never a device), decompressed when it is .gz, checked for binary data,
UTF-16/32 and UTF-8, and no line longer than MAX_LINE_BYTES held in memory. Every refusal is one
TextgenError naming the file, the line or byte offset, and the fix. textgen.data.corpus splits these
lines into stories; the classifier's data reader takes them as rows.

- a line is at most MAX_LINE_BYTES (1,000,000 bytes; a TinyStories line is under 5 KB, a review
  under 50 KB, a .jsonl story far under it): a longer one is refused once that much is read;
- a .gz file may decompress to at most MAX_GZIP_RATIO (200) times its size, checked every MiB
  (text gzips 3 to 10 times, a corpus of one story repeated 120; zeros or newlines 1,000).
"""

from __future__ import annotations

import gzip
import itertools
import os
import stat
import zlib
from collections.abc import Iterator
from pathlib import Path

from textgen.errors import TextgenError

BINARY_SNIFF_BYTES = 8192
MAX_LINE_BYTES = 1_000_000  # a line longer than this is not text a story model (or a classifier) reads
MAX_GZIP_RATIO = 200  # real text never decompresses to more; a bomb of zeros or newlines does (about 1,000)
GZIP_RATIO_AFTER_BYTES = 1 << 20  # the ratio is checked every MiB of decompressed text


def _is_gzip(path: Path) -> bool:
    return path.name.lower().endswith(".gz")


def readable_file(path: str | os.PathLike, pipes: bool = False) -> Path:
    """`path` if it is a regular file (or, with `pipes`, a named pipe such as `<(command)`): a
    folder, a device (/dev/zero never ends) or a socket is refused in one line."""
    path = Path(path)
    try:
        info = path.stat()
    except OSError as error:
        raise TextgenError(f"cannot read {path} ({error.strerror or error}): check that it exists and is readable") from None
    if stat.S_ISDIR(info.st_mode):
        raise TextgenError(f"{path} is a folder, not a file: give a text file")
    if stat.S_ISREG(info.st_mode) or (pipes and stat.S_ISFIFO(info.st_mode)):
        return path
    kind = "a pipe" if stat.S_ISFIFO(info.st_mode) else "a device or socket"
    raise TextgenError(f"{path} is {kind}, not a regular file: give a text file" + (", or - for standard input" if pipes else ""))


def _refuse_long_line(name, number: int, offset: int, chunk: bytes, where: str, max_bytes: int) -> None:
    """Why a line passed `max_bytes`: UTF-16/32 text and binary data say so; otherwise the line is too long."""
    if number == 1:
        _check_wide_encoding(name, chunk[:BINARY_SNIFF_BYTES])
    nul = chunk.find(b"\x00")
    if nul >= 0:
        raise TextgenError(f"{name} looks like a binary file (NUL byte at byte offset {offset + nul}{where}): "
                           "give a UTF-8 text file")
    raise TextgenError(f"line {number:,} of {name} is longer than {max_bytes:,} bytes: is it a text file? "
                       "Split long lines (a story or a review is far shorter)")


def capped_lines(file, name, max_bytes: int = MAX_LINE_BYTES, where: str = "", compressed=None) -> Iterator[bytes]:
    """Binary lines of an open binary file (or standard input), each with its line ending, none
    longer than `max_bytes`: a longer line is refused as soon as `max_bytes` of it are read, so
    memory stays within the cap and a buffer. A lone CR (old Mac line endings) ends a line too.
    With `compressed` (the file under a gzip stream), a stream that decompresses to more than
    MAX_GZIP_RATIO times the compressed bytes read is refused. `name` names the source in errors."""
    limit = max_bytes + 2  # the line and a CR LF ending
    carry, number, offset = b"", 0, 0
    check_ratio_at = GZIP_RATIO_AFTER_BYTES
    while True:
        raw = file.readline(limit - len(carry))
        if carry:
            raw, carry = carry + raw, b""
        if not raw:
            return
        if len(raw) == limit and not raw.endswith(b"\n"):
            cut = raw.rfind(b"\r", 0, limit - 1)  # not the last byte: it may begin a CR LF
            if cut < 0:
                _refuse_long_line(name, number + 1, offset, raw, where, max_bytes)
            raw, carry = raw[: cut + 1], raw[cut + 1:]
        elif len(raw) > max_bytes and len(raw.rstrip(b"\r\n")) > max_bytes:
            _refuse_long_line(name, number + 1, offset, raw, where, max_bytes)
        number += 1
        offset += len(raw)
        if compressed is not None and offset >= check_ratio_at:
            check_ratio_at = offset + GZIP_RATIO_AFTER_BYTES
            if offset > MAX_GZIP_RATIO * max(1, compressed.tell()):
                raise TextgenError(f"{name} decompresses to more than {MAX_GZIP_RATIO} times its size, more than any real text "
                                   "repeats itself: it is not a corpus (a decompression bomb?)")
        yield raw


def raw_lines(path: Path) -> Iterator[bytes]:
    """Binary lines of a file, decompressing .gz, each within MAX_LINE_BYTES; I/O and gzip faults
    become TextgenError."""
    try:
        with open(path, "rb") as raw:
            if _is_gzip(path):
                with gzip.GzipFile(fileobj=raw, mode="rb") as file:
                    yield from capped_lines(file, path, where=" of the decompressed text", compressed=raw)
            else:
                yield from capped_lines(raw, path)
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise TextgenError(f"{path} is not a valid gzip file ({error}): recompress it or remove the .gz suffix") from None
    except IsADirectoryError:
        raise TextgenError(f"{path} is a folder, not a corpus file") from None
    except OSError as error:
        raise TextgenError(f"cannot read {path} ({error.strerror or error}): check that it exists and is readable") from None


def iter_lines(path: str | os.PathLike, pipes: bool = False) -> Iterator[str]:
    """Decoded lines of one file without their line endings, checked for binary data and UTF-8,
    each at most MAX_LINE_BYTES long (see `capped_lines`). Only a regular file is read, or with
    `pipes` a named pipe as well.

    A NUL byte in the first 8 KiB (or on any later line) marks a binary file, as git decides.
    Raises TextgenError naming the file and the byte offset of the first bad byte (for a
    .gz file, the offset in the decompressed text).
    """
    path = readable_file(path, pipes)
    yield from _decoded_lines(path, raw_lines(path), " of the decompressed text" if _is_gzip(path) else "")


def iter_stream_lines(stream, name: str = "standard input") -> Iterator[str]:
    """Decoded lines of an open binary stream (standard input), with the caps and checks of `iter_lines`."""
    yield from _decoded_lines(name, capped_lines(stream, name), "")


def _decoded_lines(path, lines: Iterator[bytes], where: str) -> Iterator[str]:
    head: list[bytes] = []
    for raw in lines:
        head.append(raw)
        if sum(map(len, head)) >= BINARY_SNIFF_BYTES:
            break
    _check_wide_encoding(path, b"".join(head))
    offset = 0
    for number, raw in enumerate(itertools.chain(head, lines)):
        nul = (b"".join(head) if number == 0 else raw).find(b"\x00")
        if nul >= 0:
            raise TextgenError(
                f"{path} looks like a binary file (NUL byte at byte offset {offset + nul}{where}): "
                "give a UTF-8 text file"
            )
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise TextgenError(
                f"{path} is not UTF-8: invalid byte 0x{raw[error.start]:02x} at byte offset {offset + error.start}{where}; "
                "convert it to UTF-8 (e.g. iconv -f latin1 -t utf-8)"
            ) from None
        offset += len(raw)
        if number == 0 and line.startswith("\ufeff"):
            line = line[1:]
        line = line.rstrip("\r\n")
        if "\r" in line:  # old Mac line endings: a lone CR ends a line
            yield from line.split("\r")
        else:
            yield line


def _check_wide_encoding(path: Path, head: bytes) -> None:
    """Name UTF-16/32 text (by its byte-order mark, or by NUL bytes at every other place)."""
    for bom, encoding in ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
                          (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if head.startswith(bom):
            usable = len(head) - len(head) % (4 if encoding == "utf-32" else 2)
            try:
                head[:usable].decode(encoding)
            except UnicodeDecodeError:
                return  # not really UTF-16/32: let the UTF-8 check name the bad byte
            if head.count(0) < 0.1 * len(head):
                return  # Latin-1 text that happens to start with the same bytes
            name = encoding.upper()
            raise TextgenError(f"{path} is {name} text, not UTF-8: convert it (e.g. iconv -f {name} -t UTF-8)")
    sample = head[: len(head) - len(head) % 2]
    if len(sample) >= 8:
        even, odd = sample[0::2], sample[1::2]
        for zeros, others, name in ((odd, even, "UTF-16LE"), (even, odd, "UTF-16BE")):
            if zeros.count(0) >= 0.9 * len(zeros) and others.count(0) < 0.5 * len(others):  # all zeros: binary
                raise TextgenError(f"{path} looks like {name} text without a byte-order mark, not UTF-8: "
                                   f"convert it (e.g. iconv -f {name} -t UTF-8)")
