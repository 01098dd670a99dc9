"""Wall time and peak memory of the library's long-input paths (issue 32), one JSON row per case.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/long_inputs.py                 # 1k, 10k and 40k tokens
    .venv/bin/python benchmarks/long_inputs.py --tokens 1000 --model tinystories

Cases, each at every size and each in a fresh process (its peak RSS is that process's own
getrusage maximum; model loading and imports are included in both numbers):
  next            the next words after N tokens of real text, with the model's neural cache
                  (the shipped model's textgen.json chose one: `next` uses it by default)
  diagnose-loop   diagnose "a." repeated to N tokens as one story (a finding per sentence;
                  the first MAX_ATTRIBUTIONS are attributed)
  diagnose-text   diagnose N tokens of real stories as one story
  gates           the gate report of N tokens of real text (over gates.MAX_TOKENS it is refused:
                  the row says so, with the time the refusal took)
The work inside the process (without loading) is `work_seconds`. Every case must finish: a
case that runs past --timeout is reported as such. The real text is --corpus (default: the
TinyStories validation split under --shared where it exists, else the package's little stories).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "corpora"  # the folder holding tinystories/ (--shared)
CASES = ("next", "diagnose-loop", "diagnose-text", "gates")


def real_text(tokenizer, corpus: str | None, tokens: int) -> str:
    """Stories joined by line breaks until they reach `tokens` tokens, cut to that many."""
    import itertools

    if corpus is not None:
        from textgen.data.corpus import iter_stories

        stories = iter_stories(corpus)
    else:
        from textgen.data.storybook import generate_stories

        stories = generate_stories("little-stories")
    parts, ids = [], []
    for story in itertools.cycle(list(itertools.islice(stories, 20_000))):
        parts.append(story)
        ids += tokenizer.encode(story + "\n")
        if len(ids) >= tokens:
            break
    return tokenizer.decode(ids[:tokens])


def loop_text(tokenizer, tokens: int) -> str:
    """"a." repeated to about `tokens` tokens."""
    per = max(1, len(tokenizer.encode("a." * 100)) / 100)
    return "a." * max(1, round(tokens / per))


def run_case(case: str, model_name: str, tokens: int, corpus: str | None) -> dict:
    """One case in this process; returns its details."""
    import torch

    import textgen
    from textgen.model.neural_cache import resolve_cache, with_cache

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    loaded = textgen.load(model_name)
    tokenizer = loaded.tokenizer
    text = loop_text(tokenizer, tokens) if case == "diagnose-loop" else real_text(tokenizer, corpus, tokens)
    detail: dict = {"text_tokens": len(tokenizer.encode(text))}
    started = time.perf_counter()
    if case == "next":
        from textgen.analysis.next_words import next_words

        cache = resolve_cache(loaded.cache)  # what `textgen next` uses by default
        result = next_words(with_cache(loaded.model, cache), tokenizer, text.rstrip(" "), 10)
        detail.update(cache=cache.to_dict() if cache else None, top_word=result.words[0].word, expansions=result.expansions)
    elif case.startswith("diagnose"):
        from textgen.analysis.diagnosis import diagnose

        report = diagnose(loaded, [text])  # --text: the model's cache scores the text, as the CLI does
        detail.update(findings=len(report.findings), attributed=sum(f["attribution"] is not None for f in report.findings),
                      notes=report.notes)
    elif case == "gates":
        from textgen.errors import TextgenError
        from textgen.analysis.gates import gate_report

        try:
            report = gate_report(loaded.model, tokenizer, text)
            heatmaps = report.heatmaps()
            detail.update(words=len(report.words), heatmap_words=len(heatmaps["words"]),
                          json_bytes=len(json.dumps({**report.to_dict(), "heatmaps": heatmaps})))
        except TextgenError as error:
            detail.update(refused=str(error))
    else:
        raise SystemExit(f"unknown case {case!r}: use one of {', '.join(CASES)}")
    detail["work_seconds"] = round(time.perf_counter() - started, 2)
    return detail


def measured(case: str, model_name: str, tokens: int, corpus: str | None, timeout: float) -> dict:
    """The case in a fresh process: its wall time and the peak RSS the process reports of itself."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", case, "--model", model_name, "--tokens", str(tokens)]
    if corpus:
        command += ["--corpus", corpus]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
                                    "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])})
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return {"case": case, "tokens": tokens, "timed_out": True, "seconds": round(time.perf_counter() - started, 1)}
    seconds = round(time.perf_counter() - started, 2)
    row = {"case": case, "tokens": tokens, "seconds": seconds}
    if process.returncode != 0:
        return {**row, "failed": stderr.strip()[-500:]}
    row.update(json.loads(stdout.strip().splitlines()[-1]))
    row["peak_rss_mb"] = round(row.pop("rss_kb") / 1024, 1)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tinystories", help="A model directory or shipped name.")
    parser.add_argument("--tokens", type=int, nargs="+", default=[1_000, 10_000, 40_000])
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument("--corpus", default=None, help="Real text to read (any corpus format) [default: "
                        "SHARED/tinystories/valid.txt, else the bundled little stories].")
    parser.add_argument("--shared", type=Path, default=SHARED, help="The folder holding tinystories/ [default: ../shared/corpora].")
    parser.add_argument("--timeout", type=float, default=900.0, help="Seconds a case may take before it counts as a failure.")
    parser.add_argument("--child", choices=CASES, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        import resource

        import textgen

        detail = run_case(options.child, options.model, options.tokens[0], options.corpus)
        detail["textgen"] = str(Path(textgen.__file__).resolve().parent.parent)  # which checkout ran
        detail["rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # Linux: kilobytes
        print(json.dumps(detail))
        return
    if options.corpus is None and (options.shared / "tinystories" / "valid.txt").is_file():
        options.corpus = str(options.shared / "tinystories" / "valid.txt")
    threads = os.environ.get("OMP_NUM_THREADS", "1")
    for tokens in options.tokens:
        for case in options.cases:
            row = measured(case, options.model, tokens, options.corpus, options.timeout)
            print(json.dumps({**row, "model": options.model, "omp_threads": threads}), flush=True)


if __name__ == "__main__":
    main()
