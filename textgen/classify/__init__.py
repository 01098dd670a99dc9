"""The second job of the same LSTM: read a text (a review) and predict its class (a rating).

`data` reads labelled examples (.jsonl or .csv, plain or .gz) and checks them with one-line errors
naming the file and line; `metrics` scores predictions (accuracy, macro-F1, per-class precision and
recall, mean absolute error for ordinal labels, the confusion matrix). The plan for the rest
(model, training, predict, evaluate, explain, benchmark) is docs/plans/issue-15-classifier.md.
"""
