"""A language model directory read into numpy, for the default `textgen generate`: one story written
without importing torch, whose import is most of a first story's time (3.3-3.7 s of 5.1 s on the
2-core AMD EPYC, 1.15 of 1.74 s on the Intel Xeon; BENCHMARKS.md).

It reads the directory with the checks torch's loader makes (textgen.json's schema, every file
against its hash, the tokenizer's size, each tensor's name, shape and type from the weights' header
before a value is decoded, NaN) and runs the step torch's path runs for one story on float32 CPU
weights (textgen.model.numpy.step, the same arrays and the same products), so a seed writes the
same story on both paths. Cells without a numpy step (GRU, peephole) are torch's: `load` returns
None and the caller loads torch.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from textgen.errors import TextgenError
from textgen.model.config import ModelConfig
from textgen.model.numpy.step import INPUT_TABLE_BYTES, NumpyStep, blas_threads, input_table, step_weights
from textgen.modeldir.names import LANGUAGE_MODEL, META_FILE, MODEL_FILE
from textgen.modeldir.schema import (
    TIED_KEY,
    ModelDescription,
    language_model_config,
    language_model_tensors,
    read_checked_files,
    read_description,
    safetensors_arrays,
    shape_problems,
)

CELLS = ("lstm", "rnn")  # the cells with a numpy step (GRU and peephole step in torch)
THREAD_MARGIN = 1.15  # more BLAS threads only where a step is at least this much faster (one is safer beside other work)
TIMED_ROUNDS, TIMED_STEPS = 3, 4  # the timing: rounds taking turns, steps a round (about 20 ms for the shipped model)


@dataclass
class NumpyLanguageModel(ModelDescription):
    """A language model's network as numpy arrays (`step`: one token at a time for one story), its
    tokenizer and its description: the parts of textgen.modeldir.store.LoadedModel that writing a
    story reads (`words`, `sampling`, `config`), so a Sampler takes either."""

    config: ModelConfig
    tokenizer: object
    step: NumpyStep
    metadata: dict = field(default_factory=dict)
    path: Path | None = None
    threads: str = ""  # numpy's BLAS threads and why (choose_blas_threads), for --verbose

    @property
    def model(self) -> NumpyLanguageModel:
        """What a Sampler writes with (LoadedModel's network; here the same object)."""
        return self

    @classmethod
    def load(cls, path: str | os.PathLike) -> NumpyLanguageModel | None:
        """The language model at `path` (a shipped name resolved), or None for a cell without a numpy
        step; a directory of another task, or a damaged one, is refused as torch's loader refuses it."""
        path, meta = read_description(path, LANGUAGE_MODEL)
        config = language_model_config(path, meta)
        if config.cell not in CELLS:
            return None
        data, tokenizer, declared = read_checked_files(path, meta, config.vocab_size, config.parameter_count())
        problems = shape_problems(declared, language_model_tensors(config))
        if problems:
            raise TextgenError(f"{path / MODEL_FILE} does not fit the model in {META_FILE}: {'; '.join(problems[:3])}")
        # aligned copies where the file's bytes are not: numpy hands only aligned arrays to BLAS, whose products
        # torch's path takes too
        weights = {name: np.require(array, requirements=["C", "A"])
                   for name, array in safetensors_arrays(data, declared, path / MODEL_FILE).items()}
        broken = sorted(name for name, array in weights.items() if not np.isfinite(array).all())
        if broken:
            raise TextgenError(f"{path / MODEL_FILE} has NaN or infinite values in {', '.join(broken[:3])}: the weights are "
                               "damaged; use an earlier checkpoint or train again")
        step = numpy_step(config, weights)
        return cls(config, tokenizer, step, meta, path, choose_blas_threads(step))

    def read(self, ids: list[int]) -> tuple[np.ndarray, list[tuple[np.ndarray, ...]]]:
        """The logits (V,) after `ids` (the prompt with its <s>) and the state, a token at a time from
        zero memories: what torch's `LanguageModel.read` does for a prompt of up to READ_BY_STEPS tokens."""
        state = self.step.zero_state()
        for token_id in ids:
            logits, state = self.step.arrays_step(slice(token_id, token_id + 1), state)
        return logits[0], state


def numpy_step(config: ModelConfig, weights: dict[str, np.ndarray]) -> NumpyStep:
    """The step of a model of `config` with these arrays (by state-dict name), built as
    LanguageModel._step_plan builds it: the first layer reads an input table where it fits."""
    embedding = weights["embedding.weight"]
    layers, table = [], None
    for index in range(config.num_layers):
        w_ih, w_hh, b_ih, b_hh = (weights[f"layers.{index}.rnn.{name}_l0"]
                                  for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
        if index == 0 and embedding.shape[0] * w_ih.shape[0] * embedding.itemsize <= INPUT_TABLE_BYTES:
            table = input_table(embedding, w_ih, b_ih, b_hh)
            layers.append((config.cell, w_hh.T, None))
        else:
            layers.append((config.cell, *step_weights(w_ih, w_hh, b_ih, b_hh)))
    projection = (weights["projection.weight"].T, weights["projection.bias"]) if config.projects_output else None
    decoder = weights[TIED_KEY] if not config.tie_weights else embedding
    return NumpyStep(None if table is not None else embedding, table, layers, projection, (decoder.T, weights["decoder.bias"]))


def available_threads() -> int:
    """The threads numpy's BLAS may use: OMP_NUM_THREADS or OPENBLAS_NUM_THREADS where set, else the
    cores this process may run on."""
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def choose_blas_threads(step: NumpyStep) -> str:
    """Hold numpy's BLAS to the thread count that steps this model fastest here: one thread and all
    of them take turns for a few steps each (TIMED_ROUNDS x TIMED_STEPS; the numbers do not depend on
    the count), and all are kept only where a step is THREAD_MARGIN times faster. On the 2-core AMD
    EPYC two threads stepped the shipped model about twice as fast; beside a busy core the second
    thread waits on it. Returns the line --verbose prints."""
    most = available_threads()
    if most <= 1:
        blas_threads(1)
        return "numpy's BLAS: 1 thread (one core)"
    state, times = step.zero_state(), {1: [], most: []}
    for _ in range(TIMED_ROUNDS):
        for count, spent in times.items():
            blas_threads(count)
            began = time.perf_counter()
            for _ in range(TIMED_STEPS):
                step.arrays_step(slice(1, 2), state)
            spent.append((time.perf_counter() - began) / TIMED_STEPS)
    one, every = (statistics.median(times[count]) for count in (1, most))
    chosen = most if every * THREAD_MARGIN <= one else 1
    blas_threads(chosen)
    return (f"numpy's BLAS: {chosen} thread{'s' * (chosen > 1)} (a step took {1000 * every:.2f} ms with {most} threads "
            f"and {1000 * one:.2f} ms with 1)")
