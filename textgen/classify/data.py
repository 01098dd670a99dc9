"""Labelled examples for classification: reading, label sets and class weights.

A `.jsonl` file holds one JSON object per line with a text field and a label field (defaults
"text" and "rating"); a `.csv` file has a header row naming both columns. Either may be gzipped.
Labels are classes: JSON numbers or strings, kept as their text ("5", "positive"). A number with
a decimal point is written as its shortest decimal ("4.0" and 4.0 are "4", "2.50" is "2.5"), so a
CSV's "4.0" and a JSON 4 are one class. Number labels (1 to 5 stars, or half stars 0.5, 1, 1.5)
sort numerically and are ordinal (1 < 2 < ... < 5), so the mean absolute error means something;
other labels keep the order they first appear in and are nominal.
At most MAX_CLASSES (100) classes: more, or most of them with one example, is the wrong column
(an id, a text, a score) rather than classes. Lines are capped as in textgen.data.corpus; a CSV row
(a quoted field may span lines) is at most MAX_ROW_CHARACTERS.
Every problem is one TextgenError naming the file and line and what to do.
"""

from __future__ import annotations

import csv
import math
import re
import warnings
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np

from textgen.data.corpus import CorpusWarning, _clean_story
from textgen.data.lines import MAX_LINE_BYTES, iter_lines
from textgen.errors import TextgenError
from textgen.modeldir.safe_read import parse_json, shorten

FORMATS = {".jsonl": "jsonl", ".csv": "csv"}
WEIGHTINGS = ("none", "balanced", "sqrt")
MAX_CLASSES = 100  # rating scales have 2 to 10 classes, topic sets tens; thousands are an id or a text column
MANY_CLASSES = 10  # from this many classes on, most of them with one example each is refused
MAX_ROW_CHARACTERS = MAX_LINE_BYTES  # a CSV row, however many lines its quoted fields span


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    line: int  # 1-based line of the file where the example starts


@dataclass(frozen=True)
class LabelledData:
    path: str
    format: str  # jsonl | csv
    text_field: str
    label_field: str
    examples: tuple[Example, ...]

    def counts(self) -> Counter:
        return Counter(example.label for example in self.examples)


def data_format(path: str | Path) -> str:
    """jsonl or csv from the name (a .gz suffix is looked through)."""
    name = Path(path).name.lower()
    name = name[:-3] if name.endswith(".gz") else name
    suffix = Path(name).suffix
    if suffix not in FORMATS:
        raise TextgenError(f"{path}: labelled data must be .jsonl or .csv (optionally .gz), not {suffix or 'a file without a suffix'}")
    return FORMATS[suffix]


def read_labelled(path: str | Path, text_field: str = "text", label_field: str = "rating") -> LabelledData:
    """Every example of a .jsonl or .csv file, checked: the fields exist, texts are not empty,
    labels are numbers or strings."""
    kind = data_format(path)
    examples = [Example(text, _label_text(label, path, line, label_field), line)
                for line, text, label in read_rows(path, text_field, label_field)]
    if not examples:
        raise TextgenError(f"{path} holds no examples: give a file with one example per line")
    return LabelledData(str(path), kind, text_field, label_field, tuple(examples))


def read_rows(path: str | Path, text_field: str, label_field: str | None, pipes: bool = False):
    """(line, text, label) of every row of a .jsonl or .csv file, the text checked to be text and
    not empty; with `label_field` None no label is needed (and None is given). With `pipes` a named
    pipe is read as well as a regular file."""
    kind = data_format(path)
    reader = _jsonl_rows if kind == "jsonl" else _csv_rows
    rows = reader(path, text_field, label_field, pipes)
    for line, text, label in rows:
        if not isinstance(text, str):
            raise TextgenError(f"{path}:{line}: \"{text_field}\" is {_kind(text)}, not text: every example needs text")
        if not text.strip():
            raise TextgenError(f"{path}:{line}: \"{text_field}\" is empty: every example needs text")
        yield line, text, label


