"""The cast of a story: names, late names, and their place in the diagnosis."""

from __future__ import annotations

from textgen.analysis.cast import cast_metrics, story_cast
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
    assert set(metrics) == {"names_per_story", "late_names_per_story"}
    assert cast_metrics([]) == {"names_per_story": 0.0, "late_names_per_story": 0.0}


def test_name_tokens_are_capitalised_word_starts_that_open_no_sentence(sentencepiece_tokenizer, word_tokenizer, char_tokenizer):
    from textgen.analysis.cast import name_tokens

    openers = {"The", "She", "He", "Once", "There", "His", "Then", "Thank", "When", "Th", "S", "I"}
    for tokenizer, expected in ((word_tokenizer, {"Lily", "Hopper", "Jane"}), (sentencepiece_tokenizer, set())):
        names = name_tokens(tokenizer)
        ids = (names.name_id >= 0).nonzero()[:, 0].tolist()
        labels = {tokenizer.word_label(i) for i in ids}
        capitalised = {tokenizer.word_label(i) for i in range(tokenizer.vocab_size) if tokenizer.word_label(i)[:1].isupper()}
        assert expected <= labels and not labels & openers and openers & capitalised  # the openers were there to refuse
        assert names.count == len({tokenizer.word_label(i) for i in ids})  # one number per name, whatever its spelling
        assert int(names.word_starts.sum()) > 20
        assert name_tokens(tokenizer) is name_tokens(tokenizer)  # made once
    names = name_tokens(char_tokenizer)
    assert names.count == 0 and not names.any


def test_a_name_written_after_a_quote_is_the_same_name(tmp_path):
    """A sentencepiece model spells "Tom" after a quote without its word-start mark: both spellings
    get one name number, and the quote is a bare start."""
    from textgen.analysis.cast import name_tokens
    from textgen.tokenizer import train_tokenizer

    names = ("Tom", "Sue", "Ben", "Max", "Lily", "Anna")
    stories = [f'Once {n} ran to the park with {m}. Then {n} sat with {m} and {n} smiled at {m}. "{n}, come here!" '
               f'said Mom. "{m}, you too!" {n} and {m} came home.' for n in names for m in names if m != n] * 20
    tokenizer = train_tokenizer(stories, kind="sentencepiece")  # as many pieces as the corpus supports
    found = name_tokens(tokenizer)
    spelled = {tokenizer.id_to_piece(i): int(found.name_id[i]) for i in (found.name_id >= 0).nonzero()[:, 0].tolist()}
    assert "▁Tom" in spelled and spelled.get("Tom") == spelled["▁Tom"], spelled
    assert bool(found.after_bare[tokenizer.piece_to_id("Tom")]) and not bool(found.after_bare[tokenizer.piece_to_id("▁Tom")])
    assert any(bool(found.bare[i]) for i in range(tokenizer.vocab_size) if '"' in tokenizer.id_to_piece(i))
    assert not {"▁Then", "▁Once", "Then", "▁"} & set(spelled) and {"▁" + name for name in names} <= set(spelled)


def test_first_entries_shared_with_openers_are_kept_apart_for_the_next_entry(sentencepiece_tokenizer):
    """In a small vocabulary "▁T" begins "The" and "Tom": it is no name entry but an ambiguous one,
    and the word in progress after it is found by walking back to its start."""
    from textgen.analysis.cast import name_tokens

    names = name_tokens(sentencepiece_tokenizer)
    split = names.split
    assert split is not None and split.ambiguous
    assert all(int(names.name_id[token]) == -1 for token in split.ambiguous)
    assert all(sentencepiece_tokenizer.word_label(token)[:1].isupper() for token in split.ambiguous)
    assert all(letters.isalpha() and letters.islower() for _, letters in split.continues)
    assert "Plea" in split.openers and "Once" in split.openers and "Tom" not in split.openers
    start = min(token for token in split.ambiguous if sentencepiece_tokenizer.word_role(token) == "start")
    follow = split.continues[0][0]
    history = sentencepiece_tokenizer.encode("the cat saw") + [start, follow]
    assert split.word_in_progress(history) == [start, follow]  # walked back to the ambiguous start
    assert split.word_in_progress(history[:-2]) is None  # a word that began with no ambiguous entry
