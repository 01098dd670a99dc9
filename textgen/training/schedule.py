"""The learning-rate schedule: linear warm-up, then cosine decay (or constant), laid over the
run's progress, which is either its steps or the elapsed share of its time budget.

Step-bounded runs (`max_steps` set) follow the step counter: warm-up lasts `warmup_steps`.
Time-bounded runs (`max_time` without `max_steps`) follow the clock: warm-up lasts the first
`warmup_fraction` of the budget and the decay reaches its floor when the budget is spent, so a
run that the clock ends stops at the bottom of its schedule, not at its peak.
"""

from __future__ import annotations

import math

from textgen.model.config import TrainConfig


def time_bounded(config: TrainConfig) -> bool:
    """True when the clock alone bounds the run, so the schedule follows elapsed time."""
    return config.max_time is not None and config.max_steps is None


def decay(progress: float, config: TrainConfig) -> float:
    """The cosine (or constant) factor at `progress` in [0, 1] of the decay phase."""
    if config.schedule == "constant":
        return 1.0
    progress = min(1.0, max(0.0, progress))
    return config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def lr_factor(step: int, config: TrainConfig, elapsed: float | None = None, span: float | None = None) -> float:
    """The multiplier of the peak learning rate before optimizer step `step` (0-based).

    `elapsed` is the training time in seconds so far (all invocations of the run together);
    time-bounded runs need it, step-bounded runs ignore it. `span`: the training seconds the
    schedule covers (default --max-time; a command's budget plans less: textgen.training.budget).
    """
    if time_bounded(config):
        share = min(1.0, max(0.0, (elapsed or 0.0) / (span or config.max_time)))
        warm = config.warmup_fraction
        if warm > 0 and share < warm:
            return max(share / warm, 0.01)  # never exactly 0, so the first step is not wasted
        return decay((share - warm) / max(1e-12, 1 - warm), config)
    if config.warmup_steps and step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    if not config.max_steps:
        return 1.0  # bounded by epochs alone: no known end to decay towards
    span = max(1, config.max_steps - config.warmup_steps)
    return decay((step - config.warmup_steps) / span, config)