def _jsonl_rows(path, text_field: str, label_field: str | None, pipes: bool = False):
    for number, line in enumerate(iter_lines(path, pipes), start=1):
        if not line.strip():
            continue
        record = parse_json(line.lstrip("\ufeff"), f"{path}:{number}")
        if not isinstance(record, dict):
            raise TextgenError(f"{path}:{number} is {_kind(record)}, not a JSON object with \"{text_field}\" and \"{label_field}\"")
        for field in (text_field, label_field):
            if field is not None and field not in record:
                keys = shorten(", ".join(sorted(record)) or "none", 200)
                option = "--text-field" if field == text_field else "--label-field"
                raise TextgenError(f"{path}:{number} has no \"{field}\" field (keys: {keys}): name it with {option}")
        yield number, record[text_field], record[label_field] if label_field is not None else None


def _csv_rows(path, text_field: str, label_field: str | None, pipes: bool = False):
    gathered = [0]  # characters fed to the reader since its last row: a row is capped however many lines it spans

    def fed():
        for line in iter_lines(path, pipes):
            gathered[0] += len(line) + 1
            if gathered[0] > MAX_ROW_CHARACTERS:
                raise TextgenError(f"{path}:{start} starts a row longer than {MAX_ROW_CHARACTERS:,} characters: "
                                   "is a quote left open? Close it (a quote inside a field is written \"\")")
            yield line + "\n"

    start = 1
    reader = csv.reader(fed())
    try:
        header = next(reader, None)
        gathered[0] = 0
        if header is None:
            return
        header = [name.lstrip("\ufeff").strip() for name in header]
        if text_field not in header or (label_field is not None and label_field not in header):
            shown = ", ".join(f'"{name[:30]}"' for name in header[:4])
            named = f"\"{text_field}\"" + (f" and \"{label_field}\"" if label_field is not None else "")
            raise TextgenError(f"{path}: no header row naming {named} (first row: {shown}): "
                               "add one, or name the columns with --text-field" + (" and --label-field" if label_field else ""))
        text_at = header.index(text_field)
        label_at = header.index(label_field) if label_field is not None else None
        start = reader.line_num + 1
        for row in reader:
            gathered[0] = 0
            if not any(cell.strip() for cell in row):
                start = reader.line_num + 1
                continue
            if len(row) != len(header):
                raise TextgenError(f"{path}:{start} has {len(row)} columns, the header {len(header)}: quote fields that hold commas")
            yield start, row[text_at], row[label_at] if label_at is not None else None
            start = reader.line_num + 1
    except csv.Error as error:
        if "field larger than field limit" in str(error):
            raise TextgenError(f"{path}:{start} has a field longer than {csv.field_size_limit():,} characters: "
                               "is a quote left open? Close it (a quote inside a field is written \"\")") from None
        raise TextgenError(f"{path}:{reader.line_num}: not valid CSV ({error})") from None


def _label_text(label, path, line: int, field: str) -> str:
    if isinstance(label, bool) or label is None or isinstance(label, (list, dict)):
        raise TextgenError(f"{path}:{line}: \"{field}\" is {_kind(label)}: a label is a number or a string")
    if isinstance(label, float):
        if not math.isfinite(label):
            raise TextgenError(f"{path}:{line}: \"{field}\" is {label}: a label is a finite number or a string")
        label = int(label) if label.is_integer() else repr(label)
    text = str(label).strip()
    if not text:
        raise TextgenError(f"{path}:{line}: \"{field}\" is empty: every example needs a label")
    return _shortest_decimal(text) if _DECIMAL.fullmatch(text) else text


_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")  # ASCII digits only: "²" and "--5" are not numbers
_DECIMAL = re.compile(r"-?[0-9]+\.[0-9]+")


def _shortest_decimal(text: str) -> str:
    """A decimal's shortest text: "4.0" -> "4", "2.50" -> "2.5", "-0.0" -> "0"."""
    whole, fraction = text.split(".")
    fraction = fraction.rstrip("0")
    whole = whole if fraction or whole.lstrip("-").strip("0") else "0"
    return f"{whole}.{fraction}" if fraction else whole


