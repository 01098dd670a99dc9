"""`textgen gates`: per-word gate means, the units whose memory changed most, saturation, heatmaps."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from textgen.cli import cli
from textgen.model.config import ModelConfig
from textgen.errors import TextgenError
from textgen.analysis.gates import gate_report, group_words
from textgen.model import LanguageModel
from textgen.tokenizer import BOS_ID

TEXT = "Once upon a time, Hopper saw the pond.\nThey played."


def model_for(tokenizer, cell="lstm", layers=1, seed=0):
    torch.manual_seed(seed)
    config = ModelConfig(vocab_size=tokenizer.vocab_size, embed_dim=12, hidden_size=10, num_layers=layers, cell=cell)
    return LanguageModel(config).eval()


@pytest.mark.parametrize("kind", ["sentencepiece", "word", "char"])
def test_tokens_are_grouped_into_the_texts_words(tokenizers, kind):
    tokenizer = tokenizers[kind]
    ids = tokenizer.encode(TEXT)
    words = [tokenizer.decode([ids[i] for i in group]).strip() or "↵" for group in group_words(tokenizer, ids)]
    assert words == ["Once", "upon", "a", "time", ",", "Hopper", "saw", "the", "pond", ".", "↵", "They", "played", "."]


@pytest.mark.parametrize("chunk", [256, 4])
def test_word_means_top_units_and_saturation_match_the_trace(sentencepiece_tokenizer, monkeypatch, chunk):
    """The report, read in chunks of any size (words cross their edges), is the whole trace's."""
    import textgen.analysis.gates

    monkeypatch.setattr(textgen.analysis.gates, "TRACE_CHUNK", chunk)
    tokenizer = sentencepiece_tokenizer
    model = model_for(tokenizer, layers=2)
    report = gate_report(model, tokenizer, TEXT, layer=2, top_units=4)
    ids = [BOS_ID, *tokenizer.encode(TEXT)]
    trace = model.trace(torch.tensor([ids])).layers[1]
    assert report.gate_names == {"forget": "forget", "ignore": "input", "use": "output"}
    assert report.memory == "ltm" and report.units == 10 and report.layers == 2
    assert [word.word for word in report.words] == ["Once", "upon", "a", "time", ",", "Hopper", "saw", "the", "pond", ".",
                                                    "↵", "They", "played", "."]  # the loop below runs over every word
    for word in report.words:
        positions = word.positions
        for name in ("forget", "ignore", "use"):
            assert word.gates[name] == pytest.approx(float(trace[name][0, positions].mean()), abs=1e-6)
        before, after = trace["ltm"][0, positions[0] - 1], trace["ltm"][0, positions[-1]]
        change = (after - before).abs()
        assert [u.unit for u in word.top_units] == torch.argsort(change, descending=True)[:4].tolist()
        assert word.top_units[0].change == pytest.approx(float((after - before)[word.top_units[0].unit]), abs=1e-6)
        assert word.memory_change == pytest.approx(float(change.mean()), abs=1e-6)
    read = trace["forget"][0, 1:]
    assert report.saturation["forget"]["below_0.1"] == pytest.approx(float((read < 0.1).float().mean()))
    assert report.saturation["forget"]["above_0.9"] == pytest.approx(float((read > 0.9).float().mean()))


def test_a_saturated_forget_gate_is_reported_open(word_tokenizer):
    model = model_for(word_tokenizer)
    with torch.no_grad():
        layer = model.recurrent_layers[0]
        biases = [p for name, p in layer.named_parameters() if "bias_ih" in name]
        hidden = model.config.hidden_size
        biases[0][hidden: 2 * hidden] = 50.0  # torch's order: input, forget, candidate, output
    report = gate_report(model, word_tokenizer, "Hopper saw Pippa.")
    assert report.saturation["forget"] == {"below_0.1": 0.0, "above_0.9": 1.0}
    assert all(word.gates["forget"] > 0.999 for word in report.words)


@pytest.mark.parametrize("cell, gates, memory", [("gru", {"update": "update", "reset": "reset"}, "stm"),
                                                 ("peephole", {"forget": "forget", "ignore": "input", "use": "output"}, "ltm"),
                                                 ("rnn", {}, "stm")])
