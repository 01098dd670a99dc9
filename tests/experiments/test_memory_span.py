"""The memory-span experiment on tiny settings: equal budgets, the task, JSON and the plot."""

from __future__ import annotations

import json
import math

import pytest
import torch
from click.testing import CliRunner

from textgen.cli import cli
from textgen.errors import TextgenError
from textgen.experiments.memory_span import (
    MemorySpanSettings,
    longest_span,
    make_batch,
    model_config,
    run_memory_span,
)


def test_every_cell_gets_the_same_parameter_budget():
    settings = MemorySpanSettings(parameter_budget=12_000)
    counts = {cell: model_config(cell, settings).parameter_count() for cell in ("rnn", "gru", "lstm", "peephole")}
    assert all(abs(count - 12_000) < 0.03 * 12_000 for count in counts.values()), counts
    hidden = {cell: model_config(cell, settings).hidden_size for cell in counts}
    assert hidden["rnn"] > hidden["gru"] > hidden["lstm"]


def test_the_task_asks_for_the_key_k_steps_back():
    tokens, targets = make_batch(5, 7, 8, torch.Generator().manual_seed(0))
    assert tokens.shape == (5, 8)
    assert torch.equal(targets, tokens[:, 0])
    assert (tokens[:, -1] == 8).all() and (tokens[:, :-1] < 8).all()


def test_a_short_span_is_learned_and_results_are_reproducible():
    settings = MemorySpanSettings(cells=("lstm",), spans=(2,), steps=150, seeds=1, eval_sequences=200)
    first = run_memory_span(settings)
    assert first[0].accuracy > 0.9  # far above chance (0.125)
    assert run_memory_span(settings)[0].accuracy == first[0].accuracy
    assert longest_span(first, "lstm") == 2


@pytest.mark.parametrize("changes", [{"spans": ()}, {"spans": (0,)}, {"cells": ("cnn",)}, {"cells": ("rnn+chrono",)},
                                     {"cells": ("lstm+more",)}, {"symbols": 1}, {"steps": 0}])
def test_bad_settings(changes):
    with pytest.raises(TextgenError):
        MemorySpanSettings(**changes)


def test_cli_json_and_plot(tmp_path):
    plot = tmp_path / "span.png"
    result = CliRunner().invoke(cli, ["experiment", "memory-span", "--spans", "2,4", "--steps", "20", "--seeds", "1",
                                      "--budget", "2000", "--plot", str(plot), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {(r["cell"], r["k"]) for r in data["results"]} == {(c, k) for c in ("rnn", "gru", "lstm", "lstm+chrono")
                                                               for k in (2, 4)}
    assert all(0 <= r["accuracy"] <= 1 for r in data["results"])
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_text_table():
    result = CliRunner().invoke(cli, ["experiment", "memory-span", "--spans", "2", "--steps", "5", "--seeds", "1",
                                      "--cells", "rnn,lstm", "--budget", "1000"])
    assert result.exit_code == 0
    assert "k" in result.stdout and "rnn" in result.stdout and "chance 12.5%" in result.stdout


def test_chrono_initialisation_spreads_the_keep_biases_over_the_span():
    from textgen.experiments.memory_span import model_config
    from textgen.model import LanguageModel

    settings = MemorySpanSettings(cells=("lstm+chrono",), spans=(2, 64))
    config = model_config("lstm+chrono", settings)
    assert config.forget_bias == "chrono:65"
    rnn = LanguageModel(config).layers[0].rnn
    hidden = config.hidden_size
    forget = rnn.bias_ih_l0[hidden: 2 * hidden]
    assert torch.equal(rnn.bias_ih_l0[:hidden], -forget)  # the input (ignore) gate is the negative
    assert forget.min() >= 0 and forget.max() <= math.log(64) + 1e-6 and forget.std() > 0.3
    assert torch.count_nonzero(rnn.bias_hh_l0[: 2 * hidden]) == 0
