"""A real install: the wheel holds every file textgen needs (every module, the shipped model and
its card, the explorer's page), and, installed into a folder of its own, textgen works from an
empty folder with no checkout in reach: a story, textgen.load, the explorer's page and assets, the
experiments, `corpus generate`, and the shipped model stays read-only where it was installed.

pip builds and installs offline (--no-index, --no-build-isolation: the venv's setuptools), from a
copy of the sources, so a stale build/ folder of the checkout can never leak a deleted module in."""

from __future__ import annotations

import hashlib
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGE = REPO / "textgen"
SHIPPED = ("textgen.json", "model.safetensors", "tokenizer.model", "README.md", "metrics.csv", "loss.png")
STATIC = ("index.html", "app.js", "style.css", "favicon.svg")
STARTUP_SECONDS = 120  # a loaded 2-core machine imports torch and FastAPI in a few seconds; this is a ceiling


def package_files() -> set[str]:
    """Every file of the package in the checkout, as the wheel names it (bytecode left out)."""
    return {path.relative_to(REPO).as_posix() for path in PACKAGE.rglob("*")
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"}


def pip(*args: str | os.PathLike) -> None:
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    result = subprocess.run([sys.executable, "-m", "pip", *map(str, args)], capture_output=True, text=True, env=env,
                            timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):  # README.md: the project's long description
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(PACKAGE, source / "textgen", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("wheel")
    pip("wheel", "--no-deps", "--no-build-isolation", "--check-build-dependencies", "--no-index", "--wheel-dir", out, source)
    wheels = sorted(out.glob("textgen-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def site(wheel, tmp_path_factory) -> Path:
    """The wheel installed into a folder of its own (pip install --target), as site-packages would hold it."""
    target = tmp_path_factory.mktemp("site")
    pip("install", "--no-deps", "--no-index", "--target", target, wheel)
    return target


@pytest.fixture
def empty(tmp_path) -> Path:
    folder = tmp_path / "empty"
    folder.mkdir()
    return folder


def environment(pythonpath: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(pythonpath), "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def installed(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """`python ARGS` with the installed textgen first on the path, in `cwd`."""
    return subprocess.run([sys.executable, *args], cwd=cwd, env=environment(site), capture_output=True, text=True,
                          timeout=600)


def checkout(*args: str) -> subprocess.CompletedProcess:
    """`python ARGS` with the checkout's textgen, for the output the installed one must equal."""
    return subprocess.run([sys.executable, *args], cwd=REPO, env=environment(REPO), capture_output=True, text=True,
                          timeout=600)


def sha256_of(folder: Path) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.iterdir())}


def test_every_package_folder_is_a_regular_package():
    """A folder of modules without __init__.py is a namespace package: setuptools' discovery and
    other tools may skip it (textgen/training once had none)."""
    folders = {path.parent for path in PACKAGE.rglob("*.py") if "__pycache__" not in path.parts}
    assert len(folders) > 10
    assert sorted(str(folder.relative_to(REPO)) for folder in folders if not (folder / "__init__.py").is_file()) == []


@pytest.mark.slow
def test_the_wheel_holds_every_file_of_the_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    files = {name for name in names if name.startswith("textgen/")}
    assert files == package_files()
    assert {f"textgen/shipped/tinystories-lstm/{name}" for name in SHIPPED} <= files
    assert {f"textgen/explorer/static/{name}" for name in STATIC} <= files
    assert "textgen/training/__init__.py" in files and "textgen/training/run.py" in files
    entry_points = zipfile.ZipFile(wheel).read(next(name for name in names if name.endswith(".dist-info/entry_points.txt")))
    assert "textgen = textgen.cli:main" in entry_points.decode()


@pytest.mark.slow
def test_the_installed_textgen_writes_the_same_story_from_an_empty_folder(site, empty):
    args = ("-m", "textgen.cli", "generate", "tinystories", "--max-tokens", "40", "--seed", "1")
    result, expected = installed(site, empty, *args), checkout(*args)
    assert result.returncode == 0, result.stderr
    assert expected.returncode == 0, expected.stderr
    assert result.stdout == expected.stdout and len(result.stdout.split()) >= 10
    assert list(empty.iterdir()) == []  # nothing written where it ran


@pytest.mark.slow
def test_the_installed_textgen_loads_the_shipped_model_from_its_own_folder(site, empty):
    script = ("import json, textgen; from textgen.modeldir.schema import resolve_model_path; "
              "m = textgen.load('tinystories'); "
              "print(json.dumps({'file': textgen.__file__, 'model': str(resolve_model_path('tinystories')), "
              "'config': repr(m.config)}))")
    result = installed(site, empty, "-c", script)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert Path(seen["file"]) == site / "textgen" / "__init__.py"
    assert Path(seen["model"]) == site / "textgen" / "shipped" / "tinystories-lstm"
    expected = checkout("-c", "import textgen; print(repr(textgen.load('tinystories').config))")
    assert expected.returncode == 0, expected.stderr
    assert seen["config"] == expected.stdout.strip()
    assert sha256_of(Path(seen["model"])) == sha256_of(PACKAGE / "shipped" / "tinystories-lstm")


def read_lines(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line)


@pytest.mark.slow
def test_the_installed_explorer_serves_its_page_and_assets(site, empty):
    server = subprocess.Popen([sys.executable, "-m", "textgen.cli", "serve", "--port", "0"], cwd=empty,
                              env=environment(site), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=read_lines, args=(server.stdout, lines), daemon=True).start()
    try:
        said, deadline, address = [], time.monotonic() + STARTUP_SECONDS, None
        while address is None and time.monotonic() < deadline and server.poll() is None:
            try:
                said.append(lines.get(timeout=1))
            except queue.Empty:
                continue
            found = re.search(r"http://127\.0\.0\.1:\d+", said[-1])
            address = found.group() if found else None
        assert address is not None, "".join(said)
        with urllib.request.urlopen(address + "/", timeout=60) as response:
            assert response.status == 200
            assert response.read() == (PACKAGE / "explorer" / "static" / "index.html").read_bytes()
        for name in STATIC:
            with urllib.request.urlopen(f"{address}/static/{name}", timeout=60) as response:
                assert response.status == 200
                assert response.read() == (PACKAGE / "explorer" / "static" / name).read_bytes(), name
        with urllib.request.urlopen(address + "/api/models", timeout=60) as response:
            assert json.loads(response.read())["default"] == "tinystories"
    finally:
        server.send_signal(signal.SIGINT)  # Ctrl-C, as a person stops it
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert server.returncode in (0, 130), server.returncode


def without_timing(output: str) -> dict:
    data = json.loads(output)
    data.pop("seconds")
    data["settings"].pop("corpus")  # the book's path: the checkout's file, or where an installed one would be
    return data


@pytest.mark.slow
def test_the_experiments_and_corpus_generate_need_no_checkout(site, empty):
    result = installed(site, empty, "-m", "textgen.cli", "corpus", "generate", "doug-jane-spot")
    assert result.returncode == 0, result.stderr
    assert (empty / "corpora" / "doug-jane-spot.txt").read_bytes() == (REPO / "corpora" / "doug-jane-spot.txt").read_bytes()
    shutil.rmtree(empty / "corpora")
    # the Doug book's default is the checkout's corpora/doug-jane-spot.txt; installed, the same pages come from its generator
    args = ("-m", "textgen.cli", "experiment", "doug", "--steps", "20", "--sentences", "20", "--json")
    result, expected = installed(site, empty, *args), checkout(*args)
    assert result.returncode == 0, result.stderr
    assert expected.returncode == 0, expected.stderr
    assert without_timing(result.stdout) == without_timing(expected.stdout)
    result = installed(site, empty, "-m", "textgen.cli", "experiment", "memory-span", "--cells", "lstm", "--spans", "2",
                       "--steps", "5", "--seeds", "1", "--budget", "500", "--json")
    assert result.returncode == 0, result.stderr
    assert [(row["cell"], row["k"]) for row in json.loads(result.stdout)["results"]] == [("lstm", 2)]
    assert list(empty.iterdir()) == []


@pytest.mark.slow
@pytest.mark.parametrize("command", [
    ["export", "tinystories", "{shipped}", "--overwrite"],
    ["train", str(REPO / "corpora" / "doug-jane-spot.txt"), "--out", "{shipped}", "--overwrite", "--max-time", "1s"],
    ["tune-cast", "tinystories", "--valid", str(REPO / "corpora" / "little-stories.txt")],
])
def test_the_installed_shipped_model_stays_read_only(site, empty, command):
    shipped = site / "textgen" / "shipped" / "tinystories-lstm"
    before = sha256_of(shipped)
    result = installed(site, empty, "-m", "textgen.cli", *(part.format(shipped=shipped) for part in command))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "is part of the shipped model tinystories, which no command changes" in result.stderr
    assert sha256_of(shipped) == before == sha256_of(PACKAGE / "shipped" / "tinystories-lstm")
