"""The experiments behind textgen's training defaults: each named set of `textgen train`
options trains for the same wall-clock budget on the same files and is scored on the test
file as benchmarks/peers.py scores it (bits per byte over the file's UTF-8 bytes). One
experiment at a time; results are appended to a JSON-lines file as they finish, so a long
search can be read (and resumed: finished names are skipped) while it runs.

    .venv/bin/python benchmarks/defaults_search.py --plan plan.json --out results.jsonl
    .venv/bin/python benchmarks/defaults_search.py --plan plan.json --corpora tinystories,classics --seconds 300

plan.json is {"name": "textgen train options", ...}; "" is the default command.

    .venv/bin/python benchmarks/defaults_search.py --out results.jsonl --table   # the results as a markdown table
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import ROOT, BenchmarkError, prepare_corpus, run_textgen, say  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", help='JSON object {"name": "textgen train options"}')
    parser.add_argument("--table", action="store_true", help="print the results in --out as a markdown table and stop")
    parser.add_argument("--out", required=True, help="JSON-lines file the results are appended to")
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--corpora", default="tinystories")
    parser.add_argument("--shared", default=str(ROOT.parent / "shared" / "corpora"))
    args = parser.parse_args()
    if args.table:
        print(table(Path(args.out)))
        return 0
    if not args.plan:
        print("error: give --plan FILE (or --table)", file=sys.stderr)
        return 2
    try:
        plan = json.loads(Path(args.plan).read_text())
        if not isinstance(plan, dict) or not all(isinstance(value, str) for value in plan.values()):
            raise BenchmarkError(f"{args.plan} must be a JSON object of name -> options string")
        out = Path(args.out)
        done = set()
        if out.exists():
            done = {(row["corpus"], row["name"], row["seconds"]) for row in map(json.loads, out.read_text().splitlines()) if row}
        with tempfile.TemporaryDirectory(prefix="textgen-search-") as temporary:
            work = Path(temporary)
            for corpus in [name.strip() for name in args.corpora.split(",") if name.strip()]:
                folder = prepare_corpus(corpus, Path(args.shared), work)
                for name, options in plan.items():
                    if (corpus, name, args.seconds) in done:
                        say(f"skip {corpus} {name}: already in {out}")
                        continue
                    row = run_textgen(folder, args.seconds, work, shlex.split(options), f"{corpus}-{name}")
                    row = {"corpus": corpus, "name": name, "options": options, "seconds": args.seconds, **row}
                    with open(out, "a") as file:
                        file.write(json.dumps(row) + "\n")
        return 0
    except BenchmarkError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def table(path: Path) -> str:
    """One row per experiment, in the order they ran."""
    lines = ["| corpus | experiment | options | steps | bits per byte | with cache | cache (weight, theta, scope) |",
             "|---|---|---|---:|---:|---:|---|"]
    for row in map(json.loads, path.read_text().splitlines()):
        cache = row.get("cache") or {}
        scope = {True: ", per story", False: ", across stories"}.get(cache.get("per_story"), "")
        chosen = f"{cache['weight']:g}, {cache['theta']:g}{scope}" if cache else "off"
        lines.append(f"| {row['corpus']} | {row['name']} | `{row['options'] or '(defaults)'}` | {row.get('steps', '')} | "
                     f"{row.get('bits_per_byte', row.get('error', ''))} | {cache.get('bits_per_byte', '')} | {chosen} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
