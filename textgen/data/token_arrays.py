"""Token arrays and batches: a corpus is tokenized once into a cached array on disk (a numpy
memmap keyed by the corpus fingerprint, the tokenizer and the split), then read in batches
for truncated backpropagation through time.

The cache's files are textgen's own: they are never read or written through a symbolic link (a
link there is replaced by a regular file), an array's place comes from its key (never from what
its description says), and an array holding an id its tokenizer does not have is rebuilt.

Each story is encoded as <s> story </s>, and stories are concatenated in corpus order. Two
batchings:
- stream: the array is cut into `batch_size` contiguous streams; batch i is columns
  [i*T, (i+1)*T) of every stream, so the recurrent state carries from one batch to the next
  (detached), as in AWD-LSTM;
- windows: random windows of T+1 tokens, with a fresh state each batch.
Batches are a pure function of (seed, epoch, index), so training resumes at the next unseen
batch and every process of a distributed run takes its own share of the streams.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from textgen.modeldir.atomic import atomic_open
from textgen.data.corpus import assign_splits, fingerprint, iter_stories
from textgen.errors import TextgenError
from textgen.tokenizer import Tokenizer

CACHE_VERSION = 1
MAX_CACHE_DESCRIPTION_BYTES = 1 << 16  # a description is a few hundred bytes


class CacheUnwritable(TextgenError):
    """The token cache could not be written there (a read-only or full folder, a file in the way)."""

    def __init__(self, path: Path, error: Exception):
        self.path, self.reason = path, getattr(error, "reason", None) or getattr(error, "strerror", None) or str(error)
        super().__init__(f"cannot write the token cache {path} ({self.reason}): give a writable folder with --cache-dir, "
                         "or free some space")


@dataclass(frozen=True)
class TokenArray:
    """A token array and what it holds: cached in the file `path`, or held in memory (`held`)."""

    path: Path | None
    tokens: int
    stories: int
    words: int  # whitespace words of the story text
    bytes: int  # UTF-8 bytes of the story text
    dtype: str
    held: np.ndarray | None = field(default=None, compare=False, repr=False)

    def load(self) -> np.ndarray:
        """The tokens: a read-only memmap of the cached file (nothing is read until used), or the
        array held in memory."""
        if self.held is not None:
            return self.held
        if self.tokens == 0:
            return np.zeros(0, dtype=self.dtype)
        return map_tokens(self.path, self.dtype, self.tokens)

    def unknown_share(self) -> float:
        """The share of <unk> tokens: above about 1%, the tokenizer does not cover this text."""
        from textgen.tokenizer import UNK_ID

        tokens = self.load()
        return float(np.count_nonzero(tokens == UNK_ID)) / max(1, len(tokens))


def map_tokens(path: Path, dtype: str, tokens: int) -> np.memmap:
    """A read-only memmap of a cached token file of exactly `tokens` ids, opened without following
    a link: a link, anything but a regular file or a file of another size raises OSError."""
    from textgen.modeldir.safe_read import NO_FOLLOW

    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | NO_FOLLOW)
    with open(descriptor, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size != tokens * np.dtype(dtype).itemsize:
            raise OSError(f"{path} is not the token file its description says")
        return np.memmap(file, dtype=dtype, mode="r", shape=(tokens,))


def clear_odd_entry(path: Path) -> None:
    """Remove a link, pipe or socket at a cache file's name (a name only textgen's cache uses; such an
    entry holds no data, and writing through it could reach any file): the cache file takes its
    place. A folder or a device there stays, and the write is refused in one line."""
    with contextlib.suppress(OSError):
        mode = os.lstat(path).st_mode
        if stat.S_ISLNK(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            os.unlink(path)


def token_dtype(vocab_size: int) -> str:
    return "uint16" if vocab_size <= 65535 else "int32"


def cache_key(corpus_fingerprint: str, tokenizer: Tokenizer, split: str) -> str:
    digest = hashlib.sha256()
    for part in (str(CACHE_VERSION), corpus_fingerprint, hashlib.sha256(tokenizer.to_bytes()).hexdigest(), split):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:24]


class TokenWriter:
    """Streams stories as <s> story </s> into a raw token file, written atomically on close (never
    through a link: the cache is textgen's), or, with `path` None, into an array in memory.
    A failure to write the file is a CacheUnwritable."""

    def __init__(self, path: Path | None, tokenizer: Tokenizer):
        self.path, self.tokenizer = path, tokenizer
        self.dtype = token_dtype(tokenizer.vocab_size)
        self.tokens = self.stories = self.words = self.bytes = 0
        self.buffer: list[int] = []
        self.parts: list[np.ndarray] = []  # in memory: the flushed chunks
        self._context = self._file = None
        if path is not None:
            clear_odd_entry(path)
            self._context = atomic_open(path, "wb", follow_links=False)
            try:
                self._file = self._context.__enter__()
            except TextgenError as error:
                raise CacheUnwritable(path, error) from None

    def add(self, story: str) -> None:
        self.buffer.extend(self.tokenizer.encode(story, add_bos=True, add_eos=True))
        self.stories += 1
        self.words += len(story.split())
        self.bytes += len(story.encode("utf-8"))
        if len(self.buffer) >= 1 << 20:
            self._flush()

    def _flush(self) -> None:
        chunk = np.asarray(self.buffer, dtype=self.dtype)
        if self._file is None:
            self.parts.append(chunk)
        else:
            try:
                self._file.write(chunk.tobytes())
            except OSError as error:  # a full disk: the temporary file goes, the error says where
                self._end(error)
                raise CacheUnwritable(self.path, error) from None
        self.tokens += len(self.buffer)
        self.buffer = []

    def _end(self, error: BaseException | None) -> None:
        context, self._context, self._file = self._context, None, None
        if context is None:
            return
        if error is None:
            try:
                context.__exit__(None, None, None)
            except TextgenError as failure:
                raise CacheUnwritable(self.path, failure) from None
        else:
            with contextlib.suppress(Exception):  # the temporary file is removed
                context.__exit__(type(error), error, error.__traceback__)

    def close(self, error: BaseException | None = None) -> TokenArray:
        """Finish the file (or, after an error, remove it) and describe it."""
        if error is None and (self._file is not None or self.path is None):
            self._flush()
        self._end(error)
        held = None
        if self.path is None:
            held = np.concatenate(self.parts) if self.parts else np.zeros(0, dtype=self.dtype)
            self.parts = []
        return TokenArray(self.path, self.tokens, self.stories, self.words, self.bytes, self.dtype, held)


def encode_stories(stories: Iterable[str], tokenizer: Tokenizer, path: Path | None) -> TokenArray:
    """Encode stories as <s> story </s> into a raw token file (written atomically), streaming, or
    with `path` None into an array held in memory (two bytes a token for a vocabulary of up to
    65,535)."""
    return _write_arrays({None: path}, tokenizer, ((story, None) for story in stories))[None]


def tokens_in_memory(corpus: str | os.PathLike, tokenizer: Tokenizer) -> TokenArray:
    """The token array of a whole corpus, encoded into memory: nothing is written anywhere."""
    return encode_stories(iter_stories(corpus), tokenizer, None)


def _write_arrays(paths: dict, tokenizer: Tokenizer, labelled: Iterable[tuple[str, object]]) -> dict:
    """One pass over (story, label) pairs, each story appended to its label's token file."""
    writers = {}
    try:
        for label, path in paths.items():
            writers[label] = TokenWriter(path, tokenizer)
        for story, label in labelled:
            writers[label].add(story)
    except BaseException as error:
        for writer in writers.values():
            with contextlib.suppress(Exception):  # each writer removes its temporary file
                writer.close(error)
        raise
    return {label: writer.close() for label, writer in writers.items()}


def _read_meta(meta_path: Path, array_path: Path, vocab_size: int) -> TokenArray | None:
    """A cached array's description, or None when it is missing, damaged or not what textgen writes
    (a regular JSON file of a few hundred bytes, no link), or when its array (at `array_path`, its
    key's place) is not a regular file of the size described or holds an id of `vocab_size` or
    more: the array is then rebuilt."""
    from textgen.modeldir.safe_read import read_json

    if not os.path.lexists(meta_path):
        return None
    try:
        data = read_json(meta_path, "token cache description", MAX_CACHE_DESCRIPTION_BYTES, follow_links=False)
        counts = [data[name] for name in ("tokens", "stories", "words", "bytes")]
        dtype = data["dtype"]
    except (TextgenError, KeyError, TypeError):
        return None
    if dtype not in ("uint16", "int32") or not all(isinstance(count, int) and count >= 0 for count in counts):
        return None
    array = TokenArray(array_path, *counts, dtype)
    try:
        tokens = array.load()
        if len(tokens) and (int(tokens.max()) >= vocab_size or int(tokens.min()) < 0):
            return None  # a damaged array: an id the model has no row for
    except (OSError, ValueError):
        return None  # an interrupted or damaged cache (or a link in its place) is rebuilt
    return array


def _write_meta(meta_path: Path, array: TokenArray) -> None:
    description = {"path": str(array.path), "tokens": array.tokens, "stories": array.stories, "words": array.words,
                   "bytes": array.bytes, "dtype": array.dtype}  # "path" for a reader's eyes: textgen takes it from the key
    clear_odd_entry(meta_path)
    try:
        with atomic_open(meta_path, follow_links=False) as file:
            json.dump(description, file)
    except TextgenError as error:
        raise CacheUnwritable(meta_path, error) from None


def cached_tokens(corpus: str | os.PathLike, tokenizer: Tokenizer, cache_dir: str | os.PathLike,
                  corpus_fingerprint: str | None = None) -> TokenArray:
    """The token array of a whole corpus, built once and then read from cache."""
    key = cache_key(corpus_fingerprint or fingerprint(corpus), tokenizer, "all")
    meta_path = Path(cache_dir) / f"{key}.json"
    array_path = Path(cache_dir) / f"{key}.{token_dtype(tokenizer.vocab_size)}"
    if (found := _read_meta(meta_path, array_path, tokenizer.vocab_size)) is not None:
        return found
    array = encode_stories(iter_stories(corpus), tokenizer, array_path)
    _write_meta(meta_path, array)
    return array


def cached_splits(corpus: str | os.PathLike, tokenizer: Tokenizer, cache_dir: str | os.PathLike, valid_fraction: float,
                  seed: int = 0, corpus_fingerprint: str | None = None) -> tuple[TokenArray, TokenArray]:
    """The train and valid token arrays of a corpus split by story with `seed`: the corpus is
    counted once and encoded in one pass that writes both, then both are read from cache."""
    corpus_fingerprint = corpus_fingerprint or fingerprint(corpus)
    keys = {split: cache_key(corpus_fingerprint, tokenizer, f"{split}:{valid_fraction}:{seed}") for split in ("train", "valid")}
    metas = {split: Path(cache_dir) / f"{key}.json" for split, key in keys.items()}
    paths = {split: Path(cache_dir) / f"{key}.{token_dtype(tokenizer.vocab_size)}" for split, key in keys.items()}
    found = {split: _read_meta(path, paths[split], tokenizer.vocab_size) for split, path in metas.items()}
    if all(found.values()):
        return found["train"], found["valid"]
    names = assign_splits(sum(1 for _ in iter_stories(corpus)), valid_fraction, 0.0, seed)
    arrays = _write_arrays(paths, tokenizer, zip(iter_stories(corpus), names))
    for split, array in arrays.items():
        _write_meta(metas[split], array)
    return arrays["train"], arrays["valid"]


# --- batches ---------------------------------------------------------------------------

@dataclass(frozen=True)
class BatchPlan:
    """How one epoch of training batches is laid out for one process."""

    batching: str
    batch_size: int  # sequences per step over all processes
    seq_len: int
    rank: int = 0
    world_size: int = 1
    seed: int = 0

    @property
    def local_batch_size(self) -> int:
        return self.batch_size // self.world_size


def check_batch_plan(plan: BatchPlan, tokens: int) -> None:
    """Refuse a corpus shorter than one batch, saying how many tokens are needed."""
    if plan.batch_size % plan.world_size:
        raise TextgenError(f"batch size {plan.batch_size} does not divide among {plan.world_size} processes: "
                           f"use a multiple of {plan.world_size}")
    needed = plan.batch_size * (plan.seq_len + 1)
    if tokens < needed:
        raise TextgenError(
            f"training text has {tokens:,} tokens, fewer than one batch needs ({plan.batch_size} x "
            f"{plan.seq_len + 1} = {needed:,}): use a larger corpus or lower --batch-size / --seq-len")


def batches_per_epoch(plan: BatchPlan, tokens: int) -> int:
    if plan.batching == "stream":
        return max(1, (tokens // plan.batch_size - 1) // plan.seq_len)
    return max(1, tokens // (plan.batch_size * plan.seq_len))


def iter_batches(plan: BatchPlan, array: np.ndarray, epoch: int, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor, bool]]:
    """Batches (inputs (b, T), targets (b, T), reset_state) of one epoch from batch `start` on,
    for this process's share b = batch_size / world_size of the sequences."""
    count = batches_per_epoch(plan, len(array))
    local = plan.local_batch_size
    if plan.batching == "stream":
        length = len(array) // plan.batch_size
        rows = range(plan.rank * local, (plan.rank + 1) * local)
        for index in range(start, count):
            begin = index * plan.seq_len
            chunk = np.stack([np.asarray(array[row * length + begin: row * length + begin + plan.seq_len + 1], dtype=np.int64)
                              for row in rows])
            tensor = torch.from_numpy(chunk)
            yield tensor[:, :-1], tensor[:, 1:], index == 0  # state starts fresh with each epoch
    else:
        for index in range(start, count):
            generator = np.random.default_rng([plan.seed, epoch, index])
            offsets = generator.integers(0, len(array) - plan.seq_len - 1, size=plan.batch_size)
            offsets = offsets[plan.rank * local: (plan.rank + 1) * local]
            chunk = np.stack([np.asarray(array[o: o + plan.seq_len + 1], dtype=np.int64) for o in offsets])
            tensor = torch.from_numpy(chunk)
            yield tensor[:, :-1], tensor[:, 1:], True


class TrainBatches(torch.utils.data.IterableDataset):
    """The training batches of one epoch for one process, resumable at any batch.

    `position` gives (epoch, first batch) of the next iteration; the training module sets it
    on resume and the dataset moves on to the next epoch after each full pass.
    """

    def __init__(self, plan: BatchPlan, token_array: TokenArray, position: Callable[[], tuple[int, int]]):
        self.plan, self.token_array, self.position = plan, token_array, position
        self.per_epoch = batches_per_epoch(plan, token_array.tokens)

    def __len__(self) -> int:
        return self.per_epoch

    def __iter__(self):
        epoch, start = self.position()
        yield from iter_batches(self.plan, self.token_array.load(), epoch, start)


def stream_chunks(array: np.ndarray, streams: int, seq_len: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """An evaluation pass: `streams` contiguous streams read chunk by chunk, state to be carried
    between chunks. Covers all but fewer than `streams` tokens of the array."""
    streams = max(1, min(streams, (len(array) - 1)))
    length = (len(array) - 1) // streams
    if length < 1:
        return
    data = torch.from_numpy(np.asarray(array[: streams * length + 1], dtype=np.int64))
    inputs = data[:-1].view(streams, length)  # (streams, length): contiguous parts, one per row
    targets = data[1:].view(streams, length)
    for begin in range(0, length, seq_len):
        yield inputs[:, begin: begin + seq_len], targets[:, begin: begin + seq_len]
