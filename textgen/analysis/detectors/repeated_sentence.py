"""The repeated-sentence detector: a sentence that repeats an earlier one of the story."""

from __future__ import annotations

from textgen.analysis.detectors.finding import Finding
from textgen.analysis.detectors.sentences import sentences_of, word_spans


def find_repeated_sentences(story: str) -> list[Finding]:
    """Sentences of three or more words that repeat an earlier one; a shorter statement only from
    its third time in a row ("They played. They played. They played.")."""
    findings, seen, previous, run = [], {}, None, 0
    for number, (sentence, start) in enumerate(sentences_of(story), start=1):
        key = " ".join(w.lower() for w, _, _ in word_spans(sentence))
        run = run + 1 if key == previous else 1
        previous = key
        if not key:
            continue
        short = len(key.split()) < 3
        # "Oh no! ... Oh no!", "No! No!" and "Tom ran. Tom ran." are a storyteller's; a third time in a row is a loop
        if key in seen and (not short or (run >= 3 and sentence.rstrip()[-1:] not in "!?\"”’")):
            stripped = sentence.strip()
            offset = start + sentence.index(stripped[0])
            findings.append(Finding("repeated-sentence", offset, offset + len(stripped), stripped, stripped,
                                    f"this sentence repeats sentence {seen[key]} of the story (now sentence {number})"))
        seen.setdefault(key, number)
    return findings
