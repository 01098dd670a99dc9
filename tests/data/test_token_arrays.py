"""textgen/data/token_arrays.py directly: the token file, batches per epoch, stream and window batches, resumable
positions and evaluation chunks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from textgen.data.token_arrays import BatchPlan, TrainBatches, batches_per_epoch, check_batch_plan, encode_stories, iter_batches, stream_chunks
from textgen.errors import TextgenError
from textgen.tokenizer import BOS_ID, EOS_ID


def test_encode_stories_writes_bos_story_eos_and_counts(tmp_path, word_tokenizer):
    stories = ["Lily saw a cat.", "The cat ran."]
    array = encode_stories(stories, word_tokenizer, tmp_path / "t.bin")
    tokens = array.load().tolist()
    expected = [BOS_ID, *word_tokenizer.encode(stories[0]), EOS_ID, BOS_ID, *word_tokenizer.encode(stories[1]), EOS_ID]
    assert tokens == expected
    assert (array.tokens, array.stories, array.words) == (len(expected), 2, 7)
    assert array.bytes == sum(len(story.encode()) for story in stories)
    assert array.unknown_share() == 0.0


def test_stream_batches_cover_each_row_contiguously():
    plan = BatchPlan("stream", batch_size=2, seq_len=3)
    array = np.arange(20)
    batches = list(iter_batches(plan, array, epoch=0))
    assert len(batches) == batches_per_epoch(plan, 20) == 3
    first_inputs, first_targets, reset = batches[0]
    assert reset is True and all(batch[2] is False for batch in batches[1:])
    assert first_inputs.tolist() == [[0, 1, 2], [10, 11, 12]]  # row r reads the r-th contiguous half
    assert first_targets.tolist() == [[1, 2, 3], [11, 12, 13]]
    assert batches[1][0].tolist() == [[3, 4, 5], [13, 14, 15]]  # the next chunk goes on where the last stopped


def test_window_batches_are_a_function_of_seed_epoch_and_index():
    plan = BatchPlan("windows", batch_size=4, seq_len=5, seed=3)
    array = np.arange(100)
    once = [inputs.tolist() for inputs, _, _ in iter_batches(plan, array, epoch=1)]
    again = [inputs.tolist() for inputs, _, _ in iter_batches(plan, array, epoch=1)]
    other = [inputs.tolist() for inputs, _, _ in iter_batches(plan, array, epoch=2)]
    assert once == again and once != other
    resumed = [inputs.tolist() for inputs, _, _ in iter_batches(plan, array, epoch=1, start=2)]
    assert resumed == once[2:]  # a resume mid-epoch gives the same remaining batches


def test_two_processes_share_a_batch_between_them():
    array = np.arange(64)
    whole = next(iter_batches(BatchPlan("stream", 4, 3), array, 0))[0]
    halves = [next(iter_batches(BatchPlan("stream", 4, 3, rank=rank, world_size=2), array, 0))[0] for rank in (0, 1)]
    assert torch.equal(torch.cat(halves), whole)


def test_train_batches_start_where_the_position_says(tmp_path, word_tokenizer, little_stories):
    array = encode_stories(little_stories[:40], word_tokenizer, tmp_path / "t.bin")
    plan = BatchPlan("stream", 4, 8)
    dataset = TrainBatches(plan, array, position=lambda: (0, 3))
    assert len(dataset) == batches_per_epoch(plan, array.tokens)
    first = next(iter(dataset))
    assert torch.equal(first[0], list(iter_batches(plan, array.load(), 0))[3][0])


def test_a_corpus_shorter_than_a_batch_is_refused_with_the_numbers():
    with pytest.raises(TextgenError, match=r"fewer than one batch needs \(32 x 65 = 2,080\)"):
        check_batch_plan(BatchPlan("stream", 32, 64), 1000)
    with pytest.raises(TextgenError, match="does not divide among 3 processes"):
        check_batch_plan(BatchPlan("stream", 32, 64, world_size=3), 10**6)


def test_stream_chunks_carry_every_token_once():
    array = np.arange(101)
    chunks = list(stream_chunks(array, streams=4, seq_len=10))
    inputs = torch.cat([chunk[0] for chunk in chunks], dim=1)
    targets = torch.cat([chunk[1] for chunk in chunks], dim=1)
    assert inputs.shape == (4, 25)
    assert inputs.flatten().tolist() == list(range(100))
    assert targets.flatten().tolist() == list(range(1, 101))


def test_a_damaged_or_hostile_cache_description_is_rebuilt_not_trusted(tmp_path, corpus_txt, word_tokenizer):
    """The cache's .json beside the tokens: a dtype numpy does not know, a non-JSON or huge file,
    or a pipe in its place (which a plain read would wait on forever) are rebuilt from the corpus."""
    import os

    from textgen.data.token_arrays import cached_tokens

    first = cached_tokens(corpus_txt, word_tokenizer, tmp_path)
    (meta,) = tmp_path.glob("*.json")
    good = meta.read_text()
    for damage in ("dtype", "not json", "huge", "pipe"):
        if damage == "dtype":
            meta.write_text(good.replace('"uint16"', '"garbage"'))
        elif damage == "not json":
            meta.write_text("{")
        elif damage == "huge":
            meta.write_text(good[:-1] + ', "padding": "' + "x" * 100_000 + '"}')
        else:
            meta.unlink()
            os.mkfifo(meta)
        again = cached_tokens(corpus_txt, word_tokenizer, tmp_path)
        assert again == first and (again.load() == first.load()).all(), damage
        assert meta.is_file() and meta.read_text() == good, damage


def test_a_link_in_the_token_cache_is_replaced_never_written_through(tmp_path, corpus_txt, word_tokenizer):
    """A link at a cache file's name (shipped in a model archive, say) could make any cache write
    land on a file of someone's choice: the link is removed and a regular file takes its place."""
    import os

    from textgen.data.token_arrays import cached_tokens

    cache = tmp_path / "cache"
    first = cached_tokens(corpus_txt, word_tokenizer, cache)
    (array,) = cache.glob("*.uint16")
    (meta,) = cache.glob("*.json")
    victims = {name: tmp_path / f"victim-{name}.txt" for name in ("array", "meta")}
    for victim in victims.values():
        victim.write_text("mine")
    for path, victim in ((array, victims["array"]), (meta, victims["meta"])):
        path.unlink()
        os.symlink(victim, path)
    again = cached_tokens(corpus_txt, word_tokenizer, cache)
    assert [victim.read_text() for victim in victims.values()] == ["mine", "mine"]
    assert not array.is_symlink() and array.is_file() and not meta.is_symlink() and meta.is_file()
    assert again == first and (again.load() == first.load()).all()


