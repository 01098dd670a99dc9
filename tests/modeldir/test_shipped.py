"""The shipped models: reached by short name, found wherever they are installed, never written."""

from __future__ import annotations

from pathlib import Path

import pytest

from textgen.errors import TextgenError
from textgen.modeldir import shipped as shipped_models
from textgen.modeldir.shipped import refuse_shipped, resolve_model_path, shipped_model_at


def test_a_shipped_name_resolves_to_its_package_folder_and_a_folder_of_that_name_wins(tmp_path, monkeypatch):
    shipped = resolve_model_path("tinystories")
    assert shipped == shipped_models.SHIPPED_DIR / "tinystories-lstm" and (shipped / "textgen.json").is_file()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tinystories").mkdir()
    assert resolve_model_path("tinystories") == Path("tinystories")
    assert resolve_model_path(tmp_path / "elsewhere") == tmp_path / "elsewhere"  # a path: its own errors come later


def test_a_bare_name_that_is_neither_a_folder_nor_shipped_lists_the_shipped_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TextgenError, match=r"^tinystory is neither a model directory nor a shipped model: .*\(tinystories\)$"):
        resolve_model_path("tinystory")


def test_a_missing_shipped_model_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setattr(shipped_models, "SHIPPED_DIR", tmp_path)
    with pytest.raises(TextgenError) as refused:
        resolve_model_path("tinystories")
    assert str(refused.value).startswith(f"the shipped model tinystories is missing from this installation ({tmp_path}/")
    assert "reinstall textgen (pip install --force-reinstall" in str(refused.value) and "\n" not in str(refused.value)


def test_paths_inside_a_shipped_model_are_found_and_refused(tmp_path):
    shipped = resolve_model_path("tinystories")
    assert shipped_model_at(shipped) == shipped_model_at(shipped / "textgen.json") == "tinystories"
    assert shipped_model_at(tmp_path) is None
    (tmp_path / "link").symlink_to(shipped)
    assert shipped_model_at(tmp_path / "link") == "tinystories"
    (tmp_path / "textgen.json").symlink_to(shipped / "textgen.json")  # a folder of links to the shipped files
    assert shipped_model_at(tmp_path / "textgen.json") == "tinystories"
    assert shipped_model_at(tmp_path / "textgen.json", follow_last=False) is None  # the link is the entry a write replaces
    with pytest.raises(TextgenError) as error:
        refuse_shipped(shipped, "tune-cast")
    assert str(error.value).endswith("make your own copy with `textgen export tinystories my-tinystories --dtype "
                                     "bfloat16`, then run `textgen tune-cast my-tinystories`")
    refuse_shipped(tmp_path, "tune-cast")  # anything else passes
