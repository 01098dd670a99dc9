"""textgen/analysis/detectors/immediate_repeat.py: a word written twice in a row, and the doubles that are meant."""

from __future__ import annotations

import pytest

from textgen.analysis.detectors.immediate_repeat import find_immediate_repeats


def test_a_doubled_word_is_one_finding_whose_word_is_the_second():
    story = "Tom went to the the park."
    (finding,) = find_immediate_repeats(story)
    assert finding.kind == "immediate-repeat" and finding.text == "the the"
    assert story[finding.start: finding.end] == "the the" and finding.sentence == story
    assert finding.word_start == story.index("the park") and finding.word == "the"
    assert finding.explanation == "'the' is written twice in a row"


def test_a_run_is_one_finding_that_counts_its_length():
    story = "She said no and ran ran ran ran home."
    (finding,) = find_immediate_repeats(story)
    assert finding.text == "ran ran ran ran" and finding.explanation == "'ran' is written 4 times in a row"
    assert story[finding.start: finding.end] == finding.text


def test_case_and_a_line_break_do_not_hide_a_repeat():
    assert [f.text for f in find_immediate_repeats("He he went home.")] == ["He he"]
    assert [f.text for f in find_immediate_repeats("Tom saw the\nthe dog.")] == ["the\nthe"]


def test_two_runs_of_different_words_are_two_findings():
    assert [f.text for f in find_immediate_repeats("The cat cat sat on the mat mat.")] == ["cat cat", "mat mat"]


@pytest.mark.parametrize("story", [
    "She had had enough.",  # grammatical doubles
    "He said that that was fine.",
    "Whoever wins wins the prize.",  # after a double opener
    "Mom showed her her hat.",  # "her", then "her hat"
    "Ha ha, said Tom. Knock knock!",  # sounds and cheers
    "It was very very big.",  # an intensifier
    "Go, go, go!",  # punctuation between
])
def test_meant_doubles_are_not_findings(story):
    assert find_immediate_repeats(story) == []


def test_her_her_before_a_determiner_is_a_finding():
    (finding,) = find_immediate_repeats("He gave her her a house.")  # "her a house": the second "her" is not a determiner
    assert finding.text == "her her"
