"""textgen/model/config.py: a bad model setting names its field; the JSON round trip refuses unknown keys."""

from __future__ import annotations

import pytest

from textgen.model.config import ModelConfig
from textgen.errors import TextgenError


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"hidden_size": 0}, "hidden_size"), ({"embed_dim": -4}, "embed_dim"), ({"num_layers": 0}, "num_layers"),
     ({"vocab_size": 1.5}, "vocab_size"), ({"weight_drop": 1.0}, "weight_drop"), ({"embed_dropout": -0.1}, "embed_dropout"),
     ({"cell": "transformer"}, "cell"), ({"activation_reg": -1}, "activation_reg"), ({"tie_weights": "yes"}, "tie_weights"),
     ({"output_projection": False, "embed_dim": 8, "hidden_size": 16}, "tie_weights needs hidden_size"),
     ({"forget_bias": 50.0}, "forget_bias")],
)
def test_bad_configs_name_the_field(changes, field):
    with pytest.raises(TextgenError, match=field):
        ModelConfig(**{"vocab_size": 10, **changes})


def test_config_json_round_trip_rejects_unknown_keys():
    config = ModelConfig(vocab_size=10, cell="gru")
    assert ModelConfig.from_json(config.to_json()) == config
    with pytest.raises(TextgenError, match="unknown keys hidden"):
        ModelConfig.from_dict({"vocab_size": 10, "hidden": 5})
    assert "gru language model" in config.summary() and f"{config.parameter_count():,}" in config.summary()


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [({"average": 1.0}, "average must be a decay in \\[0, 1\\)"), ({"average": -0.5}, "average must be"),
     ({"average": True}, "average must be"), ({"average": 0.99, "optimizer": "ntasgd"}, "ntasgd averages the weights itself")],
)
def test_bad_weight_averages_are_refused_with_the_fix(changes, fragment):
    from textgen.model.config import TrainConfig

    with pytest.raises(TextgenError, match=fragment):
        TrainConfig(**changes)
