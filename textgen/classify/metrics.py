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
