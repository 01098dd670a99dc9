"""Training tokens/s of the default model under Lightning, against a plain PyTorch loop, as JSON.

    .venv/bin/python benchmarks/train_overhead.py                 # default model (lstm, 2 x 512, embed 256)
    .venv/bin/python benchmarks/train_overhead.py --hidden-size 64 --embed-dim 32 --steps 10 --warmup 2 --repeats 1

Data: corpora/little-stories.txt, tokenized with an 800-piece sentencepiece BPE tokenizer into a
token array in a temporary folder. Both sides train the same freshly initialised model (same
seed) on the same stream batches (BatchPlan + iter_batches), with the same loss (cross-entropy
plus AR/TAR), state carrying, AdamW param groups, warm-up/cosine LambdaLR, gradient-norm
clipping and per-step reseeding of the dropout masks, so they compute the same losses.

- lightning: the project's own path, LanguageModelTask + CorpusDataModule + a Trainer built
  from trainer_arguments(), inside quiet_lightning(), with no progress bar.
- plain: a for loop over iter_batches() doing the same work by hand.

Timing: the clock starts when warm-up step W ends and stops when step W + N ends, read in a
callback's on_train_batch_end (and at the same points in the plain loop). The span is exactly
N whole loop cycles: fetching the batch, hooks, forward, backward, clipping, optimizer and
scheduler steps, logging; Trainer setup and teardown stay outside. This is more accurate than
subtracting a W-step run from a (W + N)-step run, which adds the noise of two setups. The sides
alternate (plain, lightning, plain, ...) and the median of each side is reported;
overhead_percent = (plain - lightning) / plain * 100. The spread of each side across repeats
says how far to trust it; on a CPU shared with other work, --threads 1 avoids the stalls of
torch's threads waiting on each other. same_losses checks that both sides did the same work.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F

from textgen.model.config import ModelConfig, TrainConfig
from textgen.data.corpus import iter_stories
from textgen.data.token_arrays import BatchPlan, TokenArray, encode_stories, iter_batches
from textgen.model import activation_penalty, detach_state
from textgen.tokenizer import train_tokenizer
from textgen.training.fit import CorpusDataModule, quiet_lightning, trainer_arguments
from textgen.training.task import LanguageModelTask

CORPUS = Path(__file__).resolve().parent.parent / "corpora" / "little-stories.txt"


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step_seed(config: TrainConfig, step: int) -> int:
    """The seed LanguageModelTask.on_train_batch_start sets before each step (rank 0)."""
    return (config.seed * 1_000_003 + step * 7919) % 2**63


class StepTimer(L.Callback):
    """Clock from the end of step `warmup` to the end of step `warmup + steps`, and the last loss."""

    def __init__(self, warmup: int, steps: int):
        self.warmup, self.steps, self.done = warmup, steps, 0
        self.started = self.seconds = self.last_loss = float("nan")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self.done += 1
        if self.done in (self.warmup, self.warmup + self.steps):
            synchronize(pl_module.device)
            now = time.perf_counter()
            if self.done == self.warmup:
                self.started = now
            else:
                self.seconds = now - self.started
                self.last_loss = float(outputs["loss"])


def fresh_task(model_config: ModelConfig, train_config: TrainConfig) -> LanguageModelTask:
    torch.manual_seed(train_config.seed)  # the same initial weights on both sides
    return LanguageModelTask(model_config.to_dict(), train_config.to_dict(), valid=None)


def lightning_run(model_config: ModelConfig, train_config: TrainConfig, train: TokenArray, warmup: int, steps: int,
                  root: str) -> tuple[float, float]:
    """(seconds for the timed steps, last loss) of the project's Lightning training path."""
    task = fresh_task(model_config, train_config)
    timer = StepTimer(warmup, steps)
    with quiet_lightning():
        trainer = L.Trainer(**trainer_arguments(train_config), enable_progress_bar=False, callbacks=[timer],
                            default_root_dir=root)
        trainer.fit(task, datamodule=CorpusDataModule(train, train_config))
    return timer.seconds, timer.last_loss


def endless_batches(plan: BatchPlan, array: np.ndarray) -> Iterator[tuple[torch.Tensor, torch.Tensor, bool]]:
    """The batches of epoch 0, 1, ... in the order the Lightning DataModule gives them."""
    for epoch in itertools.count():
        yield from iter_batches(plan, array, epoch)


