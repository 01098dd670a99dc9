"""The neural cache: one mixing rule in three paths that agree, never a look at the predicted
token, tuning on held-out text, and the options of the inference commands."""

from __future__ import annotations

import json
import math

import numpy as np
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from textgen.cli import cli
from textgen.model.neural_cache import CachedModel, CacheSettings, cached_nats, resolve_cache, tune_cache, with_cache
from textgen.model.config import ModelConfig
from textgen.errors import TextgenError
from textgen.model import LanguageModel
from textgen.tokenizer import BOS_ID


def tiny_model(seed: int = 0) -> LanguageModel:
    torch.manual_seed(seed)
    return LanguageModel(ModelConfig(vocab_size=30, hidden_size=16, embed_dim=8)).eval()


def stream(length: int = 400, seed: int = 0) -> np.ndarray:
    tokens = np.random.default_rng(seed).integers(4, 30, size=length).astype(np.int64)
    tokens[::41] = BOS_ID  # stories start every 41 tokens
    return tokens


@pytest.mark.parametrize("per_story", [True, False])
def test_whole_chunks_single_steps_and_the_fast_path_agree(per_story):
    model, tokens = tiny_model(), stream()
    settings = CacheSettings(theta=0.7, weight=0.3, size=37, per_story=per_story)
    _, (fast,), count = cached_nats(model, tokens, [settings], streams=1, seq_len=50)
    cached, x = CachedModel(model, settings), torch.from_numpy(tokens)
    chunked, state = 0.0, None
    with torch.no_grad():
        for begin in range(0, len(tokens) - 1, 23):
            end = min(begin + 23, len(tokens) - 1)
            logits, state = cached(x[begin:end][None], state)
            chunked += float(torch.nn.functional.cross_entropy(logits[0], x[begin + 1:end + 1], reduction="sum"))
        stepped, state = 0.0, cached.init_state(1)
        for t in range(len(tokens) - 1):
            logits, state = cached.step(x[t:t + 1], state)
            stepped -= float(torch.log_softmax(logits[0], -1)[x[t + 1]])
    assert count == len(tokens) - 1
    assert chunked == pytest.approx(fast, rel=1e-5) and stepped == pytest.approx(fast, rel=1e-5)


def test_mixed_probabilities_sum_to_one_and_the_cache_raises_what_followed_similar_states():
    model = tiny_model()
    cached = CachedModel(model, CacheSettings(theta=1.0, weight=0.5, size=100))
    tokens = torch.tensor([[BOS_ID, 7, 9, 7, 9, 7]])
    with torch.no_grad():
        plain, _ = model(tokens)
        mixed, _ = cached(tokens)
    assert torch.allclose(mixed.exp().sum(-1), torch.ones(1, 6), atol=1e-5)
    assert torch.allclose(mixed[0, 0], torch.log_softmax(plain[0, 0], -1), atol=1e-6)  # nothing cached yet: the model alone
    assert mixed[0, -1, 9] > torch.log_softmax(plain[0, -1], -1)[9]  # 9 followed 7 before


def test_the_cache_never_sees_the_token_it_predicts():
    """Token 29 occurs only once, as the last target: with the cache on, its probability can only
    fall (the model's share shrinks), never rise, at every weight."""
    model, tokens = tiny_model(), stream(200)
    tokens = np.where(tokens == 29, 28, tokens)
    tokens[-1] = 29
    x = torch.from_numpy(tokens)
    for weight in (0.1, 0.5, 0.9):
        cached = CachedModel(model, CacheSettings(theta=1.0, weight=weight, size=1000, per_story=False))
        with torch.no_grad():
            mixed, _ = cached(x[:-1][None])
            plain, _ = model(x[:-1][None])
        assert mixed[0, -1, 29].exp() == pytest.approx((1 - weight) * torch.softmax(plain[0, -1], -1)[29].item(), rel=1e-4)


def test_per_story_forgets_the_previous_story():
    model = tiny_model()
    tokens = torch.tensor([[BOS_ID, 7, 9, 7, BOS_ID, 7]])
    with torch.no_grad():
        story, _ = CachedModel(model, CacheSettings(theta=1.0, weight=0.5, per_story=True))(tokens)
        across, _ = CachedModel(model, CacheSettings(theta=1.0, weight=0.5, per_story=False))(tokens)
        plain, _ = model(tokens)
    assert torch.allclose(story[0, 4], torch.log_softmax(plain[0, 4], -1), atol=1e-6)  # the new story's cache is empty
    assert not torch.allclose(across[0, 4], torch.log_softmax(plain[0, 4], -1), atol=1e-3)


