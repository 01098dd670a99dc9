"""LanguageModelTask: the Lightning "system" around the pure-torch LanguageModel.

It owns the loss (cross-entropy plus AR/TAR), the optimizer and schedule, the recurrent
state carried between truncated-backprop chunks, and validation (perplexity, bits per byte),
which it runs itself when the run's callback says so (every `val_every` steps, or every sixth of a
time budget) with the same code as `textgen evaluate`.
"""

from __future__ import annotations

import contextlib
import time

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F

from textgen.model.config import ModelConfig, TrainConfig
from textgen.analysis.evaluate import evaluate_array
from textgen.model import LanguageModel, activation_penalty, detach_state
from textgen.training.coordination import RunFault, from_first
from textgen.training.schedule import lr_factor


class NonFiniteLoss(RunFault):
    """The loss became NaN or infinite; training stops before the bad update."""


class RunTask(L.LightningModule):
    """What every textgen training run shares, whatever it trains: the run's clock (all invocations
    together), the last training loss, a new --lr taking effect on resume, dropout masks seeded by
    step, the weight average (--average) that validation and export see, the validation history in
    the checkpoint, and the hooks through which the run's callback
    (training/fit.py) validates, selects the best weights and logs. Subclasses set `train_config`
    and implement `validate()`."""

    train_config: TrainConfig
    log_columns: tuple[str, ...] = ("val_loss",)  # metrics.csv columns of a validation row

    def __init__(self) -> None:
        super().__init__()
        self.val_history: list[float] = []  # selection scores (lower is better) of every validation
        self.last_metrics: dict = {}
        self._step_started = time.perf_counter()
        self.tokens_per_second = 0.0
        self._last_loss: torch.Tensor | None = None
        self.seconds_before = 0.0  # training time of earlier invocations of this run (from the checkpoint)
        self._clock: float | None = None  # when this invocation's training started
        self.agreed_seconds: float | None = None  # train_seconds() of the first process at the latest step
        self.failed_loss: float | None = None  # this step's loss when it is not finite (with several processes)
        self.average: list[torch.Tensor] | None = None  # --average: the moving average of the parameters
        self.average_updates = 0
        self.budget = None  # textgen.training.budget.Budget of a time-bounded command (set by its run)
        self.planned_seconds: float | None = None  # the seconds the schedule spans, as the budget plans them (every process's)
        self.schedule_offset = 0.0  # budget earlier invocations spent beyond their training (start-up, saving, the cache)

    def schedule_seconds(self) -> float:
        """The seconds a time-bounded run's schedule spans: where its command's budget plans training to
        stop (start-up, the last save and the cache search kept out), else --max-time."""
        return self.planned_seconds if self.planned_seconds is not None else self.train_config.max_time

    def schedule_elapsed(self) -> float:
        """Where the run stands on its time-bounded schedule: its training time plus what earlier
        invocations spent of the budget around their training."""
        return self.run_seconds() + self.schedule_offset

    def train_seconds(self) -> float:
        """Training time of the whole run so far, every invocation together: the clock a time budget follows."""
        running = time.perf_counter() - self._clock if self._clock is not None else 0.0
        return self.seconds_before + running

    def run_seconds(self) -> float:
        """The run's clock as every process agrees on it: the first process's reading at the latest step
        (the live clock before training starts). The learning-rate schedule follows it, so every process
        of a distributed run takes the same rate."""
        return self.agreed_seconds if self.agreed_seconds is not None else self.train_seconds()

    @property
    def last_loss(self) -> float:
        """The latest training loss (nan before the first step)."""
        return float(self._last_loss) if self._last_loss is not None else float("nan")

    def check_loss(self, loss: torch.Tensor) -> None:
        """Stop before the update of a step whose loss is NaN or infinite. With several processes this
        one only notes it: the run's callback stops every process at this step, before the backward pass."""
        if torch.isfinite(loss):
            self.failed_loss = None
            return
        self.failed_loss = float(loss.detach())
        if self._trainer is None or self._trainer.world_size == 1:
            raise self.loss_failure(self.failed_loss)

    def loss_failure(self, value: float | None) -> NonFiniteLoss:
        """The error for a loss that is not finite (`value` None: another process's)."""
        became = f"became {value}" if value is not None else "became NaN or infinite in another process"
        return NonFiniteLoss(
            f"the loss {became} at step {self.global_step}: training stopped before the bad update and the last saved "
            f"checkpoint, if any, is kept; try a lower learning rate (now --lr {self.train_config.lr:g})")

    def note_step(self, loss: torch.Tensor, tokens: int) -> None:
        """Keep the step's loss and speed (tokens a second over every process)."""
        self._last_loss = loss.detach()
        now = time.perf_counter()
        self.tokens_per_second = tokens * self.trainer.world_size / max(now - self._step_started, 1e-9)
        self._step_started = now

    def on_train_start(self) -> None:
        """On --resume, a new --lr takes effect: the restored schedule keeps its shape around the new peak
        (every parameter group's own factor, so groups with their own rates keep them)."""
        self._clock = time.perf_counter()
        self.agreed_seconds = self.seconds_before  # the same in every process (it comes from the checkpoint)
        lr = self.train_config.lr
        for config in self.trainer.lr_scheduler_configs:
            config.scheduler.base_lrs = [lr * self.group_scale(index) for index in range(len(config.scheduler.base_lrs))]
        for optimizer in self.trainer.optimizers:
            for index, group in enumerate(optimizer.param_groups):
                if "initial_lr" in group:
                    group["initial_lr"] = lr * self.group_scale(index)
                if self.train_config.optimizer == "ntasgd":
                    group["lr"] = lr
        for config in self.trainer.lr_scheduler_configs:  # apply at once, not only after the next step
            scheduler = config.scheduler
            for group, base, factor in zip(scheduler.optimizer.param_groups, scheduler.base_lrs, scheduler.lr_lambdas):
                group["lr"] = base * factor(self.global_step)

    def group_scale(self, index: int) -> float:
        """The peak learning rate of parameter group `index` as a share of --lr (1 unless a task says otherwise)."""
        return 1.0

    def on_train_batch_start(self, batch, batch_idx: int) -> None:
        # dropout masks are a function of (seed, step, rank): a resumed run draws the same ones.
        # Only the generator in use is reseeded: torch.manual_seed also walks every accelerator's.
        seed = (self.train_config.seed * 1_000_003 + self.global_step * 7919 + self.global_rank) % 2**63
        torch.random.default_generator.manual_seed(seed)
        if self.device.type == "cuda":
            torch.cuda.manual_seed(seed)

    # --- what the run's callback asks of a validation ---------------------------------------

    def validate(self) -> dict:
        raise NotImplementedError

    def selection_score(self, metrics: dict) -> float:
        """Lower is better: the model directory keeps the weights with the lowest score."""
        return metrics["loss"]

    def validation_row(self, metrics: dict) -> dict:
        """The validation's columns of metrics.csv."""
        return {"val_loss": round(metrics["loss"], 5)}

    def describe_validation(self, metrics: dict) -> str:
        return f"validation loss {metrics['loss']:.4f}"

    def progress_metric(self, metrics: dict) -> tuple[str, float]:
        """The validation number the progress bar shows."""
        return "val_loss", metrics["loss"]

    # --- the weight average (--average) -----------------------------------------------------

    def optimizer_step(self, *args, **kwargs) -> None:
        super().optimizer_step(*args, **kwargs)
        self.update_average()  # before the run's callback validates or saves this step

    def update_average(self) -> None:
        """--average: fold the updated weights into their moving average (with the usual warm start:
        the decay is at most (1 + n) / (10 + n) after n updates, so early weights do not linger)."""
        decay = self.train_config.average
        if not decay:
            return
        parameters = [parameter.detach() for parameter in self.parameters()]
        if self.average is None:
            self.average = [parameter.clone() for parameter in parameters]
        else:
            weight = 1.0 - min(decay, (1 + self.average_updates) / (10 + self.average_updates))
            torch._foreach_lerp_(self.average, parameters, weight)
        self.average_updates += 1

    def average_pairs(self) -> list | None:
        """(parameter, its average or None) for each parameter, or None when nothing is averaged."""
        return list(zip(self.parameters(), self.average)) if self.average is not None else None

    @contextlib.contextmanager
    def averaged_weights(self):
        """Swap in the averaged weights for evaluation and export (no-op when nothing is averaged);
        training goes on with the raw weights afterwards."""
        pairs = self.average_pairs()
        saved = []
        for parameter, average in pairs or []:
            if average is not None:
                saved.append((parameter, parameter.data.clone()))
                parameter.data.copy_(average)
        try:
            yield
        finally:
            for parameter, data in saved:
                parameter.data.copy_(data)

    # --- checkpoint extras ---------------------------------------------------------------

    def checkpoint_extras(self) -> dict:
        average = {"average": [tensor.cpu() for tensor in self.average], "average_updates": self.average_updates} \
            if self.average is not None else {}
        return {"val_history": list(self.val_history), "last_metrics": dict(self.last_metrics),
                "train_seconds": self.train_seconds(), **average}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["textgen"] = self.checkpoint_extras()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        # with --max-steps, --max-time limits each invocation: drop Lightning's Timer state so a resume
        # gets its own budget (time-bounded runs keep their total in train_seconds instead)
        for key in [key for key in checkpoint.get("callbacks", {}) if str(key).startswith("Timer")]:
            del checkpoint["callbacks"][key]
        extra = checkpoint.get("textgen", {})
        self.val_history = list(extra.get("val_history", []))
        self.last_metrics = dict(extra.get("last_metrics", {}))
        self.seconds_before = float(extra.get("train_seconds", 0.0))
        if extra.get("average") is not None and self.train_config.average:
            self.average = [tensor.to(self.device) for tensor in extra["average"]]
            self.average_updates = int(extra.get("average_updates", 0))
        self.load_extras(extra)

    def load_extras(self, extra: dict) -> None:
        """A subclass's own part of the checkpoint extras."""


