"""The library's own sampling defaults (what a model that was never tuned writes with), chosen by the
measurement `textgen tune` makes, over three models of different sizes and corpora (issue 34):
the shipped model, a 5-minute TinyStories model and a 5-minute classics model. Each model's grid
(temperature x min-p x cast size, the library's other defaults as they are, real words and no
doubled words included) is scored against its own validation stories by tune's rule; a cell
wins across models by qualifying on the most of them, then by the least summed distance outside
the bands, then by the fewest invented words. Prints JSON on stdout, progress on stderr.

    .venv/bin/python benchmarks/library_defaults.py --shared ../shared/corpora --out .bench/defaults

The two small models are trained once into --out (`--max-time 5m`, the library's defaults, two
threads) and reused when there. The classics split is benchmarks/peers.py's (Alice for validation).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import prepare_corpus, say, textgen_command  # noqa: E402

from textgen.sampling.schema import BY_NAME  # noqa: E402

KEYS = ("temperature", "min_p", "cast_size")


def trained(name: str, corpus: Path, out: Path, minutes: float) -> Path:
    """A model trained for `minutes` on `corpus` (train.txt, valid.txt) into `out` (reused when finished)."""
    model = out / name
    if (model / "textgen.json").is_file() and json.loads((model / "textgen.json").read_text()).get("status") == "trained":
        say(f"{model}: trained already, reused")
        return model
    say(f"training {name} for {minutes:g} minutes on {corpus}")
    command = textgen_command() + ["train", str(corpus / "train.txt"), "--valid", str(corpus / "valid.txt"), "--out",
                                   str(model), "--max-time", f"{minutes:g}m", "--overwrite", "--json"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"error: {' '.join(command)} failed: {done.stderr.strip().splitlines()[-1:]}")
    return model


def grid(model: str, valid: Path, samples: int) -> dict:
    """`textgen tune MODEL --valid VALID --dry-run --json`: every cell of the default grid, scored."""
    command = textgen_command() + ["tune", model, "--valid", str(valid), "--samples", str(samples), "--dry-run", "--json"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"error: {' '.join(command)} failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout)


def across(results: dict[str, dict]) -> list[dict]:
    """One row per cell: on how many models it qualifies, its summed excess and mean invented words."""
    cells: dict[tuple, dict] = {}
    for name, result in results.items():
        for row in result["rows"]:
            key = tuple(row[k] for k in KEYS)
            cell = cells.setdefault(key, {**dict(zip(KEYS, key)), "qualifies_on": [], "excess": 0.0, "invented": []})
            if row["qualifies"]:
                cell["qualifies_on"].append(name)
            cell["excess"] += row["excess"]
            cell["invented"].append(row["invented"])
    rows = [{**cell, "excess": round(cell["excess"], 4), "invented": round(sum(cell["invented"]) / len(cell["invented"]), 3)}
            for cell in cells.values()]
    return sorted(rows, key=lambda row: (-len(row["qualifies_on"]), row["excess"], row["invented"]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default="../shared/corpora", help="the folder holding tinystories/ and classics/")
    parser.add_argument("--out", default=".bench/defaults", help="where the two small models are trained")
    parser.add_argument("--shipped", default="tinystories", help="the large model (default: the shipped one)")
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--samples", type=int, default=32, help="stories per cell (tune's --samples)")
    args = parser.parse_args()
    began = time.perf_counter()
    shared, out = Path(args.shared), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    corpora = {name: prepare_corpus(name, shared, out / "corpora") for name in ("tinystories", "classics")}
    models = {
        "shipped": (args.shipped, corpora["tinystories"] / "valid.txt"),
        "tinystories-5m": (str(trained("tinystories-5m", corpora["tinystories"], out, args.minutes)),
                           corpora["tinystories"] / "valid.txt"),
        "classics-5m": (str(trained("classics-5m", corpora["classics"], out, args.minutes)), corpora["classics"] / "valid.txt"),
    }
    results = {}
    for name, (model, valid) in models.items():
        say(f"tune --dry-run on {name} ({model}) against {valid}")
        results[name] = grid(model, valid, args.samples)
    rows = across(results)
    library = tuple(BY_NAME[key].default for key in KEYS)
    best = rows[0]
    print(json.dumps({
        "models": {name: {"model": model, "valid": str(valid), "chosen": results[name]["chosen_settings"],
                          "qualified": results[name]["qualified"], "human": results[name]["human"]}
                   for name, (model, valid) in models.items()},
        "cells": rows,
        "best": {key: best[key] for key in KEYS},
        "library_defaults": dict(zip(KEYS, library)),
        "library_defaults_are_best": tuple(best[key] for key in KEYS) == library,
        "rule": "qualifies on the most models, then the least summed excess, then the fewest invented words",
        "seconds": round(time.perf_counter() - began, 1),
    }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
