"""What --resume continues from: lightning/last.ckpt, checked before Lightning touches it.

The file is loaded the safe way (weights only: no pickled code runs) and must be a Lightning
checkpoint of a textgen run of the same kind (language model or classifier) whose tensors have the
shapes of the model this run builds from its textgen.json, with the same optimizer. Anything else,
whether damaged, empty, another kind's or another model's, is refused in one line naming the file
and what to do, before any training.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch

from textgen.errors import TextgenError
from textgen.modeldir.names import CLASSIFIER, LANGUAGE_MODEL

FIX = "put back this run's own last.ckpt, or train afresh with --overwrite"
# what Lightning reads from a checkpoint when it resumes (a missing one was a KeyError deep inside it)
LIGHTNING_KEYS = ("pytorch-lightning_version", "state_dict", "optimizer_states", "lr_schedulers", "loops", "global_step",
                  "hyper_parameters")
SHAPE_NAMES = ("cell", "vocab_size", "embed_dim", "hidden_size", "num_layers", "tie_weights", "output_projection")


def check_checkpoint(path: Path, kind: str = LANGUAGE_MODEL) -> dict:
    """Load a run's last.ckpt safely and check it is a textgen `kind`'s Lightning checkpoint. Returns
    textgen's own part of it (carried state, validation history, training seconds) with the step
    (`global_step`) and what check_resumable() compares (`tensors`, `optimizer_groups`, `hyper_parameters`)."""
    try:
        size = path.stat().st_size
    except OSError as error:
        raise TextgenError(f"--resume: cannot read {path} ({error.strerror}): {FIX}") from None
    if size == 0:
        raise TextgenError(f"--resume: {path} is empty (a save that was cut short?): it was not loaded; {FIX}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        what = ("is damaged or not a plain weights checkpoint (a safe, weights-only load refused it)"
                if "weights only" in str(error).lower() else "is damaged or not a checkpoint")
        raise TextgenError(f"--resume: {path} {what}: it was not loaded; {FIX}") from None
    except (RuntimeError, EOFError, KeyError, OSError, ValueError, AttributeError, TypeError, IndexError) as error:
        text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise TextgenError(f"--resume: {path} is damaged or truncated ({text[:120]}): it was not loaded; {FIX}") from None
    if not isinstance(checkpoint, dict):
        raise TextgenError(f"--resume: {path} holds a {type(checkpoint).__name__}, not a Lightning checkpoint: {FIX}")
    missing = [key for key in LIGHTNING_KEYS if key not in checkpoint]
    if missing:
        raise TextgenError(f"--resume: {path} is not a Lightning checkpoint of a textgen run (it has no "
                           f"{', '.join(missing)}): {FIX}")
    hyper = checkpoint["hyper_parameters"]
    settings = hyper.get("model_config") if isinstance(hyper, dict) else None
    if not isinstance(settings, dict) or not isinstance(checkpoint["state_dict"], dict):
        raise TextgenError(f"--resume: {path} is not a checkpoint of a textgen run (no model settings in it): {FIX}")
    its_kind = CLASSIFIER if "head_config" in hyper else LANGUAGE_MODEL
    if its_kind != kind:
        command = "textgen classify train" if its_kind == CLASSIFIER else "textgen train"
        raise TextgenError(f"--resume: {path} is a {its_kind}'s checkpoint, but this is a {kind}'s run (it would "
                           f"resume with {command}): {FIX}")
    extra = checkpoint.get("textgen")
    extra = dict(extra) if isinstance(extra, dict) else {}
    extra["global_step"] = int(checkpoint.get("global_step", 0) or 0)
    extra["tensors"] = {name: tuple(tensor.shape) for name, tensor in checkpoint["state_dict"].items()
                        if isinstance(tensor, torch.Tensor)}
    states = checkpoint["optimizer_states"]
    try:
        extra["optimizer_groups"] = [len(group["params"]) for state in states for group in state["param_groups"]]
    except (TypeError, KeyError):
        raise TextgenError(f"--resume: {path} has no readable optimizer state: {FIX}") from None
    extra["hyper_parameters"] = hyper
    return extra


def model_differences(resumed: dict, model: dict) -> list[str]:
    """How the checkpoint's model settings differ from `model` (a run's textgen.json "model") in shape."""
    before = resumed.get("hyper_parameters", {}).get("model_config", {})
    return [f"{name} {before[name]} in it, {model[name]} in the run" for name in SHAPE_NAMES
            if name in before and name in model and before[name] != model[name]]


def check_model(path: Path, resumed: dict, model: dict) -> None:
    """Refuse at once a checkpoint of another shape than the run's textgen.json says (before any data work)."""
    changed = model_differences(resumed, model)
    if changed:
        raise TextgenError(f"--resume: {path} holds another model than this run ({'; '.join(changed[:3])}): {FIX}")


def check_resumable(path: Path, resumed: dict, task) -> None:
    """Refuse a checkpoint whose model or optimizer is not the one `task` (built from the run's
    textgen.json and settings) has: another run's last.ckpt copied in, say."""
    saved = resumed.get("hyper_parameters", {})
    changed = model_differences(resumed, task.model_config.to_dict())
    expected = {name: tuple(tensor.shape) for name, tensor in task.state_dict().items()}
    found = resumed.get("tensors", {})
    if not changed:
        changed = [f"no {name}" for name in sorted(set(expected) - set(found))][:2]
        changed += [f"{name} not in this model" for name in sorted(set(found) - set(expected))][:2]
        changed += [f"{name} {list(found[name])} in it, {list(shape)} in the run" for name, shape in expected.items()
                    if name in found and found[name] != shape][:2]
    if changed:
        raise TextgenError(f"--resume: {path} holds another model than this run ({'; '.join(changed[:3])}): {FIX}")
    optimizer = saved.get("train_config", {}).get("optimizer")
    if optimizer and optimizer != task.train_config.optimizer:
        raise TextgenError(f"--resume with --optimizer {task.train_config.optimizer}: the run trains with {optimizer}, and "
                           f"its optimizer state cannot carry over; leave --optimizer out, or train afresh with --overwrite")
    configured = task.configure_optimizers()
    optimizers = [configured["optimizer"] if isinstance(configured, dict) else configured]
    groups = [len(group["params"]) for optimizer in optimizers for group in optimizer.param_groups]
    if groups != resumed.get("optimizer_groups", groups):
        raise TextgenError(f"--resume: {path} holds the optimizer state of another model ({len(resumed['optimizer_groups'])} "
                           f"parameter groups, this run has {len(groups)}): {FIX}")
