"""textgen/analysis/detectors/lexicon.py: what counts as a word, a name, a verb and an adverb."""

from __future__ import annotations

import pytest

from textgen.analysis.detectors.lexicon import WORD, is_adverb, is_name, name_run, verb_like


def test_words_are_letters_of_any_script_with_inner_apostrophes():
    assert WORD.findall("Zoë's cat, José and 3 dogs_x can't") == ["Zoë's", "cat", "José", "and", "dogs", "x", "can't"]


@pytest.mark.parametrize(("word", "first", "expected"), [
    ("Tom", False, True), ("Tom", True, True),
    ("tom", False, False),  # a name is capitalised
    ("She", False, False), ("She's", False, False), ("The", False, False), ("Another", False, False),
    ("Once", True, False), ("Once", False, True),  # an opener only at a clause's start
    ("Then", True, False), ("Was", True, False),
])
def test_is_name(word, first, expected):
    assert is_name(word, first) is expected


def test_verb_like_is_a_lower_case_word_that_is_not_a_function_word_or_the_subject():
    assert verb_like("hugged", ("lily",))
    assert not verb_like("Hugged", ())
    assert not any(verb_like(word, ()) for word in ("the", "was", "him", "very", "and", "did"))
    assert not verb_like("bunny", ("the", "bunny"))


def test_adverbs_are_listed_or_end_in_ly_but_ly_adjectives_and_short_words_are_not():
    assert is_adverb("quickly") and is_adverb("soon") and is_adverb("sadly")
    assert not any(is_adverb(word) for word in ("lonely", "silly", "fly", "holly", "ugly", "happy"))


def test_a_name_is_at_most_three_capitalised_words():
    words = [(w, 0, 0) for w in "Aunt Rose Mary Ann Brown saw".split()]
    assert name_run(words, 0, first=True) == 3
    assert name_run(words, 3, first=False) == 2
    assert name_run(words, 5, first=False) == 0
    assert name_run([("Once", 0, 0), ("Tom", 0, 0)], 0, first=True) == 0  # "Once" opens the clause: not a name
