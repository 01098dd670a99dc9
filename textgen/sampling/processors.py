"""Logits processors: one rule each, arguments checked when built, applied as an ordered list.

Each processor maps (history (B, T) token ids, logits (B, V)) -> logits (B, V) and never
removes every token: the most likely token before the rule always survives it. The order
`build_processors` applies them in (printed by `--verbose`):
  1. repetition penalty (CTRL, Keskar et al. 2019), sign-aware
  2. frequency and presence penalties
  3. no-repeat n-gram
  4. DRY ("don't repeat yourself")
  5. banned words
  6. keep the cast (new names after the story's opening are less likely)
  7. no stray capitals ("and The" is less likely; textgen.sampling.stray_capitals)
  8. real words (a word the training text does not have is less likely; textgen.sampling.real_words)
  9. no doubled words ("the the" is less likely)
  10. temperature
  11. top-k, 12. top-p (nucleus, Holtzman et al. 2019), 13. min-p
Penalties see the raw scores; temperature reshapes them; the truncations come last so they
cut the distribution that is actually sampled. Each rule's arguments are checked against the
sampling schema (schema.py), the one place their bounds are declared.

`Processor.row` is the same rule for one story in numpy: generation of one story on the CPU (the
default command, the explorer's continue) keeps its state, scores and draw in numpy with no torch
call in the loop. Every rule but DRY, top-p and min-p has a numpy row of its own that gives the
same numbers as its torch call (the tests compare them bit for bit); those three run their torch
call on the row (their softmax's rounding decides which tokens stay, so numpy's could differ).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from typing import TYPE_CHECKING

import numpy as np

from textgen.errors import TextgenError
from textgen.sampling.real_words import LOOK_BACK
from textgen.sampling.schema import check

if TYPE_CHECKING:
    from torch import Tensor

NEG_INF = float("-inf")


class _Torch:
    """torch, imported when a rule first runs on tensors: one story written in numpy (the default
    `generate`, textgen.sampling.numpy_generate) never imports it. The first use puts the module
    itself in this name."""

    def __getattr__(self, name: str):
        import torch as module

        globals()["torch"] = module
        return getattr(module, name)


torch = _Torch()


def on(array: np.ndarray, device) -> Tensor:
    """A rule's table (a numpy array) as a tensor on `device` (sharing its memory on the CPU)."""
    return torch.from_numpy(array).to(device)


def keep_best(original: Tensor, processed: Tensor) -> Tensor:
    """Restore each row's best original token where a rule removed every token of the row."""
    empty = torch.isneginf(processed.amax(dim=-1))  # a row whose largest value is -inf has nothing left
    if empty.any():
        best = original.argmax(dim=-1)
        processed = processed.clone()
        processed[empty, best[empty]] = original[empty, best[empty]]
    return processed


def keep_best_row(original: np.ndarray, processed: np.ndarray) -> np.ndarray:
    """`keep_best` for one row (V,): the original best token comes back where a rule removed every token."""
    if processed.max() == NEG_INF:
        best = int(original.argmax())
        processed = processed.copy()
        processed[best] = original[best]
    return processed


class Processor:
    """Base class: `describe()` is the line --verbose prints."""

    name = "processor"

    def __call__(self, history: Tensor, logits: Tensor) -> Tensor:
        raise NotImplementedError

    def row(self, history: list[int], scores: np.ndarray) -> np.ndarray:
        """The rule on one story: `history` its ids so far (the prompt's included), `scores` (V,)
        float32; returns new scores (the input is never changed). This one runs the torch call on
        the row; the rules of the default settings have numpy rows of their own."""
        out = self(torch.tensor([history], dtype=torch.long), torch.from_numpy(scores[None]))
        return out.numpy()[0]

    def describe(self) -> str:
        return self.name

    def static_part(self) -> tuple[list[int], Processor | None]:
        """The tokens this rule bans whatever the history (generation folds them into its mask of
        never-written tokens once), and the rule that is left to run at every step (None: nothing)."""
        return [], self




