"""textgen/data/storybook/little_stories.py: a megabyte of varied simple stories, and its helpers."""

from __future__ import annotations

import random
import re

from textgen.data.storybook.little_stories import StoryWriter, article, capitalize, little_stories


def test_little_stories_is_large_and_varied():
    stories = list(little_stories())
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


def test_the_story_count_is_a_parameter_and_a_writer_is_seeded():
    assert len(list(little_stories(stories=7))) == 7
    assert StoryWriter(random.Random(5)).write() == StoryWriter(random.Random(5)).write()
    writer = StoryWriter(random.Random(5))
    assert writer.hero.name != writer.friend.name  # the friend is never the hero


def test_article_and_capitalize():
    assert (article("apple"), article("dog"), article("owl")) == ("an apple", "a dog", "an owl")
    assert (capitalize("the dog ran."), capitalize(""), capitalize("Tom")) == ("The dog ran.", "", "Tom")
