"""The project's own corpora: the rules of the Doug book, the size and variety of little-stories,
and that the committed files are exactly what the generators write."""

from __future__ import annotations

import re

import pytest
from tests.conftest import REPO

from textgen.data.corpus import read_stories
from textgen.data.storybook import CORPORA, generate_stories, write_corpus
from textgen.data.storybook.doug import MORE_NAMES, MORE_VERBS, NAMES

SENTENCE = re.compile(r"^(\w+) (\w+) (\w+)\.$")


def sentences_of(stories):
    for story in stories:
        for sentence in re.findall(r"[^.]+\.", story):
            match = SENTENCE.match(sentence.strip())
            assert match, f"not a '<name> <verb> <name>.' sentence: {sentence!r}"
            yield match.groups()


def test_doug_book_follows_the_cycle():
    stories = list(generate_stories("doug-jane-spot"))
    sentences = list(sentences_of(stories))
    assert len(stories) >= 100 and len({len(story) for story in stories}) > 3  # pages of varying length
    for subject, verb, target in sentences:
        assert verb == "saw"
        assert subject != target
        assert NAMES[(NAMES.index(subject) + 1) % 3] == target  # Doug -> Jane -> Spot -> Doug
    for (_, _, target), following in zip(sentences, sentences[1:]):
        assert following[0] == target  # the object is the next sentence's subject


def test_doug_book_variant_has_more_names_and_verbs():
    sentences = list(sentences_of(generate_stories("doug-jane-spot-more")))
    assert {s for s, _, _ in sentences} == set(MORE_NAMES)
    assert {v for _, v, _ in sentences} == set(MORE_VERBS)
    for (subject, _, target), following in zip(sentences, sentences[1:]):
        assert subject != target
        assert following[0] == target


def test_little_stories_is_large_and_varied():
    stories = list(generate_stories("little-stories"))
    text = "\n".join(stories)
    assert len(text.encode()) >= 1_000_000
    assert len(set(stories)) == len(stories)
    first_sentences = {story.split(".")[0] for story in stories}
    assert len(first_sentences) > 500
    words = set(re.findall(r"[a-z]+", text.lower()))
    assert len(words) > 500
    for feeling in ("happy", "sad", "scared", "proud", "excited"):
        assert feeling in words
    for story in stories[:300]:
        assert story[-1] in '.!"', story  # every story ends a sentence
        assert "  " not in story


def test_generators_are_seeded():
    first = list(generate_stories("little-stories", seed=1))[:20]
    assert first == list(generate_stories("little-stories", seed=1))[:20]
    assert first != list(generate_stories("little-stories", seed=0))[:20]


@pytest.mark.parametrize("name", sorted(CORPORA))
def test_committed_corpora_are_what_the_generators_write(tmp_path, name):
    written = write_corpus(name, tmp_path)
    committed = REPO / "corpora" / f"{name}.txt"
    assert committed.read_bytes() == written.read_bytes(), f"run `make corpora` to regenerate {committed}"
    assert read_stories(committed) == list(generate_stories(name))
