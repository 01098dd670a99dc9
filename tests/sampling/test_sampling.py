"""textgen/sampling/__init__.py: the processors' names load from processors.py when first used, and the
package alone loads no torch."""

from __future__ import annotations

import subprocess
import sys

import pytest
from tests.conftest import ONE_THREAD, REPO

import textgen.sampling as package


def test_every_exported_name_is_the_processors_modules_object():
    from textgen.sampling import processors

    assert package.__all__ and all(getattr(package, name) is getattr(processors, name) for name in package.__all__)


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="module 'textgen.sampling' has no attribute 'Missing'"):
        package.Missing  # noqa: B018


def loads_torch(module: str) -> bool:
    code = f"import sys, {module}; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=ONE_THREAD, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.split() == ["True"]


def test_the_package_and_the_model_defaults_load_no_torch():
    assert not loads_torch("textgen.sampling") and not loads_torch("textgen.sampling.model_defaults")


def test_the_settings_load_no_torch():
    assert not loads_torch("textgen.sampling.settings")
