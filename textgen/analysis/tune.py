"""Choose a model's sampling settings on validation stories (`textgen tune`).

A small grid of settings is tried: temperature x min-p x cast size (the keep-the-cast rule's
--cast-size, as `textgen tune-cast` tries it). Each cell writes `samples` stories with the model's
other defaults, and its story metrics (textgen.analysis.detectors.metrics) are set beside the
same metrics of as many validation stories. One rule chooses:

1. a cell *qualifies* when it is within every band of the human stories' value:
   names per story within +-20% (or 0.1 names, where that is wider), seq-rep-4 and immediate
   repeats per 1,000 words at most 1.5x the human value (or an absolute floor, where the human
   value is about 0), distinct-2 at least 0.9x the human value;
2. among the cells that qualify, the fewest invented words per 1,000 words wins;
3. if none qualifies, the cell that breaks the bands least (the sum of how far each metric lies
   outside its band, relative to the band's edge) wins, and the result says so.

A tie goes to the cell listed first (the grid's order: the flags' order). The choice and the
whole table go into textgen.json's "sampling" section, which every inference command starts from.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import asdict, dataclass, field

from textgen.errors import TextgenError

TEMPERATURES = (1.0, 0.9, 0.8)
MIN_PS = (0.0, 0.05, 0.1)
MIN_STORY_WORDS = 20  # a validation story shorter than this is not measured (seq-rep-4 and names need a story)
VALID_POOL = 2_000  # the validation stories drawn from (their first ones)

NAMES_BAND = 0.2  # names per story: within this share of the human value ...
NAMES_FLOOR = 0.1  # ... or this many names, where that is wider
REPEAT_BAND = 1.5  # seq-rep-4 and immediate repeats: at most this many times the human value ...
SEQ_REP_FLOOR = 0.02  # ... or these absolute values, where the human value is about 0
IMMEDIATE_FLOOR = 0.5  # immediate repeats per 1,000 words
DISTINCT_BAND = 0.9  # distinct-2: at least this share of the human value

RULE = ("qualify: names per story within +-20% of the human value (or 0.1), seq-rep-4 and immediate repeats "
        "per 1,000 words at most 1.5x the human value (or 0.02 and 0.5), distinct-2 at least 0.9x the human value; "
        "among those, the fewest invented words per 1,000 wins; if none qualifies, the cell furthest inside the bands "
        "(the least summed relative excess); a tie goes to the cell listed first")

# the metrics of a cell, as text_metrics names them, and the short names the table uses
METRICS = {"names_per_story": "names", "seq_rep_4": "seq_rep_4", "immediate-repeat_per_1000_words": "immediate",
           "distinct_2": "distinct_2", "distinct_3": "distinct_3", "invented_per_1000_words": "invented"}


@dataclass
class Cell:
    """One grid cell: its settings, its stories' metrics, how far outside the bands it lies."""

    temperature: float
    min_p: float
    cast_size: int
    names: float
    seq_rep_4: float
    immediate: float
    distinct_2: float
    distinct_3: float
    invented: float
    excess: float = 0.0  # summed relative distance outside the bands (0: it qualifies)
    qualifies: bool = False

    @property
    def settings(self) -> dict:
        return {"temperature": self.temperature, "min_p": self.min_p, "cast_size": self.cast_size}


@dataclass
class Tuning:
    """The search and its choice; `section()` is what textgen.json's "sampling" becomes."""

    valid: str
    valid_stories: int
    human: dict  # the validation stories' metrics, by the table's short names
    samples: int
    seed: int
    max_tokens: int
    rule: str = RULE
    rows: list[Cell] = field(default_factory=list)
    chosen: int = 0  # index into rows
    qualified: bool = True  # False: no cell was within every band, the least-breaking one was chosen
    # what one of the validation stories measures on average (diagnosis.one_story_means): the human value the
    # explorer sets beside one diagnosed text, kept here so a model needs no corpus at hand to show it
    human_story: dict | None = None
    prompt: str = ""  # what every story started from

    @property
    def best(self) -> Cell:
        return self.rows[self.chosen]

    def to_dict(self) -> dict:
        return {**asdict(self), "chosen_settings": self.best.settings if self.rows else None}

    def section(self, existing: dict | None) -> dict:
        """The model's "sampling" section with the chosen settings (its other settings kept) and the table."""
        settings = {**dict((existing or {}).get("settings") or {}), **self.best.settings}
        return {"settings": settings, "tune": self.to_dict()}


