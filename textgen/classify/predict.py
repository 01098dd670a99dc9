"""A classifier's model directory (saved and loaded like a language model's, with "task":
"classifier", its head and its labels in textgen.json) and its predictions."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from textgen.classify.data import Labels
from textgen.errors import TextgenError
from textgen.modeldir.names import CLASSIFIER

PREDICT_BATCH = 256  # texts rated at a time from a --file: memory stays flat however long the file is

if TYPE_CHECKING:  # torch loads only where a function needs it: `classify predict` runs without it
    import torch

    from textgen.classify.numpy_forward import NumpyClassifier
    from textgen.model.classifier import Classifier
    from textgen.modeldir.store import LoadedClassifier
    from textgen.tokenizer import Tokenizer


def save_classifier_dir(path: str | os.PathLike, model: Classifier, tokenizer: Tokenizer, labels: Labels,
                        metadata: dict | None = None) -> Path:
    """Weights, tokenizer and textgen.json (with the task, the head and the labels), each atomically."""
    from textgen.modeldir.store import save_model_dir

    metadata = metadata or {}
    fields = {**metadata, "task": CLASSIFIER, "classifier": model.head_config.to_dict(),
              "labels": {**metadata.get("labels", {}), **labels.to_dict()}}
    return save_model_dir(path, model, tokenizer, fields)


def load_classifier(path: str | os.PathLike, device: str | torch.device = "cpu") -> LoadedClassifier:
    """A classifier directory, checked as `textgen.load` checks a language model's (textgen.modeldir.store.load
    for the classifier's task; a language model's directory is refused)."""
    from textgen.modeldir.store import load

    return load(path, device, task=CLASSIFIER)


def load_predictor(path: str | os.PathLike) -> NumpyClassifier | LoadedClassifier:
    """The classifier at `path` for `predict`: its numpy forward pass (no torch import, most of the
    2 s a prediction may take), or torch's network for a cell numpy does not run (peephole)."""
    from textgen.classify.numpy_forward import NumpyClassifier

    return NumpyClassifier.load(path) or load_classifier(path)


def texts_to_rate(loaded: NumpyClassifier | LoadedClassifier, path: str, text_field: str | None = None) -> Iterator[list[str]]:
    """The texts of a file to rate, in batches (PREDICT_BATCH): a long file, or an endless pipe,
    never sits in memory. A regular file is checked whole first, so a bad line stops the command
    before anything is printed. `text_field` defaults to the one the classifier was trained with."""
    field = text_field or (loaded.metadata.get("labels") or {}).get("text_field", "text")
    if path != "-" and os.path.isfile(path):
        for _ in iter_texts(path, field):
            pass
    return batched(iter_texts(path, field))


def class_probabilities(loaded: LoadedClassifier, texts: list[str], batch_size: int = 64) -> torch.Tensor:
    """(N, K) probabilities of every class for each text (read as `<s> text </s>`, its first
    max_tokens tokens), with the decision offsets tuned on validation (a prior shift)."""
    import torch

    from textgen.classify.data import encode_text, pad_rows

    limit = loaded.model.head_config.max_tokens
    device = next(loaded.model.parameters()).device
    rows = [encode_text(loaded.tokenizer, text)[:limit] for text in texts]
    out = []
    with torch.no_grad():
        for start in range(0, len(rows), batch_size):
            tokens, lengths = pad_rows(rows[start:start + batch_size])
            out.append(torch.softmax(loaded.scores(tokens.to(device), lengths.to(device)), dim=-1).cpu())
    return torch.cat(out) if out else torch.zeros(0, len(loaded.labels.names))


def predict(loaded: LoadedClassifier | NumpyClassifier, texts: list[str]) -> list[dict]:
    """For each text: the likeliest label, every class's probability, and for ordinal labels the
    expected value (the probabilities' mean rating). `loaded` is the torch network or its numpy
    forward pass (textgen.classify.numpy_forward, what `classify predict` runs)."""
    from textgen.classify.numpy_forward import NumpyClassifier

    numpy = isinstance(loaded, NumpyClassifier)
    probabilities = loaded.probabilities(texts) if numpy else class_probabilities(loaded, texts)
    labels = loaded.labels
    results = []
    for text, row in zip(texts, probabilities.tolist()):
        best = max(range(len(row)), key=row.__getitem__)
        result = {"text": text, "label": labels.names[best], "probabilities": dict(zip(labels.names, row))}
        if labels.ordinal:
            result["expected"] = sum(value * p for value, p in zip(labels.values, row))
        results.append(result)
    return results


