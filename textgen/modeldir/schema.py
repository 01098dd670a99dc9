"""Reading a model directory without torch: textgen.json checked against its schema (a language
model's, and a classifier's head and labels), the weights' and tokenizer's bytes checked against
their hashes, and the tensors the safetensors file holds (their header, and their values as numpy
arrays). textgen.modeldir.store builds the torch network from these; `classify predict` runs its
numpy forward pass on them (a whole process under 2 s needs no torch).
"""

from __future__ import annotations

import contextlib
import functools
import errno
import hashlib
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from textgen.errors import TextgenError
from textgen.model.config import CELL_BLOCKS, ClassifierConfig, ModelConfig
from textgen.modeldir.names import (
    CLASSIFIER,
    FORMAT,
    FORMAT_VERSION,
    MAX_META_BYTES,
    MAX_TOKENIZER_BYTES,
    META_FILE,
    MODEL_FILE,
    TASKS,
    task_of,
)
from textgen.modeldir.safe_read import kind_of, parse_json, read_bytes, read_json
from textgen.modeldir.shipped import SHIPPED_MODELS, resolve_model_path
from textgen.modeldir.swap import current_file

if TYPE_CHECKING:
    from textgen.classify.data import Labels

MAX_MODEL_BYTES = 16 << 30
MAX_PARAMETERS = 2_000_000_000  # 8 GB of float32: beyond what textgen is for on a CPU
TIED_KEY = "decoder.weight"  # the same tensor as embedding.weight when weights are tied: stored once
WEIGHT_DTYPE_NAMES = ("float32", "bfloat16", "float16")  # what textgen.json's weights_dtype may say
STORED_DTYPES = ("F32", "BF16", "F16")  # the safetensors types of those


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_metadata(path: str | os.PathLike) -> dict:
    """textgen.json of a model directory (or a shipped model's short name), checked for format and version."""
    path = resolve_model_path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise TextgenError(f"model directory {path} does not exist: train one with `textgen train CORPUS --out {path}`, "
                           f"or use a shipped model ({', '.join(sorted(SHIPPED_MODELS))})") from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise TextgenError(f"model directory {path} runs into a loop of symbolic links: give the model's folder") from None
        raise TextgenError(f"cannot read model directory {path} ({error.strerror})") from None
    if stat.S_ISREG(info.st_mode):
        raise TextgenError(f"{path} is a file, not a model directory: give the folder that holds it ({path.parent})")
    if not stat.S_ISDIR(info.st_mode):
        raise TextgenError(f"{path} is {kind_of(info.st_mode)}, not a model directory: give a folder written by "
                           "`textgen train` or `textgen export`")
    meta_path = current_file(path, META_FILE)
    if not meta_path.exists():
        raise TextgenError(f"{path} is not a textgen model directory: {META_FILE} is missing")
    meta = read_json(meta_path, "model description", MAX_META_BYTES)
    check_metadata(meta, path / META_FILE)
    return meta


def check_metadata(meta, meta_path: Path) -> None:
    """textgen.json against its schema: every field textgen reads, with its type and range; the
    error names the file and the field."""
    def bad(field: str, expected: str) -> TextgenError:
        return TextgenError(f"{meta_path}: {field} must be {expected}; export or train the model again")

    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise TextgenError(f"{meta_path} is not a textgen model description (no \"format\": \"{FORMAT}\")")
    version = meta.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise bad("format_version", f"a whole number from 1 to {FORMAT_VERSION}")
    if version > FORMAT_VERSION:
        raise TextgenError(f"{meta_path} has model format version {version}, newer than this textgen reads "
                           f"({FORMAT_VERSION}): upgrade textgen")
    if not isinstance(meta.get("model"), dict):
        raise bad("model", "an object of model settings")
    tokenizer = meta.get("tokenizer")
    if not isinstance(tokenizer, dict) or tokenizer.get("file") not in ("tokenizer.model", "tokenizer.json"):
        raise bad("tokenizer.file", '"tokenizer.model" or "tokenizer.json"')
    files = meta.get("files")
    if not isinstance(files, dict) or not all(isinstance(key, str) and isinstance(value, str) for key, value in files.items()):
        raise bad("files", "an object of file name -> sha256 text")
    if task_of(meta) not in TASKS:
        raise bad("task", " or ".join(f'"{task}"' for task in TASKS))
    if meta.get("weights_dtype", "float32") not in WEIGHT_DTYPE_NAMES:
        raise bad("weights_dtype", " or ".join(WEIGHT_DTYPE_NAMES))
    cache = meta.get("cache")
    if cache is not None and (not isinstance(cache, dict) or not isinstance(cache.get("settings"), (dict, type(None)))):
        raise bad("cache", "null or an object with \"settings\" (null or an object)")
    from textgen.sampling.model_defaults import section_problem

    problem = section_problem(meta.get("sampling"))
    if problem is not None:
        raise TextgenError(f"{meta_path}: {problem}; fix or remove the section (textgen tune-cast writes it)")


