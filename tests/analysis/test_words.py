"""Invented words: what a word is, what counts as known, and the rate on hand-written stories."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest

from tests.conftest import REPO
from textgen.analysis.detectors import text_metrics
from textgen.analysis.words import KnownWords, corpus_words, english_words, invented_summary, training_words, words_of


def test_words_are_lowercase_letters_and_inner_apostrophes_without_numbers():
    assert words_of("Lily's dog can't run 3 miles on the 2nd day, Mom—“Ice-cream!” said Tom’s dad.") == [
        "lily's", "dog", "can't", "run", "miles", "on", "the", "day", "mom", "ice", "cream", "said", "tom's", "dad"]
    assert words_of("The dogs' bowls. 'Hello,' she said'") == ["the", "dogs'", "bowls", "hello", "she", "said"]
    assert words_of("42 7th x2 ...") == []


def test_the_word_list_has_plurals_contractions_and_common_names():
    english = english_words()
    assert {"puppies", "bunnies", "don't", "i'm", "can't", "happily", "lily", "tom", "mommy"} <= english
    assert not {"intotreck", "puppear", "gvem", "rachreph", "dopga"} & english
    assert english_words() is english  # read once


def test_possessives_and_contractions_of_known_words_are_known():
    known = KnownWords()
    assert known.invented("Lily's puppies' toys. The puppy'll nap. They'd gone. We're home.") == []
    assert known.invented("Dopga's hat. The gvem'll fall.") == ["dopga's", "gvem'll"]


def test_invented_words_of_a_hand_written_story():
    story = ("Once upon a time, Rachreph and Lily went intotreck the park. They saw a puppear. "
             "\"Gvem!\" said Lily. The puppear ran 3 times around the tree.")
    known = KnownWords()
    assert known.invented(story) == ["rachreph", "intotreck", "puppear", "gvem", "puppear"]
    assert len(words_of(story)) == 25
    metrics = text_metrics([story])
    assert metrics["invented_per_1000_words"] == pytest.approx(1000 * 5 / 25)
    assert text_metrics(["The cat sat on the mat."])["invented_per_1000_words"] == 0.0


def test_the_training_words_make_a_word_known():
    known = training_words(["Rachreph the dragon flew.", "Rachreph's cave was warm."], source="train.txt")
    assert known.training["rachreph"] == 2  # "rachreph's" counts its owner once per story
    assert known.invented("Rachreph and Dopga played.") == ["dopga"]
    assert text_metrics(["Rachreph and Dopga played."], known=known)["invented_per_1000_words"] == pytest.approx(250)


def test_a_training_story_is_checked_against_the_other_stories_only():
    stories = ["Zorbit came.", "Zorbit left.", "Quimble sang."]
    known = training_words(stories, source="train.txt")
    assert [known.invented(story, in_training=True) for story in stories] == [[], [], ["quimble"]]
    assert known.invented("Quimble sang.") == []  # a generated story may use any training word
    assert text_metrics(stories, known=known, in_training=True)["invented_per_1000_words"] == pytest.approx(1000 / 6)


def test_corpus_words_read_a_corpus_file(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text("Zorbit came.\n<|endoftext|>\nZorbit left.\n<|endoftext|>\n")
    known = corpus_words(path)
    assert (known.source, known.training["zorbit"]) == (str(path), 2)


def test_the_summary_names_what_was_checked_and_the_commonest_words():
    summary = invented_summary(Counter({"gvem": 3, "dopga": 1}), 400, KnownWords(source="train.txt"), examples=1)
    assert summary == {"checked_against": ["pyspellchecker's English word list", "train.txt"], "training_text": True,
                       "count": 4, "words": 400, "examples": [{"word": "gvem", "count": 3}]}
    assert invented_summary(Counter(), 0, KnownWords())["training_text"] is False


def test_importing_the_module_reads_no_word_list():
    code = "import sys, textgen.analysis.words; print('spellchecker' in sys.modules, 'torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert result.stdout.strip() == "False False"
