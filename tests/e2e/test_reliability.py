"""Hostile or mistaken files and inputs: one clear line, exit 2, nothing allocated, hung or lost."""

from __future__ import annotations

import json
import os
import shutil
import time

import pytest
import torch
from click.testing import CliRunner

import textgen
from textgen.cli import cli
from textgen.errors import TextgenError


def copy_of(trained, tmp_path):
    out = tmp_path / "model"
    shutil.copytree(trained, out, ignore=shutil.ignore_patterns("lightning"))
    return out


def edit_meta(folder, change) -> None:
    path = folder / "textgen.json"
    meta = json.loads(path.read_text())
    change(meta)
    path.write_text(json.dumps(meta))


def refused(folder, fragment: str) -> None:
    with pytest.raises(TextgenError, match=fragment):
        textgen.load(folder)
    result = CliRunner().invoke(cli, ["next", str(folder), "Once upon a"])
    assert result.exit_code == 2 and result.stderr.count("error:") == 1, result.output


@pytest.mark.parametrize("size", [200_000, 8000])
def test_a_claimed_size_is_checked_before_anything_is_allocated(trained, tmp_path, size):
    folder = copy_of(trained, tmp_path)
    edit_meta(folder, lambda meta: meta["model"].update(hidden_size=size))
    started = time.perf_counter()
    refused(folder, "parameters|does not fit")
    assert time.perf_counter() - started < 5  # 8000 units would be a 3 GB model: refused on the header instead


@pytest.mark.parametrize("change, fragment", [
    (lambda meta: meta.update(files=[1, 2]), "files must be"),
    (lambda meta: meta.update(format_version="1"), "format_version must be"),
    (lambda meta: meta.update(format_version=-7), "format_version must be"),
    (lambda meta: meta.update(format_version=True), "format_version must be"),
    (lambda meta: meta.update(format_version=99), "newer than this textgen"),
    (lambda meta: meta.update(tokenizer="x"), "tokenizer.file"),
    (lambda meta: meta.update(model=[]), "model must be"),
    (lambda meta: meta.update(cache=7), "cache must be"),
])
def test_the_model_description_is_checked_against_its_schema(trained, tmp_path, change, fragment):
    folder = copy_of(trained, tmp_path)
    edit_meta(folder, change)
    refused(folder, fragment)


def test_deeply_nested_json_is_one_error_not_a_recursion(trained, tmp_path):
    folder = copy_of(trained, tmp_path)
    (folder / "textgen.json").write_text("[" * 100_000 + "]" * 100_000)
    refused(folder, "nests deeper")


def test_a_fifo_in_place_of_a_file_is_refused_at_once(trained, tmp_path):
    folder = copy_of(trained, tmp_path)
    (folder / "textgen.json").unlink()
    os.mkfifo(folder / "textgen.json")
    refused(folder, "not a regular file")


def test_weights_that_are_not_finite_or_of_another_type_are_refused(trained, tmp_path):
    from safetensors.torch import load_file, save_file

    from textgen.modeldir.store import sha256

    for name, change in (("nan", lambda t: t.fill_(float("nan"))), ("float64", lambda t: t.double()), ("int32", lambda t: t.int())):
        folder = copy_of(trained, tmp_path / name)
        state = load_file(folder / "model.safetensors")
        first = sorted(state)[0]
        changed = change(state[first].clone())
        state[first] = changed if changed is not None else state[first]
        save_file(state, folder / "model.safetensors")
        edit_meta(folder, lambda meta: meta["files"].update({"model.safetensors": sha256((folder / "model.safetensors").read_bytes())}))
        refused(folder, "NaN or infinite" if name == "nan" else "type textgen does not store")


def test_a_word_tokenizer_file_that_is_not_json_says_what_it_should_be(trained, tmp_path):
    from textgen.tokenizer import load_tokenizer

    path = tmp_path / "tokenizer.json"
    path.write_text("these are words, not a tokenizer\n")
    with pytest.raises(TextgenError, match="not a textgen tokenizer file") as caught:
        load_tokenizer(path)
    assert "INTERNAL" not in str(caught.value) and ".cc(" not in str(caught.value)


