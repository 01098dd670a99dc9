"""Smaller, faster models for CPU generation: int8 dynamic quantisation or bfloat16 weights.

int8 uses torch's dynamic quantisation of the fused LSTM/GRU kernels and the decoder: weights
are stored as int8 and activations quantised on the fly. The transparent cells (`trace`)
need the float weights, so a quantised model is for generation and scoring only.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from textgen.errors import TextgenError
from textgen.model.language_model import LanguageModel

QUANTIZE_MODES = ("none", "int8", "bf16")


def resolve_mode(mode: str) -> str:
    """'auto' -> none (float32 weights) on every CPU: a rule from measurements on both CPU kinds the project
    runs on (BENCHMARKS.md, first story by --quantize). Without native bfloat16 (AMD EPYC) bf16 is emulated
    and slower; with it (Intel Xeon with AVX512-BF16/AMX) the first story took the same 1.9 s in every mode
    on one machine and three times as long in bf16 as in float32 on another (6.1-8.6 s against 2.3-2.6 s).
    float32 also writes the same story from the same seed on every CPU."""
    if mode == "auto":
        return "none"
    return mode


def quantize(model: LanguageModel, mode: str) -> LanguageModel:
    """A copy of `model` in the given mode (none returns the model itself), in eval mode."""
    mode = resolve_mode(mode)
    if mode not in QUANTIZE_MODES:
        raise TextgenError(f"quantize mode {mode!r} is unknown: use one of {', '.join(QUANTIZE_MODES)}")
    if mode == "none":
        return model.eval()
    if mode == "bf16":
        return copy.deepcopy(model).to(torch.bfloat16).eval()
    if model.config.cell in ("peephole", "rnn"):
        kinds = {nn.Linear}  # torch has no dynamic int8 kernel for these cells: only the decoder is quantised
    else:
        kinds = {nn.Linear, nn.LSTM, nn.GRU}
    return torch.ao.quantization.quantize_dynamic(copy.deepcopy(model).eval(), kinds, dtype=torch.qint8)


def weight_bytes(model: LanguageModel, mode: str = "none") -> int:
    """Bytes of weights one generation step reads, for the float model and its quantised forms:
    int8 stores each quantised weight matrix in one byte per value (biases stay float)."""
    per_value = {"none": 4, "bf16": 2, "int8": 4}[mode]
    quantised = {nn.Linear} if model.config.cell in ("peephole", "rnn") else {nn.Linear, nn.LSTM, nn.GRU}
    total, seen = 0, set()
    for module in model.modules():
        for name, parameter in module.named_parameters(recurse=False):
            if id(parameter) in seen:
                continue
            seen.add(id(parameter))
            one_byte = mode == "int8" and type(module) in quantised and parameter.dim() == 2
            total += parameter.numel() * (1 if one_byte else per_value)
    return total


def sampling_copy(model: LanguageModel, mode: str) -> LanguageModel:
    """The model to sample from: a bf16 or int8 copy where asked (auto: bf16 where the CPU has it
    natively), `model` itself for none or a model on an accelerator."""
    if mode == "none" or next(model.parameters()).device.type != "cpu":
        return model
    import warnings

    # torch deprecates its quantised tensor constructors but still runs them; the message is noise here
    warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*")
    return quantize(model, mode)
