"""The model directory every inference command loads: textgen.json, model.safetensors and the
tokenizer file. Loading never unpickles anything and refuses a directory that is incomplete,
from a newer format, or whose files do not match the hashes recorded in textgen.json. One
`load()` for both tasks: a language model's directory gives a LoadedModel, a classifier's a
LoadedClassifier.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from textgen.errors import TextgenError
from textgen.model.classifier import Classifier
from textgen.model.config import ModelConfig
from textgen.model.language_model import LanguageModel
from textgen.modeldir.layout import description, metadata_bytes
from textgen.modeldir.names import (
    CLASSIFIER,
    FORMAT,
    FORMAT_VERSION,
    LANGUAGE_MODEL,
    LIGHTNING_DIR,
    META_FILE,
    MODEL_DIR_FILES,
    MODEL_FILE,
    SHARED_FILES,
    task_of,
    tokenizer_file,
)
from textgen.modeldir.run_folder import recover, run_names
from textgen.modeldir.schema import (
    TIED_KEY,
    ModelDescription,
    RecordedWords,
    classifier_settings,
    decision_offsets,
    language_model_config,
    read_checked_files,
    read_description,
    read_metadata,
    recorded_words,
    sha256,
    shape_problems,
)
from textgen.modeldir.shipped import SHIPPED_DIR, SHIPPED_MODELS, refuse_shipped, resolve_model_path
from textgen.modeldir.swap import check_not_loop, current_file, locked, removed_on_failure, write_staged
from textgen.tokenizer import Tokenizer

if TYPE_CHECKING:
    from textgen.classify.data import Labels

__all__ = ["SHIPPED_DIR", "SHIPPED_MODELS", "LoadedClassifier", "LoadedModel", "expected_tensors", "export_model", "load",
           "load_network", "model_bytes", "read_metadata", "recorded_words", "RecordedWords", "resolve_model_path", "save_model_dir", "sha256"]
# (read_metadata, resolve_model_path, sha256 and the shipped models' names are the torch-free modules'; here too for
# callers that load, so a model's whole reading is one import)

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
                   dtype: str = "float32", copies: dict[str, Path] | None = None, replace: Iterable[str] = ()) -> Path:
    """Write weights, tokenizer and textgen.json (with the files' hashes) as one step: staged beside
    the old files, then swapped in (folder_swap.write_staged), so a kill, a signal or a full disk at
    any point leaves the old model or the new one, whole. `copies` ({name: file}) go in with them;
    the names in `replace` (textgen's own: metrics.csv, lightning/last.ckpt ...) are removed in the
    same step. Another tokenizer file of the old model goes too.

    Raises TextgenError (one line, true about what is left) when the disk is full or the folder
    is another process's."""
    path = Path(path)
    weights = model_bytes(model, dtype)
    tokenizer_data = tokenizer.to_bytes()
    name = tokenizer_file(tokenizer.kind)
    meta = description(metadata, model.config.to_dict(), tokenizer.kind, tokenizer.vocab_size,
                       {MODEL_FILE: sha256(weights), name: sha256(tokenizer_data)}, weights_dtype=dtype)
    contents = {MODEL_FILE: weights, name: tokenizer_data, META_FILE: metadata_bytes(meta)}
    write_staged(path, contents, copies, remove=[*MODEL_DIR_FILES, *replace])
    return path


def expected_tensors(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """The tensors a model of this config has, with their shapes, built on the meta device (no memory)."""
    with torch.device("meta"):
        model = LanguageModel(config)
    shapes = {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}
    if config.tie_weights:
        shapes.pop(TIED_KEY, None)
    return shapes


@dataclass
class LoadedModel(ModelDescription):
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
        from textgen.model.neural_cache import CacheSettings

        chosen = (self.metadata.get("cache") or {}).get("settings")
        if chosen is None:
            return None
        try:
            return CacheSettings.from_dict(chosen)
        except TextgenError as error:
            raise TextgenError(f"{self.path}/{META_FILE}: cache settings are invalid ({error})") from None


@dataclass
class LoadedClassifier:
    """A classifier ready for inference: the network (in eval mode), its tokenizer, its labels and
    its description (with the decision offsets tuned on validation)."""

    model: Classifier
    tokenizer: Tokenizer
    labels: Labels
    metadata: dict = field(default_factory=dict)
    path: Path | None = None

    @property
    def decision_bias(self) -> torch.Tensor:
        """Per-class offsets tuned on the validation set for macro-F1 (zeros when none were tuned)."""
        return torch.tensor(decision_offsets(self.metadata, len(self.labels.names)), dtype=torch.float32)

    def scores(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Class scores (B, K): the network's logits plus the decision offsets."""
        logits = self.model(tokens, lengths).float()
        return logits + self.decision_bias.to(logits.device)


def load(path: str | os.PathLike, device: str | torch.device = "cpu",
         task: str | None = LANGUAGE_MODEL) -> LoadedModel | LoadedClassifier:
    """Load a model directory without unpickling anything: a language model's as a LoadedModel, a
    classifier's as a LoadedClassifier. `task` is the kind the caller needs (a directory of the
    other kind is refused in one line naming both); None takes whichever the directory holds.

    Raises TextgenError listing every missing file, or naming the file that is truncated,
    corrupt or does not match the hash in textgen.json (a tampered file).
    """
    path, meta = read_description(path, task)
    if task_of(meta) == CLASSIFIER:
        config, head, labels = classifier_settings(path, meta)
        model, tokenizer = load_network(path, meta, config, lambda: Classifier(config, head))
        return LoadedClassifier(model.to(device).eval(), tokenizer, labels, meta, path)
    config = language_model_config(path, meta)
    model, tokenizer = load_network(path, meta, config, lambda: LanguageModel(config), {TIED_KEY} if config.tie_weights else set())
    return LoadedModel(model.to(device).eval(), tokenizer, meta, path)


def load_network(path: Path, meta: dict, config: ModelConfig, build, allowed_missing: set[str] = frozenset()):
    """The network `build()` makes, with the directory's weights, and its tokenizer: every file
    checked against its hash, the weights' names and shapes (from the file's header) against the
    network before the weights are decoded, and their values for NaN. Returns (network, tokenizer)."""
    from safetensors import SafetensorError
    from safetensors.torch import load as load_safetensors

    weights, tokenizer, declared = read_checked_files(path, meta, config.vocab_size, config.parameter_count())
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
    problems = shape_problems(declared, expected, allowed_missing)
    if problems:  # checked on the header, before any memory is taken for the weights
        raise TextgenError(f"{path / MODEL_FILE} does not fit the model in {META_FILE}: {'; '.join(problems[:3])}")
    try:
        state = load_safetensors(weights)
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
                 overwrite: bool = False, on_note=None, words=None) -> int:
    """Copy a model directory (a language model's or a classifier's) for sharing: weights in `dtype`,
    tokenizer, textgen.json and the training curves, without the lightning/ resume state. Returns
    the bytes written. `words`: a "words" record (textgen.analysis.words.words_record) to add where
    MODEL records none, or none with "capitals" (a model trained before textgen recorded them).

    OUT's files are replaced as one step (staged, then swapped in), with OUT locked against other
    textgen processes. Only the files export writes are ever replaced, and only with `overwrite`;
    over a training run, `overwrite` also removes the run's lightning/ checkpoints, which would
    resume another model (a note says so through `on_note`)."""
    out = Path(out_dir)
    check_not_loop(out, "OUT")
    refuse_shipped(out)
    if out.exists() and not out.is_dir():
        raise TextgenError(f"OUT {out} is a file: give a folder for the model directory")
    source = resolve_model_path(model_dir)
    check_not_loop(source, "MODEL")
    if os.path.realpath(out) == os.path.realpath(source):
        raise TextgenError(f"OUT {out} is MODEL itself: give another folder")
    existing = set(run_names(out)) if out.is_dir() else set()
    if existing and not overwrite:  # checked again under the lock below; here before the model is loaded
        raise TextgenError(export_refusal(out, existing))
    loaded = load(source, task=None)
    keep = {key: value for key, value in loaded.metadata.items()
            if key not in ("format", "format_version", "model", "tokenizer", "files", "weights_dtype")}  # a classifier's head and labels stay
    if words is not None and not (isinstance(keep.get("words"), dict) and "capitals" in keep["words"]):
        keep["words"] = words
    copies = {name: current_file(loaded.path, name) for name in SHARED_FILES if current_file(loaded.path, name).is_file()}
    with removed_on_failure(out), locked(out, hint="give another OUT"):
        done = recover(out)  # what a killed writer left: finished or removed first
        if done and on_note is not None:
            on_note(f"{out}: {done}")
        existing = set(run_names(out))
        if existing and not overwrite:
            raise TextgenError(export_refusal(out, existing))
        checkpoints = sorted(name for name in existing if name.startswith(f"{LIGHTNING_DIR}/"))
        save_model_dir(out, loaded.model, loaded.tokenizer, {**keep, "exported_from": str(model_dir)}, dtype=dtype,
                       copies=copies, replace=existing)
    if checkpoints and on_note is not None:
        on_note(f"{out} held a training run: its resume state ({', '.join(checkpoints)}) was removed with it, since it "
                "would resume another model; train there afresh with --overwrite")
    written = [MODEL_FILE, tokenizer_file(loaded.tokenizer.kind), META_FILE, *copies]
    return sum((out / name).stat().st_size for name in written if (out / name).is_file())


def export_refusal(out: Path, existing: set[str]) -> str:
    """Why export will not write into OUT without --overwrite."""
    if META_FILE in existing:
        return f"{out} holds a model directory already: add --overwrite to replace it"
    checkpoints = sorted(name for name in existing if name.startswith(f"{LIGHTNING_DIR}/"))
    if checkpoints:
        return (f"{out} holds a training run ({', '.join(checkpoints)}): add --overwrite to replace it with the exported "
                "model (its resume state is removed), or give another folder")
    return (f"{out} already has {', '.join(sorted(existing))}, which export writes: add --overwrite to replace "
            f"{'it' if len(existing) == 1 else 'them'}, or give another folder")
