"""textgen/data/storybook/__init__.py: the project's own corpora by name, seeded, and the committed files are
exactly what the generators write (the Doug book's rules: test_doug.py; little-stories: test_little_stories.py)."""

from __future__ import annotations

import pytest
from tests.conftest import REPO

from textgen.data.corpus import read_stories
from textgen.data.storybook import CORPORA, generate_stories, write_corpus

def test_an_unknown_corpus_name_lists_the_known_ones():
    from textgen.errors import TextgenError

    with pytest.raises(TextgenError, match="unknown corpus 'doug': choose one of doug-jane-spot, doug-jane-spot-more, "
                                           "little-stories"):
        generate_stories("doug")


def test_write_corpus_replaces_the_file_whole(tmp_path):
    (tmp_path / "doug-jane-spot.txt").write_text("an older corpus")
    written = write_corpus("doug-jane-spot", tmp_path)
    assert written == tmp_path / "doug-jane-spot.txt" and [p.name for p in tmp_path.iterdir()] == ["doug-jane-spot.txt"]
    assert read_stories(written) == list(generate_stories("doug-jane-spot"))


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
