"""Generation speed on the CPU: tokens/s at batch 1 and batch 32, next-word latency, and the
machine's bound for batch 1 (bytes of weights read per token / measured memory bandwidth; the
judged share pairs each generation run with a bandwidth measurement just before it),
for the float model and its int8 and bf16 forms, with no rule and with the library's default
sampling rules on; with a trained model, also the default command's own path (the model read
without torch, numpy's BLAS threads chosen by timing: `default_command_*`), and the perplexity
of each form on held-out text, so a faster form is kept only if it loses nothing. Prints JSON.

    .venv/bin/python benchmarks/generation_speed.py --model .demo/little --heldout .demo/heldout/little-stories.txt
    .venv/bin/python benchmarks/generation_speed.py            # a random default-size model: speed only
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np
import torch

from textgen.model.config import ModelConfig
from textgen.model import LanguageModel
from textgen.model.quantize import QUANTIZE_MODES, quantize, weight_bytes
from textgen.sampling import BannedSequences
from textgen.sampling.generate import generate
from textgen.tokenizer import EOS_ID


def memory_bandwidth(megabytes: int = 256, repeats: int = 5) -> float:
    """Bytes per second of a large array copy (read + write), the best of a few tries."""
    source = np.ones(megabytes * 2**20 // 8)
    target = np.empty_like(source)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        np.copyto(target, source)
        best = min(best, time.perf_counter() - started)
    return 2 * source.nbytes / best


def tokens_per_second(model, tokenizer, batch: int, tokens: int, repeats: int) -> float:
    never_end = [BannedSequences([[EOS_ID]])]  # every story runs to the full length
    generate(model, tokenizer, "Once upon a time", n=batch, max_tokens=8, processors=never_end)  # warm-up
    rates = []
    for seed in range(repeats):
        started = time.perf_counter()
        generate(model, tokenizer, "Once upon a time", n=batch, max_tokens=tokens, processors=never_end, seed=seed)
        rates.append(batch * tokens / (time.perf_counter() - started))
    return statistics.median(rates)


def default_rules(tokenizer, words):
    """Makes a fresh list of the library's default sampling rules (each run counts its own story),
    with the end of the story banned so every story runs to the full length."""
    from textgen.sampling.settings import SamplingSettings, build_processors

    return lambda: [BannedSequences([[EOS_ID]])] + build_processors(SamplingSettings(), tokenizer, words)


def paired_shares(model, tokenizer, size: int, tokens: int, repeats: int, rules=None) -> list[float]:
    """Batch-1 speed as a share of the bound, each generation run paired with a bandwidth
    measurement just before it: this machine's speed drifts by 20% over minutes (a shared
    host), and a bound measured once at the start and a speed measured later do not compare.
    `rules`: makes the processors of each run (default: none but the banned end of the story)."""
    rules = rules or (lambda: [BannedSequences([[EOS_ID]])])
    generate(model, tokenizer, "Once upon a time", n=1, max_tokens=8, processors=rules())  # warm-up
    shares = []
    for seed in range(repeats):
        bandwidth = memory_bandwidth(repeats=3)
        processors = rules()
        started = time.perf_counter()
        generate(model, tokenizer, "Once upon a time", n=1, max_tokens=tokens, processors=processors, seed=seed)
        shares.append(tokens / (time.perf_counter() - started) / (bandwidth / size))
    return shares


def paired_shares_without_torch(path: str, size: int, tokens: int, repeats: int) -> tuple[list[float], str]:
    """paired_shares for the default command's path: the model directory read into numpy
    (textgen.model.numpy.language_model, its BLAS threads chosen by timing) writing one story with
    the library's default rules; also the threads line `--verbose` prints."""
    from textgen.model.numpy.language_model import NumpyLanguageModel
    from textgen.sampling.numpy_generate import generate_one

    light = NumpyLanguageModel.load(path)
    rules = default_rules(light.tokenizer, light.words)
    generate_one(light, "Once upon a time", 8, rules())  # warm-up
    shares = []
    for seed in range(repeats):
        bandwidth = memory_bandwidth(repeats=3)
        processors = rules()
        started = time.perf_counter()
        generate_one(light, "Once upon a time", tokens, processors, seed=seed)
        shares.append(tokens / (time.perf_counter() - started) / (bandwidth / size))
    return shares, light.threads


def bytes_read_per_token(model, size: int) -> int:
    """Weight bytes one batch-1 generation step reads: all of them, except that a first layer
    with an input table (textgen/model/language_model.py: StepPlan) reads one row of the table
    (its biases folded in) instead of W_ih and the biases."""
    plan = model._step_plan() if hasattr(model, "_step_plan") else None
    if plan is None or plan.embedding is not None:
        return size
    w_ih, _, b_ih, b_hh = model.layers[0].weights()
    item = w_ih.element_size()
    return size - (w_ih.numel() + b_ih.numel() + b_hh.numel()) * item + w_ih.shape[0] * item


