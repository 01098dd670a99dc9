"""The memory-span experiment: how many steps back can each cell recall a token?

Task for a span k: a sequence starts with a key symbol, then k - 1 random distractor
symbols from the same alphabet, then a query token; the model must output the key at the
query, k steps after it saw the key. Chance is 1 / symbols. Every cell gets the same
parameter budget (hidden size chosen to match it) and the same number of training steps,
so the table shows memory, not model size. The claim under test: a plain RNN handles
8-10 steps and then fails, while the LSTM does not.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from textgen.model.config import CELL_BLOCKS, ModelConfig
from textgen.errors import TextgenError
from textgen.model import LanguageModel

DEFAULT_SPANS = (2, 4, 8, 16, 32, 48, 64)
DEFAULT_CELLS = ("rnn", "gru", "lstm", "lstm+chrono")
VARIANTS = ("chrono",)  # "CELL+chrono": chrono initialisation of the gate biases over the longest span


@dataclass(frozen=True)
class MemorySpanSettings:
    """Settings of the experiment; the defaults finish in a few minutes on 2 CPU cores."""

    cells: tuple[str, ...] = DEFAULT_CELLS
    spans: tuple[int, ...] = DEFAULT_SPANS
    symbols: int = 8  # alphabet of keys and distractors; chance accuracy is 1/symbols
    parameter_budget: int = 12_000  # every cell gets about this many parameters
    embed_dim: int = 16
    steps: int = 800  # training steps per cell and span
    batch_size: int = 64
    learning_rate: float = 5e-3
    forget_bias: float | str = 3.0  # keep-gate bias of the gated cells, the same for every span ("+chrono" cells aside)
    eval_sequences: int = 1000
    seeds: int = 2  # independent runs per cell and span; the accuracy is their mean
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.cells or any(split_cell(cell) is None for cell in self.cells):
            raise TextgenError(f"cells {self.cells} must be a non-empty list of {', '.join(CELL_BLOCKS)}, each optionally "
                               "with +chrono (e.g. lstm+chrono)")
        if not self.spans or any(not isinstance(k, int) or k < 1 or k > 4096 for k in self.spans):
            raise TextgenError(f"spans {self.spans} must be whole numbers from 1 to 4096")
        for name in ("symbols", "parameter_budget", "embed_dim", "steps", "batch_size", "eval_sequences", "seeds"):
            if getattr(self, name) < 1:
                raise TextgenError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.symbols < 2:
            raise TextgenError("symbols must be at least 2 (with one symbol there is nothing to remember)")
        if not self.learning_rate > 0:
            raise TextgenError(f"learning_rate must be positive, got {self.learning_rate}")
        smallest = min(model_config(cell, self, hidden=1).parameter_count() for cell in self.cells)
        if smallest > 2 * self.parameter_budget:
            raise TextgenError(f"with {self.symbols:,} symbols the smallest model already has {smallest:,} parameters, far "
                               f"above the budget of {self.parameter_budget:,}: raise --budget to at least {smallest:,} or "
                               "use fewer --symbols")


@dataclass
class SpanResult:
    cell: str
    k: int
    accuracy: float  # mean over seeds
    accuracies: list[float]  # one per seed
    hidden_size: int
    parameters: int
    final_loss: float
    seconds: float


def split_cell(spec: str) -> tuple[str, str] | None:
    """"lstm+chrono" -> ("lstm", "chrono"); "gru" -> ("gru", ""); None when not a known cell and variant."""
    cell, _, variant = spec.partition("+")
    if cell not in CELL_BLOCKS or variant not in ("", *VARIANTS) or (variant and cell == "rnn"):
        return None
    return cell, variant


def model_config(spec: str, settings: MemorySpanSettings, hidden: int | None = None) -> ModelConfig:
    """The config whose parameter count is closest to the budget for this cell (and variant), or
    the one with `hidden` units."""
    vocab = settings.symbols + 1  # the symbols and the query token
    cell, variant = split_cell(spec) or (spec, "")
    forget_bias = f"chrono:{max(3, max(settings.spans) + 1)}" if variant == "chrono" else settings.forget_bias

    def config(hidden: int) -> ModelConfig:
        return ModelConfig(vocab_size=vocab, cell=cell, embed_dim=settings.embed_dim, hidden_size=hidden,
                           num_layers=1, tie_weights=False, embed_dropout=0.0, input_dropout=0.0,
                           hidden_dropout=0.0, output_dropout=0.0, weight_drop=0.0,
                           activation_reg=0.0, temporal_activation_reg=0.0, forget_bias=forget_bias)

    if hidden is None:
        hidden = min(range(1, 2048), key=lambda h: abs(config(h).parameter_count() - settings.parameter_budget))
    return config(hidden)


def make_batch(batch_size: int, k: int, symbols: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Sequences (B, k + 1): key, k - 1 distractors, query token (id = symbols); targets (B,) = key."""
    sequence = torch.randint(0, symbols, (batch_size, k + 1), generator=generator)
    sequence[:, -1] = symbols
    return sequence, sequence[:, 0].clone()