def test_every_cell_is_traced(word_tokenizer, cell, gates, memory):
    report = gate_report(model_for(word_tokenizer, cell=cell), word_tokenizer, "Hopper saw Pippa.")
    assert report.gate_names == gates and report.memory == memory
    assert [w.word for w in report.words] == ["Hopper", "saw", "Pippa", "."]
    assert report.memory_values.shape == (4, 10)


def test_bad_layer_and_empty_text_are_refused(word_tokenizer):
    model = model_for(word_tokenizer)
    with pytest.raises(TextgenError, match="has 1 layer"):
        gate_report(model, word_tokenizer, "Hopper saw", layer=2)
    with pytest.raises(TextgenError, match="empty"):
        gate_report(model, word_tokenizer, "  ")


def test_gates_cli_text_json_and_plot(trained, tmp_path):
    plot = tmp_path / "gates.png"
    result = CliRunner().invoke(cli, ["gates", str(trained), "Hopper saw Pippa.", "--json", "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [w["word"] for w in data["words"]] == ["Hopper", "saw", "Pippa", "."]
    assert set(data["words"][0]["gates"]) == {"forget", "ignore", "use"}
    assert data["gate_names"]["ignore"] == "input" and data["gate_names"]["use"] == "output"
    assert {"unit", "before", "after", "change"} == set(data["words"][0]["top_units"][0])
    assert set(data["saturation"]["use"]) == {"below_0.1", "above_0.9"}
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = CliRunner().invoke(cli, ["gates", str(trained), "Hopper saw Pippa."])
    assert "(input)" in text.stdout and "(output)" in text.stdout and "saturation" in text.stdout
    for args in (["--layer", "3"], ["--layer", "0"]):
        bad = CliRunner().invoke(cli, ["gates", str(trained), "Hopper saw", *args])
        assert bad.exit_code == 2 and bad.output.count("\n") == 1 and "layer" in bad.output
    unknown = CliRunner().invoke(cli, ["gates", str(trained), "Zorblax saw"])
    assert unknown.exit_code == 2 and "does not know" in unknown.output


def test_plots_follow_the_file_name_and_refuse_unknown_formats(trained, tmp_path):
    svg = tmp_path / "gates.svg"
    result = CliRunner().invoke(cli, ["gates", str(trained), "Hopper saw Pippa.", "--plot", str(svg)])
    assert result.exit_code == 0, result.output
    assert b"<svg" in svg.read_bytes()[:500]
    bad = CliRunner().invoke(cli, ["gates", str(trained), "Hopper saw Pippa.", "--plot", str(tmp_path / "gates.txt")])
    assert bad.exit_code == 2 and ".png" in bad.output and not (tmp_path / "gates.txt").exists()
    report = gate_report(model_for(load_tokenizer_of(trained)), load_tokenizer_of(trained), "Hopper saw Pippa.")
    assert report.tokens == 4


def load_tokenizer_of(model_dir):
    from textgen.modeldir.store import load

    return load(model_dir).tokenizer


def test_a_text_over_the_limit_is_refused_and_heatmaps_are_bounded(word_tokenizer, trained):
    """The transparent cells cost a step per token: past MAX_TOKENS the report is refused in one
    line (the library takes another limit); a heatmap shows at most HEATMAP_WORDS words by default."""
    from textgen.analysis.gates import HEATMAP_WORDS, MAX_TOKENS

    model = model_for(word_tokenizer)
    text = "Hopper saw Pippa. " * (MAX_TOKENS // 4 + 1)
    with pytest.raises(TextgenError, match=f"at most {MAX_TOKENS:,}"):
        gate_report(model, word_tokenizer, text)
    report = gate_report(model, word_tokenizer, "Hopper saw Pippa. " * 100, max_tokens=500)
    assert len(report.words) == 400 and report.memory_values.shape == (400, 10)
    maps = report.heatmaps()
    assert len(maps["words"]) == len(maps["memory"]) == HEATMAP_WORDS and len(maps["gates"]["forget"]) == HEATMAP_WORDS
    assert len(report.heatmaps(max_words=None)["memory"]) == 400
    long = CliRunner().invoke(cli, ["gates", str(trained), text])
    assert long.exit_code == 2 and long.output.count("\n") == 1 and f"at most {MAX_TOKENS:,}" in long.output
    help_text = CliRunner().invoke(cli, ["gates", "--help"]).output
    assert f"up to {MAX_TOKENS:,} tokens" in help_text
