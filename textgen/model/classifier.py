"""A text classifier on the language model's parts: the same embedding and recurrent layers
(under the same names, so a trained language model's weights load by key), then the states over
the text pooled into one vector and a linear head giving one score per class.

Texts in a batch are right-padded; a recurrent layer reads left to right, so the states at
positions below a text's length do not see the padding, and pooling only reads those.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from textgen.model.config import ClassifierConfig, ModelConfig
from textgen.model.cells import make_layer
from textgen.model.language_model import LanguageModel, Trace, embedding_dropout, locked_dropout


def within_lengths(lengths: Tensor, steps: int) -> Tensor:
    """(B, T) booleans: which of `steps` positions lie inside each right-padded text's length (B,)."""
    return torch.arange(steps, device=lengths.device)[None, :] < lengths[:, None]


class Classifier(nn.Module):
    """Embedding -> recurrent layers -> pooling (last, mean, max, attention, or concat: the last, max
    and mean side by side) -> dropout -> linear."""

    def __init__(self, config: ModelConfig, head: ClassifierConfig):
        super().__init__()
        self.config, self.head_config = config, head
        self.embedding = nn.Embedding(config.vocab_size, config.embed_dim)
        self.layers = nn.ModuleList(
            make_layer(config.cell, config.embed_dim if index == 0 else config.hidden_size, config.hidden_size,
                       config.weight_drop, config.forget_bias)
            for index in range(config.num_layers)
        )
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        self.attention = nn.Linear(config.hidden_size, 1) if head.pooling == "attention" else None
        self.head = nn.Linear(config.hidden_size * (3 if head.pooling == "concat" else 1), head.num_classes)

    def forward(self, tokens: Tensor, lengths: Tensor, frozen_encoder: bool = False) -> Tensor:
        """Class scores (B, K) for right-padded tokens (B, T) of the given lengths (B,), each >= 1.
        With `frozen_encoder` the embedding and recurrent layers run without autograd (no gradient
        reaches them and there is no backward pass through time: 60 such steps took 12.0 s against
        30.7 s on the reviews), for the steps during which their learning rate is zero."""
        return self.classify(self.states(tokens, frozen_encoder), lengths)

    def states(self, tokens: Tensor, frozen_encoder: bool = False) -> Tensor:
        """Tokens (B, T) -> the top layer's states (B, T, H), every dropout applied when training."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and not frozen_encoder):
            return self.encode(self.embed(tokens))

    def embed(self, tokens: Tensor) -> Tensor:
        """Tokens (B, T) -> embeddings (B, T, E), with the word dropout when training."""
        return embedding_dropout(self.embedding, tokens, self.config.embed_dropout, self.training)

    def forward_embedded(self, x: Tensor, lengths: Tensor) -> Tensor:
        """From embeddings (B, T, E): what attribution methods differentiate through."""
        return self.classify(self.encode(x), lengths)

    def encode(self, x: Tensor) -> Tensor:
        """Embeddings (B, T, E) -> the top layer's states (B, T, H), dropouts applied when training."""
        cfg = self.config
        x = locked_dropout(x, cfg.input_dropout, self.training)
        for index, layer in enumerate(self.layers):
            x, _ = layer(x, layer.init_state(x.shape[0], x.device, x.dtype))
            x = locked_dropout(x, cfg.hidden_dropout if index < len(self.layers) - 1 else cfg.output_dropout, self.training)
        return x

    def classify(self, states: Tensor, lengths: Tensor) -> Tensor:
        """The top layer's states (B, T, H) -> class scores (B, K): pooling, dropout, the head."""
        pooled = self.pool(states, lengths)
        pooled = nn.functional.dropout(pooled, self.head_config.head_dropout, self.training)
        return self.head(pooled)

    def pool(self, outputs: Tensor, lengths: Tensor) -> Tensor:
        """(B, T, H) -> (B, H) over the positions below each length."""
        lengths = lengths.to(outputs.device)
        inside = within_lengths(lengths, outputs.shape[1])  # (B, T)
        pooling = self.head_config.pooling
        if pooling == "last":
            return outputs[torch.arange(outputs.shape[0], device=outputs.device), lengths - 1]
        if pooling == "mean":
            return (outputs * inside[..., None]).sum(dim=1) / lengths[:, None].to(outputs.dtype)
        if pooling == "max":
            return outputs.masked_fill(~inside[..., None], float("-inf")).amax(dim=1)
        if pooling == "concat":
            last = outputs[torch.arange(outputs.shape[0], device=outputs.device), lengths - 1]
            peak = outputs.masked_fill(~inside[..., None], float("-inf")).amax(dim=1)
            mean = (outputs * inside[..., None]).sum(dim=1) / lengths[:, None].to(outputs.dtype)
            return torch.cat([last, peak, mean], dim=-1)
        scores = self.attention(outputs)[..., 0].masked_fill(~inside, float("-inf"))  # (B, T)
        return (torch.softmax(scores, dim=1)[..., None] * outputs).sum(dim=1)

    @torch.no_grad()
    def trace(self, tokens: Tensor) -> Trace:
        """The transparent cells over one text (no dropout), every gate and memory kept, as
        `LanguageModel.trace` gives them (what `textgen gates` shows); its logits are the class
        scores after the whole text, (1, 1, K)."""
        if tokens.dim() == 1:
            tokens = tokens.unsqueeze(0)
        x = self.embedding(tokens)
        layers, states = [], []
        for layer in self.layers:
            x, state, values = layer.trace(x, layer.init_state(x.shape[0], x.device, x.dtype))
            layers.append(values)
            states.append(state)
        lengths = torch.full((x.shape[0],), x.shape[1], device=x.device)
        return Trace(self.config.cell, self.head(self.pool(x, lengths))[:, None, :], layers, states)

    def load_encoder(self, model: LanguageModel) -> None:
        """Copy a language model's embedding and recurrent layers (the head stays as it is)."""
        own = self.state_dict()
        theirs = {key: value for key, value in model.state_dict().items() if key.startswith(("embedding.", "layers."))}
        missing = sorted(key for key in own if key.startswith(("embedding.", "layers.")) and key not in theirs)
        if missing:
            raise ValueError(f"the language model lacks {', '.join(missing[:3])}: its shape differs")
        differ = [f"{key} is {tuple(theirs[key].shape)} where the classifier has {tuple(own[key].shape)}"
                  for key in own if key in theirs and theirs[key].shape != own[key].shape]
        if differ:
            raise ValueError(f"the language model's shape differs: {'; '.join(differ[:2])}")
        own.update({key: value for key, value in theirs.items() if key in own})
        self.load_state_dict(own)

    def parameter_count(self) -> int:
        return sum(parameter.numel() for parameter in self.parameters())


