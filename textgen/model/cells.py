"""Recurrent layers that run one set of weights two ways: torch's fused kernel (fast, for
training and generation) and a transparent step that returns every gate (for inspection).

The LSTM in the project's words, per step, with STM = h, LTM = c and event E = x:
  forget gate   f = sigmoid(W_f [STM, E] + b_f)          keeps a share of LTM
  learn gate    N = tanh(W_n [STM, E] + b_n)              new information (candidate)
                i = sigmoid(W_i [STM, E] + b_i)           ignore factor (input gate)
  remember gate LTM' = LTM * f + N * i
  use gate      V = sigmoid(W_v [STM, E] + b_v)           (output gate)
                STM' = V * tanh(LTM')
Weights are stored in torch's layout: W_ih (blocks x H, inputs), W_hh (blocks x H, H) and
two biases; for the LSTM the blocks are ordered input (ignore), forget, candidate (learn),
output (use); for the GRU reset, update, candidate.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

State = tuple[Tensor, ...]  # (STM,) or (STM, LTM), each (B, H)

# (project name, standard name) of each gate a cell reports; traces carry both names
GATE_NAMES: dict[str, tuple[tuple[str, str], ...]] = {
    "lstm": (("forget", "forget"), ("learn", "candidate"), ("ignore", "input"), ("use", "output")),
    "peephole": (("forget", "forget"), ("learn", "candidate"), ("ignore", "input"), ("use", "output")),
    "gru": (("update", "update"), ("reset", "reset"), ("new", "candidate")),
    "rnn": (),
}
SIGMOID_GATES = {"forget", "ignore", "input", "use", "output", "update", "reset"}
MEMORY_NAMES = (("stm", "hidden"), ("ltm", "cell"))  # short-term and long-term memory


@functools.lru_cache(maxsize=1)
def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (without it, bf16 is emulated and slower, and
    oneDNN has no bf16 LSTM at all)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def with_standard_names(cell: str, gates: dict[str, Tensor]) -> dict[str, Tensor]:
    """Add the standard name of each gate beside the project's name (same tensor)."""
    named = dict(gates)
    for ours, standard in GATE_NAMES[cell]:
        named[standard] = gates[ours]
    for ours, standard in MEMORY_NAMES:
        if ours in gates:
            named[standard] = gates[ours]
    return named


def lstm_step(x_t: Tensor, h: Tensor, c: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor):
    """One LSTM step with torch's weights. Returns new STM, new LTM and the gates, each (B, H)."""
    z = F.linear(x_t, w_ih, b_ih) + F.linear(h, w_hh, b_hh)  # (B, 4H)
    ignore, forget, learn, use = z.chunk(4, dim=-1)
    forget, ignore, use = torch.sigmoid(forget), torch.sigmoid(ignore), torch.sigmoid(use)
    learn = torch.tanh(learn)
    c = c * forget + learn * ignore  # the remember gate
    h = use * torch.tanh(c)
    return h, c, {"forget": forget, "learn": learn, "ignore": ignore, "use": use}


def peephole_step(z: Tensor, c: Tensor, peephole: Tensor):
    """One peephole-LSTM step from pre-activations z (B, 4H): the forget and ignore gates see
    the old LTM, the use gate sees the new one (Gers & Schmidhuber 2000)."""
    ignore, forget, learn, use = z.chunk(4, dim=-1)
    forget = torch.sigmoid(forget + peephole[1] * c)
    ignore = torch.sigmoid(ignore + peephole[0] * c)
    learn = torch.tanh(learn)
    c = c * forget + learn * ignore
    use = torch.sigmoid(use + peephole[2] * c)
    h = use * torch.tanh(c)
    return h, c, {"forget": forget, "learn": learn, "ignore": ignore, "use": use}


def gru_step(x_t: Tensor, h: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor):
    """One GRU step with torch's weights and equations."""
    in_reset, in_update, in_new = F.linear(x_t, w_ih, b_ih).chunk(3, dim=-1)
    h_reset, h_update, h_new = F.linear(h, w_hh, b_hh).chunk(3, dim=-1)
    reset = torch.sigmoid(in_reset + h_reset)
    update = torch.sigmoid(in_update + h_update)
    new = torch.tanh(in_new + reset * h_new)
    h = (1 - update) * new + update * h
    return h, {"update": update, "reset": reset, "new": new}


