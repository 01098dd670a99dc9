"""textgen/modeldir/schema.py on its own: model paths and shipped names, textgen.json's schema field by field,
the safetensors header, the weights' size bound and shape checks (whole directories: tests/modeldir/test_store.py
and tests/e2e/test_model_writes.py)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from textgen.errors import TextgenError
from textgen.modeldir.schema import (
    check_metadata, read_metadata, safetensors_header, shape_problems, weights_bytes_limit
)

META = Path("m/textgen.json")


def good_meta(**changes) -> dict:
    meta = {"format": "textgen-model", "format_version": 1, "model": {"vocab_size": 10},
            "tokenizer": {"file": "tokenizer.json", "kind": "word"}, "files": {"model.safetensors": "ab"}}
    return {**meta, **changes}



def test_a_good_description_passes():
    check_metadata(good_meta(), META)
    check_metadata(good_meta(task="classifier", weights_dtype="bfloat16", cache={"settings": None}), META)


@pytest.mark.parametrize(("meta", "message"), [
    ([], 'is not a textgen model description (no "format": "textgen-model")'),
    (good_meta(format="other"), "is not a textgen model description"),
    (good_meta(format_version=True), "format_version must be a whole number from 1 to 1"),
    (good_meta(format_version=0), "format_version must be a whole number from 1 to 1"),
    (good_meta(format_version=2), "has model format version 2, newer than this textgen reads (1): upgrade textgen"),
    (good_meta(model=[]), "model must be an object of model settings"),
    (good_meta(tokenizer={"file": "../x"}), 'tokenizer.file must be "tokenizer.model" or "tokenizer.json"'),
    (good_meta(files={"model.safetensors": 3}), "files must be an object of file name -> sha256 text"),
    (good_meta(task="translator"), 'task must be "language model" or "classifier"'),
    (good_meta(weights_dtype="int8"), "weights_dtype must be float32 or bfloat16 or float16"),
    (good_meta(cache={"settings": 3}), 'cache must be null or an object with "settings"'),
    (good_meta(sampling={"settings": {"temperature": "hot"}}), "fix or remove the section (textgen tune-cast writes it)"),
])
def test_each_bad_field_is_named_with_the_file(meta, message):
    with pytest.raises(TextgenError) as error:
        check_metadata(meta, META)
    assert str(error.value).startswith(str(META)) and message in str(error.value) and "\n" not in str(error.value)


def test_read_metadata_refuses_what_is_not_a_model_directory(tmp_path):
    with pytest.raises(TextgenError, match="does not exist: train one with"):
        read_metadata(tmp_path / "none")
    (tmp_path / "file").write_text("x")
    with pytest.raises(TextgenError, match=r"is a file, not a model directory: give the folder that holds it"):
        read_metadata(tmp_path / "file")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TextgenError, match="is not a textgen model directory: textgen.json is missing"):
        read_metadata(tmp_path / "empty")
    (tmp_path / "empty" / "textgen.json").write_text(json.dumps(good_meta()))
    assert read_metadata(tmp_path / "empty") == good_meta()


def safetensors(header) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text


def test_the_safetensors_header_gives_each_tensors_type_and_shape():
    data = safetensors({"__metadata__": {"x": "y"}, "a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}})
    assert safetensors_header(data + bytes(24), Path("w")) == {"a": ("F32", (2, 3))}


@pytest.mark.parametrize(("data", "message"), [
    (b"1234", "too short"), (struct.pack("<Q", 1 << 40) + b"{}", "a header of"),
    (safetensors([1, 2]), "its header is not an object"), (safetensors({"a": {"dtype": "F32"}}), "entry 'a' is malformed"),
])
def test_a_bad_safetensors_header_is_one_error(data, message):
    with pytest.raises(TextgenError, match=message):
        safetensors_header(data, Path("w"))


def test_the_weights_size_bound_allows_float32_a_head_and_the_header():
    assert weights_bytes_limit(1000) == 5000 + (16 << 20)


def test_shape_problems_name_wrong_missing_and_extra_tensors():
    declared = {"a": ("F32", (2, 3)), "b": ("F32", (4,)), "extra": ("F32", (1,)), "tied": ("F32", (1,))}
    expected = {"a": (2, 3), "b": (5,), "c": (1,)}
    assert shape_problems(declared, expected, allowed_missing={"tied"}) == [
        "b is (4,) where the model needs (5,)", "c is missing", "extra is not part of the model"]
    assert shape_problems({"a": ("F32", (2, 3))}, {"a": (2, 3)}) == []