class HistoryCounts:
    """Per row, how often each token occurs in the history (B, V). Generation reads a growing view
    of one buffer: only the tokens added since the last call are counted, so a step costs the new
    tokens, not the whole history (a long prompt is counted once, not at every step); any other
    history is counted afresh. The buffer is held, so its memory cannot come back as another history."""

    def __init__(self) -> None:
        self._base, self._key, self._length, self._counts = None, None, 0, None

    def __call__(self, history: Tensor, vocab_size: int, dtype: torch.dtype) -> Tensor:
        base = history._base if history._base is not None else history
        key = (history.shape[0], history.storage_offset(), history.stride(), vocab_size, dtype, history.device)
        fresh = base is not self._base or key != self._key or history.shape[1] < self._length
        start = 0 if fresh else self._length
        if fresh:
            self._counts = torch.zeros(history.shape[0], vocab_size, dtype=dtype, device=history.device)
        new = history[:, start:]
        if new.shape[1]:
            self._counts.scatter_add_(1, new, torch.ones_like(new, dtype=dtype))
        self._base, self._key, self._length = base, key, history.shape[1]
        return self._counts


@dataclass
class RepetitionPenalty(Processor):
    """Divide positive logits of tokens already in the history by `penalty`, multiply negative ones (CTRL)."""

    penalty: float
    name = "repetition penalty"

    def __post_init__(self) -> None:
        # below 1 a penalty favours repeats; under MIN_PENALTY it would be 0 in float32, and a banned
        # token's -inf times 0 is NaN
        check("repetition_penalty", self.penalty, rule=True)
        self._counts = HistoryCounts()

    def __call__(self, history: Tensor, logits: Tensor) -> Tensor:
        if history.shape[1] == 0 or self.penalty == 1.0:
            return logits
        seen = self._counts(history, logits.shape[-1], logits.dtype) > 0  # (B, V)
        return torch.where(seen, torch.where(logits > 0, logits / self.penalty, logits * self.penalty), logits)

    def row(self, history: list[int], scores: np.ndarray) -> np.ndarray:
        if not history or self.penalty == 1.0:
            return scores
        seen = np.zeros(len(scores), dtype=bool)
        seen[history] = True
        return np.where(seen, np.where(scores > 0, scores / np.float32(self.penalty), scores * np.float32(self.penalty)),
                        scores)

    def describe(self) -> str:
        return f"repetition penalty {self.penalty:g} (CTRL, sign-aware)"


@dataclass
class FrequencyPresencePenalty(Processor):
    """Subtract frequency * count + presence * [count > 0] from each token's logit."""

    frequency: float = 0.0
    presence: float = 0.0
    name = "frequency/presence penalty"

    def __post_init__(self) -> None:
        check("frequency_penalty", self.frequency, rule=True)
        check("presence_penalty", self.presence, rule=True)
        self._counts = HistoryCounts()

    def __call__(self, history: Tensor, logits: Tensor) -> Tensor:
        if history.shape[1] == 0:
            return logits
        counts = self._counts(history, logits.shape[-1], logits.dtype)
        return logits - self.frequency * counts - self.presence * (counts > 0).to(logits.dtype)

    def row(self, history: list[int], scores: np.ndarray) -> np.ndarray:
        if not history:
            return scores
        counts = np.bincount(history, minlength=len(scores)).astype(np.float32)
        return scores - np.float32(self.frequency) * counts - np.float32(self.presence) * (counts > 0).astype(np.float32)

    def describe(self) -> str:
        return f"frequency penalty {self.frequency:g}, presence penalty {self.presence:g}"