class LanguageModelTask(RunTask):
    """Trains a LanguageModel on batches of (inputs, targets, reset_state)."""

    log_columns = ("val_loss", "val_perplexity", "val_bits_per_byte")

    def __init__(self, model_config: dict, train_config: dict, valid: dict | None = None):
        super().__init__()
        self.save_hyperparameters()  # plain dicts only: the .ckpt loads with weights_only=True
        self.model_config = ModelConfig.from_dict(model_config)
        self.train_config = TrainConfig.from_dict(train_config)
        self.model = LanguageModel(self.model_config)
        self.valid = valid  # {"path", "tokens", "words", "bytes", "stories", "dtype"} of the validation array
        self.state = None  # recurrent state carried between consecutive chunks
        self.averaging = False  # NT-ASGD has started averaging

    def forward(self, tokens: torch.Tensor, state=None):
        return self.model(tokens, state)

    def training_step(self, batch, batch_idx: int):
        inputs, targets, reset = batch
        state = None if reset or self.state is None or self.train_config.batching == "windows" else self.state
        output = self.model.forward_with_activations(inputs, state)
        logits = output.logits.float()
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        self.check_loss(loss)
        self.state = detach_state(output.state)
        self.note_step(loss, inputs.numel())
        # logging goes through Lightning's result bookkeeping, ~1-2 ms: only when someone reads it
        config = self.train_config
        if self.trainer.progress_bar_callback is not None or (self.global_step + 1) % config.log_every == 0:
            self.log("loss", loss, prog_bar=True, on_step=True, on_epoch=False)
            self.log("tok/s", self.tokens_per_second, prog_bar=True, on_step=True, on_epoch=False)
        return loss + activation_penalty(output, self.model_config)

    def configure_optimizers(self):
        config = self.train_config
        if config.optimizer == "ntasgd":
            # SGD until validation stops improving, then the average of the weights (AWD-LSTM)
            optimizer = torch.optim.ASGD(self.parameters(), lr=config.lr, t0=1e18, lambd=0.0, weight_decay=config.weight_decay)
            return optimizer
        decay = [p for n, p in self.named_parameters() if p.dim() >= 2]
        no_decay = [p for n, p in self.named_parameters() if p.dim() < 2]
        optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                       {"params": no_decay, "weight_decay": 0.0}], lr=config.lr)
        # the lambda reads the clock too: a time-bounded run decays with its elapsed share of the budget
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, config, self.schedule_elapsed(),
                                                                                             self.schedule_seconds()))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # --- validation ------------------------------------------------------------------------

    def average_pairs(self) -> list | None:
        """--average's moving average, or NT-ASGD's once it has started averaging."""
        if self.average is not None or not self.averaging:
            return super().average_pairs()
        optimizer = self.trainer.optimizers[0] if self.trainer is not None else None
        return [(parameter, optimizer.state.get(parameter, {}).get("ax") if optimizer is not None else None)
                for parameter in self.parameters()]

    def validate(self) -> dict:
        """Validation metrics on the held-out array: the first process computes them, every process gets
        them (so every process takes the same decisions from them: the best step, NT-ASGD's switch)."""
        if not self.valid or self.valid["tokens"] < 2:
            return {}
        metrics = None
        if self.global_rank == 0:
            array = np.memmap(self.valid["path"], dtype=self.valid["dtype"], mode="r", shape=(self.valid["tokens"],))
            with self.averaged_weights():
                metrics = evaluate_array(self.model, array, self.valid["words"], self.valid["bytes"], self.valid["stories"],
                                         streams=min(self.train_config.batch_size, 16), seq_len=self.train_config.seq_len,
                                         device=self.device)
        metrics = from_first(self._trainer, metrics)
        self.note_validation(metrics["loss"])
        self.last_metrics = {"step": self.global_step, **metrics}
        return metrics

    def note_validation(self, loss: float) -> None:
        """NT-ASGD's trigger: start averaging once the loss is worse than `nonmono` checks ago."""
        config = self.train_config
        if config.optimizer == "ntasgd" and not self.averaging and len(self.val_history) > config.nonmono \
                and loss > min(self.val_history[: -config.nonmono]):
            self.averaging = True
            for group in self.trainer.optimizers[0].param_groups:
                group["t0"] = 0.0  # ASGD averages from its next step on (state steps are reset below)
            for state in self.trainer.optimizers[0].state.values():
                if "step" in state:
                    state["step"].zero_()
                    state["mu"] = torch.ones_like(state["mu"])
        self.val_history.append(loss)

    # --- checkpoint extras ---------------------------------------------------------------

    def validation_row(self, metrics: dict) -> dict:
        return {"val_loss": round(metrics["loss"], 5), "val_perplexity": round(metrics["perplexity"], 4),
                "val_bits_per_byte": round(metrics["bits_per_byte"], 5)}

    def describe_validation(self, metrics: dict) -> str:
        return f"validation perplexity {metrics['perplexity']:.3f}, bits per byte {metrics['bits_per_byte']:.4f}"

    def progress_metric(self, metrics: dict) -> tuple[str, float]:
        return "val_ppl", metrics["perplexity"]

    def checkpoint_extras(self) -> dict:
        """Also the carried state of every process and NT-ASGD's switch."""
        states = []
        if self.state is not None:
            for layer in self.state:
                gathered = [self.all_gather(tensor) for tensor in layer]  # (world, b, H) with several processes
                if self.trainer.world_size == 1:
                    gathered = [tensor.unsqueeze(0) for tensor in gathered]
                states.append([tensor.cpu() for tensor in gathered])
        return {"state": states, **super().checkpoint_extras(), "averaging": self.averaging}

    def load_extras(self, extra: dict) -> None:
        rank = self.trainer.global_rank if self._trainer is not None else 0
        states = extra.get("state") or []
        self.state = [tuple(tensor[rank].to(self.device) for tensor in layer) for layer in states] or None
        self.averaging = bool(extra.get("averaging", False))
