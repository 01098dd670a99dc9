"""The diagnosis workflow as a library call: generate stories (or take written ones), find the
repetition errors in them, attribute each finding to the model or the sampler, and put the
metrics beside a human baseline. `textgen diagnose` and the explorer print what this returns.

    import textgen
    model = textgen.load("checkpoints/little")
    report = textgen.diagnose(model, samples=20, settings=SamplingSettings(temperature=0.8))
    report.to_dict()            # the schema of `textgen diagnose --json`
    rows = textgen.compare_settings(model, samples=16)

Stories stream through: only those with findings are kept (for attribution), so a written
corpus of any size fits in memory.
"""

from __future__ import annotations

import functools
import itertools
import math
import random
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from textgen.analysis.words import KnownWords
    from textgen.sampling.settings import SamplingSettings

from textgen.analysis.cast import story_cast
from textgen.analysis.detectors import KINDS, TextMetrics, diagnose_story, text_metrics
from textgen.errors import TextgenError

BASELINE_POOL = 10_000

Progress = Callable[[int], None]
Note = Callable[[str], None]


# --- sampled stories -----------------------------------------------------------------------------

def samples_perplexity(samples) -> float:
    """exp of the mean negative log-probability the model (before any processor) gave the
    tokens it wrote: low for text the model finds likely, rising as sampling strays from it."""
    probabilities = [t.probability for s in samples for t in s.tokens]
    if not probabilities:
        return float("nan")
    return math.exp(-sum(math.log(max(p, 1e-30)) for p in probabilities) / len(probabilities))


def comparison_grid(defaults: dict | None = None) -> list[tuple[str, SamplingSettings]]:
    """The settings `compare_settings` tries: one knob at a time, the penalties on top of temperature 0.7,
    each on top of `defaults` (a model's own sampling defaults, `LoadedModel.sampling`).
    DRY uses multiplier 2: at the 0.8 that suits large models, a small story model's repeated
    tokens are so likely that no draw changed on the demo model."""
    from textgen.sampling.settings import SamplingSettings

    def setting(**knobs) -> SamplingSettings:
        return SamplingSettings(**{**(defaults or {}), **knobs})

    cool = 0.7
    return [
        ("temperature 1 (pure sampling)", setting(temperature=1.0)),
        ("temperature 0.7", setting(temperature=cool)),
        ("top-p 0.9", setting(top_p=0.9)),
        ("greedy", setting(temperature=0)),
        ("t 0.7 + repetition penalty 1.3", setting(temperature=cool, repetition_penalty=1.3)),
        ("t 0.7 + no-repeat 3-gram", setting(temperature=cool, no_repeat_ngram=3)),
        ("t 0.7 + DRY 2", setting(temperature=cool, dry_multiplier=2.0)),
    ]


# --- the human baseline --------------------------------------------------------------------------

def baseline_metrics(path, stories: int, seed: int = 0, pool: int = BASELINE_POOL, known: KnownWords | None = None) -> dict:
    """Human-text metrics on as many stories as were diagnosed (distinct-n falls as text grows,
    so a fair baseline has the same size), drawn with `seed` from the corpus's first `pool` stories.
    Invented words are checked against `known` as the samples' are; where `path` is the training
    corpus those came from, each story is checked against the other training stories' words."""
    from pathlib import Path

    from textgen.data.corpus import iter_stories

    available = list(itertools.islice(iter_stories(path), pool))
    chosen = available if len(available) <= stories else random.Random(seed).sample(available, stories)
    in_training = known is not None and known.source is not None and Path(known.source).resolve() == Path(path).resolve()
    return {**text_metrics(chosen, known=known, in_training=in_training), "drawn_from": len(available)}


# what one human story measures: the page diagnoses one text, and distinct-n and the cast depend on a
# text's length and count, so its human value is the mean of single stories, not a pooled sample
STORY_METRICS = ("invented_per_1000_words", "names_per_story", "speech_aware_names_per_story", "seq_rep_4",
                 "immediate-repeat_per_1000_words", "distinct_2", "distinct_3", "words")
REFERENCE_STORIES = 200  # the training stories a reference is drawn from (their first ones of 20 words or more)
REFERENCE_MIN_WORDS = 20