def next_word_latency(model, tokenizer, repeats: int) -> float:
    from textgen.analysis.next_words import next_words

    next_words(model, tokenizer, "Once upon a time, there was a", top=10)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        next_words(model, tokenizer, "Once upon a time, there was a", top=10)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None,
                        help="a trained model directory or shipped name (default: random weights, the size `textgen train` "
                             "picks for a 5-minute budget)")
    parser.add_argument("--heldout", default=None, help="text for the perplexity of each form (needs --model)")
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--modes", default=",".join(QUANTIZE_MODES))
    args = parser.parse_args()
    if args.model:
        import textgen

        loaded = textgen.load(args.model)
        model, tokenizer, words = loaded.model, loaded.tokenizer, loaded.words
    else:
        from textgen.data.storybook import generate_stories
        from textgen.tokenizer import train_tokenizer

        from textgen.model.config import default_hidden_size

        from textgen.analysis.words import words_record
        from textgen.modeldir.store import recorded_words

        stories = list(generate_stories("little-stories"))[:3000]
        tokenizer = train_tokenizer(stories)  # the default kind and size
        words = recorded_words({"words": words_record(stories)})  # what `textgen train` records, for the word rules
        hidden = default_hidden_size(300.0)
        model = LanguageModel(ModelConfig(vocab_size=tokenizer.vocab_size, hidden_size=hidden, embed_dim=min(256, hidden))).eval()
    bandwidth = memory_bandwidth()
    results = []
    for mode in args.modes.split(","):
        quantized = quantize(model, mode)
        size = weight_bytes(model, mode)
        row = {"mode": mode, "weight_bytes": size,
               "tokens_per_s_batch1": round(tokens_per_second(quantized, tokenizer, 1, args.tokens, args.repeats), 1),
               "tokens_per_s_batch32": round(tokens_per_second(quantized, tokenizer, 32, args.tokens, args.repeats), 1),
               "next_word_latency_ms": round(1000 * next_word_latency(quantized, tokenizer, args.repeats), 1),
               "bound_tokens_per_s_batch1": round(bandwidth / size, 1)}
        row["share_of_bound_batch1"] = round(row["tokens_per_s_batch1"] / row["bound_tokens_per_s_batch1"], 3)
        shares = paired_shares(quantized, tokenizer, size, args.tokens, max(5, args.repeats))
        row["share_of_bound_batch1_paired"] = {"median": round(statistics.median(shares), 3),
                                               "runs": [round(share, 3) for share in shares]}
        # what a batch-1 step reads: with the first layer's input table, one row of it instead of W_ih,
        # so the bound for the bytes actually read is higher and the share against it lower
        read = bytes_read_per_token(quantized, size)
        row["bytes_read_per_token_batch1"] = read
        row["share_of_bytes_read_bound_batch1_paired"] = round(statistics.median(shares) * read / size, 3)
        # the default command's case: one story with the library's default rules on
        ruled = paired_shares(quantized, tokenizer, size, args.tokens, max(5, args.repeats), default_rules(tokenizer, words))
        row["share_of_bytes_read_bound_batch1_default_rules_paired"] = {
            "median": round(statistics.median(ruled) * read / size, 3), "runs": [round(x * read / size, 3) for x in ruled]}
        if args.model and mode == "none":  # after the torch rows of this mode: it sets numpy's BLAS threads from here on
            light, threads = paired_shares_without_torch(args.model, size, args.tokens, max(5, args.repeats))
            row["default_command_threads"] = threads
            row["share_of_bytes_read_bound_batch1_default_command_paired"] = {
                "median": round(statistics.median(light) * read / size, 3), "runs": [round(x * read / size, 3) for x in light]}
        if args.model and args.heldout:
            import itertools
            import tempfile
            from pathlib import Path

            from textgen.data.corpus import iter_stories
            from textgen.data.token_arrays import encode_stories
            from textgen.analysis.evaluate import evaluate_array

            with tempfile.TemporaryDirectory() as folder:
                array = encode_stories(itertools.islice(iter_stories(args.heldout), 300), tokenizer, Path(folder) / "t.bin")
                metrics = evaluate_array(quantized, array.load(), array.words, array.bytes, array.stories, streams=16)
            row["heldout_perplexity"] = round(metrics["perplexity"], 4)
        results.append(row)
        print(json.dumps(row), file=__import__("sys").stderr, flush=True)
    print(json.dumps({"benchmark": "generation_speed", "model": model.config.summary(),
                      "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                                  "memory_bandwidth_gb_s": round(bandwidth / 1e9, 2)},
                      "settings": vars(args), "results": results}, indent=2))


if __name__ == "__main__":
    main()
