"""Trainer setup: the DataModule, the callback that validates, checkpoints and exports, signal
handling (Ctrl-C -> 130, SIGTERM -> 143, after saving a resumable checkpoint), and fit().
What several processes must decide together lives in training/coordination.py."""

from __future__ import annotations

import contextlib
import csv
import datetime
import errno
import io
import logging
import math
import os
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader

from textgen.modeldir.atomic import atomic_open
from textgen.model.config import DEFAULT_VAL_EVERY, VALIDATIONS_PER_BUDGET, TrainConfig
from textgen.data.token_arrays import BatchPlan, TokenArray, TrainBatches, check_batch_plan
from textgen.errors import TextgenError
from textgen.modeldir.layout import ModelDirectory
from textgen.modeldir.names import BEST_CHECKPOINT as BEST
from textgen.modeldir.names import LAST_CHECKPOINT as LAST
from textgen.modeldir.names import LIGHTNING_DIR
from textgen.training.checkpoint_file import CheckpointCapture, reason, remedy, remove_partial_files, write_checkpoint
from textgen import signals
from textgen.training.coordination import (EXIT_CODES, RankStopped, RunFault, SignalWatch, StepDecision, Team, agree,
                                          from_first, how_it_ended, launcher_gone, patient_setup)
from textgen.training.schedule import time_bounded
from textgen.training.task import RunTask



class StepDataModule(L.LightningDataModule):
    """A DataModule whose dataset (with `per_epoch` batches) resumes where the step counter says."""

    dataset = None

    def position(self) -> tuple[int, int]:
        """(epoch, first batch) of the next pass: one batch per optimizer step, so the step says where."""
        step = self.trainer.global_step
        per_epoch = self.dataset.per_epoch if self.dataset else 1
        return step // per_epoch, step % per_epoch


class CorpusDataModule(StepDataModule):
    """Training batches from a cached token array; each process takes its share, resumable mid-epoch."""

    def __init__(self, train: TokenArray, config: TrainConfig):
        super().__init__()
        self.train, self.config = train, config
        self.dataset: TrainBatches | None = None

    def plan(self, rank: int = 0, world_size: int = 1) -> BatchPlan:
        config = self.config
        return BatchPlan(config.batching, config.batch_size, config.seq_len, rank, world_size, config.seed)

    def train_dataloader(self) -> DataLoader:
        plan = self.plan(self.trainer.global_rank, self.trainer.world_size)
        check_batch_plan(plan, self.train.tokens)
        self.dataset = TrainBatches(plan, self.train, self.position)
        return DataLoader(self.dataset, batch_size=None, num_workers=0)


TRAIN_COLUMNS = ["step", "epoch", "loss", "lr", "tokens_per_s"]
COLUMNS = TRAIN_COLUMNS + ["val_loss", "val_perplexity", "val_bits_per_byte"]  # a language model's


@dataclass
class RunLog:
    """Metric rows for metrics.csv and loss.png, the whole run's (earlier invocations too): they are
    saved in every checkpoint, so a resumed run's curve goes back to its first step."""

    rows: list[dict] = field(default_factory=list)
    columns: list[str] = field(default_factory=lambda: list(COLUMNS))

    def csv_text(self) -> str:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(self.rows)
        return buffer.getvalue()

    def seed(self, path: Path, up_to: int) -> None:
        """Rows from an existing metrics.csv up to a checkpoint's step (for checkpoints saved before
        the rows were kept in them; a checkpoint's own rows replace these when it loads)."""
        try:
            with open(path, newline="") as file:
                self.rows = [{key: _number(value) for key, value in row.items() if key in self.columns and value not in ("", None)}
                             for row in csv.DictReader(file) if row.get("step", "").isdigit() and int(row["step"]) <= up_to]
        except (OSError, csv.Error, ValueError):
            self.rows = []


def _number(text: str):
    return int(text) if text.lstrip("-").isdigit() else float(text)