class NextTokenHead(nn.Module):
    """A language model's decoder over a classifier's states, for a next-token loss beside the
    classifier's while it trains (`--lm-weight`). With tied weights it reads the classifier's own
    embedding, so that loss reaches the embedding too. It is not part of the exported classifier."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.tied = config.tie_weights
        self.projection = nn.Linear(config.hidden_size, config.embed_dim) if config.projects_output else None
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        if self.tied:
            self.register_parameter("weight", None)
        else:
            self.weight = nn.Parameter(torch.empty(config.vocab_size, config.hidden_size).uniform_(-0.1, 0.1))

    def load_decoder(self, model: LanguageModel) -> None:
        """Start from a trained language model's projection and decoder."""
        with torch.no_grad():
            if self.projection is not None:
                self.projection.load_state_dict(model.projection.state_dict())
            self.bias.copy_(model.decoder.bias)
            if not self.tied:
                self.weight.copy_(model.decoder.weight)

    def loss(self, states: Tensor, tokens: Tensor, lengths: Tensor, embedding: Tensor) -> Tensor:
        """Mean cross-entropy of each next token inside the texts: states (B, T, H) predict tokens[:, 1:]."""
        positions = torch.arange(tokens.shape[1] - 1, device=tokens.device)
        inside = positions[None, :] + 1 < lengths.to(tokens.device)[:, None]  # (B, T - 1)
        read = states[:, :-1][inside]
        if not read.shape[0]:  # texts cut to one token (--max-tokens 1) have no next token to predict
            return states.sum() * 0.0
        if self.projection is not None:
            read = self.projection(read)
        logits = F.linear(read, embedding if self.tied else self.weight, self.bias)
        return F.cross_entropy(logits.float(), tokens[:, 1:][inside])