def one_story_means(stories: Iterable[str], known: KnownWords | None = None, in_training: bool = False) -> dict:
    """What one of `stories` measures on average: each story's metrics alone (STORY_METRICS), averaged,
    with "stories" the count. Raises when there is no story to measure."""
    totals, count = dict.fromkeys(STORY_METRICS, 0.0), 0
    for story in stories:
        metrics = text_metrics([story], known=known, in_training=in_training)
        for name in STORY_METRICS:
            totals[name] += metrics[name]
        count += 1
    if not count:
        raise TextgenError("no story to measure a human reference on")
    return {**{name: total / count for name, total in totals.items()}, "stories": count}


def story_reference(loaded) -> dict | None:
    """The human value set beside one diagnosed text (the explorer): {"source", "stories", "metrics"}.
    From the validation stories `textgen tune` measured (textgen.json, no corpus needed), else from
    the model's training corpus when it is still there unchanged (its first REFERENCE_STORIES stories
    of 20 words or more, each checked against the other training words), else None."""
    tune = ((loaded.metadata.get("sampling") or {}).get("tune") or {}) if isinstance(loaded.metadata, dict) else {}
    recorded = tune.get("human_story") if isinstance(tune, dict) else None
    if isinstance(recorded, dict) and all(isinstance(recorded.get(name), (int, float)) for name in STORY_METRICS):
        return {"source": f"{recorded.get('stories', '?')} validation stories (textgen tune: {tune.get('valid', '?')})",
                "stories": recorded.get("stories"), "metrics": {name: recorded[name] for name in STORY_METRICS}}
    corpus = training_corpus(loaded)
    if corpus is None:
        return None
    recorded = loaded.metadata["corpus"]
    return _corpus_reference(corpus, recorded["fingerprint"], recorded.get("path"))


@functools.lru_cache(maxsize=4)
def _corpus_reference(path: str, fingerprint: str, name: str | None) -> dict:
    """A training corpus's reference, measured once per corpus and fingerprint (a request must not read
    7 MB); its words are checked against the corpus's other stories' words, as a baseline's are."""
    from textgen.analysis.words import words_of
    from textgen.data.corpus import iter_stories

    known = _corpus_words(path, fingerprint, name)
    stories = itertools.islice((story for story in iter_stories(path) if len(words_of(story)) >= REFERENCE_MIN_WORDS),
                               REFERENCE_STORIES)
    means = one_story_means(stories, known=known, in_training=True)
    return {"source": f"{means['stories']} training stories ({name or path})", "stories": means["stories"],
            "metrics": {name: means[name] for name in STORY_METRICS}}


def recorded_corpora(loaded) -> list[str]:
    """The paths a model's textgen.json gives for its training corpus (as typed, and absolute)."""
    corpus = loaded.metadata.get("corpus") if loaded is not None and isinstance(loaded.metadata, dict) else None
    if not isinstance(corpus, dict):
        return []
    return [path for path in (corpus.get("absolute_path"), corpus.get("path")) if isinstance(path, str)]


def training_corpus(loaded) -> str | None:
    """The corpus a model was trained on, when it is still there unchanged (same fingerprint)."""
    from textgen.data.corpus import fingerprint

    expected = loaded.metadata["corpus"].get("fingerprint") if recorded_corpora(loaded) else None
    for path in dict.fromkeys(recorded_corpora(loaded)):
        try:
            if expected and fingerprint(path) == expected:
                return path
        except (OSError, TextgenError):
            continue
    return None


def known_words(loaded) -> KnownWords:
    """What invented words are checked against for a model's stories: the English word list and, where its
    training corpus is still there unchanged, that corpus's words (read once per process, half a second per
    2 MB), else the words its textgen.json records, else the word list alone."""
    corpus = training_corpus(loaded) if loaded is not None else None
    if corpus is None:
        return recorded_known_words(loaded)
    recorded = loaded.metadata["corpus"]
    return _corpus_words(corpus, recorded["fingerprint"], recorded.get("path"))  # shown as recorded: the same everywhere


