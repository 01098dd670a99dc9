"""The seed's book: every sentence is "<name> saw <name>.", the object never the subject,
and each object is the next sentence's subject.

In `doug-jane-spot` the names go round the cycle Doug -> Jane -> Spot -> Doug, so after
"saw" each name is equally likely to a model that sees only that word, and exactly one is
right to a model that remembers the subject. `doug-jane-spot-more` has six names and six
verbs and picks each object at random among the names that are not the subject.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

NAMES = ("Doug", "Jane", "Spot")
MORE_NAMES = ("Doug", "Jane", "Spot", "Sally", "Tim", "Puff")
MORE_VERBS = ("saw", "liked", "helped", "found", "called", "hugged")
PAGES = 600
SENTENCES_PER_PAGE = (3, 9)


def doug_jane_spot(seed: int = 0, pages: int = PAGES) -> Iterator[str]:
    """Pages of the cycle book; each page starts where the last one ended."""
    rng = random.Random(seed)
    subject = 0
    for _ in range(pages):
        sentences = []
        for _ in range(rng.randint(*SENTENCES_PER_PAGE)):
            target = (subject + 1) % len(NAMES)
            sentences.append(f"{NAMES[subject]} saw {NAMES[target]}.")
            subject = target
        yield " ".join(sentences)


def doug_jane_spot_more(seed: int = 0, pages: int = PAGES) -> Iterator[str]:
    """Pages with more names and verbs: the object is any name but the subject."""
    rng = random.Random(seed)
    subject = rng.choice(MORE_NAMES)
    for _ in range(pages):
        sentences = []
        for _ in range(rng.randint(*SENTENCES_PER_PAGE)):
            target = rng.choice([name for name in MORE_NAMES if name != subject])
            sentences.append(f"{subject} {rng.choice(MORE_VERBS)} {target}.")
            subject = target
        yield " ".join(sentences)