def _header(data: bytes, source: Path) -> tuple[int, dict]:
    """A safetensors file's header, parsed with textgen's JSON limits, and where its data starts."""
    if len(data) < 8:
        raise TextgenError(f"{source} is not a valid safetensors file (too short): export the model again")
    size = int.from_bytes(data[:8], "little")
    if not 2 <= size <= min(len(data) - 8, 100 << 20):
        raise TextgenError(f"{source} is not a valid safetensors file (a header of {size:,} bytes): export the model again")
    header = parse_json(data[8: 8 + size].decode("utf-8", errors="replace"), f"{source} header")
    if not isinstance(header, dict):
        raise TextgenError(f"{source} is not a valid safetensors file (its header is not an object)")
    return 8 + size, header


def safetensors_header(data: bytes, source: Path) -> dict:
    """The tensors a safetensors file declares: {name: (dtype, shape)}, read from its header only."""
    tensors = {}
    for name, entry in _header(data, source)[1].items():
        if name == "__metadata__":
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("shape"), list) or not isinstance(entry.get("dtype"), str):
            raise TextgenError(f"{source} is not a valid safetensors file (entry {name!r} is malformed)")
        tensors[name] = (entry["dtype"], tuple(entry["shape"]))
    return tensors


def safetensors_arrays(data: bytes, declared: dict, source: Path) -> dict:
    """The declared tensors ({name: (dtype, shape)}, from safetensors_header) as float32 numpy arrays,
    without torch (bfloat16 is float32's upper half); values that do not fill their shape, or an
    entry without its place in the file, are one TextgenError."""
    import numpy as np

    start, header = _header(data, source)
    tensors = {}
    try:
        for name, (dtype, shape) in declared.items():
            begin, end = (start + offset for offset in header[name]["data_offsets"])
            raw = data[begin:end]
            if dtype == "F32":
                array = np.frombuffer(raw, dtype="<f4")
            elif dtype == "F16":
                array = np.frombuffer(raw, dtype="<f2").astype(np.float32)
            else:  # BF16
                array = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
            if array.size != int(np.prod(shape)):
                raise TextgenError(f"{source} is not a valid safetensors file ({name} holds {array.size:,} values "
                                   f"for a shape of {tuple(shape)}): export the model again")
            tensors[name] = array.reshape(shape).astype(np.float32, copy=False)
    except (KeyError, TypeError, ValueError) as error:
        raise TextgenError(f"{source} is not a valid safetensors file ({error})") from None
    return tensors


def read_checked_files(path: Path, meta: dict, vocab_size: int, parameter_count: int):
    """The weights' bytes, the tokenizer and the tensors the weights declare ({name: (dtype, shape)}):
    every file present and matching its hash in textgen.json, the tokenizer the size the model
    expects, the tensors of a stored type; nothing is decoded beyond the safetensors header."""
    from textgen.tokenizer import tokenizer_from_bytes

    tokenizer_name, hashes = meta["tokenizer"]["file"], meta["files"]
    if parameter_count > MAX_PARAMETERS:
        raise TextgenError(f"{path / META_FILE} describes a model of {parameter_count:,} parameters, more than "
                           f"textgen loads ({MAX_PARAMETERS:,}): the file is damaged or not a textgen model")
    missing = [name for name in (MODEL_FILE, tokenizer_name) if not current_file(path, name).exists()]
    if missing:
        raise TextgenError(f"model directory {path} is incomplete: missing {', '.join(missing)} "
                           "(was training stopped before its first save?)")
    largest = weights_bytes_limit(parameter_count)
    weights = current_file(path, MODEL_FILE)
    with contextlib.suppress(OSError):  # a missing or odd file is read_bytes's to report
        size = os.stat(weights).st_size
        if stat.S_ISREG(os.stat(weights).st_mode) and size > largest:  # said before a byte is read or reserved
            raise TextgenError(f"{weights} has {size:,} bytes, more than a model of {parameter_count:,} parameters can fill "
                               f"({largest:,} at most, as float32 with its header): the file is damaged or not this "
                               "model's; export or download the model again")
    data = {}
    for name, limit in ((MODEL_FILE, min(MAX_MODEL_BYTES, largest)), (tokenizer_name, MAX_TOKENIZER_BYTES)):
        data[name] = read_model_file(path, name, limit)
        if sha256(data[name]) != hashes.get(name):
            if changed_since(path, meta):
                raise TextgenError(f"{path} was replaced while it was read (another textgen process wrote it): "
                                   "run the command again")
            raise TextgenError(f"{path / name} does not match the hash recorded in {META_FILE}: the file is truncated, "
                               "corrupt or was changed; export or download the model again")
    tokenizer = tokenizer_from_bytes(data[tokenizer_name], source=str(path / tokenizer_name))
    if tokenizer.vocab_size != vocab_size:
        raise TextgenError(f"{path}: the tokenizer has {tokenizer.vocab_size} tokens but the model expects {vocab_size}")
    declared = safetensors_header(data[MODEL_FILE], path / MODEL_FILE)
    odd = sorted(f"{name} ({dtype})" for name, (dtype, _) in declared.items() if dtype not in STORED_DTYPES)
    if odd:
        raise TextgenError(f"{path / MODEL_FILE} holds tensors of a type textgen does not store: {', '.join(odd[:3])}; "
                           "weights are float32, bfloat16 or float16")
    return data[MODEL_FILE], tokenizer, declared