class RunCallback(L.Callback):
    """At each validation point and at the end: validate, log, save last/best checkpoints atomically,
    export the model directory and write metrics.csv; on SIGINT/SIGTERM do the same, then stop.
    Nothing is written for a step that was not checkpointed, and a write that fails (a full disk)
    stops the run with one clear error naming what is kept.

    With several processes every decision that a clock, a signal or a write takes is the first
    process's, shared with the others (training/coordination.py), so they always make the same
    collective calls in the same order; only the first process writes files."""

    def __init__(self, paths, export: Callable[[RunTask, dict, str], None], report: Callable[[str], None],
                 log: RunLog, capture: CheckpointCapture | None = None):
        self.paths, self.export, self.report, self.run_log = paths, export, report, log
        self.capture = capture or CheckpointCapture()
        self.watch = SignalWatch(report, self.stop_now, self.stop_others)
        self.team: Team | None = None  # the other processes, where textgen started them
        self.stop_signal: int | None = None  # the signal that ended the run, as every process agreed
        self.decision: StepDecision | None = None  # this step's, agreed before its backward pass
        self.trainer = None
        self.best = float("inf")
        self.started = time.perf_counter()
        self.last_saved_step: int | None = None  # the step lightning/last.ckpt holds
        self.best_step: int | None = None  # the step whose weights the model directory holds
        self.exported_step: int | None = None  # the step last exported into the model directory by this invocation
        self.next_save_seconds = 0.0
        self.folder_identity: tuple[int, int] | None = None

    # the metric rows travel in the checkpoint ------------------------------------------------
    def state_dict(self) -> dict:
        return {"rows": list(self.run_log.rows)}

    def load_state_dict(self, state_dict: dict) -> None:
        if isinstance(state_dict.get("rows"), list):
            self.run_log.rows = list(state_dict["rows"])

    # start and signals ----------------------------------------------------------------------
    def on_train_start(self, trainer, pl_module) -> None:
        self.trainer = trainer
        self.watch.training()  # in every process: Lightning's own SIGTERM handler would call a collective from inside itself
        self.best = min(pl_module.val_history, default=float("inf"))
        self.last_saved_step = trainer.global_step if trainer.global_step else None  # a resume starts from a saved step
        budget = getattr(pl_module, "budget", None)
        if budget is not None:  # the schedule spans what the command's budget leaves for training (every process alike)
            left = budget.training_until() - time.perf_counter()
            offset = max(0.0, budget.spent_before - pl_module.seconds_before)
            pl_module.schedule_offset, pl_module.planned_seconds = from_first(
                trainer, (offset, pl_module.seconds_before + offset + max(1.0, left)))
        with contextlib.suppress(OSError):
            status = os.stat(self.paths.folder)
            self.folder_identity = (status.st_dev, status.st_ino)

    def teardown(self, trainer, pl_module, stage: str) -> None:
        self.watch.finished()  # fit() gives the signals back when Lightning is done

    def stop_others(self, signum: int) -> None:
        """A signal while the run starts (from the signal watcher's thread): the other processes have
        nothing to save; stopping them releases a main thread that waits for them in a collective call."""
        if self.team is not None:
            self.team.kill()

    def stop_now(self, signum: int) -> None:
        """A second signal (called from the signal watcher's thread): leave at once. A write in progress
        loses its temporary file; every file it would have replaced is whole, the last checkpoint kept."""
        self.report("second signal: stopping at once (the last saved checkpoint is kept)")
        for folder in {self.paths.current, self.paths.folder}:
            remove_partial_files(folder)
        if self.team is not None:
            self.team.kill()
        os._exit(EXIT_CODES.get(signum, 130))

    # steps ----------------------------------------------------------------------------------
    def on_before_backward(self, trainer, pl_module, loss) -> None:
        """Agree on what happens after this step, before its backward pass (one all-reduce with several
        processes): a spent budget, a checkpoint due by the clock, a signal, a loss that is not finite."""
        config = pl_module.train_config
        seconds = pl_module.train_seconds()
        timed = time_bounded(config)
        budget = getattr(pl_module, "budget", None)
        time_up = timed and (seconds + pl_module.schedule_offset >= pl_module.schedule_seconds()
                             or (budget is not None and time.perf_counter() >= budget.training_until()))
        self.decision = agree(trainer, seconds, time_up,
                              timed and config.val_every is None and seconds >= self.next_save_seconds,
                              self.watch.received, pl_module.failed_loss is not None)
        pl_module.agreed_seconds = self.decision.seconds  # the learning-rate schedule follows the first process's clock
        if self.decision.loss_failed:
            raise pl_module.loss_failure(pl_module.failed_loss)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        config = pl_module.train_config
        step = trainer.global_step
        decision, self.decision = self.decision, None
        if decision is None:  # a step without a backward pass (none in textgen's tasks): agree now
            self.on_before_backward(trainer, pl_module, None)
            decision, self.decision = self.decision, None
        if step % config.log_every == 0:
            self.run_log.rows.append({"step": step, "epoch": trainer.current_epoch,
                                      "loss": round(pl_module.last_loss, 5),
                                      "lr": trainer.optimizers[0].param_groups[0]["lr"],
                                      "tokens_per_s": round(pl_module.tokens_per_second, 1)})
        if decision.time_up:
            trainer.should_stop = True  # the budget is spent: the schedule has reached its floor
        if self.due(step, config, decision):
            self.checkpoint(trainer, pl_module, status="training")
        if decision.signal is not None:
            self.stop_signal = decision.signal
            if self.last_saved_step != step:
                self.checkpoint(trainer, pl_module, status="interrupted")
            else:  # the signal came right after a save: only the status changes
                self.first_writes(trainer, lambda: self.mark_status("interrupted"), self.status_failure)
            trainer.should_stop = True

    @staticmethod
    def due(step: int, config: TrainConfig, decision: StepDecision) -> bool:
        """Time to validate and save: every --val-every steps, or by default every 200 steps, or
        every sixth of the budget when time bounds the run (validation time is budget time)."""
        if config.val_every is not None:
            return step % config.val_every == 0
        if time_bounded(config):
            return decision.save_due
        return step % DEFAULT_VAL_EVERY == 0

    def on_train_end(self, trainer, pl_module) -> None:
        if self.stop_signal is not None:
            return
        if self.last_saved_step != trainer.global_step:
            self.checkpoint(trainer, pl_module, status="trained", show=False)  # Lightning allows no self.log() here
        else:
            self.first_writes(trainer, lambda: self.mark_status("trained"), self.status_failure)

    # saving ----------------------------------------------------------------------------------
    def mark_status(self, status: str) -> None:
        """The run ended (at its limit, or by a signal) right after a checkpoint: only the status changes."""
        if not self.folder_intact():
            raise FileNotFoundError(errno.ENOENT, "the run folder was deleted")
        ModelDirectory(self.paths.current).update_metadata(status=status)

    def status_failure(self, error: BaseException) -> str:
        if not self.folder_intact():
            return self.folder_gone(self.last_saved_step)
        return (f"could not update {ModelDirectory(self.paths.current).metadata_path} ({reason(error)}); the model directory "
                "and lightning/last.ckpt are whole, only its status says \"training\"")

    def checkpoint(self, trainer, pl_module: RunTask, status: str, show: bool = True) -> None:
        """Validate, log, save last (and best) atomically, export the model directory, write the
        curves. Weights or a validation loss that are not finite are never saved: the last good
        checkpoint stays."""
        from textgen.training.task import NonFiniteLoss

        began = time.perf_counter()
        metrics = pl_module.validate()  # the first process's numbers, in every process
        validated = time.perf_counter() - began
        step = trainer.global_step
        config = pl_module.train_config
        if time_bounded(config):
            self.next_save_seconds = pl_module.train_seconds() + pl_module.schedule_seconds() / VALIDATIONS_PER_BUDGET
        finite = from_first(trainer, all(bool(torch.isfinite(p).all()) for p in pl_module.parameters()))
        if not finite or (metrics and not math.isfinite(metrics["loss"])):
            raise NonFiniteLoss(
                f"the {'weights' if not finite else 'validation loss'} became NaN or infinite by step {step}: training "
                "stopped and the last saved checkpoint is kept; try a lower learning rate "
                f"(now --lr {pl_module.train_config.lr:g}) or gradient clipping")
        line = f"step {step}: loss {pl_module.last_loss:.4f}"
        rows_before = len(self.run_log.rows)
        if metrics:
            if show:
                pl_module.log(*pl_module.progress_metric(metrics), prog_bar=True)
            self.run_log.rows.append({"step": step, "epoch": trainer.current_epoch, **pl_module.validation_row(metrics)})
            line += f", {pl_module.describe_validation(metrics)}"
        self.say(trainer, f"{line}, {pl_module.tokens_per_second:,.0f} tokens/s")
        score = pl_module.selection_score(metrics) if metrics else None
        improved = score is not None and score < self.best
        # every process takes part in the dump (the carried state is gathered); the first one keeps it to write
        trainer.save_checkpoint(self.paths.current / LIGHTNING_DIR / LAST)
        checkpoint = self.capture.take()
        try:
            self.first_writes(trainer, lambda: self.write_step(pl_module, checkpoint, step, metrics, improved, status),
                              lambda error: self.save_failure(step, error))
        except RunFault:
            del self.run_log.rows[rows_before:]  # this step's row was never saved
            raise
        if improved:
            self.best, self.best_step = score, step
        self.last_saved_step = step
        budget = getattr(pl_module, "budget", None)
        if budget is not None:  # the last checkpoint gets this long (the slowest so far, with a margin)
            budget.timed_checkpoint(time.perf_counter() - began)
            if metrics:  # the cache's search is planned from the validation's time: what it gives back trains
                given = from_first(trainer, budget.timed_validation(validated))
                if given and pl_module.planned_seconds is not None:
                    pl_module.planned_seconds += given

    def write_step(self, pl_module: RunTask, checkpoint: dict, step: int, metrics: dict, improved: bool, status: str) -> None:
        """The first process's files for a checkpoint. lightning/last.ckpt, what --resume continues from,
        is written last: until it is, every file of the step before agrees with it."""
        if not self.folder_intact():
            raise FileNotFoundError(errno.ENOENT, "the run folder was deleted")
        folder = self.paths.current / LIGHTNING_DIR
        folder.mkdir(exist_ok=True)  # never its parents: a deleted run folder is not made again
        if improved:
            write_checkpoint(checkpoint, folder / BEST)
        summary = {"step": step, "train_loss": pl_module.last_loss, **metrics,
                   "seconds": round(time.perf_counter() - self.started, 1)}
        directory = ModelDirectory(self.paths.current)
        if improved or not metrics or not directory.weights_path.exists():
            self.export(pl_module, summary, status)  # the directory holds the best validated weights
            self.exported_step = step
        else:
            kept = directory.update_metadata(status=status, last_validation=summary)
            self.report(f"step {step}: validation did not improve on step {kept['metrics']['step']:,}: the model directory "
                        "keeps that step's weights (lightning/last.ckpt has these)")
        write_run_files(self.paths.current, self.run_log)
        write_checkpoint(checkpoint, folder / LAST)
        self.last_saved_step = step  # at once: should the next collective call fail (another process killed), the line names this step
        self.paths.saved()

    def first_writes(self, trainer, write: Callable[[], None], describe: Callable[[BaseException], str]) -> None:
        """Run `write` in the first process (the only one that writes files), then stop every process
        together if it failed: a failed write is RunFault(`describe(error)`) everywhere."""
        failure, unexpected = None, None
        if trainer.is_global_zero:
            try:
                write()
            except (OSError, TextgenError) as error:
                failure = describe(error)
            except Exception as error:  # a bug: every process stops, the first one with its traceback
                unexpected = error
                failure = f"the first process failed while saving ({type(error).__name__}: {error})"
        failure = from_first(trainer, failure)
        if unexpected is not None:
            raise unexpected
        if failure is not None:
            raise RunFault(failure)

    def save_failure(self, step: int, error: BaseException) -> str:
        """One line on a failed save: why, what is kept, and what to do."""
        if not self.folder_intact():
            return self.folder_gone(step)
        where = f"could not save step {step:,} in {self.paths.current} ({reason(error)})"
        fix = remedy(error)
        if self.last_saved_step is not None:
            exported = (f"; the model directory already holds step {step:,}'s weights" if self.exported_step == step else "")
            return (f"{where}: lightning/last.ckpt keeps step {self.last_saved_step:,}{exported}; {fix}, then "
                    "continue with --resume")
        if self.paths.staging is not None and self.paths.current == self.paths.staging:
            return (f"{where}: nothing of the new run was saved and the previous run in {self.paths.folder} is as it was; "
                    f"{fix}, then train again with --overwrite")
        return f"{where}: nothing was saved, so there is nothing to resume; {fix}, then train again"

    def folder_gone(self, step: int | None) -> str:
        at = f": step {step:,} was not saved" if step is not None else ""
        return (f"the run folder {self.paths.folder} was deleted (or replaced) while training{at}, and nothing of the run "
                "is left to resume; train again without --resume")

    def folder_intact(self) -> bool:
        """The run folder is still the one the run started in (not deleted, not replaced by another)."""
        try:
            status = os.stat(self.paths.folder)
        except OSError:
            return False
        same = self.folder_identity is None or (status.st_dev, status.st_ino) == self.folder_identity
        return same and self.paths.current.is_dir()

    def say(self, trainer, line: str) -> None:
        """A line on stderr that does not break the progress bar."""
        bar = trainer.progress_bar_callback
        if bar is not None and getattr(bar, "is_enabled", False):
            bar.print(line)
        else:
            self.report(line)


