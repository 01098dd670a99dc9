"""Stories a reader would keep: a model's stories at its default settings, beside the human test
stories, on the metrics a reader recognises (issue 34): invented words per 1,000 words, names per
story (both definitions), seq-rep-4, immediate repeats, distinct-2 and distinct-3, and the model's
test bits per byte. Each target is checked; prints JSON on stdout, progress on stderr.

    .venv/bin/python benchmarks/story_quality.py --shared ../shared/corpora            # the shipped model
    .venv/bin/python benchmarks/story_quality.py --model checkpoints/mine --shared ... -- --min-p 0.1

Invented words are checked against an English word list and the words of the training text: those
the model's textgen.json records, else `--train` (default: tinystories/train.txt and
tinystories-more/v2_train.txt, the text of the shipped model before the issue-34 retraining).
Arguments after `--` go to `textgen generate` (to measure other settings than the defaults).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import say, textgen_command  # noqa: E402

from textgen.analysis.detectors.metrics import text_metrics  # noqa: E402
from textgen.analysis.words import KnownWords, training_words  # noqa: E402
from textgen.data.corpus import iter_stories  # noqa: E402

SHOWN = ("invented_per_1000_words", "names_per_story", "speech_aware_names_per_story", "seq_rep_4",
         "immediate-repeat_per_1000_words", "distinct_2", "distinct_3")


def stories_of(model: str, count: int, max_tokens: int, prompt: str, seed: int, extra: list[str]) -> list[str]:
    """`count` stories as `textgen generate` writes them at the model's defaults (plus `extra`)."""
    command = textgen_command() + ["generate", model, "-n", str(count), "--max-tokens", str(max_tokens),
                                   "--prompt", prompt, "--seed", str(seed), "--json", *extra]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"error: {' '.join(command)} failed: {done.stderr.strip().splitlines()[-1:]}")
    return [json.loads(line)["text"] for line in done.stdout.splitlines() if line.strip()]


def bits_per_byte(model: str, test: Path) -> float:
    """The plain model's bits per byte on `test` (the neural cache off)."""
    done = subprocess.run(textgen_command() + ["evaluate", model, str(test), "--json", "--no-cache"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"error: textgen evaluate failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout)["bits_per_byte"]


def targets(model: dict, human: dict, bpb: float) -> dict:
    """The issue's targets for the shipped model at its defaults, each with its value and whether it is met."""
    def check(value: float, bound: float, below: bool = True) -> dict:
        return {"value": round(value, 4), "bound": round(bound, 4), "met": value <= bound if below else value >= bound}

    return {
        "invented words per 1,000 <= 2": check(model["invented_per_1000_words"], 2.0),
        "names per story <= 1.2 x human": check(model["names_per_story"], 1.2 * human["names_per_story"]),
        "speech-aware names <= 1.2 x human": check(model["speech_aware_names_per_story"],
                                                    1.2 * human["speech_aware_names_per_story"]),
        "seq-rep-4 <= human": check(model["seq_rep_4"], human["seq_rep_4"]),
        "immediate repeats <= human": check(model["immediate-repeat_per_1000_words"],
                                            human["immediate-repeat_per_1000_words"]),
        "distinct-2 >= 0.9 x human": check(model["distinct_2"], 0.9 * human["distinct_2"], below=False),
        "test bits per byte <= 0.90": check(bpb, 0.90),
    }


def main() -> int:
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tinystories")
    parser.add_argument("--shared", default="../shared/corpora", help="the folder holding tinystories/ and tinystories-more/")
    parser.add_argument("--train", nargs="*", help="the training text whose words are not invented [default: the shipped model's]")
    parser.add_argument("--stories", type=int, default=200)
    parser.add_argument("--max-tokens", type=int, default=300)
    parser.add_argument("--prompt", default="Once upon a time")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    shared = Path(args.shared)
    test = shared / "tinystories" / "test.txt"
    train = [Path(p) for p in args.train] if args.train else [shared / "tinystories" / "train.txt",
                                                              shared / "tinystories-more" / "v2_train.txt"]
    for path in (test, *train):
        if not path.exists():
            raise SystemExit(f"error: {path} does not exist: give --shared (the folder holding tinystories/) or --train")
    began = time.perf_counter()
    import textgen
    from textgen.analysis.diagnosis import recorded_known_words

    loaded = textgen.load(args.model)
    if loaded.words and not args.train:  # the words the model records: its own training text, no corpus needed
        say(f"training words: the {len(loaded.words):,} words {args.model}'s textgen.json records")
        known: KnownWords = recorded_known_words(loaded)
    else:
        say(f"training words from {', '.join(map(str, train))}")
        known = training_words(story for path in train for story in iter_stories(path))
    say(f"{args.stories} stories of {args.max_tokens} tokens from {args.model} {' '.join(extra) or '(default settings)'}")
    stories = stories_of(args.model, args.stories, args.max_tokens, args.prompt, args.seed, extra)
    model_metrics = text_metrics(stories, known=known)
    human_metrics = text_metrics(iter_stories(test), known=known)
    say(f"test bits per byte of {args.model} on {test}")
    bpb = bits_per_byte(args.model, test)
    result = {
        "model": args.model, "settings": extra or "defaults", "stories": len(stories), "max_tokens": args.max_tokens,
        "prompt": args.prompt, "seed": args.seed, "test": str(test),
        "train": "the words textgen.json records" if loaded.words and not args.train else [str(p) for p in train],
        "model_metrics": {key: round(model_metrics[key], 4) for key in SHOWN},
        "human_metrics": {key: round(human_metrics[key], 4) for key in SHOWN},
        "test_bits_per_byte": round(bpb, 4),
        "targets": targets(model_metrics, human_metrics, bpb),
        "seconds": round(time.perf_counter() - began, 1),
    }
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