def test_a_link_to_a_cache_array_of_the_right_size_is_not_read(tmp_path, corpus_txt, word_tokenizer):
    import os

    from textgen.data.token_arrays import cached_tokens

    cache = tmp_path / "cache"
    first = cached_tokens(corpus_txt, word_tokenizer, cache)
    (array,) = cache.glob("*.uint16")
    elsewhere = tmp_path / "elsewhere.bin"
    elsewhere.write_bytes(bytes(array.stat().st_size))  # the right size, other ids (all 0)
    array.unlink()
    os.symlink(elsewhere, array)
    again = cached_tokens(corpus_txt, word_tokenizer, cache)
    assert (again.load() == first.load()).all() and not array.is_symlink()
    assert elsewhere.read_bytes() == bytes(elsewhere.stat().st_size)


def test_the_path_a_cache_description_names_is_not_trusted(tmp_path, corpus_txt, word_tokenizer):
    """The description's "path" could point at any file of the right size: the array is always
    the one its key names."""
    import json

    from textgen.data.token_arrays import cached_tokens

    cache = tmp_path / "cache"
    first = cached_tokens(corpus_txt, word_tokenizer, cache)
    (array,) = cache.glob("*.uint16")
    (meta,) = cache.glob("*.json")
    other = tmp_path / "other.uint16"
    other.write_bytes(bytes(array.stat().st_size))
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "path": str(other)}))
    again = cached_tokens(corpus_txt, word_tokenizer, cache)
    assert again.path == array and (again.load() == first.load()).all()


def test_a_cache_array_with_ids_beyond_the_vocabulary_is_rebuilt(tmp_path, corpus_txt, word_tokenizer):
    """Same size, damaged ids: the model would index past its embedding (IndexError) on them."""
    import numpy as np

    from textgen.data.token_arrays import cached_tokens

    cache = tmp_path / "cache"
    first = cached_tokens(corpus_txt, word_tokenizer, cache)
    (array,) = cache.glob("*.uint16")
    array.write_bytes(np.full(first.tokens, 65535, dtype=np.uint16).tobytes())
    again = cached_tokens(corpus_txt, word_tokenizer, cache)
    assert int(again.load().max()) < word_tokenizer.vocab_size and (again.load() == first.load()).all()


def test_a_cache_that_cannot_be_written_is_one_error_naming_cache_dir(tmp_path, corpus_txt, word_tokenizer):
    from textgen.data.token_arrays import CacheUnwritable, cached_tokens

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(CacheUnwritable, match="--cache-dir") as raised:
        cached_tokens(corpus_txt, word_tokenizer, blocker / "cache")
    assert "\n" not in str(raised.value) and blocker.read_text() == "not a folder"


def test_tokens_in_memory_equal_the_cached_ones_and_write_nothing(tmp_path, corpus_txt, word_tokenizer):
    import os

    from textgen.data.token_arrays import cached_tokens, tokens_in_memory

    before = sorted(os.listdir(tmp_path))
    held = tokens_in_memory(corpus_txt, word_tokenizer)
    assert sorted(os.listdir(tmp_path)) == before and held.path is None
    cached = cached_tokens(corpus_txt, word_tokenizer, tmp_path / "cache")
    assert (held.tokens, held.stories, held.words, held.bytes) == (cached.tokens, cached.stories, cached.words, cached.bytes)
    assert (held.load() == cached.load()).all()
