"""A model directory's description, textgen.json, and where each of its files lives: the one place
that writes the description and reads it unchecked (its files' names are textgen.modeldir.names';
the checked reading is textgen.modeldir.schema's, loading the weights textgen.modeldir.store's).

    ModelDirectory("checkpoints/little").metadata_path    # checkpoints/little/textgen.json
    ModelDirectory(out).update_metadata(status="trained")   # atomic rewrite of one field
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from textgen.errors import TextgenError
from textgen.modeldir.atomic import write_bytes
from textgen.modeldir.names import (
    BEST_CHECKPOINT,
    CURVES_FILE,
    FORMAT,
    FORMAT_VERSION,
    LAST_CHECKPOINT,
    LIGHTNING_DIR,
    MAX_META_BYTES,
    META_FILE,
    METRICS_FILE,
    MODEL_FILE,
    tokenizer_file,
)
from textgen.modeldir.safe_read import read_json


def metadata_bytes(meta: dict) -> bytes:
    """textgen.json's text, as every writer writes it. A path whose name is not UTF-8 (Python holds
    its bytes as lone surrogates) is written as JSON's \\udcXX escapes, which read back as the same path.
    The training words (one long line) come last, after everything a person reads."""
    if "words" in meta:
        meta = {**{key: value for key, value in meta.items() if key != "words"}, "words": meta["words"]}
    return (json.dumps(meta, indent=2, ensure_ascii=False) + "\n").encode("utf-8", errors="backslashreplace")


def description(metadata: dict, model: dict, tokenizer_kind: str, vocab_size: int, files: dict[str, str],
                **fields) -> dict:
    """A whole textgen.json: the caller's metadata (training, corpus, metrics, status ...) with the
    format, the model settings, the tokenizer and the files' hashes."""
    return {**metadata, "format": FORMAT, "format_version": FORMAT_VERSION, "model": model,
            "tokenizer": {"kind": tokenizer_kind, "file": tokenizer_file(tokenizer_kind), "vocab_size": vocab_size},
            **fields, "files": files}


def recorded_settings(data: dict, path="a config file") -> dict:
    """The settings a run's textgen.json holds, as a settings file gives them (`textgen train
    --config OUT/textgen.json` trains the same model again): its training block and its model block
    without the vocabulary size, which the tokenizer sets. Any other settings file as it is."""
    if data.get("format") != FORMAT:
        return data
    blocks = {name: data.get(name) or {} for name in ("training", "model")}
    for name, block in blocks.items():
        if not isinstance(block, dict):
            raise TextgenError(f"config file {path}: its \"{name}\" block must hold key = value settings, not "
                               f"{type(block).__name__}: is it a textgen.json that textgen wrote?")
    model = {key: value for key, value in blocks["model"].items() if key != "vocab_size"}
    return {**blocks["training"], **model}


@dataclass(frozen=True)
class ModelDirectory:
    """Where each file of a model directory lives, and its description's reading and writing."""

    path: Path

    def __init__(self, path: str | os.PathLike):
        object.__setattr__(self, "path", Path(path))

    @property
    def metadata_path(self) -> Path:
        return self.path / META_FILE

    @property
    def weights_path(self) -> Path:
        return self.path / MODEL_FILE

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS_FILE

    @property
    def curves_path(self) -> Path:
        return self.path / CURVES_FILE

    @property
    def lightning_dir(self) -> Path:
        return self.path / LIGHTNING_DIR

    @property
    def last_checkpoint(self) -> Path:
        return self.lightning_dir / LAST_CHECKPOINT

    @property
    def best_checkpoint(self) -> Path:
        return self.lightning_dir / BEST_CHECKPOINT

    def tokenizer_path(self, kind: str) -> Path:
        return self.path / tokenizer_file(kind)

    def read_metadata(self) -> dict:
        """textgen.json as a JSON object, read with the bounds of every textgen file (a regular file
        of at most MAX_META_BYTES, nested at most files.MAX_DEPTH deep); its fields are the
        caller's to check (`textgen.modeldir.schema.check_metadata` checks a whole description)."""
        meta = read_json(self.metadata_path, "model description", MAX_META_BYTES)
        if not isinstance(meta, dict):
            raise TextgenError(f"{self.metadata_path} is not a textgen model description (not a JSON object): "
                               "train or export the model again")
        return meta

    def write_metadata(self, meta: dict) -> None:
        """textgen.json, atomically (a temporary file in the folder, then renamed; a link in its
        place is replaced, never written through)."""
        write_bytes(self.metadata_path, metadata_bytes(meta), follow_links=False)

    def update_metadata(self, **changes) -> dict:
        """Rewrite textgen.json with some fields changed; the weights and their hashes stay."""
        meta = {**self.read_metadata(), **changes}
        self.write_metadata(meta)
        return meta
