"""Gate traces per word: what each gate did while the model read a text (`textgen gates`).

The model reads `<s>` + the text through its transparent cells (`LanguageModel.trace`, the
same weights as the fused kernels). Tokens are grouped into words (a sentencepiece word's
pieces, a character model's letters); for each word the report gives the mean of each
sigmoid gate over the word's tokens and all units of one layer, and the units whose memory
changed most from before the word to after it. The memory is the LTM (cell state) of an LSTM
and the STM (hidden state) of a GRU or plain RNN, which have no LTM. The saturation summary
counts the share of gate values under 0.1 (nearly shut) and over 0.9 (nearly open) over every
token and unit, as Karpathy, Johnson & Fei-Fei (2015) report for character LSTMs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from textgen.errors import TextgenError
from textgen.model import LanguageModel
from textgen.model.cells import GATE_NAMES, SIGMOID_GATES
from textgen.tokenizer import BOS_ID, Tokenizer

LOW, HIGH = 0.1, 0.9
MAX_TOKENS = 5_000  # the longest text gate_report reads by default (`textgen gates` refuses a longer one)
TRACE_CHUNK = 256  # tokens traced at a time
HEATMAP_WORDS = 200  # words a heatmap shows by default: a page or a plot has room for no more
GATE_TITLES = {"forget": "forget gate", "ignore": "ignore factor", "use": "use gate", "update": "update gate",
               "reset": "reset gate"}


@dataclass
class UnitChange:
    unit: int
    before: float
    after: float

    @property
    def change(self) -> float:
        return self.after - self.before

    def to_dict(self) -> dict:
        return {"unit": self.unit, "before": self.before, "after": self.after, "change": self.change}


@dataclass
class WordGates:
    word: str
    pieces: list[str]
    positions: list[int]  # token positions in the traced sequence (0 is <s>)
    gates: dict[str, float]  # project gate name -> mean over the word's tokens and all units
    memory_change: float  # mean |after - before| over units
    top_units: list[UnitChange] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"word": self.word, "pieces": self.pieces, "gates": self.gates, "memory_change": self.memory_change,
                "top_units": [u.to_dict() for u in self.top_units]}


@dataclass
class GateReport:
    text: str
    cell: str
    layer: int  # 1-based
    layers: int
    units: int
    tokens: int  # tokens of the text (without <s>): what the saturation shares cover
    memory: str  # "ltm" or "stm"
    gate_names: dict[str, str]  # project name -> standard name, sigmoid gates only
    words: list[WordGates]
    saturation: dict[str, dict[str, float]]
    memory_values: torch.Tensor  # (words, units): memory after each word
    gate_values: dict[str, torch.Tensor]  # name -> (words, units): mean over the word's tokens

    def to_dict(self) -> dict:
        return {"text": self.text, "cell": self.cell, "layer": self.layer, "layers": self.layers, "units": self.units,
                "tokens": self.tokens,
                "memory": self.memory, "gate_names": self.gate_names, "words": [w.to_dict() for w in self.words],
                "saturation": self.saturation}


    def heatmap_units(self, max_units: int = 48, max_words: int | None = HEATMAP_WORDS) -> list[int]:
        """The units a heatmap shows: all of a narrow layer, else the `max_units` whose memory
        varies most over the words (in unit order)."""
        memory = self.memory_values[:max_words]
        if self.units <= max_units:
            return list(range(self.units))
        spread = memory.std(dim=0) if len(memory) > 1 else memory.abs().sum(dim=0)
        return sorted(torch.argsort(-spread)[:max_units].tolist())

    def heatmaps(self, max_units: int = 48, max_words: int | None = HEATMAP_WORDS) -> dict:
        """Words x units matrices of the memory after each word and of each gate's mean over the word,
        for the units `heatmap_units` picks and the first `max_words` words (None: all): what the
        explorer's memory view and `plot_gates` draw. Their size is bounded by max_words x max_units,
        whatever the text's length."""
        units = self.heatmap_units(max_units, max_words)
        return {"words": [w.word for w in self.words][:max_words], "units": units,
                "memory": self.memory_values[:max_words, units].tolist(),
                "gates": {name: values[:max_words, units].tolist() for name, values in self.gate_values.items()}}


def group_words(tokenizer: Tokenizer, ids: list[int]) -> list[list[int]]:
    """Token indices (into `ids`) grouped into words; spaces are dropped, a newline is a word of its own."""
    from textgen.analysis.next_words import PieceRoles

    roles = PieceRoles(tokenizer)
    groups: list[list[int]] = []
    joinable = False  # may the next continuation piece join the last group?
    for index, token in enumerate(ids):
        piece = tokenizer.id_to_piece(token)
        if tokenizer.is_separator(piece):
            joinable = False
            continue
        if token in roles.cont and joinable:
            groups[-1].append(index)
        else:
            groups.append([index])
        joinable = token in roles.start or token in roles.cont
    return groups