def _kind(value) -> str:
    return {type(None): "null", bool: "true or false", list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


@dataclass(frozen=True)
class Labels:
    """The classes a classifier predicts, in their order; ordinal ones carry their numeric values."""

    names: tuple[str, ...]
    ordinal: bool

    @property
    def values(self) -> tuple[float, ...] | None:
        return tuple(float(name) for name in self.names) if self.ordinal else None

    def index(self, name: str) -> int:
        return self.names.index(name)

    def to_dict(self) -> dict:
        return {"names": list(self.names), "ordinal": self.ordinal}

    @classmethod
    def from_dict(cls, data: dict) -> Labels:
        names = data["names"]
        if not isinstance(names, list) or not 2 <= len(names) <= MAX_CLASSES:  # bounds every output made per class
            found = f"{len(names):,}" if isinstance(names, list) else _kind(names)
            raise TextgenError(f"a classifier has 2 to {MAX_CLASSES} labels, not {found}")
        return cls(tuple(str(name) for name in names), bool(data["ordinal"]))


def _number(text: str) -> bool:
    return _NUMBER.fullmatch(text) is not None


def labels_of(data: LabelledData, ordinal: bool | None = None) -> Labels:
    """The classes of training data. Number labels sort numerically and are ordinal unless `ordinal`
    is False; `ordinal` True with other labels is an error. More than MAX_CLASSES classes, or (from
    MANY_CLASSES on) most of them with one example, is refused as the wrong column; a stray class
    with one example, and numbers mixed with other labels, are warned about (CorpusWarning)."""
    counts = data.counts()
    field = f"\"{data.label_field}\""
    if len(counts) < 2:
        (only,) = counts
        raise TextgenError(f"{data.path} has one class only (\"{shorten(only)}\" on all {counts[only]:,} examples): "
                           "a classifier needs at least two")
    numbers = [name for name in counts if _number(name)]
    if len(counts) > MAX_CLASSES:
        kind = ("is --label-field the right column? If these numbers are scores, round them into a few classes"
                if len(numbers) > len(counts) / 2 else "is --label-field the right column?")
        raise TextgenError(f"{data.path} has {len(counts):,} different labels in {field}, more than the {MAX_CLASSES} "
                           f"classes a classifier takes: {kind}")
    single = [name for name, count in counts.items() if count == 1]
    if len(counts) >= MANY_CLASSES and len(single) > len(counts) / 2:
        raise TextgenError(f"{data.path}: {len(single):,} of the {len(counts):,} labels in {field} have one example each, "
                           "too few to learn a class from: is --label-field the right column?")
    if single and len(data.examples) >= 10 * len(counts):  # ten a class on average: a lone label is a stray
        shown = ", ".join(f"\"{shorten(name)}\"" for name in single[:5])
        shown += f" and {len(single) - 5:,} more" if len(single) > 5 else ""
        warnings.warn(CorpusWarning(f"{data.path}: label{'s' if len(single) > 1 else ''} {shown} of {field} "
                                    f"{'have' if len(single) > 1 else 'has'} one example only, too few to learn a class "
                                    "from: add examples or merge the class into another"), stacklevel=2)
    numeric = len(numbers) == len(counts)
    if ordinal and not numeric:
        example = next(name for name in counts if not _number(name))
        raise TextgenError(f"--ordinal needs number labels, and {data.path} has \"{shorten(example)}\": drop --ordinal")
    if numeric:
        names = tuple(sorted(counts, key=Decimal))
        decimals = [name for name in names if "." in name]
        if decimals and ordinal is None:
            warnings.warn(CorpusWarning(f"{data.path}: the labels of {field} are numbers ({', '.join(map(shorten, names[:6]))}"
                                        f"{', ...' if len(names) > 6 else ''}), read as ordered ratings (the mean absolute "
                                        "error applies): --nominal makes them plain classes"), stacklevel=2)
        return Labels(names, ordinal is not False)
    if numbers:
        other = next(name for name in counts if not _number(name))
        warnings.warn(CorpusWarning(f"{data.path}: {field} has number labels and others (\"{shorten(other)}\"), so all are "
                                    f"read as plain unordered classes: is \"{shorten(other)}\" a mistake?"), stacklevel=2)
    order = list(dict.fromkeys(example.label for example in data.examples))
    return Labels(tuple(order), False)


def check_known(data: LabelledData, labels: Labels) -> None:
    """Every label of `data` (validation or test) is one the classifier was trained on."""
    known = set(labels.names)
    for example in data.examples:
        if example.label not in known:
            classes = shorten(", ".join(labels.names), 200)
            raise TextgenError(f"{data.path}:{example.line} has label \"{shorten(example.label)}\", which the training data "
                               f"never has (classes {classes}): remove it or add examples of it to the training data")


def class_weights(data: LabelledData, labels: Labels, mode: str = "balanced") -> list[float]:
    """Loss weights per class for skewed data: none (all 1), balanced (n / (k * count), as
    scikit-learn's), or sqrt (the square root of balanced, a milder correction). Mean 1 over examples."""
    if mode not in WEIGHTINGS:
        raise TextgenError(f"class weighting {mode!r} is unknown: use one of {', '.join(WEIGHTINGS)}")
    counts = data.counts()
    total, classes = sum(counts.values()), len(labels.names)
    if mode == "none":
        return [1.0] * classes
    raw = [total / (classes * counts[name]) if counts[name] else 0.0 for name in labels.names]
    weights = [math.sqrt(value) for value in raw] if mode == "sqrt" else raw
    mean = sum(weights[labels.index(name)] * count for name, count in counts.items()) / total
    return [weight / mean for weight in weights]


@dataclass(frozen=True)
class Encoded:
    """Examples as token ids, each `<s> text </s>` as the language model reads a story (its first
    `max_tokens` kept), with class indices, and counts for the run's notes."""

    ids: tuple[np.ndarray, ...]
    targets: np.ndarray  # (N,) class indices; -1 where the labels were not given
    tokens: int
    unknown: int  # <unk> ids (a word or char tokenizer meeting words it lacks)
    truncated: int  # texts cut at max_tokens

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(ids) for ids in self.ids], dtype=np.int64)


