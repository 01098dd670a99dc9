"""Configuration dataclasses, checked when built, with a JSON round trip that rejects unknown keys."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, fields

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


@dataclass(frozen=True)
class ModelConfig(ConfigMixin):
    """The recurrent language model: embedding -> recurrent layers -> decoder (AWD-LSTM regularisation)."""

    vocab_size: int  # number of token ids, set from the tokenizer once
    cell: str = "lstm"  # lstm | peephole | gru | rnn
    embed_dim: int = 256  # size of a token's embedding
    hidden_size: int = 512  # units per recurrent layer (short-term memory size)
    num_layers: int = 2  # stacked recurrent layers
    forget_bias: float = 1.0  # initial bias of the keep gates (LSTM forget, GRU update): higher remembers longer at first
    tie_weights: bool = True  # decoder shares the embedding matrix (Press & Wolf 2017; Inan et al. 2017)
    output_projection: bool = True  # with tying, project hidden_size -> embed_dim when they differ; off: they must match
    embed_dropout: float = 0.05  # drop whole words from the embedding matrix (AWD-LSTM)
    input_dropout: float = 0.1  # locked dropout on the embeddings fed to the first layer
    hidden_dropout: float = 0.1  # locked dropout between recurrent layers
    output_dropout: float = 0.1  # locked dropout on the last layer's output
    weight_drop: float = 0.1  # DropConnect on the hidden-to-hidden matrices
    activation_reg: float = 2.0  # AR: alpha * mean(output^2), used by the training module
    temporal_activation_reg: float = 1.0  # TAR: beta * mean((h_t - h_{t-1})^2), used by the training module

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
        if isinstance(self.forget_bias, bool) or not isinstance(self.forget_bias, (int, float)) or abs(self.forget_bias) > 20:
            raise TextgenError(f"forget_bias must be a number in [-20, 20], got {self.forget_bias!r}")
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