def recorded_known_words(loaded) -> KnownWords:
    """The word list and the training words the model's textgen.json records (each as in one story), or the
    word list alone where it records none."""
    from collections import Counter

    from textgen.analysis.words import KnownWords

    words = getattr(loaded, "words", None) if loaded is not None else None
    if not words:
        return KnownWords()
    corpus = (loaded.metadata.get("corpus") or {}).get("path") if isinstance(loaded.metadata, dict) else None
    return KnownWords(Counter(words), source=f"{corpus or 'the training text'} (the words textgen.json records)")


@functools.lru_cache(maxsize=4)
def _corpus_words(path: str, fingerprint: str, name: str | None) -> KnownWords:
    """A training corpus's words, read once per corpus and fingerprint (the explorer diagnoses one text per
    request: reading 7 MB each time would take seconds). Not to be changed by the caller."""
    from textgen.analysis.words import corpus_words

    return corpus_words(path, name=name)


def input_files(loaded, baseline: str | None) -> list:
    """The files a diagnosis reads (the baseline, the model's training corpus, the model's own files),
    which --save-samples must not overwrite."""
    from pathlib import Path

    from textgen.data.corpus import corpus_files

    inputs = [path for source in (baseline, *recorded_corpora(loaded)) if source and Path(source).exists()
              for path in corpus_files(source)]
    return inputs + [path for path in Path(loaded.path).iterdir() if path.is_file()]


# --- saving samples ------------------------------------------------------------------------------

def save_stories(path, stories: list[str]) -> int:
    """Generated stories as a corpus `--text` reads back: each ends with an <|endoftext|> line, so
    blank lines inside a story stay. An empty story cannot be a corpus entry: it is left out.
    Returns how many were left out."""
    from textgen.modeldir.atomic import write_text

    kept = [story for story in stories if story.strip()]
    write_text(path, "".join(f"{story.strip(chr(10))}\n<|endoftext|>\n" for story in kept))
    return len(stories) - len(kept)


def _saved(path, stories: list[str], note: Note | None) -> None:
    skipped = save_stories(path, stories)
    if skipped and note is not None:
        note(f"{skipped} empty stor{'y' if skipped == 1 else 'ies'} not saved to {path}")


# --- the report ----------------------------------------------------------------------------------

@dataclass
class DiagnosisReport:
    """What `diagnose` found. `to_dict()` is the `textgen diagnose --json` object."""

    findings: list[dict]
    metrics: dict
    baseline: dict | None = None
    baseline_path: str | None = None
    model: str | None = None
    invented_words: dict | None = None  # what invented words were checked against, and the commonest ones
    stories: list[str] | None = None  # the generated stories (None for written ones)
    samples: list[dict] | None = None  # per generated story: text, stop reason, tokens, cast
    settings: dict | None = None  # prompt, max tokens, seed and the sampling settings, for generated stories
    attributed: bool = False  # a model scored the findings
    notes: list[str] = field(default_factory=list)

    @property
    def generated(self) -> bool:
        return self.stories is not None

    @property
    def counts(self) -> dict[str, int]:
        return {kind: sum(f["kind"] == kind for f in self.findings) for kind in KINDS}

    def to_dict(self) -> dict:
        data = {"findings": self.findings, "metrics": self.metrics, "baseline": self.baseline}
        if self.invented_words is not None:
            data["invented_words"] = self.invented_words
        if self.model is not None:
            data["model"] = self.model
        if self.notes:  # e.g. how many findings were left unattributed
            data["notes"] = list(self.notes)
        if self.generated:
            data["settings"] = self.settings
            data["samples"] = self.samples
        return data


@dataclass
class SettingsRow:
    """One sampling setting of `compare_settings`: metrics, finding counts and the samples' perplexity."""

    name: str
    options: dict
    metrics: dict
    perplexity: float
    findings: dict[str, int]

    def to_dict(self) -> dict:
        return {"name": self.name, "options": self.options, "metrics": self.metrics, "perplexity": self.perplexity,
                "findings": self.findings}


@dataclass
class SettingsComparison:
    """`compare_settings`'s rows with the run's settings; `to_dict()` is `diagnose --compare-settings --json`."""

    rows: list[SettingsRow]
    samples: int
    prompt: str
    max_tokens: int
    seed: int
    baseline: dict | None = None
    baseline_path: str | None = None
    model: str | None = None

    def to_dict(self) -> dict:
        return {"model": self.model, "samples": self.samples, "prompt": self.prompt, "max_tokens": self.max_tokens,
                "seed": self.seed, "settings": [row.to_dict() for row in self.rows], "baseline": self.baseline}