def encode_text(tokenizer, text: str) -> list[int]:
    """`<s> text </s>` as every classifier command reads a text: lines stripped and blank lines
    dropped, as the corpus reader does for stories (the caller cuts it to max_tokens)."""
    return tokenizer.encode(_clean_story(text.split("\n")), add_bos=True, add_eos=True)


def pad_rows(rows):
    """Token id rows as (tokens (B, T) right-padded with <pad>, lengths (B,)), torch tensors."""
    import torch

    from textgen.tokenizer import PAD_ID

    lengths = [len(row) for row in rows]
    tokens = np.full((len(rows), max(lengths)), PAD_ID, dtype=np.int64)
    for index, ids in enumerate(rows):
        tokens[index, : len(ids)] = ids
    return torch.from_numpy(tokens), torch.tensor(lengths)


def encode_examples(data: LabelledData, labels: Labels | None, tokenizer, max_tokens: int) -> Encoded:
    """Token ids of every example's text (lines stripped and blank lines dropped, as the corpus
    reader does for stories), cut to `max_tokens`."""
    from textgen.tokenizer import UNK_ID

    ids, targets, unknown, truncated = [], [], 0, 0
    for example in data.examples:
        encoded = encode_text(tokenizer, example.text)
        if len(encoded) > max_tokens:
            encoded, truncated = encoded[:max_tokens], truncated + 1
        unknown += encoded.count(UNK_ID)
        ids.append(np.asarray(encoded, dtype=np.int64))
        targets.append(labels.index(example.label) if labels is not None else -1)
    return Encoded(tuple(ids), np.asarray(targets, dtype=np.int64), sum(len(row) for row in ids), unknown, truncated)


def batch_order(lengths: np.ndarray, batch_size: int, seed: int, epoch: int, window: int = 50) -> list[np.ndarray]:
    """The batches of one epoch as example indices: shuffled (by seed and epoch, so a resumed run
    takes the same batches), sorted by length within windows of `window` batches so a batch pads
    little, and the batches shuffled again. Every example is in exactly one batch."""
    if batch_size < 1:
        raise TextgenError(f"batch size must be at least 1, got {batch_size}")
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    span = batch_size * window
    for start in range(0, len(order), span):
        chunk = order[start:start + span]
        order[start:start + span] = chunk[np.argsort(lengths[chunk], kind="stable")]
    batches = [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
    return [batches[index] for index in rng.permutation(len(batches))]


def pad_batch(encoded: Encoded, indices: np.ndarray):
    """(tokens (B, T) right-padded with <pad>, lengths (B,), targets (B,)) as torch tensors."""
    import torch

    tokens, lengths = pad_rows([encoded.ids[index] for index in indices])
    return tokens, lengths, torch.from_numpy(encoded.targets[indices])