def plain_run(model_config: ModelConfig, train_config: TrainConfig, train: TokenArray, warmup: int, steps: int,
              device: torch.device) -> tuple[float, float]:
    """(seconds for the timed steps, last loss) of a hand-written loop doing the same work."""
    task = fresh_task(model_config, train_config)
    model = task.model.to(device).train()
    setup = task.configure_optimizers()  # the same AdamW param groups and LambdaLR schedule
    optimizer, scheduler = setup["optimizer"], setup["lr_scheduler"]["scheduler"]
    plan = BatchPlan(train_config.batching, train_config.batch_size, train_config.seq_len, seed=train_config.seed)
    batches = itertools.islice(endless_batches(plan, train.load()), warmup + steps)
    state, started, total = None, float("nan"), torch.zeros(())
    for step, (inputs, targets, reset) in enumerate(batches):
        torch.manual_seed(step_seed(train_config, step))
        inputs, targets = inputs.to(device), targets.to(device)
        output = model.forward_with_activations(inputs, None if reset or train_config.batching == "windows" else state)
        logits = output.logits.float()
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        if not torch.isfinite(loss):
            raise RuntimeError(f"the loss became {loss.item()} at step {step}")
        state = detach_state(output.state)
        total = loss + activation_penalty(output, model_config)
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        if train_config.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), train_config.grad_clip)
        optimizer.step()
        scheduler.step()
        if step + 1 == warmup:
            synchronize(device)
            started = time.perf_counter()
    synchronize(device)
    return time.perf_counter() - started, float(total.detach())


def training_device(train_config: TrainConfig) -> torch.device:
    """The device Lightning picks for these settings, so the plain loop runs on the same one."""
    with quiet_lightning():
        return L.Trainer(**trainer_arguments(train_config), enable_progress_bar=False).strategy.root_device


def main() -> None:
    defaults = ModelConfig(vocab_size=1)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="timed optimizer steps per run")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps before the clock starts (at least 1)")
    parser.add_argument("--repeats", type=int, default=2, help="runs per side, alternating plain and lightning")
    parser.add_argument("--hidden-size", type=int, default=defaults.hidden_size)
    parser.add_argument("--embed-dim", type=int, default=defaults.embed_dim)
    parser.add_argument("--num-layers", type=int, default=defaults.num_layers)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--vocab-size", type=int, default=800, help="sentencepiece BPE pieces")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads (0: torch's default); 1 is steadier on a CPU shared with other work")
    args = parser.parse_args()
    if min(args.steps, args.warmup, args.repeats) < 1:
        parser.error("--steps, --warmup and --repeats must be at least 1")
    if args.threads:
        torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory(prefix="train_overhead_") as folder:
        tokenizer = train_tokenizer(iter_stories(CORPUS), "sentencepiece", args.vocab_size, "bpe")
        train = encode_stories(iter_stories(CORPUS), tokenizer, Path(folder) / "train.tokens")
        model_config = ModelConfig(vocab_size=tokenizer.vocab_size, embed_dim=args.embed_dim,
                                   hidden_size=args.hidden_size, num_layers=args.num_layers)
        train_config = TrainConfig(batch_size=args.batch_size, seq_len=args.seq_len, max_steps=args.warmup + args.steps)
        device = training_device(train_config)
        tokens = args.steps * args.batch_size * args.seq_len
        runs = []
        for repeat in range(args.repeats):
            plain_seconds, plain_loss = plain_run(model_config, train_config, train, args.warmup, args.steps, device)
            lightning_seconds, lightning_loss = lightning_run(model_config, train_config, train, args.warmup, args.steps,
                                                              folder)
            runs.append({"repeat": repeat, "plain_tokens_per_s": round(tokens / plain_seconds, 1),
                         "lightning_tokens_per_s": round(tokens / lightning_seconds, 1),
                         "plain_seconds": round(plain_seconds, 3), "lightning_seconds": round(lightning_seconds, 3),
                         "plain_last_loss": round(plain_loss, 6), "lightning_last_loss": round(lightning_loss, 6)})

    medians = {side: statistics.median(run[f"{side}_tokens_per_s"] for run in runs) for side in ("plain", "lightning")}
    plain, lightning = medians["plain"], medians["lightning"]
    overhead = (plain - lightning) / plain * 100
    spread = {f"{side}_spread_percent": round((max(run[f"{side}_tokens_per_s"] for run in runs)
                                              - min(run[f"{side}_tokens_per_s"] for run in runs)) / medians[side] * 100, 2)
              for side in medians}  # a spread above the overhead means the machine was too busy to tell
    print(json.dumps({
        "benchmark": "train_overhead",
        "settings": vars(args),
        "model": model_config.summary(),
        "data": {"corpus": CORPUS.name, "tokens": train.tokens, "stories": train.stories,
                 "tokenizer": f"sentencepiece bpe {tokenizer.vocab_size}"},
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
                    "lightning": L.__version__, "device": str(device),
                    "processor": platform.processor() or platform.machine(),
                    "load_average_1min": round(os.getloadavg()[0], 2)},
        "runs": runs,
        "median_plain_tokens_per_s": round(plain, 1),
        "median_lightning_tokens_per_s": round(lightning, 1),
        "overhead_percent": round(overhead, 2),
        "overhead_ms_per_step": round(1000 * args.batch_size * args.seq_len * (1 / lightning - 1 / plain), 2),
        **spread,
        "same_losses": all(run["plain_last_loss"] == run["lightning_last_loss"] for run in runs),
        "under_5_percent": overhead < 5.0,
    }, indent=2))


if __name__ == "__main__":
    main()
