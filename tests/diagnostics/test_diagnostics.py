"""Repetition detectors (precision and recall on the project's test set) and metrics checked by hand."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from textgen.diagnostics import diagnose_story, rep_l, seq_rep, text_metrics
from textgen.diagnostics.scoring import case_sets, detector_scores, load_cases

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


def test_findings_carry_span_sentence_and_explanation():
    story = "Jane saw Spot. Spot saw Spot. They went home."
    (finding,) = diagnose_story(story)
    assert finding.kind == "self-object" and story[finding.start:finding.end] == finding.text == "Spot saw Spot"
    assert finding.sentence == "Spot saw Spot." and "subject" in finding.explanation


def test_metrics_match_hand_computed_values():
    tokens = "the cat saw the cat".split()
    assert seq_rep(tokens, 1) == pytest.approx(1 - 3 / 5)
    assert seq_rep(tokens, 2) == pytest.approx(1 - 3 / 4)
    assert rep_l(tokens, 16) == pytest.approx(2 / 5)  # the second "the" and "cat"
    assert rep_l(tokens, 1) == 0.0
    metrics = text_metrics(["The cat saw the cat.", "A b c d."])
    assert metrics["words"] == 9 and metrics["stories"] == 2
    assert metrics["seq_rep_1"] == pytest.approx((0.4 + 0.0) / 2)
    assert metrics["distinct_1"] == pytest.approx(7 / 9)
    assert metrics["rep_16"] == pytest.approx(2 / 9)
    assert metrics["self-object_per_1000_words"] == pytest.approx(1000 / 9)


def test_the_doug_book_has_no_self_objects():
    from textgen.storybook import generate_stories

    stories = list(generate_stories("doug-jane-spot"))[:100]
    assert text_metrics(stories)["self-object_per_1000_words"] == 0


def test_diagnose_text_cli(tmp_path):
    import json

    from click.testing import CliRunner

    from textgen.cli import cli

    path = tmp_path / "samples.txt"
    path.write_text("Doug saw Jane. Jane saw Jane.\n\nTom was happy. He ran. Tom was happy.\n")
    result = CliRunner().invoke(cli, ["diagnose", "--text", str(path), "--json", "--baseline", str(path)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    kinds = [f["kind"] for f in data["findings"]]
    assert kinds == ["self-object", "repeated-sentence"]
    assert {"kind", "start", "end", "text", "sentence", "explanation", "story"} <= data["findings"][0].keys()
    assert data["metrics"] == {k: v for k, v in data["baseline"].items() if k != "drawn_from"} and data["metrics"]["words"] == 14
    text = CliRunner().invoke(cli, ["diagnose", "--text", str(path)])
    assert "1 self-object" in text.stdout and "seq_rep_1" in text.stdout
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    assert CliRunner().invoke(cli, ["diagnose", "--text", str(empty)]).exit_code == 2


def test_a_run_of_one_word_is_one_finding_and_the_attributed_word_is_the_objects_first():
    (run,) = diagnose_story("Wait wait wait for me.")
    assert run.kind == "immediate-repeat" and run.text == "Wait wait wait" and "3 times" in run.explanation
    (finding,) = diagnose_story("The little dog saw the little dog.")
    assert finding.word == "little" and "'little dog'" in finding.explanation
    (name,) = diagnose_story("Mr. Brown saw Mr. Brown.")
    assert name.word == "Mr" and "'Mr. Brown'" in name.explanation
    (repeat,) = diagnose_story("She ran. They were happy. She ran home. They were happy.")
    assert "repeats sentence 2" in repeat.explanation


def test_many_findings_in_one_long_story_stay_fast():
    import time

    story = " ".join(["The the dog ran to the park."] * 2000)
    started = time.perf_counter()
    findings = diagnose_story(story)
    assert len(findings) >= 2000
    assert time.perf_counter() - started < 30  # was quadratic: minutes


@pytest.mark.parametrize("text, kinds", [
    ("Lily wanted to hug Lily.", {"self-object"}),
    ("Lily was happy to see Lily.", {"self-object"}),
    ("Jack went home with Jack.", {"self-object"}),
    ("Lily told Lily a story.", {"self-object"}),
    ("Ben knew Ben had to try.", set()),
    ("Lily thought Lily liked cake.", set()),
    ("They played. They played. They played.", {"repeated-sentence"}),
    ("Tom ran. Tom ran.", set()),
    ("Oh no! The ball fell. Oh no!", set()),
    ("The big dog ran to the park, the big dog ran to the park, the big dog ran to the park.", {"phrase-loop"}),
    ("The peasant made the\nraven fly away.", set()),
    ("He he went home.", {"immediate-repeat"}),
])
def test_patterns_found_in_the_second_review(text, kinds):
    assert {f.kind for f in diagnose_story(text)} == kinds


def test_a_hard_wrapped_sentence_is_one_sentence_and_a_repeat_over_a_line_break_keeps_its_sentence():
    from textgen.diagnostics import sentences_of

    assert [s.strip() for s, _ in sentences_of("The peasant made the\nraven fly. Then he\nran home.")] == [
        "The peasant made the\nraven fly.", "Then he\nran home."]
    (finding,) = diagnose_story("Jane saw\nsaw Spot.")
    assert finding.text in finding.sentence


def test_seq_rep_averages_over_stories_that_have_n_grams():
    assert text_metrics(["a b a b a.", "Yes."])["seq_rep_2"] == pytest.approx(0.5)  # "Yes." has no bigram
    assert text_metrics(["a b a b a.", "Yes."])["seq_rep_1"] == pytest.approx((0.6 + 0.0) / 2)


def test_diagnose_reads_standard_input():
    from click.testing import CliRunner

    from textgen.cli import cli

    result = CliRunner().invoke(cli, ["diagnose", "--text", "-"], input="Doug saw Doug.\n\nThe the end.\n")
    assert result.exit_code == 0 and "1 self-object, 1 immediate-repeat" in result.stdout
    empty = CliRunner().invoke(cli, ["diagnose", "--text", "-"], input="")
    assert empty.exit_code == 2 and "standard input" in empty.output and "textgen-stdin" not in empty.output


WORDS = ["Doug", "saw", "Doug's", "the", "The", "a", "did", "not", "like", "to", "was", "happy", "and", "Mr.", "Mia's", "mom",
         "ran", "ran.", "ha", "two", "very", "home", "with", "of", "king", ",", ".", "!", "?", "\n", "\n\n", "“", "”", "'", "is",
         "Tick", "tick", "him", "himself", "quickly", "Every", "morning", "then", "who", "had", "her", "Zoë", "--", "up"]


@given(st.lists(st.sampled_from(WORDS), max_size=40))
@settings(max_examples=400, deadline=None)
def test_detectors_never_fail_and_spans_hold_on_any_word_salad(tokens):
    story = " ".join(tokens)
    for finding in diagnose_story(story):
        assert story[finding.start:finding.end] == finding.text
        assert finding.start <= finding.word_start < finding.word_end <= finding.end
    text_metrics([story])
