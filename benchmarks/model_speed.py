"""Training and trace speed of each cell at a 2 x 512 model, printed as JSON.

Training: forward + backward + AdamW step in training mode (AWD-LSTM dropouts on), on
batches of (batch, seq_len) tokens. Trace: the transparent cells with every gate kept,
on one sequence, as `textgen gates` runs them.

    .venv/bin/python benchmarks/model_speed.py            # all cells, 2 x 512, and the peephole baseline
    .venv/bin/python benchmarks/model_speed.py --cells lstm --hidden-size 128 --seconds 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import torch

from textgen.model.config import CELLS, ModelConfig
from textgen.model import LanguageModel
from textgen.model.cells import PeepholeLayer


def timed(run, seconds: float, warmup: int = 2) -> tuple[float, int]:
    """Mean seconds per call of `run`, over as many calls as fit in `seconds` (at least 3)."""
    for _ in range(warmup):
        run()
    calls, started = 0, time.perf_counter()
    while calls < 3 or time.perf_counter() - started < seconds:
        run()
        calls += 1
    return (time.perf_counter() - started) / calls, calls


def autograd_peephole_forward(layer: PeepholeLayer, x: torch.Tensor, state):
    """The baseline the hand-written backward replaced: autograd over the transparent step loop."""
    output, state, _ = layer.trace(x, state)
    return output, state


def measure(cell: str, args: argparse.Namespace) -> dict:
    if cell == "peephole-autograd":
        original = PeepholeLayer.forward
        PeepholeLayer.forward = autograd_peephole_forward
        try:
            return {**measure("peephole", args), "cell": cell}
        finally:
            PeepholeLayer.forward = original
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=args.vocab_size, cell=cell, embed_dim=args.hidden_size,
                         hidden_size=args.hidden_size, num_layers=args.num_layers)
    model = LanguageModel(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    tokens = torch.randint(0, args.vocab_size, (args.batch_size, args.seq_len + 1))

    def train_step() -> None:
        model.train()
        logits, _ = model(tokens[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, args.vocab_size), tokens[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    train_seconds, train_calls = timed(train_step, args.seconds)
    model.eval()
    sequence = torch.randint(0, args.vocab_size, (1, args.trace_len))
    trace_seconds, trace_calls = timed(lambda: model.trace(sequence), args.seconds)
    with torch.no_grad():
        fused_seconds, _ = timed(lambda: model(sequence), args.seconds)
    return {
        "cell": cell,
        "parameters": model.parameter_count(),
        "train_tokens_per_s": round(args.batch_size * args.seq_len / train_seconds, 1),
        "train_step_ms": round(1000 * train_seconds, 2),
        "train_steps_timed": train_calls,
        "trace_tokens_per_s": round(args.trace_len / trace_seconds, 1),
        "trace_calls_timed": trace_calls,
        "fused_inference_tokens_per_s_batch1": round(args.trace_len / fused_seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", default=",".join(CELLS) + ",peephole-autograd",
                        help="cells to measure; peephole-autograd is the peephole cell without its hand-written backward")
    parser.add_argument("--hidden-size", type=int, default=512)
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--vocab-size", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--trace-len", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=5.0, help="time spent measuring each number")
    args = parser.parse_args()
    results = [measure(cell.strip(), args) for cell in args.cells.split(",")]
    print(json.dumps({
        "benchmark": "model_speed",
        "settings": vars(args),
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
                    "processor": platform.processor() or platform.machine()},
        "results": results,
    }, indent=2))


if __name__ == "__main__":
    main()
