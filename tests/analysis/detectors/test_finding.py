"""textgen/analysis/detectors/finding.py: the word a finding points attribution at, and its dict form."""

from __future__ import annotations

from textgen.analysis.detectors.finding import Finding

STORY = "Tom saw Tom. Zoë met Zoë."


def test_the_word_defaults_to_the_spans_first_word_in_story_offsets():
    start = STORY.index("Zoë met")
    finding = Finding("self-object", start, start + len("Zoë met Zoë"), "Zoë met Zoë", "Zoë met Zoë.", "why")
    assert (finding.word_start, finding.word_end) == (start, start + 3)  # letters of any script make a word
    assert finding.word == "Zoë" == STORY[finding.word_start: finding.word_end]


def test_a_given_word_is_kept():
    finding = Finding("self-object", 0, 11, "Tom saw Tom", "Tom saw Tom.", "why", word_start=8, word_end=11)
    assert (finding.word_start, finding.word_end, finding.word) == (8, 11, "Tom")


def test_a_span_without_letters_points_at_the_whole_span():
    finding = Finding("immediate-repeat", 4, 9, "12 12", "It was 12 12.", "why")
    assert (finding.word_start, finding.word_end, finding.word) == (4, 9, "12 12")


def test_the_dict_form_carries_every_field_and_the_word():
    finding = Finding("phrase-loop", 0, 11, "Tom saw Tom", "Tom saw Tom.", "why", word_start=8, word_end=11)
    assert finding.to_dict() == {"kind": "phrase-loop", "start": 0, "end": 11, "text": "Tom saw Tom",
                                 "sentence": "Tom saw Tom.", "explanation": "why", "word_start": 8, "word_end": 11,
                                 "word": "Tom"}
