"""The neural cache (Grave, Joulin & Usunier 2017): a memory of the story so far that helps the
model keep its characters. No training: the last layer's output h_i at each earlier position i
is stored with the token that followed it, x_{i+1}. At position t the cache proposes

    p_cache(w) = sum over i < t with x_{i+1} = w of softmax_i(theta * h_t . h_i)

and the prediction is (1 - weight) * p_model + weight * p_cache. Where a name was written before
in a similar context, the cache raises it again. The cache never sees the token it predicts:
position t only reads pairs (h_i, x_{i+1}) with i < t, whose tokens were all inputs already.

`size` bounds the memory to the last positions; with `per_story` it is also emptied at each
start of story (<s>), so one story's names do not leak into the next. The settings are chosen
per model on its validation text when training ends (`tune_cache`), and the cache stays off
for a model it does not help. Every path reads a text in chunks with the memory carried, so
its work is O(T * size) and its memory does not grow with the text's length.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from textgen.model.config import ConfigMixin
from textgen.errors import TextgenError
from textgen.tokenizer import BOS_ID

MAX_SIZE = 100_000
THETAS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.35, 0.6, 1.0, 1.6, 2.5, 4.0, 6.0)  # the tuning grid; raw dot products of outputs in [-1, 1]
WEIGHTS = (0.02, 0.05, 0.08, 0.12, 0.16, 0.2, 0.25, 0.3)
TUNE_SIZE = 1000
MIN_GAIN = 0.002  # a cache that lowers the validation loss by less (relative) stays off
PROBE_TOKENS = 4_096  # a time-limited search times itself on this many tokens first
MIN_SEARCH_SECONDS = 1.0  # a time-limited search with less than this left does not run
PROBE_MARGIN = 0.6  # a longer search's tokens cost up to 1.5 x the probe's (measured: 0.9 of it overran by a third)


@dataclass(frozen=True)
class CacheSettings(ConfigMixin):
    """How the cache mixes with the model."""

    theta: float = 0.3  # flatness: how sharply the cache prefers positions whose state resembles the current one
    weight: float = 0.1  # lambda: the cache's share of the prediction
    size: int = TUNE_SIZE  # how many earlier positions it remembers
    per_story: bool = True  # empty it at each start of story

    def __post_init__(self) -> None:
        if isinstance(self.theta, bool) or not isinstance(self.theta, (int, float)) or not 0 < self.theta <= 100:
            raise TextgenError(f"cache theta must be a number in (0, 100], got {self.theta!r}")
        if isinstance(self.weight, bool) or not isinstance(self.weight, (int, float)) or not 0 <= self.weight < 1:
            raise TextgenError(f"cache weight must be in [0, 1), got {self.weight!r}: 0 turns the cache off")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or not 1 <= self.size <= MAX_SIZE:
            raise TextgenError(f"cache size must be a whole number from 1 to {MAX_SIZE:,}, got {self.size!r}")
        if not isinstance(self.per_story, bool):
            raise TextgenError(f"cache per_story must be true or false, got {self.per_story!r}")

    def describe(self) -> str:
        scope = "within each story" if self.per_story else "across stories"
        return f"neural cache: weight {self.weight:g}, theta {self.theta:g}, last {self.size:,} positions {scope}"


def story_ids(tokens: Tensor, start: Tensor) -> Tensor:
    """The running story number of each position (B, T): `start` (B,) plus the <s> seen so far."""
    return start[:, None] + torch.cumsum((tokens == BOS_ID).long(), dim=1)


def allowed_keys(memory: int, steps: int, window: int, query_story: Tensor | None, key_story: Tensor | None) -> Tensor:
    """Which keys each query may read: (B or 1, T, memory + T - 1) booleans.

    Keys are the `memory` stored pairs, then the chunk's own positions 0..T-2 (whose next
    tokens are inputs of this chunk). Query t reads every stored key and chunk keys j < t,
    at most `window` back, and with stories, only keys of its own story.
    """
    keys = memory + max(0, steps - 1)
    index = torch.arange(keys)
    query = torch.arange(steps)[:, None] + memory  # keys before this index were written before position t
    allowed = (index[None, :] < query) & (index[None, :] >= query - window)  # (T, K)
    allowed = allowed[None]
    if query_story is not None and key_story is not None:
        allowed = allowed & (key_story[:, None, :] == query_story[:, :, None])
    return allowed


def cache_weights(queries: Tensor, keys: Tensor, allowed: Tensor, theta: float) -> tuple[Tensor, Tensor]:
    """softmax over the allowed keys of theta * q . k: (B, T, K) weights and (B, T) has-any-key."""
    scores = torch.einsum("bth,bkh->btk", queries.float(), keys.float()) * theta
    scores = scores.masked_fill(~allowed, float("-inf"))
    has = allowed.any(dim=-1)
    weights = torch.softmax(scores.masked_fill(~has[..., None], 0.0), dim=-1) * allowed
    return weights, has


def mix(logits: Tensor, weights: Tensor, has: Tensor, values: Tensor, settings: CacheSettings) -> Tensor:
    """log((1 - weight) p_model + weight p_cache) over the vocabulary: (B, T, V) from logits (B, T, V)."""
    model = torch.softmax(logits.float(), dim=-1)
    cache = torch.zeros_like(model)
    if values.shape[1]:
        cache.scatter_add_(2, values[:, None, :].expand(-1, model.shape[1], -1), weights)
    mixed = torch.where(has[..., None], (1 - settings.weight) * model + settings.weight * cache, model)
    return torch.log(mixed.clamp_min(1e-30))


CHUNK = 256  # tokens a cached forward call reads at once: its query-key matrices are chunk x (size + chunk)
SCORE_ENTRIES = 2**19  # ... but a large `size` takes smaller chunks, down to MIN_CHUNK, to keep them near this
MIN_CHUNK = 16
RECENT = 32  # keys a one-token step adds before the memory is copied into one tensor (see CachedModel)


def chunk_length(size: int) -> int:
    """How many tokens `CachedModel.forward` reads a call for a cache of `size` positions."""
    return max(MIN_CHUNK, min(CHUNK, SCORE_ENTRIES // (size + CHUNK)))


def empty_memory(batch_size: int, hidden_size: int, reference: Tensor) -> tuple:
    """An empty cache memory (the last entry of a CachedModel state) for a batch."""
    keys = reference.new_zeros(batch_size, 0, hidden_size)
    tokens = torch.zeros(batch_size, 0, dtype=torch.long, device=reference.device)
    return (keys, tokens, tokens.clone(), keys.clone(), tokens.clone(), tokens.clone(), tokens.new_zeros(batch_size),
            keys.clone())


class CachedModel(nn.Module):
    """A language model with the cache: the same `forward(tokens, state) -> (logits, state)`, `step`
    and `read`, so sampling, next words and the diagnosis use it unchanged. Its logits are the log of
    the mixed probabilities.

    A call reads its tokens `chunk_length(size)` at a time, carrying the memory, so its work is
    O(T * size) and its memory, beyond the (B, T, V) logits it returns (`read` returns only the
    last), does not grow with T: each query reads at most `size` keys anyway.

    The state is the model's layers plus one more entry, all batch-first, so beam search can pick
    rows of it like any layer's state: (keys (B, n, H), their next tokens (B, n), their stories (B, n),
    recent keys (B, r, H), their next tokens (B, r), their stories (B, r), current story (B,),
    pending h (B, 1, H)). The recent keys are those one-token steps added since the keys were last
    copied into one tensor: a step's new state shares the (up to `size`) keys with the state it came
    from and copies only the few recent ones, so the states a next-word search keeps (hundreds,
    each one step from another) cost a few keys each, not `size`. Every RECENT steps, and after
    any call of more than one token, the memory is folded into one tensor of the last `size` keys."""

    def __init__(self, model: nn.Module, settings: CacheSettings):
        super().__init__()
        self.model, self.settings = model, settings
        self.chunk = chunk_length(settings.size)

    @property
    def config(self):
        return self.model.config

    def init_state(self, batch_size: int, device=None):
        """Zero memories and an empty cache."""
        state = self.model.init_state(batch_size, device)
        reference = state[0][0]
        return [*state, empty_memory(batch_size, reference.shape[-1], reference)]

    def trace(self, tokens: Tensor, state=None):
        return self.model.trace(tokens, state)

    def forward(self, tokens: Tensor, state=None) -> tuple[Tensor, list]:
        """Mixed log-probabilities (B, T, V) for tokens (B, T), and the new state."""
        pieces = []
        for chunk in tokens.split(self.chunk, dim=1):
            logits, state = self._forward_chunk(chunk, state, "all")
            pieces.append(logits)
        return (torch.cat(pieces, dim=1) if len(pieces) > 1 else pieces[0]), state

    def read(self, tokens: Tensor, state=None) -> tuple[Tensor, list]:
        """The mixed log-probabilities after the last of tokens (B, T) -> (B, V), and the state (at
        inference): the chunks before the last only add their keys to the memory, and only the
        last position is decoded and reads the cache, so the work beyond the model's own is
        O(T * H + size * H)."""
        if tokens.shape[1] == 0:
            raise ValueError("read needs at least one token")
        chunks = tokens.split(self.chunk, dim=1)
        for chunk in chunks[:-1]:
            _, state = self._forward_chunk(chunk, state, "none")
        logits, state = self._forward_chunk(chunks[-1], state, "last")
        return logits[:, -1], state

    def step(self, token: Tensor, state=None) -> tuple[Tensor, list]:
        logits, state = self._forward_chunk(token.unsqueeze(1), state, "all")
        return logits[:, 0], state

    def _forward_chunk(self, tokens: Tensor, state, wanted: str) -> tuple[Tensor | None, list]:
        """One call's worth of tokens (B, T), T at most `self.chunk`: the mixed logits of every
        position (`wanted` "all"), of the last (B, 1, V) ("last", at inference) or none ("none":
        only the memory is updated), and the new state."""
        batch, steps = tokens.shape
        if state is None:
            model_state, memory = None, None
        else:
            model_state, memory = state[:-1], state[-1]
        if wanted == "all":
            output = self.model.forward_with_activations(tokens, model_state)
            hidden, model_logits, model_state = output.output, output.logits, output.state  # no dropout at inference
        else:
            hidden, model_state = self.model.run_layers(tokens, model_state)
            model_logits = self.model.decode(hidden[:, -1:]) if wanted == "last" else None
        size = self.settings.size
        if memory is None:
            memory = empty_memory(batch, hidden.shape[-1], hidden)
        keys, values, key_story, recent_keys, recent_values, recent_story, story_start, pending = memory
        current = story_ids(tokens, story_start)  # (B, T)
        added_keys, added_values, added_story = [recent_keys], [recent_values], [recent_story]
        if pending.shape[1]:  # the last position of the previous call: its next token is this chunk's first
            added_keys.append(pending.to(keys.dtype))
            added_values.append(tokens[:, :1])
            added_story.append(story_start[:, None])
        added = sum(part.shape[1] for part in added_keys)
        old = slice(max(0, keys.shape[1] - max(0, size - added)), None)  # a query reads `size` keys back at most
        stored_keys = torch.cat([keys[:, old], *added_keys], dim=1)[:, -size:]
        stored_values = torch.cat([values[:, old], *added_values], dim=1)[:, -size:]
        stored_story = torch.cat([key_story[:, old], *added_story], dim=1)[:, -size:]
        memory_length = stored_keys.shape[1]
        all_keys = torch.cat([stored_keys, hidden[:, :-1].to(keys.dtype)], dim=1)  # (B, n + T - 1, H)
        all_values = torch.cat([stored_values, tokens[:, 1:]], dim=1)
        all_stories = torch.cat([stored_story, current[:, :-1]], dim=1)
        logits = None
        if wanted != "none":
            queries = slice(None) if wanted == "all" else slice(steps - 1, None)
            per_story = self.settings.per_story
            allowed = allowed_keys(memory_length, steps, size, current if per_story else None,
                                   all_stories if per_story else None).to(tokens.device)[:, queries]
            weights, has = cache_weights(hidden[:, queries], all_keys, allowed, self.settings.theta)
            logits = mix(model_logits, weights, has, all_values, self.settings)
        new_keys = [*added_keys, hidden[:, :-1].detach().to(keys.dtype)]
        if steps > 1 or sum(part.shape[1] for part in new_keys) > RECENT:
            keep = slice(max(0, all_keys.shape[1] - size + 1), None)  # the pending position makes it `size`
            new_memory = (all_keys[:, keep].detach().clone(), all_values[:, keep].clone(), all_stories[:, keep].clone(),
                          *empty_memory(batch, hidden.shape[-1], hidden)[3:6])
        else:  # share the stored keys with the state this step came from; copy only the recent ones
            new_memory = (keys, values, key_story, torch.cat(new_keys, dim=1),
                          torch.cat([*added_values, tokens[:, 1:]], dim=1), torch.cat([*added_story, current[:, :-1]], dim=1))
        return logits, [*model_state, (*new_memory, current[:, -1], hidden[:, -1:].detach())]


def resolve_cache(tuned: CacheSettings | None, enabled: bool | None = None, weight: float | None = None,
                  theta: float | None = None, size: int | None = None, scope: str | None = None,
                  sampling: bool = False) -> CacheSettings | None:
    """The cache a command uses: the model's tuned settings by default (None: off), `enabled`
    False turns it off, and any value given overrides the tuned one (and turns the cache on).
    When `sampling` (generate, diagnose's samples) the default is off: the cache lowers the loss
    of text that exists, but a draw from it is often a copy of a recent token ("the the"), which
    made sampled stories worse in every setting measured (BENCHMARKS.md, cast); `enabled` True or
    any value given still turns it on."""
    if enabled is False:
        return None
    overrides = {name: value for name, value in (("weight", weight), ("theta", theta), ("size", size)) if value is not None}
    if scope is not None:
        if scope not in ("story", "all"):
            raise TextgenError(f"cache scope {scope!r} is unknown: use story (empty it at each story) or all")
        overrides["per_story"] = scope == "story"
    if not overrides and not enabled and (tuned is None or sampling):
        return None
    settings = (tuned or CacheSettings()).replace(**overrides)
    return settings if settings.weight > 0 else None


def with_cache(model: nn.Module, settings: CacheSettings | None) -> nn.Module:
    """The model with the cache in front of it, or the model itself when settings is None or weight 0."""
    if settings is None or settings.weight == 0:
        return model
    return CachedModel(model, settings)


# --- evaluation and tuning: only the probability of each target is needed ---------------------

@torch.no_grad()
def collect(model: nn.Module, array: np.ndarray, streams: int, seq_len: int, device="cpu", piece: int = CHUNK):
    """Yield per chunk of `seq_len` tokens, in pieces of at most `piece`: hidden (B, T, H), inputs (B, T),
    targets (B, T) and the model's log-probability of each target (B, T), with the recurrent state
    carried across chunks (as evaluate does). The pieces bound the memory whatever `seq_len` is."""
    from textgen.data.token_arrays import stream_chunks

    state = None
    for whole_inputs, whole_targets in stream_chunks(array, streams, seq_len):
        for inputs, targets in zip(whole_inputs.split(piece, dim=1), whole_targets.split(piece, dim=1)):
            inputs, targets = inputs.to(device), targets.to(device)
            output = model.forward_with_activations(inputs, state)
            state = output.state
            log_probs = torch.log_softmax(output.logits.float(), dim=-1).gather(2, targets[..., None])[..., 0]
            yield output.output, inputs, targets, log_probs


@torch.no_grad()
def cached_nats(model: nn.Module, array: np.ndarray, grid: list[CacheSettings], streams: int = 16, seq_len: int = 256,
                device="cpu") -> tuple[float, list[float], int]:
    """Total nats of the plain model and of the model with each cache setting (same size and
    per_story for every entry of `grid`, any theta and weight), and the tokens scored. The text is
    scored `chunk_length(size)` tokens at a time with the memory carried, so the query-key matrices
    are chunk x (size + chunk) whatever `seq_len` is."""
    size, per_story = grid[0].size, grid[0].per_story
    if any(setting.size != size or setting.per_story != per_story for setting in grid):
        raise ValueError("cached_nats: every setting in the grid must share size and per_story")
    thetas = sorted({setting.theta for setting in grid})
    was_training = model.training
    model.eval()
    plain, totals, count = 0.0, [0.0] * len(grid), 0
    keys = values = key_story = story_start = None
    try:
        for hidden, inputs, targets, log_probs in collect(model, array, streams, seq_len, device, chunk_length(size)):
            batch, steps = inputs.shape
            if keys is None:
                keys = hidden.new_zeros(batch, 0, hidden.shape[-1])
                values = inputs.new_zeros(batch, 0)
                key_story = inputs.new_zeros(batch, 0)
                story_start = inputs.new_zeros(batch)
            current = story_ids(inputs, story_start)
            # in a stream, position t's next token is targets[t]: keys are this chunk's positions 0..T-1,
            # and query t reads keys j < t (a chunk with known targets needs no pending position)
            all_keys = torch.cat([keys, hidden], dim=1)
            all_values = torch.cat([values, targets], dim=1)
            all_stories = torch.cat([key_story, current], dim=1)
            allowed = allowed_keys(keys.shape[1], steps + 1, size, torch.cat([current, current[:, -1:]], dim=1)
                                   if per_story else None, all_stories if per_story else None)[:, :steps]
            match = all_values[:, None, :] == targets[:, :, None]  # (B, T, K): keys whose next token is the target
            model_p = log_probs.exp()
            plain -= float(log_probs.sum())
            count += targets.numel()
            for theta in thetas:
                weights, has = cache_weights(hidden, all_keys, allowed, theta)
                cache_p = (weights * match).sum(-1)
                for index, setting in enumerate(grid):
                    if setting.theta != theta:
                        continue
                    mixed = torch.where(has, (1 - setting.weight) * model_p + setting.weight * cache_p, model_p)
                    totals[index] -= float(torch.log(mixed.clamp_min(1e-30)).sum())
            keep = slice(max(0, all_keys.shape[1] - size), None)
            keys, values, key_story, story_start = all_keys[:, keep], all_values[:, keep], all_stories[:, keep], current[:, -1]
    finally:
        model.train(was_training)
    return plain, totals, count


def tune_cache(model: nn.Module, array: np.ndarray, streams: int = 16, seq_len: int = 256,
               device="cpu", seconds: float | None = None) -> tuple[CacheSettings | None, dict]:
    """Choose theta, weight and per_story on held-out tokens. Returns the best settings (None when
    no setting lowers the loss by MIN_GAIN) and a record of the search for textgen.json.

    `seconds` (a command's time budget, textgen.training.budget): the search first runs on the
    first PROBE_TOKENS tokens, timed, then on as many tokens as the rest of the time holds (the
    record says how many, and that time limited them); with under MIN_SEARCH_SECONDS it does not
    run at all (None, with "skipped" in the record)."""
    if seconds is None:
        return _search(model, array, streams, seq_len, device)
    if seconds < MIN_SEARCH_SECONDS:
        return None, {"skipped": f"{max(0.0, seconds):.1f}s of the time budget were left", "chosen": None}
    started = time.perf_counter()
    probe = array[:PROBE_TOKENS]
    found = _search(model, probe, min(streams, max(1, len(probe) // 512)), seq_len, device)
    took = time.perf_counter() - started
    if len(probe) == len(array):
        return found
    # tokens the rest of the time holds; the probe's streams are short, so its memory holds fewer positions than a
    # longer search's and each of its tokens costs less: PROBE_MARGIN of the rate it measured (BENCHMARKS.md, max_time)
    fits = int(PROBE_MARGIN * (seconds - took) / max(took, 1e-6) * len(probe))
    if fits <= len(probe):
        return found[0], {**found[1], "limited_by_time": True}
    tokens = min(len(array), fits)
    best, record = _search(model, array[:tokens], min(streams, max(1, tokens // 512)), seq_len, device)
    return best, {**record, "limited_by_time": tokens < len(array)}


def _search(model: nn.Module, array: np.ndarray, streams: int, seq_len: int, device) -> tuple[CacheSettings | None, dict]:
    """The search itself: every setting of the grid over all of `array`."""
    results, plain, count = [], 0.0, 1
    for per_story in (True, False):
        grid = [CacheSettings(theta, weight, TUNE_SIZE, per_story) for theta in THETAS for weight in WEIGHTS]
        plain, totals, count = cached_nats(model, array, grid, streams, seq_len, device)
        results += list(zip(grid, totals))
    best, best_nats = min(results, key=lambda item: item[1])
    plain_loss, best_loss = plain / max(1, count), best_nats / max(1, count)
    gain = 1 - best_loss / plain_loss if plain_loss > 0 else 0.0
    record = {"tokens": count, "plain_loss": round(plain_loss, 5), "cached_loss": round(best_loss, 5),
              "relative_gain": round(gain, 5), "grid": {"theta": list(THETAS), "weight": list(WEIGHTS), "size": TUNE_SIZE,
                                                        "per_story": [True, False]}}
    if not math.isfinite(best_loss) or gain < MIN_GAIN:
        return None, {**record, "chosen": None}
    return best, {**record, "chosen": best.to_dict()}


def check_array(array: np.ndarray) -> None:
    if len(array) < 2:
        raise TextgenError("the text is too short for the cache: it needs at least one story")


def cross_entropy_of(logits: Tensor, targets: Tensor) -> Tensor:
    """Summed nats of targets under (mixed) logits."""
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="sum")
