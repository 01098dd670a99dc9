"""The immediate-repeat detector: a word written twice in a row ("the the")."""

from __future__ import annotations

import itertools

from textgen.analysis.detectors.finding import Finding
from textgen.analysis.detectors.lexicon import (
    DETERMINERS, DOUBLE_OPENERS, GRAMMATICAL_DOUBLES, INTENSIFIERS, NEW_REFERENT, PREPOSITIONS, PRONOUNS,
    SOUND_DOUBLES
)
from textgen.analysis.detectors.sentences import sentence_at, word_spans


def find_immediate_repeats(story: str) -> list[Finding]:
    """One finding per run of the same word ("the the the" is one finding)."""
    findings: list[Finding] = []
    words = word_spans(story)
    run_word, run_length = "", 0
    for index, ((first, start, _), (second, second_start, end)) in enumerate(itertools.pairwise(words)):
        between = story[start + len(first): second_start]
        lowered = first.lower()
        opened = any(w.lower() in DOUBLE_OPENERS for w, _, _ in words[max(0, index - 3): index])
        if lowered == "her" and index + 2 < len(words) and story[end: words[index + 2][1]].strip() == "":
            # "showed her her hat" is grammatical (her, then her hat); "to her her a house" is not
            opened = opened or words[index + 2][0].lower() not in DETERMINERS | NEW_REFERENT | PREPOSITIONS | PRONOUNS
        if (lowered == second.lower() and between.strip() == "" and lowered not in SOUND_DOUBLES | INTENSIFIERS
                and lowered not in GRAMMATICAL_DOUBLES and not opened):
            last = findings[-1] if findings else None
            if last is not None and last.end == start + len(first) and run_word == lowered:
                run_length += 1  # one finding per run: it grows, counted, never re-read (linear in the run)
                findings[-1] = Finding("immediate-repeat", last.start, end, "", last.sentence,
                                       f"{first!r} is written {run_length} times in a row", last.word_start, last.word_end)
                continue
            run_word, run_length = lowered, 2
            findings.append(Finding("immediate-repeat", start, end, story[start:end], sentence_at(story, start, end),
                                    f"{first!r} is written twice in a row", second_start, end))
    return [f if f.text else Finding(f.kind, f.start, f.end, story[f.start:f.end], f.sentence, f.explanation, f.word_start,
                                     f.word_end) for f in findings]
