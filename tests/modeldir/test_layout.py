"""The model directory's layout (its names) and textgen.json, read and written in one place."""

from __future__ import annotations

import json

from textgen.modeldir.layout import ModelDirectory, description
from textgen.modeldir.names import FORMAT, FORMAT_VERSION, RUN_FILES, tokenizer_file


def test_every_file_has_one_name(tmp_path):
    folder = ModelDirectory(tmp_path)
    assert folder.metadata_path == tmp_path / "textgen.json"
    assert folder.weights_path == tmp_path / "model.safetensors"
    assert (folder.metrics_path, folder.curves_path) == (tmp_path / "metrics.csv", tmp_path / "loss.png")
    assert folder.last_checkpoint == tmp_path / "lightning" / "last.ckpt"
    assert folder.best_checkpoint == tmp_path / "lightning" / "best.ckpt"
    assert [tokenizer_file(kind) for kind in ("sentencepiece", "word", "char")] == \
        ["tokenizer.model", "tokenizer.json", "tokenizer.json"]
    assert set(RUN_FILES) == {"textgen.json", "model.safetensors", "tokenizer.model", "tokenizer.json", "metrics.csv",
                              "loss.png"}


def test_description_write_read_update(tmp_path):
    folder = ModelDirectory(tmp_path)
    meta = description({"status": "training", "corpus": {"path": "c.txt"}}, {"hidden_size": 8}, "word", 40, {},
                       weights_dtype="float32")
    assert meta["format"] == FORMAT and meta["format_version"] == FORMAT_VERSION
    assert meta["tokenizer"] == {"kind": "word", "file": "tokenizer.json", "vocab_size": 40}
    folder.write_metadata(meta)
    assert folder.read_metadata() == meta
    assert folder.metadata_path.read_text().endswith("}\n")
    updated = folder.update_metadata(status="trained")
    assert updated == {**meta, "status": "trained"}
    assert json.loads(folder.metadata_path.read_text())["status"] == "trained"
    assert [path.name for path in tmp_path.iterdir()] == ["textgen.json"]  # no temporary file left behind


def test_a_trained_directory_follows_the_layout(trained):
    folder = ModelDirectory(trained)
    meta = folder.read_metadata()
    assert folder.tokenizer_path(meta["tokenizer"]["kind"]).is_file()
    assert set(meta["files"]) == {"model.safetensors", meta["tokenizer"]["file"]}
    assert folder.weights_path.is_file() and folder.last_checkpoint.is_file()


def test_a_description_says_its_task_and_a_run_gives_its_settings():
    """A description before classifiers has no task (a language model); a run's textgen.json read as
    a settings file gives its training and model blocks without the vocabulary size."""
    import pytest

    from textgen.errors import TextgenError
    from textgen.modeldir.layout import recorded_settings
    from textgen.modeldir.names import CLASSIFIER, LANGUAGE_MODEL, TASKS, task_of

    assert (task_of({}), task_of({"task": CLASSIFIER}), TASKS) == (LANGUAGE_MODEL, CLASSIFIER, (LANGUAGE_MODEL, CLASSIFIER))
    meta = description({"training": {"lr": 0.01}}, {"hidden_size": 8, "vocab_size": 30}, "word", 30, {})
    assert recorded_settings(meta) == {"lr": 0.01, "hidden_size": 8}
    assert recorded_settings({"lr": 0.5}) == {"lr": 0.5}  # any other settings file as it is
    with pytest.raises(TextgenError, match="its \"training\" block must hold key = value settings, not list"):
        recorded_settings({**meta, "training": [1]}, "run/textgen.json")
