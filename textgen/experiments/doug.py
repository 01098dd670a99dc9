"""The Doug experiment: a model without memory writes "Doug saw Doug." one time in three; an LSTM does not.

Both models learn the seed's book ("Doug saw Jane. Jane saw Spot. Spot saw Doug.") with the
same loop, then write stories by pure sampling until each has written the set number of
sentences with an object; a sentence whose object is its subject counts as a self-object. A
trace of the LSTM then shows where the subject is kept: the long-term memory (LTM, the cell
state) units that tell the subjects apart, the forget gate that keeps them through "saw",
and the ignore factor (input gate) that does not overwrite them.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import textgen
from textgen.model.config import ModelConfig
from textgen.data.corpus import read_stories
from textgen.data.storybook import generate_stories
from textgen.analysis.detectors import find_self_objects, sentences_of
from textgen.errors import TextgenError
from textgen.model import LanguageModel
from textgen.sampling.generate import generate
from textgen.tokenizer import BOS_ID, PAD_ID, Tokenizer, train_tokenizer

DEFAULT_CORPUS = Path(textgen.__file__).resolve().parent.parent / "corpora" / "doug-jane-spot.txt"
WORD = re.compile(r"[^\W_]+")
WELL_FORMED = re.compile(r"[A-Z][a-z]* [a-z]+ [A-Z][a-z]*\.")  # "Name verb Name."
STORIES_PER_ROUND = 100
MAX_ROUNDS = 50  # a model that writes almost no sentence with an object stops here, with what it has


@dataclass(frozen=True)
class DougSettings:
    """Settings of the experiment; the defaults finish in a few seconds on 2 CPU cores."""

    corpus: str = str(DEFAULT_CORPUS)  # pages separated by <|endoftext|> lines
    sentences: int = 500  # sentences with an object to collect from each model's stories
    names: tuple[str, ...] = ("Doug", "Jane", "Spot")  # the subjects whose memory the trace looks for
    verb: str = "saw"
    embed_dim: int = 16
    hidden_size: int = 32  # LSTM units
    steps: int = 500  # Adam steps for each model (the LSTM learns the cycle by about 250)
    batch_size: int = 64  # pages per step, drawn at random (the whole book per step is many times slower)
    learning_rate: float = 1e-2
    max_tokens: int = 80  # longest generated page, in tokens
    units: int = 3  # LTM units shown in the trace
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "corpus", os.fspath(self.corpus))
        object.__setattr__(self, "names", tuple(self.names))
        for name in ("sentences", "embed_dim", "hidden_size", "steps", "batch_size", "max_tokens", "units"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise TextgenError(f"{name} must be a whole number of at least 1, got {value!r}")
        if not self.learning_rate > 0:
            raise TextgenError(f"learning_rate must be positive, got {self.learning_rate}")
        if not isinstance(self.verb, str) or not self.verb.strip():
            raise TextgenError(f"verb must be a word of the corpus, e.g. saw, got {self.verb!r}")
        if len(self.names) < 2 or len(set(self.names)) != len(self.names):
            raise TextgenError(f"names {', '.join(self.names) or '(none)'} must be two or more different names, e.g. Doug,Jane,Spot")


@dataclass
class ModelReport:
    """What one model wrote, and what it expects after "<name> saw"."""

    model: str
    self_object_rate: float  # self-object sentences / sentences with an object
    sentences: int  # sentences with an object (subject, verb, object) judged
    self_objects: int
    sentences_written: int  # every complete sentence, those without an object included
    well_formed_share: float  # share of written sentences that are exactly "Name verb Name."
    next_word_after: dict[str, dict[str, float]]  # "Doug saw" -> {name: probability}
    final_loss: float  # nats per token on the book
    parameters: int
    examples: list[str] = field(default_factory=list)  # the first pages written
    self_object_examples: list[str] = field(default_factory=list)


@dataclass
class DougResult:
    memoryless: ModelReport
    lstm: ModelReport
    trace: dict
    settings: DougSettings
    seconds: float


class MemorylessModel(nn.Module):
    """Sees only the current token: embedding -> linear to logits, no recurrence (a bigram model)."""

    def __init__(self, vocab_size: int, embed_dim: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.decoder = nn.Linear(embed_dim, vocab_size)

    def forward(self, tokens: Tensor, state: list | None = None) -> tuple[Tensor, list]:
        """Logits (B, T, V) for tokens (B, T); the state is empty, there is nothing to carry."""
        return self.decoder(self.embedding(tokens)), []

    def step(self, token: Tensor, state: list | None = None) -> tuple[Tensor, list]:
        """One token per sequence (B,) -> logits (B, V)."""
        return self.decoder(self.embedding(token)), []


def read_book(settings: DougSettings) -> tuple[Tokenizer, Tensor]:
    """The word tokenizer of the book and its pages as one padded batch (B, T) of <s> + tokens + </s>."""
    if settings.corpus == str(DEFAULT_CORPUS) and not DEFAULT_CORPUS.exists():
        stories = list(generate_stories("doug-jane-spot"))  # an installed textgen has no corpora/: the same pages, seeded
    elif not Path(settings.corpus).exists():
        raise TextgenError(f"corpus {settings.corpus} does not exist: give the path of the Doug book, e.g. {DEFAULT_CORPUS}")
    else:
        try:
            stories = read_stories(settings.corpus)
        except TextgenError as error:
            raise TextgenError(f"{error}; the experiment needs pages like those of {DEFAULT_CORPUS}") from None
    tokenizer = train_tokenizer(stories, kind="word")
    missing = [word for word in (*settings.names, settings.verb) if tokenizer.unknown(word) or len(tokenizer.encode(word)) != 1]
    if missing:
        raise TextgenError(f"the corpus {settings.corpus} never has the word(s) {', '.join(missing)}: "
                           "give single-word names and a verb that its sentences use")
    pages = [tokenizer.encode(story, add_bos=True, add_eos=True) for story in stories]
    batch = torch.full((len(pages), max(map(len, pages))), PAD_ID, dtype=torch.long)
    for row, ids in enumerate(pages):
        batch[row, : len(ids)] = torch.tensor(ids)
    return tokenizer, batch


def train(model: nn.Module, pages: Tensor, settings: DougSettings) -> float:
    """Adam on next-token cross entropy over random batches of pages (padding not scored).

    Returns the loss on the whole book at the end, in nats per token.
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
    generator = torch.Generator().manual_seed(settings.seed)
    model.train()
    for _ in range(settings.steps):
        batch = pages[torch.randint(0, pages.shape[0], (settings.batch_size,), generator=generator)]  # (B, T)
        loss = book_loss(model, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    model.eval()
    with torch.no_grad():
        return round(book_loss(model, pages).item(), 4)


def book_loss(model: nn.Module, pages: Tensor) -> Tensor:
    """Mean cross entropy of each next token of the pages (B, T), padding not scored."""
    logits, _ = model(pages[:, :-1], None)  # (B, T-1, V)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), pages[:, 1:].reshape(-1), ignore_index=PAD_ID)


def build_lstm(vocab_size: int, settings: DougSettings) -> LanguageModel:
    """One small LSTM layer, no dropout or tying: the plainest model with memory."""
    return LanguageModel(ModelConfig(vocab_size=vocab_size, cell="lstm", embed_dim=settings.embed_dim,
                                     hidden_size=settings.hidden_size, num_layers=1, tie_weights=False,
                                     embed_dropout=0.0, input_dropout=0.0, hidden_dropout=0.0, output_dropout=0.0,
                                     weight_drop=0.0, activation_reg=0.0, temporal_activation_reg=0.0))


def has_object(sentence: str) -> bool:
    """A complete sentence with at least a subject, a verb and an object."""
    return sentence.rstrip().endswith((".", "!", "?")) and len(WORD.findall(sentence)) >= 3


@torch.no_grad()
def next_word_probabilities(model: nn.Module, tokenizer: Tokenizer, settings: DougSettings) -> dict[str, dict[str, float]]:
    """P(name | <s> subject verb) for every subject and name (not renormalised over the names)."""
    contexts = [f"{subject} {settings.verb}" for subject in settings.names]
    tokens = torch.tensor([[BOS_ID] + tokenizer.encode(context) for context in contexts])  # (N, 3)
    logits, _ = model(tokens, None)
    probabilities = torch.softmax(logits[:, -1].float(), dim=-1)  # (N, V)
    ids = [tokenizer.encode(name)[0] for name in settings.names]
    return {context: {name: round(probabilities[row, token_id].item(), 4) for name, token_id in zip(settings.names, ids)}
            for row, context in enumerate(contexts)}


def written_sentences(model: nn.Module, tokenizer: Tokenizer, settings: DougSettings, pages: list[str]) -> Iterator[str]:
    """Complete sentences of pages sampled at temperature 1, a round of pages at a time; each page goes to `pages`."""
    for round_index in range(MAX_ROUNDS):
        for sample in generate(model, tokenizer, "", n=STORIES_PER_ROUND, max_tokens=settings.max_tokens,
                               seed=settings.seed * 1_000 + round_index):
            pages.append(sample.text)
            for sentence, _ in sentences_of(sample.text):
                if sentence.strip().endswith((".", "!", "?")):  # not the end of a page cut at max_tokens
                    yield sentence.strip()


def judge(model: nn.Module, name: str, tokenizer: Tokenizer, settings: DougSettings, loss: float) -> ModelReport:
    """Sample pages until `settings.sentences` sentences with an object are in; count the self-objects among them."""
    judged, written, well_formed, pages = [], 0, 0, []
    for sentence in written_sentences(model, tokenizer, settings, pages):
        written += 1
        well_formed += bool(WELL_FORMED.fullmatch(sentence))
        if has_object(sentence):
            judged.append(sentence)
            if len(judged) == settings.sentences:
                break
    selfish = [sentence for sentence in judged if find_self_objects(sentence)]
    return ModelReport(name, round(len(selfish) / max(1, len(judged)), 4), len(judged), len(selfish), written,
                       round(well_formed / max(1, written), 4), next_word_probabilities(model, tokenizer, settings), loss,
                       sum(p.numel() for p in model.parameters()), pages[:3], list(dict.fromkeys(selfish))[:3])


def subject_units(ltm: Tensor, count: int) -> list[int]:
    """`count` LTM units that tell the subjects apart, taking turns among the subjects.

    ltm: (N, H), one row per subject. Subject i's best unit is the one whose value for i is
    farthest from its nearest other subject's value, so the table shows a unit for each
    subject rather than several copies of the one that marks a single subject.
    """
    gaps = (ltm[:, None, :] - ltm[None, :, :]).abs()  # (N, N, H)
    gaps = gaps + torch.eye(ltm.shape[0])[:, :, None] * gaps.max()  # a subject's gap to itself does not count
    separation = gaps.min(dim=1).values  # (N, H): distance from each subject to its nearest other subject
    chosen: list[int] = []
    for turn in range(min(count, ltm.shape[1])):
        ranked = separation[turn % ltm.shape[0]].argsort(descending=True).tolist()
        chosen.append(next(unit for unit in ranked if unit not in chosen))
    return chosen


def trace_subject_memory(model: LanguageModel, tokenizer: Tokenizer, settings: DougSettings) -> dict:
    """Which LTM units hold the subject through the verb, and the gates that keep them there."""
    tokens = torch.tensor([[BOS_ID] + tokenizer.encode(f"{name} {settings.verb}") for name in settings.names])  # (N, 3)
    layer = model.trace(tokens).layers[0]  # {name: (N, 3, H)}; steps: <s>, subject, verb
    ltm, forget, ignore = layer["ltm"], layer["forget"], layer["ignore"]
    before, after = ltm[:, 1], ltm[:, 2]  # (N, H) each
    spread_before = before.max(0).values - before.min(0).values  # (H,): how much a unit tells the subjects apart
    spread_after = after.max(0).values - after.min(0).values
    chosen = subject_units(before, settings.units)

    def by_name(values: Tensor, unit: int) -> dict[str, float]:
        return {name: round(values[row, unit].item(), 4) for row, name in enumerate(settings.names)}

    units = [{"unit": unit, "ltm_at_start": round(ltm[0, 0, unit].item(), 4),
              "ltm_after_subject": by_name(before, unit), "forget_at_verb": by_name(forget[:, 2], unit),
              "ignore_at_verb": by_name(ignore[:, 2], unit), "ltm_after_verb": by_name(after, unit),
              "spread_after_subject": round(spread_before[unit].item(), 4),
              "spread_after_verb": round(spread_after[unit].item(), 4)} for unit in chosen]
    # the subject signal: each subject's LTM minus the mean over subjects, over all units
    signal_before = (before - before.mean(0)).flatten()
    signal_after = (after - after.mean(0)).flatten()
    correlation = F.cosine_similarity(signal_before, signal_after, dim=0).item()
    kept = spread_after[chosen].sum().item() / max(spread_before[chosen].sum().item(), 1e-12)
    return {"context": f"{settings.names[0]} {settings.verb}", "verb": settings.verb, "names": list(settings.names),
            "gate_names": {"forget": "forget gate", "ignore": "ignore factor = input gate", "ltm": "long-term memory = cell state"},
            "units": units, "kept_on_units": round(kept, 4), "signal_correlation": round(correlation, 4),
            "signal_ratio": round(signal_after.norm().item() / max(signal_before.norm().item(), 1e-12), 4)}


def run_doug(settings: DougSettings, on_progress: Callable[[str], None] = lambda message: None) -> DougResult:
    """Train both models on the book, judge what they write and trace the LSTM; the caller's random state is kept."""
    started = time.perf_counter()
    tokenizer, pages = read_book(settings)
    reports, models = {}, {}
    with torch.random.fork_rng():
        for name, build in (("memoryless", lambda: MemorylessModel(tokenizer.vocab_size, settings.embed_dim)),
                            ("lstm", lambda: build_lstm(tokenizer.vocab_size, settings))):
            torch.manual_seed(settings.seed)  # the same start for both models
            model = models[name] = build()
            on_progress(f"training the {name} model ({settings.steps} steps of {settings.batch_size} of the {pages.shape[0]} pages)")
            loss = train(model, pages, settings)
            on_progress(f"sampling {settings.sentences} sentences from the {name} model")
            reports[name] = judge(model, name, tokenizer, settings, loss)
        on_progress("tracing the LSTM's gates")
        trace = trace_subject_memory(models["lstm"], tokenizer, settings)
    return DougResult(reports["memoryless"], reports["lstm"], trace, settings, round(time.perf_counter() - started, 2))


def to_json(result: DougResult) -> dict:
    data = asdict(result)
    data["settings"]["names"] = list(result.settings.names)
    return data


def _percent(report: ModelReport) -> str:
    return f"{100 * report.self_object_rate:5.1f}% ({report.self_objects} of {report.sentences} sentences with an object)"


def report(result: DougResult) -> str:
    """Readable text for the terminal: rates, examples, the trace table and the conclusions."""
    settings, trace = result.settings, result.trace
    names, verb, context = settings.names, settings.verb, trace["context"]
    lines = [f"Doug saw Doug: {settings.sentences} sentences with an object from each model, sampled at temperature 1",
             f"  {Path(settings.corpus).name}, seed {settings.seed}, {result.seconds:.1f} s", ""]
    for model, title in ((result.memoryless, "memoryless (sees only the current word)"),
                         (result.lstm, f"LSTM ({settings.hidden_size} units)")):
        expected = "  ".join(f"{name} {p:.2f}" for name, p in model.next_word_after[context].items())
        lines += [f"{title}",
                  f"  self-object rate {_percent(model)}",
                  (f"  well-formed \"Name {verb} Name.\" {100 * model.well_formed_share:.1f}% of {model.sentences_written} "
                   f"sentences written; loss {model.final_loss:.3f} nats/token"),
                  f"  after \"{context}\": {expected}",
                  f"  first page: {model.examples[0] if model.examples else '(none)'}"]
        if model.self_object_examples:
            lines.append(f"  self-objects: {' | '.join(model.self_object_examples)}")
        lines.append("")
    lines += [f"LSTM trace of \"<s> Name {verb}\": the LTM (long-term memory = cell state) units that best tell each subject from the others",
              f"  forget gate at \"{verb}\": near 1 keeps the LTM; ignore factor (input gate) at \"{verb}\": near 0 writes nothing new",
              "  unit  subject  LTM after subject  forget at verb  ignore at verb  LTM after verb"]
    for unit in trace["units"]:
        for name in names:
            lines.append(f"  {unit['unit']:>4}  {name:<7}  {unit['ltm_after_subject'][name]:>17.3f}  "
                         f"{unit['forget_at_verb'][name]:>14.3f}  {unit['ignore_at_verb'][name]:>14.3f}  "
                         f"{unit['ltm_after_verb'][name]:>14.3f}")
    lines += [(f"  the spread between subjects on these units after \"{verb}\" is {100 * trace['kept_on_units']:.0f}% of the spread "
               f"before it; over all units the subject signal keeps correlation {trace['signal_correlation']:.2f} "
               f"(size ratio {trace['signal_ratio']:.2f})"), "", *conclusions(result)]
    return "\n".join(lines)


def conclusions(result: DougResult) -> list[str]:
    """One sentence per finding, worded from the numbers."""
    memoryless, lstm, trace, verb = result.memoryless, result.lstm, result.trace, result.settings.verb
    guess = f"1/{len(result.settings.names)} = {100 / len(result.settings.names):.0f}%"
    lines = [(f"The memoryless model names its subject as the object {100 * memoryless.self_object_rate:.0f}% of the time "
              f"({guess} is a blind guess among the names).")]
    if memoryless.self_object_rate < 0.1:
        lines.append(f"The LSTM does so {100 * lstm.self_object_rate:.1f}% of the time, but the memoryless model is far from a "
                     "blind guess too: neither model has learned the book yet; train both for more steps (--steps).")
    elif lstm.self_object_rate < memoryless.self_object_rate / 3:
        lines.append(f"The LSTM does so {100 * lstm.self_object_rate:.1f}% of the time: it remembers the subject.")
    else:
        lines.append(f"The LSTM does so {100 * lstm.self_object_rate:.1f}% of the time: it has not learned to keep the subject; "
                     "train it for more steps.")
    forget = [value for unit in trace["units"] for value in unit["forget_at_verb"].values()]
    low, high = f"{min(forget):.3f}", f"{max(forget):.3f}"
    gate = low if low == high else f"{low} to {high}"
    kept = trace["kept_on_units"]
    held = "holds the subject through" if min(forget) > 0.9 and kept > 0.5 else "does not simply keep the subject through"
    lines.append(f"Its LTM {held} \"{verb}\": on the units shown the forget gate there is {gate}, and the difference between "
                 f"subjects after it is {100 * kept:.0f}% of what it was before.")
    return lines
