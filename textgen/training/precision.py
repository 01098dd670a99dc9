"""Which number format a training run computes in, chosen by measuring this machine.

`--precision auto` (the default) picks between float32 ("32") and bfloat16 autocast with float32
weights ("bf16-mixed"):

- on a GPU: bf16-mixed where it computes in bfloat16 (torch.cuda.is_bf16_supported()), else 32;
- on the CPU, for a run that time bounds (--max-time alone) in one process: a few training steps of
  a model of the run's own shape and batch are timed in each format, taking turns, and bf16-mixed
  is kept only where its median step is at least MARGIN times faster. Whether it is depends on the CPU, not on a flag it
  advertises: on a 2-core Intel Xeon with AMX a 1 x 384 step took 47 ms against 89 ms, and the
  300 s TinyStories run scored 1.0625 test bits per byte against 1.0905 (BENCHMARKS.md); on a 2-core AMD
  EPYC without native bfloat16 the first bf16-mixed step took 3.2 s against 0.4 s, and float32 stayed. The timing
  takes about a second and counts in the budget; the run's random numbers are as they were before it;
- a run bounded by steps or epochs, a --deterministic one, and a CPU run of several processes train
  in float32: the same numbers on every machine, where time does not buy quality.

The weights and the optimizer stay float32 in both formats; validation, the cache search and the
saved model are float32. The precision a run used is in textgen.json ("precision") and --json.
"""

from __future__ import annotations

import copy
import statistics
import time
from typing import Callable

from textgen.model.config import TrainConfig
from textgen.training.schedule import time_bounded

CANDIDATES = ("32", "bf16-mixed")
MARGIN = 1.15  # bf16-mixed must take at most 1/1.15 of float32's step time to be chosen
ROUNDS = 3  # timed steps of each format, after one warm-up step each
SHARE = 0.05  # at most this share of the budget (and MOST_SECONDS) is spent timing: about 8 steps
MOST_SECONDS = 10.0

Probe = Callable[[bool], None]  # one training step, in bfloat16 autocast when True


def on_gpu(config: TrainConfig) -> bool:
    import torch

    if config.accelerator in ("gpu", "cuda"):
        return True
    return config.accelerator == "auto" and torch.cuda.is_available()


def choose_precision(config: TrainConfig, make_probe: Callable[[], Probe]) -> tuple[str, str, float | None]:
    """(precision, why, the chosen format's measured step in seconds or None) for `config`; `make_probe`
    builds the step that the CPU timing runs. A --max-time run on one CPU process with the format given
    times that format alone (its step time plans the regularisation, textgen.training.regularisation)."""
    import torch

    if on_gpu(config):
        if config.precision != "auto":
            return config.precision, "as given", None
        if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            return "bf16-mixed", "this GPU computes in bfloat16", None
        return "32", "this GPU has no bfloat16", None
    world = config.num_nodes * (config.devices if isinstance(config.devices, int) else 2)
    timed = time_bounded(config) and world == 1
    seconds = min(MOST_SECONDS, SHARE * config.max_time) if config.max_time else 0.0
    if config.precision != "auto":
        known = config.precision in ("32", "32-true", "bf16-mixed")
        step = time_formats(make_probe, seconds, (config.precision,)) if timed and known else None
        return config.precision, "as given", (step or {}).get(config.precision)
    if not timed or config.deterministic:
        kind = ("--deterministic" if config.deterministic else "several processes" if world > 1
                else "a run bounded by steps or epochs")
        return "32", f"{kind} trains in float32, the same numbers on every machine", None
    warm_ups: dict[str, float] = {}
    timings = time_formats(make_probe, seconds, warm_ups=warm_ups)
    if timings is None:
        single, mixed = warm_ups.get("32"), warm_ups.get("bf16-mixed")
        if single is not None and mixed is not None and mixed >= MARGIN * single:  # the bf16 step is the slow one
            return "32", (f"a first step took {mixed:.1f} s in bf16-mixed against {single:.1f} s in float32 on this CPU; "
                          "timing more would spend over 5% of the budget (at most 10 s)"), None
        return "32", "a training step is too slow to time within 5% of the budget (at most 10 s)", None
    single, mixed = timings["32"], timings["bf16-mixed"]
    if mixed is None:
        return "32", "this CPU cannot train this model in bfloat16", single
    measured = f"a step took {mixed * 1000:.0f} ms in bf16-mixed against {single * 1000:.0f} ms in float32 on this CPU"
    return ("bf16-mixed", measured, mixed) if single >= MARGIN * mixed else ("32", measured, single)