def test_beam_search_and_sampling_run_through_the_cache(trained):
    import textgen
    from textgen.sampling.generate import generate

    loaded = textgen.load(trained)
    cached = with_cache(loaded.model, CacheSettings(theta=0.5, weight=0.2))
    assert isinstance(cached, CachedModel)
    first = generate(cached, loaded.tokenizer, "Once upon a time", n=2, max_tokens=12, seed=3)
    again = generate(cached, loaded.tokenizer, "Once upon a time", n=2, max_tokens=12, seed=3)
    assert [s.ids for s in first] == [s.ids for s in again]
    beams = generate(cached, loaded.tokenizer, "Once upon a time", n=2, max_tokens=8, beams=3)
    assert len(beams) == 2
    assert with_cache(loaded.model, None) is loaded.model and with_cache(loaded.model, CacheSettings(weight=0.0)) is loaded.model


def test_tuning_picks_a_cache_for_repetitive_text_and_none_where_nothing_repeats():
    torch.manual_seed(0)
    model = LanguageModel(ModelConfig(vocab_size=700, hidden_size=16, embed_dim=8)).eval()
    noise = np.random.default_rng(1).permutation(np.arange(4, 700)).astype(np.int64)  # no token comes twice
    # stories that each repeat their own two "names": what a cache is for
    rng = np.random.default_rng(2)
    repetitive = np.concatenate([[BOS_ID, *np.tile(rng.integers(4, 700, size=2), 20)] for _ in range(12)]).astype(np.int64)
    settings, record = tune_cache(model, repetitive, streams=2, seq_len=64)
    assert settings is not None and record["relative_gain"] > 0.05 and record["chosen"] == settings.to_dict()
    noisy, record = tune_cache(model, noise, streams=2, seq_len=64)  # the cache could only take probability away
    assert noisy is None and record["chosen"] is None


@pytest.mark.parametrize("changes, fragment", [({"weight": 1.0}, "weight"), ({"weight": -0.1}, "weight"), ({"theta": 0}, "theta"),
                                               ({"size": 0}, "size"), ({"size": 10**6}, "size"), ({"per_story": "yes"}, "per_story")])
def test_bad_settings_are_refused(changes, fragment):
    with pytest.raises(TextgenError, match=fragment):
        CacheSettings(**changes)


def test_resolution_of_the_options():
    tuned = CacheSettings(theta=0.2, weight=0.1)
    assert resolve_cache(None) is None and resolve_cache(tuned) == tuned
    assert resolve_cache(tuned, enabled=False) is None
    assert resolve_cache(None, enabled=True) == CacheSettings()
    assert resolve_cache(tuned, weight=0.3).weight == 0.3 and resolve_cache(tuned, weight=0.3).theta == 0.2
    assert resolve_cache(None, scope="all").per_story is False
    assert resolve_cache(tuned, weight=0.0) is None
    # sampling: off unless asked for, since draws from the cache copy recent tokens
    assert resolve_cache(tuned, sampling=True) is None
    assert resolve_cache(tuned, enabled=True, sampling=True) == tuned
    assert resolve_cache(tuned, theta=0.5, sampling=True) == tuned.replace(theta=0.5)
    with pytest.raises(TextgenError, match="scope"):
        resolve_cache(tuned, scope="book")


