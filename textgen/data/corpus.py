"""Reading corpora: .txt, folders, .jsonl and their .gz forms, split into stories and checked.

A story is the unit of text everywhere in textgen (splits, tokenizer training, the
start/end tokens). Rules:
- `.txt`: a line that is exactly `<|endoftext|>` ends a story (the TinyStories format).
  A file with no such line in its first MiB separates stories by blank lines instead.
- `.jsonl`: one JSON object per line; its `text` field is one story.
- `.gz` versions of both; a folder is every such file below it, in sorted order.
Inside a story, lines are stripped and blank lines dropped, so paragraphs are joined by
single newlines. Text must be UTF-8; errors name the file and byte offset.

Every reader is bounded while it reads (textgen.data.lines: a line is at most 1,000,000 bytes, a
.gz file decompresses to at most 200 times its size, only regular files or allowed pipes), and
a story of a .txt file is at most MAX_STORY_CHARACTERS (10,000,000, fifty times the length that
already draws a warning): a longer one is refused once that much has gathered.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from textgen.errors import TextgenError
from textgen.modeldir.safe_read import parse_json
from textgen.data.lines import iter_lines, iter_stream_lines, raw_lines

END_OF_TEXT = "<|endoftext|>"
CORPUS_SUFFIXES = (".txt", ".jsonl", ".txt.gz", ".jsonl.gz")
SPLITS = ("train", "valid", "test")
# Without a marker line in this many bytes, a .txt file is read as blank-line separated.
MARKER_LOOKAHEAD_BYTES = 1 << 20
LONG_STORY_CHARACTERS = 200_000  # far beyond a children's story: probably a format mistake
MAX_STORY_CHARACTERS = 10_000_000  # a .txt story still gathering past this is a missing separator, not a story
WORD_FORM = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")


def corpus_files(path: str | os.PathLike) -> list[Path]:
    """The files a corpus path names: the file itself, or every corpus file below a folder
    (suffixes matched without regard to case, symbolic links followed, hidden entries skipped)."""
    path = Path(path)
    try:
        if not path.exists():
            raise TextgenError(f"corpus path {path} does not exist: check the spelling or give a .txt, .jsonl or .gz file, or a folder of them")
        if path.is_file():
            return [path]
        if not path.is_dir():
            raise TextgenError(f"corpus path {path} is neither a file nor a folder")
    except PermissionError:
        raise TextgenError(f"cannot access corpus path {path} (permission denied): fix its permissions") from None

    def unreadable(error: OSError) -> None:
        raise TextgenError(f"cannot read folder {error.filename} ({error.strerror}): fix its permissions or move it out of the corpus")

    files, seen = [], set()
    for folder, subfolders, names in os.walk(path, onerror=unreadable, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:  # a symbolic link loop
            subfolders[:] = []
            continue
        seen.add(real)
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        for name in names:
            if not name.startswith(".") and name.lower().endswith(CORPUS_SUFFIXES) and os.path.isfile(os.path.join(folder, name)):
                files.append(Path(folder) / name)
    if not files:
        raise TextgenError(f"folder {path} has no corpus files: put stories in .txt, .jsonl, .txt.gz or .jsonl.gz files there")
    return sorted(files)


def _is_jsonl(path: Path) -> bool:
    name = path.name.lower()
    return (name[:-3] if name.endswith(".gz") else name).endswith(".jsonl")


def _clean_story(lines: Iterable[str]) -> str:
    """Lines stripped, blank lines and stray marker lines dropped, joined by single newlines."""
    return "\n".join(stripped for line in lines if (stripped := line.strip()) and stripped != END_OF_TEXT)


def _iter_txt_stories(path: Path, seen: dict | None = None, lines: Iterable[str] | None = None) -> Iterator[str]:
    """Stories of a .txt file (or of `lines`, read from `path`): marker lines always end a story; blank
    lines do when the file has no marker. `seen["markers"]` tells the caller whether the file had
    marker lines. A story still gathering past MAX_STORY_CHARACTERS is refused."""
    seen = seen if seen is not None else {}
    seen["markers"] = False
    marker_mode = False
    blank_mode = False  # decided once MARKER_LOOKAHEAD_BYTES pass without a marker
    pending: list[list[str]] = [[]]  # blocks of lines (separated by blank lines) since the last marker
    pending_bytes = block_characters = 0  # characters since the last marker, and in the last block
    for number, line in enumerate(iter_lines(path) if lines is None else lines, start=1):
        if line.strip() == END_OF_TEXT:
            marker_mode = seen["markers"] = True
            block_characters = 0
            if blank_mode:
                pending.append([])  # a marker also separates stories in a blank-line file
                continue
            story = _clean_story(line for block in pending for line in block)
            pending, pending_bytes = [[]], 0
            if story:
                yield story
            continue
        if not line.strip():
            if pending[-1]:
                pending.append([])
                block_characters = 0
            continue
        if not seen.get("looked"):
            seen["looked"] = True
            _warn_if_json_lines(path, number, line)
        pending[-1].append(line)
        pending_bytes += len(line) + 1
        block_characters += len(line) + 1
        if not marker_mode and not blank_mode and pending_bytes > MARKER_LOOKAHEAD_BYTES:
            blank_mode = True
        if (block_characters if blank_mode else pending_bytes) > MAX_STORY_CHARACTERS:
            advice = (f"each story of this file should end with an {END_OF_TEXT} line: add the missing ones" if marker_mode
                      else f"stories in a .txt file are separated by blank lines or {END_OF_TEXT} lines, and this stretch has neither")
            raise TextgenError(f"a story of {path} passes {MAX_STORY_CHARACTERS:,} characters at line {number:,} and has not "
                               f"ended: {advice}")
        if blank_mode and len(pending) > 1:
            for block in pending[:-1]:
                if story := _clean_story(block):
                    yield story
            pending = pending[-1:]
    if marker_mode and not blank_mode:
        if story := _clean_story(line for block in pending for line in block):
            yield story
    else:
        for block in pending:
            if story := _clean_story(block):
                yield story


def _warn_if_json_lines(path, number: int, line: str) -> None:
    """A .txt corpus whose first line is a JSON object with a "text" field is JSON lines under the
    wrong name: read as text, its braces and field names would be trained on."""
    if not line.lstrip().startswith("{"):
        return
    try:
        record = parse_json(line, f"{path}:{number}")
    except TextgenError:
        return
    if isinstance(record, dict) and isinstance(record.get("text"), str):
        warnings.warn(CorpusWarning(f"{path} looks like JSON lines (line {number:,} is an object with a \"text\" field) and "
                                    "is read as plain text, braces and all: name it .jsonl to read each \"text\" as a story"),
                      stacklevel=4)


def _iter_jsonl_stories(path: Path) -> Iterator[str]:
    for number, line in enumerate(iter_lines(path), start=1):
        if not line.strip():
            continue
        try:
            record = parse_json(line, f"{path}:{number}")
        except TextgenError as error:
            raise TextgenError(f"{error}: each line of a .jsonl corpus must be an object with a \"text\" field") from None
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise TextgenError(f"{path}:{number} has no \"text\" string field: each line of a .jsonl corpus must look like {{\"text\": \"Once upon a time...\"}}")
        try:
            record["text"].encode("utf-8")
        except UnicodeEncodeError as error:
            raise TextgenError(f"{path}:{number} has an escaped character that is not valid Unicode "
                               f"(lone surrogate \\u{ord(record['text'][error.start]):04x}): fix or remove it") from None
        if story := _clean_story(record["text"].splitlines()):
            yield story


def iter_stories(path: str | os.PathLike) -> Iterator[str]:
    """Stream the stories of a corpus path (file or folder) without holding the text in memory.

    Raises TextgenError when the path is missing, unreadable, not UTF-8, binary, or holds no story.
    """
    def stories_of(file: Path, seen: dict) -> Iterator[str]:
        return _iter_jsonl_stories(file) if _is_jsonl(file) else _iter_txt_stories(file, seen)

    yield from _counted_stories(f"corpus {path}", ((file, stories_of) for file in corpus_files(path)))


def iter_stream_stories(stream, name: str = "standard input") -> Iterator[str]:
    """The stories of an open binary stream (standard input) read as a .txt corpus, with the caps
    and checks of a file: streamed, so the stream is never held whole."""
    yield from _counted_stories(name, [(name, lambda _name, seen: _iter_txt_stories(name, seen, iter_stream_lines(stream, name)))])


def _counted_stories(what: str, sources) -> Iterator[str]:
    """The stories of (file, stories_of(file, seen)) sources, a long one warned about; none at all is an error."""
    count = 0
    for file, stories_of in sources:
        seen: dict = {}
        for story in stories_of(file, seen):
            count += 1
            if len(story) > LONG_STORY_CHARACTERS and not (isinstance(file, Path) and _is_jsonl(file)):
                advice = (f"if the file separates stories by blank lines, remove its {END_OF_TEXT} lines" if seen.get("markers")
                          else f"stories in a .txt file are separated by blank lines or {END_OF_TEXT} lines, and this "
                               "stretch has neither")
                warnings.warn(CorpusWarning(f"story {count} of {file} has {len(story):,} characters: {advice}"), stacklevel=3)
            yield story
    if count == 0:
        raise TextgenError(f"{what} is empty: it holds no story text (only blank lines or markers)")


class CorpusWarning(UserWarning):
    """Something in a corpus that is probably a mistake but still readable; the CLI prints it as a note."""


def read_stories(path: str | os.PathLike) -> list[str]:
    """All stories of a corpus path, in order."""
    return list(iter_stories(path))


def fingerprint(path: str | os.PathLike) -> str:
    """A sha256 over the names and bytes of a corpus's files: equal fingerprints mean equal corpora.
    Names are hashed as the bytes the file system holds (os.fsencode), so a name that is not UTF-8
    hashes too (and a UTF-8 name the same as ever)."""
    digest = hashlib.sha256()
    root = Path(path)
    for file in corpus_files(root):
        digest.update(os.fsencode(file.relative_to(root) if root.is_dir() else file.name) + b"\0")
        for raw in raw_lines(file):
            digest.update(raw)
        digest.update(b"\0")
    return digest.hexdigest()


def words_of(text: str) -> list[str]:
    """Word forms for vocabulary counts: lower-cased runs of letters and digits, with inner apostrophes."""
    return [match.group().lower() for match in WORD_FORM.finditer(text)]


@dataclass
class CorpusStats:
    """What `textgen corpus stats` reports.

    `words` counts whitespace-separated words (the unit of per-word perplexity);
    `vocabulary` and `top_words` count lower-cased word forms without punctuation.
    `bytes` is the UTF-8 size of the story text (not of the files, which may be gzipped).
    """

    files: int = 0
    stories: int = 0
    lines: int = 0
    words: int = 0
    characters: int = 0
    bytes: int = 0
    vocabulary: int = 0
    longest_line_bytes: int = 0
    top_words: list[tuple[str, int]] = field(default_factory=list)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["top_words"] = [{"word": word, "count": count} for word, count in self.top_words]
        data["mean_words_per_story"] = round(self.words / self.stories, 2) if self.stories else 0.0
        return data


def corpus_stats(path: str | os.PathLike, top: int = 20) -> CorpusStats:
    """Count stories, lines, words, characters, bytes and word forms of a corpus in one pass."""
    stats = CorpusStats(files=len(corpus_files(path)))
    counts: Counter[str] = Counter()
    for story in iter_stories(path):
        stats.stories += 1
        stats.characters += len(story)
        stats.bytes += len(story.encode("utf-8"))
        stats.words += len(story.split())
        for line in story.split("\n"):
            stats.lines += 1
            stats.longest_line_bytes = max(stats.longest_line_bytes, len(line.encode("utf-8")))
        counts.update(words_of(story))
    stats.vocabulary = len(counts)
    stats.top_words = counts.most_common(top)
    return stats


def split_sizes(num_stories: int, valid_fraction: float, test_fraction: float) -> dict[str, int]:
    """How many stories each split gets: at least one in each split asked for, the rest in train."""
    for name, value in (("valid fraction", valid_fraction), ("test fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise TextgenError(f"{name} {value} is outside [0, 1): give e.g. 0.05")
    if valid_fraction + test_fraction >= 1.0:
        raise TextgenError(f"valid fraction + test fraction = {valid_fraction + test_fraction:g} leaves no training stories: keep the sum below 1")
    sizes = {
        "valid": max(1, round(num_stories * valid_fraction)) if valid_fraction > 0 else 0,
        "test": max(1, round(num_stories * test_fraction)) if test_fraction > 0 else 0,
    }
    sizes["train"] = num_stories - sizes["valid"] - sizes["test"]
    if sizes["train"] < 1:
        needed = 1 + (valid_fraction > 0) + (test_fraction > 0)
        if num_stories < needed:
            raise TextgenError(f"corpus has {num_stories} stories, too few to split: it needs at least {needed} (one per split)")
        raise TextgenError(f"valid ({sizes['valid']}) and test ({sizes['test']}) stories take all {num_stories} stories "
                           "after rounding: lower --valid-fraction or --test-fraction")
    return sizes


def assign_splits(num_stories: int, valid_fraction: float = 0.05, test_fraction: float = 0.05, seed: int = 0) -> list[str]:
    """The split name of each story index, shuffled with `seed`: the same seed gives the same split."""
    sizes = split_sizes(num_stories, valid_fraction, test_fraction)
    names = ["valid"] * sizes["valid"] + ["test"] * sizes["test"] + ["train"] * sizes["train"]
    random.Random(seed).shuffle(names)
    return names


def split_stories(stories: list[str], valid_fraction: float = 0.05, test_fraction: float = 0.05, seed: int = 0) -> dict[str, list[str]]:
    """Split stories into train/valid/test by story, keeping their order inside each split."""
    splits: dict[str, list[str]] = {name: [] for name in SPLITS}
    for story, name in zip(stories, assign_splits(len(stories), valid_fraction, test_fraction, seed)):
        splits[name].append(story)
    return splits


def format_stories(stories: Iterable[str]) -> Iterator[str]:
    """Stories as lines of a TinyStories-format .txt file (each followed by a marker line)."""
    for story in stories:
        yield story + "\n" + END_OF_TEXT + "\n"


def split_corpus(path: str | os.PathLike, out_dir: str | os.PathLike, valid_fraction: float = 0.05, test_fraction: float = 0.05,
                 seed: int = 0, counted: Iterable[str] | None = None) -> tuple[dict[str, int], dict[str, Path]]:
    """Write train.txt, valid.txt and test.txt into `out_dir`, each story whole, assigned by `seed`.
    Streams: one pass counts the stories (`counted`, e.g. the stories wrapped in a progress bar),
    a second writes them; each file is written to a temporary file and renamed. Returns the
    story count and the path of each split."""
    from textgen.modeldir.atomic import atomic_open, prepare_output

    inputs = corpus_files(path)
    paths = {name: prepare_output(Path(out_dir) / f"{name}.txt", inputs) for name in SPLITS}
    count = sum(1 for _ in (counted if counted is not None else iter_stories(path)))
    names = assign_splits(count, valid_fraction, test_fraction, seed)
    with atomic_open(paths["train"]) as train, atomic_open(paths["valid"]) as valid, atomic_open(paths["test"]) as test:
        files = {"train": train, "valid": valid, "test": test}
        for story, name in zip(iter_stories(path), names):
            files[name].writelines(format_stories([story]))
    return {name: names.count(name) for name in SPLITS}, paths
