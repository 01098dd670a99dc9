"""Do the stories keep their characters? Distinct names per story (first 150 words) in samples
from a TinyStories model, beside the human stories of the test set, with the keep-the-cast
rule and the neural cache on and off, at default settings and a few others.

    .venv/bin/python benchmarks/cast.py --model checkpoints/tiny-30m        # a trained model
    .venv/bin/python benchmarks/cast.py --train-minutes 30 --out /tmp/ts30  # train one with the default command first

Prints JSON on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import ROOT, say, textgen_command  # noqa: E402

from textgen.analysis.cast import story_cast  # noqa: E402

SETTINGS = {  # the default is keep-cast 0.1 with the cache off (sampling)
    "default settings (keep-cast 0.1, cache off)": [],
    "keep-cast off": ["--keep-cast", "1"],
    "keep-cast 0.3": ["--keep-cast", "0.3"],
    "keep-cast 0": ["--keep-cast", "0"],
    "cache on": ["--cache"],
    "keep-cast off, cache on (the defaults before)": ["--keep-cast", "1", "--cache"],
    "temperature 0.8": ["--temperature", "0.8"],
    "temperature 0.8, top-p 0.95": ["--temperature", "0.8", "--top-p", "0.95"],
    "min-p 0.05": ["--min-p", "0.05"],
}


def standard_error(values: list[float]) -> float:
    """The standard error of the mean: with 100 samples, names per story moves by about 0.1 between seeds."""
    return statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else float("nan")


def diagnose(model: str, options: list[str], samples: int, seed: int) -> dict:
    command = textgen_command() + ["diagnose", model, "--samples", str(samples), "--seed", str(seed), "--no-baseline",
                                   "--json", *options]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["no output"])[-1], "command": shlex.join(command[1:])}
    data = json.loads(done.stdout)
    metrics = data["metrics"]
    return {"command": "textgen " + shlex.join(command[1:]), "names_per_story": round(metrics["names_per_story"], 3),
            "names_per_story_se": round(standard_error([len(sample["names"]) for sample in data["samples"]]), 3),
            "late_names_per_story": round(metrics["late_names_per_story"], 3), "perplexity": round(metrics["perplexity"], 3),
            "immediate_repeat_per_1000_words": round(metrics["immediate-repeat_per_1000_words"], 3),
            "self_object_per_1000_words": round(metrics["self-object_per_1000_words"], 3),
            "seq_rep_4": round(metrics["seq_rep_4"], 4), "distinct_2": round(metrics["distinct_2"], 4)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a trained TinyStories model directory")
    parser.add_argument("--train-minutes", type=float, default=30.0, help="without --model: train the default command this long")
    parser.add_argument("--out", default=None, help="without --model: where to train it")
    parser.add_argument("--shared", default=str(ROOT.parent / "shared" / "corpora"))
    parser.add_argument("--samples", type=int, default=400, help="samples per row (400: a standard error near 0.05 names)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    shared = Path(args.shared) / "tinystories"
    human_path = shared / "test.txt"
    if not human_path.is_file():
        print(f"error: {human_path} is missing: give --shared, the folder holding tinystories/", file=sys.stderr)
        return 2
    model = args.model
    report: dict = {"benchmark": "cast", "samples": args.samples}
    if model is None:
        if not args.out:
            print("error: give --model DIR, or --out DIR to train one", file=sys.stderr)
            return 2
        command = textgen_command() + ["train", str(shared / "train.txt"), "--valid", str(shared / "valid.txt"), "--out",
                                       args.out, "--max-time", f"{args.train_minutes:g}m", "--overwrite", "--json"]
        say(f"training: {shlex.join(command[1:])}")
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"error: training failed: {(done.stderr.strip().splitlines() or [''])[-1]}", file=sys.stderr)
            return 1
        report["training"] = {"command": "textgen " + shlex.join(command[1:]), **json.loads(done.stdout)}
        model = args.out
    from textgen.analysis.cast import cast_metrics
    from textgen.data.corpus import read_stories

    stories = read_stories(human_path)
    human = cast_metrics(stories)
    report["human"] = {"source": str(human_path), **{key: round(value, 3) for key, value in human.items()},
                       "names_per_story_se": round(standard_error([len(story_cast(story).names) for story in stories]), 3)}
    meta = json.loads((Path(model) / "textgen.json").read_text())
    report["model"] = {"path": model, "cache": (meta.get("cache") or {}).get("settings")}
    rows = {}
    for label, options in SETTINGS.items():
        say(f"{label} ...")
        rows[label] = diagnose(model, options, args.samples, args.seed)
        if "names_per_story" in rows[label]:
            rows[label]["ratio_to_human"] = round(rows[label]["names_per_story"] / human["names_per_story"], 3)
    report["rows"] = rows
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
