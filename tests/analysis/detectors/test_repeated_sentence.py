"""textgen/analysis/detectors/repeated_sentence.py: a sentence that repeats an earlier one of the story."""

from __future__ import annotations

from textgen.analysis.detectors.repeated_sentence import find_repeated_sentences


def test_a_long_sentence_repeated_later_is_a_finding_naming_both_sentences():
    story = "The dog ran home. Lily smiled. The dog ran home."
    (finding,) = find_repeated_sentences(story)
    assert finding.kind == "repeated-sentence" and finding.text == finding.sentence == "The dog ran home."
    assert (finding.start, finding.end) == (story.rindex("The dog"), len(story))
    assert finding.explanation == "this sentence repeats sentence 1 of the story (now sentence 3)"
    assert finding.word == "The"


def test_case_spacing_and_punctuation_do_not_hide_a_repeat():
    story = "The dog ran home. the  DOG ran home!"
    assert [f.text for f in find_repeated_sentences(story)] == ["the  DOG ran home!"]


def test_each_later_copy_is_a_finding_and_points_at_the_first():
    story = "We went to the park. We went to the park. We went to the park."
    findings = find_repeated_sentences(story)
    assert [f.explanation for f in findings] == ["this sentence repeats sentence 1 of the story (now sentence 2)",
                                                 "this sentence repeats sentence 1 of the story (now sentence 3)"]


def test_a_short_statement_is_a_finding_only_from_its_third_time_in_a_row():
    assert find_repeated_sentences("Tom ran. Tom ran.") == []
    (finding,) = find_repeated_sentences("Tom ran. Tom ran. Tom ran.")
    assert finding.explanation.endswith("(now sentence 3)")


def test_short_exclamations_and_questions_are_a_storytellers():
    assert find_repeated_sentences("No! No! No!") == []
    assert find_repeated_sentences("Oh no! The ball fell. Oh no!") == []
    assert find_repeated_sentences("Why? Why? Why?") == []