def test_training_records_the_search_and_evaluate_reports_plain_and_cached_apart(tmp_path, trained, corpus):
    meta = json.loads((trained / "textgen.json").read_text())
    assert set(meta["cache"]) == {"settings", "search"} and meta["cache"]["search"]["tokens"] > 0
    result = CliRunner().invoke(cli, ["evaluate", str(trained), str(corpus), "--cache-weight", "0.2", "--cache-theta", "0.5",
                                      "--cache-dir", str(tmp_path / "c"), "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics["cache"]["weight"] == 0.2 and metrics["cache"]["theta"] == 0.5
    assert math.isfinite(metrics["cache"]["bits_per_byte"]) and metrics["cache"]["bits_per_byte"] != metrics["bits_per_byte"]
    off = json.loads(CliRunner().invoke(cli, ["evaluate", str(trained), str(corpus), "--no-cache", "--cache-dir",
                                              str(tmp_path / "c"), "--json"]).stdout)
    assert off["cache"] is None and off["bits_per_byte"] == pytest.approx(metrics["bits_per_byte"], rel=1e-6)
    text = CliRunner().invoke(cli, ["evaluate", str(trained), str(corpus), "--cache-weight", "0.2", "--cache-dir",
                                    str(tmp_path / "c")])
    assert "with cache" in text.stdout and "fewer bits per byte" in text.stdout


@pytest.mark.parametrize("command", [["generate", "--max-tokens", "5"], ["next", "Once upon a"],
                                     ["diagnose", "--samples", "2", "--max-tokens", "10", "--no-baseline"]])
def test_inference_commands_take_the_cache_options_and_refuse_bad_values(trained, command):
    name, *rest = command
    good = CliRunner().invoke(cli, [name, str(trained), *rest, "--cache-weight", "0.3"])
    assert good.exit_code == 0, good.output
    bad = CliRunner().invoke(cli, [name, str(trained), *rest, "--cache-weight", "1.5"])
    assert bad.exit_code == 2 and bad.stderr.count("error:") == 1 and "cache weight" in bad.stderr


def test_sampling_commands_leave_the_cache_off_unless_asked_and_scoring_commands_use_it(trained, tmp_path):
    import shutil

    trained = Path(shutil.copytree(trained, tmp_path / "with-cache"))
    meta = json.loads((trained / "textgen.json").read_text())
    meta["cache"]["settings"] = {"theta": 0.5, "weight": 0.1, "size": 1000, "per_story": True}  # as if training chose one
    (trained / "textgen.json").write_text(json.dumps(meta))
    generate = CliRunner().invoke(cli, ["generate", str(trained), "--max-tokens", "3", "--verbose"])
    assert generate.exit_code == 0, generate.output
    assert "neural cache: off" in generate.stderr
    asked = CliRunner().invoke(cli, ["generate", str(trained), "--max-tokens", "3", "--verbose", "--cache"])
    assert asked.exit_code == 0, asked.output
    assert "neural cache: weight" in asked.stderr
    import textgen
    from textgen.analysis.diagnosis import _cached

    loaded = textgen.load(trained)
    sampler, model = _cached(loaded, None, "model", sampling=True)
    assert sampler is loaded.model and model is loaded.model
    _, scoring = _cached(loaded, None, "model", sampling=False)
    assert isinstance(scoring, CachedModel)


# --- long inputs: chunked reading, bounded matrices, shared memory --------------------------------

def reference_log_probs(model: LanguageModel, tokens: torch.Tensor, settings: CacheSettings) -> torch.Tensor:
    """The cache's rule written out position by position over one whole forward pass (B, T, V)."""
    with torch.no_grad():
        output = model.forward_with_activations(tokens)
    hidden, plain = output.output.float(), torch.softmax(output.logits.float(), dim=-1)
    stories = torch.cumsum((tokens == BOS_ID).long(), dim=1)
    mixed = torch.empty_like(plain)
    for row in range(tokens.shape[0]):
        for t in range(tokens.shape[1]):
            keys = [i for i in range(max(0, t - settings.size), t)
                    if not settings.per_story or stories[row, i] == stories[row, t]]
            if not keys:
                mixed[row, t] = plain[row, t]
                continue
            weights = torch.softmax(settings.theta * hidden[row, keys] @ hidden[row, t], dim=0)
            cache = torch.zeros_like(plain[row, t]).index_add_(0, tokens[row, [i + 1 for i in keys]], weights)
            mixed[row, t] = (1 - settings.weight) * plain[row, t] + settings.weight * cache
    return torch.log(mixed)


@pytest.mark.parametrize("per_story", [True, False])
@pytest.mark.parametrize("chunk", [1, 3, 16, 256])
def test_chunked_reading_equals_the_rule_written_out(per_story, chunk):
    """The cache reads a call's tokens `chunk` at a time, carrying its memory; whatever the chunk
    (and with stories starting inside one), the result is the rule over the whole text, and `read`
    gives its last position."""
    model = tiny_model()
    tokens = torch.from_numpy(stream(90, seed=3)[None])
    tokens[0, [0, 20, 47, 48]] = BOS_ID  # stories start at a chunk's edge, inside one, and twice in a row
    settings = CacheSettings(theta=0.8, weight=0.4, size=13, per_story=per_story)
    cached = CachedModel(model, settings)
    cached.chunk = chunk
    expected = reference_log_probs(model, tokens, settings)
    with torch.no_grad():
        mixed, _ = cached(tokens)
        last, _ = cached.read(tokens)
        halves, state = cached(tokens[:, :41])
        rest, _ = cached(tokens[:, 41:], state)
    assert torch.allclose(mixed, expected, atol=1e-5)
    assert torch.allclose(last, expected[:, -1], atol=1e-5)
    assert torch.allclose(torch.cat([halves, rest], dim=1), expected, atol=1e-5)


def recording_scores(monkeypatch) -> list[tuple[int, ...]]:
    """The shape of every query-key matrix the cache builds."""
    import textgen.model.neural_cache as cache

    shapes, original = [], cache.cache_weights

    def recording(queries, keys, allowed, theta):
        shapes.append(tuple(allowed.shape))
        return original(queries, keys, allowed, theta)

    monkeypatch.setattr(cache, "cache_weights", recording)
    return shapes


def test_a_long_text_never_builds_a_matrix_larger_than_a_chunk_by_the_memory(monkeypatch):
    """Work O(T * size): 3,000 tokens with a 40-position cache build no query-key matrix over
    chunk x (size + chunk) entries (a whole-text call built 3,000 x 3,000), and `read` scores
    only the last position."""
    shapes = recording_scores(monkeypatch)
    settings = CacheSettings(theta=0.8, weight=0.4, size=40)
    cached = CachedModel(tiny_model(), settings)
    tokens = torch.from_numpy(stream(3000)[None])
    with torch.no_grad():
        mixed, _ = cached(tokens)
    bound = cached.chunk * (settings.size + cached.chunk)
    assert mixed.shape == (1, 3000, 30) and len(shapes) >= 3000 // cached.chunk
    assert max(math.prod(shape[1:]) for shape in shapes) <= bound
    shapes.clear()
    with torch.no_grad():
        last, _ = cached.read(tokens)
    assert torch.allclose(last, mixed[:, -1], atol=1e-5)
    assert len(shapes) == 1 and shapes[0][1] == 1  # one query: the last position


def test_chunks_shrink_for_a_large_cache():
    from textgen.model.neural_cache import MIN_CHUNK, SCORE_ENTRIES, chunk_length

    assert chunk_length(1000) == 256
    assert chunk_length(100_000) == MIN_CHUNK
    assert chunk_length(20_000) * (20_000 + 256) <= SCORE_ENTRIES


def test_steps_from_one_state_share_its_memory_and_copy_only_recent_keys():
    """A next-word search keeps hundreds of states one step apart: each shares the parent's
    stored keys (up to `size` of them) and holds only the few it added itself."""
    cached = CachedModel(tiny_model(), CacheSettings(theta=0.8, weight=0.4, size=200))
    tokens = torch.from_numpy(stream(600)[None])
    with torch.no_grad():
        _, parent = cached.read(tokens)
        children = [cached.step(torch.tensor([token]), parent)[1] for token in range(4, 30)]
        grandchild = cached.step(torch.tensor([5]), children[0])[1]
    stored = parent[-1][0]
    assert stored.shape[1] == 199  # the last `size` positions with the pending one
    for state in [*children, grandchild]:
        assert state[-1][0].data_ptr() == stored.data_ptr()  # shared, not copied
    assert children[0][-1][3].shape[1] == 1 and grandchild[-1][3].shape[1] == 2  # the recent keys it added


def test_cached_nats_scores_a_long_chunk_in_bounded_pieces(monkeypatch):
    """Evaluation with `--seq-len` as long as the text builds no matrix over chunk x (size + chunk)."""
    shapes = recording_scores(monkeypatch)
    model, tokens = tiny_model(), stream(2000)
    settings = CacheSettings(theta=0.7, weight=0.3, size=37)
    _, (whole,), _ = cached_nats(model, tokens, [settings], streams=1, seq_len=2000)
    _, (short,), _ = cached_nats(model, tokens, [settings], streams=1, seq_len=50)
    from textgen.model.neural_cache import chunk_length

    assert whole == pytest.approx(short, rel=1e-5)
    chunk = chunk_length(settings.size)
    assert max(math.prod(shape[1:]) for shape in shapes) <= chunk * (settings.size + chunk + 1)
