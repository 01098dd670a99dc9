"""generate(): seeded, streamed, greedy = argmax, one step per token, stop reasons, beam search."""

from __future__ import annotations

import pytest
import torch

from textgen.model.config import ModelConfig
from textgen.errors import TextgenError
from textgen.model import LanguageModel
from textgen.sampling import BannedSequences, RepetitionPenalty, TopK
from textgen.sampling.generate import generate
from textgen.tokenizer import BOS_ID, EOS_ID, train_tokenizer


def test_same_seed_same_stories_and_other_seeds_differ(word_model):
    model, tokenizer = word_model
    first = generate(model, tokenizer, "Once upon a time", n=3, max_tokens=20, seed=7)
    again = generate(model, tokenizer, "Once upon a time", n=3, max_tokens=20, seed=7)
    other = generate(model, tokenizer, "Once upon a time", n=3, max_tokens=20, seed=8)
    assert [s.ids for s in first] == [s.ids for s in again]
    assert [s.ids for s in first] != [s.ids for s in other]
    assert len({tuple(s.ids) for s in first}) > 1  # the stories of one batch differ from each other


def test_a_vanishing_temperature_writes_what_greedy_writes(word_model):
    """--temperature 1e-300 (accepted: above 0) used to write nonsense; its limit is greedy."""
    from textgen.sampling import Temperature

    model, tokenizer = word_model
    (greedy,) = generate(model, tokenizer, "Lily saw", max_tokens=15, greedy=True)
    for temperature in (1e-300, 1e-40):
        (tiny,) = generate(model, tokenizer, "Lily saw", max_tokens=15, processors=[Temperature(temperature)], seed=3)
        assert tiny.ids == greedy.ids


def test_greedy_is_the_argmax_at_every_step(word_model):
    model, tokenizer = word_model
    (sample,) = generate(model, tokenizer, "Lily saw", max_tokens=15, greedy=True)
    prompt = [BOS_ID] + tokenizer.encode("Lily saw")
    logits, _ = model(torch.tensor([prompt + sample.ids]))
    positions = range(len(prompt) - 1, len(prompt) - 1 + len(sample.ids))
    assert [int(logits[0, p].argmax()) for p in positions] == sample.ids
    assert all(choice.rank == 1 for choice in sample.tokens)


def test_streaming_gives_the_same_output(word_model):
    model, tokenizer = word_model
    pieces: dict[int, list[str]] = {0: [], 1: []}
    streamed = generate(model, tokenizer, "Tom", n=2, max_tokens=25, seed=3, on_token=lambda row, text: pieces[row].append(text))
    plain = generate(model, tokenizer, "Tom", n=2, max_tokens=25, seed=3)
    assert [s.to_dict() for s in streamed] == [s.to_dict() for s in plain]
    assert ["".join(pieces[row]) for row in (0, 1)] == [s.text for s in plain]


def test_each_new_token_costs_one_step(word_model, monkeypatch):
    model, tokenizer = word_model
    shapes, reads = [], []
    original, original_read = model.forward, model.read

    def recording(tokens, state=None):
        shapes.append(tuple(tokens.shape))
        return original(tokens, state)

    def recording_read(tokens, state=None):
        reads.append(tuple(tokens.shape))
        return original_read(tokens, state)

    monkeypatch.setattr(model, "forward", recording)
    monkeypatch.setattr(model, "read", recording_read)
    generate(model, tokenizer, "Once upon a time", n=2, max_tokens=10, processors=[TopK(1000)])
    assert reads == [(1, 1 + len(tokenizer.encode("Once upon a time")))]  # the prompt, once, for both stories
    assert all(shape == (2, 1) for shape in shapes)


def test_probabilities_and_ranks_are_the_models(word_model):
    model, tokenizer = word_model
    (sample,) = generate(model, tokenizer, "", max_tokens=5, seed=1, processors=[RepetitionPenalty(1.5)])
    assert len(sample.tokens) == len(sample.ids) == 5  # an untrained model draws the end of a story rarely
    logits, _ = model(torch.tensor([[BOS_ID] + sample.ids]))
    probabilities = torch.softmax(logits[0], dim=-1)
    for position, choice in enumerate(sample.tokens):
        assert abs(probabilities[position, choice.token_id].item() - choice.probability) < 1e-5


