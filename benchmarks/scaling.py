"""Time and memory that grow linearly: `textgen diagnose --text` on 1, 10 and 50 MB of stories
(and on one long sentence without punctuation), and `textgen generate` against --max-tokens.
Each command runs in a fresh process; memory is its peak resident set. Prints JSON.

    .venv/bin/python benchmarks/scaling.py                  # about 4 minutes on 2 cores
    .venv/bin/python benchmarks/scaling.py --sizes 1,10     # quicker

The corpora are written by the project's own story generator (little-stories, new seeds),
so nothing outside the repository is needed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import textgen_command  # noqa: E402


def peak_of(arguments: list[str]) -> dict:
    """Like measured, but in a wrapper process so the peak is this command's alone."""
    code = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
            "r = subprocess.run(sys.argv[1:], capture_output=True); "
            "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)")
    done = subprocess.run([sys.executable, "-c", code, *textgen_command(), *arguments], capture_output=True, text=True)
    seconds, peak, code_ = done.stdout.split()
    if code_ != "0":
        raise SystemExit(f"error: textgen {' '.join(arguments)} exited {code_}")
    return {"seconds": round(float(seconds), 2), "peak_rss_mib": round(int(peak) / 1024, 1)}


def write_corpus(path: Path, megabytes: float) -> int:
    """Generated little stories up to `megabytes`, separated by blank lines."""
    from textgen.data.storybook import generate_stories

    target, written = int(megabytes * 1e6), 0
    with open(path, "w", encoding="utf-8") as file:
        seed = 100
        while written < target:
            for story in generate_stories("little-stories", seed=seed):
                file.write(story + "\n\n")
                written += len(story.encode("utf-8")) + 2
                if written >= target:
                    break
            seed += 1
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10,50", help="corpus sizes in MB")
    parser.add_argument("--tokens", default="1000,2000,4000,8000", help="--max-tokens values for generate")
    args = parser.parse_args()
    report: dict = {"benchmark": "scaling", "diagnose": [], "long_sentence": [], "generate": []}
    with tempfile.TemporaryDirectory(prefix="textgen-scaling-") as folder:
        work = Path(folder)
        for size in [float(part) for part in args.sizes.split(",") if part]:
            corpus = work / f"stories-{size:g}MB.txt"
            written = write_corpus(corpus, size)
            row = {"megabytes": round(written / 1e6, 2), **peak_of(["diagnose", "--text", str(corpus), "--json"])}
            row["seconds_per_mb"] = round(row["seconds"] / (written / 1e6), 2)
            report["diagnose"].append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
        for kilobytes in (20, 40, 80):
            words = " ".join(["and the little dog ran to the park with the cat"] * (kilobytes * 1000 // 48))
            sentence = work / f"sentence-{kilobytes}kB.txt"
            sentence.write_text(words + "\n", encoding="utf-8")
            report["long_sentence"].append({"kilobytes": kilobytes, **peak_of(["diagnose", "--text", str(sentence), "--json"])})
        # a tiny model: generation time is then per-token overhead, which must not grow with length
        corpus = work / "small.txt"
        write_corpus(corpus, 0.3)
        model = work / "model"
        subprocess.run(textgen_command() + ["train", str(corpus), "--out", str(model), "--max-steps", "5", "--hidden-size", "64",
                                            "--embed-dim", "32", "--vocab-size", "400"], capture_output=True, check=True)
        for tokens in [int(part) for part in args.tokens.split(",") if part]:
            row = {"max_tokens": tokens, **peak_of(["generate", str(model), "--max-tokens", str(tokens), "--ban", "</s>",
                                                    "--no-repeat-ngram", "3", "--stop", "THE END"])}
            row["milliseconds_per_token"] = round(1000 * row["seconds"] / tokens, 3)
            report["generate"].append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
