"""textgen/analysis/detectors/phrase_loop.py: a phrase repeated back to back within a sentence."""

from __future__ import annotations

import pytest

from textgen.analysis.detectors.phrase_loop import find_phrase_loops


def test_a_loop_spans_every_repeat_and_the_last_partial_one():
    story = "She was happy and they played and they played and they played."
    (finding,) = find_phrase_loops(story)
    assert finding.kind == "phrase-loop" and finding.text == "and they played and they played and they played"
    assert story[finding.start: finding.end] == finding.text
    assert finding.explanation == "the phrase 'and they played' comes 3 times back to back"
    assert finding.word == "and" and finding.word_start == story.index("and they played", story.index("played"))


def test_a_partial_last_repeat_is_named():
    story = "We ran to the ran to the ran to"
    (finding,) = find_phrase_loops(story)
    assert finding.text == "ran to the ran to the ran to" and finding.explanation == (
        "the phrase 'ran to the' comes 2 times back to back, and starts once more")


def test_loops_in_two_sentences_are_two_findings_and_a_loop_across_sentences_is_none():
    story = "Tom ran fast Tom ran fast. The cat sat the cat sat."
    assert [f.text for f in find_phrase_loops(story)] == ["Tom ran fast Tom ran fast", "The cat sat the cat sat"]
    assert find_phrase_loops("Tom ran fast. Tom ran fast.") == []  # a whole sentence again: repeated-sentence's case


@pytest.mark.parametrize("story", [
    "It got bigger and bigger and bigger.",  # and/or reduplications
    "They walked hand in hand in the park.",  # idioms
    "It was as still as still can be.",
    "The clock went tick tick tick tick.",  # one word: immediate-repeat's case
    "The bell went ding dong ding dong.",  # sounds
    "Come in, come in!",  # set off by punctuation, fewer than four times
    "Thank you, thank you, thank you.",
])
def test_meant_repetitions_are_not_loops(story):
    assert find_phrase_loops(story) == []


def test_four_punctuated_repeats_are_a_loop():
    story = "Thank you, thank you, thank you, thank you."
    (finding,) = find_phrase_loops(story)
    assert finding.explanation == "the phrase 'Thank you' comes 4 times back to back"


def test_max_phrase_bounds_the_phrase_size():
    story = "one two three one two three"
    assert [f.text for f in find_phrase_loops(story)] == [story]
    assert find_phrase_loops(story, max_phrase=2) == []