def test_stop_reasons(word_model):
    model, tokenizer = word_model
    with torch.no_grad():
        model.decoder.bias[EOS_ID] = 50.0  # the model now ends every story at once
    try:
        (sample,) = generate(model, tokenizer, "Lily", max_tokens=10)
        assert sample.stop_reason == "end_of_story" and sample.ids == []
    finally:
        with torch.no_grad():
            model.decoder.bias[EOS_ID] = 0.0
    (sample,) = generate(model, tokenizer, "Lily", max_tokens=4, processors=[])
    assert len(sample.ids) <= 4
    never_end = [BannedSequences([[EOS_ID]])]  # the story runs on, so it has words to stop at
    long = generate(model, tokenizer, "Lily", max_tokens=60, seed=2, processors=never_end)[0]
    words = long.text.split()
    assert len(words) > 2, long.text
    cut = generate(model, tokenizer, "Lily", max_tokens=60, seed=2, processors=never_end, stop=[words[2]])[0]
    assert cut.stop_reason == "stop_string"
    assert words[2] not in cut.text


def test_beam_search(word_model):
    model, tokenizer = word_model
    samples = generate(model, tokenizer, "Once upon a time", n=3, beams=4, max_tokens=12)
    # 4 beams are still live at the 12th token (this model ends no story that early), so 4 >= n = 3
    # hypotheses finish and exactly n come back, the likeliest first
    assert [s.stop_reason for s in samples] == ["max_tokens"] * 3 and all(len(s.ids) == 12 for s in samples)
    assert len({tuple(s.ids) for s in samples}) == 3
    assert samples == generate(model, tokenizer, "Once upon a time", n=3, beams=4, max_tokens=12)


def test_beam_search_of_one_token_ranks_the_models_best_tokens_and_starts_with_greedys(word_model):
    """One token, the end of the story banned: each beam is one of the model's most likely tokens,
    best first, and the best is the token greedy writes."""
    model, tokenizer = word_model
    never_end = [BannedSequences([[EOS_ID]])]
    beams = generate(model, tokenizer, "Lily saw", n=3, beams=3, max_tokens=1, processors=never_end)
    (greedy,) = generate(model, tokenizer, "Lily saw", max_tokens=1, processors=never_end, greedy=True)
    assert [s.ids for s in beams][0] == greedy.ids
    assert [s.tokens[0].rank for s in beams] == [1, 2, 3]
    probabilities = [s.tokens[0].probability for s in beams]
    assert probabilities == sorted(probabilities, reverse=True) and probabilities[0] > probabilities[2]


def continuation_log_probability(model, tokenizer, prompt: str, ids: list[int], processors) -> float:
    """The summed log-probability of `ids` after `prompt` under the distribution beam search and
    greedy decoding both pick from: the model's, without the never-written tokens, after `processors`."""
    from textgen.sampling.generate import _allowed, prompt_ids
    from textgen.sampling.processors import apply_processors

    history = prompt_ids(tokenizer, prompt) + ids
    with torch.no_grad():
        logits, _ = model(torch.tensor([history]))
    total, start = 0.0, len(history) - len(ids)
    for position, token in enumerate(ids, start=start):
        scores = apply_processors(processors, torch.tensor([history[:position]]), _allowed(logits[:, position - 1].float()))
        total += float(torch.log_softmax(scores, dim=-1)[0, token])
    return total


