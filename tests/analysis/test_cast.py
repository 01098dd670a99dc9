"""The cast of a story: names, late names, and their place in the diagnosis (plain text, no torch)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO
from textgen.analysis.cast import cast_metrics, speech_aware_names, story_cast
from textgen.analysis.detectors import text_metrics


def test_names_inside_sentences_and_repeated_sentence_openers_count():
    cast = story_cast('Once upon a time, there was a girl named Lily. Lily had a dog called Spot. "Look!" said Lily. '
                      "Suddenly, Spot ran. The end.")
    assert cast.names == ["Lily", "Spot"]


def test_common_openers_contractions_possessives_and_hyphenated_words_are_not_names():
    cast = story_cast("The sun was hot. Then they played. I'm happy, said Tom. Tom's hat was red. They ate Ice-Cream. "
                      "Yesterday it rained. Look at that! Mr. Fox came too.")
    assert cast.names == ["Tom", "Fox"]


def test_a_word_also_written_in_lower_case_is_not_a_name_unless_capitalised_mid_sentence():
    assert story_cast("Play with me. Play again. They play.").names == []
    assert story_cast("Rose ran. Rose sat. She smelled a rose.").names == []
    assert story_cast("Rose ran. She met Rose again. She smelled a rose.").names == ["Rose"]


def test_late_names_are_first_mentioned_after_the_first_third():
    words = " ".join(["word"] * 20)
    cast = story_cast(f"A boy named Luke played. {words}. His friend Rusty came. {words}. Then Bumpy stirred the pot.")
    assert cast.names == ["Luke", "Rusty", "Bumpy"] and cast.late == ["Rusty", "Bumpy"]


def test_only_the_first_window_words_count():
    story = "Then Tom ran to Sam. " + "and then " * 100 + "He met Bob."
    assert story_cast(story, window=150).names == ["Tom", "Sam"]
    assert story_cast(story, window=1000).names == ["Tom", "Sam", "Bob"]
    assert story_cast("Tom ran. He hid.").names == []  # one mention at a sentence start: the documented miss


def test_metrics_are_means_over_stories_and_join_the_diagnosis():
    stories = ["Tom met Sam. Tom waved.", "The cat sat.", "A girl named Mia met Zed and then later met Kim too, said Mia."]
    metrics = cast_metrics(stories)
    assert metrics["names_per_story"] == (2 + 0 + 3) / 3
    assert text_metrics(stories)["names_per_story"] == metrics["names_per_story"]
    assert metrics["speech_aware_names_per_story"] == (1 + 0 + 3) / 3  # "Tom" only opens sentences: not counted
    assert text_metrics(stories)["speech_aware_names_per_story"] == metrics["speech_aware_names_per_story"]
    assert set(metrics) == {"names_per_story", "late_names_per_story", "speech_aware_names_per_story"}
    assert cast_metrics([]) == {"names_per_story": 0.0, "late_names_per_story": 0.0, "speech_aware_names_per_story": 0.0}
    assert cast_metrics(iter(stories)) == metrics  # a stream is read once


def test_a_capitalised_word_after_an_opening_quote_starts_a_sentence():
    assert speech_aware_names('"Come," said Tom. "Look!"') == ["Tom"]
    assert speech_aware_names("“Come,” said Tom. “Look at Spot!”") == ["Tom", "Spot"]
    assert speech_aware_names("She said, 'Yes.' Then Ann said 'Wow'.") == ["Ann"]


def test_after_a_closing_quote_the_speech_tag_is_inside_the_sentence():
    assert speech_aware_names('"Hi," Tom said. "Bye," Sue said.') == ["Tom", "Sue"]
    assert story_cast('"Hi," Tom said. "Bye," Sue said.').names == []  # the first definition: a sentence start, once
    assert speech_aware_names('"Hi!" She smiled. "Run?" Ben ran.') == []  # after ! or ? a sentence starts


def test_the_speech_aware_names_by_hand():
    story = ("Once upon a time, a girl named Lily had a dog called Max. Lily's dog was big. Mr. Brown saw them.\n"
             "Max barked. I'm hungry, said Lily. They ate Ice-Cream with Dad on Monday. The END.")
    # inside a sentence: Lily, Max, Brown (not Mr: a title), Lily's is Lily, Dad, Monday; not I'm, Ice-Cream, END
    assert speech_aware_names(story) == ["Lily", "Max", "Brown", "Dad", "Monday"]
    assert story_cast(story).names == ["Lily", "Max", "Brown", "Dad"]  # the first drops openers (Monday)
    assert speech_aware_names("Then Tom ran to Sam. " + "and then " * 100 + "He met Bob.", window=150) == ["Tom", "Sam"]


def test_story_analysis_needs_no_torch():
    """The cast of a story is plain text work: importing it loads no torch (the tensors of names
    for sampling are textgen.sampling.cast_names')."""
    code = "import sys, textgen.analysis.cast; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert result.stdout.strip() == "False"
