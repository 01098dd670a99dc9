"""Metrics over a set of stories: seq-rep-n (Welleck et al. 2019), distinct-n, rep-l, the
rate of each finding kind per 1,000 words, names per story (two definitions, textgen.analysis.cast)
and invented words per 1,000 words (textgen.analysis.words)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from textgen.analysis.detectors.finding import Finding
from textgen.analysis.detectors.lexicon import KINDS
from textgen.analysis.detectors.sentences import word_spans
from textgen.analysis.detectors.story import diagnose_story

if TYPE_CHECKING:
    from textgen.analysis.words import KnownWords


def _ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def seq_rep(tokens: Sequence[str], n: int) -> float:
    """1 - unique n-grams / n-grams of one sequence (0 when it has no n-gram)."""
    grams = _ngrams(tokens, n)
    return 1 - len(set(grams)) / len(grams) if grams else 0.0


def rep_l(tokens: Sequence[str], window: int) -> float:
    """The share of tokens equal to one of the previous `window` tokens (one pass: each token's last
    position is remembered, so the window costs nothing)."""
    if not tokens:
        return 0.0
    last: dict[str, int] = {}
    repeated = 0
    for position, token in enumerate(tokens):
        previous = last.get(token)
        repeated += previous is not None and position - previous <= window
        last[token] = position
    return repeated / len(tokens)


class TextMetrics:
    """The metrics of many stories, added one at a time: memory grows with the distinct n-grams
    only (8 bytes per n-gram, as hashes), never with the text, so a 50 MB corpus streams through.
    Invented words are checked against `known` (default: the English word list alone); `in_training`
    says the stories are training stories, each checked against the others' words."""

    def __init__(self, known: KnownWords | None = None, in_training: bool = False) -> None:
        from array import array

        from textgen.analysis.words import KnownWords

        self.known = known if known is not None else KnownWords()
        self.in_training = in_training
        self.invented: Counter = Counter()  # invented word -> times written
        self.checked_words = 0  # the words of textgen.analysis.words (the denominator of the invented rate)
        self.speech_aware_names = 0

        self.stories = self.words = 0
        self.seq_rep = {n: [0.0, 0] for n in (1, 2, 3, 4)}  # sum over stories with an n-gram, and their count
        self.grams = {n: array("q") for n in (1, 2, 3)}  # hashes of every n-gram, for distinct-n
        self.repeats = {window: 0 for window in (16, 32, 128)}  # words equal to one of the previous `window`
        self.kinds: Counter = Counter()
        self.names = self.late_names = 0

    def add(self, story: str, findings: Sequence[Finding] | None = None) -> None:
        """Count one story (and its findings, when the caller has them)."""
        from textgen.analysis.cast import speech_aware_names, story_cast
        from textgen.analysis.words import words_of

        tokens = [w.lower() for w, _, _ in word_spans(story)]
        self.stories += 1
        self.words += len(tokens)
        for n, (total, count) in self.seq_rep.items():
            if len(tokens) >= n:
                self.seq_rep[n] = [total + seq_rep(tokens, n), count + 1]
        for n, hashes in self.grams.items():
            hashes.extend(hash(gram) for gram in _ngrams(tokens, n))
        for window in self.repeats:
            self.repeats[window] += round(rep_l(tokens, window) * len(tokens))
        self.kinds.update(f.kind for f in (findings if findings is not None else diagnose_story(story)))
        cast = story_cast(story)
        self.names += len(cast.names)
        self.late_names += len(cast.late)
        self.speech_aware_names += len(speech_aware_names(story))
        self.checked_words += len(words_of(story))
        self.invented.update(self.known.invented(story, self.in_training))

    def result(self) -> dict:
        import numpy as np

        metrics: dict = {"stories": self.stories, "words": self.words}
        for n, (total, count) in self.seq_rep.items():  # the mean over stories long enough to have an n-gram
            metrics[f"seq_rep_{n}"] = total / count if count else 0.0
        for n, hashes in self.grams.items():
            values = np.frombuffer(hashes, dtype=np.int64) if len(hashes) else np.zeros(0, dtype=np.int64)
            metrics[f"distinct_{n}"] = len(np.unique(values)) / len(values) if len(values) else 0.0
        for window, repeated in self.repeats.items():
            metrics[f"rep_{window}"] = repeated / max(1, self.words)
        for kind in KINDS:
            metrics[f"{kind}_per_1000_words"] = 1000 * self.kinds[kind] / max(1, self.words)
        metrics["names_per_story"] = self.names / max(1, self.stories)
        metrics["late_names_per_story"] = self.late_names / max(1, self.stories)
        metrics["speech_aware_names_per_story"] = self.speech_aware_names / max(1, self.stories)
        metrics["invented_per_1000_words"] = 1000 * sum(self.invented.values()) / max(1, self.checked_words)
        return metrics


def text_metrics(stories: Iterable[str], findings: Sequence[Sequence[Finding]] | None = None,
                 known: KnownWords | None = None, in_training: bool = False) -> dict:
    """seq-rep-1..4 (mean over stories), distinct-1..3 (over all stories), rep-16/32/128, finding rates,
    the cast (distinct names per story, names first mentioned after the first third, names by the
    speech-aware definition) and invented words per 1,000 words (checked against `known`, see TextMetrics).
    `findings` (one list per story) saves running the detectors again when the caller has them."""
    metrics = TextMetrics(known, in_training)
    for index, story in enumerate(stories):
        metrics.add(story, findings[index] if findings is not None else None)
    return metrics.result()