def rnn_step(x_t: Tensor, h: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor) -> Tensor:
    """One plain tanh RNN step: no gates."""
    return torch.tanh(F.linear(x_t, w_ih, b_ih) + F.linear(h, w_hh, b_hh))


class PeepholeRecurrence(torch.autograd.Function):
    """The peephole LSTM over a whole sequence, with its backward pass written out by hand.

    Autograd over the step loop records about twenty small operations per step; this
    function keeps the gates in the forward pass and runs backpropagation through time in
    one loop of its own, which measured 2.3x faster (benchmarks/model_speed.py).
    Inputs: projected (B, T, 4H) = x W_ih^T + biases, w_hh (4H, H), peephole (3, H), h0 and c0 (B, H).
    """

    @staticmethod
    def forward(ctx, projected: Tensor, w_hh: Tensor, peephole: Tensor, h: Tensor, c: Tensor, keep: bool = True):
        w_hh_t = w_hh.t()  # keep: save the gates for backward (False in inference)
        h0, outputs, memories, gates = h, [], [c], []
        for t in range(projected.shape[1]):
            ignore, forget, learn, use = torch.addmm(projected[:, t], h, w_hh_t).chunk(4, dim=-1)
            forget = torch.sigmoid(forget + peephole[1] * c)
            ignore = torch.sigmoid(ignore + peephole[0] * c)
            learn = torch.tanh(learn)
            c = c * forget + learn * ignore
            use = torch.sigmoid(use + peephole[2] * c)
            squashed = torch.tanh(c)
            h = use * squashed
            outputs.append(h)
            if keep:
                memories.append(c)
                gates.append((ignore, forget, learn, use, squashed))
        output = torch.stack(outputs, dim=1)  # (B, T, H)
        if keep:
            stacked = [torch.stack(values, dim=1) for values in zip(*gates)]
            ctx.save_for_backward(w_hh, peephole, h0, output, torch.stack(memories, dim=1), *stacked)
        return output, h, c

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, d_output: Tensor, d_h: Tensor, d_c: Tensor):
        w_hh, peephole, h0, output, memories, *gates = ctx.saved_tensors
        steps = output.shape[1]
        d_projected = output.new_empty(output.shape[0], steps, 4 * output.shape[2])
        d_peephole = torch.zeros_like(peephole)
        d_h, d_c = d_h.clone(), d_c.clone()
        for t in range(steps - 1, -1, -1):
            ignore, forget, learn, use, squashed = (gate[:, t] for gate in gates)
            c_prev, c = memories[:, t], memories[:, t + 1]
            d_h = d_h + d_output[:, t]
            d_use = d_h * squashed * use * (1 - use)
            d_c = d_c + d_h * use * (1 - squashed * squashed) + d_use * peephole[2]
            d_ignore = d_c * learn * ignore * (1 - ignore)
            d_forget = d_c * c_prev * forget * (1 - forget)
            d_learn = d_c * ignore * (1 - learn * learn)
            d_peephole[0] += (d_ignore * c_prev).sum(0)
            d_peephole[1] += (d_forget * c_prev).sum(0)
            d_peephole[2] += (d_use * c).sum(0)
            d_z = torch.cat([d_ignore, d_forget, d_learn, d_use], dim=-1)  # (B, 4H)
            d_projected[:, t] = d_z
            d_c = d_c * forget + d_ignore * peephole[0] + d_forget * peephole[1]
            d_h = d_z @ w_hh
        previous = torch.cat([h0.unsqueeze(1), output[:, :-1]], dim=1)  # h_{t-1} for every t
        d_w_hh = d_projected.reshape(-1, d_projected.shape[-1]).t() @ previous.reshape(-1, previous.shape[-1])
        return d_projected, d_w_hh, d_peephole, d_h, d_c, None


