"""The README and the task pages in docs/ are true when run: every ```bash and ```python block runs, in
order, in a fresh folder laid out like the repository (corpora/, an empty runs/), and exits 0.

A block that cannot run in seconds (minutes of training, a server that runs until Ctrl-C, a data set
that is not in the repository) is marked on the line before it with `<!-- test: skip (why) -->`. The
two-minute model `checkpoints/little` that the pages share is made by a skipped block (two minutes of
training), so the test puts a smaller one with the same tokenizer flags there; `checkpoints/doug` too,
on the pages that do not train it themselves. Commands go in ```bash blocks and output in ```text
blocks: another language is refused, so no block escapes both the run and the skip. The classify page's
reviews are not in the repository: the test writes made-up ones where the page says to put them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.classify.test_commands import write_reviews
from textgen.cli import cli

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["README.md", "docs/training.md", "docs/generating.md", "docs/next-words-and-gates.md", "docs/diagnosing.md",
         "docs/explorer.md", "docs/classify.md", "docs/model.md", "docs/design.md", "docs/benchmarks.md"]
SLOW_PAGES = {"docs/training.md", "docs/generating.md", "docs/next-words-and-gates.md", "docs/diagnosing.md", "docs/model.md",
              "docs/classify.md"}  # 10-40 s each on 2 busy cores; the README's page and the model fixture about 30 s
FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```$", re.S | re.M)
SKIP = re.compile(r"<!-- test: skip \(([^)]+)\) -->\s*$")
LANGUAGES = {"bash", "python", "text", ""}
# the models the pages share, made here small; each with the flags of the command that makes it in the docs
# (200 steps: a model of 30 wrote byte pieces such as NUL into its samples, which `diagnose --text` refuses)
MODELS = {
    "checkpoints/little": ["corpora/little-stories.txt", "--tokenizer-type", "bpe", "--vocab-size", "800",
                           "--hidden-size", "48", "--embed-dim", "32", "--max-steps", "200", "--val-every", "100"],
    "checkpoints/doug": ["corpora/doug-jane-spot.txt", "--tokenizer-kind", "word", "--hidden-size", "16", "--embed-dim", "8",
                         "--max-steps", "30", "--val-every", "15"],
    "checkpoints/stars": ["classify", "runs/reviews/train.jsonl", "--valid", "runs/reviews/valid.jsonl", "--hidden-size", "24",
                          "--embed-dim", "16", "--batch-size", "16", "--max-steps", "20", "--val-every", "10"],
}


def blocks(page: str) -> list[tuple[str, str, str | None]]:
    """(language, code, why it is skipped or None) for every fenced block of the page, in order."""
    text = (ROOT / page).read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        skip = SKIP.search(before)
        found.append((match.group(1), match.group(2), skip.group(1) if skip else None))
    return found


def made_by(page: str) -> set[str]:
    """The shared models a block of the page that runs writes itself."""
    return {name for name in MODELS for language, code, skip in blocks(page)
            if skip is None and language == "bash" and f"--out {name} " in code + " "}


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("docs-models")
    (folder / "corpora").symlink_to(ROOT / "corpora")
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        (folder / "runs" / "reviews").mkdir(parents=True)  # made-up reviews where the classify page has the user's
        for split, count, seed in (("train", 160, 1), ("valid", 40, 2), ("test", 40, 3)):
            write_reviews(folder / "runs" / "reviews" / f"{split}.jsonl", count, seed)
        for name, args in MODELS.items():
            command = ["classify", "train", *args[1:]] if args[0] == "classify" else ["train", args[0], *args[1:]]
            result = CliRunner().invoke(cli, [*command, "--out", name])
            assert result.exit_code == 0, result.output
    finally:
        os.chdir(cwd)
    return folder


def workspace(tmp_path: Path, models: Path, page: str) -> tuple[Path, dict]:
    (tmp_path / "corpora").symlink_to(ROOT / "corpora")
    for name in sorted(MODELS.keys() - made_by(page)) + ["runs/reviews"]:
        shutil.copytree(models / name, tmp_path / name, dirs_exist_ok=True)
    bin_folder = tmp_path / ".bin"
    bin_folder.mkdir()
    (bin_folder / "textgen").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m textgen.cli "$@"\n')
    (bin_folder / "textgen").chmod(0o755)
    (bin_folder / "python").symlink_to(sys.executable)
    env = {**os.environ, "PATH": f"{bin_folder}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(ROOT),
           "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg", "COLUMNS": "100"}
    return tmp_path, env


def test_every_block_is_run_or_skipped_with_a_reason():
    for page in PAGES:
        found = blocks(page)
        assert found, f"{page} has no code block"
        for language, code, _ in found:
            assert language in LANGUAGES, f"{page}: a ```{language} block: commands go in ```bash, output in ```text"
    text = "\n".join((ROOT / page).read_text(encoding="utf-8") for page in PAGES)
    assert text.count("<!-- test") == len(re.findall(r"<!-- test: skip \([^)]+\) -->\n```", text)), "a malformed test marker"


def test_readme_is_short_and_points_only_inside_the_repository():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 200
    for target in re.findall(r"\]\(([^)#]+)", readme):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), target
    assert "../shared" not in readme


@pytest.mark.parametrize("page", [pytest.param(page, marks=[pytest.mark.slow] if page in SLOW_PAGES else [])
                                  for page in PAGES])
def test_the_page_runs(page, models, tmp_path):
    folder, env = workspace(tmp_path, models, page)
    ran = 0
    for language, code, skip in blocks(page):
        if skip is not None or language not in ("bash", "python"):
            continue
        command = ["bash", "-euo", "pipefail", "-c", code] if language == "bash" else [sys.executable, "-c", code]
        result = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"{page}, this block failed ({result.returncode}):\n{code}\n{result.stdout}\n{result.stderr}"
        ran += 1
    assert ran >= (0 if page in ("docs/explorer.md", "docs/benchmarks.md") else 1), f"{page}: no block ran"
    written = sorted(path.name for path in folder.iterdir())  # the examples write only into checkpoints/ and runs/
    assert set(written) <= {"checkpoints", "runs", "corpora", ".bin"}, f"{page} wrote {written}"


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_link_points_at_a_file_and_heading_that_exist():
    pages = [*PAGES, "BENCHMARKS.md", "docs/README.md", "checkpoints/README.md", *(str(path.relative_to(ROOT)) for path in
                                                                                  sorted((ROOT / "benchmarks" / "notes").glob("*.md")))]
    checked = 0
    for page in pages:
        text = FENCE.sub("", (ROOT / page).read_text(encoding="utf-8"))
        for target, anchor in re.findall(r"\]\(([^)#\s]*)(?:#([^)\s]+))?\)", text):
            if target.startswith(("http://", "https://")):
                continue
            path = (ROOT / page).parent / target if target else ROOT / page
            assert path.exists(), f"{page} links to {target}, which does not exist"
            if anchor:
                headings = re.findall(r"^#+ (.+)$", FENCE.sub("", path.read_text(encoding="utf-8")), re.M)
                assert anchor in {slug(heading) for heading in headings}, f"{page} links to {target}#{anchor}: no such heading"
            checked += 1
    assert checked > 40
