"""textgen/classify/metrics.py: every number worked out by hand, and the majority baseline of the reviews."""

from __future__ import annotations

import numpy as np
import pytest

from textgen.classify.data import Labels
from textgen.classify.metrics import classification_metrics, confusion


def one_hot(predictions, classes):
    return np.eye(classes)[predictions]


def test_metrics_by_hand():
    """Truth 1 1 1 2 2 3, predicted 1 1 2 2 2 2 (class "3" never predicted): accuracy 4/6;
    precision 1, 2/4, 0; recall 2/3, 1, 0; F1 0.8, 2/3, 0; macro-F1 the mean of the three;
    mean absolute error (0+0+1+0+0+1)/6 in stars."""
    labels = Labels(("1", "2", "3"), ordinal=True)
    targets, predictions = [0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 1, 1]
    metrics = classification_metrics(targets, one_hot(predictions, 3), labels, loss=0.5)
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    assert [c["precision"] for c in metrics["per_class"]] == pytest.approx([1.0, 0.5, 0.0])
    assert [c["recall"] for c in metrics["per_class"]] == pytest.approx([2 / 3, 1.0, 0.0])
    assert [c["f1"] for c in metrics["per_class"]] == pytest.approx([0.8, 2 / 3, 0.0])
    assert metrics["macro_f1"] == pytest.approx((0.8 + 2 / 3 + 0.0) / 3)
    assert metrics["mae"] == pytest.approx(2 / 6)
    assert metrics["confusion"] == [[2, 1, 0], [0, 2, 0], [0, 1, 0]]
    assert [c["support"] for c in metrics["per_class"]] == [3, 2, 1] and metrics["loss"] == 0.5
    assert metrics["examples"] == 6


def test_nominal_labels_have_no_mean_absolute_error_and_the_argmax_is_the_prediction():
    labels = Labels(("positive", "negative"), ordinal=False)
    metrics = classification_metrics([0, 1], [[0.9, 0.1], [0.3, 0.7]], labels)
    assert "mae" not in metrics and "loss" not in metrics
    assert metrics["accuracy"] == 1.0 and metrics["macro_f1"] == 1.0


def test_a_class_absent_from_truth_and_predictions_is_left_out_of_the_average():
    labels = Labels(("1", "2", "3"), ordinal=True)
    metrics = classification_metrics([0, 1], one_hot([0, 1], 3), labels)
    assert metrics["macro_f1"] == 1.0  # class "3" neither occurs nor is predicted
    assert metrics["per_class"][2] == {"label": "3", "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0, "predicted": 0}


def test_majority_baseline_on_the_reviews_counts():
    """Always 5 stars on the reviews' test split (counts from its README: 1 star 68, 2 stars 47,
    3 stars 68, 4 stars 102, 5 stars 468): accuracy 468/753, macro-F1 over the five classes, and
    the mean absolute error in stars."""
    counts = {1: 68, 2: 47, 3: 68, 4: 102, 5: 468}
    targets = np.concatenate([np.full(n, stars - 1) for stars, n in counts.items()])
    labels = Labels(("1", "2", "3", "4", "5"), ordinal=True)
    metrics = classification_metrics(targets, one_hot(np.full(len(targets), 4), 5), labels)
    assert metrics["accuracy"] == pytest.approx(468 / 753)
    f1_five = 2 * (468 / 753) / (468 / 753 + 1)
    assert metrics["macro_f1"] == pytest.approx(f1_five / 5)
    assert metrics["mae"] == pytest.approx((68 * 4 + 47 * 3 + 68 * 2 + 102 * 1) / 753)


def test_confusion_counts_pairs():
    assert confusion([0, 1, 1], [1, 1, 0], 2).tolist() == [[0, 1], [1, 1]]


def test_decision_bias_raises_macro_f1_and_keeps_the_accuracy_floor():
    import numpy as np

    from textgen.classify.metrics import classification_metrics, tune_decision_bias

    labels = Labels(("1", "2", "3"), ordinal=True)
    rng = np.random.default_rng(0)
    targets = rng.choice(3, size=300, p=[0.15, 0.15, 0.7])
    # a model that leans to the common class: the rare classes' scores are too low by 0.8
    log_probs = np.log(np.full((300, 3), 0.1))
    log_probs[np.arange(300), targets] += rng.normal(1.2, 0.8, size=300)
    log_probs[:, :2] -= 0.8
    before = classification_metrics(targets, log_probs, labels)
    bias, record = tune_decision_bias(log_probs, targets, labels, min_accuracy=before["accuracy"] - 0.01)
    after = classification_metrics(targets, log_probs + bias, labels)
    assert record["before"]["macro_f1"] == pytest.approx(before["macro_f1"])
    assert after["macro_f1"] == pytest.approx(record["after"]["macro_f1"]) and after["macro_f1"] > before["macro_f1"] + 0.05
    assert after["accuracy"] >= before["accuracy"] - 0.01
    assert bias[:2].mean() > bias[2]  # the rare classes were lifted
    unchanged, _ = tune_decision_bias(log_probs, targets, labels, min_accuracy=1.0)  # an impossible floor: no change
    assert not unchanged.any()


def test_macro_f1_of_counts_is_the_metrics_macro_f1_for_any_weighting():
    from textgen.classify.metrics import macro_f1_of_counts

    rng = np.random.default_rng(3)
    targets, predictions = rng.integers(0, 4, 60), rng.integers(0, 3, 60)  # class 3 is never predicted
    labels = Labels(("a", "b", "c", "d"), False)
    draws = rng.integers(0, 60, (5, 60))
    weights = np.stack([np.bincount(row, minlength=60) for row in draws]).astype(float)
    fast = macro_f1_of_counts(weights, targets, predictions, 4)
    for row, value in zip(draws, fast):
        one_hot = np.eye(4)[predictions[row]]
        assert value == pytest.approx(classification_metrics(targets[row], one_hot, labels)["macro_f1"], abs=1e-12)


def test_paired_bootstrap_sees_a_better_predictor_and_calls_equal_ones_level():
    from textgen.classify.metrics import paired_bootstrap

    rng = np.random.default_rng(0)
    targets = rng.integers(0, 3, 400)
    good = np.where(rng.random(400) < 0.8, targets, rng.integers(0, 3, 400))
    poor = np.where(rng.random(400) < 0.4, targets, rng.integers(0, 3, 400))
    ahead = paired_bootstrap(targets, good, poor, 3, resamples=500)
    assert ahead["difference"] > 0.2 and ahead["ci95"][0] > 0 and ahead["share_ahead"] == 1.0
    behind = paired_bootstrap(targets, poor, good, 3, resamples=500)
    assert behind["ci95"][1] < 0 and behind["share_ahead"] == 0.0
    level = paired_bootstrap(targets, good, good, 3, resamples=500)
    assert level["difference"] == 0.0 and level["ci95"] == [0.0, 0.0] and level["share_ahead"] == 0.0