def check_grid(temperatures, min_ps, sizes) -> None:
    """Each axis: at least one value, each once, each within the sampling schema's bounds."""
    from textgen.analysis.tune_cast import check_sizes
    from textgen.sampling.schema import BY_NAME

    for flag, name, values in (("--temperatures", "temperature", temperatures), ("--min-ps", "min_p", min_ps)):
        if not values:
            raise TextgenError(f"{flag} lists no value: give at least one, e.g. {flag} 0.9")
        if len(set(values)) != len(values):
            raise TextgenError(f"{flag} lists a value twice ({', '.join(f'{v:g}' for v in values)}): give each once")
        for value in values:
            try:
                BY_NAME[name].check(value)
            except TextgenError as error:
                raise TextgenError(f"{flag}: {error}") from None
    check_sizes(sizes)


def human_metrics(path, stories: int, seed: int = 0, known=None) -> tuple[dict, int, dict]:
    """The metrics of `stories` validation stories (drawn with `seed` from the first VALID_POOL of those
    with at least MIN_STORY_WORDS words) as the table names them, how many were measured, and what one
    of them measures on average (diagnosis.one_story_means, rounded)."""
    from textgen.analysis.detectors.metrics import text_metrics
    from textgen.analysis.diagnosis import one_story_means
    from textgen.analysis.words import words_of
    from textgen.data.corpus import iter_stories

    pool = [story for story in itertools.islice(iter_stories(path), VALID_POOL) if len(words_of(story)) >= MIN_STORY_WORDS]
    if not pool:
        raise TextgenError(f"no story in {path} has {MIN_STORY_WORDS} words or more, so there is nothing to measure: "
                           "give --valid human stories of the kind the model writes")
    chosen = pool if len(pool) <= stories else random.Random(seed).sample(pool, stories)
    metrics = text_metrics(chosen, known=known)
    story = {name: round(value, 4) for name, value in one_story_means(chosen, known=known).items()}
    return {short: metrics[name] for name, short in METRICS.items()}, len(chosen), story


def _bands(human: dict) -> dict:
    """metric -> (low, high) of the band a cell must lie in (None: unbounded on that side)."""
    names = human["names"]
    return {"names": (names - max(NAMES_BAND * names, NAMES_FLOOR), names + max(NAMES_BAND * names, NAMES_FLOOR)),
            "seq_rep_4": (None, max(REPEAT_BAND * human["seq_rep_4"], SEQ_REP_FLOOR)),
            "immediate": (None, max(REPEAT_BAND * human["immediate"], IMMEDIATE_FLOOR)),
            "distinct_2": (DISTINCT_BAND * human["distinct_2"], None)}


def excess(cell: Cell, human: dict) -> float:
    """How far `cell` lies outside the bands: per metric, the distance beyond the band's edge over
    the edge (0 inside), summed. 0: the cell qualifies."""
    total = 0.0
    for metric, (low, high) in _bands(human).items():
        value = getattr(cell, metric)
        if low is not None and value < low:
            total += (low - value) / max(abs(low), 1e-9)
        if high is not None and value > high:
            total += (value - high) / max(abs(high), 1e-9)
    return total