def time_formats(make_probe: Callable[[], Probe], seconds: float, formats: tuple[str, ...] = CANDIDATES,
                 warm_ups: dict[str, float] | None = None) -> dict[str, float | None] | None:
    """The median step time of each format, taking turns after a warm-up step each (None for
    bf16-mixed where this torch cannot run it here); None when the warm-up takes half of `seconds`,
    or the first round shows that the rest would not end within them (a model too large to time
    cheaply, or a format far slower than the other). `warm_ups` receives each warm-up step's seconds."""
    warm_ups = {} if warm_ups is None else warm_ups
    import torch

    with torch.random.fork_rng(devices=[]):  # the run's random numbers stay as they were
        probe = make_probe()
        started = time.perf_counter()
        for name in formats:  # a warm-up step of each, which pays the one-time costs
            began = time.perf_counter()
            try:
                probe(name == "bf16-mixed")
            except RuntimeError:  # no bfloat16 kernels for some layer on this CPU
                if name != "bf16-mixed":
                    raise
                return {"32": time.perf_counter() - started, "bf16-mixed": None}
            warm_ups[name] = time.perf_counter() - began
            if time.perf_counter() - started > seconds / 2:
                return None
        times: dict[str, list[float]] = {name: [] for name in formats}
        for round in range(ROUNDS):
            for name in formats:
                began = time.perf_counter()
                probe(name == "bf16-mixed")
                times[name].append(time.perf_counter() - began)
            spent = time.perf_counter() - started
            if round == 0 and spent + (ROUNDS - 1) * sum(values[0] for values in times.values()) > seconds:
                return None
    return {name: statistics.median(values) for name, values in times.items()}


def training_step(model, loss: Callable[[], object]) -> Probe:
    """One AdamW step of `model` on what `loss()` computes, in bfloat16 autocast when asked."""
    import torch

    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6)

    def step(bf16: bool) -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            value = loss()
        value.backward()
        optimizer.step()

    return step


def language_model_probe(config, batch_size: int, seq_len: int) -> Callable[[], Probe]:
    """A training step of a language model of `config` (a ModelConfig) on random tokens of the run's batch shape."""

    def make() -> Probe:
        import torch
        import torch.nn.functional as F

        from textgen.model.language_model import LanguageModel

        twin = LanguageModel(config).train()
        tokens = torch.randint(config.vocab_size, (batch_size, seq_len + 1))
        return training_step(twin, lambda: F.cross_entropy(
            twin.forward_with_activations(tokens[:, :-1]).logits.float().reshape(-1, config.vocab_size),
            tokens[:, 1:].reshape(-1)))

    return make


def classifier_probe(model, batch_size: int, length: int, classes: int) -> Callable[[], Probe]:
    """A training step of a copy of the classifier `model` on random texts of `length` tokens."""

    def make() -> Probe:
        import torch
        import torch.nn.functional as F

        twin = copy.deepcopy(model).train()
        tokens = torch.randint(twin.config.vocab_size, (batch_size, max(1, length)))
        lengths = torch.full((batch_size,), max(1, length), dtype=torch.long)
        targets = torch.randint(max(1, classes), (batch_size,))
        return training_step(twin, lambda: F.cross_entropy(twin(tokens, lengths).float(), targets))

    return make
