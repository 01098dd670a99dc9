"""The model directory every inference command loads: textgen.json, model.safetensors and the
tokenizer file. Loading never unpickles anything and refuses a directory that is incomplete,
from a newer format, or whose files do not match the hashes recorded in textgen.json.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from textgen.atomic import write_bytes, write_text
from textgen.config import ModelConfig
from textgen.errors import TextgenError
from textgen.model import LanguageModel
from textgen.tokenizer import Tokenizer, tokenizer_from_bytes

FORMAT = "textgen-model"
FORMAT_VERSION = 1
META_FILE = "textgen.json"
MODEL_FILE = "model.safetensors"
TIED_KEY = "decoder.weight"  # the same tensor as embedding.weight when weights are tied: stored once


def tokenizer_file(kind: str) -> str:
    return "tokenizer.model" if kind == "sentencepiece" else "tokenizer.json"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def model_bytes(model: LanguageModel) -> bytes:
    """The weights as safetensors bytes (tied decoder weight left out; the model re-ties it)."""
    from safetensors.torch import save

    state = {name: tensor.detach().to("cpu").contiguous() for name, tensor in model.state_dict().items()}
    if model.config.tie_weights:
        state.pop(TIED_KEY, None)
    return save(state, metadata={"format": FORMAT, "format_version": str(FORMAT_VERSION)})


def save_model_dir(path: str | os.PathLike, model: LanguageModel, tokenizer: Tokenizer, metadata: dict) -> Path:
    """Write weights, tokenizer and textgen.json (last, with the files' hashes), each atomically."""
    path = Path(path)
    weights = model_bytes(model)
    tokenizer_data = tokenizer.to_bytes()
    name = tokenizer_file(tokenizer.kind)
    write_bytes(path / MODEL_FILE, weights)
    write_bytes(path / name, tokenizer_data)
    meta = {
        **metadata,
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": model.config.to_dict(),
        "tokenizer": {"kind": tokenizer.kind, "file": name, "vocab_size": tokenizer.vocab_size},
        "files": {MODEL_FILE: sha256(weights), name: sha256(tokenizer_data)},
    }
    write_text(path / META_FILE, json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    return path


def read_metadata(path: str | os.PathLike) -> dict:
    """textgen.json of a model directory, checked for format and version."""
    path = Path(path)
    meta_path = path / META_FILE
    if path.is_file():
        raise TextgenError(f"{path} is a file: give the model directory that holds it ({path.parent})")
    if not path.is_dir():
        raise TextgenError(f"model directory {path} does not exist: train one with `textgen train CORPUS --out {path}`")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TextgenError(f"{path} is not a textgen model directory: {META_FILE} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise TextgenError(f"{meta_path} is unreadable or corrupt ({error}): export the model again") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise TextgenError(f"{meta_path} is not a textgen model description")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise TextgenError(f"{path} has model format version {version}, newer than this textgen reads ({FORMAT_VERSION}): "
                           "upgrade textgen")
    return meta


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
    from safetensors import SafetensorError
    from safetensors.torch import load as load_safetensors

    path = Path(path)
    meta = read_metadata(path)
    try:
        config = ModelConfig.from_dict(meta["model"])
        tokenizer_name = meta["tokenizer"]["file"]
        hashes = meta["files"]
    except (KeyError, TypeError) as error:
        raise TextgenError(f"{path / META_FILE} lacks {error}: export the model again") from None
    if tokenizer_name not in ("tokenizer.model", "tokenizer.json"):
        raise TextgenError(f"{path / META_FILE} names an unexpected tokenizer file {tokenizer_name!r}")
    missing = [name for name in (MODEL_FILE, tokenizer_name) if not (path / name).is_file()]
    if missing:
        raise TextgenError(f"model directory {path} is incomplete: missing {', '.join(missing)} "
                           "(was training stopped before its first save?)")
    data = {}
    for name in (MODEL_FILE, tokenizer_name):
        data[name] = (path / name).read_bytes()
        if sha256(data[name]) != hashes.get(name):
            raise TextgenError(f"{path / name} does not match the hash recorded in {META_FILE}: the file is truncated, "
                               "corrupt or was changed; export or download the model again")
    tokenizer = tokenizer_from_bytes(data[tokenizer_name], source=str(path / tokenizer_name))
    if tokenizer.vocab_size != config.vocab_size:
        raise TextgenError(f"{path}: the tokenizer has {tokenizer.vocab_size} tokens but the model expects {config.vocab_size}")
    try:
        state = load_safetensors(data[MODEL_FILE])
    except (SafetensorError, ValueError, RuntimeError) as error:
        raise TextgenError(f"{path / MODEL_FILE} is not a valid safetensors file ({error})") from None
    model = LanguageModel(config)
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as error:
        detail = str(error).strip().splitlines()[-1].strip()[:200]
        raise TextgenError(f"{path / MODEL_FILE} does not fit the model in {META_FILE}: {detail}") from None
    allowed_missing = {TIED_KEY} if config.tie_weights else set()
    problems = sorted(set(result.missing_keys) - allowed_missing) + sorted(result.unexpected_keys)
    if problems:
        raise TextgenError(f"{path / MODEL_FILE} does not fit the model in {META_FILE}: {', '.join(problems[:5])}")
    return LoadedModel(model.to(device).eval(), tokenizer, meta, path)
