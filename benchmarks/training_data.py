"""Does more text of the same kind help the shipped model? (issue 11: "add other text only if it
measures better on the TinyStories test set".) Trains the shipped model's shape twice for the same
number of steps (the same compute, so the same time on one machine): once on TinyStories V1's
train split alone, once with the TinyStories V2 stories added. Both validate on V1's valid split
and are scored on V1's test split, plain and with the neural cache. Prints JSON.

By default the two arms run at once, one thread each, so that whatever else the host does slows
both alike; --one-after-other gives each all the threads in turn. A fixed step count makes the
result independent of the host's speed either way.

    .venv/bin/python benchmarks/training_data.py                   # 6,000 steps: about 2 h on 2 cores
    .venv/bin/python benchmarks/training_data.py --steps 40 --out /tmp/td   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import ROOT, BenchmarkError, evaluate_scores, machine, prepare_corpus, say, textgen_command  # noqa: E402

# The shipped model's training flags (textgen/shipped/tinystories-lstm/README.md), less its step count.
SHIPPED_SHAPE = ["--hidden-size", "768", "--embed-dim", "256", "--embed-dropout", "0.1", "--input-dropout", "0.3",
                 "--hidden-dropout", "0.25", "--output-dropout", "0.3", "--weight-drop", "0.3", "--lr", "7e-3",
                 "--warmup-steps", "500", "--weight-decay", "0.01", "--average", "0"]
ARMS = {"tinystories V1": "tinystories", "tinystories V1 + V2": "tinystories-plus-v2"}


def train_command(folder: Path, out: Path, steps: int) -> list[str]:
    return textgen_command() + ["train", str(folder / "train.txt"), "--valid", str(folder / "valid.txt"),
                                "--out", str(out), "--max-steps", str(steps),
                                "--val-every", str(max(1, min(500, steps // 4))), "--overwrite", *SHIPPED_SHAPE]


def start(command: list[str], log: Path, threads: int | None) -> subprocess.Popen:
    environment = dict(os.environ)
    if threads is not None:
        environment.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    with open(log, "w", encoding="utf-8") as file:
        return subprocess.Popen(command, stdout=file, stderr=subprocess.STDOUT, env=environment)


def finish(process: subprocess.Popen, log: Path, label: str) -> None:
    if process.wait() != 0:
        tail = (log.read_text(encoding="utf-8", errors="replace").strip().splitlines() or [""])[-1]
        raise BenchmarkError(f"training {label} failed ({tail}): see {log}")


def saved(model: Path) -> dict:
    """What the run's textgen.json says: training tokens, and the kept weights' step and validation score."""
    from textgen.modeldir.layout import ModelDirectory

    metadata = ModelDirectory(model).read_metadata()
    metrics = metadata.get("metrics") or {}
    return {"train_tokens": metadata["corpus"]["train_tokens"], "kept_step": metrics.get("step"),
            "valid_bits_per_byte": None if metrics.get("bits_per_byte") is None else round(metrics["bits_per_byte"], 4)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=str(ROOT.parent / "shared" / "corpora"),
                        help="folder with tinystories/ and tinystories-more/")
    parser.add_argument("--steps", type=int, default=6000, help="training steps of each arm [default: 6000]")
    parser.add_argument("--out", default=str(ROOT / ".bench" / "training-data"), help="work folder")
    parser.add_argument("--one-after-other", action="store_true",
                        help="train the arms in turn with all threads instead of at once with one each")
    args = parser.parse_args()
    try:
        if args.steps < 1:
            raise BenchmarkError(f"--steps {args.steps} is not positive: give a step count such as 6000")
        work = Path(args.out)
        work.mkdir(parents=True, exist_ok=True)
        folders = {label: prepare_corpus(name, Path(args.shared), work / "data") for label, name in ARMS.items()}
        runs = {label: work / ARMS[label] for label in ARMS}
        commands = {label: train_command(folders[label], runs[label], args.steps) for label in ARMS}
        logs = {label: work / f"{ARMS[label]}.log" for label in ARMS}
        started = time.perf_counter()
        if args.one_after_other:
            for label in ARMS:
                say(f"training {label} for {args.steps} steps")
                finish(start(commands[label], logs[label], None), logs[label], label)
        else:
            say(f"training both arms at once for {args.steps} steps, one thread each")
            processes = {label: start(commands[label], logs[label], 1) for label in ARMS}
            for label, process in processes.items():
                finish(process, logs[label], label)
        seconds = round(time.perf_counter() - started)
        test = folders["tinystories V1"] / "test.txt"
        results = {}
        for label in ARMS:
            say(f"evaluating {label} on {test}")
            _, plain, cached = evaluate_scores(runs[label], test)
            results[label] = {**saved(runs[label]), "test": {"plain": plain, "cache": cached},
                              "command": " ".join(["textgen", *commands[label][1:]])}
    except BenchmarkError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    plain = {label: results[label]["test"]["plain"]["bits_per_byte"] for label in ARMS}
    print(json.dumps({"benchmark": "training_data", "steps": args.steps, "together": not args.one_after_other,
                      "wall_seconds": seconds, "machine": machine(), "arms": results,
                      "more_text_helps": plain["tinystories V1 + V2"] < plain["tinystories V1"],
                      "test_bits_per_byte_ratio": round(plain["tinystories V1 + V2"] / plain["tinystories V1"], 4)},
                     indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
