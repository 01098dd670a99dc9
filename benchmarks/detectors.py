"""Precision and recall of the repetition detectors on the labelled case sets in
tests/analysis/detectors/cases (the README's table). Prints JSON, or the Markdown table with --table.

    .venv/bin/python benchmarks/detectors.py --table
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from textgen.analysis.detectors import KINDS
from textgen.analysis.detectors.scoring import case_sets, detector_scores

CASES = Path(__file__).resolve().parent.parent / "tests" / "diagnostics" / "cases"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=str(CASES), help="folder with sets.json and the .jsonl case files")
    parser.add_argument("--table", action="store_true", help="print the Markdown table instead of JSON")
    args = parser.parse_args()
    rows = [{"set": entry["set"], "file": entry["file"], "written": entry["written"], "cases": len(entry["cases_list"]),
             "scores": detector_scores(entry["cases_list"]), "first_measurement": entry.get("first_measurement")}
            for entry in case_sets(args.cases)]
    if not args.table:
        print(json.dumps({"benchmark": "detectors", "sets": rows}, indent=2))
        return
    print("| set | written | cases | " + " | ".join(f"{kind} P / R" for kind in KINDS) + " |")
    print("|---|---|---:|" + "---|" * len(KINDS))
    for row in rows:
        cells = []
        for kind in KINDS:
            score, first = row["scores"][kind], (row["first_measurement"] or {}).get(kind)
            now = f"{score['precision']:.2f} / {score['recall']:.2f}"
            cells.append(now if not first or first == [round(score["precision"], 2), round(score["recall"], 2)]
                         else f"{now} (first {first[0]:.2f} / {first[1]:.2f})")
        print(f"| `{row['file']}` | {row['written']} | {row['cases']} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
