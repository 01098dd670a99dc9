"""textgen/analysis/detectors/scoring.py: the labelled case sets load, every detector reaches its precision and
recall on each, and a broken case line is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from textgen.analysis.detectors.scoring import case_sets, detector_scores, load_cases

CASES_DIR = Path(__file__).resolve().parent / "cases"
SETS = case_sets(CASES_DIR)


def test_every_case_set_is_listed_and_loads():
    listed = sorted(entry["file"] for entry in SETS)
    assert listed == sorted(path.name for path in CASES_DIR.glob("*.jsonl"))
    assert [len(entry["cases_list"]) for entry in SETS] == [entry["cases"] for entry in SETS]
    assert sum(len(entry["cases_list"]) for entry in SETS) == 506


@pytest.mark.parametrize("entry", SETS, ids=[entry["set"] for entry in SETS])
def test_detectors_reach_the_precision_and_recall_targets(entry):
    for kind, score in detector_scores(entry["cases_list"]).items():
        assert score["positives"] >= 3, kind
        assert score["precision"] >= 0.95, (kind, score)
        assert score["recall"] >= 0.9, (kind, score)


def test_a_broken_case_line_names_its_line(tmp_path):
    from textgen.errors import TextgenError

    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "Doug saw Doug.", "kinds": ["self-object"]}\n{"text": "x"}\n', encoding="utf-8")
    with pytest.raises(TextgenError, match=r"bad.jsonl:2 is not a case"):
        load_cases(path)
    path.write_text('{"text": "x", "kinds": ["loop"]}\n', encoding="utf-8")
    with pytest.raises(TextgenError, match=r"bad.jsonl:1: kinds must be among"):
        load_cases(path)


def test_case_files_are_read_with_the_corpus_line_cap(tmp_path):
    from textgen.errors import TextgenError

    path = tmp_path / "long.jsonl"
    path.write_text('{"text": "' + "a" * 1_500_000 + '", "kinds": []}\n', encoding="utf-8")
    with pytest.raises(TextgenError, match=r"line 1 of .*long\.jsonl is longer than 1,000,000 bytes"):
        load_cases(path)