def rating_line(labels: Labels, prediction: dict, with_text: bool = False) -> str:
    """A prediction as one line for the terminal: the label (a star for ordinal labels), its
    probability, every class's, the expected rating; `with_text`: then the text, cut to 60 characters."""
    probability = prediction["probabilities"][prediction["label"]]
    shown = "  ".join(f"{name}: {value:.2f}" for name, value in prediction["probabilities"].items())
    star = "★" if labels.ordinal else ""
    expected = f"  expected {prediction['expected']:.2f}" if "expected" in prediction else ""
    line = f"{prediction['label']}{star}  {probability:.2f}   ({shown}){expected}"
    if not with_text:
        return line
    text = prediction["text"] if len(prediction["text"]) <= 60 else prediction["text"][:59] + "…"
    return f"{line}   {text}"


def describe_evaluation(metrics: dict, model: str, data: str) -> list[str]:
    """evaluate_classifier's metrics as lines for the terminal: the model beside the majority
    class, then precision, recall and F1 per class."""
    majority = metrics["majority"]
    lines = [f"{model} on {data}: {metrics['examples']:,} examples", f"  {'':<22}{'model':>10}{'majority':>10}"]
    rows = [("accuracy", "accuracy"), ("macro-F1", "macro_f1")] + ([("mean abs. error", "mae")] if "mae" in metrics else [])
    lines += [f"  {label:<22}{metrics[key]:>10.4f}{majority[key]:>10.4f}" for label, key in rows]
    lines.append(f"  {'loss (nats)':<22}{metrics['loss']:>10.4f}")
    lines.append(f"\n  {'class':<8}{'precision':>10}{'recall':>10}{'F1':>8}{'support':>9}{'predicted':>11}")
    lines += [f"  {item['label']:<8}{item['precision']:>10.3f}{item['recall']:>10.3f}{item['f1']:>8.3f}"
              f"{item['support']:>9,}{item['predicted']:>11,}" for item in metrics["per_class"]]
    return lines


def evaluate_classifier(loaded: LoadedClassifier, path: str | os.PathLike, text_field: str | None = None,
                        label_field: str | None = None) -> dict:
    """The metrics of textgen.classify.metrics on a labelled file; its fields default to the ones the
    classifier was trained with, and a label it was never trained on is one error naming the line."""
    import torch

    from textgen.classify.data import check_known, read_labelled
    from textgen.classify.metrics import classification_metrics

    fields = loaded.metadata.get("labels") or {}
    data = read_labelled(path, text_field or fields.get("text_field", "text"), label_field or fields.get("label_field", "rating"))
    check_known(data, loaded.labels)
    probabilities = class_probabilities(loaded, [example.text for example in data.examples])
    targets = [loaded.labels.index(example.label) for example in data.examples]
    loss = torch.nn.functional.nll_loss(probabilities.clamp_min(1e-12).log(), torch.tensor(targets)).item()
    counts = (loaded.metadata.get("labels") or {}).get("train_counts") or [targets.count(k) for k in range(len(loaded.labels.names))]
    common = torch.zeros(len(targets), len(loaded.labels.names))
    common[:, max(range(len(counts)), key=counts.__getitem__)] = 1.0
    baseline = classification_metrics(targets, common.numpy(), loaded.labels)
    majority = {"label": loaded.labels.names[int(common[0].argmax())] if len(targets) else None,
                **{key: baseline[key] for key in ("accuracy", "macro_f1", "mae") if key in baseline}}
    return {"data": str(path), **classification_metrics(targets, probabilities.numpy(), loaded.labels, loss=loss),
            "majority": majority}


def iter_texts(path: str | os.PathLike, text_field: str | None = None) -> Iterator[str]:
    """The texts to rate in a file, streamed: one per line of a .txt file ("-" reads standard input,
    and a named pipe such as `<(command)` is read too; a device is refused), or the text field of
    each row of a .jsonl or .csv file (labels, if any, are not needed). Lines are capped as the
    corpus reader caps them (textgen.data.lines.MAX_LINE_BYTES), so memory never holds more than one."""
    import sys

    from textgen.classify.data import FORMATS, read_rows
    from textgen.data.lines import iter_lines, iter_stream_lines

    name = str(path).lower().removesuffix(".gz")
    count = 0
    if any(name.endswith(suffix) for suffix in FORMATS):
        for _line, text, _label in read_rows(path, text_field or "text", None, pipes=True):
            count += 1
            yield text
        if not count:
            raise TextgenError(f"{path} holds no rows: give one text per row")
        return
    lines = iter_stream_lines(sys.stdin.buffer) if str(path) == "-" else iter_lines(path, pipes=True)
    for line in lines:
        if line.strip():
            count += 1
            yield line.strip()
    if not count:
        raise TextgenError(f"{'standard input' if str(path) == '-' else path} has no text: give one text per line "
                           "(or a .jsonl/.csv file with a text field)")


def batched(texts: Iterable[str], size: int = PREDICT_BATCH) -> Iterator[list[str]]:
    """Texts in lists of `size` (the last may be shorter)."""
    batch: list[str] = []
    for text in texts:
        batch.append(text)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
