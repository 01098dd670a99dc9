"""How long the first command takes: `textgen generate tinystories` writing 200 tokens (the
end of the story banned, so every run writes all 200), whole process, from a fresh Python
each time, with the default flags and with each explicit `--quantize` choice, runs interleaved.
Targets: under 3 s, and the default no more than 10% slower than the fastest choice. Beside them,
interleaved too, `python -c "import torch"` alone, and whether the default command imported torch
(it does not since the default story is written in numpy: `import_torch_over_default` above 1 means
torch's import alone takes longer than the whole default story). Prints JSON.

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
    parser.add_argument("--choices", default="none,bf16,int8", help="the --quantize choices timed beside the default")
    args = parser.parse_args()
    command = textgen_command() + ["generate", args.model, "--prompt", "Once upon a time", "--max-tokens", str(args.tokens),
                                   "--ban", "</s>"]
    arms = {"default": [], **{choice: ["--quantize", choice] for choice in args.choices.split(",") if choice}}
    times: dict[str, list[float]] = {arm: [] for arm in [*arms, "import torch"]}
    for seed in range(args.repeats):
        for arm, flags in arms.items():  # interleaved, so a busy moment slows every arm alike
            started = time.perf_counter()
            done = subprocess.run(command + flags + ["--seed", str(seed)], capture_output=True, text=True)
            times[arm].append(time.perf_counter() - started)
            if done.returncode != 0:
                print(f"error: {(done.stderr.strip().splitlines() or [''])[-1]}", file=sys.stderr)
                return 1
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import torch"], check=True)
        times["import torch"].append(time.perf_counter() - started)
    torch_import = round(statistics.median(times.pop("import torch")), 2)
    probe = ("import sys; from textgen.cli import cli\ntry:\n    cli.main(sys.argv[1:], standalone_mode=False)\n"
             "finally:\n    print('torch' in sys.modules, file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", probe, *command[len(textgen_command()):]], capture_output=True, text=True)
    imported = (done.stderr.strip().splitlines() or [""])[-1] == "True"
    medians = {arm: round(statistics.median(values), 2) for arm, values in times.items()}
    fastest = min(medians[arm] for arm in arms if arm != "default") if len(arms) > 1 else medians["default"]
    print(json.dumps({"benchmark": "first_story", "command": " ".join(["textgen", *command[1:]]), "tokens": args.tokens,
                      "seconds": [round(t, 2) for t in times["default"]], "median_seconds": medians["default"],
                      "target_seconds": 3.0, "median_by_quantize": medians,
                      "default_over_fastest": round(medians["default"] / fastest, 3), "target_over_fastest": 1.10,
                      "import_torch_median_seconds": torch_import,
                      "import_torch_over_default": round(torch_import / medians["default"], 3),
                      "default_imports_torch": imported},
                     indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
