"""The learning-rate schedule: by steps, or by the elapsed share of a time budget."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from textgen.cli import cli
from textgen.model.config import DEFAULT_MAX_STEPS, TrainConfig
from textgen.errors import TextgenError
from textgen.training.schedule import lr_factor, time_bounded

TINY = ["--tokenizer-kind", "word", "--embed-dim", "8", "--hidden-size", "16", "--num-layers", "1", "--batch-size", "4",
        "--seq-len", "8", "--log-every", "1"]


def test_no_limit_means_the_default_steps_and_time_alone_means_no_steps():
    assert TrainConfig().max_steps == DEFAULT_MAX_STEPS and not time_bounded(TrainConfig())
    timed = TrainConfig(max_time=60.0)
    assert timed.max_steps is None and time_bounded(timed)
    both = TrainConfig(max_time=60.0, max_steps=500)
    assert not time_bounded(both)  # whichever comes first; the schedule follows the steps


def test_time_schedule_warms_up_then_decays_to_its_floor_when_the_budget_is_spent():
    config = TrainConfig(max_time=100.0, warmup_fraction=0.1, min_lr_ratio=0.05)
    assert lr_factor(0, config, 0.0) == pytest.approx(0.01)  # never exactly zero
    assert lr_factor(0, config, 5.0) == pytest.approx(0.5)
    assert lr_factor(10_000, config, 10.0) == pytest.approx(1.0)  # steps do not matter, time does
    assert lr_factor(3, config, 55.0) == pytest.approx(0.05 + 0.95 * 0.5)
    assert lr_factor(3, config, 100.0) == pytest.approx(0.05)
    assert lr_factor(3, config, 500.0) == pytest.approx(0.05)  # past the budget: the floor
    middle = [lr_factor(0, config, t) for t in range(10, 101, 10)]
    assert middle == sorted(middle, reverse=True)


def test_step_schedule_is_unchanged():
    config = TrainConfig(max_steps=200, warmup_steps=100, min_lr_ratio=0.1)
    assert lr_factor(0, config) == pytest.approx(0.01) and lr_factor(99, config) == pytest.approx(1.0)
    assert lr_factor(200, config, elapsed=1e9) == pytest.approx(0.1)  # time does not matter with steps


@pytest.mark.parametrize("value", [-0.1, 1.0, True, "x"])
def test_warmup_fraction_is_checked(value):
    with pytest.raises(TextgenError, match="warmup_fraction"):
        TrainConfig(max_time=10.0, warmup_fraction=value)


def read_lrs(out):
    rows = [line.split(",") for line in (out / "metrics.csv").read_text().splitlines()[1:]]
    return [(int(row[0]), float(row[3])) for row in rows if row[3]]


@pytest.mark.slow
def test_a_time_bounded_run_ends_at_the_bottom_of_its_schedule_and_resume_finishes_the_budget(tmp_path, corpus):
    out = tmp_path / "run"
    common = ["train", str(corpus), "--out", str(out), *TINY, "--cache-dir", str(tmp_path / "cache"), "--min-lr-ratio", "0.1",
              "--lr", "0.01", "--val-every", "1000000", "--json"]
    result = CliRunner().invoke(cli, [*common, "--max-time", "4s"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["steps"] > 20 and summary["seconds"] < 30
    lrs = read_lrs(out)
    assert lrs[-1][1] == pytest.approx(0.001, rel=0.15)  # the floor: 0.1 x 0.01
    assert max(lr for _, lr in lrs) > 0.008  # it did reach its peak on the way
    meta = json.loads((out / "textgen.json").read_text())
    assert meta["training"]["max_steps"] is None and meta["training"]["max_time"] == 4.0
    # the budget is the run's: a resume with the same budget has nothing left to do
    again = CliRunner().invoke(cli, [*common, "--resume", "--max-time", "4s"])
    assert again.exit_code == 2 and "whole --max-time budget" in again.stderr
    # a larger budget goes on from where the clock stood: the schedule rises again only to the share left
    longer = CliRunner().invoke(cli, [*common, "--resume", "--max-time", "8s"])
    assert longer.exit_code == 0, longer.output
    resumed = [lr for step, lr in read_lrs(out) if step > summary["steps"]]
    assert resumed and max(resumed) < 0.0075  # half the budget was spent: cos(pi/2) -> about the middle, not the peak
    assert resumed[-1] == pytest.approx(0.001, rel=0.15)


def test_the_run_prints_its_limit(tmp_path, corpus):
    result = CliRunner().invoke(cli, ["train", str(corpus), "--out", str(tmp_path / "run"), *TINY, "--max-steps", "3",
                                      "--max-time", "1h", "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 0, result.output
    assert "limit: whichever comes first of 3 steps, 3600s in this invocation" in result.stderr
