"""textgen.diagnose and textgen.compare_settings: the diagnosis workflow from Python, the same
numbers as `textgen diagnose --json`."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import textgen
from textgen.cli import cli
from textgen.analysis.diagnosis import DiagnosisReport, SettingsComparison, comparison_grid, save_stories
from textgen.errors import TextgenError
from textgen.sampling.settings import SamplingSettings


def cli_json(*args) -> dict:
    result = CliRunner().invoke(cli, [str(arg) for arg in args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_written_stories_need_no_model():
    report = textgen.diagnose(stories=["Doug saw Doug. Jane saw Spot.", "The cat sat on the the mat."])
    assert isinstance(report, DiagnosisReport)
    assert report.counts == {"self-object": 1, "immediate-repeat": 1, "phrase-loop": 0, "repeated-sentence": 0}
    assert report.metrics["stories"] == 2
    assert not report.generated
    data = report.to_dict()
    assert set(data) == {"findings", "metrics", "baseline", "invented_words"}
    assert data["invented_words"]["checked_against"] == ["pyspellchecker's English word list"]  # no model: no training words
    assert [f["story"] for f in data["findings"]] == [0, 1]
    assert "attribution" not in data["findings"][0]  # no model: nothing to attribute


def test_neither_model_nor_stories_is_refused():
    with pytest.raises(TextgenError, match="give a model"):
        textgen.diagnose()


def test_the_library_gives_the_clis_json(trained):
    options = {"samples": 3, "max_tokens": 30, "seed": 4, "settings": SamplingSettings(temperature=0.8)}
    report = textgen.diagnose(str(trained), model_name=str(trained), **options)
    expected = cli_json("diagnose", trained, "--samples", 3, "--max-tokens", 30, "--seed", 4, "--temperature", 0.8,
                        "--no-baseline", "--quantize", "none", "--json")
    assert json.loads(json.dumps(report.to_dict())) == expected  # as JSON: tuples become lists
    assert report.generated and len(report.stories) == 3
    assert all("attribution" in finding for finding in report.findings)


def test_compare_settings_matches_the_cli(trained):
    comparison = textgen.compare_settings(str(trained), samples=2, max_tokens=20, model_name=str(trained))
    assert isinstance(comparison, SettingsComparison)
    assert [row.name for row in comparison.rows] == [name for name, _ in comparison_grid()]
    expected = cli_json("diagnose", trained, "--compare-settings", "--samples", 2, "--max-tokens", 20, "--no-baseline",
                        "--quantize", "none", "--json")
    assert json.loads(json.dumps(comparison.to_dict())) == expected


def test_progress_and_notes_reach_the_caller(trained, tmp_path):
    counted, notes = [], []
    saved = tmp_path / "samples.txt"
    loaded = textgen.load(trained)
    report = textgen.diagnose(loaded, samples=70, max_tokens=5, on_story=counted.append, note=notes.append,
                              save_path=str(saved))
    assert counted == [64, 6]  # one call per batch of stories
    assert saved.is_file()
    assert report.metrics["stories"] == 70
    assert all(isinstance(note, str) for note in notes)


def test_empty_stories_are_left_out_of_a_saved_corpus(tmp_path):
    path = tmp_path / "s.txt"
    assert save_stories(path, ["Once upon a time.", "  ", "The end."]) == 1
    assert path.read_text() == "Once upon a time.\n<|endoftext|>\nThe end.\n<|endoftext|>\n"


def test_invented_words_are_checked_against_the_training_words_and_the_baseline_against_the_other_stories(trained):
    loaded = textgen.load(trained)
    corpus = loaded.metadata["corpus"]["path"]
    report = textgen.diagnose(loaded, stories=["Lily saw Zorblat. Zorblat ran to the qwizzle."], baseline=corpus)
    assert report.invented_words["training_text"] is True
    assert report.invented_words["checked_against"] == ["pyspellchecker's English word list", corpus]
    assert report.invented_words["examples"] == [{"word": "zorblat", "count": 2}, {"word": "qwizzle", "count": 1}]
    assert report.metrics["invented_per_1000_words"] == pytest.approx(1000 * 3 / 8)
    # the baseline is the training corpus: its stories are checked against each other, not against themselves
    assert {"invented_per_1000_words", "speech_aware_names_per_story", "names_per_story",
            "distinct_2", "distinct_3", "seq_rep_4", "immediate-repeat_per_1000_words"} <= report.baseline.keys()
    assert report.baseline["invented_per_1000_words"] >= 0.0


def test_without_the_training_corpus_the_recorded_words_then_the_word_list_alone_are_used(trained):
    loaded = textgen.load(trained)
    loaded.metadata["corpus"] = {**loaded.metadata["corpus"], "path": "moved.txt", "absolute_path": "/nowhere/moved.txt"}
    assert loaded.words  # textgen train recorded them
    story = "The cat sat. Hopper glorped."
    report = textgen.diagnose(loaded, stories=[story])
    assert report.invented_words["training_text"] is True
    assert report.invented_words["checked_against"] == ["pyspellchecker's English word list",
                                                        "moved.txt (the words textgen.json records)"]
    assert report.metrics["invented_per_1000_words"] == pytest.approx(1000 / 5)  # "glorped"; "Hopper" is recorded
    del loaded.metadata["words"]
    del loaded.__dict__["words"]  # the cached reading
    report = textgen.diagnose(loaded, stories=[story])
    assert report.invented_words["training_text"] is False
    assert report.invented_words["checked_against"] == ["pyspellchecker's English word list"]


def test_one_story_means_average_each_story_alone():
    from textgen.analysis.diagnosis import one_story_means

    first = "Tom saw a dog. The dog ran to Tom."  # 9 words, one name
    second = "One day Lily and Ben sat by the big red tree and sang a song."  # 15 words, two names
    means = one_story_means([first, second])
    assert means["stories"] == 2
    assert means["words"] == pytest.approx((9 + 15) / 2)
    assert means["names_per_story"] == pytest.approx((1 + 2) / 2)
    assert means["distinct_2"] == pytest.approx((1.0 + 1.0) / 2)  # no word pair twice within either story
    with pytest.raises(TextgenError, match="no story"):
        one_story_means([])


def test_the_story_reference_comes_from_the_tune_record_then_the_training_corpus_then_none(trained):
    from textgen.analysis.diagnosis import STORY_METRICS, story_reference

    loaded = textgen.load(trained)
    from_corpus = story_reference(loaded)
    assert from_corpus["source"].endswith("training stories (" + loaded.metadata["corpus"]["path"] + ")")
    assert set(from_corpus["metrics"]) == set(STORY_METRICS)
    record = {**{name: 1.5 for name in STORY_METRICS}, "stories": 7}
    loaded.metadata["sampling"] = {"settings": {}, "tune": {"valid": "valid.txt", "human_story": record}}
    from_tune = story_reference(loaded)
    assert from_tune["source"] == "7 validation stories (textgen tune: valid.txt)"
    assert from_tune["metrics"] == {name: 1.5 for name in STORY_METRICS}
    del loaded.metadata["sampling"]
    loaded.metadata["corpus"] = {**loaded.metadata["corpus"], "path": "moved.txt", "absolute_path": "/nowhere/moved.txt"}
    assert story_reference(loaded) is None