@pytest.fixture(scope="module")
def trained_word_model(little_stories):
    """A word model trained for 150 steps (about a second): its distributions are peaked, so the
    choice between greedy and beam decoding matters (an untrained model's are flat)."""
    tokenizer = train_tokenizer(little_stories[:100], kind="word")
    torch.manual_seed(0)
    model = LanguageModel(ModelConfig(vocab_size=tokenizer.vocab_size, embed_dim=16, hidden_size=32, num_layers=1))
    ids = torch.tensor([token for story in little_stories[:100] for token in [BOS_ID, *tokenizer.encode(story), EOS_ID]])
    windows = ids[: len(ids) // 33 * 33].view(-1, 33)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    for step in range(150):
        batch = windows[torch.arange(step * 8, step * 8 + 8) % len(windows)]
        logits, _ = model(batch[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval(), tokenizer


@pytest.mark.parametrize("prompt", ["Once upon a time", "Lily saw", "The dog"])
def test_beam_search_with_one_beam_is_greedy_and_more_beams_find_a_likelier_story(trained_word_model, prompt):
    """One beam keeps the likeliest token at every step, as greedy decoding does; several beams keep
    more prefixes, so the story they return is at least as likely as greedy's (on this model and these
    prompts; every story runs to max_tokens, so the mean log-probability beam search ranks by is the sum
    over the same number of tokens)."""
    from textgen.sampling.generate import beam_search

    model, tokenizer = trained_word_model
    never_end = [BannedSequences([[EOS_ID]])]
    (greedy,) = generate(model, tokenizer, prompt, max_tokens=12, greedy=True, processors=never_end)
    (one_beam,) = beam_search(model, tokenizer, prompt, 1, 12, never_end, 1, ())
    assert one_beam.ids == greedy.ids and one_beam.text == greedy.text and len(greedy.ids) == 12
    (greedy_ending,) = generate(model, tokenizer, prompt, max_tokens=40, greedy=True)  # the story may end here
    (one_beam_ending,) = beam_search(model, tokenizer, prompt, 1, 40, (), 1, ())
    assert (one_beam_ending.ids, one_beam_ending.stop_reason) == (greedy_ending.ids, greedy_ending.stop_reason)
    (best,) = generate(model, tokenizer, prompt, max_tokens=12, beams=8, processors=never_end)
    assert len(best.ids) == 12
    greedy_score = continuation_log_probability(model, tokenizer, prompt, greedy.ids, never_end)
    beam_score = continuation_log_probability(model, tokenizer, prompt, best.ids, never_end)
    assert beam_score >= greedy_score - 1e-4, (beam_score, greedy_score)


@pytest.mark.parametrize(("kwargs", "message"), [({"n": 0}, "from 1 to"), ({"max_tokens": 0}, "max tokens"),
                                                 ({"max_tokens": 10**6}, "max tokens"), ({"beams": 2, "n": 3}, "at most"),
                                                 ({"beams": 33}, "from 1 to 32"), ({"beams": 50_000}, "from 1 to 32"),
                                                 ({"beams": 0}, "from 1 to 32")])
def test_bad_settings(word_model, kwargs, message):
    model, tokenizer = word_model
    with pytest.raises(TextgenError, match=message):
        generate(model, tokenizer, "Lily", **kwargs)


def test_unknown_prompt_words_are_named(word_model):
    model, tokenizer = word_model
    with pytest.raises(TextgenError, match="Zorblax"):
        generate(model, tokenizer, "Lily saw a Zorblax")


def test_bans_that_ignore_the_history_are_folded_into_the_mask_once():
    """A one-piece ban becomes part of the never-written mask and leaves the step loop; a longer
    sequence stays a rule of every step; a ban of everything writable is not folded."""
    from textgen.sampling.generate import never_written_mask
    from textgen.sampling.stories import fold_static_bans as _fold_static_bans

    mask = never_written_mask(12)
    folded, left = _fold_static_bans(mask, [BannedSequences([[EOS_ID], [5], [6, 7]]), TopK(3)])
    assert torch.isneginf(folded[[EOS_ID, 5]]).all() and torch.isfinite(folded[[6, 7, 8]]).all()
    assert [type(rule) for rule in left] == [BannedSequences, TopK] and left[0].sequences == [(6, 7)]
    assert torch.isfinite(mask[5])  # the caller's mask is not changed
    everything = [[token] for token in range(12)]
    same, kept = _fold_static_bans(mask, [BannedSequences(everything)])
    assert torch.equal(same, mask) and len(kept) == 1


def test_a_banned_end_of_story_is_never_written_and_the_stories_run_to_length(word_model):
    model, tokenizer = word_model
    samples = generate(model, tokenizer, "Once upon a time", n=4, max_tokens=30, seed=3,
                       processors=[BannedSequences([[EOS_ID]])])
    assert all(len(sample.ids) == 30 and EOS_ID not in sample.ids for sample in samples)
    assert all(sample.stop_reason == "max_tokens" for sample in samples)


def test_draw_takes_the_first_token_whose_cumulative_probability_exceeds_the_uniform_draw():
    """draw() against the same uniform numbers and the softmax's cumulative sum in float64, for many
    rows at once (torch) and one row at a time (numpy): each drawn token's interval of the cumulative
    distribution holds its row's number, tokens of score -inf are never drawn, every row on its own."""
    from textgen.sampling.generate import draw

    torch.manual_seed(0)
    scores = torch.randn(64, 50) * 3
    scores[:, ::3] = float("-inf")  # never drawn
    generator, again = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    together = draw(scores, generator)
    one_by_one = torch.cat([draw(scores[row: row + 1], generator) for row in range(64)])
    cumulative = torch.softmax(scores.double(), dim=-1).cumsum(dim=-1)
    for token, uniform in ((together, torch.rand(64, generator=again)),
                           (one_by_one, torch.cat([torch.rand(1, generator=again) for _ in range(64)]))):
        above = cumulative.gather(1, token[:, None])[:, 0]
        below = cumulative.gather(1, (token - 1).clamp_min(0)[:, None])[:, 0] * (token > 0)
        assert token.dtype == torch.long and token.shape == (64,)
        assert (below <= uniform + 1e-6).all() and (uniform <= above + 1e-6).all()
        assert (token % 3 != 0).all()
        assert len(set(token.tolist())) > 5


def test_the_model_choice_is_the_probability_and_rank_of_the_model_own_distribution():
    from textgen.sampling.generate import _model_choice

    logits = torch.tensor([[0.0, 2.0, 1.0, 2.0], [5.0, -1.0, 0.0, 0.5]])
    token = torch.tensor([2, 0])
    expected = torch.softmax(logits, dim=-1)[[0, 1], [2, 0]].tolist()
    probability, rank = _model_choice(logits, token)  # two rows: torch
    assert probability == pytest.approx(expected, rel=1e-6)
    assert rank == [3, 1]  # two tokens above the first row's choice; the second's is the top
    rows = [_model_choice(logits[row: row + 1], token[row: row + 1]) for row in range(2)]  # one row: numpy
    assert [p for probabilities, _ in rows for p in probabilities] == pytest.approx(expected, rel=1e-6)
    assert [r for _, ranks in rows for r in ranks] == [3, 1]


def test_a_banned_token_is_never_drawn_even_when_it_takes_all_the_probability(word_model):
    """The plain path draws from the distribution renormalised over the writable tokens: a banned
    token whose logit is far above the others (every other probability underflows) is not drawn."""
    model, tokenizer = word_model
    favourite = tokenizer.piece_to_id("Lily")
    with torch.no_grad():
        model.decoder.bias[favourite] = 300.0
    try:
        samples = generate(model, tokenizer, "Once", n=2, max_tokens=5, seed=0,
                           processors=[BannedSequences([[favourite]])])
        assert all(favourite not in sample.ids and len(sample.ids) >= 1 for sample in samples)
    finally:
        with torch.no_grad():
            model.decoder.bias[favourite] = 0.0


def test_stop_strings_read_quotes_as_the_tokenizer_writes_them(sentencepiece_tokenizer):
    from textgen.sampling.generate import _stop_strings

    assert sentencepiece_tokenizer.ascii_quotes
    assert _stop_strings(sentencepiece_tokenizer, ["\u201d", "The end."]) == ['"', "The end."]


def test_the_plain_draw_is_a_masked_draw_with_the_model_choice_for_one_row_and_many():
    from textgen.sampling.generate import _model_choice, draw, draw_plain

    torch.manual_seed(1)
    logits = torch.randn(3, 40) * 2
    mask = torch.zeros(40)
    mask[[0, 5, 7]] = float("-inf")
    for rows in (slice(0, 1), slice(0, 3)):  # one row: numpy; three: torch
        token, probability, rank = draw_plain(logits[rows], mask, torch.Generator().manual_seed(9))
        expected = draw(logits[rows] + mask, torch.Generator().manual_seed(9))
        assert torch.equal(token, expected) and not set(token.tolist()) & {0, 5, 7}
        assert (probability, rank) == _model_choice(logits[rows], expected)


def test_one_plain_story_runs_in_numpy_and_writes_what_the_torch_steps_write(word_model, monkeypatch):
    """One story with no rule keeps its state and draw in numpy (no `model.step` call after the
    prompt); it writes the same tokens with the same probabilities as torch's steps and draw."""
    import textgen.model.language_model as language_model

    model, tokenizer = word_model
    steps = []
    original_step = model.step
    monkeypatch.setattr(model, "step", lambda token, state=None: steps.append(1) or original_step(token, state))
    prompt_steps = 1 + len(tokenizer.encode("Lily saw"))  # `read` steps through a short prompt
    (fast,) = generate(model, tokenizer, "Lily saw", max_tokens=30, seed=4, processors=[BannedSequences([[EOS_ID]])])
    assert len(steps) == prompt_steps
    monkeypatch.setattr(language_model, "NUMPY_STEP", False)
    model._plan_cache = None
    try:
        (slow,) = generate(model, tokenizer, "Lily saw", max_tokens=30, seed=4, processors=[BannedSequences([[EOS_ID]])])
    finally:
        model._plan_cache = None
    assert len(steps) == 2 * prompt_steps + 30  # torch's path steps once per new token
    assert fast.ids == slow.ids and len(fast.ids) == 30
    assert [c.rank for c in fast.tokens] == [c.rank for c in slow.tokens]
    assert all(abs(a.probability - b.probability) < 1e-5 for a, b in zip(fast.tokens, slow.tokens))
    logits, _ = model(torch.tensor([[BOS_ID] + tokenizer.encode("Lily saw") + fast.ids]))
    probabilities = torch.softmax(logits[0, prompt_steps - 1: -1], dim=-1)
    assert all(abs(probabilities[i, c.token_id].item() - c.probability) < 1e-5 for i, c in enumerate(fast.tokens))


def test_beam_search_decodes_its_text_only_for_stop_strings(word_model, monkeypatch):
    """Each candidate's text costs a decode of the whole story so far: without stop strings the
    stories are decoded once, at the end, not at every step of every beam."""
    model, tokenizer = word_model
    decodes = []
    original = tokenizer.decode
    monkeypatch.setattr(tokenizer, "decode", lambda ids: decodes.append(1) or original(ids))
    samples = generate(model, tokenizer, "Once upon a time", n=2, beams=3, max_tokens=40,
                       processors=[BannedSequences([[EOS_ID]])])
    assert len(samples) == 2 and all(len(sample.ids) == 40 for sample in samples)
    assert len(decodes) <= 2 * 2 + 2  # the prompt's prefix and each story's text


def test_one_story_under_the_default_rules_runs_in_numpy_and_writes_what_the_torch_rules_write(
        sentencepiece_tokenizer, little_stories, monkeypatch):
    """The default command (one story, the default rules) keeps the rules and the draw in numpy too: no
    `model.step` call after the prompt, and the same tokens, probabilities and ranks as the torch rules
    and draw over the same model steps, for several seeds, prompts and greedy."""
    from textgen.analysis.words import words_record
    from textgen.model import LanguageModel, ModelConfig
    from textgen.modeldir.store import recorded_words
    from textgen.sampling.settings import SamplingSettings, build_processors

    tokenizer = sentencepiece_tokenizer
    torch.manual_seed(3)
    model = LanguageModel(ModelConfig(vocab_size=tokenizer.vocab_size, embed_dim=16, hidden_size=32)).eval()
    words = recorded_words({"words": words_record(little_stories)})
    runs = [("", 0, False), ("Lily saw", 1, False), ("Once upon a time", 2, False), ("Tom and", 5, True)]
    for prompt, seed, greedy in runs:
        processors = build_processors(SamplingSettings(keep_cast=0.1, cast_opening=8), tokenizer, words)
        steps = []
        original_step = model.step
        monkeypatch.setattr(model, "step", lambda token, state=None: steps.append(1) or original_step(token, state))
        (fast,) = generate(model, tokenizer, prompt, max_tokens=80, seed=seed, processors=processors, greedy=greedy)
        prompt_steps = len(steps)
        assert prompt_steps <= 1 + len(tokenizer.encode(prompt))  # only `read` stepped, through the prompt
        monkeypatch.setattr(model, "numpy_step", lambda state: None)  # the torch rules and draw, the same steps
        processors = build_processors(SamplingSettings(keep_cast=0.1, cast_opening=8), tokenizer, words)
        (slow,) = generate(model, tokenizer, prompt, max_tokens=80, seed=seed, processors=processors, greedy=greedy)
        monkeypatch.undo()
        assert len(steps) > 2 * prompt_steps + 10  # the torch path stepped once per new token
        assert fast.ids == slow.ids and fast.text == slow.text and fast.stop_reason == slow.stop_reason
        assert [(c.probability, c.rank) for c in fast.tokens] == [(c.probability, c.rank) for c in slow.tokens]
