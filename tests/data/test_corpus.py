"""Reading corpora in every format, validation errors, statistics and splits."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from tests.conftest import REPO, TINY_STORIES, write_marker_file, write_repeated

from textgen.data.corpus import (
    MARKER_LOOKAHEAD_BYTES,
    assign_splits,
    corpus_files,
    corpus_stats,
    fingerprint,
    read_stories,
    split_stories,
    words_of,
)
from textgen.errors import TextgenError


def test_marker_and_blank_line_formats_give_the_same_stories(corpus_txt, corpus_blank):
    assert read_stories(corpus_txt) == TINY_STORIES
    assert read_stories(corpus_blank) == TINY_STORIES


def test_marker_file_keeps_paragraphs_and_blank_lines_inside_a_story(tmp_path):
    path = tmp_path / "story.txt"
    path.write_text("First line.\n\n  Second paragraph.  \n<|endoftext|>\n\nNext story.\n<|endoftext|>\n")
    assert read_stories(path) == ["First line.\nSecond paragraph.", "Next story."]


def test_last_story_without_a_closing_marker_is_kept(tmp_path):
    path = tmp_path / "story.txt"
    path.write_text("One.\n<|endoftext|>\nTwo.")
    assert read_stories(path) == ["One.", "Two."]


def test_crlf_and_byte_order_mark_are_handled(tmp_path):
    path = tmp_path / "windows.txt"
    path.write_bytes("\ufeffOne story.\r\nStill one.\r\n\r\nTwo.\r\n".encode("utf-8"))
    assert read_stories(path) == ["One story.\nStill one.", "Two."]


def test_blank_line_file_larger_than_lookahead_streams_stories(tmp_path):
    story = "word " * 200
    count = MARKER_LOOKAHEAD_BYTES // len(story) + 50
    path = tmp_path / "big.txt"
    path.write_text("\n\n".join([story] * count))
    assert len(read_stories(path)) == count


def test_jsonl_gz_and_folder(tmp_path, corpus_jsonl_gz):
    assert read_stories(corpus_jsonl_gz) == TINY_STORIES
    folder = tmp_path / "folder"
    (folder / "b").mkdir(parents=True)
    write_marker_file(folder / "a.txt", TINY_STORIES[:2])
    with gzip.open(folder / "b" / "c.txt.gz", "wt") as file:
        file.write("\n\n".join(TINY_STORIES[2:4]))
    (folder / ".hidden.txt").write_text("not read")
    (folder / "notes.csv").write_text("not read")
    assert [path.name for path in corpus_files(folder)] == ["a.txt", "c.txt.gz"]
    assert read_stories(folder) == TINY_STORIES[:4]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.txt", None, "does not exist"),
        ("empty.txt", b"", "empty"),
        ("blank.txt", b"\n  \n<|endoftext|>\n\n", "empty"),
        ("latin1.txt", "Caf\u00e9 story.\nMore.".encode("latin-1"), "not UTF-8: invalid byte 0xe9 at byte offset 3"),
        ("later.txt", b"ok line\nbad \xff here", "byte offset 12"),
        ("binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary"),
        ("utf16.txt", "Hello story.".encode("utf-16"), "is UTF-16 text, not UTF-8"),
        ("utf16le.txt", "Hello story, no mark.".encode("utf-16-le"), "UTF-16LE text without a byte-order mark"),
        ("thorn.txt", "\u00ff\u00fe Latin-1 text".encode("latin-1"), "not UTF-8: invalid byte 0xff at byte offset 0"),
        ("surrogate.jsonl", b'{"text": "lone \\ud800 x"}\n', "surrogate.jsonl:1 .*lone surrogate"),
        ("bad.jsonl", b'{"text": "fine"}\n{not json}\n', "bad.jsonl:2 is not valid JSON"),
        ("field.jsonl", b'{"story": "no text field"}\n', 'no "text" string field'),
        ("broken.txt.gz", b"this is not gzip data", "not a valid gzip file"),
    ],
)
def test_bad_corpora_raise_one_clear_error(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(TextgenError, match=message) as error:
        read_stories(path)
    assert "\n" not in str(error.value)
    assert str(path) in str(error.value)  # the error names the file, whether it is missing or bad


def test_truncated_gzip_is_an_error(tmp_path):
    data = gzip.compress(("A story. " * 2000).encode())
    path = tmp_path / "cut.txt.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(TextgenError, match="not a valid gzip"):
        read_stories(path)


def test_non_utf8_offset_in_gzip_counts_decompressed_bytes(tmp_path):
    path = tmp_path / "latin.txt.gz"
    path.write_bytes(gzip.compress(b"abc\ndef \xe9"))
    with pytest.raises(TextgenError, match="byte offset 8 of the decompressed text"):
        read_stories(path)


def test_folder_without_corpus_files(tmp_path):
    (tmp_path / "x.csv").write_text("a,b")
    with pytest.raises(TextgenError, match="no corpus files"):
        read_stories(tmp_path)


def test_stats_counts(tmp_path):
    path = tmp_path / "s.txt"
    path.write_text("The cat saw the dog.\nThe dog ran.\n\nA cat's hat!\n")
    stats = corpus_stats(path, top=3).to_dict()
    assert stats["stories"] == 2
    assert stats["lines"] == 3
    assert stats["words"] == 11
    assert stats["characters"] == len("The cat saw the dog.\nThe dog ran.") + len("A cat's hat!")
    assert stats["bytes"] == stats["characters"]
    assert stats["vocabulary"] == len({"the", "cat", "saw", "dog", "ran", "a", "cat's", "hat"})
    assert stats["top_words"][0] == {"word": "the", "count": 3}
    assert {"stories", "words", "characters", "bytes", "vocabulary", "top_words"} <= stats.keys()


def test_stats_bytes_count_utf8():
    assert words_of("Zoë's café, naïve!") == ["zoë's", "café", "naïve"]


def test_fingerprint_follows_content(corpus_txt):
    first = fingerprint(corpus_txt)
    assert first == fingerprint(corpus_txt)
    corpus_txt.write_text(corpus_txt.read_text() + "One more.\n")
    assert fingerprint(corpus_txt) != first


def test_splits_are_by_story_seeded_and_complete():
    stories = [f"story {index}" for index in range(100)]
    splits = split_stories(stories, 0.1, 0.1, seed=3)
    assert [len(splits[name]) for name in ("train", "valid", "test")] == [80, 10, 10]
    assert sorted(sum(splits.values(), []), key=lambda s: int(s.split()[1])) == stories
    assert splits == split_stories(stories, 0.1, 0.1, seed=3)
    assert splits != split_stories(stories, 0.1, 0.1, seed=4)
    for part in splits.values():  # order inside a split follows the corpus
        assert part == sorted(part, key=lambda s: int(s.split()[1]))


def test_small_corpora_still_get_one_story_per_split():
    assert sorted(assign_splits(3, 0.05, 0.05)) == ["test", "train", "valid"]
    with pytest.raises(TextgenError, match="too few to split"):
        assign_splits(2, 0.05, 0.05)


@pytest.mark.parametrize(("valid", "test", "message"), [(-0.1, 0.1, "outside"), (1.0, 0.0, "outside"), (0.6, 0.5, "no training")])
def test_bad_split_fractions(valid, test, message):
    with pytest.raises(TextgenError, match=message):
        assign_splits(100, valid, test)


def test_jsonl_unicode_text(tmp_path):
    path = tmp_path / "u.jsonl"
    path.write_text(json.dumps({"text": "Zoë saw 🐶.\n\nThe end."}) + "\n\n", encoding="utf-8")
    assert read_stories(path) == ["Zoë saw 🐶.\nThe end."]


def test_folder_path_sorting_is_stable(tmp_path):
    for name in ("b.txt", "a.txt", "c.jsonl"):
        (tmp_path / name).write_text('{"text": "x"}' if name.endswith("jsonl") else "x")
    assert [p.name for p in corpus_files(tmp_path)] == ["a.txt", "b.txt", "c.jsonl"]
    assert isinstance(corpus_files(tmp_path)[0], Path)


def test_old_mac_line_endings(tmp_path):
    path = tmp_path / "mac.txt"
    path.write_bytes(b"A.\rB.\r\rC.\r")
    assert read_stories(path) == ["A.\nB.", "C."]


def test_marker_lines_inside_jsonl_text_are_dropped(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps({"text": "One.\n<|endoftext|>\nTwo."}) + "\n")
    assert read_stories(path) == ["One.\nTwo."]


def test_a_stray_marker_that_merges_a_book_is_warned_about(tmp_path):
    from textgen.data.corpus import LONG_STORY_CHARACTERS, CorpusWarning

    path = tmp_path / "book.txt"
    paragraph = "word " * 100
    path.write_text("\n\n".join([paragraph] * (LONG_STORY_CHARACTERS // len(paragraph) + 10)) + "\n<|endoftext|>\n")
    with pytest.warns(CorpusWarning, match="remove its <\\|endoftext\\|> lines"):
        assert len(read_stories(path)) == 1


def test_folders_follow_symbolic_links_and_match_suffixes_without_case(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "a.txt").write_text("From a link.")
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "linked").symlink_to(outside)
    (folder / "loop").symlink_to(folder)
    (folder / "LOUD.TXT").write_text("Upper case.")
    assert sorted(read_stories(folder)) == ["From a link.", "Upper case."]


def test_rounded_fractions_that_leave_no_training_story():
    with pytest.raises(TextgenError, match="take all 10 stories after rounding"):
        assign_splits(10, 0.55, 0.44)


# --- bounded reading: every line, story and gzip stream is capped while it is read -------------------

def peak_memory(function) -> tuple[BaseException | None, int]:
    """What `function()` raised (None if nothing) and the most memory Python held while it ran."""
    import tracemalloc

    tracemalloc.start()
    try:
        function()
        raised = None
    except Exception as error:  # noqa: BLE001 (the caller asserts on it)
        raised = error
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return raised, peak


def test_one_enormous_line_is_refused_with_bounded_memory(tmp_path):
    """5 MB without a line break (.txt and .jsonl): one line naming the file, the line and the cap,
    read with about the cap in memory, not the 5 MB line."""
    for name, head in (("huge.txt", b""), ("huge.jsonl", b'{"text": "fine"}\n{"text": "')):
        path = write_repeated(tmp_path / name, b"word ", 5_000_000, head=head)
        error, peak = peak_memory(lambda path=path: read_stories(path))
        line = 1 if name.endswith(".txt") else 2
        assert isinstance(error, TextgenError) and f"line {line} of {path} is longer than 1,000,000 bytes" in str(error)
        assert "\n" not in str(error) and peak < 3_500_000, peak


def test_a_gzip_of_zeros_is_refused_at_once_with_bounded_memory(tmp_path):
    """64 MB of zeros in 64 KB of gzip (a decompression bomb): refused as binary from its first
    bytes, never decompressed whole."""
    path = write_repeated(tmp_path / "zeros.txt.gz", b"\0", 64 << 20, compress=True)
    assert path.stat().st_size < 100_000
    error, peak = peak_memory(lambda: read_stories(path))
    assert isinstance(error, TextgenError) and str(error) == (
        f"{path} looks like a binary file (NUL byte at byte offset 0 of the decompressed text): give a UTF-8 text file")
    assert peak < 3_500_000, peak


def test_a_gzip_of_blank_or_marker_lines_is_refused_by_its_ratio(tmp_path):
    """64 MB of marker lines in 120 KB of gzip decompress 500 times their size (no text does): refused
    after a few MiB, not read through; a repetitive real corpus (120 times) still reads."""
    import time

    bomb = write_repeated(tmp_path / "markers.txt.gz", b"<|endoftext|>\n", 64 << 20, compress=True)
    started = time.perf_counter()
    with pytest.raises(TextgenError, match=r"markers\.txt\.gz decompresses to more than 200 times its size"):
        read_stories(bomb)
    assert time.perf_counter() - started < 5
    with pytest.raises(TextgenError, match="more than 200 times its size"):
        fingerprint(bomb)
    doug = REPO / "corpora" / "doug-jane-spot.txt"
    repetitive = tmp_path / "doug.txt.gz"
    repetitive.write_bytes(gzip.compress(doug.read_bytes() * 50))
    assert repetitive.stat().st_size * 100 < 50 * doug.stat().st_size  # more than 100 times: a highly repetitive text
    assert read_stories(repetitive) == read_stories(doug) * 50


def test_a_story_that_never_ends_is_refused_while_it_gathers(tmp_path):
    """A marker file whose last story runs 11 MB without its marker, and a blank-line file with an
    11 MB paragraph: refused at the cap, naming the line and the separator that is missing."""
    from textgen.data.corpus import MAX_STORY_CHARACTERS

    line = b"Once upon a time there was a story that did not end. " * 2 + b"\n"
    marked = write_repeated(tmp_path / "marked.txt", line, 11_000_000, head=b"A first story.\n<|endoftext|>\n")
    with pytest.raises(TextgenError, match=rf"a story of .*marked\.txt passes {MAX_STORY_CHARACTERS:,} characters at line "
                                           r"[0-9,]+ and has not ended: each story of this file should end with an"):
        read_stories(marked)
    blank = write_repeated(tmp_path / "blank.txt", line, 11_000_000)
    with pytest.raises(TextgenError, match=r"blank\.txt passes .* separated by blank lines or <\|endoftext\|> lines"):
        read_stories(blank)


def test_standard_input_is_read_with_the_same_caps():
    import io

    from textgen.data.corpus import iter_stream_stories
    from textgen.data.lines import iter_stream_lines

    assert list(iter_stream_stories(io.BytesIO(b"One.\n\nTwo.\n"))) == ["One.", "Two."]
    with pytest.raises(TextgenError, match="line 2 of standard input is longer than 1,000,000 bytes"):
        list(iter_stream_lines(io.BytesIO(b"fine\n" + b"x" * 2_000_000)))
    with pytest.raises(TextgenError, match="standard input looks like a binary file"):
        list(iter_stream_lines(io.BytesIO(b"\0" * 100)))
    with pytest.raises(TextgenError, match="^standard input is empty"):
        list(iter_stream_stories(io.BytesIO(b"\n\n")))


def test_json_lines_named_txt_are_noted_not_silently_read_as_prose(tmp_path):
    from textgen.data.corpus import CorpusWarning

    path = tmp_path / "stories.txt"
    path.write_text("\n" + "".join(json.dumps({"text": story}) + "\n" for story in TINY_STORIES[:3]))
    with pytest.warns(CorpusWarning, match=r'stories\.txt looks like JSON lines \(line 2 is an object with a "text" field\) '
                                           r"and is read as plain text, braces and all: name it \.jsonl"):
        stories = read_stories(path)
    assert stories[0].startswith('{"text": ')
    prose = tmp_path / "prose.txt"
    prose.write_text('{Braces} open this story.\n\n{"note": "an object without text"}\n')
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", CorpusWarning)
        assert len(read_stories(prose)) == 2


def test_a_file_name_that_is_not_utf8_is_fingerprinted_by_its_bytes(tmp_path):
    """A corpus folder holding caf\\xe9.txt (Latin-1 bytes): train and evaluate crashed with
    UnicodeEncodeError when the name was hashed."""
    import os

    from textgen.data.corpus import fingerprint

    folder = tmp_path / "corpus"
    folder.mkdir()
    name = os.fsdecode(b"caf\xe9.txt")
    (folder / name).write_text("A story.\n<|endoftext|>\n")
    first = fingerprint(folder)
    assert fingerprint(folder) == first
    (folder / name).rename(folder / os.fsdecode(b"caf\xe8.txt"))
    assert fingerprint(folder) != first  # the name's bytes count
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "story.txt").write_text("A story.\n<|endoftext|>\n")
    import hashlib

    expected = hashlib.sha256(b"story.txt\0" + (plain / "story.txt").read_bytes() + b"\0").hexdigest()
    assert fingerprint(plain) == expected  # a UTF-8 name hashes as it always did: runs and caches stay valid
