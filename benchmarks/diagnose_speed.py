"""Wall time of issue 6's commands, each in a fresh process as a user runs it, as JSON.

    .venv/bin/python benchmarks/diagnose_speed.py                       # the Doug experiment (target: < 180 s on 2 cores)
    .venv/bin/python benchmarks/diagnose_speed.py --model .demo/little  # also diagnose, --compare-settings and gates

Each command runs `--repeats` times through the installed console script (imports, model
loading and writing included); the median and every run are reported. The Doug run also
reports its two self-object rates, so a fast but wrong run is visible.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def textgen() -> list[str]:
    script = Path(sys.executable).parent / "textgen"
    return [str(script)] if script.exists() else [sys.executable, "-m", "textgen.cli"]


def timed(args: list[str], repeats: int) -> dict:
    runs, output = [], ""
    for _ in range(repeats):
        started = time.perf_counter()
        result = subprocess.run([*textgen(), *args], cwd=REPO, capture_output=True, text=True, check=False)
        runs.append(round(time.perf_counter() - started, 2))
        if result.returncode != 0:
            raise SystemExit(f"textgen {' '.join(args)} failed: {result.stderr.strip()[-500:]}")
        output = result.stdout
    return {"command": "textgen " + " ".join(args), "seconds_median": statistics.median(runs), "seconds": runs, "stdout": output}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="A model directory for the diagnose and gates timings.")
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args()
    results = []
    doug = timed(["experiment", "doug", "--json"], options.repeats)
    data = json.loads(doug.pop("stdout"))
    doug.update(memoryless_rate=data["memoryless"]["self_object_rate"], lstm_rate=data["lstm"]["self_object_rate"],
                target_seconds=180, within_target=doug["seconds_median"] < 180)
    results.append(doug)
    if options.model:
        for args in (["diagnose", options.model, "--samples", "20", "--json"],
                     ["diagnose", options.model, "--compare-settings", "--samples", "8", "--max-tokens", "150", "--json"],
                     ["gates", options.model, "Lily saw a cat. The cat saw Lily.", "--json"]):
            row = timed(args, options.repeats)
            row.pop("stdout")
            results.append(row)
    print(json.dumps({"results": results}, indent=2))


if __name__ == "__main__":
    main()
