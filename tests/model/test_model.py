"""textgen/model/__init__.py: its names load from their home modules when first used, and importing the
package alone loads no torch (the CLI's help and `classify predict` run without it)."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest
from tests.conftest import ONE_THREAD, REPO

import textgen.model as package


def test_every_exported_name_is_its_home_modules_object():
    assert package.__all__ == sorted(package._HOMES)
    for name, home in package._HOMES.items():
        assert getattr(package, name) is getattr(importlib.import_module(f"textgen.model.{home}"), name), name


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="module 'textgen.model' has no attribute 'Missing'"):
        package.Missing  # noqa: B018


def test_the_package_and_its_torch_free_modules_load_no_torch():
    code = ("import sys, textgen.model, textgen.model.config, textgen.model.numpy; "
            "print('torch' in sys.modules); textgen.model.ModelConfig; print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=ONE_THREAD, capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["False", "False"], done.stderr  # ModelConfig's home is config: still no torch