@dataclass
class NoRepeatNgram(Processor):
    """Forbid any token that would complete an n-gram already present in the history."""

    size: int
    name = "no-repeat n-gram"

    def __post_init__(self) -> None:
        check("no_repeat_ngram", self.size, rule=True)
        self._base, self._key, self._length, self._index = None, None, 0, []  # per row: prefix -> next tokens
        self._shared: dict = {}  # the n-grams of a history every row began with (the prompt), indexed once

    def _indexed(self, history: Tensor) -> list[dict]:
        """Per row, {(n-1)-gram: tokens that followed it} (beside `_shared`). Generation reads a
        growing view of one buffer: only the new tokens are added (constant time per step); any
        other history is indexed afresh, and when all its rows are the same (every story starts with
        the prompt) they are indexed once, into `_shared`, not once per row. The buffer is held,
        so its memory cannot come back as another history."""
        n, length = self.size, history.shape[1]
        base = history._base if history._base is not None else history
        key = (history.shape[0], history.storage_offset(), history.stride())
        fresh = base is not self._base or key != self._key or length < self._length
        start = 0 if fresh else max(0, self._length - n + 1)
        rows = history[:, start:]
        if fresh:
            self._index = [{} for _ in range(history.shape[0])]
            self._shared = {}
            if history.shape[0] > 1 and bool((rows == rows[:1]).all()):
                self._add(self._shared, rows[0].tolist(), 0)
                rows = rows[:, :0]
        for row, tokens in enumerate(rows.tolist()):
            self._add(self._index[row], tokens, (0 if fresh else self._length) - start)
        self._base, self._key, self._length = base, key, length
        return self._index

    def _add(self, seen: dict, tokens: list[int], first: int) -> None:
        """Index the n-grams of `tokens` that end at index `first` or later (those before are indexed already)."""
        n = self.size
        for end in range(max(n - 1, first), len(tokens)):
            seen.setdefault(tuple(tokens[end - n + 1: end]), set()).add(tokens[end])

    def __call__(self, history: Tensor, logits: Tensor) -> Tensor:
        n = self.size
        if history.shape[1] < max(1, n - 1):
            return logits
        index = self._indexed(history)
        processed = logits.clone()
        prefixes = history[:, history.shape[1] - n + 1:].tolist() if n > 1 else [[] for _ in range(history.shape[0])]
        for row, prefix in enumerate(prefixes):
            banned = index[row].get(tuple(prefix), set()) | self._shared.get(tuple(prefix), set())
            if banned:
                processed[row, sorted(banned)] = NEG_INF
        return keep_best(logits, processed)

    def row(self, history: list[int], scores: np.ndarray) -> np.ndarray:
        n = self.size
        if len(history) < max(1, n - 1):
            return scores
        kept = getattr(self, "_row_index", None)  # a list that grows by appending is indexed from where it stopped
        done, seen = (kept[1], kept[2]) if kept is not None and kept[0] is history and len(history) >= kept[1] else (0, {})
        self._add(seen, history, done)
        self._row_index = (history, len(history), seen)
        banned = seen.get(tuple(history[len(history) - n + 1:]) if n > 1 else ())
        if not banned:
            return scores
        processed = scores.copy()
        processed[sorted(banned)] = NEG_INF
        return keep_best_row(scores, processed)

    def describe(self) -> str:
        return f"no repeated {self.size}-grams"


@dataclass
class DRY(Processor):
    """"Don't repeat yourself" (DRY sampler): a token that would extend a repeat of an earlier
    sequence of length L >= allowed_length is penalised by multiplier * base ** (L - allowed_length).
    Matching stops at sequence breakers (e.g. the ids of '.', '\\n'), so sentences may start alike."""

    multiplier: float
    base: float = 1.75
    allowed_length: int = 2
    breakers: tuple[int, ...] = ()
    name = "DRY"
    LOOK_BACK = 1024  # tokens searched for earlier occurrences (llama.cpp's dry_penalty_last_n): constant time per step
    LONGEST = 64  # a match is not followed further back than this

    def __post_init__(self) -> None:
        check("dry_multiplier", self.multiplier, rule=True)
        check("dry_base", self.base, rule=True)
        check("dry_allowed_length", self.allowed_length, rule=True)
        self.breakers = tuple(self.breakers)

    def __call__(self, history: Tensor, logits: Tensor) -> Tensor:
        if self.multiplier == 0 or history.shape[1] < 2:
            return logits
        processed = logits.clone()
        breakers = set(self.breakers)
        for row, tokens in enumerate(history[:, -(self.LOOK_BACK + self.LONGEST):].tolist()):
            last = len(tokens) - 1
            penalties: dict[int, int] = {}
            # every earlier occurrence of the last token is a place the history may be repeating
            for end in range(max(0, last - self.LOOK_BACK), last):
                if tokens[end] != tokens[last] or tokens[end] in breakers:
                    continue
                length = 1
                while (length <= end and length < self.LONGEST and tokens[end - length] == tokens[last - length]
                       and tokens[end - length] not in breakers):
                    length += 1
                following = tokens[end + 1]
                if following not in breakers:
                    penalties[following] = max(penalties.get(following, 0), length)
            for token, length in penalties.items():
                if length >= self.allowed_length:
                    processed[row, token] -= self.multiplier * self.base ** (length - self.allowed_length)
        return processed

    def describe(self) -> str:
        return (f"DRY multiplier {self.multiplier:g}, base {self.base:g}, allowed length {self.allowed_length}, "
                f"{len(self.breakers)} sequence breakers")


