"""Does --max-time bound the whole command? `textgen train CORPUS --max-time S` as a user runs it,
timed from before the process starts to its exit, on an idle machine and beside a busy loop that
keeps one core working (the "busy machine" of issue 35). Target: wall time within 5% of the budget.
Prints JSON.

    .venv/bin/python benchmarks/max_time.py --shared ../shared/corpora               # 60 s and 300 s, about 12 minutes
    .venv/bin/python benchmarks/max_time.py --shared ../shared/corpora --budgets 30
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import machine, textgen_command  # noqa: E402

BUSY_LOOP = "while True: pass"


def run(corpus: Path, valid: Path, budget: float, work: Path, busy: bool) -> dict:
    """One timed `textgen train`, with a busy loop beside it where `busy`."""
    out = work / f"model-{budget:g}-{'busy' if busy else 'idle'}"
    command = textgen_command() + ["train", str(corpus), "--valid", str(valid), "--out", str(out), "--max-time",
                                   f"{budget:g}s", "--cache-dir", str(work / "cache"), "--json"]
    burner = subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) if busy else None
    try:
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - started
    finally:
        if burner is not None:
            burner.kill()
            burner.wait()
    if done.returncode != 0:
        return {"budget_seconds": budget, "busy": busy, "error": (done.stderr.strip().splitlines() or [""])[-1]}
    summary = json.loads(done.stdout)
    threads = next((line for line in done.stderr.splitlines() if line.startswith("threads:")), "")
    cache = next((line for line in done.stderr.splitlines() if "cache" in line and ("lowers" in line or "not chosen" in line)), "")
    return {"budget_seconds": budget, "busy": busy, "wall_seconds": round(wall, 1), "ratio": round(wall / budget, 3),
            "reported_wall_seconds": summary.get("wall_seconds"), "training_seconds": summary["seconds"],
            "steps": summary["steps"], "valid_bits_per_byte": round(summary.get("valid_bits_per_byte", float("nan")), 4),
            "threads": threads, "cache": cache, "within_5_percent": wall <= 1.05 * budget}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared" / "corpora"))
    parser.add_argument("--budgets", default="60,300", help="comma-separated --max-time budgets in seconds")
    args = parser.parse_args()
    shared = Path(args.shared) / "tinystories"
    corpus, valid = shared / "train.txt", shared / "valid.txt"
    if not corpus.is_file() or not valid.is_file():
        print(f"error: {shared} has no train.txt and valid.txt: give the corpora folder with --shared", file=sys.stderr)
        return 2
    try:
        budgets = [float(value) for value in args.budgets.split(",") if value.strip()]
    except ValueError:
        print(f"error: --budgets {args.budgets!r} is not a list of seconds: give e.g. 60,300", file=sys.stderr)
        return 2
    rows = []
    with tempfile.TemporaryDirectory(prefix="textgen-max-time-") as temporary:
        for budget in budgets:
            for busy in (False, True):
                print(f"textgen train --max-time {budget:g}s{' beside a busy loop' if busy else ''} ...", file=sys.stderr)
                rows.append(run(corpus, valid, budget, Path(temporary), busy))
    print(json.dumps({"benchmark": "max_time", "machine": machine(), "rows": rows,
                      "met": all(row.get("within_5_percent", False) for row in rows)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
