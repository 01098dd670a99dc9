"""Reading a model directory without torch: a shipped model's short name, textgen.json checked
against its schema, the weights' and tokenizer's bytes checked against their hashes, and the
tensors the safetensors header declares. textgen.modeldir.store builds the torch network from these;
`classify predict` runs its numpy forward pass on them (a whole process under 2 s needs no torch).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
from pathlib import Path

from textgen.errors import TextgenError
from textgen.modeldir.safe_read import kind_of, parse_json, read_bytes, read_json
from textgen.modeldir.swap import current_file
from textgen.modeldir.layout import FORMAT, FORMAT_VERSION, MAX_META_BYTES, META_FILE, MODEL_FILE

MAX_TOKENIZER_BYTES = 256 << 20
MAX_MODEL_BYTES = 16 << 30
MAX_PARAMETERS = 2_000_000_000  # 8 GB of float32: beyond what textgen is for on a CPU
TIED_KEY = "decoder.weight"  # the same tensor as embedding.weight when weights are tied: stored once
SHIPPED_MODELS = {"tinystories": "tinystories-lstm"}  # short name -> folder under textgen/shipped/
SHIPPED_DIR = Path(__file__).resolve().parent.parent / "shipped"  # package data: travels with an installed textgen
LANGUAGE_MODEL = "language model"  # textgen.json's "task"; absent means a language model (directories before classifiers)
TASKS = (LANGUAGE_MODEL, "classifier")


WEIGHT_DTYPE_NAMES = ("float32", "bfloat16", "float16")  # what textgen.json's weights_dtype may say
STORED_DTYPES = ("F32", "BF16", "F16")  # the safetensors types of those

def resolve_model_path(path: str | os.PathLike) -> Path:
    """A model directory by path, or a shipped model by its short name (a folder of that name wins)."""
    given = Path(path)
    if given.exists() or given.is_symlink() or str(path) not in SHIPPED_MODELS:
        if not given.exists() and not given.is_symlink() and given.name == str(path) and "/" not in str(path):
            raise TextgenError(f"{path} is neither a model directory nor a shipped model: give a folder written by "
                               f"`textgen train`, or a shipped name ({', '.join(sorted(SHIPPED_MODELS))})")
        return given
    folder = SHIPPED_DIR / SHIPPED_MODELS[str(path)]
    if not (folder / META_FILE).is_file():
        raise TextgenError(f"the shipped model {path} is missing from this installation ({folder}): "
                           "install textgen from its repository (pip install -e .)")
    return folder


def _identity(path: str | os.PathLike) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    return info.st_dev, info.st_ino


def shipped_model_at(path: str | os.PathLike, follow_last: bool = True) -> str | None:
    """The short name of the shipped model whose folder holds `path` (or is it), else None: by its
    real path, and by identity (device and inode), so the folder reached through a bind mount, or
    one of its files through a hard link or a mounted file, is found too. With `follow_last`
    False a link at the end of `path` is not followed: it is the entry a write replaces (in a
    folder of links to the shipped files, the folder's own)."""
    path = Path(path)
    if follow_last or not path.is_symlink():
        target = os.path.realpath(path)
    else:
        target = os.path.join(os.path.realpath(path.parent), path.name)
    for name, folder in SHIPPED_MODELS.items():
        home = os.path.realpath(SHIPPED_DIR / folder)
        if target == home or target.startswith(home + os.sep):
            return name
        home_identity = _identity(home)
        if home_identity is None:
            continue
        if any(_identity(place) == home_identity for place in (target, *map(str, Path(target).parents))):
            return name
        if os.path.isfile(target) and not os.path.islink(target):
            with contextlib.suppress(OSError):
                files = {_identity(entry.path) for entry in os.scandir(home) if entry.is_file()}
                if _identity(target) in files:
                    return name
    return None


def refuse_shipped(path: str | os.PathLike, command: str = "", follow_last: bool = True) -> None:
    """No command writes into a shipped model (it belongs to the installation, and git tracks it):
    refuse a path inside one, with the command that makes a copy of one's own (and `command`, the
    refused command's name, to run on the copy). `follow_last`: see shipped_model_at."""
    name = shipped_model_at(path, follow_last)
    if name is None:
        return
    copy = f"`textgen export {name} my-{name} --dtype bfloat16`"
    if command:
        raise TextgenError(f"{path} is part of the shipped model {name}, which no command changes: make your own copy "
                           f"with {copy}, then run `textgen {command} my-{name}`")
    raise TextgenError(f"{path} is part of the shipped model {name}, which no command changes: write elsewhere (your own "
                       f"copy of it: {copy})")


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
    if meta.get("task", LANGUAGE_MODEL) not in TASKS:
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


def safetensors_header(data: bytes, source: Path) -> dict:
    """The tensors a safetensors file declares: {name: (dtype, shape)}, read from its header only."""
    if len(data) < 8:
        raise TextgenError(f"{source} is not a valid safetensors file (too short): export the model again")
    size = int.from_bytes(data[:8], "little")
    if not 2 <= size <= min(len(data) - 8, 100 << 20):
        raise TextgenError(f"{source} is not a valid safetensors file (a header of {size:,} bytes): export the model again")
    header = parse_json(data[8: 8 + size].decode("utf-8", errors="replace"), f"{source} header")
    if not isinstance(header, dict):
        raise TextgenError(f"{source} is not a valid safetensors file (its header is not an object)")
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("shape"), list) or not isinstance(entry.get("dtype"), str):
            raise TextgenError(f"{source} is not a valid safetensors file (entry {name!r} is malformed)")
        tensors[name] = (entry["dtype"], tuple(entry["shape"]))
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
