"""Configuration dataclasses, checked when built, with a JSON round trip that rejects unknown keys."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, field, fields

from textgen.errors import TextgenError

CELLS = ("lstm", "peephole", "gru", "rnn")
# how many hidden-size blocks of weights each cell has (gates plus candidate)
CELL_BLOCKS = {"lstm": 4, "peephole": 4, "gru": 3, "rnn": 1}


class ConfigMixin:
    """Shared JSON round trip for the config dataclasses."""

    def to_dict(self) -> dict:
        return asdict(self)  # type: ignore[arg-type]

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict):
        if not isinstance(data, dict):
            raise TextgenError(f"{cls.__name__} must be a JSON object, got {type(data).__name__}")
        known = {field.name for field in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - known)
        if unknown:
            raise TextgenError(f"{cls.__name__} has unknown keys {', '.join(unknown)}: known keys are {', '.join(sorted(known))}")
        try:
            return cls(**data)
        except TypeError as error:
            raise TextgenError(f"{cls.__name__}: {error}") from None

    @classmethod
    def from_json(cls, text: str):
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as error:
            raise TextgenError(f"{cls.__name__} is not valid JSON ({error.msg})") from None

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


def setting(default, help: str | None = None, **cli):
    """A config field with what `textgen train` needs to offer it as an option, kept beside its default
    so that it lives once: help text, and optionally flag, choices, kind (int, int>=1, seed, float, flag),
    parse (duration, forget_bias, devices), cli_default (when the option's default differs, e.g. None
    for a size the run chooses) and show_default."""
    return field(default=default, metadata={"help": help, **cli})


CHRONO_DEFAULT_SPAN = 64
SIZE_RULE = {"units": 384, "seconds": 300.0, "power": 0.25, "multiple": 64, "smallest": 128, "largest": 1536}


def default_hidden_size(max_time: float | None) -> int:
    """The model size when none is given: 384 units for a 5-minute budget (measured best there,
    BENCHMARKS.md), growing with the fourth root of the time. A compute-optimal model's
    parameters grow with the square root of the compute (Hoffmann et al. 2022), and an LSTM's
    parameters with the square of its units; rounded to a multiple of 64, from 128 to 1536.
    Step-bounded runs (no --max-time) get the 5-minute size."""
    rule = SIZE_RULE
    seconds = max_time if max_time else rule["seconds"]
    units = rule["units"] * (seconds / rule["seconds"]) ** rule["power"]
    return int(min(rule["largest"], max(rule["smallest"], rule["multiple"] * round(units / rule["multiple"]))))


def describe_size_rule(max_time: float | None) -> str:
    """One line on the size the rule chose and why (the run prints it)."""
    units = default_hidden_size(max_time)
    if not max_time:
        return f"{units} units (the default for runs bounded by steps; --hidden-size sets another)"
    return (f"{units} units = 384 x ({max_time:g}s / 300s)^(1/4), rounded to a multiple of 64 "
            f"(--hidden-size sets another)")


def chrono_span(value: str) -> int:
    """T of "chrono" or "chrono:T": chrono initialisation (Tallec & Ollivier 2018) for dependencies
    up to T steps draws each keep-gate bias from log(U(1, T - 1)) and sets the input gate's to its negative."""
    text = value.strip().lower()
    if text == "chrono":
        return CHRONO_DEFAULT_SPAN
    head, _, span = text.partition(":")
    if head == "chrono" and span.isascii() and span.isdigit() and 3 <= int(span) <= 1_000_000:
        return int(span)
    raise TextgenError(f"forget_bias {value!r} is not a number or chrono[:T] with T from 3 to 1,000,000 "
                       f"(e.g. 1.0, chrono or chrono:{CHRONO_DEFAULT_SPAN})")


