"""--resume checks lightning/last.ckpt before any training (textgen/training/resume.py): a damaged,
empty or foreign file, another model's checkpoint, another kind's, or another optimizer's state
is refused in one line that names the file and the fix, never a traceback from Lightning."""

from __future__ import annotations

import io
import json
import random
import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from tests.conftest import one_line_error

from textgen.cli import cli

LM = ["--tokenizer-kind", "word", "--embed-dim", "8", "--num-layers", "1", "--batch-size", "4", "--seq-len", "8",
      "--val-every", "4", "--log-every", "4"]
CLASSIFIER = ["--tokenizer-kind", "word", "--embed-dim", "8", "--hidden-size", "12", "--batch-size", "8", "--val-every", "4",
              "--log-every", "4"]


def run(*args):
    return CliRunner().invoke(cli, [str(arg) for arg in args])


@pytest.fixture(scope="module")
def runs(tmp_path_factory, corpus) -> dict:
    """Three tiny runs: two language models of different sizes and a classifier."""
    folder = tmp_path_factory.mktemp("resume")
    rng = random.Random(0)
    reviews = folder / "reviews.jsonl"
    words = {"1": "awful stale bad", "2": "fine okay plain", "3": "great lovely tasty"}
    reviews.write_text("".join(json.dumps({"text": f"the taffy was {rng.choice(words[label].split())} today",
                                           "rating": int(label)}) + "\n"
                               for label in rng.choices(["1", "2", "3"], k=48)))
    made = {"cache": folder / "cache", "reviews": reviews, "corpus": corpus}
    for name, hidden in (("small", 16), ("large", 24)):
        result = run("train", corpus, "--out", folder / name, *LM, "--hidden-size", hidden, "--max-steps", 4,
                     "--cache-dir", made["cache"])
        assert result.exit_code == 0, result.output
        made[name] = folder / name
    result = run("classify", "train", reviews, "--out", folder / "classifier", *CLASSIFIER, "--max-steps", 4)
    assert result.exit_code == 0, result.output
    made["classifier"] = folder / "classifier"
    return made


def saved_bytes(value) -> bytes:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


def ckpt(folder: Path) -> Path:
    return folder / "lightning" / "last.ckpt"


def resume_language_model(runs, folder, *extra):
    return run("train", runs["corpus"], "--out", folder, *LM,
               "--max-steps", 8, "--resume", "--cache-dir", runs["cache"], *extra)


@pytest.fixture
def copy(runs, tmp_path):
    def make(name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(runs[name], target)
        return target

    return make


CORRUPTIONS = {
    "empty": (lambda data: b"", "is empty"),
    "truncated": (lambda data: data[: len(data) // 2], "is damaged or truncated"),
    "random bytes": (lambda data: bytes(random.Random(1).randrange(256) for _ in range(len(data))), "is damaged or not"),
    "a plain state dict": (lambda data: saved_bytes({"state_dict": {"weight": torch.zeros(2)}}),
                           "is not a Lightning checkpoint of a textgen run (it has no pytorch-lightning_version"),
    "a tensor": (lambda data: saved_bytes(torch.zeros(3)), "holds a Tensor, not a Lightning checkpoint"),
    "a list": (lambda data: saved_bytes([1, 2]), "holds a list, not a Lightning checkpoint"),
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_a_damaged_or_foreign_last_checkpoint_is_one_line(copy, runs, case):
    folder = copy("small")
    damage, fragment = CORRUPTIONS[case]
    ckpt(folder).write_bytes(damage(ckpt(folder).read_bytes()))
    result = resume_language_model(runs, folder)
    one_line_error(result, f"--resume: {ckpt(folder)} {fragment}")
    assert "put back this run's own last.ckpt, or train afresh with --overwrite" in result.stderr


def test_another_models_checkpoint_is_refused_before_any_data_work(copy, runs):
    folder = copy("small")
    shutil.copy(ckpt(runs["large"]), ckpt(folder))
    result = resume_language_model(runs, folder)
    one_line_error(result, f"--resume: {ckpt(folder)} holds another model than this run (hidden_size 24 in it, 16 in the run)")
    assert "data:" not in result.stderr  # refused before the corpus was read


def test_a_checkpoint_of_the_same_shape_settings_but_other_tensors_is_refused(copy, runs):
    """Settings that agree but tensors that do not (a hand-edited checkpoint): the shapes are compared too."""
    folder = copy("small")
    checkpoint = torch.load(ckpt(folder), weights_only=True)
    name = next(iter(checkpoint["state_dict"]))
    checkpoint["state_dict"][name] = torch.zeros(3, 3)
    torch.save(checkpoint, ckpt(folder))
    one_line_error(resume_language_model(runs, folder), f"holds another model than this run ({name} [3, 3] in it")


def test_a_classifiers_checkpoint_in_a_language_model_run_and_the_reverse(copy, runs):
    language_model, classifier = copy("small"), copy("classifier")
    shutil.copy(ckpt(runs["classifier"]), ckpt(language_model))
    shutil.copy(ckpt(runs["small"]), ckpt(classifier))
    one_line_error(resume_language_model(runs, language_model),
                   "is a classifier's checkpoint, but this is a language model's run")
    one_line_error(run("classify", "train", runs["reviews"], "--out", classifier, "--resume", "--max-steps", 8),
                   "is a language model's checkpoint, but this is a classifier's run")


def test_a_classifier_run_resumed_by_textgen_train_is_refused(copy, runs):
    folder = copy("classifier")
    one_line_error(run("train", runs["reviews"], "--out", folder, "--resume", "--max-steps", 8),
                   f"{folder} holds a classifier's run, not a language model's: continue it with textgen classify train")


def test_another_optimizer_on_resume_is_refused(copy, runs):
    folder = copy("small")
    result = resume_language_model(runs, folder, "--optimizer", "ntasgd", "--average", 0)
    one_line_error(result, "--resume with --optimizer ntasgd: the run trains with adamw")


def test_the_runs_own_checkpoint_still_resumes(copy, runs):
    folder = copy("small")
    result = resume_language_model(runs, folder)
    assert result.exit_code == 0, result.output
    assert json.loads((folder / "textgen.json").read_text())["metrics"]["step"] == 8
