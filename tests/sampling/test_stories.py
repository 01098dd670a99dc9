"""textgen/sampling/stories.py: the torch-free parts of writing a story that both paths share: the never-written row
and the folded bans (the same as torch's mask), `Writing` (tokens join their story, stop strings cut it, the end
of the story ends it, the text streams) and `write_one`, the one-story loop in numpy."""

from __future__ import annotations

import numpy as np
import torch

from textgen.sampling.generate import never_written_mask
from textgen.sampling.processors import BannedSequences, TopK
from textgen.sampling.stories import NEVER_WRITTEN, Writing, fold_static_bans, never_written_row, write_one
from textgen.tokenizer import EOS_ID


def test_the_never_written_row_is_torchs_mask():
    row = never_written_row(12)
    assert row.dtype == np.float32 and np.array_equal(row, never_written_mask(12).numpy())
    assert np.isneginf(row[list(NEVER_WRITTEN)]).all() and np.isfinite(np.delete(row, list(NEVER_WRITTEN))).all()


def test_bans_fold_alike_into_a_row_and_a_tensor():
    rules = [BannedSequences([[EOS_ID], [5], [6, 7]]), TopK(3)]
    row, left = fold_static_bans(never_written_row(12), rules)
    tensor, tensor_left = fold_static_bans(never_written_mask(12), rules)
    assert isinstance(tensor, torch.Tensor) and np.array_equal(row, tensor.numpy())
    assert np.isneginf(row[[EOS_ID, 5]]).all() and np.isfinite(row[[6, 7, 8]]).all()
    assert [type(rule) for rule in left] == [type(rule) for rule in tensor_left] == [BannedSequences, TopK]
    assert left[0].sequences == [(6, 7)]
    everything = BannedSequences([[token] for token in range(12)])
    mask = never_written_row(12)
    same, kept = fold_static_bans(mask, [everything])  # nothing writable would be left: not folded
    assert same is mask and kept == [everything]


def test_writing_streams_the_text_and_stops_at_a_stop_string_or_the_end(sentencepiece_tokenizer):
    tokenizer = sentencepiece_tokenizer
    ids = tokenizer.encode("Tom ran home. The end. Tom ran")
    pieces = []
    writing = Writing(tokenizer, "", [1], 2, ["The end"], lambda row, text: pieces.append((row, text)))
    going = True
    for token_id in ids:
        going = writing.take([(token_id, 0.5, 1), (EOS_ID, 0.2, 3)])
        if not going:
            break
    assert not going  # both stories have stopped
    first, second = writing.finish()
    assert first.text == "Tom ran home." and first.stop_reason == "stop_string"
    assert second.text == "" and second.stop_reason == "end_of_story" and second.ids == []
    assert "".join(text for row, text in pieces if row == 0).startswith("Tom ran home.")
    assert all(choice.probability == 0.5 and choice.rank == 1 for choice in first.tokens)


def test_writing_unwatched_decodes_the_text_once_at_the_end(sentencepiece_tokenizer):
    tokenizer = sentencepiece_tokenizer
    ids = tokenizer.encode("Lily saw a dog")
    writing = Writing(tokenizer, "Once", [1, *tokenizer.encode("Once")], 1, [], None)
    assert all(writing.take([(token_id, 1.0, 1)]) for token_id in ids)
    assert writing.samples[0].text == ""  # nothing decoded while writing
    (story,) = writing.finish()
    assert story.text == " Lily saw a dog" and story.ids == ids and story.stop_reason == "max_tokens"


class FixedStep:
    """A step whose logits favour token (previous + 1) mod V: greedy writes 5, 6, 7, ..."""

    def __init__(self, size: int):
        self.size = size

    def arrays_step(self, token, state):
        logits = np.zeros((1, self.size), dtype=np.float32)
        logits[0, (token.start + 1) % self.size] = 10.0
        return logits, state


def test_write_one_takes_the_rules_and_draws_in_order(sentencepiece_tokenizer):
    tokenizer, size = sentencepiece_tokenizer, sentencepiece_tokenizer.vocab_size
    values = np.zeros(size, dtype=np.float32)
    values[5] = 10.0
    banned = never_written_row(size)
    banned[EOS_ID] = -np.inf
    greedy = write_one(FixedStep(size), [], values.copy(), banned, [], True, iter(()), [1], 4,
                       Writing(tokenizer, "", [1], 1, [], None))[0]
    assert greedy.ids == [5, 6, 7, 8]  # no uniform number taken: the iterator is empty
    uniforms = iter([0.0, 0.999999, 0.5])
    history = [1]
    drawn = write_one(FixedStep(size), [], np.zeros(size, dtype=np.float32), banned, [TopK(1)], False, uniforms, history, 3,
                      Writing(tokenizer, "", [1], 1, [], None))[0]
    first = int(np.argmax(np.zeros(size, dtype=np.float32) + banned))  # top-k 1 of a flat row: its first writable token
    assert drawn.ids == [first, first + 1, first + 2] and history == [1, *drawn.ids]
    assert next(uniforms, None) is None  # one number per token