@dataclass
class BannedSequences(Processor):
    """Forbid token sequences (the pieces of banned words): the last piece is banned whenever the
    history ends with the others, so a banned word can never be completed."""

    sequences: Sequence[Sequence[int]]
    label: str = ""
    name = "banned words"

    def __post_init__(self) -> None:
        self.sequences = [tuple(int(t) for t in seq) for seq in self.sequences if len(seq)]
        if not self.sequences:
            raise TextgenError("the banned word list is empty: give at least one word")
        self.always = sorted({seq[0] for seq in self.sequences if len(seq) == 1})  # banned whatever came before
        self.longer = [seq for seq in self.sequences if len(seq) > 1]
        self.look_back = max((len(seq) - 1 for seq in self.longer), default=0)

    def __call__(self, history: Tensor, logits: Tensor) -> Tensor:
        if self.always:
            index = getattr(self, "_always_index", None)
            if index is None or index.device != logits.device:
                index = self._always_index = torch.tensor(self.always, device=logits.device)
            processed = logits.index_fill(1, index, NEG_INF)  # a new tensor: the input is never changed
        else:
            processed = logits.clone()
        if self.longer and history.shape[1]:
            recent = history[:, -self.look_back:].tolist()  # only the last few tokens matter: constant time per step
            for row, tokens in enumerate(recent):
                for sequence in self.longer:
                    prefix = sequence[:-1]
                    if tuple(tokens[len(tokens) - len(prefix):]) == prefix:
                        processed[row, sequence[-1]] = NEG_INF
        return keep_best(logits, processed)

    def row(self, history: list[int], scores: np.ndarray) -> np.ndarray:
        processed = scores.copy()
        processed[self.always] = NEG_INF
        if self.longer and history:
            tokens = history[-self.look_back:]
            for sequence in self.longer:
                prefix = sequence[:-1]
                if tuple(tokens[len(tokens) - len(prefix):]) == prefix:
                    processed[sequence[-1]] = NEG_INF
        return keep_best_row(scores, processed)

    def describe(self) -> str:
        return f"banned words: {self.label}" if self.label else f"{len(self.sequences)} banned token sequences"

    def static_part(self) -> tuple[list[int], Processor | None]:
        return list(self.always), (BannedSequences(self.longer, self.label) if self.longer else None)


