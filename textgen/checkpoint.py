"""The model directory every inference command loads: textgen.json, model.safetensors and the
tokenizer file. Loading never unpickles anything and refuses a directory that is incomplete,
from a newer format, or whose files do not match the hashes recorded in textgen.json.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from textgen.atomic import write_bytes
from textgen.config import ModelConfig
from textgen.errors import TextgenError
from textgen.files import parse_json, read_bytes, read_json
from textgen.model_dir import (
    FORMAT, FORMAT_VERSION, META_FILE, MODEL_FILE, SHARED_FILES, ModelDirectory, description, tokenizer_file,
)
from textgen.model import LanguageModel
from textgen.tokenizer import Tokenizer, tokenizer_from_bytes

MAX_META_BYTES = 4 << 20  # textgen.json is a few KiB
MAX_TOKENIZER_BYTES = 256 << 20
MAX_MODEL_BYTES = 16 << 30
MAX_PARAMETERS = 2_000_000_000  # 8 GB of float32: beyond what textgen is for on a CPU
TIED_KEY = "decoder.weight"  # the same tensor as embedding.weight when weights are tied: stored once
SHIPPED_MODELS = {"tinystories": "tinystories-lstm"}  # short name -> folder under checkpoints/ in the repository
SHIPPED_DIR = Path(__file__).resolve().parent.parent / "checkpoints"
LANGUAGE_MODEL = "language model"  # textgen.json's "task"; absent means a language model (directories before classifiers)
TASKS = (LANGUAGE_MODEL, "classifier")


def resolve_model_path(path: str | os.PathLike) -> Path:
    """A model directory by path, or a shipped model by its short name (a folder of that name wins)."""
    given = Path(path)
    if given.exists() or str(path) not in SHIPPED_MODELS:
        if not given.exists() and given.name == str(path) and "/" not in str(path):
            raise TextgenError(f"{path} is neither a model directory nor a shipped model: give a folder written by "
                               f"`textgen train`, or a shipped name ({', '.join(sorted(SHIPPED_MODELS))})")
        return given
    folder = SHIPPED_DIR / SHIPPED_MODELS[str(path)]
    if not (folder / META_FILE).is_file():
        raise TextgenError(f"the shipped model {path} is missing from this installation ({folder}): "
                           "install textgen from its repository (pip install -e .)")
    return folder


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


WEIGHT_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def model_bytes(model: LanguageModel, dtype: str = "float32") -> bytes:
    """The weights as safetensors bytes (tied decoder weight left out; the model re-ties it), stored
    in `dtype` (bfloat16 halves the file; loading turns them back into float32)."""
    from safetensors.torch import save

    target = WEIGHT_DTYPES[dtype]
    state = {name: tensor.detach().to("cpu", target).contiguous() for name, tensor in model.state_dict().items()}
    if model.config.tie_weights:
        state.pop(TIED_KEY, None)
    return save(state, metadata={"format": FORMAT, "format_version": str(FORMAT_VERSION)})


def save_model_dir(path: str | os.PathLike, model: LanguageModel, tokenizer: Tokenizer, metadata: dict,
                   dtype: str = "float32") -> Path:
    """Write weights, tokenizer and textgen.json (last, with the files' hashes), each atomically."""
    path = Path(path)
    weights = model_bytes(model, dtype)
    tokenizer_data = tokenizer.to_bytes()
    name = tokenizer_file(tokenizer.kind)
    write_bytes(path / MODEL_FILE, weights)
    write_bytes(path / name, tokenizer_data)
    ModelDirectory(path).write_metadata(description(
        metadata, model.config.to_dict(), tokenizer.kind, tokenizer.vocab_size,
        {MODEL_FILE: sha256(weights), name: sha256(tokenizer_data)}, weights_dtype=dtype))
    return path


def read_metadata(path: str | os.PathLike) -> dict:
    """textgen.json of a model directory (or a shipped model's short name), checked for format and version."""
    path = resolve_model_path(path)
    meta_path = path / META_FILE
    if path.is_file():
        raise TextgenError(f"{path} is a file: give the model directory that holds it ({path.parent})")
    if not path.is_dir():
        raise TextgenError(f"model directory {path} does not exist: train one with `textgen train CORPUS --out {path}`, "
                           f"or use a shipped model ({', '.join(sorted(SHIPPED_MODELS))})")
    if not meta_path.exists():
        raise TextgenError(f"{path} is not a textgen model directory: {META_FILE} is missing")
    meta = read_json(meta_path, "model description", MAX_META_BYTES)
    check_metadata(meta, meta_path)
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
    if meta.get("weights_dtype", "float32") not in WEIGHT_DTYPES:
        raise bad("weights_dtype", " or ".join(WEIGHT_DTYPES))
    cache = meta.get("cache")
    if cache is not None and (not isinstance(cache, dict) or not isinstance(cache.get("settings"), (dict, type(None)))):
        raise bad("cache", "null or an object with \"settings\" (null or an object)")


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


def expected_tensors(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """The tensors a model of this config has, with their shapes, built on the meta device (no memory)."""
    with torch.device("meta"):
        model = LanguageModel(config)
    shapes = {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}
    if config.tie_weights:
        shapes.pop(TIED_KEY, None)
    return shapes


@dataclass
class LoadedModel:
    """A model ready for inference: the network (in eval mode), its tokenizer and its description."""

    model: LanguageModel
    tokenizer: Tokenizer
    metadata: dict = field(default_factory=dict)
    path: Path | None = None

    @property
    def config(self) -> ModelConfig:
        return self.model.config

    @property
    def cache(self):
        """The neural cache settings chosen for this model on its validation text, or None (off)."""
        from textgen.cache import CacheSettings

        chosen = (self.metadata.get("cache") or {}).get("settings")
        if chosen is None:
            return None
        try:
            return CacheSettings.from_dict(chosen)
        except TextgenError as error:
            raise TextgenError(f"{self.path}/{META_FILE}: cache settings are invalid ({error})") from None


def load(path: str | os.PathLike, device: str | torch.device = "cpu") -> LoadedModel:
    """Load a model directory without unpickling anything.

    Raises TextgenError listing every missing file, or naming the file that is truncated,
    corrupt or does not match the hash in textgen.json (a tampered file).
    """
    path = resolve_model_path(path)
    meta = read_metadata(path)
    if meta.get("task", LANGUAGE_MODEL) != LANGUAGE_MODEL:
        raise TextgenError(f"{path} is a {meta['task']}, not a language model: give this command a model "
                           "directory written by `textgen train`")
    try:
        config = ModelConfig.from_dict(meta["model"])
    except TextgenError as error:
        raise TextgenError(f"{path / META_FILE}: {error}") from None
    model, tokenizer = load_network(path, meta, config, lambda: LanguageModel(config), {TIED_KEY} if config.tie_weights else set())
    return LoadedModel(model.to(device).eval(), tokenizer, meta, path)


def load_network(path: Path, meta: dict, config: ModelConfig, build, allowed_missing: set[str] = frozenset()):
    """The network `build()` makes, with the directory's weights, and its tokenizer: every file
    checked against its hash, the weights' names and shapes (from the file's header) against the
    network before the weights are decoded, and their values for NaN. Returns (network, tokenizer)."""
    from safetensors import SafetensorError
    from safetensors.torch import load as load_safetensors

    tokenizer_name, hashes = meta["tokenizer"]["file"], meta["files"]
    if config.parameter_count() > MAX_PARAMETERS:
        raise TextgenError(f"{path / META_FILE} describes a model of {config.parameter_count():,} parameters, more than "
                           f"textgen loads ({MAX_PARAMETERS:,}): the file is damaged or not a textgen model")
    missing = [name for name in (MODEL_FILE, tokenizer_name) if not (path / name).exists()]
    if missing:
        raise TextgenError(f"model directory {path} is incomplete: missing {', '.join(missing)} "
                           "(was training stopped before its first save?)")
    data = {}
    for name, limit in ((MODEL_FILE, MAX_MODEL_BYTES), (tokenizer_name, MAX_TOKENIZER_BYTES)):
        data[name] = read_bytes(path / name, "model file", limit)
        if sha256(data[name]) != hashes.get(name):
            raise TextgenError(f"{path / name} does not match the hash recorded in {META_FILE}: the file is truncated, "
                               "corrupt or was changed; export or download the model again")
    tokenizer = tokenizer_from_bytes(data[tokenizer_name], source=str(path / tokenizer_name))
    if tokenizer.vocab_size != config.vocab_size:
        raise TextgenError(f"{path}: the tokenizer has {tokenizer.vocab_size} tokens but the model expects {config.vocab_size}")
    declared = safetensors_header(data[MODEL_FILE], path / MODEL_FILE)
    # A network about the size the file holds is built for real: meta tensors' Python kernels import
    # half of torch (1.5 s, more than the whole load of a small model). One that the description
    # claims is much larger is checked on the meta device first, so a lying textgen.json never
    # allocates gigabytes.
    stored = sum(math.prod(shape) for _, shape in declared.values())
    network = build() if config.parameter_count() <= 2 * stored + (1 << 20) else None
    if network is None:
        with torch.device("meta"):
            shapes = build().state_dict()
    else:
        shapes = network.state_dict()
    expected = {name: tuple(tensor.shape) for name, tensor in shapes.items() if name not in allowed_missing}
    problems = [f"{name} is {shape} where the model needs {expected[name]}" for name, (_, shape) in declared.items()
                if name in expected and shape != expected[name]]
    problems += [f"{name} is missing" for name in expected if name not in declared]
    problems += [f"{name} is not part of the model" for name in declared if name not in expected and name not in allowed_missing]
    if problems:  # checked on the header, before any memory is taken for the weights
        raise TextgenError(f"{path / MODEL_FILE} does not fit the model in {META_FILE}: {'; '.join(problems[:3])}")
    odd = sorted(f"{name} ({dtype})" for name, (dtype, _) in declared.items() if dtype not in ("F32", "BF16", "F16"))
    if odd:
        raise TextgenError(f"{path / MODEL_FILE} holds tensors of a type textgen does not store: {', '.join(odd[:3])}; "
                           "weights are float32, bfloat16 or float16")
    try:
        state = load_safetensors(data[MODEL_FILE])
    except (SafetensorError, ValueError, RuntimeError) as error:
        raise TextgenError(f"{path / MODEL_FILE} is not a valid safetensors file ({error})") from None
    broken = sorted(name for name, tensor in state.items() if not torch.isfinite(tensor.float()).all())
    if broken:
        raise TextgenError(f"{path / MODEL_FILE} has NaN or infinite values in {', '.join(broken[:3])}: the weights are "
                           "damaged; use an earlier checkpoint or train again")
    network = network if network is not None else build()
    try:
        result = network.load_state_dict(state, strict=False)
    except RuntimeError as error:
        detail = str(error).strip().splitlines()[-1].strip()[:200]
        raise TextgenError(f"{path / MODEL_FILE} does not fit the model in {META_FILE}: {detail}") from None
    problems = sorted(set(result.missing_keys) - set(allowed_missing)) + sorted(result.unexpected_keys)
    if problems:
        raise TextgenError(f"{path / MODEL_FILE} does not fit the model in {META_FILE}: {', '.join(problems[:5])}")
    return network, tokenizer


def export_model(model_dir: str | os.PathLike, out_dir: str | os.PathLike, dtype: str = "bfloat16",
                 overwrite: bool = False) -> int:
    """Copy a model directory (a language model's or a classifier's) for sharing: weights in `dtype`,
    tokenizer, textgen.json and the training curves, without the lightning/ resume state. Returns
    the bytes written."""
    import shutil

    if read_metadata(model_dir).get("task", LANGUAGE_MODEL) != LANGUAGE_MODEL:
        from textgen.classify.predict import load_classifier

        loaded = load_classifier(model_dir)
    else:
        loaded = load(model_dir)
    out = Path(out_dir)
    if out.resolve() == loaded.path.resolve():
        raise TextgenError(f"OUT {out} is MODEL itself: give another folder")
    if (out / META_FILE).exists() and not overwrite:
        raise TextgenError(f"{out} holds a model directory already: add --overwrite to replace it")
    from textgen.atomic import prepare_output

    prepare_output(out / META_FILE)
    keep = {key: value for key, value in loaded.metadata.items()
            if key not in ("format", "format_version", "model", "tokenizer", "files", "weights_dtype")}  # a classifier's head and labels stay
    save_model_dir(out, loaded.model, loaded.tokenizer, {**keep, "exported_from": str(model_dir)}, dtype=dtype)
    for name in SHARED_FILES:
        if (loaded.path / name).is_file():
            shutil.copyfile(loaded.path / name, out / name)
    return sum(path.stat().st_size for path in out.iterdir() if path.is_file())
