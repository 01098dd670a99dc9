"""textgen/analysis/detectors/self_object.py: the Doug book has none; the patterns of the second review."""

from __future__ import annotations

import pytest

from textgen.analysis.detectors import diagnose_story, text_metrics


def test_the_doug_book_has_no_self_objects():
    from textgen.data.storybook import generate_stories

    stories = list(generate_stories("doug-jane-spot"))[:100]
    assert text_metrics(stories)["self-object_per_1000_words"] == 0


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
