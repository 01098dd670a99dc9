"""Every detector over one story."""

from __future__ import annotations

from textgen.analysis.detectors.finding import Finding
from textgen.analysis.detectors.immediate_repeat import find_immediate_repeats
from textgen.analysis.detectors.lexicon import KINDS
from textgen.analysis.detectors.phrase_loop import find_phrase_loops
from textgen.analysis.detectors.repeated_sentence import find_repeated_sentences
from textgen.analysis.detectors.self_object import find_self_objects


def diagnose_story(story: str, prompt: str = "") -> list[Finding]:
    """Every finding of every detector, in text order. A story that starts with a given
    `prompt` keeps only the findings whose repeated word the model wrote after it."""
    findings = (find_self_objects(story) + find_immediate_repeats(story) + find_phrase_loops(story)
                + find_repeated_sentences(story))
    return sorted((f for f in findings if f.word_start >= len(prompt)), key=lambda f: (f.start, KINDS.index(f.kind)))
