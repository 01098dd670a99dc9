"""Perplexity per token and per word, and bits per byte, over a whole token array with the
recurrent state carried across it.

Conventions: the loss is the mean negative log-likelihood in nats of every predicted token
(each story's </s> included). Per word, the end of each story counts as one word, as <eos>
does in word-level benchmarks: word perplexity = exp(total nats / (words + stories)). Per
byte, it counts as one byte, like a newline: bits per byte = total nats / ln 2 / (bytes + stories).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from textgen.model.neural_cache import CacheSettings, cached_nats
from textgen.data.token_arrays import stream_chunks
from textgen.errors import TextgenError
from textgen.model import LanguageModel


@torch.no_grad()
def evaluate_array(model: LanguageModel, array: np.ndarray, words: int, size_bytes: int, stories: int,
                   streams: int = 1, seq_len: int = 256, device: str | torch.device = "cpu",
                   cache: CacheSettings | None = None) -> dict:
    """Metrics of `model` on a token array. With streams > 1 the array is read as that many
    contiguous streams in parallel (faster, and a few tokens at the cuts lose their context).
    With `cache`, the same pass also scores the model with the neural cache, reported apart
    under "cache" (the plain numbers stay at the top level)."""
    if len(array) < 2:
        raise TextgenError("the evaluation text is too short: it needs at least one story")
    if cache is not None:
        plain, (cached,), count = cached_nats(model, array, [cache], streams, seq_len, device)
        coverage = count / (len(array) - 1)
        return {**metrics_of(plain, count, coverage, words, size_bytes, stories),
                "cache": {**cache.to_dict(), **metrics_of(cached, count, coverage, words, size_bytes, stories, totals=False)}}
    was_training = model.training
    model.eval()
    total_nats, total_tokens, state = 0.0, 0, None
    try:
        for inputs, targets in stream_chunks(array, streams, seq_len):
            logits, state = model(inputs.to(device), state)
            nats = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.to(device).reshape(-1), reduction="sum")
            total_nats += nats.item()
            total_tokens += targets.numel()
    finally:
        model.train(was_training)
    coverage = total_tokens / (len(array) - 1)  # parallel streams skip a few tokens at the end
    return metrics_of(total_nats, total_tokens, coverage, words, size_bytes, stories)


def metrics_of(total_nats: float, total_tokens: int, coverage: float, words: int, size_bytes: int, stories: int,
               totals: bool = True) -> dict:
    """loss, perplexity, word perplexity and bits per byte from summed nats (see the module docstring)."""
    loss = total_nats / max(1, total_tokens)
    counts = {"tokens": total_tokens, "words": words, "bytes": size_bytes, "stories": stories} if totals else {}
    return {
        **counts,
        "loss": loss,
        "perplexity": math.exp(min(loss, 700)),
        "word_perplexity": math.exp(min(total_nats / (coverage * (words + stories)), 700)),
        "bits_per_byte": total_nats / math.log(2) / (coverage * (size_bytes + stories)),
    }


def evaluate_corpus(loaded, corpus: str, streams: int = 1, seq_len: int = 256, cache_dir: str | None = None,
                    cache: CacheSettings | None = None, note=None) -> dict:
    """`textgen evaluate`: a loaded model's metrics on a corpus file or folder, with the neural
    cache's numbers under "cache" (None when it is off).

    The corpus's tokens are kept in memory (two bytes a token; evaluating takes the model hundreds
    of times longer than encoding, so a cache on disk saves little), or, with `cache_dir`, cached
    there for the next run. A cache folder that cannot be written is noted and left out: the
    evaluation goes on. Nothing is written beside the model."""
    from textgen.data.token_arrays import CacheUnwritable, cached_tokens, tokens_in_memory

    array = None
    if cache_dir is not None:
        try:
            array = cached_tokens(corpus, loaded.tokenizer, cache_dir)
        except CacheUnwritable as error:
            if note is not None:
                note(f"the token cache {cache_dir} cannot be written ({error.reason}): evaluating without it (give a "
                     "writable --cache-dir to keep the tokens)")
    if array is None:
        array = tokens_in_memory(corpus, loaded.tokenizer)
    unknown = array.unknown_share()
    if unknown > 0.01 and note is not None:
        note(f"{100 * unknown:.1f}% of the tokens of {corpus} are <unk>: the model's tokenizer does not cover this text, "
             "so these numbers look better than they are")
    metrics = evaluate_array(loaded.model, array.load(), array.words, array.bytes, array.stories, streams=streams,
                             seq_len=seq_len, cache=cache)
    metrics.setdefault("cache", None)
    skipped = array.tokens - 1 - metrics["tokens"]
    if skipped > 0 and note is not None:
        note(f"{streams} streams left the last {skipped:,} tokens unscored (the metrics scale to the scored share)")
    return metrics