def train_and_test(cell: str, k: int, settings: MemorySpanSettings, seed: int) -> tuple[float, float]:
    """Train one model on span k for the set number of steps; return its test accuracy and last loss."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed * 1000 + k)
    model = LanguageModel(model_config(cell, settings))
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
    loss = torch.tensor(float("nan"))
    model.train()
    for _ in range(settings.steps):
        tokens, targets = make_batch(settings.batch_size, k, settings.symbols, generator)
        logits, _ = model(tokens)
        loss = F.cross_entropy(logits[:, -1, : settings.symbols], targets)  # only the query is scored
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    model.eval()
    test_generator = torch.Generator().manual_seed(10_000_019 + k)  # the same test set for every cell
    with torch.no_grad():
        tokens, targets = make_batch(settings.eval_sequences, k, settings.symbols, test_generator)
        logits, _ = model(tokens)
        accuracy = (logits[:, -1, : settings.symbols].argmax(-1) == targets).float().mean().item()
    return accuracy, loss.item()


def run_one(cell: str, k: int, settings: MemorySpanSettings) -> SpanResult:
    """One cell on span k, over every seed."""
    started = time.perf_counter()
    runs = [train_and_test(cell, k, settings, settings.seed + index) for index in range(settings.seeds)]
    accuracies = [round(accuracy, 4) for accuracy, _ in runs]
    config = model_config(cell, settings)
    return SpanResult(cell, k, round(sum(accuracies) / len(accuracies), 4), accuracies, config.hidden_size,
                      config.parameter_count(), round(sum(loss for _, loss in runs) / len(runs), 4),
                      round(time.perf_counter() - started, 2))


def run_memory_span(settings: MemorySpanSettings, on_result: Callable[[SpanResult], None] = lambda r: None) -> list[SpanResult]:
    """Every cell on every span, in order; `on_result` sees each result as it comes.

    Runs on one thread (these matrices are too small to gain from more) with denormal
    floats flushed to zero (vanishing gradients otherwise slow the CPU many times over).
    """
    results = []
    threads = torch.get_num_threads()
    flushing = (torch.tensor([1e-39]) * 1).item() == 0  # torch has no getter for the denormal setting
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    try:
        with torch.random.fork_rng():  # the caller's global random state is left as it was
            for cell in settings.cells:
                for k in settings.spans:
                    result = run_one(cell, k, settings)
                    on_result(result)
                    results.append(result)
    finally:
        torch.set_num_threads(threads)
        torch.set_flush_denormal(flushing)
    return results


def longest_span(results: Sequence[SpanResult], cell: str, threshold: float = 0.9) -> int | None:
    """The largest k up to which a cell keeps accuracy >= threshold at every span (None if not even the first)."""
    best = None
    for result in sorted((r for r in results if r.cell == cell), key=lambda r: r.k):
        if result.accuracy < threshold:
            break
        best = result.k
    return best


def results_table(results: Sequence[SpanResult], symbols: int) -> str:
    """A text table: one row per span, one column per cell, accuracies in percent."""
    cells = list(dict.fromkeys(r.cell for r in results))
    spans = sorted({r.k for r in results})
    by = {(r.cell, r.k): r for r in results}
    lines = ["k".rjust(4) + "".join(f"{cell:>10}" for cell in cells)]
    for k in spans:
        lines.append(f"{k:>4}" + "".join(f"{100 * by[(cell, k)].accuracy:>9.1f}%" if (cell, k) in by else " " * 10 for cell in cells))
    params = "  ".join(f"{cell}: {by[(cell, spans[0])].hidden_size} units, {by[(cell, spans[0])].parameters:,} params" for cell in cells)
    lines.append(f"chance {100 / symbols:.1f}%; {params}")
    return "\n".join(lines)


def to_json(results: Sequence[SpanResult], settings: MemorySpanSettings) -> dict:
    return {"results": [asdict(r) for r in results], "settings": asdict(settings),
            "chance": 1 / settings.symbols,
            "longest_span_90": {cell: longest_span(results, cell) for cell in settings.cells}}
