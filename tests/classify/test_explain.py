"""textgen/classify/explain.py on a small fixed-seed classifier built in memory: the value explained for ordinal
and plain labels, occlusion's definition and batching, integrated gradients' completeness, the refusals
(the command end to end on a trained classifier: tests/classify/test_commands.py)."""

from __future__ import annotations

import pytest
import torch

from textgen.classify.data import Labels
from textgen.classify.explain import explain, explained_value, occlusion, text_ids
from textgen.modeldir.store import LoadedClassifier
from textgen.errors import TextgenError
from textgen.model.classifier import Classifier
from textgen.model.config import ClassifierConfig, ModelConfig
from textgen.tokenizer import BOS_ID, EOS_ID

TEXT = "The dog was sad at the park."
QUIET = {"embed_dropout": 0.0, "input_dropout": 0.0, "hidden_dropout": 0.0, "output_dropout": 0.0, "weight_drop": 0.0}


def classifier(tokenizer, ordinal: bool, max_tokens: int = 512) -> LoadedClassifier:
    torch.manual_seed(4)
    model = Classifier(ModelConfig(vocab_size=tokenizer.vocab_size, embed_dim=8, hidden_size=12, num_layers=1, **QUIET),
                       ClassifierConfig(num_classes=3, head_dropout=0.0, ordinal=ordinal, max_tokens=max_tokens)).eval()
    names = ("1", "2", "3") if ordinal else ("sad", "calm", "glad")
    return LoadedClassifier(model, tokenizer, Labels(names, ordinal))


def test_text_ids_wrap_the_text_and_keep_the_first_max_tokens(word_tokenizer):
    loaded = classifier(word_tokenizer, ordinal=True)
    assert text_ids(loaded, "Lily saw a dog.") == [BOS_ID, *word_tokenizer.encode("Lily saw a dog."), EOS_ID]
    short = classifier(word_tokenizer, ordinal=True, max_tokens=3)
    assert text_ids(short, "Lily saw a dog.") == [BOS_ID, *word_tokenizer.encode("Lily saw")]
    with pytest.raises(TextgenError, match="TEXT is empty"):
        text_ids(loaded, "  \n")


def test_the_value_is_the_expected_rating_or_the_labels_log_probability(word_tokenizer):
    logits = torch.tensor([[0.0, 1.0, 2.0]])
    probabilities = torch.softmax(logits, dim=-1)[0]
    rating = explained_value(classifier(word_tokenizer, ordinal=True), logits, target=2)
    assert float(rating[0]) == pytest.approx(float((probabilities * torch.tensor([1.0, 2.0, 3.0])).sum()))
    plain = explained_value(classifier(word_tokenizer, ordinal=False), logits, target=1)
    assert float(plain[0]) == pytest.approx(float(probabilities[1].log()))


@pytest.mark.parametrize("ordinal", [True, False])
def test_occlusion_scores_are_the_value_lost_without_each_word(word_tokenizer, ordinal):
    loaded = classifier(word_tokenizer, ordinal)
    result = explain(loaded, TEXT)
    assert [w.word for w in result.words] == ["The", "dog", "was", "sad", "at", "the", "park", "."]
    assert result.explained == ("expected rating" if ordinal else f"log P({result.label})") and result.gap is None
    assert sum(result.probabilities.values()) == pytest.approx(1.0)
    assert result.label == max(result.probabilities, key=result.probabilities.get)
    ids = text_ids(loaded, TEXT)
    without = [token for token in ids if token != word_tokenizer.piece_to_id("sad")]
    target = loaded.labels.index(result.label)
    with torch.no_grad():
        value = float(explained_value(loaded, loaded.scores(torch.tensor([without]), torch.tensor([len(without)])), target)[0])
    assert result.words[3].score == pytest.approx(result.value - value, abs=1e-5)


def test_occlusion_gives_the_same_scores_in_batches_of_any_size(word_tokenizer):
    loaded = classifier(word_tokenizer, ordinal=True)
    ids = text_ids(loaded, TEXT)
    groups = [[index] for index in range(1, len(ids) - 1)]
    whole = occlusion(loaded, ids, groups, 0, 2.0)
    assert len(whole) == len(groups)
    assert occlusion(loaded, ids, groups, 0, 2.0, batch_size=2) == pytest.approx(whole, abs=1e-6)


def test_integrated_gradients_add_up_to_the_change_from_the_empty_text(word_tokenizer):
    result = explain(classifier(word_tokenizer, ordinal=True), TEXT, "integrated-gradients", steps=64)
    assert result.method == "integrated-gradients" and len(result.words) == 8
    assert abs(result.gap) <= 0.05 * max(1e-3, abs(sum(w.score for w in result.words)))
    coarse = explain(classifier(word_tokenizer, ordinal=True), TEXT, "integrated-gradients", steps=1)
    assert coarse.value == result.value  # the path's steps change the scores, not the explained value


@pytest.mark.parametrize(("kwargs", "message"), [({"method": "shap"}, "--method 'shap' is unknown: choose occlusion or "
                                                                      "integrated-gradients"),
                                                 ({"steps": 0}, "--steps must be at least 1, got 0")])
def test_bad_settings_are_refused(word_tokenizer, kwargs, message):
    with pytest.raises(TextgenError) as error:
        explain(classifier(word_tokenizer, ordinal=True), TEXT, **kwargs)
    assert str(error.value) == message
