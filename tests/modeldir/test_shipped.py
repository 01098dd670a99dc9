"""The shipped models: reached by short name, found wherever they are installed, never written."""

from __future__ import annotations

import pytest

from textgen.errors import TextgenError
from textgen.modeldir import shipped


def test_a_short_name_resolves_to_the_installed_folder_and_a_folder_of_that_name_wins(tmp_path, monkeypatch):
    assert shipped.resolve_model_path("tinystories") == shipped.SHIPPED_DIR / "tinystories-lstm"
    assert (shipped.resolve_model_path("tinystories") / "textgen.json").is_file()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tinystories").mkdir()
    assert shipped.resolve_model_path("tinystories").resolve() == (tmp_path / "tinystories").resolve()


def test_an_unknown_short_name_is_one_line_naming_the_shipped_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TextgenError, match=r"^nomodel is neither a model directory nor a shipped model: .*\(tinystories\)$"):
        shipped.resolve_model_path("nomodel")


def test_a_shipped_model_missing_from_the_installation_says_how_to_reinstall(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(shipped, "SHIPPED_DIR", tmp_path / "nowhere")
    with pytest.raises(TextgenError) as refused:
        shipped.resolve_model_path("tinystories")
    assert "the shipped model tinystories is missing from this installation" in str(refused.value)
    assert "pip install --force-reinstall" in str(refused.value) and "\n" not in str(refused.value)


def test_a_path_inside_the_shipped_model_is_found_and_refused_with_the_copy_command(tmp_path):
    folder = shipped.SHIPPED_DIR / "tinystories-lstm"
    assert shipped.shipped_model_at(folder / "textgen.json") == "tinystories"
    assert shipped.shipped_model_at(folder) == "tinystories"
    assert shipped.shipped_model_at(tmp_path) is None
    link = tmp_path / "link"
    link.symlink_to(folder)
    assert shipped.shipped_model_at(link / "model.safetensors") == "tinystories"
    with pytest.raises(TextgenError) as refused:
        shipped.refuse_shipped(link, "tune-cast")
    assert str(refused.value).endswith("make your own copy with `textgen export tinystories my-tinystories --dtype "
                                       "bfloat16`, then run `textgen tune-cast my-tinystories`")
    shipped.refuse_shipped(tmp_path / "mine", "tune-cast")  # elsewhere: nothing to refuse
