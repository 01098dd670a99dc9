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


    def heatmap_units(self, max_units: int = 48, max_words: int | None = None) -> list[int]:
        """The units a heatmap shows: all of a narrow layer, else the `max_units` whose memory
        varies most over the words (in unit order)."""
        memory = self.memory_values[:max_words]
        if self.units <= max_units:
            return list(range(self.units))
        spread = memory.std(dim=0) if len(memory) > 1 else memory.abs().sum(dim=0)
        return sorted(torch.argsort(-spread)[:max_units].tolist())

    def heatmaps(self, max_units: int = 48, max_words: int | None = None) -> dict:
        """Words x units matrices of the memory after each word and of each gate's mean over the word,
        for the units `heatmap_units` picks: what the explorer's memory view and `plot_gates` draw."""
        units = self.heatmap_units(max_units, max_words)
        return {"words": [w.word for w in self.words][:max_words], "units": units,
                "memory": self.memory_values[:max_words, units].tolist(),
                "gates": {name: values[:max_words, units].tolist() for name, values in self.gate_values.items()}}


def group_words(tokenizer: Tokenizer, ids: list[int]) -> list[list[int]]:
    """Token indices (into `ids`) grouped into words; spaces are dropped, a newline is a word of its own."""
    from textgen.inspection import PieceRoles

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
                allow_unknown: bool = False) -> GateReport:
    """Trace `text` and summarise layer `layer` (1-based) word by word. Any model with `config` and
    `trace(tokens)` will do (a classifier too); `allow_unknown` reads words the tokenizer lacks as
    <unk> instead of refusing them (a review's words are not the corpus's)."""
    from textgen.sampling.generate import prompt_ids

    if not text.strip():
        raise TextgenError("TEXT is empty: give a sentence for the model to read, e.g. \"Doug saw\"")
    layers = model.config.num_layers
    if not 1 <= layer <= layers:
        raise TextgenError(f"--layer {layer} does not exist: this model has {layers} layer{'s' if layers > 1 else ''} (1..{layers})")
    ids = [BOS_ID] + tokenizer.encode(text) if allow_unknown else prompt_ids(tokenizer, text, "TEXT")
    model.eval()
    trace = model.trace(torch.tensor([ids], device=next(model.parameters()).device))
    values = {name: tensor[0].float().cpu() for name, tensor in trace.layers[layer - 1].items()}  # (T, H)
    gate_names = {ours: standard for ours, standard in GATE_NAMES[model.config.cell] if ours in SIGMOID_GATES}
    memory = "ltm" if "ltm" in values else "stm"
    cells = values[memory]
    start = torch.zeros_like(cells[0])  # the memory before <s>
    words: list[WordGates] = []
    memory_rows, gate_rows = [], {name: [] for name in gate_names}
    for group in group_words(tokenizer, ids[1:]):
        positions = [index + 1 for index in group]
        token_ids = [ids[p] for p in positions]
        label = tokenizer.decode(token_ids).strip() or "↵"
        before = cells[positions[0] - 1] if positions[0] > 0 else start
        after = cells[positions[-1]]
        change = after - before
        order = torch.argsort(change.abs(), descending=True)[:top_units].tolist()
        gates = {}
        for name in gate_names:
            mean_per_unit = values[name][positions].mean(dim=0)  # (H,)
            gates[name] = float(mean_per_unit.mean())
            gate_rows[name].append(mean_per_unit)
        memory_rows.append(after)
        words.append(WordGates(label, [tokenizer.id_to_piece(t) for t in token_ids], positions, gates,
                               float(change.abs().mean()), [UnitChange(u, float(before[u]), float(after[u])) for u in order]))
    saturation = {}
    for name in gate_names:
        read = values[name][1:]  # every token of the text (not <s>), every unit
        saturation[name] = {"below_0.1": float((read < LOW).float().mean()) if read.numel() else 0.0,
                            "above_0.9": float((read > HIGH).float().mean()) if read.numel() else 0.0}
    units = cells.shape[-1]
    return GateReport(text, model.config.cell, layer, layers, units, len(ids) - 1, memory, gate_names, words, saturation,
                      torch.stack(memory_rows) if memory_rows else torch.zeros(0, units),
                      {name: torch.stack(rows) if rows else torch.zeros(0, units) for name, rows in gate_rows.items()})


def memory_title(memory: str) -> str:
    return "LTM (cell state)" if memory == "ltm" else "STM (hidden state)"


def gate_title(name: str, standard: str) -> str:
    title = GATE_TITLES.get(name, f"{name} gate")
    return title if standard == name else f"{title} ({standard} gate)"
