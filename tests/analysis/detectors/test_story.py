"""textgen/analysis/detectors/story.py (and finding.py): every detector over a story, findings with their
spans, sentences and explanations, linear time, and no failure on any word salad."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from textgen.analysis.detectors import diagnose_story, text_metrics


def test_findings_carry_span_sentence_and_explanation():
    story = "Jane saw Spot. Spot saw Spot. They went home."
    (finding,) = diagnose_story(story)
    assert finding.kind == "self-object" and story[finding.start:finding.end] == finding.text == "Spot saw Spot"
    assert finding.sentence == "Spot saw Spot." and "subject" in finding.explanation


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


def test_findings_in_one_runaway_sentence_hold_an_excerpt_of_it_not_all_of_it():
    """A sentence with no end ("the the x the the x ...") has thousands of findings: each shows
    the sentence cut around its span, so the findings' size is linear in the text, not quadratic;
    the cuts are marked and a normal sentence is shown whole."""
    from textgen.analysis.detectors.sentences import SENTENCE_MARGIN

    story = "the the x " * 3000 + "and Tom saw Tom, " * 300 + "they played and they played and they played"
    findings = diagnose_story(story)
    kinds = {finding.kind for finding in findings}
    assert len(findings) > 3000 and kinds == {"immediate-repeat", "self-object", "phrase-loop"}
    for finding in findings:
        assert len(finding.sentence) <= len(finding.text) + 2 * SENTENCE_MARGIN + 2
        cut = finding.sentence.strip("…")
        assert finding.text in cut and cut in story
    middle = findings[1500].sentence
    assert middle.startswith("…") and middle.endswith("…")
    (whole,) = diagnose_story("It was a sunny day and Tom saw Tom at the park.")
    assert whole.sentence == "It was a sunny day and Tom saw Tom at the park."


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