def choose(rows: list[Cell], human: dict) -> tuple[int, bool]:
    """The rule: the index of the winning row and whether it qualified (marks each row's excess)."""
    if not rows:
        raise TextgenError("the grid has no cell: give at least one value on every axis")
    for row in rows:
        row.excess = excess(row, human)
        row.qualifies = row.excess == 0
    qualifying = [index for index, row in enumerate(rows) if row.qualifies]
    if qualifying:  # min keeps the first of a tie
        return min(qualifying, key=lambda index: rows[index].invented), True
    return min(range(len(rows)), key=lambda index: (rows[index].excess, rows[index].invented)), False


def tune(loaded, valid, *, samples: int = 32, seed: int = 0, max_tokens: int = 200, temperatures=TEMPERATURES,
         min_ps=MIN_PS, sizes=None, sampler=None, known=None, on_cell=None, on_story=None, prompt: str = "") -> Tuning:
    """Write `samples` stories from `loaded` (`sampler`: the copy to sample from) at every cell of
    temperatures x min_ps x sizes, the model's other defaults as they are, measure each against
    `samples` stories of `valid` (invented words checked against `known`) and choose by the rule. Each story
    starts from `prompt` (measured without it)."""
    from textgen.analysis.detectors.metrics import text_metrics
    from textgen.analysis.tune_cast import CANDIDATES
    from textgen.sampling.sampler import Sampler
    from textgen.sampling.settings import SamplingSettings

    sizes = CANDIDATES if sizes is None else tuple(sizes)
    check_grid(temperatures, min_ps, sizes)
    human, count, story = human_metrics(valid, samples, seed, known)
    tuning = Tuning(valid=str(valid), valid_stories=count, human=human, samples=samples, seed=seed, max_tokens=max_tokens,
                    human_story=story, prompt=prompt)
    for temperature, min_p, size in itertools.product(temperatures, min_ps, sizes):
        if on_cell is not None:
            on_cell(f"temperature {temperature:g}, min-p {min_p:g}, cast size {size}")
        settings = SamplingSettings.for_model(loaded, temperature=temperature, min_p=min_p, cast_size=size)
        generated = Sampler.for_model(loaded, settings, model=sampler).write(samples, prompt, max_tokens, seed,
                                                                             on_batch=on_story)
        metrics = text_metrics((sample.text for sample in generated), known=known)
        tuning.rows.append(Cell(temperature, min_p, size, **{short: metrics[name] for name, short in METRICS.items()}))
    tuning.chosen, tuning.qualified = choose(tuning.rows, human)
    return tuning


def describe(tuning: Tuning) -> list[str]:
    """The table as lines for the terminal: the human stories first, then one line per cell."""
    header = (f"{'temperature':>11}  {'min-p':>5}  {'cast':>4}  {'names':>6}  {'seq-rep-4':>9}  {'imm.rep':>7}  "
              f"{'distinct-2':>10}  {'distinct-3':>10}  {'invented':>8}  {'outside':>7}")
    h = tuning.human
    lines = [f"validation stories: {tuning.valid_stories} stories of {tuning.valid}", header,
             (f"{'human':>11}  {'':>5}  {'':>4}  {h['names']:>6.2f}  {h['seq_rep_4']:>9.3f}  {h['immediate']:>7.2f}  "
              f"{h['distinct_2']:>10.3f}  {h['distinct_3']:>10.3f}  {h['invented']:>8.2f}  {'':>7}")]
    for index, row in enumerate(tuning.rows):
        mark = "  <- chosen" if index == tuning.chosen else ""
        lines.append(f"{row.temperature:>11g}  {row.min_p:>5g}  {row.cast_size:>4}  {row.names:>6.2f}  "
                     f"{row.seq_rep_4:>9.3f}  {row.immediate:>7.2f}  {row.distinct_2:>10.3f}  {row.distinct_3:>10.3f}  "
                     f"{row.invented:>8.2f}  {'-' if row.qualifies else f'{row.excess:.2f}':>7}{mark}")
    lines.append(f"rule: {tuning.rule}")
    if not tuning.qualified:
        lines.append("no cell was within every band: the one that breaks them least was chosen")
    return lines
