"""The phrase-loop detector: a phrase repeated back to back within a sentence."""

from __future__ import annotations

import re

from textgen.analysis.detectors.finding import Finding
from textgen.analysis.detectors.lexicon import IDIOM_LINKS, IDIOM_NOUNS, SOUND_DOUBLES
from textgen.analysis.detectors.sentences import sentence_at, sentences_of, word_spans


def find_phrase_loops(story: str, max_phrase: int = 12) -> list[Finding]:
    """Loops inside a sentence (a sentence repeated as a whole is a repeated-sentence finding)."""
    findings = []
    for sentence, start in sentences_of(story):
        findings.extend(_phrase_loops_in(story, word_spans(sentence, start), max_phrase))
    return findings


def _repeats(lowered: list[str], index: int, size: int, limit: int | None = None) -> int:
    """How many times the phrase of `size` words at `index` comes back to back (at most `limit`)."""
    phrase = lowered[index: index + size]
    repeats = 1
    while (limit is None or repeats < limit) and lowered[index + repeats * size: index + (repeats + 1) * size] == phrase:
        repeats += 1
    return repeats


def _phrase_loops_in(story: str, words: list[tuple[str, int, int]], max_phrase: int) -> list[Finding]:
    """Linear in the sentence's length: each (position, phrase size) pair first counts at most
    four repeats, enough to decide; only a loop that is reported is counted to its end, and the
    scan then jumps past it."""
    findings = []
    lowered = [w.lower() for w, _, _ in words]
    index = 0
    while index < len(words):
        found = False
        for size in range(2, max_phrase + 1):
            if index + 2 * size > len(words):
                break
            phrase = lowered[index: index + size]
            repeats = _repeats(lowered, index, size, limit=4)
            if repeats < 2:
                continue
            if size == 2 and ({"and", "or"} & set(phrase) or (phrase[0] in IDIOM_NOUNS and phrase[1] in IDIOM_LINKS)
                              or phrase[0] == "as"):
                continue  # "bigger and bigger", "ran and ran and ran", "hand in hand in", "as still as still": meant
            if len(set(phrase)) == 1 or set(phrase) <= SOUND_DOUBLES:
                continue  # "tick tick tick tick": the immediate-repeat rule's case; "ding dong ding dong": meant
            punctuated = re.search(r"[^\w\s'’]", story[words[index][2]: words[index + repeats * size - 1][1]])
            if punctuated and (repeats == 2 or (repeats == 3 and size <= 4)):
                continue  # "Come in, come in!", "Thank you, thank you, thank you": set off by punctuation, it is meant
            repeats = _repeats(lowered, index, size)
            tail = 0  # a last, partial repeat ("they played and they played and they played")
            while (tail < size - 1 and index + repeats * size + tail < len(words)
                   and lowered[index + repeats * size + tail] == phrase[tail]):
                tail += 1
            start, end = words[index][1], words[index + repeats * size + tail - 1][2]
            findings.append(Finding("phrase-loop", start, end, story[start:end], sentence_at(story, start, end),
                                    f"the phrase {' '.join(w for w, _, _ in words[index:index + size])!r} comes {repeats} "
                                    f"times back to back{', and starts once more' if tail else ''}",
                                    words[index + size][1], words[index + size][2]))
            index += repeats * size + tail
            found = True
            break
        if not found:
            index += 1
    return findings
