"""Attribution of findings to the model or the sampler, and `textgen diagnose MODEL`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from tests.analysis.test_next_words import direct_probability, tiny_model

from textgen.cli import cli
from textgen.analysis.attribution import ALTERNATIVES, NOT_WORDS, attribute, attribute_all, blame_of
from textgen.analysis.diagnosis import comparison_grid, samples_perplexity
from textgen.analysis.detectors import diagnose_story
from textgen.analysis.next_words import PieceRoles
from textgen.sampling.generate import Sample, TokenChoice
from textgen.tokenizer import BOS_ID

STORY = "Hopper saw Hopper. She was happy and they played and they played."


@pytest.mark.parametrize("kind", ["sentencepiece", "word", "char"])
def test_attribution_gives_the_models_probability_rank_and_alternatives(tokenizers, kind):
    tokenizer = tokenizers[kind]
    model = tiny_model(tokenizer, seed=3)
    findings = diagnose_story(STORY)
    assert [f.kind for f in findings] == ["self-object", "phrase-loop"]
    self_object = findings[0]
    assert self_object.word == "Hopper" and STORY[: self_object.word_start] == "Hopper saw "
    result = attribute(model, tokenizer, STORY, self_object)
    roles = PieceRoles(tokenizer)
    expected = direct_probability(model, tokenizer, "Hopper saw", roles.word_pieces("Hopper"), ends=kind != "word")
    assert result.probability == pytest.approx(expected, rel=1e-4)
    assert len(result.alternatives) == ALTERNATIVES and all(a.word != "Hopper" for a in result.alternatives)
    probabilities = [a.probability for a in result.alternatives]
    assert probabilities == sorted(probabilities, reverse=True)
    # a word tokenizer ranks every word of its vocabulary, so its rank is exact; seed 3's flat model does
    # not list "Hopper" among the few likeliest words a sub-word or character search finds, so it has none
    expected_rank = word_rank(model, tokenizer, "Hopper saw", "Hopper") if kind == "word" else None
    assert result.rank == expected_rank
    assert (expected_rank > ALTERNATIVES) if kind == "word" else (expected_rank is None)
    assert all(a.probability > result.probability for a in result.alternatives)  # ranked below every alternative
    assert result.blame == blame_of(result.probability, result.rank)
    loop = attribute(model, tokenizer, STORY, findings[1])
    assert loop.word == "and" and findings[1].word_start == STORY.index("and they played", STORY.index("played"))


def word_rank(model, tokenizer, context: str, word: str) -> int:
    """1 + the number of words (not control tokens) the model finds likelier than `word` after `context`."""
    with torch.no_grad():
        logits, _ = model(torch.tensor([[BOS_ID, *tokenizer.encode(context)]]))
    distribution = torch.softmax(logits[0, -1].float(), dim=-1)
    words = [i for i in range(tokenizer.vocab_size)
             if tokenizer.id_to_piece(i).strip() and tokenizer.id_to_piece(i) not in NOT_WORDS]  # control tokens are not words
    return 1 + int((distribution[words] > distribution[tokenizer.piece_to_id(word)]).sum())


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_a_listed_word_has_rank_minus_one_alternatives_above_it(word_tokenizer, rank):
    """The model made likelier than every word but `rank - 1` others: the attribution's rank is
    `rank`, exactly those others are the alternatives above it, and the blame follows the rank."""
    model = tiny_model(word_tokenizer, seed=3)
    likelier = ["Lily", "ball", "park"][: rank - 1]
    with torch.no_grad():
        model.decoder.bias[word_tokenizer.piece_to_id("Hopper")] = 20.0
        for step, word in enumerate(likelier):
            model.decoder.bias[word_tokenizer.piece_to_id(word)] = 22.0 - step
    result = attribute(model, word_tokenizer, STORY, diagnose_story(STORY)[0])
    assert result.word == "Hopper" and result.rank == rank == word_rank(model, word_tokenizer, "Hopper saw", "Hopper")
    assert [a.word for a in result.alternatives[: rank - 1]] == likelier
    assert sum(a.probability > result.probability for a in result.alternatives) == rank - 1
    assert result.blame == ("model" if rank == 1 else "both") == blame_of(result.probability, result.rank)


def test_blame_rules():
    assert blame_of(0.9, 1) == "model"
    assert blame_of(0.01, 1) == "model"  # the first choice even when flat: greedy writes it too
    assert blame_of(0.02, 4) == "sampling"
    assert blame_of(0.3, 2) == "both"
    assert blame_of(0.001, None) == "sampling"


def test_unknown_words_leave_a_finding_unattributed(word_tokenizer):
    model = tiny_model(word_tokenizer)
    story = "Zorblax saw the the moon."
    (finding,) = diagnose_story(story)
    assert attribute_all(model, word_tokenizer, [(story, finding)]) == [None]


def test_samples_perplexity_is_computed_from_the_model_probabilities():
    sample = Sample("", "a b", [5, 6], [TokenChoice(5, "a", 0.5, 1), TokenChoice(6, "b", 0.25, 2)])
    assert samples_perplexity([sample]) == pytest.approx(math.sqrt(8))
    assert math.isnan(samples_perplexity([Sample("", "", [])]))


def test_the_grid_varies_each_setting_the_issue_names():
    grid = dict(comparison_grid())
    assert len(grid) == 7
    varied = {field for settings in grid.values() for field, value in vars(settings).items()
              if value != getattr(grid["temperature 1 (pure sampling)"], field)}
    assert {"temperature", "top_p", "repetition_penalty", "no_repeat_ngram", "dry_multiplier"} <= varied


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_diagnose_model_generates_diagnoses_and_attributes(trained, tmp_path):
    saved = tmp_path / "samples.txt"
    result = invoke("diagnose", trained, "--samples", 3, "--max-tokens", 40, "--temperature", 0.8, "--json",
                    "--save-samples", saved)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert len(data["samples"]) == 3 and data["metrics"]["stories"] == 3
    assert data["metrics"]["perplexity"] > 1
    assert data["baseline"]["stories"] == 3  # the training corpus, at the same size
    # top-k 1 is greedy: the 20-step model repeats a word in each of its 3 stories (at 0.8 it wrote none),
    # and a repeat greedy decoding wrote is the model's first choice, so the blame is the model's (with the
    # no-stray-capitals rule off: it gives "His" inside a sentence to "his", which is then no first choice)
    greedy = json.loads(invoke("diagnose", trained, "--samples", 3, "--max-tokens", 40, "--top-k", 1,
                               "--stray-capitals", 1, "--json").stdout)
    assert [f["kind"] for f in greedy["findings"]] == ["immediate-repeat"] * 3
    assert sorted(f["story"] for f in greedy["findings"]) == [0, 1, 2]
    for finding in greedy["findings"]:
        assert {"kind", "start", "end", "text", "sentence", "word", "attribution", "story"} <= finding.keys()
        story = greedy["samples"][finding["story"]]["text"]
        assert story[finding["start"]:finding["end"]] == finding["text"]
        assert finding["attribution"]["word"] == finding["word"] and finding["attribution"]["rank"] == 1
        assert finding["attribution"]["blame"] == "model"
    # the same seed and settings give the stories `textgen generate` writes
    generated = invoke("generate", trained, "-n", 3, "--max-tokens", 40, "--temperature", 0.8, "--json")
    texts = [json.loads(line)["text"] for line in generated.stdout.splitlines()]
    assert [s["text"] for s in data["samples"]] == texts
    from textgen.data.corpus import read_stories

    assert len(read_stories(saved)) == 3


def test_diagnose_text_with_a_model_attributes_every_finding(trained, tmp_path):
    from textgen.modeldir.store import load

    tokenizer = load(trained).tokenizer
    words = [tokenizer.id_to_piece(i) for i in range(4, tokenizer.vocab_size) if tokenizer.id_to_piece(i).isalpha()][:3]
    text = tmp_path / "text.txt"
    text.write_text(f"{words[0]} {words[1]} {words[1]} {words[2]}.\n")
    result = invoke("diagnose", trained, "--text", text, "--json")
    assert result.exit_code == 0, result.output
    (finding,) = json.loads(result.stdout)["findings"]
    assert finding["kind"] == "immediate-repeat" and finding["attribution"]["word"] == words[1]
    shown = invoke("diagnose", trained, "--text", text)
    assert "model:" in shown.stdout and "who made the errors" in shown.stdout


def test_compare_settings_prints_one_row_per_setting(trained):
    result = invoke("diagnose", trained, "--compare-settings", "--samples", 2, "--max-tokens", 30, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [row["name"] for row in data["settings"]] == [name for name, _ in comparison_grid()]
    for row in data["settings"]:
        assert row["metrics"]["stories"] == 2 and row["perplexity"] > 1
        assert set(row["findings"]) == {"self-object", "immediate-repeat", "phrase-loop", "repeated-sentence"}
    assert data["baseline"]["stories"] == 2
    text = invoke("diagnose", trained, "--compare-settings", "--samples", 2, "--max-tokens", 30)
    assert text.exit_code == 0 and "human baseline" in text.stdout and "DRY" in text.stdout


@pytest.mark.parametrize("args, message", [
    (["MODEL", "--samples", "0"], "--samples"),
    ([], "give MODEL"),
    (["MISSING"], "does not exist"),
    (["MODEL", "--compare-settings", "--text", "TEXT"], "--compare-settings"),
    (["--text", "BINARY"], "UTF-"),
    (["--text", "EMPTY"], "empty"),
    (["MODEL", "--prompt", "Zorblax"], "does not know"),
    (["MODEL", "--top-p", "0"], "top"),
])
def test_diagnose_refuses_bad_input_in_one_line(trained, tmp_path, args, message):
    paths = {"TEXT": tmp_path / "text.txt", "BINARY": tmp_path / "binary.txt", "EMPTY": tmp_path / "empty.txt",
             "MISSING": tmp_path / "no-model", "MODEL": trained}
    paths["TEXT"].write_text("Doug saw Doug.\n")
    paths["BINARY"].write_bytes(b"\xff\xfe\x00\x81story")
    paths["EMPTY"].write_text("")
    result = invoke("diagnose", *[paths.get(a, a) for a in args])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("kind", ["sentencepiece", "word", "char"])
def test_generated_text_reads_on_from_the_prompt(tokenizers, kind):
    from textgen.sampling.generate import Continuation

    tokenizer = tokenizers[kind]
    prompt = "Hopper saw the pond"
    tokens = tokenizer.encode(prompt)
    assert tokenizer.decode(tokens) == prompt
    follow = tokenizer.encode(" and the sun was warm.")
    text = Continuation(tokenizer, prompt, tokens)(follow)
    assert prompt + text == tokenizer.decode(tokens + follow) == "Hopper saw the pond and the sun was warm."


def test_generation_never_writes_control_tokens(word_tokenizer):
    from textgen.sampling.generate import NEVER_WRITTEN, generate

    model = tiny_model(word_tokenizer)
    with torch.no_grad():
        model.decoder.bias[list(NEVER_WRITTEN)] = 100.0  # the model wants nothing else
    (sample,) = generate(model, word_tokenizer, "Hopper saw", max_tokens=20, seed=1)
    assert sample.ids and not set(sample.ids) & set(NEVER_WRITTEN)
    from textgen.sampling.processors import MinP, TopK, TopP

    for processors in ([TopP(0.5)], [TopK(1)], [MinP(0.5)]):  # the mask comes first, so a rule never keeps only <s>
        (sample,) = generate(model, word_tokenizer, "Hopper saw", max_tokens=10, seed=1, processors=processors)
        assert sample.ids and not set(sample.ids) & set(NEVER_WRITTEN)
    assert sample.tokens[0].rank > len(NEVER_WRITTEN)  # the model's own ranks are still reported


def test_findings_inside_the_prompt_are_not_the_models(trained):
    result = invoke("diagnose", trained, "--prompt", "Hopper saw Hopper.", "--samples", 3, "--max-tokens", 20, "--json",
                    "--no-baseline")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert all(s["text"].startswith("Hopper saw Hopper.") for s in data["samples"])
    assert all(f["word_start"] >= len("Hopper saw Hopper.") for f in data["findings"])
    assert diagnose_story("Hopper saw Hopper.")  # the prompt alone has a finding, which is the user's
    assert not any(f["kind"] == "self-object" and f["word_start"] < len("Hopper saw Hopper.") for f in data["findings"])
    words = data["metrics"]["words"]
    for kind in ("self-object", "immediate-repeat", "phrase-loop", "repeated-sentence"):  # the rates count the findings
        count = sum(f["kind"] == kind for f in data["findings"])
        assert data["metrics"][f"{kind}_per_1000_words"] == pytest.approx(1000 * count / words), kind
    # this seed's stories repeat no object, so the prompt's self-object would be the only one counted
    assert data["metrics"]["self-object_per_1000_words"] == 0.0


def test_the_default_baseline_is_the_unchanged_training_corpus(tmp_path):
    from types import SimpleNamespace

    from textgen.analysis.diagnosis import training_corpus
    from textgen.data.corpus import fingerprint

    corpus = tmp_path / "book.txt"
    corpus.write_text("Doug saw Jane.\n\nJane saw Spot.\n")
    stamp = fingerprint(corpus)
    loaded = SimpleNamespace(metadata={"corpus": {"path": "elsewhere/book.txt", "absolute_path": str(corpus), "fingerprint": stamp}})
    assert training_corpus(loaded) == str(corpus)
    corpus.write_text("Another book entirely.\n")
    assert training_corpus(loaded) is None  # changed since training: no silent wrong baseline


def test_saved_samples_read_back_as_the_same_stories(trained, tmp_path):
    from textgen.data.corpus import read_stories

    saved = tmp_path / "out" / "samples.txt"
    result = invoke("diagnose", trained, "--samples", 4, "--max-tokens", 30, "--json", "--save-samples", saved, "--no-baseline")
    data = json.loads(result.stdout)
    written = [s["text"] for s in data["samples"] if s["text"].strip()]
    assert [story.strip("\n") for story in read_stories(saved)] == [story.strip("\n") for story in written]
    again = invoke("diagnose", "--text", saved, "--json")
    assert json.loads(again.stdout)["metrics"]["words"] == data["metrics"]["words"]


def test_a_models_own_story_is_attributed_from_its_tokens_even_when_its_text_does_not_re_encode(word_tokenizer):
    from textgen.analysis.attribution import token_context

    tokenizer = word_tokenizer
    model = tiny_model(tokenizer, seed=5)
    glue = tokenizer.piece_to_id("<glue>")
    ids = tokenizer.encode("Hopper saw") + [glue] + tokenizer.encode("Pippa saw saw the pond.")
    text = tokenizer.decode(ids)
    assert "sawPippa" in text and tokenizer.unknown(text)  # the model's own text would not encode again
    sample = Sample("", text, ids)
    (finding,) = [f for f in diagnose_story(text) if f.kind == "immediate-repeat"]
    context = token_context(tokenizer, "", sample, finding.word_start)
    assert context == [BOS_ID, *ids[: ids.index(tokenizer.piece_to_id("saw"), ids.index(glue)) + 1]]
    assert attribute_all(model, tokenizer, [(text, finding)]) == [None]
    (result,) = attribute_all(model, tokenizer, [(text, finding)], contexts=[context])
    with torch.no_grad():
        logits, _ = model(torch.tensor([context]))
    assert result.probability == pytest.approx(float(torch.softmax(logits[0, -1], dim=-1)[tokenizer.piece_to_id("saw")]))
    # with a prompt, positions inside it have no model context
    prompted = Sample("Hopper saw", " Pippa.", tokenizer.encode("Pippa."))
    assert token_context(tokenizer, "Hopper saw", prompted, 3) is None
    assert token_context(tokenizer, "Hopper saw", prompted, len("Hopper saw ")) == [BOS_ID, *tokenizer.encode("Hopper saw")]


def test_saved_samples_never_overwrite_the_training_corpus_or_the_baseline(trained, tmp_path):
    from textgen.modeldir.store import read_metadata

    corpus = read_metadata(trained)["corpus"]["absolute_path"]
    before = Path(corpus).read_bytes()
    for target in (corpus, str(trained / "textgen.json")):
        result = invoke("diagnose", trained, "--samples", 1, "--max-tokens", 5, "--save-samples", target)
        assert result.exit_code == 2 and "also an input" in result.output
    baseline = tmp_path / "human.txt"
    baseline.write_text("Doug saw Jane.\n")
    result = invoke("diagnose", trained, "--samples", 1, "--max-tokens", 5, "--baseline", baseline, "--save-samples", baseline)
    assert result.exit_code == 2 and "also an input" in result.output
    assert Path(corpus).read_bytes() == before and baseline.read_text() == "Doug saw Jane.\n"


# --- long stories: one read per story, bounded attributions ---------------------------------------

LOOPING = "Hopper saw Hopper. " + "They played and they played and they played. Tom saw Tom. The the dog ran. " * 6


def context_tokens_through(model, monkeypatch) -> list[int]:
    """The length of every call that reads more than one token (a context), by forward or read."""
    lengths = []
    for name in ("forward", "read"):
        original = getattr(model, name)

        def recording(tokens, state=None, original=original):
            if tokens.shape[1] > 1:
                lengths.append(tokens.shape[1])
            return original(tokens, state)

        monkeypatch.setattr(model, name, recording)
    return lengths


@pytest.mark.parametrize("cached", [False, True])
def test_a_story_is_read_once_however_many_findings_it_has(sentencepiece_tokenizer, monkeypatch, cached):
    """Each finding's context continues from the one before: the tokens read are the story's (and a
    margin per finding), not the sum of every finding's context, and every attribution is what
    reading its context alone gives."""
    from textgen.analysis.attribution import ContextReader
    from textgen.model.neural_cache import CacheSettings, with_cache

    tokenizer = sentencepiece_tokenizer
    model = with_cache(tiny_model(tokenizer, seed=2), CacheSettings(theta=1.0, weight=0.3, size=50) if cached else None)
    findings = diagnose_story(LOOPING)
    assert len(findings) >= 20
    alone = [attribute(model, tokenizer, LOOPING, finding) for finding in findings]
    lengths = context_tokens_through(model, monkeypatch)
    together = attribute_all(model, tokenizer, [(LOOPING, finding) for finding in findings])
    story_tokens = len(tokenizer.encode(LOOPING)) + 1
    assert sum(lengths) <= story_tokens + (ContextReader.MARGIN + 1) * len(findings)  # one finding at a time read 10x more
    assert len(together) == len(alone)
    for one, other in zip(alone, together):
        assert (one.word, one.rank) == (other.word, other.rank)
        assert [a.word for a in one.alternatives] == [a.word for a in other.alternatives]
        assert other.probability == pytest.approx(one.probability, rel=1e-5, abs=1e-7)


def test_only_the_first_findings_are_attributed_with_a_note(trained):
    """A degenerate text has a finding per sentence: diagnose attributes the first `max_attributions`
    and says how many it left."""
    import textgen
    from textgen.analysis.diagnosis import diagnose

    loaded = textgen.load(trained)
    text = "a. " * 2000
    report = diagnose(loaded, [text], max_attributions=7)
    attributed = [f for f in report.findings if f["attribution"] is not None]
    assert len(report.findings) == 1998 and [f["start"] for f in attributed] == [f["start"] for f in report.findings[:7]]
    assert report.notes == ["1,991 of 1,998 findings are not attributed: only the first 7 are (--max-attributions raises "
                            "the limit; each costs a next-word search)"]
    assert report.to_dict()["notes"] == report.notes
    default = diagnose(loaded, [text])
    assert sum(f["attribution"] is not None for f in default.findings) == 100


def test_diagnose_cli_takes_max_attributions(trained, tmp_path):
    text = tmp_path / "loop.txt"
    text.write_text("a. " * 300 + "\n")
    result = invoke("diagnose", trained, "--text", text, "--max-attributions", 2, "--no-baseline", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert sum(f["attribution"] is not None for f in data["findings"]) == 2
    assert "296 of 298 findings are not attributed" in data["notes"][0] and "--max-attributions" in result.stderr
    from textgen.analysis.attribution import MAX_ATTRIBUTIONS
    from textgen.cli.diagnose import MAX_ATTRIBUTIONS as CLI_DEFAULT

    assert CLI_DEFAULT == MAX_ATTRIBUTIONS


def test_the_token_context_of_a_word_inside_a_token_costs_a_bounded_number_of_decodes(sentencepiece_tokenizer, monkeypatch):
    """Where no token ends right before the word, the search looks a few tokens back, not all the
    way to the story's start (each step decodes the whole story so far)."""
    from textgen.analysis.attribution import BACK_STEPS, token_context

    tokenizer = sentencepiece_tokenizer
    text = "They played in the park. " * 60 + "They played"
    ids = tokenizer.encode(text)
    sample = Sample("", text, ids)
    decodes = []
    original = tokenizer.decode
    monkeypatch.setattr(tokenizer, "decode", lambda tokens: decodes.append(1) or original(tokens))
    inside = text.rindex("played") + 2  # inside the word's piece: no token ends there
    assert token_context(tokenizer, "", sample, inside) is None
    assert len(decodes) <= math.ceil(math.log2(len(ids) + 1)) + BACK_STEPS + 1
    decodes.clear()
    start = text.rindex("played")
    assert token_context(tokenizer, "", sample, start) == [BOS_ID, *tokenizer.encode(text[:start].rstrip())]
