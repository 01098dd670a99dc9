"""Dropout that grows with the epochs a --max-time run will train, planned from a measured step.

A time budget turns into passes over the training text at the speed of this machine: on a 2-core
Intel Xeon, 300 s of TinyStories (457,674 training tokens) is 17 epochs in bf16-mixed, 1,200 s in
float32 33. The default dropouts (AWD-LSTM's light set, chosen at 300 s on a slower CPU: about 9
epochs) stop being enough somewhere between: at 17 epochs doubling them lost (test 1.0694 against
1.0625 bits per byte), at 33 dropouts of 0.25 won (1.0278 against 1.0443), and the 33-epoch default
run's validation was best at epoch 16 and rose after (benchmarks/notes/issue-35-machines.md).

So a --max-time run whose dropouts were not given multiplies them by planned epochs / START_EPOCHS,
from 1 up to LARGEST, where the planned epochs are the budget's training share times the tokens a
second of the timed step (textgen.training.precision), divided by OVERHEAD (validation, the weight
average and Lightning's own work: measured 1.48 x in float32 and 1.60 x in bf16-mixed at 1 x 384,
1.2 x in bf16-mixed at 1 x 512), over the training tokens. A run bounded by steps, a resumed run, a GPU run (not timed) and a run that sets any
dropout keep the dropouts as they are.
"""

from __future__ import annotations

from textgen.model.config import ModelConfig

START_EPOCHS = 16.0  # planned epochs up to which the default dropouts stay
LARGEST = 2.5  # at most this multiple of the defaults (0.25 for the 0.1s)
OVERHEAD = 1.5  # a training step in the run over the timed step alone
TRAINING_SHARE = 0.93  # of the budget (start-up, validations' share aside, the last save and the cache's search)
DROPOUTS = ("embed_dropout", "input_dropout", "hidden_dropout", "output_dropout", "weight_drop")


def planned_epochs(budget: float, step_seconds: float, tokens_per_step: int, train_tokens: int) -> float:
    """Passes over the training tokens that `budget` seconds hold at `step_seconds` a timed step."""
    steps = TRAINING_SHARE * budget / (OVERHEAD * step_seconds)
    return steps * tokens_per_step / max(1, train_tokens)


def factor(epochs: float) -> float:
    """The dropouts' multiple for `epochs` planned: 1 up to START_EPOCHS, then growing with them, at most LARGEST."""
    return min(LARGEST, max(1.0, epochs / START_EPOCHS))


def regularise(config: ModelConfig, epochs: float) -> tuple[ModelConfig, str]:
    """`config` with its dropouts scaled for `epochs`, and a line for the run's output."""
    scale = factor(epochs)
    if scale == 1.0:
        return config, (f"dropouts: the defaults ({epochs:.{0 if epochs >= 10 else 1}f} planned epochs of the training "
                        f"text; they grow past {START_EPOCHS:g})")
    changed = config.replace(**{name: round(getattr(config, name) * scale, 4) for name in DROPOUTS})
    values = ", ".join(f"{getattr(changed, name):g}" for name in DROPOUTS)
    return changed, (f"dropouts: x {scale:.2f} = {values} (embed, input, hidden, output, weight drop) for {epochs:.0f} "
                     f"planned epochs of the training text (x epochs / {START_EPOCHS:g}, at most x {LARGEST:g}; "
                     "--input-dropout and the others set them)")
