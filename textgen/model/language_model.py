"""The recurrent language model: embedding -> stack of recurrent layers -> decoder to logits.

`forward(tokens, state) -> (logits, state)` runs the fused kernels; `trace(tokens)` runs the
transparent cells on the same parameters and returns every gate and memory. Regularisation
follows AWD-LSTM (Merity et al. 2017): tied embeddings, embedding dropout, locked dropout,
weight drop, and the AR/TAR penalties that the training module adds to the loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from textgen.model.config import ModelConfig
from textgen.model.cells import RecurrentLayer, State, make_layer
from textgen.model.numpy.step import INPUT_TABLE_BYTES, READ_BY_STEPS, NumpyStep, array, blas_threads, input_table

ModelState = list[State]  # one (STM,) or (STM, LTM) per layer, each (B, H)


def locked_dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """Variational dropout: one mask per sequence, the same at every time step. x is (B, T, C)."""
    if not training or p == 0:
        return x
    mask = x.new_empty(x.shape[0], 1, x.shape[2]).bernoulli_(1 - p) / (1 - p)
    return x * mask


def embedding_dropout(embedding: nn.Embedding, tokens: Tensor, p: float, training: bool) -> Tensor:
    """Drop whole words: zero entire rows of the embedding matrix for this batch (AWD-LSTM)."""
    weight = embedding.weight
    if training and p > 0:
        mask = weight.new_empty(weight.shape[0], 1).bernoulli_(1 - p) / (1 - p)
        weight = weight * mask
    return F.embedding(tokens, weight, embedding.padding_idx)


@dataclass
class ModelOutput:
    """What one forward pass gives the training module."""

    logits: Tensor  # (B, T, V)
    state: ModelState
    output: Tensor  # last layer's output before output dropout (B, T, H), for TAR
    dropped_output: Tensor  # after output dropout, for AR




NUMPY_STEP = True  # one sequence through float32 layers on the CPU steps in numpy (textgen/model/numpy/step.py)
READ_CHUNK = 1024  # `read` takes a longer text this many tokens a call, so its memory is bounded


@dataclass
class StepPlan:
    """What `LanguageModel.step` reads at inference: embedding (None when the first layer reads its
    input table by token id), each layer's fast step, decoder; and for float32 weights on the CPU the
    same step in numpy, which one sequence takes."""

    embedding: Tensor | None
    layers: list
    projection: tuple[Tensor, Tensor] | None
    decoder: tuple[Tensor, Tensor]
    device: str
    dtype: torch.dtype
    numpy: NumpyStep | None = None  # the same step in numpy, for one sequence (batch 1)

    def __call__(self, token: Tensor, state: ModelState) -> tuple[Tensor, ModelState]:
        x = token if self.embedding is None else F.embedding(token, self.embedding)
        new_state = []
        for step, layer_state in zip(self.layers, state):
            x, layer_state = step(x, layer_state)
            new_state.append(layer_state)
        if self.projection is not None:
            x = F.linear(x, *self.projection)
        return F.linear(x, *self.decoder), new_state


@dataclass
class Trace:
    """A transparent run: every gate and memory of every layer at every position."""

    cell: str
    logits: Tensor  # (B, T, V)
    layers: list[dict[str, Tensor]]  # per layer, {name: (B, T, H)}, project and standard names
    state: ModelState


def plan_key(tree: list[tuple[dict, dict]]) -> list:
    """What a step plan gathered from a model depends on, from each of its modules' children and
    parameters (`tree`: their `_modules` and `_parameters`): the children's and the parameters'
    identities, and each parameter's storage, version and dtype. A replaced layer or parameter,
    new weights loaded in place (a version), a model moved to another device or dtype (a storage)
    each give another key. A few microseconds for a small model, against a step's hundreds; the
    plan's cache keeps every object named here, so no identity is reused while it stands."""
    key = []
    for children, parameters in tree:
        key += map(id, children.values())
        for tensor in parameters.values():
            key += (id(tensor), tensor.data_ptr(), tensor._version, tensor.dtype) if tensor is not None else (None,)
    return key


