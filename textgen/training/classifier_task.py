"""ClassifierTask: the Lightning "system" around the pure-torch Classifier, and the batches it
trains on.

The loss is cross-entropy weighted per class (skewed ratings), plus, for ordinal labels, the
expected distance between the predicted and the true rating, so that a 4 for a 5 costs less
than a 1. Started from a language model (`--encoder`), the recurrent stack can learn more
slowly than the new head (ULMFiT's discriminative rates: each group below the head at --lr
divided by `lr_decay` once more) and stay frozen for the first `unfreeze` share of the run, so
the head's first, random gradients do not wreck what pretraining learnt; frozen steps skip the
stack's backward pass. Both are options (the defaults, 0 and 1, measured better on the reviews).
With `lm_weight`, a next-token loss on the same texts (the language model's decoder over the
same states) is added to the classifier's. With `adversarial` (Miyato et al. 2017), so is the loss
on the same texts with their embeddings pushed the way that raises the loss most, by a set share
of the embeddings' norm (a second pass through the stack each step).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, IterableDataset

from textgen.classify.data import Encoded, Labels, batch_order, pad_batch
from textgen.classify.metrics import classification_metrics
from textgen.model.config import ClassifierConfig, ModelConfig, TrainConfig
from textgen.model.classifier import Classifier, NextTokenHead, within_lengths
from textgen.training.coordination import from_first
from textgen.training.fit import StepDataModule
from textgen.training.schedule import lr_factor, time_bounded
from textgen.training.task import RunTask


def run_progress(step: int, config: TrainConfig, elapsed: float) -> float:
    """How far the run is, in [0, 1]: its share of the time budget or of --max-steps (0 when unknown)."""
    if time_bounded(config):
        return min(1.0, elapsed / config.max_time)
    return min(1.0, step / config.max_steps) if config.max_steps else 0.0


class ClassifierTask(RunTask):
    """Trains a Classifier on batches of (tokens, lengths, targets)."""

    log_columns = ("val_loss", "val_accuracy", "val_macro_f1", "val_mae")

    def __init__(self, model_config: dict, head_config: dict, train_config: dict, labels: dict, class_weights: list[float],
                 encoder_schedule: dict | None = None, valid: Encoded | None = None):
        super().__init__()
        self.save_hyperparameters(ignore=["valid"])  # plain values only: the .ckpt loads with weights_only=True
        self.model_config = ModelConfig.from_dict(model_config)
        self.head_config = ClassifierConfig.from_dict(head_config)
        self.train_config = TrainConfig.from_dict(train_config)
        self.labels = Labels.from_dict(labels)
        self.model = Classifier(self.model_config, self.head_config)
        # --lm-weight: a next-token loss beside the classifier's (its decoder is trained here, not exported)
        self.lm_head = NextTokenHead(self.model_config) if self.head_config.lm_weight else None
        self.register_buffer("class_weights", torch.tensor(class_weights, dtype=torch.float32), persistent=False)
        schedule = encoder_schedule or {}
        self.unfreeze = float(schedule.get("unfreeze", 0.0))  # share of the run the encoder stays frozen
        self.lr_decay = float(schedule.get("lr_decay", 1.0))  # the encoder's rate is --lr / lr_decay per group below
        self.valid = valid
        values = self.labels.values
        self.register_buffer("values", torch.tensor(values if values else [0.0] * len(self.labels.names)), persistent=False)

    # --- parameter groups ---------------------------------------------------------------

    def parameter_groups(self) -> list[list[torch.nn.Parameter]]:
        """[head (and attention), top recurrent layer, ..., first layer, embedding]."""
        model = self.model
        head = list(model.head.parameters()) + (list(model.attention.parameters()) if model.attention is not None else [])
        head += list(self.lm_head.parameters()) if self.lm_head is not None else []
        return [head] + [list(layer.parameters()) for layer in reversed(model.layers)] + [list(model.embedding.parameters())]

    def group_scale(self, index: int) -> float:
        depth = index // 2  # two optimizer groups (decayed, not) per parameter group
        return self.lr_decay ** -depth if depth else 1.0

    def group_factor(self, depth: int, step: int) -> float:
        """The schedule's factor for parameter group `depth` (0 = the head) before step `step`."""
        factor = lr_factor(step, self.train_config, self.run_seconds())
        if depth and run_progress(step, self.train_config, self.run_seconds()) < self.unfreeze:
            return 0.0  # still frozen: the head learns first
        return factor

    def configure_optimizers(self):
        config = self.train_config
        groups = []
        for depth, parameters in enumerate(self.parameter_groups()):
            scale = self.group_scale(2 * depth)
            groups.append({"params": [p for p in parameters if p.dim() >= 2], "weight_decay": config.weight_decay,
                           "lr": config.lr * scale})
            groups.append({"params": [p for p in parameters if p.dim() < 2], "weight_decay": 0.0, "lr": config.lr * scale})
        optimizer = torch.optim.AdamW(groups, lr=config.lr)
        lambdas = [(lambda step, depth=index // 2: self.group_factor(depth, step)) for index in range(len(groups))]
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambdas)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # --- training ------------------------------------------------------------------------

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.model(tokens, lengths)

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Class-weighted cross-entropy, plus the expected rating distance for ordinal labels."""
        logits = logits.float()
        loss = F.cross_entropy(logits, targets, weight=self.class_weights)
        if self.head_config.ordinal and self.head_config.ordinal_weight:
            distance = (self.values[None, :] - self.values[targets][:, None]).abs()  # (B, K)
            expected = (torch.softmax(logits, dim=-1) * distance).sum(dim=-1)
            weights = self.class_weights[targets]
            loss = loss + self.head_config.ordinal_weight * (weights * expected).sum() / weights.sum()
        return loss

    def encoder_frozen(self) -> bool:
        """Whether this step leaves the encoder as it is (the head learns, the layers below are at a
        zero rate during the first `unfreeze` share of the run): then the step skips their backward pass."""
        if not self.unfreeze:
            return False
        groups = self.trainer.optimizers[0].param_groups
        return groups[0]["lr"] > 0 and all(group["lr"] == 0 for group in groups[2:])

    def training_step(self, batch, batch_idx: int):
        tokens, lengths, targets = batch
        frozen = self.encoder_frozen()
        adversarial = bool(self.head_config.adversarial) and not frozen  # a frozen stack: no gradient reaches the embeddings
        if adversarial:
            embedded = self.model.embed(tokens)
            states = self.model.encode(embedded)
        else:
            states = self.model.states(tokens, frozen_encoder=frozen)
        loss = self.loss(self.model.classify(states, lengths), targets)
        if adversarial:
            loss = loss + self.loss(self.model.classify(self.model.encode(self.pushed(embedded, loss, lengths)), lengths), targets)
        if self.lm_head is not None and not frozen:  # a frozen encoder has nothing for the next-token loss to teach
            next_token = self.lm_head.loss(states, tokens, lengths, self.model.embedding.weight)
            loss = loss + self.head_config.lm_weight * next_token
        self.check_loss(loss)
        self.note_step(loss, int(lengths.sum()))
        if self.trainer.progress_bar_callback is not None or (self.global_step + 1) % self.train_config.log_every == 0:
            self.log("loss", loss, prog_bar=True, on_step=True, on_epoch=False)
        return loss

    def pushed(self, embedded: torch.Tensor, loss: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The embeddings (B, T, E) moved along the loss's gradient, each text by `adversarial` times
        its embeddings' norm (over its own tokens; padding stays put). The push is a constant: no
        gradient flows through it, only through the embeddings it is added to."""
        gradient, = torch.autograd.grad(loss, embedded, retain_graph=True)
        inside = within_lengths(lengths.to(embedded.device), embedded.shape[1])[..., None]
        gradient = gradient * inside
        size = (embedded.detach() * inside).flatten(1).norm(dim=1)
        scale = self.head_config.adversarial * size / gradient.flatten(1).norm(dim=1).clamp_min(1e-12)
        return embedded + scale[:, None, None] * gradient

    # --- validation ------------------------------------------------------------------------

    @torch.no_grad()
    def validate(self) -> dict:
        """Loss, accuracy, macro-F1 (and MAE for ordinal labels) on the validation examples, with the
        weight average (--average) when there is one: the first process's numbers in every process."""
        if self.valid is None or not len(self.valid.ids):
            return {}
        metrics = self.measure() if self.global_rank == 0 else None
        metrics = from_first(self._trainer, metrics)
        self.val_history.append(self.selection_score(metrics))
        self.last_metrics = {"step": self.global_step, **metrics}
        return metrics

    def measure(self) -> dict:
        """validate()'s numbers, computed here."""
        was_training = self.model.training
        self.model.eval()
        try:
            probabilities, losses = [], []
            order = np.argsort(self.valid.lengths, kind="stable")
            with self.averaged_weights():
                for start in range(0, len(order), 64):
                    tokens, lengths, targets = pad_batch(self.valid, order[start:start + 64])
                    logits = self.model(tokens.to(self.device), lengths.to(self.device)).float()
                    losses.append(F.cross_entropy(logits, targets.to(self.device), reduction="sum").item())
                    probabilities.append(torch.softmax(logits, dim=-1).cpu())
        finally:
            self.model.train(was_training)
        probs = torch.cat(probabilities).numpy()
        targets = self.valid.targets[order]
        metrics = classification_metrics(targets, probs, self.labels, loss=sum(losses) / len(order))
        return {key: value for key, value in metrics.items() if key not in ("per_class", "confusion")}

    def selection_score(self, metrics: dict) -> float:
        """The best weights are those of the highest validation macro-F1 (the loss breaks ties)."""
        return -metrics["macro_f1"] + 1e-6 * metrics["loss"]

    def validation_row(self, metrics: dict) -> dict:
        row = {"val_loss": round(metrics["loss"], 5), "val_accuracy": round(metrics["accuracy"], 4),
               "val_macro_f1": round(metrics["macro_f1"], 4)}
        if "mae" in metrics:
            row["val_mae"] = round(metrics["mae"], 4)
        return row

    def describe_validation(self, metrics: dict) -> str:
        line = f"validation accuracy {metrics['accuracy']:.3f}, macro-F1 {metrics['macro_f1']:.3f}"
        return line + (f", MAE {metrics['mae']:.3f}" if "mae" in metrics else "")

    def progress_metric(self, metrics: dict) -> tuple[str, float]:
        return "val_f1", metrics["macro_f1"]


class ExampleBatches(IterableDataset):
    """Batches of examples (tokens, lengths, targets), epoch after epoch, starting at a position
    so a resumed run takes the batches it would have taken."""

    def __init__(self, encoded: Encoded, batch_size: int, seed: int, position):
        self.encoded, self.batch_size, self.seed, self.position = encoded, batch_size, seed, position
        self.per_epoch = -(-len(encoded.ids) // batch_size)

    def __iter__(self):
        epoch, first = self.position()
        lengths = self.encoded.lengths
        while True:
            for indices in batch_order(lengths, self.batch_size, self.seed, epoch)[first:]:
                yield pad_batch(self.encoded, indices)
            epoch, first = epoch + 1, 0


class ClassificationDataModule(StepDataModule):
    """Training batches of labelled examples, resumable mid-epoch."""

    def __init__(self, encoded: Encoded, config: TrainConfig):
        super().__init__()
        self.encoded, self.config = encoded, config

    def train_dataloader(self) -> DataLoader:
        self.dataset = ExampleBatches(self.encoded, self.config.batch_size, self.config.seed, self.position)
        return DataLoader(self.dataset, batch_size=None, num_workers=0)