class RecurrentLayer(nn.Module):
    """One recurrent layer. `forward` runs a sequence fast; `step` runs one transparent step;
    `trace` runs `step` over a sequence and stacks every gate and memory to (B, T, H)."""

    cell: str
    has_ltm: bool = False

    def __init__(self, input_size: int, hidden_size: int, weight_drop: float = 0.0):
        super().__init__()
        self.input_size, self.hidden_size, self.weight_drop = input_size, hidden_size, weight_drop

    def init_state(self, batch_size: int, device=None, dtype=None) -> State:
        zeros = torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)
        return (zeros, zeros.clone()) if self.has_ltm else (zeros,)

    def forward(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        raise NotImplementedError

    def step(self, x_t: Tensor, state: State) -> tuple[Tensor, State, dict[str, Tensor]]:
        raise NotImplementedError

    def has_fast_step(self) -> bool:
        """True when `fast_step` (one inference step without the transparent cell's gate dict) applies."""
        return False

    def fast_step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        return self.step_function()(x_t, state)

    def step_function(self, table: Tensor | None = None) -> Callable[[Tensor, State], tuple[Tensor, State]]:
        """`fast_step` with this layer's current weights bound in (LanguageModel's step plan keeps
        it until a weight changes): no attribute lookups left in a generation step. With `table`
        (`input_table`'s), the step takes token ids (B,) instead of inputs and reads its input
        projection from the table."""
        raise NotImplementedError

    def input_table(self, embedding: Tensor) -> Tensor:
        """Every token's input projection W_ih e + b_ih + b_hh, (V, blocks * H), for a first layer
        fed by `embedding` (V, I): a generation step then reads one row of it instead of all of W_ih."""
        w_ih, _, b_ih, b_hh = (w.detach() for w in self.weights())  # type: ignore[attr-defined]
        return torch.addmm(b_ih + b_hh, embedding.detach(), w_ih.t())

    def trace(self, x: Tensor, state: State) -> tuple[Tensor, State, dict[str, Tensor]]:
        """Run the transparent step over x (B, T, I); returns outputs, final state and
        {name: (B, T, H)} for every gate and memory, under both vocabularies."""
        steps: list[dict[str, Tensor]] = []
        outputs = []
        state = tuple(s.to(x.dtype) for s in state)
        for t in range(x.shape[1]):
            h, state, gates = self.step(x[:, t], state)
            outputs.append(h)
            steps.append({**gates, "stm": state[0], **({"ltm": state[1]} if self.has_ltm else {})})
        stacked = {name: torch.stack([s[name] for s in steps], dim=1) for name in steps[0]} if steps else {}
        return torch.stack(outputs, dim=1) if outputs else x.new_zeros(x.shape[0], 0, self.hidden_size), state, \
            with_standard_names(self.cell, stacked) if stacked else {}


class FusedLayer(RecurrentLayer):
    """A layer whose fused path is torch's nn.LSTM / nn.GRU / nn.RNN (one layer, batch first)."""

    module_class: type[nn.RNNBase]
    kernel: staticmethod  # torch.lstm / torch.gru / torch.rnn_tanh: the same kernel with explicit weights

    def __init__(self, input_size: int, hidden_size: int, weight_drop: float = 0.0):
        super().__init__(input_size, hidden_size, weight_drop)
        self.rnn = self.module_class(input_size, hidden_size, batch_first=True)

    def weights(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        rnn = self.rnn
        return rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0

    def forward(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        if x.shape[1] == 0:
            return x.new_zeros(x.shape[0], 0, self.hidden_size), state
        if x.shape[1] == 1 and not self.training and not torch.is_grad_enabled() and self.has_fast_step():
            same = state[0].dtype == x.dtype  # generation: one token
            output, new = self.fast_step(x[:, 0], state if same else tuple(s.to(x.dtype) for s in state))
            return output.unsqueeze(1), new if same else tuple(s.to(old.dtype) for s, old in zip(new, state))
        if x.device.type == "cpu" and torch.is_autocast_enabled("cpu") and not native_bf16():
            # bf16 autocast on a CPU without native bf16: oneDNN has no bf16 LSTM there, so this
            # layer runs in float32 and the rest of the model keeps autocast
            with torch.autocast("cpu", enabled=False):
                return self.forward(x.float(), state)
        # state in the input's dtype going in (autocast may have made it bf16 last call), and in
        # its own dtype coming out, so carried state never changes dtype between calls
        hx = tuple(s.to(x.dtype).unsqueeze(0) for s in state)  # torch wants (layers, B, H)
        hx = hx if self.has_ltm else hx[0]
        if self.training and self.weight_drop > 0:
            # DropConnect on W_hh (AWD-LSTM): one mask per batch and chunk, gradients reach the raw
            # weight; the weights go to the kernel explicitly, so the module itself is not touched
            w_ih, w_hh, b_ih, b_hh = self.weights()
            dropped = F.dropout(w_hh, self.weight_drop, training=True)
            output, *new = type(self).kernel(x, hx, [w_ih, dropped, b_ih, b_hh], True, 1, 0.0, True, False, True)
        else:
            output, new = self.rnn(x, hx)
            new = list(new) if self.has_ltm else [new]
        return output, tuple(s.squeeze(0).to(old.dtype) for s, old in zip(new, state))


    # --- one inference step without the fused kernel's per-call overhead (generation) -----------

    def has_fast_step(self) -> bool:
        """True when `fast_step` applies: plain float (or bf16) weights in a torch RNN module of ours,
        outside autocast (a quantised copy keeps torch's own path)."""
        rnn = self.rnn
        return (type(rnn) is self.module_class and rnn.weight_hh_l0.dtype in (torch.float32, torch.bfloat16)
                and not torch.is_autocast_enabled(rnn.weight_hh_l0.device.type))

    def pre_activation(self, table: Tensor | None = None) -> Callable[[Tensor, Tensor], Tensor]:
        """z = W_ih x + W_hh h + biases (B, blocks * H) for one step, as `step_function` reads it:
        from the input x_t and STM h in one matrix product, or with `table` (`input_table`'s) from the
        token ids' rows of the table plus W_hh h."""
        addmm = torch.addmm
        if table is not None:
            recurrent, lookup = self.rnn.weight_hh_l0.detach().t(), F.embedding
            return lambda token, h: addmm(lookup(token, table), h, recurrent)
        weight, bias, cat = *self.step_weights(), torch.cat
        return lambda x_t, h: addmm(bias, cat([x_t, h], dim=1), weight)

    def step_weights(self) -> tuple[Tensor, Tensor]:
        """[W_ih | W_hh] transposed (I + H, blocks * H) and b_ih + b_hh, rebuilt whenever a weight changes."""
        weights = self.weights()
        key = tuple((w.data_ptr(), w._version) for w in weights)  # a new tensor or an in-place change rebuilds
        cached = getattr(self, "_step_cache", None)
        if cached is None or cached[0] != key:
            w_ih, w_hh, b_ih, b_hh = (w.detach() for w in weights)
            cached = (key, torch.cat([w_ih, w_hh], dim=1).t().contiguous(), (b_ih + b_hh).contiguous())
            self._step_cache = cached
        return cached[1], cached[2]


def init_keep_bias(bias_ih: Tensor, bias_hh: Tensor, block: int, hidden_size: int, value: float | str,
                   write_block: int | None = None) -> None:
    """Start a keep gate (LSTM forget, block 1; GRU update, block 1) at bias `value`, so memory is
    kept from the first step (Gers et al. 2000; Jozefowicz et al. 2015 recommend 1).

    "chrono[:T]" (Tallec & Ollivier 2018) draws each unit's keep bias from log(U(1, T - 1)), so
    the units' memories span time scales up to T steps, and sets the write gate's bias (the LSTM
    input gate, `write_block`) to its negative."""
    keep = slice(block * hidden_size, (block + 1) * hidden_size)
    with torch.no_grad():
        bias_hh[keep].zero_()
        if isinstance(value, str):
            from textgen.model.config import chrono_span

            span = chrono_span(value)
            bias_ih[keep].copy_(torch.log(torch.empty(hidden_size).uniform_(1.0, span - 1.0)))
            if write_block is not None:
                write = slice(write_block * hidden_size, (write_block + 1) * hidden_size)
                bias_ih[write].copy_(-bias_ih[keep])
                bias_hh[write].zero_()
        else:
            bias_ih[keep].fill_(value)


class LSTMLayer(FusedLayer):
    cell, has_ltm, module_class, kernel = "lstm", True, nn.LSTM, staticmethod(torch.lstm)

    def __init__(self, input_size: int, hidden_size: int, weight_drop: float = 0.0, forget_bias: float | str = 1.0):
        super().__init__(input_size, hidden_size, weight_drop)
        init_keep_bias(self.rnn.bias_ih_l0, self.rnn.bias_hh_l0, 1, hidden_size, forget_bias, write_block=0)

    def step(self, x_t: Tensor, state: State):
        h, c, gates = lstm_step(x_t, state[0], state[1], *self.weights())
        return h, (h, c), gates

    def step_function(self, table: Tensor | None = None) -> Callable[[Tensor, State], tuple[Tensor, State]]:
        size = self.hidden_size
        projected, sigmoid, tanh, addcmul = self.pre_activation(table), torch.sigmoid, torch.tanh, torch.addcmul

        def step(x_t: Tensor, state: State) -> tuple[Tensor, State]:
            z = projected(x_t, state[0])  # (B, 4H): ignore, forget, learn, use
            gates = sigmoid(z)  # one call for the three gates (the learn block's sigmoid goes unused)
            c = addcmul(gates[:, size: 2 * size] * state[1], gates[:, :size], tanh(z[:, 2 * size: 3 * size]))  # LTM*f + N*i
            h = gates[:, 3 * size:] * tanh(c)  # use gate V * tanh(new LTM)
            return h, (h, c)

        return step


class GRULayer(FusedLayer):
    cell, module_class, kernel = "gru", nn.GRU, staticmethod(torch.gru)

    def __init__(self, input_size: int, hidden_size: int, weight_drop: float = 0.0, forget_bias: float | str = 1.0):
        super().__init__(input_size, hidden_size, weight_drop)
        init_keep_bias(self.rnn.bias_ih_l0, self.rnn.bias_hh_l0, 1, hidden_size, forget_bias)  # update gate

    def step(self, x_t: Tensor, state: State):
        h, gates = gru_step(x_t, state[0], *self.weights())
        return h, (h,), gates

    def has_fast_step(self) -> bool:
        return False  # the GRU's candidate needs W_hh h apart from W_ih x: torch's kernel does well enough


class RNNLayer(FusedLayer):
    cell, module_class, kernel = "rnn", nn.RNN, staticmethod(torch.rnn_tanh)

    def __init__(self, input_size: int, hidden_size: int, weight_drop: float = 0.0, forget_bias: float | str = 1.0):
        super().__init__(input_size, hidden_size, weight_drop)  # no gates: forget_bias does not apply

    def step(self, x_t: Tensor, state: State):
        h = rnn_step(x_t, state[0], *self.weights())
        return h, (h,), {}

    def step_function(self, table: Tensor | None = None) -> Callable[[Tensor, State], tuple[Tensor, State]]:
        projected, tanh = self.pre_activation(table), torch.tanh

        def step(x_t: Tensor, state: State) -> tuple[Tensor, State]:
            h = tanh(projected(x_t, state[0]))
            return h, (h,)

        return step


class PeepholeLayer(RecurrentLayer):
    """LSTM whose gates also see the long-term memory. torch has no fused kernel for it, so
    `forward` computes every input projection in one matrix product and runs the recurrence
    in PeepholeRecurrence, whose backward pass is written by hand."""

    cell, has_ltm = "peephole", True

    def __init__(self, input_size: int, hidden_size: int, weight_drop: float = 0.0, forget_bias: float | str = 1.0):
        super().__init__(input_size, hidden_size, weight_drop)
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size))
        self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size))
        self.peephole = nn.Parameter(torch.empty(3, hidden_size))  # ignore, forget, use
        bound = 1.0 / math.sqrt(hidden_size)  # as nn.LSTM initialises
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -bound, bound)
        init_keep_bias(self.bias_ih, self.bias_hh, 1, hidden_size, forget_bias, write_block=0)

    def forward(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        w_hh = self.weight_hh
        if self.training and self.weight_drop > 0:
            w_hh = F.dropout(w_hh, self.weight_drop, training=True)
        if x.shape[1] == 0:
            return x.new_zeros(x.shape[0], 0, self.hidden_size), state
        projected = F.linear(x, self.weight_ih, self.bias_ih + self.bias_hh)  # (B, T, 4H) in one product
        h, c = (s.to(projected.dtype) for s in state)
        keep = torch.is_grad_enabled() and any(t.requires_grad for t in (projected, w_hh, self.peephole, h, c))
        output, h, c = PeepholeRecurrence.apply(projected, w_hh, self.peephole, h, c, keep)
        return output, (h.to(state[0].dtype), c.to(state[1].dtype))

    def step(self, x_t: Tensor, state: State):
        z = F.linear(x_t, self.weight_ih, self.bias_ih) + F.linear(state[0], self.weight_hh, self.bias_hh)
        h, c, gates = peephole_step(z, state[1], self.peephole)
        return h, (h, c), gates


LAYERS: dict[str, type[RecurrentLayer]] = {"lstm": LSTMLayer, "peephole": PeepholeLayer, "gru": GRULayer, "rnn": RNNLayer}


def make_layer(cell: str, input_size: int, hidden_size: int, weight_drop: float = 0.0,
               forget_bias: float | str = 1.0) -> RecurrentLayer:
    """A recurrent layer of the named cell."""
    return LAYERS[cell](input_size, hidden_size, weight_drop, forget_bias)
