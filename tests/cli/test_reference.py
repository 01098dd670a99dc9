"""docs/commands.md is the CLI's own --help texts: regenerated in memory, it is the committed file.

When a --help text changes, this fails until `python docs/make_reference.py` rewrites the page."""

from __future__ import annotations

import importlib.util
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"


def load_maker():
    spec = importlib.util.spec_from_file_location("make_reference", DOCS / "make_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_command_reference_is_the_clis_help():
    maker = load_maker()
    written = (DOCS / "commands.md").read_text(encoding="utf-8")
    assert written == maker.reference(), "docs/commands.md is out of date: run python docs/make_reference.py"


def test_command_reference_lists_every_command():
    maker = load_maker()
    written = (DOCS / "commands.md").read_text(encoding="utf-8")
    paths = list(maker.commands())
    assert ("generate",) in paths and ("classify", "train") in paths and ("tokenizer", "encode") in paths
    for path in paths:
        assert f"\n## {' '.join(('textgen',) + path)}\n" in written
        assert f"Usage: {' '.join(('textgen',) + path)} " in written
