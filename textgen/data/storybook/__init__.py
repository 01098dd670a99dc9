"""The project's own corpora, written by seeded generators so the committed files can be rebuilt.

`doug-jane-spot` and `doug-jane-spot-more` are the seed's book of "<name> saw <name>."
sentences; `little-stories` is a megabyte of varied simple stories.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

from textgen.modeldir.atomic import atomic_open, prepare_output
from textgen.data.corpus import format_stories
from textgen.errors import TextgenError
from textgen.data.storybook.doug import doug_jane_spot, doug_jane_spot_more
from textgen.data.storybook.little_stories import little_stories

CORPORA: dict[str, Callable[..., Iterator[str]]] = {
    "doug-jane-spot": doug_jane_spot,
    "doug-jane-spot-more": doug_jane_spot_more,
    "little-stories": little_stories,
}
SEED = 0


def generate_stories(name: str, seed: int = SEED) -> Iterator[str]:
    """The stories of the named project corpus, in order."""
    if name not in CORPORA:
        raise TextgenError(f"unknown corpus {name!r}: choose one of {', '.join(CORPORA)}")
    return CORPORA[name](seed=seed)


def write_corpus(name: str, folder: str | os.PathLike, seed: int = SEED) -> Path:
    """Write the named corpus as `<folder>/<name>.txt` (TinyStories format), atomically."""
    path = prepare_output(Path(folder) / f"{name}.txt")
    with atomic_open(path) as file:
        file.writelines(format_stories(generate_stories(name, seed)))
    return path
