"""A model's own sampling defaults (textgen.json "sampling", textgen/sampling/model_defaults.py) and
`textgen tune-cast`, which chooses one on validation stories: the order (an option given > the
model's > the library's) in the library, generate, diagnose, --compare-settings and the explorer."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, fields

import pytest
from click.testing import CliRunner

import textgen
from textgen.sampling.schema import TEMPERATURE
from tests.conftest import REPO, one_line_error
from textgen.cli import cli
from textgen.errors import TextgenError
from textgen.modeldir.layout import ModelDirectory
from textgen.sampling.settings import SamplingSettings
from textgen.sampling.model_defaults import SETTABLE, model_defaults, section_problem


@pytest.fixture
def own(trained, tmp_path):
    """A copy of the tiny model whose textgen.json gives it its own defaults: greedy, cast size 1."""
    path = tmp_path / "own"
    shutil.copytree(trained, path)
    ModelDirectory(path).update_metadata(sampling={"settings": {"temperature": 0, "cast_size": 1}})
    return path


def invoke(*args) -> CliRunner:
    result = CliRunner().invoke(cli, [*map(str, args)])
    assert result.exit_code == 0, result.output
    return result


def test_every_scalar_setting_is_settable_at_the_library_default():
    library = SamplingSettings()
    for name, (kind, value) in SETTABLE.items():
        assert getattr(library, name) == value and type(value) is kind, name
    assert {f.name for f in fields(SamplingSettings)} - set(SETTABLE) == {"dry_breakers", "banned_words"}
    page = (REPO / "textgen" / "explorer" / "static" / "index.html").read_text(encoding="utf-8")
    for name in ("temperature", "top_p", "top_k", "min_p", "keep_cast", "cast_opening", "cast_size"):
        assert f'id="{name}" type="number" value="{SETTABLE[name][1]:g}"' in page, name  # before a model's are filled in


def test_an_option_given_beats_the_models_default_which_beats_the_librarys(own):
    loaded = textgen.load(own)
    assert loaded.sampling == {"temperature": 0.0, "cast_size": 1}
    assert SamplingSettings.for_model(loaded) == SamplingSettings(temperature=0.0, cast_size=1)
    given = SamplingSettings.for_model(loaded, temperature=0.8, cast_size=0, top_k=None)  # 0 is given, None is not
    assert (given.temperature, given.cast_size, given.top_k) == (0.8, 0, 0)
    assert SamplingSettings.for_model(None, cast_size=None) == SamplingSettings()


@pytest.mark.parametrize(("section", "fragment"), [
    ({"settings": {"cast_sise": 1}}, "sampling.settings.cast_sise is not a setting"),
    ({"settings": {"cast_size": 1.5}}, "sampling.settings.cast_size must be a whole number"),
    ({"settings": {"temperature": True}}, "sampling.settings.temperature must be a number"),
    ({"settings": {"temperature": "hot"}}, "sampling.settings.temperature must be a number"),
    ({"settings": [1]}, "sampling must be null or an object"),
    ([], "sampling must be null or an object"),
])
def test_a_bad_section_is_refused_on_load_naming_the_field(trained, tmp_path, section, fragment):
    path = tmp_path / "bad"
    shutil.copytree(trained, path)
    ModelDirectory(path).update_metadata(sampling=section)
    with pytest.raises(TextgenError, match=fragment.replace(".", r"\.")):
        textgen.load(path)
    one_line_error(CliRunner().invoke(cli, ["generate", str(path)]), fragment)


def test_whole_numbers_read_back_as_their_type():
    assert section_problem(None) is None and section_problem({"settings": {"cast_size": 2.0}}) is None
    defaults = model_defaults({"sampling": {"settings": {"cast_size": 2.0, "temperature": 1}}})
    assert defaults == {"cast_size": 2, "temperature": 1.0}
    assert type(defaults["cast_size"]) is int and type(defaults["temperature"]) is float
    assert model_defaults({}) == {} and model_defaults({"sampling": None}) == {}


def test_generate_starts_from_the_models_defaults_and_an_option_overrides(trained, own):
    common = ["--max-tokens", "12", "--seed", "3", "--quantize", "none", "--json"]
    stories = {name: json.loads(invoke("generate", path, *common, *extra).stdout)["text"]
               for name, path, extra in [("own", own, []), ("greedy", trained, ["--temperature", "0", "--cast-size", "1"]),
                                         ("own, t=1", own, ["--temperature", f"{TEMPERATURE:g}", "--cast-size", "0"]),
                                         ("library", trained, [])]}
    assert stories["own"] == stories["greedy"]
    assert stories["own, t=1"] == stories["library"] != stories["own"]
    verbose = invoke("generate", own, "--max-tokens", "5", "--verbose", "--temperature", "0.5")
    assert "the model's own sampling defaults" in verbose.stderr and "--cast-size 1" in verbose.stderr
    assert "--temperature" not in verbose.stderr.split("own sampling defaults")[1].splitlines()[0]  # overridden: not listed


def test_diagnose_and_compare_settings_start_from_the_models_defaults(own):
    report = invoke("diagnose", own, "--samples", "2", "--max-tokens", "10", "--no-baseline", "--json")
    assert report.stderr.count("the model's own sampling defaults") == 1
    settings = json.loads(report.stdout)["settings"]
    assert (settings["temperature"], settings["cast_size"]) == (0.0, 1)
    given = json.loads(invoke("diagnose", own, "--samples", "2", "--max-tokens", "10", "--no-baseline", "--json",
                              "--cast-size", "0").stdout)["settings"]
    assert given["cast_size"] == 0
    rows = json.loads(invoke("diagnose", own, "--compare-settings", "--samples", "1", "--max-tokens", "8", "--no-baseline",
                             "--json").stdout)["settings"]
    assert rows and all(row["options"]["cast_size"] == 1 for row in rows)
    assert [row["options"]["temperature"] for row in rows][:4] == [1.0, 0.7, 0.0, 0.0]  # each row sets its own knob
    library = textgen.compare_settings(textgen.load(own), samples=1, max_tokens=8)
    assert all(row.options["cast_size"] == 1 for row in library.rows)
    assert textgen.diagnose(textgen.load(own), samples=1, max_tokens=8).settings["cast_size"] == 1


def test_the_explorer_fills_in_and_uses_the_models_defaults(own, trained):
    from fastapi.testclient import TestClient

    from textgen.explorer.app import create_app

    client = TestClient(create_app({"own": textgen.load(own), "plain": textgen.load(trained)}))
    models = {entry["name"]: entry for entry in client.get("/api/models").json()["models"]}
    assert models["own"]["own_sampling"] == {"temperature": 0.0, "cast_size": 1} and models["plain"]["own_sampling"] == {}
    assert models["own"]["sampling"]["temperature"] == 0.0 and models["own"]["sampling"]["cast_size"] == 1
    assert models["plain"]["sampling"] == {name: asdict(SamplingSettings())[name] for name in models["plain"]["sampling"]}

    def done(model: str, **body) -> str:
        found = client.post("/api/generate", json={"model": model, "prompt": "the cat", "max_tokens": 10, "seed": 2, **body})
        last = [block for block in found.text.split("\n\n") if block.startswith("event: done")]
        assert len(last) == 1, found.text
        return json.loads(last[0].split("data: ", 1)[1])["text"]

    assert done("own") == done("plain", temperature=0, cast_size=1)
    assert done("own", temperature=TEMPERATURE, cast_size=0) == done("plain")


def test_tune_cast_chooses_the_size_closest_to_the_validation_stories_and_records_it(trained, corpus, tmp_path):
    path = tmp_path / "tuned"
    shutil.copytree(trained, path)
    weights = (path / "model.safetensors").read_bytes()
    dry = invoke("tune-cast", path, "--valid", corpus, "--samples", "6", "--sizes", "0,1", "--max-tokens", "30",
                 "--dry-run", "--json")
    assert json.loads((path / "textgen.json").read_text()).get("sampling") is None  # --dry-run writes nothing
    result = json.loads(invoke("tune-cast", path, "--valid", corpus, "--samples", "6", "--sizes", "0,1",
                               "--max-tokens", "30", "--json").stdout)
    assert result == {**json.loads(dry.stdout), "written": True}  # the same seed: the same search
    rows = result["rows"]
    assert [row["cast_size"] for row in rows] == [0, 1] and result["human_names_per_story"] > 0
    assert all(row["ratio"] == pytest.approx(row["names_per_story"] / result["human_names_per_story"]) for row in rows)
    closest = min(rows, key=lambda row: abs(row["ratio"] - 1))
    assert result["chosen"] == closest["cast_size"]
    loaded = textgen.load(path)  # the weights' hashes still hold
    assert loaded.sampling == {"cast_size": result["chosen"]}
    assert loaded.metadata["sampling"]["cast_search"]["rows"] == rows
    assert (path / "model.safetensors").read_bytes() == weights
    text = invoke("tune-cast", path, "--valid", corpus, "--samples", "2", "--sizes", "2", "--max-tokens", "10").stdout
    assert "chosen: --cast-size 2" in text and "validation stories:" in text
    assert textgen.load(path).sampling == {"cast_size": 2}


def test_tune_cast_keeps_the_models_other_defaults(trained, corpus, tmp_path):
    path = tmp_path / "kept"
    shutil.copytree(trained, path)
    ModelDirectory(path).update_metadata(sampling={"settings": {"temperature": 0.5, "cast_size": 3}})
    invoke("tune-cast", path, "--valid", corpus, "--samples", "2", "--sizes", "1", "--max-tokens", "10")
    assert textgen.load(path).sampling == {"temperature": 0.5, "cast_size": 1}


@pytest.mark.parametrize(("args", "fragment"), [
    (["--sizes", "1,1"], "lists a cast size twice"),
    (["--sizes", "101"], "--sizes must list whole numbers from 0"),
    (["--sizes", "x"], "comma-separated list of whole numbers"),
    (["--samples", "0"], "--samples"),
])
def test_tune_cast_refuses_bad_options_in_one_line(trained, corpus, args, fragment):
    result = CliRunner().invoke(cli, ["tune-cast", str(trained), "--valid", str(corpus), *args])
    assert result.exit_code == 2 and fragment in result.stderr, result.output
    assert "Traceback" not in result.output


def test_tune_cast_refuses_stories_without_names_and_a_missing_validation_file(trained, tmp_path):
    nameless = tmp_path / "nameless.txt"
    nameless.write_text("the cat sat on the mat. the dog ran.\n\nthe bird sang in the tree.\n")
    one_line_error(CliRunner().invoke(cli, ["tune-cast", str(trained), "--valid", str(nameless)]), "name no characters")
    path = tmp_path / "novalid"
    shutil.copytree(trained, path)
    meta = ModelDirectory(path).read_metadata()
    ModelDirectory(path).update_metadata(corpus={**meta["corpus"], "valid": str(tmp_path / "gone.txt")})
    one_line_error(CliRunner().invoke(cli, ["tune-cast", str(path)]), "give --valid FILE")
    assert "sampling" not in ModelDirectory(path).read_metadata()


def test_tune_cast_falls_back_to_the_validation_file_training_used(trained, corpus, tmp_path):
    path = tmp_path / "recorded"
    shutil.copytree(trained, path)
    directory = ModelDirectory(path)
    recorded = dict(directory.read_metadata().get("corpus") or {})
    directory.update_metadata(corpus={**recorded, "valid": str(corpus)})
    result = CliRunner().invoke(cli, ["tune-cast", str(path), "--samples", "2", "--sizes", "1", "--max-tokens", "10",
                                      "--dry-run"])
    assert result.exit_code == 0, result.output
    assert f"note: validation stories: {corpus} (the file training used)" in result.stderr
    directory.update_metadata(corpus={**recorded, "valid": str(tmp_path / "gone.txt")})
    gone = CliRunner().invoke(cli, ["tune-cast", str(path), "--samples", "2", "--sizes", "1", "--dry-run"])
    assert gone.exit_code == 2 and "names no validation file that is still there: give --valid FILE" in gone.stderr