@torch.no_grad()
def gate_report(model: LanguageModel, tokenizer: Tokenizer, text: str, layer: int = 1, top_units: int = 3,
                allow_unknown: bool = False, max_tokens: int | None = MAX_TOKENS) -> GateReport:
    """Trace `text` and summarise layer `layer` (1-based) word by word. Any model with `config` and
    `trace(tokens)` will do (a classifier too); `allow_unknown` reads words the tokenizer lacks as
    <unk> instead of refusing them (a review's words are not the corpus's). A text of more than
    `max_tokens` tokens is refused (None: no limit): the transparent cells cost about a millisecond
    a token, and the report keeps words x units matrices. A language model's text is traced
    TRACE_CHUNK tokens at a time and summarised as it goes, so beyond the report only a chunk's
    gates are held, whatever the text's length."""
    from textgen.sampling.generate import prompt_ids

    if not text.strip():
        raise TextgenError("TEXT is empty: give a sentence for the model to read, e.g. \"Doug saw\"")
    layers = model.config.num_layers
    if not 1 <= layer <= layers:
        raise TextgenError(f"--layer {layer} does not exist: this model has {layers} layer{'s' if layers > 1 else ''} (1..{layers})")
    ids = [BOS_ID] + tokenizer.encode(text) if allow_unknown else prompt_ids(tokenizer, text, "TEXT")
    if max_tokens is not None and len(ids) - 1 > max_tokens:
        raise TextgenError(f"TEXT has {len(ids) - 1:,} tokens: gates reads at most {max_tokens:,} (its transparent cells "
                           "step through every token's gates one at a time); give a shorter text")
    model.eval()
    gate_names = {ours: standard for ours, standard in GATE_NAMES[model.config.cell] if ours in SIGMOID_GATES}
    groups = [[index + 1 for index in group] for group in group_words(tokenizer, ids[1:])]  # positions (0 is <s>)
    summary = _LayerSummary(groups, len(ids), list(gate_names))
    device = next(model.parameters()).device
    if isinstance(model, LanguageModel):  # the state carries over: read in chunks
        state = None
        for offset in range(0, len(ids), TRACE_CHUNK):
            trace = model.trace(torch.tensor([ids[offset: offset + TRACE_CHUNK]], device=device), state)
            state = trace.state
            summary.add(offset, trace.layers[layer - 1])
    else:
        summary.add(0, model.trace(torch.tensor([ids], device=device)).layers[layer - 1])
    after, before = summary.after, summary.before  # (W, H)
    change = after - before
    means = {name: summary.sums[name] / summary.counts[:, None] for name in gate_names}  # (W, H)
    word_gates = {name: values.mean(dim=1).tolist() for name, values in means.items()}
    memory_change = change.abs().mean(dim=1).tolist()
    order = torch.argsort(change.abs(), dim=1, descending=True, stable=True)[:, :top_units]  # (W, top)
    top_before, top_after = before.gather(1, order).tolist(), after.gather(1, order).tolist()
    words: list[WordGates] = []
    for index, positions in enumerate(groups):
        token_ids = [ids[p] for p in positions]
        label = tokenizer.decode(token_ids).strip() or "↵"
        units = [UnitChange(unit, old, new) for unit, old, new in zip(order[index].tolist(), top_before[index], top_after[index])]
        words.append(WordGates(label, [tokenizer.id_to_piece(t) for t in token_ids], positions,
                               {name: word_gates[name][index] for name in gate_names}, memory_change[index], units))
    read = (len(ids) - 1) * summary.units  # every token of the text (not <s>), every unit
    saturation = {name: {"below_0.1": summary.below[name] / read if read else 0.0,
                         "above_0.9": summary.above[name] / read if read else 0.0} for name in gate_names}
    return GateReport(text, model.config.cell, layer, layers, summary.units, len(ids) - 1, summary.memory, gate_names,
                      words, saturation, after, means)


class _LayerSummary:
    """What `gate_report` keeps of one layer's trace, added a chunk of positions at a time: per word
    the sum of each gate over its tokens, the memory before and after it; per gate the values
    under LOW and over HIGH."""

    def __init__(self, groups: list[list[int]], length: int, gates: list[str]):
        self.gates, self.length = gates, length
        self.word_of = torch.full((length,), -1, dtype=torch.long)  # the word at each position (-1: none)
        for index, positions in enumerate(groups):
            self.word_of[positions] = index
        self.counts = torch.tensor([len(positions) for positions in groups], dtype=torch.float32)
        self.first = torch.tensor([positions[0] for positions in groups], dtype=torch.long)
        self.last = torch.tensor([positions[-1] for positions in groups], dtype=torch.long)
        self.sums: dict[str, torch.Tensor] = {}
        self.before = self.after = None
        self.below = {name: 0 for name in gates}
        self.above = {name: 0 for name in gates}
        self.memory, self.units = "stm", 0

    def add(self, offset: int, values: dict[str, torch.Tensor]) -> None:
        """The layer's values {name: (1, C, H)} at positions offset .. offset + C - 1."""
        values = {name: tensor[0].float().cpu() for name, tensor in values.items()}  # (C, H)
        self.memory = "ltm" if "ltm" in values else "stm"
        cells = values[self.memory]
        steps, self.units = cells.shape
        if self.before is None:
            words = len(self.counts)
            self.before = torch.zeros(words, self.units)  # the memory before <s> is zero
            self.after = torch.zeros(words, self.units)
            self.sums = {name: torch.zeros(words, self.units) for name in self.gates}
        positions = torch.arange(offset, offset + steps)
        word = self.word_of[positions]
        inside = word >= 0
        for name in self.gates:
            self.sums[name].index_add_(0, word[inside], values[name][inside])
            read = values[name][positions >= 1]  # the text's tokens, not <s>
            self.below[name] += int((read < LOW).sum())
            self.above[name] += int((read > HIGH).sum())
        for target, wanted in ((self.after, self.last), (self.before, self.first - 1)):
            here = (wanted >= offset) & (wanted < offset + steps)
            target[here] = cells[wanted[here] - offset]


def memory_title(memory: str) -> str:
    return "LTM (cell state)" if memory == "ltm" else "STM (hidden state)"


def gate_title(name: str, standard: str) -> str:
    title = GATE_TITLES.get(name, f"{name} gate")
    return title if standard == name else f"{title} ({standard} gate)"
