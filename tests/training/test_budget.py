"""--max-time bounds the whole command (textgen/training/budget.py): the budget's plan, the clock it
starts from, the schedule over it, the neural cache's search scaled to what is left and what a time-bounded
run records."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from click.testing import CliRunner

import textgen.model.neural_cache as neural_cache
from textgen.cli import cli
from textgen.model.config import TrainConfig
from textgen.training.budget import (CACHE_FLOOR, CACHE_PER_VALIDATION, CACHE_SHARE, EXIT_SECONDS, EXIT_SHARE,
                                     FINISH_MARGIN, FINISH_SHARE, Budget, command_started, process_started)
from textgen.training.schedule import lr_factor


def test_the_plan_keeps_time_for_the_last_save_and_the_cache():
    budget = Budget.plan(100.0, started=1_000.0, cache_search=True, spent_before=20.0)
    assert budget.deadline == 1_100.0 - EXIT_SECONDS and budget.spent_before == 20.0  # the process's exit comes after
    assert budget.training_until() == pytest.approx(budget.deadline - (FINISH_SHARE + CACHE_SHARE) * 100)
    assert Budget.plan(100.0, 1_000.0, cache_search=False).training_until() == pytest.approx(budget.deadline - FINISH_SHARE * 100)
    assert Budget.plan(10.0, 0.0, cache_search=False).deadline == pytest.approx(10.0 - EXIT_SHARE * 10)  # a short budget
    budget.timed_checkpoint(2.0)
    budget.timed_checkpoint(1.0)  # the slowest so far is kept
    assert budget.finish == pytest.approx(FINISH_MARGIN * 2.0)
    assert budget.left(now=1_089.0) == pytest.approx(10.0)


def test_the_cache_search_is_planned_from_the_timed_validations():
    """Until a validation is timed the search keeps its share of the budget; then at most CACHE_PER_VALIDATION times
    the slowest validation: a long budget gives the rest back to training, a short one keeps its share."""
    long = Budget.plan(1_200.0, started=0.0, cache_search=True)
    before = long.training_until()
    assert long.cache == pytest.approx(CACHE_SHARE * 1_200)
    given = long.timed_validation(1.5)
    assert long.cache == pytest.approx(CACHE_PER_VALIDATION * 1.5 + CACHE_FLOOR) and given == pytest.approx(60 - long.cache)
    assert long.training_until() == pytest.approx(before + given)
    assert long.timed_validation(0.5) == 0.0 and long.cache == pytest.approx(CACHE_PER_VALIDATION * 1.5 + CACHE_FLOOR)
    assert long.timed_validation(2.0) == 0.0 and long.cache == pytest.approx(CACHE_PER_VALIDATION * 1.5 + CACHE_FLOOR)
    short = Budget.plan(300.0, started=0.0, cache_search=True)
    assert short.timed_validation(1.0) == 0.0 and short.cache == pytest.approx(CACHE_SHARE * 300)  # its share is less
    none = Budget.plan(1_200.0, started=0.0, cache_search=False)
    assert none.timed_validation(1.0) == 0.0 and none.cache == 0.0


def test_the_clock_starts_with_the_process_or_the_command():
    now = time.perf_counter()
    assert now - 60.0 <= process_started() <= now
    assert command_started() >= now  # no console entry point marked this process: a command counts from its call


def test_the_schedule_spans_the_planned_seconds():
    config = TrainConfig(max_time=100.0, warmup_fraction=0.0, min_lr_ratio=0.0)
    assert lr_factor(0, config, 50.0) == pytest.approx(0.5)  # the middle of --max-time
    assert lr_factor(0, config, 50.0, span=50.0) == pytest.approx(0.0)  # the end of what the budget plans for training


@pytest.fixture
def fake_search(monkeypatch):
    """The cache search on a fake clock: each token searched takes a millisecond."""
    clock = {"now": 0.0}
    searched: list[int] = []

    def search(model, array, streams, seq_len, device):
        searched.append(len(array))
        clock["now"] += len(array) / 1000
        return None, {"tokens": len(array), "chosen": None}

    monkeypatch.setattr(neural_cache, "_search", search)
    monkeypatch.setattr(neural_cache.time, "perf_counter", lambda: clock["now"])
    return searched


def test_the_cache_search_scales_to_the_time_left(fake_search):
    array = np.zeros(20_000, dtype=np.int64)
    settings, record = neural_cache.tune_cache(None, array, seconds=20.0)
    probe = neural_cache.PROBE_TOKENS
    fits = int(neural_cache.PROBE_MARGIN * (20.0 - probe / 1000) / (probe / 1000) * probe)
    assert probe < fits < 20_000
    assert fake_search == [probe, fits] and record["limited_by_time"] is True and settings is None
    fake_search.clear()
    _, record = neural_cache.tune_cache(None, array, seconds=5.0)  # the probe alone fits: its result is the choice
    assert fake_search == [probe] and record["limited_by_time"] is True
    fake_search.clear()
    _, record = neural_cache.tune_cache(None, array, seconds=1_000.0)  # time enough for every token
    assert fake_search == [probe, 20_000] and record["limited_by_time"] is False
    fake_search.clear()
    _, record = neural_cache.tune_cache(None, array, seconds=0.5)
    assert fake_search == [] and "skipped" in record and record["chosen"] is None
    fake_search.clear()
    neural_cache.tune_cache(None, array)  # no budget: the whole array at once
    assert fake_search == [20_000]


def test_a_time_bounded_run_reports_its_whole_time_and_records_the_budget_spent(tmp_path, corpus):
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["train", str(corpus), "--out", str(out), "--hidden-size", "16", "--embed-dim", "16",
                                      "--vocab-size", "400", "--seq-len", "16", "--batch-size", "4", "--max-time", "6s",
                                      "--cache-dir", str(tmp_path / "cache"), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["budget_seconds"] == 6.0 and summary["wall_seconds"] >= summary["seconds"] > 0
    assert "threads: " in result.stderr and "the whole command" in result.stderr
    meta = json.loads((out / "textgen.json").read_text())
    assert meta["time_spent"] == 6.0  # it ran to its end: its whole share is spent
    assert "search" in meta["cache"]
    # the format was timed on this CPU, and the tiny corpus read hundreds of times gets the largest dropouts
    assert summary["precision"] in ("32", "bf16-mixed") and meta["precision"] == summary["precision"]
    assert meta["training"]["precision"] == "auto"
    assert "precision: " in result.stderr and "ms in float32 on this CPU" in result.stderr
    assert "dropouts: " in result.stderr


def test_a_run_that_plans_many_epochs_trains_with_larger_dropouts(tmp_path, corpus, monkeypatch):
    from textgen.training import run

    # a timed step of 10 microseconds: thousands of planned epochs, so the largest multiple
    monkeypatch.setattr(run, "choose_precision", lambda config, probe: ("32", "a step took 0 ms", 1e-5))
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["train", str(corpus), "--out", str(out), "--hidden-size", "16", "--embed-dim", "16",
                                      "--vocab-size", "400", "--seq-len", "16", "--batch-size", "4", "--max-time", "3s",
                                      "--cache-dir", str(tmp_path / "cache"), "--json"])
    assert result.exit_code == 0, result.output
    assert "dropouts: x 2.50 = 0.125, 0.25, 0.25, 0.25, 0.25 (embed, input, hidden, output, weight drop)" in result.stderr
    model = json.loads((out / "textgen.json").read_text())["model"]
    assert (model["embed_dropout"], model["input_dropout"], model["output_dropout"], model["weight_drop"]) == (
        0.125, 0.25, 0.25, 0.25)


def test_dropouts_given_are_kept_whatever_the_planned_epochs(tmp_path, corpus):
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["train", str(corpus), "--out", str(out), "--hidden-size", "16", "--embed-dim", "16",
                                      "--vocab-size", "400", "--seq-len", "16", "--batch-size", "4", "--max-time", "3s",
                                      "--input-dropout", "0.3", "--precision", "32", "--cache-dir", str(tmp_path / "cache"),
                                      "--json"])
    assert result.exit_code == 0, result.output
    model = json.loads((out / "textgen.json").read_text())["model"]
    assert (model["input_dropout"], model["output_dropout"], model["weight_drop"]) == (0.3, 0.1, 0.1)
    assert "dropouts: " not in result.stderr and "precision: 32 (as given" in result.stderr
    assert json.loads(result.stdout)["precision"] == "32"
