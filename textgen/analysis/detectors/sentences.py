"""Words and sentences of a story, with their offsets."""

from __future__ import annotations

import bisect
import functools
import re

from textgen.analysis.detectors.lexicon import SENTENCE, SPEECH_END, TITLE_END, WORD


SENTENCE_MARGIN = 240  # characters of a finding's sentence kept on either side of its span


def excerpt(story: str, first: int, last: int, start: int, end: int) -> str:
    """The sentence story[first:last] as a finding shows it (stripped): where it reaches more than
    SENTENCE_MARGIN characters before the span start:end or after it, cut there and marked "…", so a
    runaway sentence of a degenerate text is not copied whole into each of its many findings."""
    begin, finish = max(first, start - SENTENCE_MARGIN), min(last, end + SENTENCE_MARGIN)
    text = story[begin:finish].strip()
    return ("…" if begin > first else "") + text + ("…" if finish < last else "")


def word_spans(text: str, offset: int = 0) -> list[tuple[str, int, int]]:
    return [(m.group(), offset + m.start(), offset + m.end()) for m in WORD.finditer(text)]


def sentences_of(story: str) -> list[tuple[str, int]]:
    """Sentences with their start offsets. "Mr." and "Dr." do not end a sentence, a quoted
    question or exclamation followed by its speech tag (“Run!” said Tim.) is one sentence, and
    so is a sentence hard-wrapped over lines (a line break, then more of it in lower case)."""
    spans: list[list[int]] = []
    for match in SENTENCE.finditer(story):
        if not match.group().strip():
            continue
        if spans:
            previous = story[max(spans[-1][0], spans[-1][1] - 64): spans[-1][1]]  # its end decides: linear, however long
            gap = story[spans[-1][1]: match.start()]
            starts_lower = match.group().lstrip()[:1].islower()
            joined = ("\n" not in gap and (TITLE_END.search(previous) or (SPEECH_END.search(previous) and starts_lower))) or (
                # a hard-wrapped line: one line break inside a sentence that goes on in lower case
                gap.count("\n") == 1 and not gap.strip() and starts_lower and not re.search(r"[.!?\"”’:;]\s*$", previous))
            if joined:
                spans[-1][1] = match.end()
                continue
        spans.append([match.start(), match.end()])
    return [(story[start:end], start) for start, end in spans]


@functools.lru_cache(maxsize=8)
def sentence_index(story: str) -> tuple[list[int], list[str]]:
    """Start offsets and texts of a story's sentences, split once however many findings it has."""
    sentences = sentences_of(story)
    return [start for _, start in sentences], [sentence for sentence, _ in sentences]


def sentence_at(story: str, position: int, end: int | None = None) -> str:
    """The sentence around `position`; with `end`, every sentence the span touches (a repeat
    written across a line break lies in two); an `excerpt` of it."""
    starts, sentences = sentence_index(story)
    first = bisect.bisect_right(starts, position) - 1
    if first < 0 or position >= starts[first] + len(sentences[first]):
        return ""
    last = max(first, bisect.bisect_right(starts, max(position, (end or position) - 1)) - 1)
    return excerpt(story, starts[first], starts[last] + len(sentences[last]), position, max(position, end or position))
