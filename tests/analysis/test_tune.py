"""textgen/analysis/tune.py on its own: the rule on hand-made metric rows (which cell wins, the
fallback when none is within every band), the grid's checks, the validation stories' refusals,
the section written into textgen.json and the table's lines (the command: tests/cli/test_tune.py)."""

from __future__ import annotations

import pytest

from textgen.analysis.tune import Cell, Tuning, check_grid, choose, describe, excess, human_metrics
from textgen.errors import TextgenError

HUMAN = {"names": 2.0, "seq_rep_4": 0.04, "immediate": 1.0, "distinct_2": 0.5, "distinct_3": 0.8, "invented": 0.3}


def cell(temperature=1.0, min_p=0.0, cast_size=0, names=2.0, seq_rep_4=0.04, immediate=1.0, distinct_2=0.5,
         invented=5.0) -> Cell:
    return Cell(temperature, min_p, cast_size, names, seq_rep_4, immediate, distinct_2, 0.8, invented)


def test_among_the_cells_within_every_band_the_fewest_invented_words_win():
    rows = [cell(invented=9.0), cell(min_p=0.05, invented=2.0), cell(min_p=0.1, invented=2.0),
            cell(temperature=0.8, names=2.5, invented=0.1)]  # names 1.25x: outside the band, however few its inventions
    assert choose(rows, HUMAN) == (1, True)  # a tie goes to the cell listed first
    assert [row.qualifies for row in rows] == [True, True, True, False]
    assert rows[3].excess == pytest.approx((2.5 - 2.4) / 2.4)


@pytest.mark.parametrize(("change", "inside"), [
    ({"names": 2.4}, True), ({"names": 1.6}, True), ({"names": 2.41}, False), ({"names": 1.59}, False),
    ({"seq_rep_4": 0.06}, True), ({"seq_rep_4": 0.061}, False), ({"immediate": 1.5}, True), ({"immediate": 1.6}, False),
    ({"distinct_2": 0.45}, True), ({"distinct_2": 0.44}, False), ({"distinct_2": 0.9}, True),
])
def test_each_band_edge(change, inside):
    assert (excess(cell(**change), HUMAN) == 0) is inside


def test_a_human_value_of_about_zero_gets_an_absolute_floor():
    human = {**HUMAN, "names": 0.0, "seq_rep_4": 0.0, "immediate": 0.0}
    assert excess(cell(names=0.1, seq_rep_4=0.02, immediate=0.5), human) == 0
    assert excess(cell(names=0.2, seq_rep_4=0.0, immediate=0.0), human) > 0
    assert excess(cell(names=0.0, seq_rep_4=0.03, immediate=0.0), human) > 0
    assert excess(cell(names=0.0, seq_rep_4=0.0, immediate=0.6), human) > 0


def test_when_no_cell_qualifies_the_one_that_breaks_the_bands_least_wins_and_says_so():
    rows = [cell(names=4.0, invented=0.0),  # names 2x: far outside
            cell(min_p=0.1, seq_rep_4=0.07, invented=9.0),  # seq-rep-4 a sixth above its edge: least outside
            cell(min_p=0.05, distinct_2=0.3, invented=0.0)]
    assert choose(rows, HUMAN) == (1, False)
    assert not any(row.qualifies for row in rows)
    tuning = Tuning(valid="v.txt", valid_stories=3, human=HUMAN, samples=3, seed=0, max_tokens=20, rows=rows,
                    chosen=1, qualified=False)
    assert describe(tuning)[-1] == "no cell was within every band: the one that breaks them least was chosen"
    with pytest.raises(TextgenError, match="no cell"):
        choose([], HUMAN)


def test_the_section_keeps_the_models_other_settings_and_holds_the_whole_table():
    rows = [cell(), cell(temperature=0.9, min_p=0.05, cast_size=2, invented=1.0)]
    chosen, qualified = choose(rows, HUMAN)
    tuning = Tuning(valid="v.txt", valid_stories=3, human=HUMAN, samples=3, seed=0, max_tokens=20, rows=rows,
                    chosen=chosen, qualified=qualified)
    section = tuning.section({"settings": {"top_p": 0.9, "temperature": 0.5}, "cast_search": {"old": True}})
    assert section["settings"] == {"top_p": 0.9, "temperature": 0.9, "min_p": 0.05, "cast_size": 2}
    assert set(section) == {"settings", "tune"}  # an older cast-only search no longer describes the settings
    assert section["tune"]["chosen_settings"] == {"temperature": 0.9, "min_p": 0.05, "cast_size": 2}
    assert [row["invented"] for row in section["tune"]["rows"]] == [5.0, 1.0]
    assert section["tune"]["qualified"] is True and section["tune"]["rule"].startswith("qualify:")
    lines = describe(tuning)
    assert len(lines) == 3 + len(rows) + 1 and lines[2].split()[0] == "human"
    assert lines[4].split()[:3] == ["0.9", "0.05", "2"] and lines[4].endswith("<- chosen")
    assert sum("<- chosen" in line for line in lines) == 1


@pytest.mark.parametrize(("grid", "fragment"), [
    (((), (0.0,), (0,)), "--temperatures lists no value"),
    (((1.0, 1.0), (0.0,), (0,)), "--temperatures lists a value twice"),
    (((-0.5,), (0.0,), (0,)), "--temperatures: temperature -0.5 is outside"),
    (((101.0,), (0.0,), (0,)), "--temperatures: temperature 101 is outside"),
    (((1.0,), (1.0,), (0,)), "--min-ps: min-p 1 is outside [0, 1)"),
    (((1.0,), (-0.1,), (0,)), "--min-ps: min-p -0.1 is outside"),
    (((1.0,), (0.0,), (101,)), "--sizes must list whole numbers"),
    (((1.0,), (0.0,), (1, 1)), "lists a cast size twice"),
])
def test_grid_values_out_of_the_schemas_bounds_are_one_error(grid, fragment):
    with pytest.raises(TextgenError) as error:
        check_grid(*grid)
    assert fragment in str(error.value) and "\n" not in str(error.value)


def test_good_grids_pass():
    check_grid((1.0, 0.9, 0.8), (0.0, 0.05, 0.1), (0, 3, 2, 1))
    check_grid((0.0,), (0.5,), (100,))  # temperature 0: greedy


def test_human_metrics_measure_only_stories_long_enough(tmp_path):
    long = "Tom met Lily at the park and they played with a red ball until the sun went down over the hill. " * 2
    path = tmp_path / "valid.txt"
    path.write_text(f"{long}\n\nToo short.\n\n{long.replace('Tom', 'Ben')}\n")
    human, count, story = human_metrics(path, 10)
    assert count == 2
    assert human["names"] == pytest.approx(2.0)
    assert set(human) == {"names", "seq_rep_4", "immediate", "distinct_2", "distinct_3", "invented"}
    # one story on average: each story alone (two names each, 42 words each), not the two pooled
    assert story["stories"] == 2
    assert story["names_per_story"] == pytest.approx(2.0)
    assert story["words"] == pytest.approx(42.0)  # 21 words twice
    pooled_distinct = human["distinct_2"]
    assert story["distinct_2"] > pooled_distinct  # one story repeats less of itself than two alike ones pooled
    assert human_metrics(path, 1)[1] == 1
    short = tmp_path / "short.txt"
    short.write_text("Too short.\n\nAlso short.\n")
    with pytest.raises(TextgenError, match="no story in .* has 20 words or more"):
        human_metrics(short, 10)
