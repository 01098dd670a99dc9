"""The numbers of a story model's card: test bits per byte and word perplexity (plain and with
the neural cache, over the test file's bytes as benchmarks/peers.py counts them, and textgen's
own), sample stories, and the diagnosis of sampled stories beside the test set's own metrics.

    .venv/bin/python benchmarks/model_card.py tinystories            # the shipped model, about 5 minutes
    .venv/bin/python benchmarks/model_card.py checkpoints/mine --samples 100

Prints JSON on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import CACHE_SETTINGS, ROOT, BenchmarkError, evaluate_scores, say, textgen_command  # noqa: E402

# the card's samples are what a reader gets: the model's defaults, a prompt and a seed, no other flag
SAMPLE_SETTINGS = [["--prompt", "Once upon a time", "--seed", "1"],
                   ["--prompt", "Lily and her dog", "--seed", "2"],
                   ["--prompt", "Tom wanted to fly", "--seed", "3"]]
METRICS = ("names_per_story", "late_names_per_story", "self-object_per_1000_words", "immediate-repeat_per_1000_words",
           "phrase-loop_per_1000_words", "repeated-sentence_per_1000_words", "seq_rep_4", "distinct_1", "distinct_2",
           "distinct_3", "rep_32")


def run(arguments: list[str]) -> subprocess.CompletedProcess:
    command = textgen_command() + arguments
    say("textgen " + shlex.join(arguments))
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"error: textgen {shlex.join(arguments)} failed: {(done.stderr.strip().splitlines() or [''])[-1]}")
    return done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="model directory or shipped name")
    parser.add_argument("--shared", default=str(ROOT.parent / "shared" / "corpora"))
    parser.add_argument("--samples", type=int, default=100)
    args = parser.parse_args()
    test = Path(args.shared) / "tinystories" / "test.txt"
    if not test.is_file():
        print(f"error: {test} is missing: give --shared, the folder holding tinystories/", file=sys.stderr)
        return 2
    card: dict = {"model": args.model, "test": str(test)}
    say(f"textgen evaluate {args.model} {test} --json")
    try:
        evaluated, plain, cached = evaluate_scores(args.model, test)
    except BenchmarkError as error:
        raise SystemExit(f"error: {error}") from None
    card["test_metrics"] = {
        "plain": {**plain,
                  "textgen_bits_per_byte": round(evaluated["bits_per_byte"], 4),
                  "textgen_word_perplexity": round(evaluated["word_perplexity"], 2)},
        "cache": None if cached is None else {
            **cached,
            "textgen_bits_per_byte": round(evaluated["cache"]["bits_per_byte"], 4),
            "textgen_word_perplexity": round(evaluated["cache"]["word_perplexity"], 2),
            "settings": {key: evaluated["cache"][key] for key in CACHE_SETTINGS}},
        "command": f"textgen evaluate {args.model} {test} --json"}
    card["samples"] = []
    for options in SAMPLE_SETTINGS:
        started = time.perf_counter()
        done = run(["generate", args.model, *options, "--max-tokens", "250"])
        card["samples"].append({"command": f"textgen generate {args.model} {shlex.join(options)} --max-tokens 250",
                                "text": done.stdout.strip(), "seconds": round(time.perf_counter() - started, 2)})
    sampled = json.loads(run(["diagnose", args.model, "--samples", str(args.samples), "--no-baseline", "--json"]).stdout)
    human = json.loads(run(["diagnose", "--text", str(test), "--json"]).stdout)
    card["diagnosis"] = {
        "command": f"textgen diagnose {args.model} --samples {args.samples} --no-baseline --json",
        "human_command": f"textgen diagnose --text {test} --json",
        "samples": {key: round(sampled["metrics"][key], 4) for key in METRICS},
        "test_set": {key: round(human["metrics"][key], 4) for key in METRICS},
        "sample_perplexity": round(sampled["metrics"].get("perplexity", float("nan")), 3)}
    print(json.dumps(card, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