def weights_bytes_limit(parameter_count: int) -> int:
    """The largest model.safetensors a model of `parameter_count` parameters can have: float32
    values, a quarter more for a classifier's head (counted apart from the language model's
    parameters), and 16 MiB for the header."""
    return 4 * parameter_count * 5 // 4 + (16 << 20)


def read_model_file(folder: Path, name: str, limit: int) -> bytes:
    """A model directory's file from where it is now (see folder_swap.current_file); one that a
    swap moved into place while it was looked for is read there."""
    path = current_file(folder, name)
    try:
        return read_bytes(path, "model file", limit)
    except TextgenError:
        if path == folder / name or path.exists():
            raise
        return read_bytes(folder / name, "model file", limit)


def changed_since(folder: Path, meta: dict) -> bool:
    """Whether the folder's textgen.json is no longer the description `meta` (a writer swapped in a new model)."""
    try:
        return read_json(current_file(folder, META_FILE), "model description", MAX_META_BYTES) != meta
    except TextgenError:
        return True


def shape_problems(declared: dict, expected: dict, allowed_missing=frozenset()) -> list[str]:
    """What keeps the declared tensors ({name: (dtype, shape)}) from being the expected ones ({name: shape})."""
    problems = [f"{name} is {shape} where the model needs {expected[name]}" for name, (_, shape) in declared.items()
                if name in expected and shape != expected[name]]
    problems += [f"{name} is missing" for name in expected if name not in declared]
    problems += [f"{name} is not part of the model" for name in declared if name not in expected and name not in allowed_missing]
    return problems


