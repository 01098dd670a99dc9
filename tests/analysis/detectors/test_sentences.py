"""textgen/analysis/detectors/sentences.py: a hard-wrapped sentence is one sentence."""

from __future__ import annotations

from textgen.analysis.detectors import diagnose_story


def test_a_hard_wrapped_sentence_is_one_sentence_and_a_repeat_over_a_line_break_keeps_its_sentence():
    from textgen.analysis.detectors import sentences_of

    assert [s.strip() for s, _ in sentences_of("The peasant made the\nraven fly. Then he\nran home.")] == [
        "The peasant made the\nraven fly.", "Then he\nran home."]
    (finding,) = diagnose_story("Jane saw\nsaw Spot.")
    assert finding.text in finding.sentence