def trainer_arguments(config: TrainConfig) -> dict:
    """The Trainer settings that follow from a TrainConfig. A time-bounded run stops by its own clock
    (RunCallback), which counts the run's earlier invocations too; Lightning's timer counts only this one."""
    timer = config.max_time and not time_bounded(config)
    return dict(
        accelerator=config.accelerator, devices=config.devices, num_nodes=config.num_nodes, strategy=config.strategy,
        precision="32" if config.precision == "auto" else config.precision, max_steps=config.max_steps or -1,
        max_epochs=config.max_epochs if config.max_epochs is not None else (-1 if config.max_steps or config.max_time else None),
        max_time=datetime.timedelta(seconds=config.max_time) if timer else None,
        gradient_clip_val=config.grad_clip or None, deterministic=config.deterministic,
        limit_val_batches=0, num_sanity_val_steps=0, logger=False, enable_checkpointing=False,
        enable_model_summary=False, use_distributed_sampler=False, log_every_n_steps=config.log_every,
    )


def fit(task: RunTask, data: L.LightningDataModule, paths, export: Callable, resume: bool,
        progress_bar: bool, report: Callable[[str], None], log: RunLog) -> int | None:
    """Train until a limit or a signal, filling `log`. Returns the signal that ended the run, or one
    that came as it ended (None when training ended alone). `paths` (rundir.RunPaths) says where the
    run writes; an --overwrite run moves in after its first save.

    A signal before training begins stops the start-up (KeyboardInterrupt or Terminated, the other
    processes stopped); another process that ends on its own stops the run with RankStopped."""
    capture = CheckpointCapture()
    callback = RunCallback(paths, export, report, log, capture)
    ckpt = str(paths.current / LIGHTNING_DIR / LAST) if resume else None
    callback.watch.install()
    failed = True
    try:
        with quiet_lightning():
            trainer = L.Trainer(**trainer_arguments(task.train_config), callbacks=[callback], plugins=[capture],
                                enable_progress_bar=progress_bar, default_root_dir=str(paths.folder / LIGHTNING_DIR))
            callback.team = Team.start(trainer)
            if trainer.world_size > 1:
                patient_setup(trainer.strategy, callback.team.check if callback.team else lambda: None)
            trainer.fit(task, datamodule=data, ckpt_path=ckpt, weights_only=True)
        failed = False
    except SystemExit as exit:
        if isinstance(exit.__context__, KeyboardInterrupt):  # Lightning ends a Ctrl-C with sys.exit(1): it is the Ctrl-C
            raise exit.__context__ from None
        raise
    except BaseException as error:
        reason = stop_reason(error, callback, resume)
        if reason is error:
            raise
        raise reason from None
    finally:
        if callback.team is not None:
            callback.team.close(failed)
        callback.watch.uninstall()  # the signals as they were before, whatever Lightning left
    return callback.stop_signal or callback.watch.received


