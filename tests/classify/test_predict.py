"""textgen/classify/predict.py: a classifier's directory round-trips; each kind of directory is
refused by the other kind's loader with one line; predictions are distributions over the labels."""

from __future__ import annotations

import json

import pytest
import torch

from textgen.modeldir.store import load, save_model_dir
from textgen.classify.data import Labels
from textgen.classify.predict import class_probabilities, load_classifier, predict, save_classifier_dir
from textgen.model.config import ClassifierConfig, ModelConfig
from textgen.errors import TextgenError
from textgen.model import LanguageModel
from textgen.model.classifier import Classifier

LABELS = Labels(("1", "2", "3"), ordinal=True)


@pytest.fixture
def saved(tmp_path, sentencepiece_tokenizer):
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=sentencepiece_tokenizer.vocab_size, embed_dim=8, hidden_size=16)
    model = Classifier(config, ClassifierConfig(num_classes=3, pooling="attention")).eval()
    save_classifier_dir(tmp_path / "clf", model, sentencepiece_tokenizer, LABELS, {"status": "trained"})
    return tmp_path / "clf", model


def test_a_classifier_directory_round_trips(saved, sentencepiece_tokenizer):
    path, model = saved
    meta = json.loads((path / "textgen.json").read_text())
    assert meta["task"] == "classifier" and meta["labels"] == {"names": ["1", "2", "3"], "ordinal": True}
    assert meta["classifier"]["pooling"] == "attention" and meta["status"] == "trained"
    loaded = load_classifier(path)
    assert loaded.labels == LABELS and loaded.model.head_config == model.head_config
    tokens, lengths = torch.tensor([[2, 40, 41, 3]]), torch.tensor([4])
    assert torch.allclose(loaded.model(tokens, lengths), model(tokens, lengths))


def test_each_kind_is_refused_by_the_other_kinds_loader(saved, tmp_path, sentencepiece_tokenizer):
    path, _ = saved
    with pytest.raises(TextgenError, match=r"is a classifier, not a language model: give this command a model directory written by `textgen train`"):
        load(path)
    language_model = LanguageModel(ModelConfig(vocab_size=sentencepiece_tokenizer.vocab_size, embed_dim=8, hidden_size=16))
    save_model_dir(tmp_path / "lm", language_model, sentencepiece_tokenizer, {})
    with pytest.raises(TextgenError, match=r"is a language model, not a classifier: give a classifier's model directory"):
        load_classifier(tmp_path / "lm")


def test_one_load_dispatches_on_the_task(saved, tmp_path, sentencepiece_tokenizer):
    """textgen.modeldir.store.load with task=None gives each directory's own loaded form; with a
    task it is the loader of that kind (load_classifier is load for the classifier's task)."""
    from textgen.modeldir.store import LoadedClassifier, LoadedModel

    path, model = saved
    save_model_dir(tmp_path / "lm", LanguageModel(ModelConfig(vocab_size=sentencepiece_tokenizer.vocab_size, embed_dim=8,
                                                              hidden_size=16)), sentencepiece_tokenizer, {})
    either = load(path, task=None)
    assert type(either) is LoadedClassifier and type(load_classifier(path)) is LoadedClassifier
    assert either.labels == LABELS and either.model.head_config == model.head_config
    assert type(load(tmp_path / "lm", task=None)) is LoadedModel and type(load(tmp_path / "lm")) is LoadedModel
    with pytest.raises(TextgenError, match=r"is a language model, not a classifier"):
        load(tmp_path / "lm", task="classifier")


def test_a_broken_classifier_description_is_one_error(saved):
    path, _ = saved
    meta = json.loads((path / "textgen.json").read_text())
    meta["labels"]["names"] = ["1", "2"]
    (path / "textgen.json").write_text(json.dumps(meta))
    with pytest.raises(TextgenError, match="2 labels for 3 classes"):
        load_classifier(path)
    meta["task"] = "summariser"
    (path / "textgen.json").write_text(json.dumps(meta))
    with pytest.raises(TextgenError, match='task must be "language model" or "classifier"'):
        load_classifier(path)


def test_predictions_are_distributions_with_the_likeliest_label(saved):
    loaded = load_classifier(saved[0])
    texts = ["Lily saw a cat.", "Tom ran to the park and saw his friend.\n\nThe end.", "Zoë!"]
    probabilities = class_probabilities(loaded, texts)
    assert probabilities.shape == (3, 3) and torch.allclose(probabilities.sum(dim=1), torch.ones(3))
    results = predict(loaded, texts)
    assert len(results) == len(texts)  # one result a text: the loop below sees every one
    for result, row in zip(results, probabilities):
        assert result["label"] == LABELS.names[int(row.argmax())]
        assert list(result["probabilities"]) == list(LABELS.names)
        assert result["expected"] == pytest.approx(sum((k + 1) * p for k, p in enumerate(row.tolist())))
    alone = class_probabilities(loaded, texts[1:2])  # batching and padding change nothing
    assert torch.allclose(alone[0], probabilities[1], atol=1e-6)


def test_evaluation_scores_a_labelled_file_and_refuses_unknown_labels(saved, tmp_path):
    from textgen.classify.predict import evaluate_classifier

    loaded = load_classifier(saved[0])
    rows = [("Lily saw a cat.", 1), ("Tom ran home.", 3), ("The end.", 2), ("A big red ball.", 3)]
    path = tmp_path / "test.jsonl"
    path.write_text("".join(json.dumps({"text": t, "rating": r}) + "\n" for t, r in rows))
    metrics = evaluate_classifier(loaded, path)
    probabilities = class_probabilities(loaded, [t for t, _ in rows])
    predicted = probabilities.argmax(dim=1).tolist()
    assert metrics["accuracy"] == pytest.approx(sum(p == r - 1 for p, (_, r) in zip(predicted, rows)) / 4)
    expected_loss = -sum(float(probabilities[i, r - 1].log()) for i, (_, r) in enumerate(rows)) / 4
    assert metrics["loss"] == pytest.approx(expected_loss, rel=1e-5)
    assert metrics["examples"] == 4 and "mae" in metrics and metrics["data"] == str(path)
    path.write_text(json.dumps({"text": "odd", "rating": 7}) + "\n")
    with pytest.raises(TextgenError, match=r'test\.jsonl:1 has label "7", which the training data never has'):
        evaluate_classifier(loaded, path)