# --- the workflow --------------------------------------------------------------------------------

MODEL_CACHE = "model"  # the neural cache the model's training chose (textgen.json), as the CLI uses by default


def _cached(loaded, sampler, cache, sampling: bool):
    """The models to sample from and to attribute with, each with the neural cache in front:
    `cache` is MODEL_CACHE (the settings chosen in training where it scores text; off when
    `sampling`, as in the CLI), None (off) or a CacheSettings."""
    from textgen.model.neural_cache import resolve_cache, with_cache

    settings = resolve_cache(getattr(loaded, "cache", None), sampling=sampling) if cache == MODEL_CACHE else cache
    return with_cache(sampler if sampler is not None else loaded.model, settings), with_cache(loaded.model, settings)


def _name_of(loaded) -> str | None:
    if loaded is None:
        return None
    return str(getattr(loaded, "name", None) or loaded.path)


def diagnose(loaded=None, stories: Iterable[str] | None = None, *, settings: SamplingSettings | None = None,
             samples: int = 20, prompt: str = "", max_tokens: int = 200, seed: int = 0, sampler=None,
             cache=MODEL_CACHE, baseline: str | None = None, save_path: str | None = None, model_name: str | None = None,
             known: KnownWords | None = None, max_attributions: int | None = None, on_story: Progress | None = None, on_finding: Progress | None = None,
             note: Note | None = None) -> DiagnosisReport:
    """Find the repetition errors in `stories`, or in `samples` stories generated from `loaded`
    (a `textgen.load` result) with `settings` (default: the model's own sampling defaults, else the
    library's); with a model, attribute each finding (the model's
    probability for the repeated word, its rank and the alternatives). `sampler` is the model to
    sample from when it differs from `loaded.model` (a bf16 or int8 copy); `cache` the neural
    cache in front of both (default: the one the model's training chose when scoring `stories`,
    off when sampling); `baseline` a
    corpus of human stories whose metrics are set beside the samples'; `save_path` keeps the
    generated stories as a corpus; `known` what invented words are checked against (default:
    `known_words(loaded)`, the word list and the model's training words). Only the first `max_attributions` findings are attributed
    (default MAX_ATTRIBUTIONS; a note says how many were left), so the work stays bounded however
    many findings a degenerate text has. `on_story`/`on_finding` count progress; `note` gets remarks."""
    from textgen.analysis.attribution import MAX_ATTRIBUTIONS
    from textgen.sampling.sampler import Sampler

    max_attributions = MAX_ATTRIBUTIONS if max_attributions is None else max_attributions
    if isinstance(max_attributions, bool) or not isinstance(max_attributions, int) or max_attributions < 0:
        raise TextgenError(f"max attributions must be a whole number >= 0, got {max_attributions!r}")
    if loaded is None and stories is None:
        raise TextgenError("give a model to generate stories and diagnose them, or stories to diagnose")
    if settings is None:
        from textgen.sampling.settings import SamplingSettings

        settings = SamplingSettings.for_model(loaded)  # the model's own defaults, if it has any
    notes: list[str] = []

    def remark(message: str) -> None:
        notes.append(message)
        if note is not None:
            note(message)

    generated = model = None
    if loaded is not None:
        sampler, model = _cached(loaded, sampler, cache, sampling=stories is None)
    if stories is None:
        generated = Sampler(sampler, loaded.tokenizer, settings, words=loaded.words).write(samples, prompt, max_tokens, seed,
                                                                                      on_batch=on_story)
        stories = [prompt + sample.text for sample in generated]
        if save_path:
            _saved(save_path, stories, remark)
    if known is None:
        known = known_words(loaded)
    accumulated, items, count = TextMetrics(known), [], 0
    for index, story in enumerate(stories):
        found = diagnose_story(story, prompt if generated is not None else "")  # the user's prompt is not the model's
        accumulated.add(story, found)
        items += [(index, story, finding) for finding in found]
        count += 1
        if generated is None and on_story is not None:
            on_story(1)
    attributions = [None] * len(items)
    if loaded is not None and items:
        from textgen.analysis.attribution import attribute_all, token_context

        attributed = items[:max_attributions]
        contexts = None
        if generated is not None:  # the model's own tokens: its text may not re-encode (a word model's <glue>)
            contexts = [token_context(loaded.tokenizer, prompt, generated[index], finding.word_start)
                        for index, _, finding in attributed]
        done = (lambda: on_finding(1)) if on_finding is not None else None
        attributions = attribute_all(model, loaded.tokenizer, [(story, finding) for _, story, finding in attributed],
                                     contexts=contexts, on_done=done) + [None] * (len(items) - len(attributed))
        if len(attributed) < len(items):
            remark(f"{len(items) - len(attributed):,} of {len(items):,} findings are not attributed: only the first "
                   f"{max_attributions:,} are (--max-attributions raises the limit; each costs a next-word search)")
        unscored = sum(a is None for a in attributions[:len(attributed)])
        if unscored:
            remark(f"{unscored} finding(s) are not attributed: their text has words or characters the model's tokenizer "
                   "does not know")
    findings = [{"story": index, **finding.to_dict(), **({"attribution": a.to_dict() if a else None} if loaded else {})}
                for (index, _, finding), a in zip(items, attributions)]
    metrics = accumulated.result()
    from textgen.analysis.words import invented_summary

    report = DiagnosisReport(findings=findings, metrics=metrics, model=model_name or _name_of(loaded),
                             attributed=loaded is not None, notes=notes,
                             invented_words=invented_summary(accumulated.invented, accumulated.checked_words, known))
    if generated is not None:
        metrics["perplexity"] = samples_perplexity(generated)
        report.stories = stories
        report.settings = {"prompt": prompt, "max_tokens": max_tokens, "seed": seed, **asdict(settings)}
        report.samples = []
        for story, sample in zip(stories, generated):
            cast = story_cast(story)
            report.samples.append({"text": story, "stop_reason": sample.stop_reason, "tokens": len(sample.tokens),
                                   "names": cast.names, "late_names": cast.late})
    if baseline:
        report.baseline = baseline_metrics(baseline, count, seed, known=known)
        report.baseline_path = str(baseline)
    return report


