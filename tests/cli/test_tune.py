"""`textgen tune` end to end on a tiny model: the table, --json and --dry-run, the choice and the
table written into textgen.json (and used by generate's settings), and every refusal in one line
with the model directory untouched. (`textgen tune-cast`, the module's other command, is tested in
tests/sampling/test_model_defaults.py.)"""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

import textgen
from tests.conftest import one_line_error
from textgen.cli import cli
from textgen.modeldir.layout import ModelDirectory
from textgen.sampling.settings import SamplingSettings

GRID = ["--samples", "3", "--temperatures", "1,0.8", "--min-ps", "0,0.1", "--sizes", "0,1", "--max-tokens", "20"]


def invoke(*args):
    result = CliRunner().invoke(cli, [str(arg) for arg in args])
    assert result.exit_code == 0, result.output
    return result


def snapshot(path) -> dict:
    return {file.name: file.read_bytes() for file in sorted(path.iterdir()) if file.is_file()}


def test_tune_searches_the_grid_writes_the_choice_and_the_table_and_generate_starts_from_it(trained, corpus, tmp_path):
    path = tmp_path / "tuned"
    shutil.copytree(trained, path)
    ModelDirectory(path).update_metadata(sampling={"settings": {"top_p": 0.95, "temperature": 0.5}})
    before = snapshot(path)
    dry = json.loads(invoke("tune", path, "--valid", corpus, *GRID, "--dry-run", "--json").stdout)
    assert snapshot(path) == before and dry["written"] is False
    result = json.loads(invoke("tune", path, "--valid", corpus, *GRID, "--json").stdout)
    assert result == {**dry, "written": True}  # the same seed: the same search
    rows = result["rows"]
    assert [(row["temperature"], row["min_p"], row["cast_size"]) for row in rows] == [
        (1.0, 0.0, 0), (1.0, 0.0, 1), (1.0, 0.1, 0), (1.0, 0.1, 1), (0.8, 0.0, 0), (0.8, 0.0, 1), (0.8, 0.1, 0),
        (0.8, 0.1, 1)]
    assert result["valid_stories"] == 3 and result["human"]["names"] > 0
    assert result["chosen_settings"] == {key: rows[result["chosen"]][key] for key in ("temperature", "min_p", "cast_size")}
    qualifying = [row for row in rows if row["qualifies"]]
    assert result["qualified"] is bool(qualifying)
    expected = min(qualifying, key=lambda row: row["invented"]) if qualifying else min(rows, key=lambda row: row["excess"])
    assert rows[result["chosen"]]["invented"] == expected["invented"]
    assert rows[result["chosen"]]["excess"] == expected["excess"]
    loaded = textgen.load(path)  # the weights' hashes still hold
    assert loaded.sampling == {"top_p": 0.95, **result["chosen_settings"]}
    assert loaded.metadata["sampling"]["tune"]["rows"] == rows
    # what one validation story measures, for the explorer's human value (no corpus needed)
    from textgen.analysis.diagnosis import STORY_METRICS, story_reference

    assert result["human_story"]["stories"] == 3
    assert story_reference(loaded)["metrics"] == {name: result["human_story"][name] for name in STORY_METRICS}
    settings = SamplingSettings.for_model(loaded)  # what generate, diagnose and the explorer start from
    assert (settings.temperature, settings.min_p, settings.cast_size, settings.top_p) == (
        *result["chosen_settings"].values(), 0.95)
    assert (path / "model.safetensors").read_bytes() == before["model.safetensors"]


def test_tune_prints_the_table_and_the_choice(trained, corpus, tmp_path):
    path = tmp_path / "printed"
    shutil.copytree(trained, path)
    text = invoke("tune", path, "--valid", corpus, "--samples", "2", "--temperatures", "0.9", "--min-ps", "0.05",
                  "--sizes", "2", "--max-tokens", "10").stdout
    lines = text.splitlines()
    assert lines[0].startswith("validation stories: 2 stories of ") and lines[2].split()[0] == "human"
    assert lines[3].split()[:3] == ["0.9", "0.05", "2"] and lines[3].endswith("<- chosen")
    assert any(line.startswith("rule: qualify:") for line in lines)
    assert lines[-1].startswith("chosen: --temperature 0.9 --min-p 0.05 --cast-size 2, written to ")
    assert textgen.load(path).sampling == {"temperature": 0.9, "min_p": 0.05, "cast_size": 2}
    shown = invoke("generate", path, "--max-tokens", "3", "--verbose").stderr  # generate starts from the choice
    assert "--temperature 0.9, --min-p 0.05, --cast-size 2" in shown