def recurrent_tensors(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """The embedding's and the recurrent layers' tensors of a network of these settings, by name, with
    their shapes (every cell but the peephole LSTM): what a language model and a classifier share."""
    blocks, hidden = CELL_BLOCKS[config.cell], config.hidden_size
    shapes: dict[str, tuple[int, ...]] = {"embedding.weight": (config.vocab_size, config.embed_dim)}
    for index in range(config.num_layers):
        width = config.embed_dim if index == 0 else hidden
        shapes.update({f"layers.{index}.rnn.weight_ih_l0": (blocks * hidden, width),
                       f"layers.{index}.rnn.weight_hh_l0": (blocks * hidden, hidden),
                       f"layers.{index}.rnn.bias_ih_l0": (blocks * hidden,),
                       f"layers.{index}.rnn.bias_hh_l0": (blocks * hidden,)})
    return shapes


def language_model_tensors(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """The tensors a language model of these settings stores, by name, with their shapes
    (textgen.model.LanguageModel's state dict without the tied decoder weight, for every cell but
    the peephole LSTM): what the loader without torch checks the weights' header against."""
    shapes = recurrent_tensors(config)
    if config.projects_output:
        shapes.update({"projection.weight": (config.embed_dim, config.hidden_size), "projection.bias": (config.embed_dim,)})
    if not config.tie_weights:
        shapes[TIED_KEY] = (config.vocab_size, config.hidden_size)
    shapes["decoder.bias"] = (config.vocab_size,)
    return shapes


def classifier_tensors(config: ModelConfig, head: ClassifierConfig) -> dict[str, tuple[int, ...]]:
    """The tensors a classifier of these settings stores, by name, with their shapes
    (textgen.model.classifier.Classifier's state dict, for every cell but the peephole LSTM)."""
    hidden = config.hidden_size
    shapes = recurrent_tensors(config)
    if head.pooling == "attention":
        shapes.update({"attention.weight": (1, hidden), "attention.bias": (1,)})
    pooled = hidden * (3 if head.pooling == "concat" else 1)
    shapes.update({"head.weight": (head.num_classes, pooled), "head.bias": (head.num_classes,)})
    return shapes


class RecordedWords(frozenset):
    """The words of a model's training text (lowercased), and `capitals`: the capitalised words it writes
    inside a sentence (None where textgen.json records none: a model trained before textgen recorded them)."""

    capitals: frozenset[str] | None = None


def recorded_words(metadata: dict) -> RecordedWords | None:
    """textgen.json's "words" ({"count", "list": the words, space-separated, "capitals": the same for the
    capitalised words written inside a sentence}) as a set; None where absent; a malformed record is refused
    in one line."""
    record = metadata.get("words") if isinstance(metadata, dict) else None
    if record is None:
        return None
    if (not isinstance(record, dict) or not isinstance(record.get("list"), str)
            or not isinstance(record.get("capitals", ""), str)):
        raise TextgenError(f"{META_FILE}: \"words\" must be {{\"count\": N, \"list\": \"the words, space-separated\", "
                           "\"capitals\": \"the same\"}; remove it (the word rules are then off) or train the model again")
    words = RecordedWords(record["list"].split())
    if "capitals" in record:
        words.capitals = frozenset(record["capitals"].split())
    return words


class ModelDescription:
    """What a loaded language model's textgen.json says that writing a story reads, for both loaders
    (textgen.modeldir.store.LoadedModel, textgen.model.numpy.language_model.NumpyLanguageModel); the
    class using it has `metadata`."""

    metadata: dict

    @functools.cached_property
    def words(self) -> RecordedWords | None:
        """The words of the training text textgen.json records ("words", written by `textgen train`),
        for the real-words rule and the invented-words check; None where none are recorded."""
        return recorded_words(self.metadata)

    @property
    def sampling(self) -> dict:
        """The sampling settings this model carries as its own defaults ({} when none): chosen by
        `textgen tune-cast` on validation stories, or set by hand; an explicit option wins."""
        from textgen.sampling.model_defaults import model_defaults

        return model_defaults(self.metadata)


def task_refusal(path: Path, found: str, wanted: str) -> TextgenError:
    """The error for a model directory of another task than the command needs."""
    if wanted == CLASSIFIER:
        return TextgenError(f"{path} is a {found}, not a classifier: give a classifier's model directory")
    return TextgenError(f"{path} is a {found}, not a language model: give this command a model directory written by "
                        "`textgen train`")


def read_description(path: str | os.PathLike, task: str | None = None) -> tuple[Path, dict]:
    """A model directory's path (a shipped name resolved) and its checked textgen.json; with `task`,
    a directory of another task is refused (task_refusal)."""
    path = resolve_model_path(path)
    meta = read_metadata(path)
    if task is not None and task_of(meta) != task:
        raise task_refusal(path, task_of(meta), task)
    return path, meta


def language_model_config(path: Path, meta: dict) -> ModelConfig:
    """A language model's settings from its checked textgen.json."""
    try:
        return ModelConfig.from_dict(meta["model"])
    except TextgenError as error:
        raise TextgenError(f"{path / META_FILE}: {error}") from None


def classifier_settings(path: Path, meta: dict) -> tuple[ModelConfig, ClassifierConfig, Labels]:
    """A classifier's network, head and labels from its checked textgen.json: what both loaders
    (torch's, textgen.modeldir.store, and numpy's, textgen.classify.numpy_forward) read before the weights."""
    from textgen.classify.data import Labels  # with numpy: loaded only for a classifier

    try:
        config = ModelConfig.from_dict(meta["model"])
        head = ClassifierConfig.from_dict(meta["classifier"])
        labels = Labels.from_dict(meta["labels"])
    except (TextgenError, KeyError, TypeError, ValueError) as error:
        raise TextgenError(f"{path / META_FILE}: the classifier's description is broken ({error}); train it again") from None
    if len(labels.names) != head.num_classes:
        raise TextgenError(f"{path / META_FILE}: {len(labels.names)} labels for {head.num_classes} classes; train it again")
    return config, head, labels


def classifier_description(path: str | os.PathLike) -> tuple[Path, dict, ModelConfig, ClassifierConfig, Labels]:
    """A classifier directory's path, textgen.json, model and head settings and labels, checked."""
    path, meta = read_description(path, CLASSIFIER)
    return (path, meta, *classifier_settings(path, meta))


def decision_offsets(metadata: dict, classes: int) -> list[float]:
    """A classifier's per-class offsets tuned on the validation set for macro-F1 (zeros when none were tuned)."""
    return (metadata.get("decision") or {}).get("bias") or [0.0] * classes
