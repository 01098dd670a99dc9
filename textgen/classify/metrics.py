"""Scores of a classifier's predictions, with numpy only: accuracy, macro-F1 (the mean F1 over
every class, a class never predicted counting with precision 0, as scikit-learn does), per-class
precision, recall and F1, the mean absolute error in label units for ordinal labels, and the
confusion matrix (rows: the true class, columns: the predicted one)."""

from __future__ import annotations

import numpy as np

from textgen.classify.data import Labels


def confusion(targets, predictions, classes: int) -> np.ndarray:
    """(K, K) counts: row = true class, column = predicted class."""
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(targets, dtype=np.int64), np.asarray(predictions, dtype=np.int64)), 1)
    return matrix


def classification_metrics(targets, probabilities, labels: Labels, loss: float | None = None) -> dict:
    """Metrics of class probabilities (N, K) against true class indices (N,); the prediction is
    each row's most likely class."""
    targets = np.asarray(targets, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    predictions = probabilities.argmax(axis=1)
    matrix = confusion(targets, predictions, len(labels.names))
    support, predicted, hits = matrix.sum(axis=1), matrix.sum(axis=0), np.diag(matrix)
    precision = np.divide(hits, predicted, out=np.zeros(len(hits)), where=predicted > 0)
    recall = np.divide(hits, support, out=np.zeros(len(hits)), where=support > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(len(hits)), where=precision + recall > 0)
    present = (support > 0) | (predicted > 0)  # classes absent from both are left out of the average, as in scikit-learn
    result = {
        "examples": int(len(targets)),
        "accuracy": float(hits.sum() / max(1, len(targets))),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "per_class": [{"label": name, "precision": float(precision[k]), "recall": float(recall[k]), "f1": float(f1[k]),
                       "support": int(support[k]), "predicted": int(predicted[k])} for k, name in enumerate(labels.names)],
        "confusion": matrix.tolist(),
    }
    if loss is not None:
        result["loss"] = float(loss)
    if labels.ordinal:
        values = np.asarray(labels.values)
        result["mae"] = float(np.abs(values[predictions] - values[targets]).mean()) if len(targets) else 0.0
    return result


def tune_decision_bias(log_probs, targets, labels: Labels, min_accuracy: float = 0.0, span: float = 2.0, step: float = 0.1,
                       rounds: int = 3) -> tuple[np.ndarray, dict]:
    """Per-class offsets added to the log-probabilities before the decision, chosen to raise the
    macro-F1 on held-out examples (skewed classes: the rare ones are under-predicted), while the
    accuracy stays at least `min_accuracy`. Coordinate ascent over a grid; the zero offsets are
    kept unless something is strictly better. Returns (offsets, {"before": ..., "after": ...})."""
    log_probs = np.asarray(log_probs, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.int64)

    def scores(bias):
        metrics = classification_metrics(targets, log_probs + bias, labels)
        return metrics["macro_f1"], metrics["accuracy"]

    bias = np.zeros(log_probs.shape[1])
    best_f1, best_accuracy = scores(bias)
    before = {"macro_f1": best_f1, "accuracy": best_accuracy}
    grid = np.arange(-span, span + 1e-9, step)
    for _ in range(rounds):
        changed = False
        for k in range(len(bias)):
            for value in grid:
                trial = bias.copy()
                trial[k] = value
                f1, accuracy = scores(trial)
                if f1 > best_f1 + 1e-9 and accuracy >= min_accuracy:
                    bias, best_f1, best_accuracy, changed = trial, f1, accuracy, True
        if not changed:
            break
    return bias, {"before": before, "after": {"macro_f1": best_f1, "accuracy": best_accuracy}}


def macro_f1_of_counts(weights: np.ndarray, targets: np.ndarray, predictions: np.ndarray, classes: int) -> np.ndarray:
    """Macro-F1 of the same predictions under many weightings of the examples at once: weights
    (R, N) (a bootstrap resample counts how often each example was drawn) -> (R,). The same
    definition as `classification_metrics` (classes absent from both truth and predictions left out)."""
    true = np.eye(classes)[targets]  # (N, K)
    guessed = np.eye(classes)[predictions]
    support, predicted, hits = weights @ true, weights @ guessed, weights @ (true * guessed)  # (R, K)
    f1 = np.divide(2 * hits, support + predicted, out=np.zeros_like(hits), where=support + predicted > 0)
    present = (support + predicted) > 0
    return (f1 * present).sum(axis=1) / np.maximum(present.sum(axis=1), 1)


def paired_bootstrap(targets, first, second, classes: int, resamples: int = 2000, seed: int = 0) -> dict:
    """How sure is `first`'s macro-F1 above `second`'s on these examples? Both predictions (N,) are
    scored on the same resamples of the examples (drawn with replacement): the difference on the
    examples themselves, its 95% interval over the resamples, and the share of resamples in which
    `first` is ahead."""
    targets, first, second = (np.asarray(values, dtype=np.int64) for values in (targets, first, second))
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(len(targets), np.full(len(targets), 1.0 / len(targets)), size=resamples).astype(np.float64)
    ones = np.ones((1, len(targets)))
    difference = float(macro_f1_of_counts(ones, targets, first, classes)[0] - macro_f1_of_counts(ones, targets, second, classes)[0])
    spread = macro_f1_of_counts(weights, targets, first, classes) - macro_f1_of_counts(weights, targets, second, classes)
    low, high = np.percentile(spread, [2.5, 97.5])
    return {"difference": difference, "ci95": [float(low), float(high)], "share_ahead": float((spread > 0).mean()),
            "resamples": resamples}