@dataclass(frozen=True)
class ModelConfig(ConfigMixin):
    """The recurrent language model: embedding -> recurrent layers -> decoder (AWD-LSTM regularisation)."""

    vocab_size: int  # number of token ids, set from the tokenizer once
    cell: str = setting("lstm", choices=CELLS)  # lstm | peephole | gru | rnn
    embed_dim: int = setting(256, "Token embedding size [default: the hidden size, at most 256].", kind="int",
                             cli_default=None)  # size of a token's embedding
    hidden_size: int = setting(384, "Units per layer [default: from the time budget, 384 for 5 minutes; the run prints the rule].",
                               kind="int", cli_default=None)  # units per layer (STM size); the CLI sizes it from the time budget
    num_layers: int = setting(1, kind="int")  # stacked recurrent layers (one measured better than two at equal time on a CPU)
    forget_bias: float | str = setting(1.0, "Initial bias of the keep gates, or chrono[:T]: time scales up to T steps (Tallec & Ollivier 2018).",
                                       parse="forget_bias", cli_default="1.0")  # LSTM forget, GRU update
    tie_weights: bool = setting(True, "Share the embedding and decoder weights.", flag="--tie/--no-tie")  # Press & Wolf 2017
    output_projection: bool = setting(True, flag="--output-projection/--no-output-projection")  # with tying, hidden -> embed when they differ
    embed_dropout: float = setting(0.05, "Drop whole words (AWD-LSTM).", kind="float")
    input_dropout: float = setting(0.1, "Locked dropout on the embeddings.", kind="float")  # fed to the first layer
    hidden_dropout: float = setting(0.1, "Locked dropout between layers.", kind="float")
    output_dropout: float = setting(0.1, "Locked dropout on the last layer.", kind="float")
    weight_drop: float = setting(0.1, "DropConnect on hidden-to-hidden weights.", kind="float")
    activation_reg: float = setting(4.0, "Activation regularisation (alpha).", kind="float", flag="--ar")  # alpha * mean(output^2); measured 4 > 2 > 1
    temporal_activation_reg: float = setting(2.0, "Temporal activation regularisation (beta).", kind="float", flag="--tar")  # beta * mean((h_t - h_{t-1})^2)

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise TextgenError(f"cell {self.cell!r} is unknown: choose one of {', '.join(CELLS)}")
        for name in ("vocab_size", "embed_dim", "hidden_size", "num_layers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise TextgenError(f"{name} must be a positive integer, got {value!r}")
        for name in ("embed_dropout", "input_dropout", "hidden_dropout", "output_dropout", "weight_drop"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
                raise TextgenError(f"{name} must be in [0, 1), got {value!r}")
        if isinstance(self.forget_bias, str):
            chrono_span(self.forget_bias)  # checks the form
        elif isinstance(self.forget_bias, bool) or not isinstance(self.forget_bias, (int, float)) or abs(self.forget_bias) > 20:
            raise TextgenError(f"forget_bias must be a number in [-20, 20] or chrono[:T], got {self.forget_bias!r}")
        for name in ("activation_reg", "temporal_activation_reg"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise TextgenError(f"{name} must be a number >= 0, got {value!r}")
        for name in ("tie_weights", "output_projection"):
            if not isinstance(getattr(self, name), bool):
                raise TextgenError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if self.tie_weights and not self.output_projection and self.hidden_size != self.embed_dim:
            raise TextgenError(
                f"tie_weights needs hidden_size ({self.hidden_size}) == embed_dim ({self.embed_dim}) when "
                "output_projection is off: make them equal, turn output_projection on, or set tie_weights false")

    @property
    def projects_output(self) -> bool:
        """Tied weights with hidden_size != embed_dim need a projection before the decoder."""
        return self.tie_weights and self.hidden_size != self.embed_dim

    def parameter_count(self) -> int:
        """Trainable parameters, computed from the sizes (equal to the built model's count)."""
        blocks = CELL_BLOCKS[self.cell]
        total = self.vocab_size * self.embed_dim  # embedding
        for layer in range(self.num_layers):
            inputs = self.embed_dim if layer == 0 else self.hidden_size
            total += blocks * self.hidden_size * (inputs + self.hidden_size + 2)  # W_ih, W_hh, b_ih, b_hh
            if self.cell == "peephole":
                total += 3 * self.hidden_size  # peephole weights of the forget, ignore and use gates
        if self.tie_weights:
            if self.projects_output:
                total += self.hidden_size * self.embed_dim + self.embed_dim
        else:
            total += self.hidden_size * self.vocab_size
        return total + self.vocab_size  # decoder bias

    def summary(self) -> str:
        """One line: cell, sizes, tying and parameter count."""
        tied = "tied" + (f" via {self.hidden_size}->{self.embed_dim} projection" if self.projects_output else "") if self.tie_weights else "untied"
        return (f"{self.cell} language model: {self.num_layers} x {self.hidden_size} units, embed {self.embed_dim}, "
                f"vocab {self.vocab_size}, {tied} embeddings, {self.parameter_count():,} parameters")


POOLINGS = ("last", "mean", "max", "attention", "concat")  # concat: last, max and mean side by side (ULMFiT)
CLASS_WEIGHTS = ("none", "balanced", "sqrt")


@dataclass(frozen=True)
class ClassifierConfig(ConfigMixin):
    """The head a classifier puts on the recurrent stack: how the states over a text become one
    vector (pooling), and how that vector becomes class scores."""

    num_classes: int
    pooling: str = setting("max", choices=POOLINGS)  # last state, mean, max over time, or attention weights
    head_dropout: float = setting(0.2, "Dropout on the pooled vector.", kind="float")
    ordinal: bool = False  # ratings: the classes are ordered and the mean absolute error applies
    ordinal_weight: float = setting(0.5, "Weight of the expected rating distance in the loss (ordinal labels).", kind="float")
    class_weights: str = setting("sqrt", "Loss weights for skewed classes: none, balanced, or sqrt of balanced.",
                                 choices=CLASS_WEIGHTS)
    max_tokens: int = setting(512, "Tokens read of each text (the first ones).", kind="int")
    # a next-token loss beside the classifier's while it trains (Chronopoulou et al. 2019, SiATL): the recurrent
    # stack keeps predicting the text's words, a regulariser for small labelled sets
    lm_weight: float = setting(0.0, "Weight of a next-token (language model) loss on the training texts beside the "
                                    "classifier's: the --encoder's decoder over the same states, or a new one (0: off).", kind="float")
    # adversarial training (Miyato, Dai & Goodfellow 2017): each text is also learnt from with its embeddings
    # pushed along the loss gradient by this share of their norm; about 2.7x the time a step, and at equal time
    # (900 s) the pretrained classifier's test macro-F1 rose above TF-IDF's (BENCHMARKS.md, review ratings)
    adversarial: float = setting(0.03, "Adversarial training: also learn from each text with its embeddings pushed "
                                       "this share of their norm the way that raises the loss (0: off; a step takes "
                                       "about 2.7 times as long and learns more).", kind="float")
    # per-class offsets tuned on validation for macro-F1: off by default, they did not carry over to held-out
    # reviews (BENCHMARKS.md, review ratings)
    decision_offsets: bool = setting(False, "After training, tune per-class offsets on the validation set that raise "
                                            "its macro-F1 (rare classes predicted more often).",
                                     flag="--decision-offsets/--no-decision-offsets")

    def __post_init__(self) -> None:
        if isinstance(self.num_classes, bool) or not isinstance(self.num_classes, int) or self.num_classes < 2:
            raise TextgenError(f"num_classes must be an integer >= 2, got {self.num_classes!r}")
        if self.pooling not in POOLINGS:
            raise TextgenError(f"pooling {self.pooling!r} is unknown: choose one of {', '.join(POOLINGS)}")
        if self.class_weights not in CLASS_WEIGHTS:
            raise TextgenError(f"class weighting {self.class_weights!r} is unknown: use one of {', '.join(CLASS_WEIGHTS)}")
        if isinstance(self.head_dropout, bool) or not isinstance(self.head_dropout, (int, float)) or not 0 <= self.head_dropout < 1:
            raise TextgenError(f"head_dropout must be in [0, 1), got {self.head_dropout!r}")
        if isinstance(self.max_tokens, bool) or not isinstance(self.max_tokens, int) or self.max_tokens < 1:
            raise TextgenError(f"max_tokens must be a positive integer, got {self.max_tokens!r}")
        if isinstance(self.ordinal_weight, bool) or not isinstance(self.ordinal_weight, (int, float)) or not 0 <= self.ordinal_weight:
            raise TextgenError(f"ordinal_weight must be a number >= 0, got {self.ordinal_weight!r}")
        if isinstance(self.lm_weight, bool) or not isinstance(self.lm_weight, (int, float)) or not 0 <= self.lm_weight:
            raise TextgenError(f"lm_weight must be a number >= 0, got {self.lm_weight!r}")
        if isinstance(self.adversarial, bool) or not isinstance(self.adversarial, (int, float)) or not 0 <= self.adversarial < 1:
            raise TextgenError(f"adversarial must be a share in [0, 1) of the embeddings' norm, got {self.adversarial!r}")
        if not isinstance(self.ordinal, bool):
            raise TextgenError(f"ordinal must be true or false, got {self.ordinal!r}")
        if not isinstance(self.decision_offsets, bool):
            raise TextgenError(f"decision_offsets must be true or false, got {self.decision_offsets!r}")


OPTIMIZERS = ("adamw", "ntasgd")
DEFAULT_AVERAGE = 0.995  # the weight average's decay a step when none is given (adamw)
CLASSIFIER_AVERAGE = 0.99  # classify train's: valid macro-F1 +0.016 with max pooling (the default), -0.007 with concat (BENCHMARKS.md)
DEFAULT_MAX_STEPS = 1000  # the limit of a run given none of max_steps, max_epochs, max_time
DEFAULT_VAL_EVERY = 200  # steps between validations when val_every is not given and steps bound the run
VALIDATIONS_PER_BUDGET = 6  # when time bounds the run and val_every is not given: validate every sixth of it
BATCHINGS = ("stream", "windows")
PRECISIONS = ("auto", "32", "32-true", "bf16-mixed", "16-mixed", "bf16-true", "64", "64-true")


@dataclass(frozen=True)
class TrainConfig(ConfigMixin):
    """Data, optimisation and hardware settings of one training run."""

    seq_len: int = setting(64, "Tokens per truncated-backprop chunk.", kind="int")
    batch_size: int = setting(32, "Sequences per step, over all processes.", kind="int")
    batching: str = setting("stream", "stream: contiguous streams with state carried; windows: random windows, fresh state.",
                            choices=("stream", "windows"))  # streams measured better at 5 minutes
    valid_fraction: float = setting(0.05, kind="float")  # share of stories held out for validation when no valid file is given
    optimizer: str = setting("adamw", choices=("adamw", "ntasgd"))  # adamw (warm-up + cosine) | ntasgd (SGD, then averaging)
    lr: float = setting(1e-2, "Peak learning rate.", kind="float")  # measured best of 3e-3..1.6e-2 at 5 minutes; ntasgd: 10-30
    weight_decay: float = setting(0.2, kind="float")  # AdamW's, on matrices: 0.2 with the weight average measured best (BENCHMARKS.md)
    warmup_steps: int = setting(100, "Warm-up steps when steps bound the run.", kind="int")  # linear (adamw)
    warmup_fraction: float = setting(0.03, "Warm-up share of --max-time when time alone bounds the run.", kind="float")
    min_lr_ratio: float = setting(0.1, "Cosine decays to lr times this.", kind="float")  # (adamw)
    schedule: str = setting("cosine", choices=("cosine", "constant"))  # constant: after warm-up
    nonmono: int = setting(5, "NT-ASGD: validations without improvement before averaging starts.", kind="int>=1")
    average: float | None = setting(None, "Validate and export an exponential moving average of the weights with this decay "
                                          "a step (0: off) [default: 0.995 with adamw; ntasgd averages its own way].",
                                    kind="float")  # measured better on both corpora (BENCHMARKS.md)
    grad_clip: float = setting(1.0, "Gradient norm clipping (0: off).", kind="float")
    max_steps: int | None = setting(None, "Stop after this many steps [default: 1000 when neither --max-time nor --max-epochs is given]. "
                                          "With --max-time too, whichever comes first, and the schedule follows the steps.",
                                    kind="int>=1")
    max_epochs: int | None = setting(None, kind="int>=1")
    max_time: float | None = setting(None, "Train for this long: 90s, 2m, 1h, HH:MM:SS. Alone, it is the run's whole budget (resumes included), "
                                           "for the whole command (start-up, validation, saving and the cache's settings "
                                           "count), and the learning rate decays with the time used.", parse="duration")  # seconds
    val_every: int | None = setting(None, "Steps between validation and checkpoints [default: 200; a sixth of --max-time when time bounds the run].",
                                    kind="int>=1")
    log_every: int = setting(10, kind="int>=1")  # optimizer steps between metric rows
    seed: int = setting(0, kind="seed")
    deterministic: bool = setting(False, "torch's deterministic algorithms (exact resume checks).", kind="flag")  # slower
    precision: str = setting("auto", "32 (float32) or bf16-mixed (bfloat16 arithmetic, float32 weights). auto: on a GPU "
                                     "bf16-mixed where it has bfloat16; on a CPU, for a --max-time run, whichever a timing "
                                     "of a few steps finds faster here; else 32.")
    accelerator: str = setting("auto", "Lightning accelerator: cpu, gpu, auto.")
    devices: int | str = setting(1, "Processes/devices per node, or 'auto'.", parse="devices", cli_default="1")
    num_nodes: int = setting(1, kind="int>=1")
    strategy: str = setting("auto", "Lightning strategy, e.g. ddp.")

    def __post_init__(self) -> None:
        for name in ("seq_len", "batch_size", "log_every", "num_nodes", "nonmono"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise TextgenError(f"{name} must be a positive integer, got {value!r}")
        for name in ("max_steps", "max_epochs", "val_every"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise TextgenError(f"{name} must be a positive integer or unset, got {value!r}")
        if self.max_time is not None and not (isinstance(self.max_time, (int, float)) and self.max_time > 0):
            raise TextgenError(f"max_time must be a positive number of seconds, got {self.max_time!r}")
        if self.max_steps is None and self.max_epochs is None and self.max_time is None:
            object.__setattr__(self, "max_steps", DEFAULT_MAX_STEPS)  # no limit given: a fixed number of steps
        if self.batching not in BATCHINGS:
            raise TextgenError(f"batching {self.batching!r} is unknown: use one of {', '.join(BATCHINGS)}")
        if self.optimizer not in OPTIMIZERS:
            raise TextgenError(f"optimizer {self.optimizer!r} is unknown: use one of {', '.join(OPTIMIZERS)}")
        if self.schedule not in ("cosine", "constant"):
            raise TextgenError(f"schedule {self.schedule!r} is unknown: use cosine or constant")
        if self.precision not in PRECISIONS:
            raise TextgenError(f"precision {self.precision!r} is unknown: use auto, 32 or bf16-mixed (or one of {', '.join(PRECISIONS)})")
        if not 0.0 <= self.valid_fraction < 1.0:
            raise TextgenError(f"valid_fraction must be in [0, 1), got {self.valid_fraction!r}")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise TextgenError(f"lr must be positive, got {self.lr!r}")
        for name in ("weight_decay", "grad_clip"):
            if not (isinstance(getattr(self, name), (int, float)) and getattr(self, name) >= 0):
                raise TextgenError(f"{name} must be a number >= 0, got {getattr(self, name)!r}")
        if isinstance(self.warmup_fraction, bool) or not isinstance(self.warmup_fraction, (int, float)) \
                or not 0.0 <= self.warmup_fraction < 1.0:
            raise TextgenError(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction!r}")
        if self.average is None:
            object.__setattr__(self, "average", 0.0 if self.optimizer == "ntasgd" else DEFAULT_AVERAGE)
        if isinstance(self.average, bool) or not isinstance(self.average, (int, float)) or not 0.0 <= self.average < 1.0:
            raise TextgenError(f"average must be a decay in [0, 1), e.g. 0.995 (0 turns it off), got {self.average!r}")
        if self.average and self.optimizer == "ntasgd":
            raise TextgenError("average is for adamw: ntasgd averages the weights itself (drop --average or use --optimizer adamw)")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise TextgenError(f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio!r}")
        if isinstance(self.warmup_steps, bool) or not isinstance(self.warmup_steps, int) or self.warmup_steps < 0:
            raise TextgenError(f"warmup_steps must be a whole number >= 0, got {self.warmup_steps!r}")
        if not isinstance(self.seed, int) or not 0 <= self.seed < 2**32:
            raise TextgenError(f"seed must be a whole number from 0 to 2^32-1, got {self.seed!r}")
