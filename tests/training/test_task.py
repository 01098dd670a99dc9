"""textgen/training/task.py directly, without a Trainer run: the carried state, the loss, the
stop on a non-finite loss, the optimizer groups and schedule, validation, NT-ASGD's switch and
weight averaging, and what a checkpoint keeps."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from textgen.model.config import ModelConfig, TrainConfig
from textgen.analysis.evaluate import evaluate_array
from textgen.model import activation_penalty
from textgen.training.schedule import lr_factor
from textgen.training.task import LanguageModelTask, NonFiniteLoss

MODEL = ModelConfig(vocab_size=12, embed_dim=6, hidden_size=8, num_layers=1, embed_dropout=0.0, input_dropout=0.0,
                    hidden_dropout=0.0, output_dropout=0.0, weight_drop=0.0)


def make_task(valid: dict | None = None, **train) -> LanguageModelTask:
    """A task with a stand-in trainer: what the methods under test read from it, and nothing more."""
    config = TrainConfig(**{"batch_size": 2, "seq_len": 5, "log_every": 1000, **train})
    torch.manual_seed(0)
    task = LanguageModelTask(MODEL.to_dict(), config.to_dict(), valid)
    strategy = SimpleNamespace(all_gather=lambda tensor, group=None, sync_grads=False: tensor)
    task._trainer = SimpleNamespace(progress_bar_callback=None, world_size=1, global_rank=0, global_step=0,
                                    strategy=strategy, optimizers=[], lr_scheduler_configs=[])
    return task


def batch(seed: int, reset: bool):
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, MODEL.vocab_size, (2, 6), generator=generator)
    return tokens[:, :-1], tokens[:, 1:], reset


def test_training_step_is_cross_entropy_plus_the_activation_penalties():
    task = make_task()
    inputs, targets, reset = batch(0, True)
    loss = task.training_step((inputs, targets, reset), 0)
    output = task.model.forward_with_activations(inputs, None)
    expected = F.cross_entropy(output.logits.reshape(-1, MODEL.vocab_size), targets.reshape(-1))
    assert task.last_loss == pytest.approx(float(expected.detach()), rel=1e-6)
    assert float(loss.detach()) == pytest.approx(float((expected + activation_penalty(output, MODEL)).detach()), rel=1e-6)
    assert float(activation_penalty(output, MODEL).detach()) > 0  # AR/TAR are on by default and part of the loss


def test_streams_carry_the_state_and_a_reset_or_windows_drop_it():
    task = make_task()
    first, second = batch(0, True), batch(1, False)
    task.training_step(first, 0)
    carried = [tuple(tensor.clone() for tensor in layer) for layer in task.state]
    assert all(not tensor.requires_grad for layer in task.state for tensor in layer)  # detached between chunks
    task.training_step(second, 1)
    with torch.no_grad():
        from_carried = task.model.forward_with_activations(second[0], carried).logits
        from_zero = task.model.forward_with_activations(second[0], None).logits
    want = F.cross_entropy(from_carried.reshape(-1, MODEL.vocab_size), second[1].reshape(-1))
    assert task.last_loss == pytest.approx(float(want), rel=1e-6)
    assert not torch.allclose(from_carried, from_zero)  # the carried state mattered
    task.training_step(batch(1, True), 2)  # a reset: the loss of a fresh state
    fresh = F.cross_entropy(from_zero.reshape(-1, MODEL.vocab_size), second[1].reshape(-1))
    assert task.last_loss == pytest.approx(float(fresh), rel=1e-6)
    windows = make_task(batching="windows")
    windows.training_step(first, 0)
    windows.training_step(second, 1)  # not a reset, but windows always start fresh
    assert windows.last_loss == pytest.approx(float(fresh), rel=1e-6)


def test_a_non_finite_loss_stops_before_the_update_with_a_hint():
    task = make_task()
    with torch.no_grad():
        task.model.decoder.bias.fill_(float("nan"))
    with pytest.raises(NonFiniteLoss, match="try a lower learning rate"):
        task.training_step(batch(0, True), 0)
    assert math.isnan(task.last_loss)  # nothing recorded from the bad step


def test_adamw_decays_only_matrices_and_follows_the_schedule():
    task = make_task(lr=0.01, warmup_steps=4, max_steps=20)
    configured = task.configure_optimizers()
    optimizer, scheduler = configured["optimizer"], configured["lr_scheduler"]["scheduler"]
    decay, no_decay = optimizer.param_groups
    assert all(p.dim() >= 2 for p in decay["params"]) and all(p.dim() < 2 for p in no_decay["params"])
    assert decay["weight_decay"] == task.train_config.weight_decay and no_decay["weight_decay"] == 0.0
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(task.parameters()))
    for step in range(1, 8):
        optimizer.step()
        scheduler.step()
        assert optimizer.param_groups[0]["lr"] == pytest.approx(0.01 * lr_factor(step, task.train_config, 0.0))
    ntasgd = make_task(optimizer="ntasgd").configure_optimizers()
    assert isinstance(ntasgd, torch.optim.ASGD)


def test_validation_is_textgen_evaluate_on_the_held_out_array(tmp_path):
    tokens = np.random.default_rng(0).integers(0, MODEL.vocab_size, 200).astype(np.uint16)
    path = tmp_path / "valid.bin"
    tokens.tofile(path)
    valid = {"path": str(path), "tokens": 200, "words": 150, "bytes": 700, "stories": 4, "dtype": "uint16"}
    task = make_task(valid)
    metrics = task.validate()
    want = evaluate_array(task.model, tokens, 150, 700, 4, streams=2, seq_len=5)
    assert metrics["loss"] == pytest.approx(want["loss"], rel=1e-6)
    assert metrics["bits_per_byte"] == pytest.approx(want["bits_per_byte"], rel=1e-6)
    assert task.last_metrics["step"] == 0 and task.val_history == [metrics["loss"]]
    assert make_task(None).validate() == {}


def test_ntasgd_starts_averaging_when_validation_stops_improving_and_averaged_weights_are_swapped_in():
    task = make_task(optimizer="ntasgd", nonmono=2)
    optimizer = task.configure_optimizers()
    task._trainer.optimizers = [optimizer]
    for loss in (3.0, 2.0, 1.0, 1.5):  # 1.5 is still better than every loss more than two checks back (3.0)
        task.note_validation(loss)
        assert not task.averaging
    task.note_validation(3.5)  # worse than every loss more than two checks back
    assert task.averaging and optimizer.param_groups[0]["t0"] == 0.0
    parameter = task.model.decoder.bias
    original = parameter.detach().clone()
    optimizer.state[parameter]["ax"] = torch.full_like(parameter, 7.0)
    with task.averaged_weights():
        assert torch.equal(parameter.detach(), torch.full_like(parameter, 7.0))
    assert torch.equal(parameter.detach(), original)


def test_a_checkpoint_keeps_the_state_history_switch_and_clock():
    task = make_task()
    task.training_step(batch(0, True), 0)
    task.val_history, task.averaging, task.last_metrics = [2.5, 2.4], True, {"step": 3, "loss": 2.4}
    task.seconds_before = 12.0
    checkpoint = {"callbacks": {"Timer{'duration': 60}": {"time_elapsed": 5}, "ModelCheckpoint": {}}}
    task.on_save_checkpoint(checkpoint)
    saved = checkpoint["textgen"]
    assert saved["val_history"] == [2.5, 2.4] and saved["averaging"] and saved["train_seconds"] >= 12.0
    restored = make_task()
    restored.on_load_checkpoint(checkpoint)
    assert list(checkpoint["callbacks"]) == ["ModelCheckpoint"]  # a resume gets its own --max-time
    assert restored.val_history == [2.5, 2.4] and restored.averaging and restored.last_metrics["step"] == 3
    assert restored.seconds_before == saved["train_seconds"]
    assert task.state and len(restored.state) == len(task.state)  # a carried state to compare, layer by layer
    for old, new in zip(task.state, restored.state):
        assert len(new) == len(old) and all(torch.equal(a, b) for a, b in zip(old, new))


def test_average_keeps_a_moving_average_that_validation_swaps_in_and_the_checkpoint_keeps():
    """--average: after each step the weights are folded into a moving average, at first with the
    warm-start decay (1 + n) / (10 + n) below the asked one; evaluation and export see the average,
    training goes on with the raw weights, and a checkpoint carries the average to the resumed run."""
    task = make_task(average=0.5)
    parameter = task.model.decoder.bias
    with torch.no_grad():
        parameter.fill_(1.0)
        task.update_average()  # the first step: the average starts at the weights
        parameter.fill_(12.0)
        task.update_average()  # n = 1: decay min(0.5, 2 / 11)
    expected = 1.0 + (1 - 2 / 11) * 11.0
    with task.averaged_weights():
        assert torch.allclose(parameter.detach(), torch.full_like(parameter, expected))
    assert torch.equal(parameter.detach(), torch.full_like(parameter, 12.0))  # raw weights back for training
    checkpoint: dict = {}
    task.on_save_checkpoint(checkpoint)
    restored = make_task(average=0.5)
    restored.on_load_checkpoint(checkpoint)
    assert restored.average_updates == 2
    with restored.averaged_weights():
        assert torch.allclose(restored.model.decoder.bias.detach(), torch.full_like(parameter, expected))
    off = make_task(average=0)
    off.update_average()
    assert off.average is None