def stop_reason(error: BaseException, callback: RunCallback, resume: bool) -> BaseException:
    """What a run that failed with `error` reports: the signal that stopped its start-up (the other
    processes' failures that follow from it are not news), another process that ended on its own, or,
    in a process textgen started whose first process has gone, a quiet RunFault; else `error` itself."""
    watch, team = callback.watch, callback.team
    if watch.received is not None and watch.phase == "starting" and signals.signal_of(error) is None:
        return signals.stop_exception(watch.received)
    unexpected = isinstance(error, Exception) and not isinstance(error, TextgenError)  # a collective call that failed
    if team is not None and (unexpected or isinstance(error, RankStopped)):
        if (ended := team.ended(wait=3.0)) is not None:
            return RankStopped(rank_stopped(ended, callback, resume))
    if unexpected and launcher_gone():
        return RunFault("the first process of the run has ended")
    return error


def rank_stopped(ended: tuple[int, int], callback: RunCallback, resume: bool) -> str:
    """One line on another process that ended on its own: how, when, and what is kept."""
    rank, code = ended
    if callback.watch.phase == "starting":
        where = f"another training process (rank {rank}) {how_it_ended(code)} before training began"
        kept = (": lightning/last.ckpt is as it was; continue with --resume" if resume
                else ": nothing was trained; train again")
        return where + kept
    step = callback.trainer.global_step if callback.trainer is not None else 0
    where = f"another training process (rank {rank}) {how_it_ended(code)} at step {step:,}"
    if callback.last_saved_step is not None:
        return f"{where}: lightning/last.ckpt keeps step {callback.last_saved_step:,}; continue with --resume"
    return f"{where}: nothing was saved, so there is nothing to resume; train again"


@contextlib.contextmanager
def quiet_lightning():
    """Hide Lightning's banners and the warnings that do not apply to how textgen uses it."""
    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric", "lightning")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    with warnings.catch_warnings():
        for message in (".*IterableDataset.*__len__.*", ".*treespec.*LeafSpec.*", ".*does not have many workers.*",
                        ".*litlogger.*", ".*that ended before the epoch ended.*", ".*is an invalid sequence.*",
                        ".*all_gather.*deprecated.*", ".*quantize_per_tensor.*"):
            warnings.filterwarnings("ignore", message=message)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)


def write_run_files(out_dir: Path, log: RunLog) -> None:
    """metrics.csv (every row of the run so far) and loss.png, atomically."""
    folder = ModelDirectory(out_dir)
    with atomic_open(folder.metrics_path) as file:
        file.write(log.csv_text())
    from textgen.analysis.plots import plot_training_curves

    plot_training_curves(folder.metrics_path, folder.curves_path)


def is_interactive() -> bool:
    return sys.stderr.isatty()
