"""The number format a training run computes in, chosen by timing this machine
(textgen/training/precision.py)."""

from __future__ import annotations

import pytest
import torch

from textgen.model.config import ModelConfig, TrainConfig
from textgen.training import precision
from textgen.training.fit import trainer_arguments


class Clock:
    """A perf_counter that moves only when a fake training step says so."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def fake_probe(clock: Clock, single: float, mixed: float | None, calls: list | None = None):
    """A probe whose float32 step takes `single` seconds and bf16 step `mixed` (None: bf16 fails)."""

    def make():
        def step(bf16: bool) -> None:
            if calls is not None:
                calls.append(bf16)
            if bf16 and mixed is None:
                raise RuntimeError("no bfloat16 kernel")
            clock.now += mixed if bf16 else single
        return step

    return make


def never():
    raise AssertionError("the probe ran where no timing was due")


TIMED = TrainConfig(max_time=300.0, accelerator="cpu")


def test_a_given_precision_is_kept_and_timed_alone_for_a_time_bounded_run(monkeypatch):
    assert precision.choose_precision(TrainConfig(precision="bf16-mixed", accelerator="cpu"), never) == (
        "bf16-mixed", "as given", None)
    assert precision.choose_precision(TrainConfig(max_time=60.0, precision="32", devices=2, accelerator="cpu"), never) == (
        "32", "as given", None)
    clock = Clock()
    monkeypatch.setattr(precision.time, "perf_counter", clock)
    calls: list = []
    given = TrainConfig(max_time=300.0, precision="32", accelerator="cpu")
    assert precision.choose_precision(given, fake_probe(clock, 0.090, 0.01, calls)) == ("32", "as given", 0.090)
    assert calls == [False] * (precision.ROUNDS + 1)
    given = TrainConfig(max_time=300.0, precision="bf16-mixed", accelerator="cpu")
    assert precision.choose_precision(given, fake_probe(clock, 0.090, None)) == ("bf16-mixed", "as given", None)


@pytest.mark.parametrize("config, kind", [
    (TrainConfig(max_steps=100, accelerator="cpu"), "a run bounded by steps or epochs"),
    (TrainConfig(max_epochs=2, accelerator="cpu"), "a run bounded by steps or epochs"),
    (TrainConfig(max_time=60.0, max_steps=100, accelerator="cpu"), "a run bounded by steps or epochs"),
    (TrainConfig(max_time=60.0, deterministic=True, accelerator="cpu"), "--deterministic"),
    (TrainConfig(max_time=60.0, devices=2, accelerator="cpu"), "several processes"),
])
def test_runs_that_need_the_same_numbers_everywhere_train_in_float32(config, kind):
    assert precision.choose_precision(config, never) == (
        "32", f"{kind} trains in float32, the same numbers on every machine", None)


def test_a_faster_bfloat16_is_chosen_and_a_slightly_faster_one_is_not(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(precision.time, "perf_counter", clock)
    calls: list = []
    chosen, why, step = precision.choose_precision(TIMED, fake_probe(clock, 0.090, 0.055, calls))
    assert chosen == "bf16-mixed" and step == pytest.approx(0.055)
    assert why == "a step took 55 ms in bf16-mixed against 90 ms in float32 on this CPU"
    # a warm-up of each, then the formats take turns
    assert calls == [False, True] + [False, True] * precision.ROUNDS
    chosen, why, step = precision.choose_precision(TIMED, fake_probe(clock, 0.090, 0.090 / 1.1))
    assert chosen == "32" and step == pytest.approx(0.090)
    assert why == "a step took 82 ms in bf16-mixed against 90 ms in float32 on this CPU"
    assert precision.choose_precision(TIMED, fake_probe(clock, 0.050, 0.090))[0] == "32"


def test_the_median_step_decides_not_one_slow_step(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(precision.time, "perf_counter", clock)
    mixed = iter([0.050, 0.050, 5.0, 0.050])  # warm-up, then one step the machine interrupted

    def make():
        def step(bf16: bool) -> None:
            clock.now += next(mixed) if bf16 else 0.090
        return step

    assert precision.choose_precision(TIMED, make)[0] == "bf16-mixed"


def test_a_cpu_without_bfloat16_kernels_trains_in_float32(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(precision.time, "perf_counter", clock)
    assert precision.choose_precision(TIMED, fake_probe(clock, 0.010, None)) == (
        "32", "this CPU cannot train this model in bfloat16", pytest.approx(0.010))


def test_a_step_too_slow_to_time_in_the_budget_is_not_timed(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(precision.time, "perf_counter", clock)
    calls: list = []
    # 60 s: 5% is 3 s. A 2 s warm-up spends more than half of it: nothing more is timed
    config = TrainConfig(max_time=60.0, accelerator="cpu")
    too_slow = ("32", "a training step is too slow to time within 5% of the budget (at most 10 s)", None)
    assert precision.choose_precision(config, fake_probe(clock, 2.0, 0.1, calls)) == too_slow
    assert calls == [False]
    # 1 s and 0.1 s: the warm-ups (1.1 s) pass, the first round shows the rest would end at 4.4 s
    calls.clear()
    assert precision.choose_precision(config, fake_probe(clock, 1.0, 0.1, calls)) == too_slow
    assert calls == [False, True, False, True]
    # 0.1 s and 2 s: bf16-mixed's warm-up spends more than half; the reason names both steps
    calls.clear()
    assert precision.choose_precision(config, fake_probe(clock, 0.1, 2.0, calls)) == (
        "32", "a first step took 2.0 s in bf16-mixed against 0.1 s in float32 on this CPU; timing more would spend over "
        "5% of the budget (at most 10 s)", None)
    assert calls == [False, True]
    # 0.3 s and 0.1 s: 1.6 s in all
    calls.clear()
    assert precision.choose_precision(config, fake_probe(clock, 0.3, 0.1, calls))[0] == "bf16-mixed"
    assert len(calls) == 2 * (precision.ROUNDS + 1)


def test_a_gpu_without_bfloat16_trains_in_float32(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert precision.choose_precision(TrainConfig(max_time=60.0, accelerator="gpu"), never) == (
        "32", "this GPU has no bfloat16", None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)
    assert precision.choose_precision(TrainConfig(max_steps=10), never) == (
        "bf16-mixed", "this GPU computes in bfloat16", None)
    assert precision.choose_precision(TrainConfig(max_time=60.0, precision="32"), never) == ("32", "as given", None)


def test_the_timing_trains_its_own_model_and_leaves_the_random_numbers_as_they_were():
    config = ModelConfig(vocab_size=50, embed_dim=16, hidden_size=16, num_layers=1)
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    timings = precision.time_formats(precision.language_model_probe(config, batch_size=2, seq_len=5), seconds=60.0)
    assert torch.equal(torch.rand(3), expected)
    assert set(timings) == {"32", "bf16-mixed"}
    assert timings["32"] > 0 and timings["bf16-mixed"] > 0
    warm_ups: dict = {}
    assert set(precision.time_formats(precision.language_model_probe(config, 2, 5), 60.0, ("32",), warm_ups)) == {"32"}
    assert set(warm_ups) == {"32"} and warm_ups["32"] > 0


def test_the_classifier_probe_trains_a_copy_in_both_formats():
    from textgen.model.classifier import Classifier
    from textgen.model.config import ClassifierConfig

    model = Classifier(ModelConfig(vocab_size=40, embed_dim=8, hidden_size=8, num_layers=1), ClassifierConfig(num_classes=3))
    before = [tensor.clone() for tensor in model.parameters()]
    step = precision.classifier_probe(model, batch_size=4, length=6, classes=3)()
    step(False)
    step(True)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_lightning_gets_float32_for_an_unresolved_auto():
    assert TrainConfig().precision == "auto"
    assert trainer_arguments(TrainConfig(max_steps=5))["precision"] == "32"
    assert trainer_arguments(TrainConfig(max_steps=5, precision="bf16-mixed"))["precision"] == "bf16-mixed"
