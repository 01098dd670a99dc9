"""Trainer setup: the DataModule, the callback that validates, checkpoints and exports, signal
handling (Ctrl-C -> 130, SIGTERM -> 143, after saving a resumable checkpoint), and fit()."""

from __future__ import annotations

import contextlib
import csv
import datetime
import io
import logging
import math
import os
import signal
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader

from textgen.atomic import atomic_open
from textgen.config import DEFAULT_VAL_EVERY, VALIDATIONS_PER_BUDGET, TrainConfig
from textgen.data import BatchPlan, TokenArray, TrainBatches, check_batch_plan
from textgen.errors import TextgenError
from textgen.model_dir import BEST_CHECKPOINT as BEST
from textgen.model_dir import LAST_CHECKPOINT as LAST
from textgen.model_dir import LIGHTNING_DIR, ModelDirectory
from textgen.training.schedule import time_bounded
from textgen.training.task import RunTask


EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


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
    stops the run with one clear error, the last good checkpoint in place."""

    def __init__(self, paths, export: Callable[[RunTask, dict, str], None], report: Callable[[str], None],
                 log: RunLog):
        self.paths, self.export, self.report, self.run_log = paths, export, report, log
        self.signal_received: int | None = None
        self._previous_handlers: dict = {}
        self.best = float("inf")
        self.started = time.perf_counter()
        self.last_saved_step: int | None = None
        self.best_step: int | None = None  # the step whose weights the model directory holds
        self.next_save_seconds = 0.0

    # the metric rows travel in the checkpoint ------------------------------------------------
    def state_dict(self) -> dict:
        return {"rows": list(self.run_log.rows)}

    def load_state_dict(self, state_dict: dict) -> None:
        if isinstance(state_dict.get("rows"), list):
            self.run_log.rows = list(state_dict["rows"])

    # signals ------------------------------------------------------------------------------
    def _handle(self, signum, frame) -> None:
        if self.signal_received is not None:  # a second signal: stop at once, the last checkpoint stays
            self.report("second signal: stopping at once (the last saved checkpoint is kept)")
            os._exit(EXIT_CODES.get(signum, 130))
        self.signal_received = signum
        self.report(f"received {signal.Signals(signum).name}: saving a resumable checkpoint after this step")

    def on_train_start(self, trainer, pl_module) -> None:
        if trainer.world_size == 1:  # with several processes Lightning's launcher owns the signals
            for signum in EXIT_CODES:
                self._previous_handlers[signum] = signal.getsignal(signum)
                signal.signal(signum, self._handle)
        self.best = min(pl_module.val_history, default=float("inf"))
        self.last_saved_step = trainer.global_step if trainer.global_step else None  # a resume starts from a saved step

    def teardown(self, trainer, pl_module, stage: str) -> None:
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)
        self._previous_handlers.clear()

    # steps ----------------------------------------------------------------------------------
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        config = pl_module.train_config
        step = trainer.global_step
        if step % config.log_every == 0:
            self.run_log.rows.append({"step": step, "epoch": trainer.current_epoch,
                                      "loss": round(pl_module.last_loss, 5),
                                      "lr": trainer.optimizers[0].param_groups[0]["lr"],
                                      "tokens_per_s": round(pl_module.tokens_per_second, 1)})
        if time_bounded(config) and pl_module.train_seconds() >= config.max_time:
            trainer.should_stop = True  # the budget is spent: the schedule has reached its floor
        if self.due(step, pl_module):
            self.checkpoint(trainer, pl_module, status="training")
        if self.signal_received is not None:
            if self.last_saved_step != step:
                self.checkpoint(trainer, pl_module, status="interrupted")
            elif trainer.is_global_zero:
                self.mark_status("interrupted")  # the signal came right after a save: only the status changes
            trainer.should_stop = True

    def due(self, step: int, pl_module) -> bool:
        """Time to validate and save: every --val-every steps, or by default every 200 steps, or
        every sixth of the budget when time bounds the run (validation time is budget time)."""
        config = pl_module.train_config
        if config.val_every is not None:
            return step % config.val_every == 0
        if time_bounded(config):
            return pl_module.train_seconds() >= self.next_save_seconds
        return step % DEFAULT_VAL_EVERY == 0

    def on_train_end(self, trainer, pl_module) -> None:
        if self.signal_received is not None:
            return
        if self.last_saved_step != trainer.global_step:
            self.checkpoint(trainer, pl_module, status="trained", show=False)  # Lightning allows no self.log() here
        elif trainer.is_global_zero:
            self.mark_status("trained")

    def mark_status(self, status: str) -> None:
        """The run ended (at its limit, or by a signal) right after a checkpoint: only the status changes."""
        folder = ModelDirectory(self.paths.current)
        try:
            folder.update_metadata(status=status)
        except (OSError, ValueError) as error:
            raise TextgenError(f"could not update {folder.metadata_path} ({getattr(error, 'strerror', None) or error}); "
                               "the model directory is whole, only its status says \"training\"") from None

    def checkpoint(self, trainer, pl_module: RunTask, status: str, show: bool = True) -> None:
        """Validate, log, save last (and best) atomically, export the model directory, write the
        curves. Weights or a validation loss that are not finite are never saved: the last good
        checkpoint stays."""
        from textgen.training.task import NonFiniteLoss

        metrics = pl_module.validate()
        step = trainer.global_step
        config = pl_module.train_config
        if time_bounded(config):
            self.next_save_seconds = pl_module.train_seconds() + config.max_time / VALIDATIONS_PER_BUDGET
        finite = all(torch.isfinite(p).all() for p in pl_module.parameters())
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
        folder = self.paths.current / LIGHTNING_DIR
        score = pl_module.selection_score(metrics) if metrics else None
        improved = score is not None and score < self.best
        try:
            self.save(trainer, folder / LAST)
            if improved:
                self.save(trainer, folder / BEST)
            if trainer.is_global_zero:
                summary = {"step": step, "train_loss": pl_module.last_loss, **metrics,
                           "seconds": round(time.perf_counter() - self.started, 1)}
                directory = ModelDirectory(self.paths.current)
                if improved or not metrics or not directory.weights_path.exists():
                    self.export(pl_module, summary, status)  # the directory holds the best validated weights
                else:
                    kept = directory.update_metadata(status=status, last_validation=summary)
                    self.say(trainer, f"step {step}: validation did not improve on step {kept['metrics']['step']:,}: the "
                                      "model directory keeps that step's weights (lightning/last.ckpt has these)")
                write_run_files(self.paths.current, self.run_log)
                self.paths.saved()
        except OSError as error:
            del self.run_log.rows[rows_before:]  # this step's row was never saved
            kept = f"the checkpoint of step {self.last_saved_step:,} is kept" if self.last_saved_step else "nothing was saved"
            raise TextgenError(f"could not save step {step} in {self.paths.current} ({error.strerror or error}): {kept}; "
                               "free space, then continue with --resume") from None
        if improved:
            self.best, self.best_step = score, step
        self.last_saved_step = step

    def say(self, trainer, line: str) -> None:
        """A line on stderr that does not break the progress bar."""
        bar = trainer.progress_bar_callback
        if bar is not None and getattr(bar, "is_enabled", False):
            bar.print(line)
        else:
            self.report(line)

    @staticmethod
    def save(trainer, path: Path) -> None:
        """trainer.save_checkpoint to a temporary file in the same folder, then os.replace (rank 0)."""
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        if trainer.is_global_zero:
            path.parent.mkdir(parents=True, exist_ok=True)
        trainer.save_checkpoint(temporary)  # every process takes part; rank 0 writes
        if trainer.is_global_zero:
            with open(temporary, "rb") as file:
                os.fsync(file.fileno())
            os.replace(temporary, path)


def trainer_arguments(config: TrainConfig) -> dict:
    """The Trainer settings that follow from a TrainConfig. A time-bounded run stops by its own clock
    (RunCallback), which counts the run's earlier invocations too; Lightning's timer counts only this one."""
    timer = config.max_time and not time_bounded(config)
    return dict(
        accelerator=config.accelerator, devices=config.devices, num_nodes=config.num_nodes, strategy=config.strategy,
        precision=config.precision, max_steps=config.max_steps or -1,
        max_epochs=config.max_epochs if config.max_epochs is not None else (-1 if config.max_steps or config.max_time else None),
        max_time=datetime.timedelta(seconds=config.max_time) if timer else None,
        gradient_clip_val=config.grad_clip or None, deterministic=config.deterministic,
        limit_val_batches=0, num_sanity_val_steps=0, logger=False, enable_checkpointing=False,
        enable_model_summary=False, use_distributed_sampler=False, log_every_n_steps=config.log_every,
    )


def fit(task: RunTask, data: L.LightningDataModule, paths, export: Callable, resume: bool,
        progress_bar: bool, report: Callable[[str], None], log: RunLog) -> int | None:
    """Train until a limit or a signal, filling `log`. Returns the signal received (None when training ended).
    `paths` (rundir.RunPaths) says where the run writes; an --overwrite run moves in after its first save."""
    callback = RunCallback(paths, export, report, log)
    ckpt = str(paths.current / LIGHTNING_DIR / LAST) if resume else None
    with quiet_lightning():
        trainer = L.Trainer(**trainer_arguments(task.train_config), callbacks=[callback], enable_progress_bar=progress_bar,
                            default_root_dir=str(paths.folder / LIGHTNING_DIR))
        trainer.fit(task, datamodule=data, ckpt_path=ckpt, weights_only=True)
    return callback.signal_received


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
    from textgen.plots import plot_training_curves

    plot_training_curves(folder.metrics_path, folder.curves_path)


def is_interactive() -> bool:
    return sys.stderr.isatty()
