"""The peers benchmark's count of test words outside the training text (benchmarks/peers.py): the
share of the test file that word_language_model's dictionary holds only because it reads the test file."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import peers  # noqa: E402


def test_unseen_test_words_counts_words_in_neither_training_nor_validation(tmp_path):
    (tmp_path / "train.txt").write_text("Doug saw Jane.\nJane saw Spot.\n", encoding="utf-8")
    (tmp_path / "valid.txt").write_text("Spot saw Doug.\n", encoding="utf-8")
    (tmp_path / "test.txt").write_text("Mowgli saw Jane. Mowgli ran.\nSpot saw Doug.\n", encoding="utf-8")
    # Mowgli twice, "Jane." is seen, "ran." is not: 3 of 8 words, 2 kinds
    assert peers.unseen_test_words(tmp_path) == {"share": 0.375, "words": 3, "kinds": 2}
    (tmp_path / "test.txt").write_text("", encoding="utf-8")
    assert peers.unseen_test_words(tmp_path) == {"share": 0.0, "words": 0, "kinds": 0}
