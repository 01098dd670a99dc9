"""textgen/training/fit.py directly: the Trainer settings a config gives, and the run log that
metrics.csv and loss.png are drawn from."""

from __future__ import annotations

import datetime

from textgen.config import TrainConfig
from textgen.training.fit import COLUMNS, RunLog, trainer_arguments, write_run_files


def test_a_time_bounded_run_stops_by_its_own_clock_and_a_step_bounded_one_by_lightnings():
    by_time = trainer_arguments(TrainConfig(max_time=300.0))
    assert by_time["max_time"] is None and by_time["max_steps"] == -1 and by_time["max_epochs"] == -1
    both = trainer_arguments(TrainConfig(max_time=300.0, max_steps=50))
    assert both["max_time"] == datetime.timedelta(seconds=300) and both["max_steps"] == 50  # whichever comes first
    steps = trainer_arguments(TrainConfig(max_steps=50, grad_clip=0.0))
    assert steps["max_time"] is None and steps["gradient_clip_val"] is None
    assert steps["logger"] is False and steps["enable_checkpointing"] is False and steps["limit_val_batches"] == 0


def test_the_run_log_writes_csv_and_seeds_from_an_older_run_up_to_a_step(tmp_path):
    log = RunLog([{"step": 10, "loss": 3.0, "lr": 0.01}, {"step": 20, "loss": 2.5, "val_loss": 2.7, "ignored": 1}])
    text = log.csv_text()
    assert text.splitlines()[0] == ",".join(COLUMNS) and "ignored" not in text
    path = tmp_path / "metrics.csv"
    path.write_text(text)
    older = RunLog()
    older.seed(path, up_to=15)
    assert older.rows == [{"step": 10, "loss": 3.0, "lr": 0.01}]
    older.seed(tmp_path / "missing.csv", up_to=15)
    assert older.rows == []
    write_run_files(tmp_path, log)
    assert (tmp_path / "metrics.csv").read_bytes() == text.encode() and (tmp_path / "loss.png").read_bytes().startswith(b"\x89PNG")
