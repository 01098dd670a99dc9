"""textgen/__init__.py: the package's own names: load, diagnose and compare_settings take a model directory's
path or a loaded model and give what the library functions give; importing the package loads no heavy library."""

from __future__ import annotations

import subprocess
import sys

import torch
from tests.conftest import ONE_THREAD, REPO

import textgen
from textgen.analysis import diagnosis
from textgen.modeldir import store


def test_the_package_exports_its_names_and_version():
    assert sorted(textgen.__all__) == ["TextgenError", "__version__", "compare_settings", "diagnose", "generate", "load",
                                      "next_words"]
    assert all(hasattr(textgen, name) for name in textgen.__all__)
    assert textgen.__version__.count(".") == 2


def test_load_is_the_model_directory_loader(trained):
    loaded, direct = textgen.load(trained), store.load(trained, "cpu")
    assert type(loaded) is type(direct) and loaded.metadata == direct.metadata
    tokens = torch.tensor([[2, 5, 6]])
    with torch.no_grad():
        assert torch.equal(loaded.model(tokens)[0], direct.model(tokens)[0])


def test_diagnose_takes_a_path_or_a_loaded_model_and_gives_the_librarys_report(trained):
    options = {"samples": 2, "max_tokens": 12, "seed": 3}
    by_path = textgen.diagnose(trained, **options).to_dict()
    by_model = textgen.diagnose(textgen.load(trained), **options).to_dict()
    library = diagnosis.diagnose(textgen.load(trained), **options).to_dict()
    assert by_path == by_model == library and len(by_path["samples"]) == 2
    stories = textgen.diagnose(stories=["Doug saw Doug.", "Jane saw Spot."]).to_dict()
    assert [f["kind"] for f in stories["findings"]] == ["self-object"] and stories["metrics"]["stories"] == 2


def test_compare_settings_takes_a_path_or_a_loaded_model(trained):
    from textgen.sampling.settings import SamplingSettings

    options = {"samples": 1, "max_tokens": 8, "grid": [("greedy", SamplingSettings(temperature=0.0))]}
    by_path = textgen.compare_settings(trained, **options).to_dict()
    assert by_path == textgen.compare_settings(textgen.load(trained), **options).to_dict()
    assert [row["name"] for row in by_path["settings"]] == ["greedy"]


def test_importing_the_package_loads_no_heavy_library():
    code = "import sys, textgen; print(sorted(m for m in ('torch', 'lightning', 'sentencepiece', 'numpy') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=ONE_THREAD, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr
