"""textgen/training/fit.py: the Trainer settings a config gives, the run log that metrics.csv and
loss.png are drawn from, and what a failed save says and leaves behind."""

from __future__ import annotations

import datetime
import errno
import json
import os
import resource
import shutil
import signal
import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner
from tests.conftest import ONE_THREAD, REPO, one_line_error, textgen_process

from textgen.cli import cli
from textgen.model.config import TrainConfig
from textgen.training.fit import COLUMNS, RunLog, remove_partial_files, trainer_arguments, write_run_files
from textgen.training.task import LanguageModelTask


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


# --- what a failed save says and leaves ------------------------------------------------------

TINY = ["--tokenizer-kind", "word", "--embed-dim", "8", "--hidden-size", "16", "--num-layers", "1", "--batch-size", "4",
        "--seq-len", "8", "--log-every", "4", "--val-every", "4"]


def train(corpus, out, *extra):
    return CliRunner().invoke(cli, ["train", str(corpus), "--out", str(out), *TINY, "--cache-dir", str(out.parent / "cache"),
                                    *map(str, extra)])


def fail_first_checkpoint_write(monkeypatch) -> None:
    """The first checkpoint write fails as on a full disk, after part of the file is written."""
    real = torch.save

    def save(obj, file, *args, **kwargs):
        if isinstance(obj, dict) and "pytorch-lightning_version" in obj:
            file.write(b"\0" * 4096)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(obj, file, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)


def test_a_run_folder_deleted_mid_run_is_said_so_and_not_made_again(tmp_path, corpus, monkeypatch):
    out = tmp_path / "run"
    real_validate = LanguageModelTask.validate

    def validate(task):
        if task.global_step == 8:
            shutil.rmtree(out)  # someone deletes the run while it trains
        return real_validate(task)

    monkeypatch.setattr(LanguageModelTask, "validate", validate)
    result = train(corpus, out, "--max-steps", 12)
    one_line_error(result, f"the run folder {out} was deleted (or replaced) while training: step 8 was not saved, and "
                           "nothing of the run is left to resume; train again without --resume")
    assert "continue with --resume" not in result.stderr
    assert not out.exists()  # no half run made again by the save


def test_a_first_save_that_fails_says_nothing_was_saved_and_leaves_nothing(tmp_path, corpus, monkeypatch):
    out = tmp_path / "run"
    fail_first_checkpoint_write(monkeypatch)
    result = train(corpus, out, "--max-steps", 12)
    one_line_error(result, f"could not save step 4 in {out} (No space left on device): nothing was saved, so there is "
                           "nothing to resume; free space, then train again")
    assert "--resume" not in result.stderr
    assert not out.exists()


def test_a_failed_first_save_in_a_folder_with_other_files_removes_only_the_runs_own(tmp_path, corpus, monkeypatch):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    fail_first_checkpoint_write(monkeypatch)
    one_line_error(train(corpus, out, "--max-steps", 12), "nothing was saved, so there is nothing to resume")
    assert sorted(path.name for path in out.rglob("*")) == ["notes.txt"]
    monkeypatch.undo()
    assert train(corpus, out, "--max-steps", 4).exit_code == 0  # "train again" works as said, without --overwrite


def test_a_failed_first_save_of_an_overwrite_keeps_the_previous_run(tmp_path, corpus, monkeypatch):
    out = tmp_path / "run"
    assert train(corpus, out, "--max-steps", 4).exit_code == 0
    before = {path.name: path.read_bytes() for path in out.rglob("*") if path.is_file()}
    fail_first_checkpoint_write(monkeypatch)
    one_line_error(train(corpus, out, "--max-steps", 12, "--overwrite"),
                   f"nothing of the new run was saved and the previous run in {out} is as it was; free space, then "
                   "train again with --overwrite")
    assert {path.name: path.read_bytes() for path in out.rglob("*") if path.is_file()} == before


def test_partial_files_of_a_killed_save_are_removed_when_the_run_starts_again(tmp_path, corpus):
    out = tmp_path / "run"
    assert train(corpus, out, "--max-steps", 4).exit_code == 0
    leftovers = [out / "lightning" / ".last.ckpt.4242.tmp", out / "lightning" / ".best.ckpt.4242.tmp",
                 out / ".metrics.csv.x1y2.tmp", out / ".model.safetensors.ab12.tmp"]
    for path in leftovers:
        path.write_bytes(b"half")
    mine = [out / ".notes.txt.tmp", out / "lightning" / ".draft.tmp"]
    for path in mine:
        path.write_text("mine")
    result = train(corpus, out, "--max-steps", 8, "--resume")
    assert result.exit_code == 0, result.output
    assert "removed 4 unfinished temporary files of an interrupted save" in result.stderr
    assert [path.exists() for path in leftovers] == [False] * 4
    assert [path.exists() for path in mine] == [True, True]  # a user's files are never touched
    assert remove_partial_files(out) == []


