"""textgen/tokenizer/__init__.py (training, loading and reading tokenizer files): special tokens shared by
every kind, files and bytes, bad or missing tokenizer files (where words start and end: test_base.py)."""

from __future__ import annotations

import os

import pytest

from textgen.errors import TextgenError
from textgen.tokenizer import (
    BOS_ID,
    EOS_ID,
    SPECIALS,
    load_tokenizer,
    tokenizer_from_bytes,
)



@pytest.mark.parametrize("kind", ["sentencepiece", "word", "char"])
def test_special_tokens_are_shared_by_every_kind(tokenizers, kind):
    tokenizer = tokenizers[kind]
    assert [tokenizer.id_to_piece(i) for i in range(4)] == list(SPECIALS)
    ids = tokenizer.encode("Tom was happy.", add_bos=True, add_eos=True)
    assert ids[0] == BOS_ID and ids[-1] == EOS_ID
    assert tokenizer.decode(ids) == tokenizer.normalize("Tom was happy.")


@pytest.mark.parametrize("kind", ["sentencepiece", "word", "char"])
def test_save_load_and_bytes_give_the_same_tokenizer(tokenizers, tmp_path, kind):
    tokenizer = tokenizers[kind]
    path = tmp_path / f"tok.{kind}"
    tokenizer.save(path)
    text = "Once upon a time, Lily saw a big red ball.\nShe was happy."
    for loaded in (load_tokenizer(path), tokenizer_from_bytes(tokenizer.to_bytes())):
        assert loaded.kind == tokenizer.kind
        assert loaded.vocab_size == tokenizer.vocab_size
        assert loaded.encode(text) == tokenizer.encode(text)
    assert oct(os.stat(path).st_mode & 0o777) != oct(0o600)  # follows the umask, not mkstemp's 0600


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (os.urandom(64) + b"\x00", "not a valid sentencepiece model"),
        (b'{"format": "other"}', "not a textgen tokenizer"),
        (b'{"format": "textgen-tokenizer", "version": 1, "kind": "word", "pieces": ["a"]}', "must start with"),
        (b'{"format": "textgen-tokenizer", "version": 9, "kind": "word", "pieces": []}', "version 9"),
        (b"{broken", "broken JSON"),
    ],
)
def test_bad_tokenizer_files(tmp_path, content, message):
    path = tmp_path / "bad.model"
    path.write_bytes(content)
    with pytest.raises(TextgenError, match=message) as error:
        load_tokenizer(path)
    assert "\n" not in str(error.value)


def test_missing_tokenizer_file(tmp_path):
    with pytest.raises(TextgenError, match="does not exist"):
        load_tokenizer(tmp_path / "none.model")


def test_a_tokenizer_path_that_is_a_pipe_or_too_large_is_refused_without_reading_it(tmp_path):
    """`tokenizer info FIFO` and `train --tokenizer FIFO` waited forever on a pipe; a huge file was
    read whole. Both are one error now, before a byte is read."""
    import subprocess
    import sys

    from tests.conftest import REPO

    pipe = tmp_path / "pipe.model"
    os.mkfifo(pipe)
    code = ("import sys\nfrom textgen.errors import TextgenError\nfrom textgen.tokenizer import load_tokenizer\n"
            "try:\n    load_tokenizer(sys.argv[1])\nexcept TextgenError as error:\n    print(error)\n")
    done = subprocess.run([sys.executable, "-c", code, str(pipe)], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "is a pipe, not a regular file" in done.stdout, done.stderr[-2000:]
    huge = tmp_path / "huge.model"
    with open(huge, "wb") as file:
        file.truncate(300 << 20)  # sparse
    with pytest.raises(TextgenError, match="more than the 268,435,456"):
        load_tokenizer(huge)


def test_a_tokenizer_json_with_a_huge_number_is_one_error(tmp_path):
    path = tmp_path / "tokenizer.json"
    path.write_text('{"format": "textgen-tokenizer", "version": ' + "1" * 5000 + ', "kind": "word", "pieces": []}')
    with pytest.raises(TextgenError, match="broken JSON: a number of more than 4,300 digits"):
        load_tokenizer(path)