@dataclass
class KeepCast(Processor):
    """Keep a story's characters: once its opening (`opening` words) is written, or once it has
    `cast` names (0: no such limit), a name the story has not used yet (in its last `window`
    tokens) is `factor` times as likely (0: never). `names` (textgen.sampling.cast_names.NameTokens) says which
    entries begin which name; an entry that writes a name without a word-start mark counts only
    right after a bare start (an opening quote). A model that forgets its cast brings in new
    characters mid-story; the opening is free up to `cast` names, so a story can still introduce
    several. Constant work per step: the opening is counted in its first 4 * `opening` tokens and
    names are looked up in the last `window`. The cast size counts the names written with entries
    that are names by themselves; one begun with an entry shared with an opener ("▁P" of "Pippa"
    and "Please") is not counted."""

    factor: float
    names: object  # textgen.sampling.cast_names.NameTokens
    opening: int = 50
    cast: int = 0
    window: int = 1024
    name = "keep the cast"

    def __post_init__(self) -> None:
        check("keep_cast", self.factor, rule=True)
        check("cast_opening", self.opening, rule=True)
        check("cast_size", self.cast, rule=True)
        self.log_factor = math.log(self.factor) if self.factor > 0 else NEG_INF

    def __call__(self, history: Tensor, logits: Tensor) -> Tensor:
        names = self.names
        if self.factor == 1 or not names.any:
            return logits
        device = logits.device
        name_id, starts = on(names.name_id, device), on(names.word_starts, device)
        if history.shape[1] > 4 * self.opening:
            late = torch.ones(history.shape[0], 1, dtype=torch.bool, device=device)
        else:
            late = starts[history].sum(dim=1, keepdim=True) >= self.opening
        if not self.cast and not bool(late.any()):
            return logits
        recent = history[:, -self.window:]
        seen = torch.zeros(history.shape[0], names.count + 1, dtype=torch.bool, device=device)
        seen.scatter_(1, name_id[recent] + 1, True)  # column 0 collects every entry that is no name
        if self.cast:  # a full cast closes the opening early
            late = late | (seen[:, 1:].sum(dim=1, keepdim=True) >= self.cast)
        if not bool(late.any()):
            return logits
        candidate = name_id >= 0
        known = seen.gather(1, (name_id + 1).expand(history.shape[0], -1))  # (B, V): this entry's name is in the story
        bare_before = on(names.bare, device)[history[:, -1]][:, None]  # the last entry leaves a word open
        begins = candidate & (~on(names.after_bare, device) | bare_before)
        new_name = begins & ~known & late
        if names.split is not None:
            new_name = new_name | self._split_new_names(names.split, history, late)
        if self.factor == 0:
            return keep_best(logits, logits.masked_fill(new_name, NEG_INF))
        return logits + new_name * self.log_factor

    def row(self, history: list[int], scores: np.ndarray) -> np.ndarray:
        names = self.names
        if self.factor == 1 or not names.any:
            return scores
        tables = self._tables()
        counts, starts = self._counted(history, tables)
        late = len(history) > 4 * self.opening or starts >= self.opening
        if not self.cast and not late:
            return scores
        seen = counts > 0  # index 0 collects every entry that is no name
        if self.cast:
            late = late or int(seen[1:].sum()) >= self.cast
        if not late:
            return scores
        begins = tables["after_any"] if tables["bare"][history[-1]] else tables["after_marked"]
        new_name = begins & ~seen[tables["column"]]
        if names.split is not None:
            word = names.split.word_in_progress(history[-12:])
            entries = names.split.new_name_entries(history[-self.window:], word) if word else None
            if entries:
                new_name[entries] = True
        if self.factor == 0:
            return keep_best_row(scores, np.where(new_name, np.float32(NEG_INF), scores))
        return scores + np.where(new_name, np.float32(self.log_factor), np.float32(0))

    def _tables(self) -> dict:
        """The name tables for the row rule, made once: each entry's column in the counts (its name + 1,
        0 for no name) as an array and a list, the word starts as a list, and the entries that begin
        a new name after an entry that leaves a word open (a quote) or after any other."""
        tables = getattr(self, "_row_tables", None)
        if tables is None:
            names = self.names
            column = names.name_id + 1
            candidate = column > 0
            tables = self._row_tables = {
                "column": column, "columns": column.tolist(), "starts": names.word_starts.tolist(),
                "bare": names.bare.tolist(), "after_any": candidate,
                "after_marked": candidate & ~names.after_bare}
        return tables

    def _counted(self, history: list[int], tables: dict) -> tuple[np.ndarray, int]:
        """Per name column, its entries in the last `window` of `history`, and the word starts of all
        of it. A history that grows by appending (generation's list) is read from where the last
        call stopped, so a step costs its new token; any other history is counted afresh."""
        kept = getattr(self, "_row_counts", None)
        if kept is not None and kept[0] is history and len(history) >= kept[1]:
            _, done, counts, starts = kept
        else:
            done, counts, starts = 0, np.zeros(self.names.count + 1, dtype=np.int64), 0
        columns, start_marks = tables["columns"], tables["starts"]
        for token_id in history[done:]:
            counts[columns[token_id]] += 1
            starts += start_marks[token_id]
        for token_id in history[max(0, done - self.window): max(0, len(history) - self.window)]:  # out of the window now
            counts[columns[token_id]] -= 1
        self._row_counts = (history, len(history), counts, starts)
        return counts, starts

    def _split_new_names(self, split, history: Tensor, late: Tensor) -> Tensor:
        """(B, V): the entries that would make a word begun with an ambiguous entry ("▁P") a new
        name; Python work only in the rows whose history ends inside such a word."""
        marked = torch.zeros(history.shape[0], len(split.roles), dtype=torch.bool, device=history.device)
        late_rows = late[:, 0].tolist()
        for row, recent in enumerate(history[:, -12:].tolist()):
            word = split.word_in_progress(recent) if late_rows[row] else None
            if word:
                entries = split.new_name_entries(history[row, -self.window:].tolist(), word)
                if entries:
                    marked[row, entries] = True
        return marked

    def describe(self) -> str:
        limit = f" or once it has {self.cast} name{'s' * (self.cast != 1)}" if self.cast else ""
        return f"keep the cast: a new name after the first {self.opening} words{limit} x {self.factor:g}"


