"""The Doug experiment on small settings: the two rates, the LSTM trace, JSON, report, plot and bad input."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
from tests.conftest import DOUG_STORIES, write_marker_file

from textgen.analysis.detectors import find_self_objects
from textgen.errors import TextgenError
from textgen.experiments.doug import (
    DEFAULT_CORPUS,
    DougSettings,
    MemorylessModel,
    has_object,
    report,
    run_doug,
    subject_units,
    to_json,
)
from textgen.analysis.plots import plot_doug
from textgen.sampling.generate import generate
from textgen.tokenizer import train_tokenizer

SMALL = DougSettings(sentences=150, steps=400)  # about 3 s on one core: enough steps for the LSTM to learn the cycle


@pytest.fixture(scope="module")
def result():
    return run_doug(SMALL)


def test_the_detector_counts_doug_saw_doug_and_not_doug_saw_jane():
    assert find_self_objects("Doug saw Doug.")
    assert not find_self_objects("Doug saw Jane.")
    assert has_object("Doug saw Jane.") and not has_object("Doug.") and not has_object("Doug saw Jane")


def test_the_memoryless_model_guesses_and_the_lstm_remembers(result):
    assert result.memoryless.sentences == result.lstm.sentences == 150
    assert 0.2 <= result.memoryless.self_object_rate <= 0.45  # a blind guess among three names: 1/3
    assert result.lstm.self_object_rate < 0.05
    assert result.memoryless.self_objects == round(result.memoryless.self_object_rate * 150)
    after_doug = result.memoryless.next_word_after["Doug saw"]
    assert all(0.2 < p < 0.45 for p in after_doug.values())  # it cannot know who the subject was
    assert result.lstm.next_word_after["Doug saw"]["Jane"] > 0.9
    assert result.lstm.well_formed_share > 0.9 > result.memoryless.well_formed_share


def test_the_trace_finds_ltm_units_that_keep_the_subject_through_saw(result):
    trace = result.trace
    assert trace["context"] == "Doug saw" and len(trace["units"]) == SMALL.units
    assert len({unit["unit"] for unit in trace["units"]}) == SMALL.units
    for unit in trace["units"]:
        assert set(unit["ltm_after_subject"]) == {"Doug", "Jane", "Spot"}
        assert unit["spread_after_subject"] > 0.3  # the unit tells the subjects apart
        assert all(0 <= value <= 1 for key in ("forget_at_verb", "ignore_at_verb") for value in unit[key].values())
    assert trace["signal_correlation"] > 0.5  # the subject is still there after "saw"


def test_json_shape(result):
    data = json.loads(json.dumps(to_json(result)))
    for model in ("memoryless", "lstm"):
        assert isinstance(data[model]["self_object_rate"], float) and data[model]["sentences"] == 150
    assert data["settings"]["sentences"] == 150 and data["settings"]["names"] == ["Doug", "Jane", "Spot"]
    assert data["trace"]["units"] and data["seconds"] > 0


def test_report_names_the_rates_and_both_gate_vocabularies(result):
    text = report(result)
    assert f"{result.memoryless.self_objects} of 150 sentences" in text
    for phrase in ("forget gate", "ignore factor (input gate)", "LTM (long-term memory = cell state)", "memoryless", "LSTM"):
        assert phrase in text


def test_plot_is_a_png(result, tmp_path):
    path = tmp_path / "plots" / "doug.png"
    plot_doug(result, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(TextgenError):
        plot_doug(result, tmp_path)  # a folder


def test_same_seed_same_result_and_the_callers_random_state_is_kept():
    settings = DougSettings(sentences=20, steps=10, max_tokens=30)
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    first, second = to_json(run_doug(settings)), to_json(run_doug(settings))
    assert torch.equal(torch.random.get_rng_state(), before)
    first.pop("seconds"), second.pop("seconds")
    assert first == second


def test_the_memoryless_model_sees_only_the_current_token():
    tokenizer = train_tokenizer(DOUG_STORIES, kind="word")
    torch.manual_seed(0)
    model = MemorylessModel(tokenizer.vocab_size, 8)
    tokens = torch.tensor([[2] + tokenizer.encode("Doug saw"), [2] + tokenizer.encode("Jane saw")])
    logits, state = model(tokens, None)
    assert logits.shape == (2, 3, tokenizer.vocab_size) and state == []
    assert torch.equal(logits[0, -1], logits[1, -1])  # "saw" gives the same logits whoever the subject was
    assert torch.allclose(model.step(tokens[:, -1], state)[0], logits[:, -1])
    assert len(generate(model, tokenizer, "", n=2, max_tokens=5, seed=0)) == 2


def test_subject_units_take_turns_among_the_subjects():
    ltm = torch.tensor([[5.0, 0.0, 0.0, 1.0],  # unit 0 marks subject 0, unit 1 subject 1, unit 2 subject 2
                        [0.0, 5.0, 0.0, 1.1],
                        [0.0, 0.0, 5.0, 1.2]])
    assert subject_units(ltm, 3) == [0, 1, 2]
    assert subject_units(ltm, 5) == [0, 1, 2, 3]  # no more units than there are


def test_default_corpus_is_the_bundled_book():
    assert DEFAULT_CORPUS.is_file() and DougSettings().corpus == str(DEFAULT_CORPUS)


@pytest.mark.parametrize("changes", [{"sentences": 0}, {"steps": 0}, {"learning_rate": 0.0}, {"names": ("Doug",)},
                                     {"names": ("Doug", "Doug")}, {"hidden_size": 2.5}])
def test_bad_settings(changes):
    with pytest.raises(TextgenError):
        replace(SMALL, **changes)


def test_bad_corpus(tmp_path):
    with pytest.raises(TextgenError, match="does not exist"):
        run_doug(DougSettings(corpus=tmp_path / "missing.txt"))
    empty = tmp_path / "empty.txt"
    empty.write_text("<|endoftext|>\n\n")
    with pytest.raises(TextgenError, match="empty"):
        run_doug(DougSettings(corpus=empty))
    other = write_marker_file(tmp_path / "cats.txt", ["The cat sat. The cat ran."])
    with pytest.raises(TextgenError, match="Doug"):
        run_doug(DougSettings(corpus=other))


def test_experiment_doug_cli_json_plot_and_bad_input(tmp_path):
    import json

    from click.testing import CliRunner

    from textgen.cli import cli

    plot = tmp_path / "doug.png"
    result = CliRunner().invoke(cli, ["experiment", "doug", "--sentences", "150", "--steps", "400", "--json", "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["memoryless"]["sentences"] == data["lstm"]["sentences"] == 150
    assert 0.2 < data["memoryless"]["self_object_rate"] < 0.45 and data["lstm"]["self_object_rate"] < 0.05
    assert plot.read_bytes()[:4] == b"\x89PNG"
    for args, message in ((["--sentences", "0"], "--sentences"), (["--corpus", str(tmp_path / "none.txt")], "does not exist"),
                          (["--names", "Doug"], "two or more")):
        bad = CliRunner().invoke(cli, ["experiment", "doug", *args])
        assert bad.exit_code == 2 and message in bad.output and bad.output.count("\n") == 1, bad.output
