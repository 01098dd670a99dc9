"""ClassifierTask: its loss (class-weighted cross-entropy plus the expected rating distance), its
selection score, and ULMFiT's discriminative rates and frozen start, as functions of the step."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from textgen.model.config import ClassifierConfig, ModelConfig, TrainConfig
from textgen.training.classifier_task import ClassifierTask, run_progress

MODEL = ModelConfig(vocab_size=30, embed_dim=8, hidden_size=12, num_layers=2)
LABELS = {"names": ["1", "2", "3"], "ordinal": True}


def make_task(ordinal_weight=0.5, weights=(1.0, 2.0, 0.5), schedule=None, **train) -> ClassifierTask:
    head = ClassifierConfig(num_classes=3, ordinal=True, ordinal_weight=ordinal_weight)
    config = TrainConfig(**{"max_steps": 100, "warmup_steps": 0, "lr": 1e-2, **train})
    return ClassifierTask(MODEL.to_dict(), head.to_dict(), config.to_dict(), LABELS, list(weights), schedule)


def test_loss_is_weighted_cross_entropy_plus_the_expected_distance():
    task = make_task()
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]])
    targets = torch.tensor([0, 2])
    weights = torch.tensor([1.0, 2.0, 0.5])
    probabilities = torch.softmax(logits, dim=-1)
    distance = torch.tensor([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0]])
    expected = (probabilities * distance).sum(dim=-1)
    by_hand = F.cross_entropy(logits, targets, weight=weights) + 0.5 * (weights[targets] * expected).sum() / weights[targets].sum()
    assert task.loss(logits, targets).item() == pytest.approx(by_hand.item(), rel=1e-6)
    assert make_task(ordinal_weight=0.0).loss(logits, targets).item() == pytest.approx(
        F.cross_entropy(logits, targets, weight=weights).item(), rel=1e-6)


def test_the_best_weights_are_the_highest_macro_f1():
    task = make_task()
    assert task.selection_score({"macro_f1": 0.6, "loss": 2.0}) < task.selection_score({"macro_f1": 0.5, "loss": 0.1})


def test_discriminative_rates_and_a_frozen_start_follow_the_run():
    task = make_task(schedule={"unfreeze": 0.2, "lr_decay": 2.0})
    task.seconds_before = 0.0
    groups = task.parameter_groups()
    assert len(groups) == 4  # head, layer 2, layer 1, embedding
    assert groups[0] == list(task.model.head.parameters()) and groups[-1] == [task.model.embedding.weight]
    optimizer = task.configure_optimizers()
    scheduler = optimizer["lr_scheduler"]["scheduler"]
    peaks = [group["initial_lr"] for group in optimizer["optimizer"].param_groups]
    assert peaks[::2] == pytest.approx([1e-2, 5e-3, 2.5e-3, 1.25e-3])  # each group down: / 2
    factors = lambda step: [factor(step) for factor in scheduler.lr_lambdas][::2]  # noqa: E731
    assert factors(10)[0] > 0 and factors(10)[1:] == [0.0, 0.0, 0.0]  # 10% of the run: only the head learns
    assert all(value > 0 for value in factors(30))  # past 20%: every group learns
    assert run_progress(30, task.train_config, 0.0) == pytest.approx(0.3)


def test_a_frozen_encoder_skips_its_backward_pass_and_scores_the_same():
    task = make_task(schedule={"unfreeze": 0.2, "lr_decay": 2.0})
    model = task.model.eval()  # no dropout: both paths must give the same scores
    tokens, lengths = torch.randint(0, 30, (3, 7)), torch.tensor([7, 4, 1])
    assert torch.allclose(model(tokens, lengths, frozen_encoder=True), model(tokens, lengths))
    model.train()
    model(tokens, lengths, frozen_encoder=True).sum().backward()
    assert all(parameter.grad is not None for parameter in model.head.parameters())
    encoder = [model.embedding.weight, *model.layers.parameters()]
    assert all(parameter.grad is None for parameter in encoder)
    model(tokens, lengths).sum().backward()
    assert all(parameter.grad is not None for parameter in encoder)


def test_the_encoder_counts_as_frozen_exactly_while_its_rate_is_zero():
    from types import SimpleNamespace

    task = make_task(schedule={"unfreeze": 0.2, "lr_decay": 2.0})
    task.seconds_before = 0.0
    optimizer = task.configure_optimizers()
    scheduler = optimizer["lr_scheduler"]["scheduler"]
    task._trainer = SimpleNamespace(optimizers=[optimizer["optimizer"]])
    seen = []
    for step in range(40):
        seen.append(task.encoder_frozen())
        optimizer["optimizer"].step()
        scheduler.step()
    assert seen == [True] * 20 + [False] * 20  # 20% of 100 steps frozen, then every group learns
    scratch = make_task()
    scratch._trainer = SimpleNamespace(optimizers=[scratch.configure_optimizers()["optimizer"]])
    assert scratch.encoder_frozen() is False


def test_a_run_from_scratch_has_one_rate_and_no_frozen_start():
    task = make_task()
    optimizer = task.configure_optimizers()
    assert {group["initial_lr"] for group in optimizer["optimizer"].param_groups} == {1e-2}
    scheduler = optimizer["lr_scheduler"]["scheduler"]
    assert all(factor(0) > 0 for factor in scheduler.lr_lambdas)


def test_checkpoint_extras_round_trip():
    task = make_task()
    task.val_history, task.last_metrics, task.seconds_before = [-0.4, -0.5], {"step": 8, "macro_f1": 0.5}, 12.0
    checkpoint: dict = {}
    task.on_save_checkpoint(checkpoint)
    restored = make_task()
    restored.on_load_checkpoint(checkpoint)
    assert restored.val_history == [-0.4, -0.5] and restored.last_metrics["step"] == 8
    assert restored.seconds_before == pytest.approx(12.0, abs=0.5)


def test_validation_metrics_match_a_recount():
    from textgen.classify.data import Encoded

    torch.manual_seed(0)
    ids = tuple(torch.randint(4, 30, (length,)).numpy() for length in (3, 7, 5, 9, 4, 6))
    targets = torch.tensor([0, 1, 2, 0, 1, 2]).numpy()
    task = make_task()
    task.valid = Encoded(ids, targets, sum(len(row) for row in ids), 0, 0)
    metrics = task.validate()
    task.model.eval()
    with torch.no_grad():
        predicted = [int(task.model(torch.tensor(row)[None], torch.tensor([len(row)])).argmax()) for row in ids]
    assert metrics["accuracy"] == pytest.approx(sum(p == t for p, t in zip(predicted, targets)) / 6)
    assert task.val_history == [task.selection_score(metrics)]


def test_the_weight_average_is_what_validation_sees_and_the_checkpoint_keeps():
    """classify train --average: the classifier folds its weights into a moving average after each
    step (the language model's rule, shared by the base task); validation scores the average,
    training goes on with the raw weights, and a resume restores the average."""
    from textgen.classify.data import Encoded

    torch.manual_seed(0)
    ids = tuple(torch.randint(4, 30, (length,)).numpy() for length in (3, 7, 5, 9))
    task = make_task(average=0.5)
    task.valid = Encoded(ids, torch.tensor([0, 1, 2, 0]).numpy(), 24, 0, 0)
    head = task.model.head.bias
    with torch.no_grad():
        head.copy_(torch.tensor([5.0, 0.0, 0.0]))  # the average: everything is class "1"
        task.update_average()
        head.copy_(torch.tensor([0.0, 0.0, 50.0]))  # the raw weights: everything is class "3"
    assert task.average_updates == 1
    metrics = task.validate()
    assert metrics["accuracy"] == pytest.approx(0.5)  # targets 0, 1, 2, 0: the average's class "1" is right twice
    assert torch.equal(head.detach(), torch.tensor([0.0, 0.0, 50.0]))  # the raw weights are back for training
    checkpoint: dict = {}
    task.on_save_checkpoint(checkpoint)
    restored = make_task(average=0.5)
    restored.on_load_checkpoint(checkpoint)
    with restored.averaged_weights():
        assert torch.equal(restored.model.head.bias.detach(), torch.tensor([5.0, 0.0, 0.0]))
    plain = make_task(average=0)  # 0 turns it off
    plain.update_average()
    assert plain.average is None


def lm_task(model_config: ModelConfig, lm_weight: float = 0.7):
    """A language model and a classifier task started from it, with the next-token loss on."""
    from textgen.model.language_model import LanguageModel

    torch.manual_seed(0)
    language_model = LanguageModel(model_config).eval()
    torch.nn.init.normal_(language_model.decoder.bias)  # so a decoder that was not copied shows
    head = ClassifierConfig(num_classes=3, ordinal=True, lm_weight=lm_weight, adversarial=0.0)  # the adversarial loss: its own test
    config = TrainConfig(max_steps=100, warmup_steps=0, lr=1e-2, log_every=1000)
    task = ClassifierTask(model_config.to_dict(), head.to_dict(), config.to_dict(), LABELS, [1.0, 2.0, 0.5])
    task.model.load_encoder(language_model)
    task.lm_head.load_decoder(language_model)
    return language_model, task


@pytest.mark.parametrize("tied", [True, False])
def test_the_next_token_loss_is_the_language_models_own_beside_the_classifiers(tied):
    """--lm-weight: the training loss is the classifier's plus lm_weight times the language model's
    cross-entropy on the same texts' next tokens (padding excluded), with tied or untied decoders."""
    from types import SimpleNamespace

    model_config = MODEL.replace(tie_weights=tied, **({} if tied else {"output_projection": False}))
    language_model, task = lm_task(model_config)
    task.model.eval()
    tokens, lengths, targets = torch.randint(0, 30, (3, 7)), torch.tensor([7, 4, 2]), torch.tensor([0, 2, 1])
    optimizer = task.configure_optimizers()["optimizer"]
    task._trainer = SimpleNamespace(optimizers=[optimizer], progress_bar_callback=None, world_size=1, global_step=0)
    task._step_started = 0.0
    loss = task.training_step((tokens, lengths, targets), 0)
    with torch.no_grad():
        logits, _ = language_model(tokens)
    inside = torch.arange(6)[None, :] + 1 < lengths[:, None]
    next_token = F.cross_entropy(logits[:, :-1][inside], tokens[:, 1:][inside])
    assert inside.sum() == 6 + 3 + 1
    by_hand = task.loss(task.model(tokens, lengths), targets) + 0.7 * next_token
    assert loss.item() == pytest.approx(by_hand.item(), rel=1e-5)
    padded = tokens.clone()
    padded[2, 2:] = (padded[2, 2:] + 1) % 30  # what lies past a text's length does not count
    assert task.training_step((padded, lengths, targets), 0).item() == pytest.approx(loss.item(), rel=1e-6)
    shared = {id(parameter) for group in optimizer.param_groups for parameter in group["params"]}
    assert sum(len(group["params"]) for group in optimizer.param_groups) == len(shared)  # each parameter once
    assert {id(parameter) for parameter in task.lm_head.parameters()} <= {id(p) for p in task.parameter_groups()[0]}
    assert (task.lm_head.weight is None) == tied  # tied: the decoder reads the classifier's own embedding
    states = task.model.states(tokens[:, :1])
    assert task.lm_head.loss(states, tokens[:, :1], torch.ones(3, dtype=torch.long), task.model.embedding.weight).item() == 0.0


def test_without_lm_weight_the_task_has_no_next_token_head():
    assert make_task().lm_head is None
    with pytest.raises(Exception, match="lm_weight must be a number >= 0"):
        ClassifierConfig(num_classes=3, lm_weight=-1.0)


def adversarial_task(adversarial: float) -> ClassifierTask:
    from types import SimpleNamespace

    torch.manual_seed(0)
    head = ClassifierConfig(num_classes=3, ordinal=True, adversarial=adversarial)
    config = TrainConfig(max_steps=100, warmup_steps=0, lr=1e-2, log_every=1000)
    task = ClassifierTask(MODEL.to_dict(), head.to_dict(), config.to_dict(), LABELS, [1.0, 2.0, 0.5])
    task.model.eval()  # no dropout: the loss by hand below must see the same network
    task._trainer = SimpleNamespace(optimizers=[task.configure_optimizers()["optimizer"]], progress_bar_callback=None,
                                    world_size=1, global_step=0)
    task._step_started = 0.0
    return task


def test_adversarial_training_adds_the_loss_at_embeddings_pushed_up_the_gradient():
    """--adversarial: the training loss is the clean loss plus the loss with each text's embeddings
    moved along the clean loss's gradient by the set share of their norm (over its own tokens);
    padding is not pushed and does not count, and 0 leaves the clean loss alone."""
    tokens, lengths, targets = torch.randint(4, 30, (3, 7)), torch.tensor([7, 4, 2]), torch.tensor([0, 2, 1])
    task = adversarial_task(0.05)
    loss = task.training_step((tokens, lengths, targets), 0)
    model = task.model
    embedded = model.embedding(tokens).detach().requires_grad_(True)
    clean = task.loss(model.forward_embedded(embedded, lengths), targets)
    gradient, = torch.autograd.grad(clean, embedded)
    assert gradient[2, 2:].abs().max().item() == 0.0  # past a text's end the loss has no gradient
    assert gradient[1, :4].abs().max().item() > 0.0
    push = torch.zeros_like(gradient)
    for row, length in enumerate(lengths.tolist()):
        size = embedded[row, :length].detach().norm()
        push[row, :length] = 0.05 * size * gradient[row, :length] / gradient[row, :length].norm()
    assert push[1].norm().item() == pytest.approx(0.05 * embedded[1, :4].detach().norm().item(), rel=1e-5)
    pushed = task.loss(model.forward_embedded(embedded.detach() + push, lengths), targets)
    assert pushed.item() > clean.item()  # the push raises the loss
    assert loss.item() == pytest.approx((clean + pushed).item(), rel=1e-5)
    padded = tokens.clone()
    padded[2, 2:] = (padded[2, 2:] + 1) % 30  # what lies past a text's length does not count
    assert task.training_step((padded, lengths, targets), 0).item() == pytest.approx(loss.item(), rel=1e-5)
    loss.backward()  # the sum trains: every parameter of the stack gets a gradient from both passes
    assert all(parameter.grad is not None for parameter in model.parameters() if parameter.requires_grad)
    plain = adversarial_task(0.0)
    assert plain.training_step((tokens, lengths, targets), 0).item() == pytest.approx(
        plain.loss(plain.model(tokens, lengths), targets).item(), rel=1e-6)


def test_adversarial_share_must_be_in_zero_one():
    for bad in (-0.1, 1.0, True):
        with pytest.raises(Exception, match="adversarial must be a share in"):
            ClassifierConfig(num_classes=3, adversarial=bad)
