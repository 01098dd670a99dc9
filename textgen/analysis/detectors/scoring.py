"""Precision and recall of the detectors on labelled case sets: JSON lines of
{"text": ..., "kinds": [...]} (an empty list: no error), listed in a folder's sets.json.
The tests hold every set to its targets; `benchmarks/detectors.py` prints the README's table."""

from __future__ import annotations

import json
from pathlib import Path

from textgen.analysis.detectors.lexicon import KINDS
from textgen.analysis.detectors.story import diagnose_story
from textgen.errors import TextgenError

Case = tuple[str, set[str]]


def load_cases(path: str | Path) -> list[Case]:
    """The cases of one .jsonl file; a line that is not a case names its line number."""
    from textgen.data.lines import iter_lines

    cases = []
    for number, line in enumerate(iter_lines(path), start=1):  # lines capped as a corpus's are
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            text, kinds = item["text"], set(item["kinds"])
        except (ValueError, KeyError, TypeError, RecursionError):
            raise TextgenError(f"{path}:{number} is not a case: write {{\"text\": ..., \"kinds\": [...]}}") from None
        unknown = kinds - set(KINDS)
        if not isinstance(text, str) or unknown:
            raise TextgenError(f"{path}:{number}: kinds must be among {', '.join(KINDS)} (got {sorted(unknown)})")
        cases.append((text, kinds))
    return cases


def case_sets(folder: str | Path) -> list[dict]:
    """The sets a folder's sets.json lists, each with its cases under "cases_list"."""
    folder = Path(folder)
    from textgen.modeldir.safe_read import read_json

    sets = read_json(folder / "sets.json", "case list", 1 << 20)
    return [{**entry, "cases_list": load_cases(folder / entry["file"])} for entry in sets]


def detector_scores(cases: list[Case]) -> dict:
    """Precision and recall of each detector over cases (a finding of a kind the case lacks is a
    false positive), with the number of positive cases."""
    found = [{finding.kind for finding in diagnose_story(text)} for text, _ in cases]
    scores = {}
    for kind in KINDS:
        true_positive = sum(kind in got and kind in expected for got, (_, expected) in zip(found, cases))
        false_positive = sum(kind in got and kind not in expected for got, (_, expected) in zip(found, cases))
        false_negative = sum(kind not in got and kind in expected for got, (_, expected) in zip(found, cases))
        scores[kind] = {"precision": true_positive / max(1, true_positive + false_positive),
                        "recall": true_positive / max(1, true_positive + false_negative),
                        "positives": true_positive + false_negative}
    return scores
