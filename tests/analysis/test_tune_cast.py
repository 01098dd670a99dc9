"""textgen/analysis/tune_cast.py on its own: the size checks, the choice's section of textgen.json, the
terminal lines, and the validation stories' names (the command end to end: tests/sampling/test_model_defaults.py)."""

from __future__ import annotations

import pytest

from textgen.analysis import tune_cast as module
from textgen.analysis.tune_cast import CastRow, CastTuning, check_sizes, describe, validation_names
from textgen.errors import TextgenError
from textgen.sampling.schema import MAX_CAST_SIZE


def tuning() -> CastTuning:
    rows = [CastRow(0, 3.0, 1.0, 1.5), CastRow(3, 2.1, 0.4, 1.05), CastRow(1, 1.0, 0.0, 0.5)]
    return CastTuning(valid="valid.txt", valid_stories=12, human_names_per_story=2.0, samples=6, seed=0, max_tokens=30,
                      rows=rows, chosen=3)


@pytest.mark.parametrize("sizes", [(0,), (0, 3, 2, 1), (MAX_CAST_SIZE,)])
def test_good_sizes_pass(sizes):
    check_sizes(sizes)


@pytest.mark.parametrize(("sizes", "fragment"), [
    ((), "got none"), ((-1,), "got -1"), ((MAX_CAST_SIZE + 1,), f"got {MAX_CAST_SIZE + 1}"), ((True,), "got True"),
    ((1.5,), "got 1.5"), ((2, 2), "lists a cast size twice (2, 2)"),
])
def test_bad_sizes_are_one_error_naming_them(sizes, fragment):
    with pytest.raises(TextgenError) as error:
        check_sizes(sizes)
    assert fragment in str(error.value) and "\n" not in str(error.value)


def test_the_section_keeps_the_models_other_settings_and_records_the_search():
    search = tuning()
    assert search.best.cast_size == 3 and search.best.ratio == 1.05
    section = search.section({"settings": {"temperature": 0.5, "cast_size": 1}, "cast_search": {"old": True}})
    assert section == {"settings": {"temperature": 0.5, "cast_size": 3}, "cast_search": search.to_dict()}
    assert search.section(None) == {"settings": {"cast_size": 3}, "cast_search": search.to_dict()}
    assert search.to_dict()["rows"][1] == {"cast_size": 3, "names_per_story": 2.1, "late_names_per_story": 0.4,
                                           "ratio": 1.05}


def test_describe_shows_one_row_per_size_and_marks_the_choice():
    lines = describe(tuning())
    assert lines[0] == "validation stories: 2.000 names per story (12 stories, valid.txt)"
    assert len(lines) == 2 + 3
    assert lines[1].split() == ["cast", "size", "names/story", "x", "validation", "late", "names"]
    assert lines[2].split() == ["0", "(no", "limit)", "3.000", "1.50x", "1.000"]
    assert lines[3].split() == ["3", "2.100", "1.05x", "0.400", "<-", "chosen"]
    assert sum("<- chosen" in line for line in lines) == 1


def test_validation_names_counts_the_first_stories_only(tmp_path, monkeypatch):
    path = tmp_path / "valid.txt"
    path.write_text("Tom met Lily at the park. Lily waved to Tom.\n\nOne day Mia saw Ben. Mia smiled at Ben.\n\n"
                    "The cat saw Sam in the yard.\n")
    names, count = validation_names(path)
    assert (names, count) == (pytest.approx(5 / 3), 3)  # 2, 2 and 1 names
    monkeypatch.setattr(module, "MAX_VALID_STORIES", 2)
    assert validation_names(path) == (pytest.approx(2.0), 2)


def test_stories_that_name_no_one_are_refused(tmp_path):
    path = tmp_path / "nameless.txt"
    path.write_text("the cat sat on the mat.\n\nthe dog ran.\n")
    with pytest.raises(TextgenError, match="name no characters"):
        validation_names(path)
