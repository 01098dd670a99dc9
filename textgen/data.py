"""Token arrays and batches: a corpus is tokenized once into a cached array on disk (a numpy
memmap keyed by the corpus fingerprint, the tokenizer and the split), then read in batches
for truncated backpropagation through time.

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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from textgen.atomic import atomic_open
from textgen.corpus import assign_splits, fingerprint, iter_stories
from textgen.errors import TextgenError
from textgen.tokenizer import Tokenizer

CACHE_VERSION = 1


@dataclass(frozen=True)
class TokenArray:
    """A cached token array and what it holds."""

    path: Path
    tokens: int
    stories: int
    words: int  # whitespace words of the story text
    bytes: int  # UTF-8 bytes of the story text
    dtype: str

    def load(self) -> np.ndarray:
        """The tokens as a read-only memmap (nothing is read until used)."""
        if self.tokens == 0:
            return np.zeros(0, dtype=self.dtype)
        return np.memmap(self.path, dtype=self.dtype, mode="r", shape=(self.tokens,))

    def unknown_share(self) -> float:
        """The share of <unk> tokens: above about 1%, the tokenizer does not cover this text."""
        from textgen.tokenizer import UNK_ID

        tokens = self.load()
        return float(np.count_nonzero(tokens == UNK_ID)) / max(1, len(tokens))


def token_dtype(vocab_size: int) -> str:
    return "uint16" if vocab_size <= 65535 else "int32"


def cache_key(corpus_fingerprint: str, tokenizer: Tokenizer, split: str) -> str:
    digest = hashlib.sha256()
    for part in (str(CACHE_VERSION), corpus_fingerprint, hashlib.sha256(tokenizer.to_bytes()).hexdigest(), split):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:24]


class TokenWriter:
    """Streams stories as <s> story </s> into a raw token file, written atomically on close."""

    def __init__(self, path: Path, tokenizer: Tokenizer):
        self.path, self.tokenizer = path, tokenizer
        self.dtype = token_dtype(tokenizer.vocab_size)
        self.tokens = self.stories = self.words = self.bytes = 0
        self.buffer: list[int] = []
        self._context = atomic_open(path, "wb")
        self._file = self._context.__enter__()

    def add(self, story: str) -> None:
        self.buffer.extend(self.tokenizer.encode(story, add_bos=True, add_eos=True))
        self.stories += 1
        self.words += len(story.split())
        self.bytes += len(story.encode("utf-8"))
        if len(self.buffer) >= 1 << 20:
            self._flush()

    def _flush(self) -> None:
        self._file.write(np.asarray(self.buffer, dtype=self.dtype).tobytes())
        self.tokens += len(self.buffer)
        self.buffer = []

    def close(self, error: BaseException | None = None) -> TokenArray:
        """Finish the file (or, after an error, remove it) and describe it."""
        if error is None:
            self._flush()
            self._context.__exit__(None, None, None)
        else:
            self._context.__exit__(type(error), error, error.__traceback__)
        return TokenArray(self.path, self.tokens, self.stories, self.words, self.bytes, self.dtype)


def encode_stories(stories: Iterable[str], tokenizer: Tokenizer, path: Path) -> TokenArray:
    """Encode stories as <s> story </s> into a raw token file, streaming; written atomically."""
    return _write_arrays({None: path}, tokenizer, ((story, None) for story in stories))[None]


def _write_arrays(paths: dict, tokenizer: Tokenizer, labelled: Iterable[tuple[str, object]]) -> dict:
    """One pass over (story, label) pairs, each story appended to its label's token file."""
    writers = {label: TokenWriter(path, tokenizer) for label, path in paths.items()}
    try:
        for story, label in labelled:
            writers[label].add(story)
    except BaseException as error:
        for writer in writers.values():
            with contextlib.suppress(Exception):  # each writer removes its temporary file
                writer.close(error)
        raise
    return {label: writer.close() for label, writer in writers.items()}


def _read_meta(meta_path: Path) -> TokenArray | None:
    """A cached array's description, or None when it is missing, damaged or not what textgen writes
    (a regular JSON file of a few hundred bytes): the array is then rebuilt."""
    from textgen.files import read_json

    if not meta_path.exists():
        return None
    try:
        data = read_json(meta_path, "token cache description", 1 << 16)
        array = TokenArray(Path(data["path"]), data["tokens"], data["stories"], data["words"], data["bytes"], data["dtype"])
    except (TextgenError, ValueError, KeyError, TypeError):
        return None
    if array.dtype not in ("uint16", "int32") or not isinstance(array.tokens, int):
        return None
    expected = array.tokens * np.dtype(array.dtype).itemsize
    if not array.path.exists() or array.path.stat().st_size != expected:
        return None  # an interrupted or damaged cache is rebuilt
    return array


def _write_meta(meta_path: Path, array: TokenArray) -> None:
    with atomic_open(meta_path) as file:
        json.dump({**asdict(array), "path": str(array.path)}, file)


def cached_tokens(corpus: str | os.PathLike, tokenizer: Tokenizer, cache_dir: str | os.PathLike,
                  corpus_fingerprint: str | None = None) -> TokenArray:
    """The token array of a whole corpus, built once and then read from cache."""
    key = cache_key(corpus_fingerprint or fingerprint(corpus), tokenizer, "all")
    meta_path = Path(cache_dir) / f"{key}.json"
    if (found := _read_meta(meta_path)) is not None:
        return found
    array = encode_stories(iter_stories(corpus), tokenizer, Path(cache_dir) / f"{key}.{token_dtype(tokenizer.vocab_size)}")
    _write_meta(meta_path, array)
    return array


def cached_splits(corpus: str | os.PathLike, tokenizer: Tokenizer, cache_dir: str | os.PathLike, valid_fraction: float,
                  seed: int = 0, corpus_fingerprint: str | None = None) -> tuple[TokenArray, TokenArray]:
    """The train and valid token arrays of a corpus split by story with `seed`: the corpus is
    counted once and encoded in one pass that writes both, then both are read from cache."""
    corpus_fingerprint = corpus_fingerprint or fingerprint(corpus)
    keys = {split: cache_key(corpus_fingerprint, tokenizer, f"{split}:{valid_fraction}:{seed}") for split in ("train", "valid")}
    metas = {split: Path(cache_dir) / f"{key}.json" for split, key in keys.items()}
    found = {split: _read_meta(path) for split, path in metas.items()}
    if all(found.values()):
        return found["train"], found["valid"]
    names = assign_splits(sum(1 for _ in iter_stories(corpus)), valid_fraction, 0.0, seed)
    paths = {split: Path(cache_dir) / f"{key}.{token_dtype(tokenizer.vocab_size)}" for split, key in keys.items()}
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
