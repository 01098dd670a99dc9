"""textgen/data/storybook/doug.py: the rules of the Doug book: "<name> saw <name>." round the cycle, and the
variant with more names and verbs."""

from __future__ import annotations

import re

from textgen.data.storybook.doug import (
    MORE_NAMES, MORE_VERBS, NAMES, PAGES, SENTENCES_PER_PAGE, doug_jane_spot, doug_jane_spot_more
)

SENTENCE = re.compile(r"^(\w+) (\w+) (\w+)\.$")


def sentences_of(stories):
    for story in stories:
        for sentence in re.findall(r"[^.]+\.", story):
            match = SENTENCE.match(sentence.strip())
            assert match, f"not a '<name> <verb> <name>.' sentence: {sentence!r}"
            yield match.groups()


def test_doug_book_follows_the_cycle():
    stories = list(doug_jane_spot())
    sentences = list(sentences_of(stories))
    assert len(stories) >= 100 and len({len(story) for story in stories}) > 3  # pages of varying length
    for subject, verb, target in sentences:
        assert verb == "saw"
        assert subject != target
        assert NAMES[(NAMES.index(subject) + 1) % 3] == target  # Doug -> Jane -> Spot -> Doug
    for (_, _, target), following in zip(sentences, sentences[1:]):
        assert following[0] == target  # the object is the next sentence's subject


def test_doug_book_variant_has_more_names_and_verbs():
    sentences = list(sentences_of(doug_jane_spot_more()))
    assert {s for s, _, _ in sentences} == set(MORE_NAMES)
    assert {v for _, v, _ in sentences} == set(MORE_VERBS)
    for (subject, _, target), following in zip(sentences, sentences[1:]):
        assert subject != target
        assert following[0] == target


def test_pages_hold_three_to_nine_sentences_and_the_page_count_is_a_parameter():
    for book in (doug_jane_spot, doug_jane_spot_more):
        pages = list(book())
        assert len(pages) == PAGES
        counts = {len(list(sentences_of([page]))) for page in pages}
        assert counts == set(range(SENTENCES_PER_PAGE[0], SENTENCES_PER_PAGE[1] + 1))
        assert len(list(book(pages=5))) == 5
        assert list(book(seed=3, pages=20)) == list(book(seed=3, pages=20)) != list(book(seed=4, pages=20))