@dataclass
class Temperature(Processor):
    """Divide logits by the temperature (> 0; 0 means greedy and is handled by the sampler)."""

    temperature: float
    name = "temperature"

    def __post_init__(self) -> None:
        check("temperature", self.temperature, rule=True)

    def __call__(self, history: Tensor, logits: Tensor) -> Tensor:
        scaled = logits / self.temperature
        if torch.isposinf(scaled).any() or torch.isnan(scaled).any():
            # so small a temperature that the division overflows (or, below float32's range, divides
            # by zero): its limit is greedy, so each row's top token alone stays, instead of every
            # positive logit becoming +inf together and the draw NaN
            top = logits.max(dim=-1, keepdim=True).values
            scaled = torch.where(logits == top, 0.0, float("-inf")).to(logits.dtype)
        return scaled

    def row(self, history: list[int], scores: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):  # what the next line looks for
            scaled = scores / np.float32(self.temperature)
        if not scaled.max() < np.inf:  # +inf or NaN, as the torch call: the greedy limit
            scaled = np.where(scores == scores.max(), np.float32(0), np.float32(NEG_INF))
        return scaled

    def describe(self) -> str:
        return f"temperature {self.temperature:g}"


@dataclass
class StrayCapitals(Processor):
    """No stray capitals: inside a sentence, an entry that writes a sentence opener with its capital
    as a whole word ("and The", "saw It"; textgen.sampling.stray_capitals) keeps `factor` of its
    probability (0: none) and gives the rest to its lower-case entry ("▁the"), so the story writes
    the word a reader expects rather than some other capital (a new name). "I", titles, months and
    days keep their capital."""

    factor: float
    entries: object  # textgen.sampling.stray_capitals.StrayCapitalEntries
    name = "no stray capitals"

    def __post_init__(self) -> None:
        check("stray_capitals", self.factor, rule=True)
        self.log_factor = math.log(self.factor) if self.factor > 0 else NEG_INF
        self.log_rest = math.log1p(-self.factor) if self.factor < 1 else NEG_INF
        lower = self.entries.lower
        self.moved = np.flatnonzero(lower >= 0)  # stray entries with a lower-case entry to take their share
        self.targets = lower[self.moved]

    def __call__(self, history: Tensor, logits: Tensor) -> Tensor:
        if self.factor == 1 or not history.shape[1]:
            return logits
        inside = on(self.entries.inside(history), logits.device)
        if not bool(inside.any()):
            return logits
        rows = inside.nonzero().flatten()
        processed = logits.clone()
        part = processed[rows]  # (R, V): the rows inside a sentence
        moved, targets = on(self.moved, logits.device), on(self.targets, logits.device)
        if len(moved):  # summed in float64, so the numpy row gives the same float32 numbers
            given = part[:, moved] + self.log_rest
            part[:, targets] = torch.logaddexp(part[:, targets].double(), given.double()).to(part.dtype)
        stray = on(self.entries.stray, logits.device)
        part[:, stray] = part[:, stray] + self.log_factor
        processed[rows] = part
        return keep_best(logits, processed)

    def row(self, history: list[int], scores: np.ndarray) -> np.ndarray:
        if self.factor == 1 or not history or not self.entries.inside_row(history):
            return scores
        moved, targets, stray = self._row_ids()
        processed = scores.copy()
        if len(moved):
            given = processed[moved] + np.float32(self.log_rest)
            processed[targets] = np.logaddexp(processed[targets], given, dtype=np.float64)
        processed[stray] += np.float32(self.log_factor)
        return keep_best_row(scores, processed)

    def _row_ids(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The moved entries, their lower-case entries and the stray entries as arrays of ids, made once."""
        ids = getattr(self, "_ids", None)
        if ids is None:
            ids = self._ids = (self.moved, self.targets, np.flatnonzero(self.entries.stray))
        return ids

    def describe(self) -> str:
        if self.factor == 0:
            return "no stray capitals: inside a sentence, an opener is written in lower case (\"and the\", not \"and The\")"
        return f"no stray capitals: inside a sentence, an opener keeps x {self.factor:g} of its chance with its capital"


@dataclass
class RealWords(Processor):
    """Keep words real: an entry that would write a word the model's training text does not have
    (textgen.sampling.real_words) is `factor` times as likely (0: never). `shapes` is the
    tokenizer's WordShapes for the model's recorded words. Python work per row and step: the
    word being written is read back from the last entries, its mask found once and kept."""

    factor: float
    shapes: object  # textgen.sampling.real_words.WordShapes
    name = "real words"

    def __post_init__(self) -> None:
        check("real_words", self.factor, rule=True)
        self.log_factor = math.log(self.factor) if self.factor > 0 else NEG_INF

    def __call__(self, history: Tensor, logits: Tensor) -> Tensor:
        if self.factor == 1:
            return logits
        rows = history[:, -LOOK_BACK:].tolist()  # the word being written begins within these
        invented = on(~np.stack([self.shapes.allowed(self.shapes.unfinished(row)) for row in rows]), logits.device)
        if self.factor == 0:
            return keep_best(logits, logits.masked_fill(invented, NEG_INF))
        return logits + invented * self.log_factor

    def row(self, history: list[int], scores: np.ndarray) -> np.ndarray:
        if self.factor == 1:
            return scores
        allowed = self.shapes.allowed(self.shapes.unfinished(history[-LOOK_BACK:]))
        if self.factor == 0:
            return keep_best_row(scores, np.where(allowed, scores, np.float32(NEG_INF)))
        return scores + np.where(allowed, np.float32(0), np.float32(self.log_factor))

    def describe(self) -> str:
        if self.factor == 0:
            return "real words: a word the training text does not have is never written"
        return f"real words: a word the training text does not have is x {self.factor:g} as likely"


@dataclass
class DoubleWords(Processor):
    """No doubled words: an entry that would write the story's last word again right after it ("the
    the", textgen.sampling.real_words.WordShapes.doubling) is `factor` times as likely (0: never);
    words written doubled on purpose ("knock knock", "very very") stay free."""

    factor: float
    shapes: object  # textgen.sampling.real_words.WordShapes
    name = "no doubled words"

    def __post_init__(self) -> None:
        check("double_words", self.factor, rule=True)
        self.log_factor = math.log(self.factor) if self.factor > 0 else NEG_INF

    def __call__(self, history: Tensor, logits: Tensor) -> Tensor:
        if self.factor == 1 or not history.shape[1]:
            return logits
        doubled = on(np.stack([self.shapes.doubling(row) for row in history[:, -LOOK_BACK:].tolist()]), logits.device)
        if self.factor == 0:
            return keep_best(logits, logits.masked_fill(doubled, NEG_INF))
        return logits + doubled * self.log_factor

    def row(self, history: list[int], scores: np.ndarray) -> np.ndarray:
        if self.factor == 1 or not history:
            return scores
        doubled = self.shapes.doubling(history[-LOOK_BACK:])
        if self.factor == 0:
            return keep_best_row(scores, np.where(doubled, np.float32(NEG_INF), scores))
        return scores + np.where(doubled, np.float32(self.log_factor), np.float32(0))

    def describe(self) -> str:
        if self.factor == 0:
            return "no doubled words: a word is never written twice in a row (\"the the\"; sounds and \"very very\" stay free)"
        return f"no doubled words: a word written twice in a row is x {self.factor:g} as likely"


@dataclass
class TopK(Processor):
    """Keep the k most likely tokens."""

    k: int
    name = "top-k"

    def __post_init__(self) -> None:
        check("top_k", self.k, rule=True)

    def __call__(self, history: Tensor, logits: Tensor) -> Tensor:
        if self.k >= logits.shape[-1]:
            return logits
        threshold = torch.topk(logits, self.k, dim=-1).values[:, -1:]
        return logits.masked_fill(logits < threshold, NEG_INF)

    def row(self, history: list[int], scores: np.ndarray) -> np.ndarray:
        if self.k >= len(scores):
            return scores
        threshold = np.partition(scores, len(scores) - self.k)[len(scores) - self.k]  # the k-th largest
        return np.where(scores < threshold, np.float32(NEG_INF), scores)

    def describe(self) -> str:
        return f"top-k {self.k}"


@dataclass
class TopP(Processor):
    """Keep the smallest set of most likely tokens whose probability reaches p (nucleus sampling)."""

    p: float
    name = "top-p"

    def __post_init__(self) -> None:
        check("top_p", self.p, rule=True)

    def __call__(self, history: Tensor, logits: Tensor) -> Tensor:
        if self.p >= 1.0:
            return logits
        ordered, order = torch.sort(logits, dim=-1, descending=True, stable=True)  # ties: the first stays, as argmax
        cumulative = torch.softmax(ordered, dim=-1).cumsum(dim=-1)
        remove = cumulative - torch.softmax(ordered, dim=-1) >= self.p  # mass before this token already reaches p
        remove[:, 0] = False  # the most likely token always stays
        return logits.masked_fill(remove.scatter(1, order, remove), NEG_INF)

    def row(self, history: list[int], scores: np.ndarray) -> np.ndarray:
        if self.p >= 1.0:  # the torch call on the row otherwise: its softmax's rounding decides the edge
            return scores
        return super().row(history, scores)

    def describe(self) -> str:
        return f"top-p {self.p:g}"


@dataclass
class MinP(Processor):
    """Keep tokens whose probability is at least p times that of the most likely token."""

    p: float
    name = "min-p"

    def __post_init__(self) -> None:
        check("min_p", self.p, rule=True)

    def __call__(self, history: Tensor, logits: Tensor) -> Tensor:
        if self.p == 0:
            return logits
        probabilities = torch.softmax(logits, dim=-1)
        threshold = probabilities.max(dim=-1, keepdim=True).values * self.p
        return logits.masked_fill(probabilities < threshold, NEG_INF)

    def row(self, history: list[int], scores: np.ndarray) -> np.ndarray:
        if self.p == 0:  # the torch call on the row otherwise: its softmax's rounding decides the edge
            return scores
        return super().row(history, scores)

    def describe(self) -> str:
        return f"min-p {self.p:g}"


def apply_processors(processors: Sequence[Processor], history: Tensor, logits: Tensor) -> Tensor:
    """Apply the processors in order."""
    for processor in processors:
        logits = processor(history, logits)
    return logits


def apply_rows(processors: Sequence[Processor], history: list[int], scores: np.ndarray) -> np.ndarray:
    """Apply the processors in order to one story's scores (V,) in numpy."""
    for processor in processors:
        scores = processor.row(history, scores)
    return scores