def compare_settings(loaded, *, samples: int = 16, prompt: str = "", max_tokens: int = 200, seed: int = 0, sampler=None,
                     cache=MODEL_CACHE, baseline: str | None = None, save_path: str | None = None, grid=None, model_name: str | None = None,
                     on_setting: Callable[[str], None] | None = None, on_story: Progress | None = None,
                     note: Note | None = None) -> SettingsComparison:
    """`samples` stories under each sampling setting of `grid` (default: `comparison_grid` on top of
    the model's own sampling defaults), with every metric, the finding rates and the samples'
    perplexity under the model."""
    from textgen.sampling.sampler import Sampler

    rows, written = [], []
    known = known_words(loaded)
    sampler, _ = _cached(loaded, sampler, cache, sampling=True)
    for name, settings in (grid or comparison_grid(loaded.sampling)):
        if on_setting is not None:
            on_setting(name)
        generated = Sampler(sampler, loaded.tokenizer, settings, words=loaded.words).write(samples, prompt, max_tokens, seed,
                                                                                      on_batch=on_story)
        stories = [prompt + sample.text for sample in generated]
        written += [f"[{name}] {story}" for story in stories]
        per_story = [diagnose_story(story, prompt) for story in stories]
        counts = {kind: sum(f.kind == kind for found in per_story for f in found) for kind in KINDS}
        rows.append(SettingsRow(name=name, options=asdict(settings), metrics=text_metrics(stories, per_story, known),
                                perplexity=samples_perplexity(generated), findings=counts))
    if save_path:
        _saved(save_path, written, note)
    return SettingsComparison(rows=rows, samples=samples, prompt=prompt, max_tokens=max_tokens, seed=seed,
                              baseline=baseline_metrics(baseline, samples, seed, known=known) if baseline else None,
                              baseline_path=str(baseline) if baseline else None, model=model_name or _name_of(loaded))