def test_a_real_write_error_at_the_first_save_is_one_line(tmp_path, corpus):
    """A file-size limit (RLIMIT_FSIZE, no root needed) makes the first checkpoint write fail for real:
    torch.save's zip writer reports that as a RuntimeError, which must still become the one line."""
    out = tmp_path / "run"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))  # the checkpoint is about 100 KB
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    result = subprocess.run(textgen_process("train", str(corpus), "--out", str(out), *TINY, "--max-steps", "12",
                                            "--cache-dir", str(tmp_path / "cache")),
                            cwd=REPO, capture_output=True, text=True, timeout=300, env=ONE_THREAD, preexec_fn=limit)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: could not save step 4 in {out} (File too large): nothing was saved, so there is nothing "
                      "to resume; raise the file-size limit (ulimit -f), then train again"], result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


# --- signals outside the training loop --------------------------------------------------------

def send_self(signum: int) -> None:
    """The signal as from outside, raised where the handler runs: here or at the next line."""
    os.kill(os.getpid(), signum)
    for _ in range(1000):
        pass


def test_ctrl_c_while_lightning_sets_up_is_130_and_leaves_no_folder(tmp_path, corpus, monkeypatch):
    """Lightning ends a Ctrl-C that lands in its set-up with sys.exit(1), leaving SIGINT ignored: the
    run says "interrupted", exits 130, leaves no folder it made and gives Ctrl-C back."""
    out = tmp_path / "run"
    monkeypatch.setattr(LanguageModelTask, "setup", lambda task, stage: send_self(signal.SIGINT))
    before = signal.getsignal(signal.SIGINT)
    result = train(corpus, out, "--max-steps", 8)
    assert (result.exit_code, result.stderr.splitlines()[-1]) == (130, "interrupted"), result.output
    assert "Traceback" not in result.output and not out.exists()
    assert signal.getsignal(signal.SIGINT) is before


def test_a_signal_while_the_cache_is_tuned_keeps_the_model_and_says_so(tmp_path, corpus, monkeypatch):
    """The neural cache is tuned after training: a signal there stops the tuning (the model is saved,
    its cache off) with a note and the signal's exit code, not a process killed at once."""
    import textgen.model.neural_cache

    out = tmp_path / "run"
    monkeypatch.setattr(textgen.model.neural_cache, "tune_cache", lambda *args, **kwargs: send_self(signal.SIGINT))
    result = train(corpus, out, "--max-steps", 8, "--json")
    assert result.exit_code == 130, result.output
    assert "note: SIGINT stopped the choice of the neural cache's settings, so this model's cache is off unless asked for " \
           "(--cache); the model itself is saved" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("interrupted by SIGINT at step 8: checkpoint saved")
    meta = json.loads((out / "textgen.json").read_text())
    assert meta["status"] == "trained" and "cache" not in meta


def test_a_signal_as_training_ends_skips_the_cache_tuning(tmp_path, corpus, monkeypatch):
    """A signal in the last step used to print "received SIGINT: saving..." and then tune the cache
    anyway and exit 0: the tuning is skipped with a note and the exit code is the signal's."""
    from textgen.training.fit import RunCallback

    out = tmp_path / "run"
    real = RunCallback.on_train_end

    def on_train_end(callback, trainer, task):
        send_self(signal.SIGINT)  # noted, as in the loop: the last save goes on
        real(callback, trainer, task)

    monkeypatch.setattr(RunCallback, "on_train_end", on_train_end)
    result = train(corpus, out, "--max-steps", 8)
    assert result.exit_code == 130, result.output
    assert "neural cache:" not in result.stderr and "note: SIGINT came as training ended: the neural cache's settings " \
           "were not chosen" in result.stderr
    meta = json.loads((out / "textgen.json").read_text())
    assert meta["status"] == "trained" and meta["metrics"]["step"] == 8 and "cache" not in meta


TUNING_STOPPED = """
import os, signal, sys
import textgen.model.neural_cache
sent = getattr(signal, sys.argv.pop(1))

def tune_cache(*args, **kwargs):
    os.kill(os.getpid(), sent)
    for _ in range(1000):
        pass

textgen.model.neural_cache.tune_cache = tune_cache
from textgen.cli import main
main()
"""


@pytest.mark.parametrize(("sent", "code"), [("SIGTERM", 143), ("SIGHUP", 129)])
def test_sigterm_or_sighup_while_the_cache_is_tuned_is_a_note_and_its_exit_code(tmp_path, corpus, sent, code):
    """SIGTERM or SIGHUP during the tuning killed the process at once (-15, no line), textgen.json saying
    "trained" with no cache settings and nothing said about it."""
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-c", TUNING_STOPPED, sent, "train", str(corpus), "--out", str(out), *TINY,
                           "--max-steps", "8", "--cache-dir", str(tmp_path / "cache")],
                          cwd=REPO, capture_output=True, text=True, timeout=300, env=ONE_THREAD,
                          preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))
    assert done.returncode == code, done.stderr
    assert f"note: {sent} stopped the choice of the neural cache's settings" in done.stderr
    assert done.stderr.splitlines()[-1].startswith(f"interrupted by {sent} at step 8: checkpoint saved")
    assert json.loads((out / "textgen.json").read_text())["status"] == "trained"
