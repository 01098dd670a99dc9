"""The per-step cost of the decision every process of a run agrees on (training/coordination.py's
agree(): one all-reduce of six numbers with several processes, none with one), measured inside a
real `textgen train` run, as one JSON line per process on stderr.

    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.step_agreement CORPUS --out /tmp/agree-1 --max-steps 400 ...
    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.step_agreement CORPUS --out /tmp/agree-2 --max-steps 400 \\
        --devices 2 --strategy ddp --accelerator cpu ...

Every argument goes to `textgen train`. Run as a module (-m): Lightning starts the second process
with the same module, so both processes are measured. Each line gives the process's rank, the
number of steps, the median and mean microseconds spent in agree() per step, the same for the
broadcast Lightning itself makes at the start of every step with several processes (its SIGTERM
flag), and the median whole step (on_train_batch_end to on_train_batch_end) for scale; the first
20 steps are left out (warm-up).

In agree() a process also waits for the slower one, which it would otherwise do in the gradient
all-reduce of the same step. `--synchronized` (taken off before `textgen train` sees the rest) puts
an untimed barrier before each agree() and each of Lightning's broadcasts, so their times are the
collective calls alone.
"""

from __future__ import annotations

import atexit
import json
import os
import statistics
import sys
import time

import textgen.training.fit as fit

WARMUP = 20
SYNCHRONIZED = "--synchronized" in sys.argv
agree_times: list[float] = []
lightning_times: list[float] = []
step_ends: list[float] = []
real_agree = fit.agree
real_batch_end = fit.RunCallback.on_train_batch_end


def synchronize() -> None:
    if SYNCHRONIZED:
        import torch.distributed

        if torch.distributed.is_initialized():
            torch.distributed.barrier()


def timed_agree(*args, **kwargs):
    synchronize()
    started = time.perf_counter()
    decision = real_agree(*args, **kwargs)
    agree_times.append(time.perf_counter() - started)
    return decision


def timed_lightning_broadcast(real):
    def broadcast(self):
        synchronize()
        started = time.perf_counter()
        try:
            return real(self)
        finally:
            lightning_times.append(time.perf_counter() - started)
    return broadcast


def timed_batch_end(self, *args, **kwargs):
    step_ends.append(time.perf_counter())
    return real_batch_end(self, *args, **kwargs)


def report() -> None:
    times = agree_times[WARMUP:]
    steps = [later - earlier for earlier, later in zip(step_ends[WARMUP:], step_ends[WARMUP + 1:])]
    if not times or not steps:
        return
    rank = int(os.environ.get("LOCAL_RANK", "0") or 0)
    print(json.dumps({"rank": rank, "synchronized": SYNCHRONIZED, "steps": len(times),
                      "agree_median_us": round(1e6 * statistics.median(times), 1),
                      "agree_mean_us": round(1e6 * statistics.fmean(times), 1),
                      "lightning_broadcast_median_us": round(1e6 * statistics.median(lightning_times[WARMUP:]), 1)
                      if lightning_times[WARMUP:] else None,
                      "step_median_ms": round(1e3 * statistics.median(steps), 3)}), file=sys.stderr, flush=True)


def main() -> None:
    fit.agree = timed_agree
    fit.RunCallback.on_train_batch_end = timed_batch_end
    from lightning.pytorch.loops.training_epoch_loop import _TrainingEpochLoop

    _TrainingEpochLoop._broadcast_sigterm_tensor = timed_lightning_broadcast(_TrainingEpochLoop._broadcast_sigterm_tensor)
    atexit.register(report)
    from textgen.cli import cli

    cli(["train", *[arg for arg in sys.argv[1:] if arg != "--synchronized"]])


if __name__ == "__main__":
    main()