def test_config_files_that_are_devices_or_huge_are_refused_and_option_names_work(tmp_path, corpus):
    result = CliRunner().invoke(cli, ["train", str(corpus), "--out", str(tmp_path / "x"), "--config", "/dev/zero"])
    assert result.exit_code == 2 and "not a regular file" in result.stderr
    config = tmp_path / "run.toml"
    config.write_text(f'out = "{tmp_path / "from-config"}"\nmax-steps = 2\nhidden-size = 8\nembed-dim = 8\nbatch-size = 2\n'
                      'seq-len = 4\ntokenizer-kind = "word"\n')
    result = CliRunner().invoke(cli, ["train", str(corpus), "--config", str(config), "--cache-dir", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "from-config" / "textgen.json").exists()


def test_next_words_with_a_space_or_unknown_words_and_ban_of_an_unknown_word(trained):
    spaced = CliRunner().invoke(cli, ["next", str(trained), "Once upon a", "--words", "Jane Spot"])
    assert spaced.exit_code == 2 and "--words Jane,Spot" in spaced.stderr
    unknown = CliRunner().invoke(cli, ["next", str(trained), "Once upon a", "--words", "Zebrafish,time"])
    assert unknown.exit_code == 0 and "not in the model's vocabulary" in unknown.stdout
    data = json.loads(CliRunner().invoke(cli, ["next", str(trained), "Once upon a", "--words", "Zebrafish", "--json"]).stdout)
    assert data["words"][0]["known"] is False
    banned = CliRunner().invoke(cli, ["generate", str(trained), "--ban", "Zebrafish", "--max-tokens", "3"])
    assert banned.exit_code == 2 and "nothing to ban" in banned.stderr


def test_pieces_are_shown_as_the_tokenizer_has_them(tmp_path, little_stories):
    from textgen.model.config import ModelConfig
    from textgen.analysis.next_words import next_tokens
    from textgen.model import LanguageModel
    from textgen.tokenizer import train_tokenizer

    tokenizer = train_tokenizer(little_stories[:100], kind="sentencepiece", vocab_size=400)
    model = LanguageModel(ModelConfig(vocab_size=tokenizer.vocab_size, hidden_size=8, embed_dim=8))
    labels = [w.word for w in next_tokens(model, tokenizer, "Once upon a", top=tokenizer.vocab_size).words]
    assert len(labels) == len(set(labels))  # "▁h" and "h" are two entries, shown apart
    assert any(label.startswith("▁") for label in labels)


def test_evaluate_warns_when_the_text_is_mostly_unknown(trained, tmp_path):
    text = tmp_path / "foreign.txt"
    text.write_text("Zyx qwv plk mnb.\n<|endoftext|>\nXyz vvv www.\n<|endoftext|>\n")
    result = CliRunner().invoke(cli, ["evaluate", str(trained), str(text), "--cache-dir", str(tmp_path / "c")])
    assert result.exit_code == 0 and "are <unk>" in result.stderr


def test_memory_span_refuses_a_budget_the_smallest_model_exceeds():
    result = CliRunner().invoke(cli, ["experiment", "memory-span", "--symbols", "10000", "--budget", "100"])
    assert result.exit_code == 2 and "raise --budget" in result.stderr


def test_a_long_single_story_without_markers_gets_the_right_advice(tmp_path):
    import warnings

    from textgen.data.corpus import CorpusWarning, iter_stories

    path = tmp_path / "one.txt"
    path.write_text(("word " * 50_000) + "\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        list(iter_stories(path))
    messages = [str(w.message) for w in caught if issubclass(w.category, CorpusWarning)]
    assert len(messages) == 1 and "<|endoftext|> lines" in messages[0] and "remove" not in messages[0]


def test_detectors_are_linear_in_a_long_sentence():
    from textgen.analysis.detectors import diagnose_story, text_metrics

    for words in (["la"] * 8000, ["and", "the", "dog", "ran"] * 2000):
        story = " ".join(words)
        started = time.perf_counter()
        diagnose_story(story)
        text_metrics([story])
        assert time.perf_counter() - started < 5  # quadratic took minutes at this size


def test_generate_caps_the_story_count_and_batches_large_requests(trained):
    too_many = CliRunner().invoke(cli, ["generate", str(trained), "-n", "1000000"])
    assert too_many.exit_code == 2 and "from 1 to 100,000" in too_many.stderr
    many = CliRunner().invoke(cli, ["generate", str(trained), "-n", "70", "--max-tokens", "3", "--json"])
    assert many.exit_code == 0, many.output
    lines = [json.loads(line) for line in many.stdout.splitlines()]
    assert len(lines) == 70
    batch = CliRunner().invoke(cli, ["generate", str(trained), "-n", "64", "--max-tokens", "3", "--json", "--seed", "0"])
    assert [json.loads(line)["text"] for line in batch.stdout.splitlines()] == [line["text"] for line in lines[:64]]


def test_generate_json_interrupted_prints_json_lines(trained, monkeypatch):
    import textgen.sampling.generate as generation

    def interrupted(*args, on_token=None, **kwargs):
        on_token(0, "Once upon")
        on_token(1, "The dog")
        raise KeyboardInterrupt

    monkeypatch.setattr(generation, "generate", interrupted)
    result = CliRunner().invoke(cli, ["generate", str(trained), "-n", "2", "--json"])
    assert result.exit_code == 130
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["text"] for line in lines] == ["Once upon", "The dog"]
    assert all(line["stop_reason"] == "interrupted" for line in lines)


def test_streaming_text_equals_a_whole_decode(tokenizers):
    from textgen.sampling.generate import Continuation, StreamingText

    generator = torch.Generator().manual_seed(0)
    for tokenizer in tokenizers.values():
        ids = torch.randint(4, tokenizer.vocab_size, (300,), generator=generator).tolist()
        prompt_tokens = tokenizer.encode("Once upon a time")
        continuation = Continuation(tokenizer, "Once upon a time", prompt_tokens)
        streaming = StreamingText(continuation)
        for end in range(1, len(ids) + 1):
            assert streaming(ids[:end]) == continuation(ids[:end]), (tokenizer.kind, end)


def test_streaming_text_decodes_a_bounded_number_of_tokens_per_step(tokenizers):
    """Generation stays linear in its length: each new token costs a bounded amount of decoding,
    not a decode of the whole story so far."""
    from textgen.sampling.generate import Continuation, StreamingText

    tokenizer = tokenizers["sentencepiece"]
    decoded = []
    original = tokenizer.decode

    class Counting:
        def __getattr__(self, name):
            return getattr(tokenizer, name)

        def decode(self, ids):
            ids = list(ids)
            decoded.append(len(ids))
            return original(ids)

    ids = torch.randint(4, tokenizer.vocab_size, (2000,), generator=torch.Generator().manual_seed(1)).tolist()
    streaming = StreamingText(Continuation(Counting(), "", []))
    for end in range(1, len(ids) + 1):
        streaming(ids[:end])
    per_token = sum(decoded) / len(ids)
    assert per_token < 3 * (StreamingText.CONTEXT + 3 * StreamingText.OPEN)  # a whole decode each step would be ~1000


def test_a_deeply_nested_jsonl_line_is_one_error(tmp_path):
    path = tmp_path / "deep.jsonl"
    path.write_text('{"text": "Once upon a time."}\n' + '{"text": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    result = CliRunner().invoke(cli, ["corpus", "stats", str(path)])
    assert result.exit_code == 2, result.output
    assert result.stderr.count("error:") == 1
    assert "nest" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_an_unwritable_home_adds_no_matplotlib_warnings(trained, tmp_path):
    """matplotlib warns about its config folder when HOME cannot be written: a plot must still come
    with no warning on stderr, and an error with its one line only."""
    import subprocess
    import sys

    home = tmp_path / "home"
    home.write_text("a file, so no folder can be made in it (even by root, whom permissions do not stop)")
    env = {key: value for key, value in os.environ.items() if key not in ("MPLCONFIGDIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")}
    env["HOME"] = str(home)
    textgen_command = [sys.executable, "-m", "textgen.cli"]
    drawn = subprocess.run([*textgen_command, "gates", str(trained), "Once upon a time", "--plot", str(tmp_path / "g.png")],
                           capture_output=True, text=True, env=env)
    failed = subprocess.run([*textgen_command, "next", str(trained), "Once upon a time", "--plot",
                             str(tmp_path / "g.png" / "x.png")], capture_output=True, text=True, env=env)
    assert drawn.returncode == 0, drawn.stderr
    assert drawn.stderr.strip() == ""
    assert (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"
    assert failed.returncode == 2
    lines = [line for line in failed.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, failed.stderr
    assert lines[0].startswith("error:")


@pytest.mark.slow
def test_diagnose_text_memory_does_not_grow_with_the_corpus(tmp_path):
    """A corpus streams through the diagnosis: memory grows only with what the metrics must keep (the
    distinct n-grams), far less than the text (before streaming: 50 times the file)."""
    import subprocess
    import sys

    from textgen.data.storybook import generate_stories

    stories = "".join(f"{story}\n<|endoftext|>\n" for story in generate_stories("little-stories"))
    peaks = {}
    for megabytes in (1, 6):
        path = tmp_path / f"{megabytes}.txt"
        with open(path, "w", encoding="utf-8") as file:
            while file.tell() < megabytes << 20:
                file.write(stories)
        code = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); "
                "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
        done = subprocess.run([sys.executable, "-c", code, sys.executable, "-m", "textgen.cli",
                               "diagnose", "--text", str(path), "--json"], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        peaks[megabytes] = int(done.stdout.strip()) / 1024  # MiB
    assert peaks[6] - peaks[1] < 8 * 5, peaks  # MiB: under 8 bytes per added byte of text (before streaming: 50)


@pytest.mark.parametrize("block", ['"model": [1]', '"training": "fast"'])
def test_a_run_description_as_config_with_a_block_that_is_not_settings_is_one_line(tmp_path, corpus, block):
    config = tmp_path / "textgen.json"
    config.write_text('{"format": "textgen-model", ' + block + "}")
    result = CliRunner().invoke(cli, ["train", str(corpus), "--out", str(tmp_path / "x"), "--config", str(config)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.strip() == (f"error: config file {config}: its \"{block.split(chr(34))[1]}\" block must hold key = "
                                     f"value settings, not {'list' if '[' in block else 'str'}: is it a textgen.json "
                                     "that textgen wrote?")
    assert not (tmp_path / "x").exists()
