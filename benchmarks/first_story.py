"""How long the first command takes: `textgen generate tinystories` writing 200 tokens (the
end of the story banned, so every run writes all 200), whole process, from a fresh Python
each time. Target: under 3 s. Prints JSON.

    .venv/bin/python benchmarks/first_story.py
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import textgen_command  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tinystories")
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    command = textgen_command() + ["generate", args.model, "--prompt", "Once upon a time", "--max-tokens", str(args.tokens),
                                   "--ban", "</s>"]
    times = []
    for seed in range(args.repeats):
        started = time.perf_counter()
        done = subprocess.run(command + ["--seed", str(seed)], capture_output=True, text=True)
        times.append(time.perf_counter() - started)
        if done.returncode != 0:
            print(f"error: {(done.stderr.strip().splitlines() or [''])[-1]}", file=sys.stderr)
            return 1
    print(json.dumps({"benchmark": "first_story", "command": " ".join(["textgen", *command[1:]]), "tokens": args.tokens,
                      "seconds": [round(t, 2) for t in times], "median_seconds": round(statistics.median(times), 2),
                      "target_seconds": 3.0}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
