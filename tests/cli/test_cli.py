"""Every CLI command end to end through CliRunner, and the one-line errors with exit code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.conftest import REPO, TINY_STORIES, write_repeated

from textgen.cli import cli

COMMANDS = ["corpus stats", "corpus split", "corpus generate", "tokenizer train", "tokenizer encode",
            "tokenizer decode", "tokenizer info", "experiment memory-span", "classify train", "classify predict",
            "classify evaluate", "classify explain"]


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, [str(arg) for arg in args], input=input)


def assert_one_line_error(result, *fragments: str):
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0]


def test_help_lists_every_command_with_a_description():
    result = run("--help")
    assert result.exit_code == 0
    assert "corpus" in result.output and "tokenizer" in result.output and "experiment" in result.output
    for command in COMMANDS:
        group, name = command.split()
        sub = run(group, "--help")
        assert name in sub.output
        line = next(line for line in sub.output.splitlines() if line.strip().startswith(name))
        assert len(line.split()) > 2, f"{command} has no one-line description"
        assert "Example:" in run(group, name, "--help").output


def test_cli_import_loads_no_heavy_library():
    """`textgen --help` must answer at once: importing the CLI loads neither torch, Lightning nor sentencepiece."""
    code = "import sys; from textgen.cli import cli; cli(['--help'], standalone_mode=False); " \
           "print(sorted(m for m in ('torch', 'lightning', 'sentencepiece', 'numpy') if m in sys.modules))"
    output = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert output.strip().endswith("[]")


def test_corpus_stats_text_and_json(corpus_txt):
    result = run("corpus", "stats", corpus_txt)
    assert result.exit_code == 0
    assert "stories" in result.output and "12" in result.output and "most common words" in result.output
    data = json.loads(run("corpus", "stats", corpus_txt, "--json").output)
    assert data["stories"] == 12
    assert {"stories", "words", "characters", "bytes", "vocabulary", "top_words"} <= data.keys()
    assert len(data["top_words"]) == 20 and data["top_words"][0]["word"] == "the"


def test_corpus_split(tmp_path, corpus_txt):
    result = run("corpus", "split", corpus_txt, "--out", tmp_path / "parts", "--valid-fraction", "0.2",
                 "--test-fraction", "0.1", "--json")
    assert result.exit_code == 0, result.output
    counts = json.loads(result.output)["stories"]
    assert counts == {"train": 9, "valid": 2, "test": 1}
    stats = [json.loads(run("corpus", "stats", tmp_path / "parts" / f"{name}.txt", "--json").output)["stories"]
             for name in ("train", "valid", "test")]
    assert stats == [9, 2, 1]


def test_corpus_generate(tmp_path):
    result = run("corpus", "generate", "doug-jane-spot", "--out", tmp_path)
    assert result.exit_code == 0
    assert (tmp_path / "doug-jane-spot.txt").read_bytes() == (REPO / "corpora" / "doug-jane-spot.txt").read_bytes()


@pytest.mark.parametrize(("kind", "size"), [("sentencepiece", None), ("word", None), ("char", "30")])
def test_tokenizer_train_encode_decode_info(tmp_path, corpus_txt, kind, size):
    out = tmp_path / "sub" / f"tok.{kind}"
    args = ["tokenizer", "train", corpus_txt, "--kind", kind, "--out", out, "--json"] + (["--vocab-size", size] if size else [])
    result = run(*args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["kind"] == kind and summary["stories"] == 12 and out.exists()
    text = "Tom had a red ball."
    encoded = json.loads(run("tokenizer", "encode", out, text, "--json").output)
    assert set(encoded) == {"pieces", "ids", "decoded"}
    assert len(encoded["pieces"]) == len(encoded["ids"]) > 0
    assert encoded["decoded"] == text  # every character of the text is in the tiny stories, so even 30 chars round-trip
    readable = run("tokenizer", "encode", out, text)
    assert readable.exit_code == 0 and "tokens for" in readable.output and "│" in readable.output
    decoded = run("tokenizer", "decode", out, *map(str, encoded["ids"]))
    assert decoded.output.rstrip("\n") == encoded["decoded"]
    info = json.loads(run("tokenizer", "info", out, "--json").output)
    assert info["special_tokens"] == {"pad": 0, "unk": 1, "bos": 2, "eos": 3}
    assert run("tokenizer", "encode", out, "-", input=text).exit_code == 0


@pytest.mark.parametrize("kind", ["word", "char"])
def test_word_and_char_vocab_size_is_a_cap(tmp_path, corpus_txt, kind):
    out = tmp_path / f"{kind}.json"
    result = run("tokenizer", "train", corpus_txt, "--kind", kind, "--vocab-size", "50000", "--out", out, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["vocab_size"] < 50000
    assert "note: --vocab-size 50000 is a cap: the corpus has " in result.stderr
    assert f"({data['vocab_size']} tokens with the special ones)" in result.stderr
    assert out.is_file()


def test_word_tokenizer_reports_unknown_words(tmp_path, corpus_txt):
    out = tmp_path / "w.json"
    run("tokenizer", "train", corpus_txt, "--kind", "word", "--out", out)
    result = run("tokenizer", "encode", out, "Tom saw a Zorblax.")
    assert "unknown to this tokenizer" in result.output and "Zorblax" in result.output


@pytest.fixture
def bad_inputs(tmp_path):
    latin = tmp_path / "latin.txt"
    latin.write_bytes("Once upon a time there was a caf\u00e9.".encode("latin-1"))
    binary = tmp_path / "image.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n<|endoftext|>\n")
    small = tmp_path / "small.txt"
    small.write_text("\n\n".join(TINY_STORIES))
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    return {"latin": latin, "binary": binary, "empty": empty, "small": small, "blocker": blocker}


@pytest.mark.parametrize(
    ("case", "fragments"),
    [
        ("missing", ["does not exist"]),
        ("empty", ["empty"]),
        ("latin", ["latin.txt", "not UTF-8", "byte offset 32"]),
        ("binary", ["image.txt", "binary"]),
        ("too-big-vocab", ["largest size that works is"]),
        ("unwritable", ["cannot create output folder"]),
        ("out-is-folder", ["is a folder"]),
        ("bad-tokenizer", ["not a valid sentencepiece model"]),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, bad_inputs, case, fragments):
    out = tmp_path / "out" / "tok.model"
    corpus = {"missing": tmp_path / "nope.txt", "empty": bad_inputs["empty"], "latin": bad_inputs["latin"],
              "binary": bad_inputs["binary"]}.get(case, bad_inputs["small"])
    args = ["tokenizer", "train", corpus, "--out", out]
    if case == "too-big-vocab":
        args += ["--vocab-size", "5000"]
    elif case == "unwritable":
        out = bad_inputs["blocker"] / "tok.model"
        args[-1] = out
    elif case == "out-is-folder":
        args[-1] = tmp_path
    elif case == "bad-tokenizer":
        bad_inputs["blocker"].write_bytes(b"\x00garbage" * 10)
        args = ["tokenizer", "encode", bad_inputs["blocker"], "hello"]
    result = run(*args)
    assert_one_line_error(result, *fragments)
    assert not out.exists()
    leftovers = [name for name in os.listdir(tmp_path / "out")] if (tmp_path / "out").exists() else []
    assert leftovers == []


def test_read_only_output_folder(tmp_path, corpus_txt):
    """A folder the user may not write to: a read-only one, or for root (who may write to any) /sys,
    where no one may create a file; the test used to be skipped for root, and CI containers run as root."""
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    unwritable = Path("/sys") if os.geteuid() == 0 else folder
    try:
        assert_one_line_error(run("tokenizer", "train", corpus_txt, "--out", unwritable / "t.model"), "cannot write")
    finally:
        folder.chmod(0o700)


def test_stats_errors_are_one_line(bad_inputs):
    assert_one_line_error(run("corpus", "stats", bad_inputs["latin"]), "byte offset")


def test_long_lines_are_reported_on_stderr(tmp_path):
    corpus = tmp_path / "long.txt"
    corpus.write_text("A short story.\n\n" + " ".join(["The cat sat on the mat."] * 300) + "\n")
    result = run("tokenizer", "train", corpus, "--out", tmp_path / "t.model")
    assert result.exit_code == 0, result.output
    assert "longer than sentencepiece's 4192-byte limit" in result.stderr


def test_real_process_prints_no_traceback(tmp_path):
    """Through the console entry point (not CliRunner): one line, exit 2."""
    code = "from textgen.cli import main; main()"
    result = subprocess.run([sys.executable, "-c", code, "corpus", "stats", str(tmp_path / "missing.txt")],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args",
    [["tokenizer", "train"], ["tokenizer", "train", "x", "--kind", "foo", "--out", "y"],
     ["corpus", "stats", "x", "--top", "-1"], ["tokenizer", "train", "x", "--seed", "-1", "--out", "y"],
     ["nonsense"]],
)
def test_usage_mistakes_are_one_line_too(args):
    result = run(*args)
    assert_one_line_error(result, "--help")


def test_text_that_is_not_utf8(tmp_path, corpus_txt):
    out = tmp_path / "w.json"
    run("tokenizer", "train", corpus_txt, "--kind", "word", "--out", out)
    assert_one_line_error(run("tokenizer", "encode", out, "caf\udce9"), "not valid UTF-8")


def test_training_output_may_not_overwrite_the_corpus(corpus_txt):
    before = corpus_txt.read_bytes()
    assert_one_line_error(run("tokenizer", "train", corpus_txt, "--kind", "word", "--out", corpus_txt), "also an input")
    assert corpus_txt.read_bytes() == before


def test_a_failed_run_leaves_no_new_folders(tmp_path, bad_inputs):
    result = run("tokenizer", "train", bad_inputs["empty"], "--out", tmp_path / "new" / "nested" / "t.model")
    assert result.exit_code == 2
    assert not (tmp_path / "new").exists()


def test_corpus_warnings_become_notes(tmp_path):
    path = tmp_path / "book.txt"
    path.write_text("\n\n".join(["word " * 100] * 500) + "\n<|endoftext|>\n")
    result = run("corpus", "stats", path)
    assert result.exit_code == 0 and "note: story 1" in result.stderr


def test_sampling_params_are_the_options_sampling_options_adds():
    from textgen.cli.inference_options import SAMPLING_PARAMS, sampling_options

    @sampling_options
    def command(**options):
        pass

    assert tuple(param.name for param in command.__click_params__[::-1]) == SAMPLING_PARAMS


@pytest.fixture(scope="module")
def unbounded_inputs(tmp_path_factory):
    """Inputs no reader may take whole: one 5 MB line, a gzip bomb of zeros (64 MB in 64 KB), one of
    marker lines, and a .jsonl line of 2 MB; each written a block at a time."""
    folder = tmp_path_factory.mktemp("unbounded")
    line = write_repeated(folder / "line.txt", b"word ", 5_000_000, head=b"A fine story.\n<|endoftext|>\n")
    zeros = write_repeated(folder / "zeros.txt.gz", b"\0", 64 << 20, compress=True)
    markers = write_repeated(folder / "markers.txt.gz", b"<|endoftext|>\n", 64 * 75_000 * 14, compress=True)
    jsonl = folder / "line.jsonl"
    with open(jsonl, "w") as file:
        file.write('{"text": "A fine story."}\n{"text": "' + "word " * 400_000 + '"}\n')
    return {"line": line, "zeros": zeros, "markers": markers, "jsonl": jsonl}


LINE_REFUSAL = "is longer than 1,000,000 bytes: is it a text file? Split long lines"


UNBOUNDED_CASES = [
    ("corpus stats", "line", "line 3 of {path} " + LINE_REFUSAL),
    ("corpus stats", "jsonl", "line 2 of {path} " + LINE_REFUSAL),
    ("corpus stats", "zeros", "{path} looks like a binary file (NUL byte at byte offset 0 of the decompressed text)"),
    ("corpus split", "markers", "{path} decompresses to more than 200 times its size"),
    ("tokenizer train", "line", "line 3 of {path} " + LINE_REFUSAL),
    ("tokenizer train", "markers", "decompresses to more than 200 times its size"),
    ("train", "zeros", "looks like a binary file"),
    ("train", "line", LINE_REFUSAL),
    ("evaluate", "jsonl", "line 2 of {path} " + LINE_REFUSAL),
    ("diagnose --text", "line", "line 3 of {path} " + LINE_REFUSAL),
    ("tune-cast --valid", "zeros", "{path} looks like a binary file"),
]


@pytest.mark.parametrize(("command", "source", "fragment"), UNBOUNDED_CASES,
                         ids=[f"{command}:{source}" for command, source, _ in UNBOUNDED_CASES])
def test_every_command_that_reads_text_refuses_unbounded_input_in_one_line(tmp_path, trained, unbounded_inputs, command,
                                                                           source, fragment):
    """Through the CLI, as a user meets them: exit 2, one line naming the file, nothing written."""
    import time

    path = unbounded_inputs[source]
    out = tmp_path / "out"
    args = {"corpus stats": ["corpus", "stats", path],
            "corpus split": ["corpus", "split", path, "--out", out],
            "tokenizer train": ["tokenizer", "train", path, "--out", out / "t.model"],
            "train": ["train", path, "--out", out, "--tokenizer-kind", "word", "--max-steps", "2", "--cache-dir", tmp_path / "c"],
            "evaluate": ["evaluate", trained, path, "--cache-dir", tmp_path / "c"],
            "diagnose --text": ["diagnose", "--text", path],
            "tune-cast --valid": ["tune-cast", trained, "--valid", path, "--dry-run", "--samples", "1"]}[command]
    started = time.perf_counter()
    result = run(*args)
    assert_one_line_error(result, fragment.format(path=path))
    assert time.perf_counter() - started < 10
    assert not out.exists() and not list((tmp_path / "c").glob("*.json") if (tmp_path / "c").exists() else [])


def test_standard_input_is_capped_for_tokenizer_encode_and_diagnose(tmp_path, corpus_txt):
    out = tmp_path / "word.json"
    run("tokenizer", "train", corpus_txt, "--kind", "word", "--out", out)
    assert_one_line_error(run("tokenizer", "encode", out, "-", input="word " * 300_000),
                          "standard input holds more than 1,000,000 bytes: give a shorter text")
    assert_one_line_error(run("diagnose", "--text", "-", input="Doug saw Jane.\n\n" + "x" * 2_000_000),
                          "line 3 of standard input " + LINE_REFUSAL)
    streamed = run("diagnose", "--text", "-", "--json", input="Doug saw Doug.\n\n" * 2000)
    assert streamed.exit_code == 0 and json.loads(streamed.stdout)["metrics"]["stories"] == 2000