def stories_file(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(("case", "fragment"), [
    ("missing", "missing.txt"),
    ("empty", "empty.txt"),
    ("short", "has 20 words or more"),
    ("temperature", "--temperatures: temperature 200 is outside"),
    ("min-p", "--min-ps: min-p 1 is outside"),
    ("size", "--sizes must list whole numbers"),
    ("twice", "--min-ps lists a value twice"),
    ("not numbers", "is not a comma-separated list of numbers"),
    ("shipped", "which no command changes"),
    ("prompt", "zzyzx"),
])
def test_bad_input_is_one_line_and_leaves_the_model_directory_as_it_was(trained, corpus, tmp_path, case, fragment):
    path = tmp_path / "model"
    shutil.copytree(trained, path)
    valid, model, extra = corpus, path, []
    if case in ("missing", "empty", "short"):
        valid = {"missing": tmp_path / "missing.txt", "empty": stories_file(tmp_path, "empty.txt", ""),
                 "short": stories_file(tmp_path, "short.txt", "Tom ran.\n\nLily sat down.\n")}[case]
    extra = {"temperature": ["--temperatures", "1,200"], "min-p": ["--min-ps", "0,1"], "size": ["--sizes", "0,101"],
             "twice": ["--min-ps", "0.1,0.1"], "not numbers": ["--temperatures", "warm"],
             "prompt": ["--prompt", "the zzyzx"]}.get(case, [])  # a word the word tokenizer does not know
    if case == "shipped":
        model = "tinystories"
    before = snapshot(path)
    one_line_error(CliRunner().invoke(cli, ["tune", str(model), "--valid", str(valid), "--samples", "1", *extra]), fragment)
    assert snapshot(path) == before


def test_a_classifier_is_refused_and_left_as_it_was(tmp_path, corpus, sentencepiece_tokenizer):
    import torch

    from textgen.classify.data import Labels
    from textgen.classify.predict import save_classifier_dir
    from textgen.model.classifier import Classifier
    from textgen.model.config import ClassifierConfig, ModelConfig

    torch.manual_seed(0)
    config = ModelConfig(vocab_size=sentencepiece_tokenizer.vocab_size, embed_dim=8, hidden_size=16)
    model = Classifier(config, ClassifierConfig(num_classes=2, pooling="attention")).eval()
    save_classifier_dir(tmp_path / "clf", model, sentencepiece_tokenizer, Labels(("1", "2"), ordinal=False),
                        {"status": "trained"})
    before = snapshot(tmp_path / "clf")
    for dry in ([], ["--dry-run"]):
        one_line_error(CliRunner().invoke(cli, ["tune", str(tmp_path / "clf"), "--valid", str(corpus), *dry]),
                       "is a classifier, not a language model")
    assert snapshot(tmp_path / "clf") == before


def test_an_interrupted_tune_leaves_textgen_json_as_it_was(trained, corpus, tmp_path, monkeypatch):
    from textgen.analysis import tune as module

    path = tmp_path / "interrupted"
    shutil.copytree(trained, path)
    before = snapshot(path)

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(module, "choose", interrupt)  # after every cell was sampled, before anything is written
    result = CliRunner().invoke(cli, ["tune", str(path), "--valid", str(corpus), "--samples", "1", "--temperatures", "1",
                                      "--min-ps", "0", "--sizes", "0", "--max-tokens", "5"])
    assert result.exit_code == 130  # Ctrl-C: "interrupted", nothing written
    assert snapshot(path) == before





def test_tune_writes_every_story_from_the_prompt_given(trained, corpus, monkeypatch):
    from textgen.sampling.sampler import Sampler

    prompts = []
    write = Sampler.write

    def spy(self, n=1, prompt="", *args, **kwargs):
        prompts.append(prompt)
        return write(self, n, prompt, *args, **kwargs)

    monkeypatch.setattr(Sampler, "write", spy)
    result = json.loads(invoke("tune", trained, "--valid", corpus, *GRID, "--prompt", "the cat", "--dry-run", "--json").stdout)
    assert result["prompt"] == "the cat"
    assert prompts == ["the cat"] * len(result["rows"])  # every cell's stories
    assert json.loads(invoke("tune", trained, "--valid", corpus, *GRID, "--dry-run", "--json").stdout)["prompt"] == ""
