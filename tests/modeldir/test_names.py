"""The names a model directory's files and tasks go by, in one module that imports nothing."""

from __future__ import annotations

import ast
from pathlib import Path

from textgen.modeldir import names


def test_each_tokenizer_kind_has_its_file_and_an_unknown_kind_reads_json():
    assert [names.tokenizer_file(kind) for kind in ("sentencepiece", "word", "char")] == \
        ["tokenizer.model", "tokenizer.json", "tokenizer.json"]
    assert names.tokenizer_file("future-kind") == "tokenizer.json"


def test_a_description_without_a_task_is_a_language_model():
    assert names.task_of({}) == names.LANGUAGE_MODEL == "language model"
    assert names.task_of({"task": "classifier"}) == names.CLASSIFIER
    assert names.TASKS == ("language model", "classifier")


def test_the_file_lists_name_every_file_once():
    for files in (names.RUN_FILES, names.MODEL_DIR_FILES, names.SHARED_FILES):
        assert len(files) == len(set(files))
    assert set(names.MODEL_DIR_FILES) | set(names.SHARED_FILES) == set(names.RUN_FILES)


def test_it_imports_nothing_of_textgen_so_every_module_can_use_it():
    tree = ast.parse(Path(names.__file__).read_text())
    imported = [node.module if isinstance(node, ast.ImportFrom) else alias.name
                for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                for alias in node.names]
    assert [name for name in imported if name and name.startswith("textgen")] == []