class LanguageModel(nn.Module):
    """Embedding -> recurrent layers -> (projection) -> decoder. Batch first: tokens are (B, T)."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embed_dim)
        self.layers = nn.ModuleList(
            make_layer(config.cell, config.embed_dim if index == 0 else config.hidden_size, config.hidden_size,
                       config.weight_drop, config.forget_bias)
            for index in range(config.num_layers)
        )
        self.projection = nn.Linear(config.hidden_size, config.embed_dim) if config.projects_output else None
        self.decoder = nn.Linear(config.embed_dim if config.tie_weights else config.hidden_size, config.vocab_size)
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)
        if config.tie_weights:
            self.decoder.weight = self.embedding.weight  # Press & Wolf 2017, Inan et al. 2017

    def init_state(self, batch_size: int, device=None) -> ModelState:
        """Zero memories for a batch."""
        device = device or self.embedding.weight.device
        dtype = self.embedding.weight.dtype
        return [layer.init_state(batch_size, device, dtype) for layer in self.recurrent_layers]

    @property
    def recurrent_layers(self) -> list[RecurrentLayer]:
        return list(self.layers)  # type: ignore[arg-type]

    def decode(self, output: Tensor) -> Tensor:
        """Logits from the last layer's output (..., H) -> (..., V)."""
        if self.projection is not None:
            output = self.projection(output)
        return self.decoder(output)

    def forward_with_activations(self, tokens: Tensor, state: ModelState | None = None) -> ModelOutput:
        """The fused forward pass, with the activations the AR/TAR penalties need."""
        cfg = self.config
        if tokens.dim() != 2:
            raise ValueError(f"tokens must be (batch, time), got shape {tuple(tokens.shape)}")
        state = state if state is not None else self.init_state(tokens.shape[0], tokens.device)
        x = embedding_dropout(self.embedding, tokens, cfg.embed_dropout, self.training)  # (B, T, E)
        x = locked_dropout(x, cfg.input_dropout, self.training)
        new_state = []
        for index, layer in enumerate(self.recurrent_layers):
            x, layer_state = layer(x, state[index])  # (B, T, H)
            new_state.append(layer_state)
            if index < len(self.layers) - 1:
                x = locked_dropout(x, cfg.hidden_dropout, self.training)
        dropped = locked_dropout(x, cfg.output_dropout, self.training)
        return ModelOutput(self.decode(dropped), new_state, x, dropped)

    def forward(self, tokens: Tensor, state: ModelState | None = None) -> tuple[Tensor, ModelState]:
        """Raw logits (B, T, V) for tokens (B, T), and the new state."""
        result = self.forward_with_activations(tokens, state)
        return result.logits, result.state

    def step(self, token: Tensor, state: ModelState | None = None) -> tuple[Tensor, ModelState]:
        """One token per sequence (B,) -> logits (B, V): generation costs one step per token.
        At inference with a carried state, the step plan runs (no sequence dimension, no dropout calls;
        in numpy for float32 weights on the CPU): at batch 1 the time of a token is mostly per-call overhead."""
        plan = self._inference_plan(state)
        if plan is not None:
            return plan.numpy(token, state) if plan.numpy is not None and token.shape[0] == 1 else plan(token, state)
        logits, state = self.forward(token.unsqueeze(1), state)
        return logits[:, 0], state

    def numpy_step(self, state: ModelState) -> NumpyStep | None:
        """The numpy step that `step` takes for one sequence with this state, or None where `step`
        would not take it (a batch, training, gradients on, autocast, weights not float32 on the CPU)."""
        plan = self._inference_plan(state)
        return plan.numpy if plan is not None and state[0][0].shape[0] == 1 else None

    def _inference_plan(self, state: ModelState | None) -> StepPlan | None:
        """The step plan `step` runs with this state, or None where it runs the full forward pass
        (no carried state, training, gradients on, a layer without a fast step, autocast, a state of
        another dtype than the weights)."""
        if state is None or self.training or torch.is_grad_enabled():
            return None
        plan = self._step_plan()
        if plan is None or torch.is_autocast_enabled(plan.device) or state[0][0].dtype != plan.dtype:
            return None
        return plan

    def read(self, tokens: Tensor, state: ModelState | None = None) -> tuple[Tensor, ModelState]:
        """The logits after the last of tokens (B, T) -> (B, V), and the state, from `state` (None:
        the start): how generation reads its prompt and inspection its context. At inference one
        sequence of up to READ_BY_STEPS tokens goes through `step` a token at a time: at batch 1 the
        fused kernel's fixed cost (about 3 ms for a few tokens on the 2-core machine, and far more
        while other work holds the cores) is more than the steps'. A longer text is read READ_CHUNK
        tokens a call with the state carried, and only its last position is decoded, so memory does
        not grow with its length (all T logits of 40,000 tokens and 2,048 entries are 330 MB)."""
        if tokens.shape[1] == 0:
            raise ValueError("read needs at least one token")
        inference = not self.training and not torch.is_grad_enabled()
        if (tokens.shape[0] == 1 and tokens.shape[1] <= READ_BY_STEPS and inference
                and self._step_plan() is not None):
            state = state if state is not None else self.init_state(1, tokens.device)
            for token in tokens[0].split(1):
                logits, state = self.step(token, state)
            return logits, state
        if not inference:
            logits, state = self(tokens, state)
            return logits[:, -1], state
        for chunk in tokens.split(READ_CHUNK, dim=1):
            output, state = self.run_layers(chunk, state)
        return self.decode(output[:, -1]), state

    def run_layers(self, tokens: Tensor, state: ModelState | None = None) -> tuple[Tensor, ModelState]:
        """The last layer's output (B, T, H) for tokens (B, T) at inference (no dropout, nothing
        decoded), and the new state."""
        state = state if state is not None else self.init_state(tokens.shape[0], tokens.device)
        x = self.embedding(tokens)  # (B, T, E)
        new_state = []
        for layer, layer_state in zip(self.recurrent_layers, state):
            x, layer_state = layer(x, layer_state)  # (B, T, H)
            new_state.append(layer_state)
        return x, new_state

    def _step_plan(self) -> StepPlan | None:
        """The tensors one inference step reads, gathered once (module attribute lookups cost more
        than the arithmetic at batch 1) and gathered again when a module or parameter of the model is
        replaced or a parameter changed in place: the modules' own children and parameters are
        compared with the cached plan's (plan_key), so nothing outside this model is watched or
        hooked. None when a layer has no fast step (GRU, peephole, a quantised copy)."""
        cached = self.__dict__.get("_plan_cache")
        if cached is not None and plan_key(cached[0]) == cached[2]:
            return cached[3]
        layers, plan = list(self.layers), None
        tree = [(module._modules, module._parameters) for module in self.modules()]
        if all(layer.has_fast_step() for layer in layers):
            projection = (self.projection.weight, self.projection.bias) if self.projection is not None else None
            embedding = self.embedding.weight
            # the first layer's input projection of every token, computed once: a step reads one row
            # of it instead of all of W_ih (a quarter to a third of an LSTM's weight bytes)
            width = layers[0].weights()[0].shape[0]
            table_bytes = embedding.shape[0] * width * embedding.element_size()
            numpy = NUMPY_STEP and embedding.dtype == torch.float32 and embedding.device.type == "cpu"
            table = None
            if table_bytes <= INPUT_TABLE_BYTES:  # numpy's product where the numpy step reads it: the same table as
                # the path that never loads torch (textgen.model.numpy.language_model), so the same stories
                if numpy:
                    blas_threads(1)  # beside torch's threads
                    w_ih, _, b_ih, b_hh = (array(weight) for weight in layers[0].weights())
                    table = torch.from_numpy(input_table(array(embedding), w_ih, b_ih, b_hh))
                else:
                    table = layers[0].input_table(embedding)
            steps = [layer.step_function(table if index == 0 else None) for index, layer in enumerate(layers)]
            plan = StepPlan(embedding if table is None else None, steps, projection, (self.decoder.weight, self.decoder.bias),
                            embedding.device.type, embedding.dtype)
            if numpy:
                plan.numpy = NumpyStep.from_model(self, table)
        watched = [(dict(children), dict(parameters)) for children, parameters in tree]  # keeps the objects keyed
        self.__dict__["_plan_cache"] = (tree, watched, plan_key(tree), plan)  # a plain attribute, never a submodule
        return plan

    @torch.no_grad()
    def trace(self, tokens: Tensor, state: ModelState | None = None) -> Trace:
        """Run the transparent cells (no dropout) and keep every gate, LTM and STM value.

        tokens: (B, T) or (T,); the result always has a batch dimension.
        """
        if tokens.dim() == 1:
            tokens = tokens.unsqueeze(0)
        state = state if state is not None else self.init_state(tokens.shape[0], tokens.device)
        x = self.embedding(tokens)
        layers, new_state = [], []
        for index, layer in enumerate(self.recurrent_layers):
            x, layer_state, values = layer.trace(x, state[index])
            layers.append(values)
            new_state.append(layer_state)
        return Trace(self.config.cell, self.decode(x), layers, new_state)

    def parameter_count(self) -> int:
        return sum(parameter.numel() for parameter in self.parameters())


def detach_state(state: ModelState) -> ModelState:
    """Cut the graph between truncated-backprop chunks, keeping the values."""
    return [tuple(s.detach() for s in layer) for layer in state]


def activation_penalty(output: ModelOutput, config: ModelConfig) -> Tensor:
    """AR + TAR (Merity et al. 2017): alpha * mean(dropped_output^2) + beta * mean((h_t - h_{t-1})^2)."""
    penalty = output.logits.new_zeros(())
    if config.activation_reg:
        penalty = penalty + config.activation_reg * output.dropped_output.pow(2).mean()
    if config.temporal_activation_reg and output.output.shape[1] > 1:
        penalty = penalty + config.temporal_activation_reg * (output.output[:, 1:] - output.output[:, :-1]).pow(2).mean()
    return penalty
