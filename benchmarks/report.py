"""The results table of `make bench`, written from the run itself (README.md and BENCHMARKS.md).

Two commands:

    python benchmarks/report.py run --out .bench/results --name first-story -- python benchmarks/first_story.py
        runs one benchmark, prints its JSON as before, and keeps a record of it in OUT/NAME.json: its output
        (JSON, or JSON Lines as a list), the command, how long it took, when it ended and on which machine;
    python benchmarks/report.py table .bench/results --write README.md --write BENCHMARKS.md
        reads the records and writes the table between the files' `<!-- bench-table:start -->` and
        `<!-- bench-table:end -->` lines (README: what, result, target, machine; BENCHMARKS.md adds the
        command, the date and the step's time). Without --write it prints the BENCHMARKS.md form.

`make bench` runs every step through `run` and ends with `table`, so the README's table is the run's.
The source of `table` can also be a manifest (a .json file: {"steps": {NAME: {"file", "command", "machine",
"date", "seconds"}}}) naming results kept in the repository: benchmarks/results/current.json is the table the
README shows now, assembled from dated runs, each row naming its machine.

The standard library and textgen's atomic writer only (no torch): it runs in a second and in the tests.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout's textgen, for a system Python too

from textgen.errors import TextgenError  # noqa: E402  (torch-free, as is the writer below)
from textgen.modeldir.atomic import write_text  # noqa: E402

START, END = "<!-- bench-table:start -->", "<!-- bench-table:end -->"
# the order the table reads in: what a person trains, then what it writes, then the rest (a step's name ends in its
# budget where it has one, e.g. peers-tinystories-300s)
FOLDS = 4  # benchmarks/peers.py's CLASSICS_FOLDS: the folds' targets are judged on a run of all of them
ORDER = ("peers-tinystories", "peers-classics-folds", "peers-classics", "first-story", "generation-speed-default-command",
         "generation-speed", "story-quality", "cast", "library-defaults", "max-time", "classify", "explorer-load", "scaling",
         "long-inputs", "detectors")
BUDGET = r"-(\d+)s(?![a-z0-9])"  # peers-tinystories-300s, peers-tinystories-300s-xeon


class ReportError(Exception):
    """Bad input: one line for the user, exit code 2."""


@dataclass
class Row:
    what: str
    result: str
    target: str = ""
    met: bool | None = None
    brief: bool = True  # in README.md's table too (False: BENCHMARKS.md's only)


def judged(parts: list[tuple[str, bool | None]]) -> str:
    """Several targets of one row, each judged: '≤ 0.85 / ≤ 0.75: met / **not met**'."""
    return " / ".join(target for target, _ in parts) + ": " + " / ".join(
        "not measured" if met is None else "met" if met else "**not met**" for _, met in parts)


@dataclass
class Step:
    name: str
    output: object
    command: str
    machine: str
    date: str
    seconds: float | None
    only: tuple[str, ...] = ()  # a manifest's choice of this run's rows (the start of their "what"); all when empty


# --- recording a step -------------------------------------------------------------------------------------------


def proc_field(path: str, key: str) -> str | None:
    """The value of the first `key:` line of a /proc file (None where there is none or no such file)."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return None
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith(key)), None)


def cpu_name() -> str:
    """The CPU's model name (Linux), else what platform says; peers.py's records name it the same way."""
    return proc_field("/proc/cpuinfo", "model name") or platform.processor() or platform.machine()


def machine() -> dict:
    """The CPU's name, cores, memory and torch's version, read without importing torch."""
    memory = proc_field("/proc/meminfo", "MemTotal")
    memory = round(int(memory.split()[0]) / 1024 / 1024, 1) if memory else None
    try:
        from importlib.metadata import version

        torch = version("torch")
    except Exception:  # not installed: the record says so
        torch = None
    return {"cpu": cpu_name(), "cores": os.cpu_count(), "memory_gib": memory, "torch": torch, "python": platform.python_version()}


def parse_output(text: str) -> object:
    """A benchmark's stdout: one JSON document, or JSON Lines (a list)."""
    text = text.strip()
    if not text:
        raise ValueError("it printed nothing")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]



def run_step(out: Path, name: str, command: list[str]) -> int:
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]*", name):
        raise ReportError(f"--name {name!r}: use lower-case letters, digits, '-' and '.' (e.g. peers-tinystories-300s)")
    if not command:
        raise ReportError("no command after --: give the benchmark to run, e.g. -- python benchmarks/first_story.py")
    started = time.perf_counter()
    try:
        process = subprocess.run(command, stdout=subprocess.PIPE, text=True)  # stderr (progress) goes straight through
    except OSError as error:
        raise ReportError(f"cannot run {command[0]!r}: {error.strerror}; check the command after --") from None
    seconds = round(time.perf_counter() - started, 1)
    sys.stdout.write(process.stdout)
    sys.stdout.flush()
    try:
        output = parse_output(process.stdout)
    except (ValueError, json.JSONDecodeError) as error:
        print(f"error: step {name} printed no JSON ({error}); its record was not written", file=sys.stderr)
        return process.returncode or 2
    record = {"step": name, "command": shlex.join(command), "seconds": seconds,
              "finished": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
              "machine": machine(), "exit_code": process.returncode, "output": output}
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / f"{name}.json", json.dumps(record, indent=1) + "\n")
    return process.returncode


# --- reading records --------------------------------------------------------------------------------------------


def machine_words(found: object) -> str:
    """'2-core AMD EPYC' from a record's machine, or the manifest's words as they are."""
    if isinstance(found, str):
        return found
    if not isinstance(found, dict):
        return "unknown"
    cpu = re.sub(r"\((R|TM)\)|\bProcessor\b|\bCPU\b|@.*$", "", str(found.get("cpu") or "unknown CPU"))
    cpu = re.sub(r"\s+", " ", cpu).strip()
    cores = found.get("cores") or found.get("cpus")
    return f"{cores}-core {cpu}" if cores else cpu


def load_output(path: Path) -> object:
    try:
        return parse_output(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ReportError(f"cannot read {path}: {error.strerror}") from None
    except (ValueError, json.JSONDecodeError) as error:
        raise ReportError(f"{path} is not JSON or JSON Lines ({error}): keep a benchmark's output as it printed it") from None


def document(path: Path, index: int) -> object:
    """The INDEXth JSON document of a whole `make bench` output kept as it printed (make's command lines between
    documents that start with a line "{" and end with a line "}")."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise ReportError(f"cannot read {path}: {error.strerror}") from None
    found, current = [], None
    for line in lines:
        if line == "{":
            current = [line]
        elif current is not None:
            current.append(line)
            if line == "}":
                found.append("\n".join(current))
                current = None
    if not isinstance(index, int) or not 0 <= index < len(found):
        raise ReportError(f"{path} holds {len(found)} JSON documents: \"document\" {index!r} is not one of 0 to {len(found) - 1}")
    return json.loads(found[index])


def load_steps(source: Path, root: Path) -> list[Step]:
    """The records of a run folder, or the steps a manifest names (paths in it are relative to ROOT)."""
    steps = []
    if source.is_dir():
        files = sorted(source.glob("*.json"))
        if not files:
            raise ReportError(f"{source} holds no step records: run `make bench` (or report.py run) first")
        for file in files:
            record = load_output(file)
            if not isinstance(record, dict) or "output" not in record or "step" not in record:
                raise ReportError(f"{file} is not a step record of report.py run: remove it from {source}")
            steps.append(Step(record["step"], record["output"], record.get("command", ""), machine_words(record.get("machine")),
                              str(record.get("finished", ""))[:10], record.get("seconds")))
    elif source.is_file():
        manifest = load_output(source)
        entries = manifest.get("steps") if isinstance(manifest, dict) else None
        if not isinstance(entries, dict) or not entries:
            raise ReportError(f"{source} is not a manifest: it needs {{\"steps\": {{NAME: {{\"file\": ...}}}}}}")
        for name, entry in entries.items():
            if not isinstance(entry, dict) or not entry.get("file"):
                raise ReportError(f"{source}: step {name!r} names no \"file\"")
            output = (load_output(root / entry["file"]) if "document" not in entry
                      else document(root / entry["file"], entry["document"]))
            steps.append(Step(name, output, entry.get("command", ""), entry.get("machine", "unknown"),
                              entry.get("date", ""), entry.get("seconds"), tuple(entry.get("only", ()))))
    else:
        raise ReportError(f"{source} does not exist: give the folder `make bench` wrote (.bench/results) or a manifest")
    return steps


# --- rows -------------------------------------------------------------------------------------------------------


def number(value: float, places: int = 3) -> str:
    return f"{value:,.{places}f}"


def at_most(value: float | None, bound: float, places: int = 2) -> tuple[str, bool | None]:
    return f"≤ {bound:.{places}f}", (None if value is None else value <= bound)


def budget(name: str) -> str:
    found = re.search(BUDGET, name)
    return f"{int(found.group(1)):,} s" if found else "its budget"


def systems(rows: dict) -> tuple[dict | None, list[dict], dict | None]:
    """textgen's row, word_language_model's rows and nanoGPT's row of one corpus."""
    textgen = next((row for row in rows.values() if row.get("system") == "textgen"), None)
    peers = [row for row in rows.values() if row.get("system") == "word_language_model"]
    nanogpt = next((row for row in rows.values() if row.get("system") == "nanoGPT"), None)
    return textgen, peers, nanogpt


def bpb(row: dict | None) -> float | None:
    value = (row or {}).get("bits_per_byte")
    return value if isinstance(value, (int, float)) else None


def cached(row: dict | None) -> float | None:
    cache = (row or {}).get("cache")
    return bpb(cache) if isinstance(cache, dict) else None


def scored(value: float | None, row: dict | None) -> str:
    if value is not None:
        return number(value, 3)
    if row is None or "skipped" in row:
        return "skipped"
    return "no model" if "error" in row else "no score"


def fold_words(folds: dict) -> str:
    """'classics folds 1-4 (two whole books ...)' or 'classics fold 1 (...)': which folds a run holds."""
    numbers = sorted(int(name.removeprefix("classics-fold")) for name in folds if name.removeprefix("classics-fold").isdigit())
    span = (f"{numbers[0]}-{numbers[-1]}" if numbers == list(range(numbers[0], numbers[-1] + 1)) else
            ", ".join(map(str, numbers))) if len(numbers) > 1 else "".join(map(str, numbers))
    return f"classics fold{'s' if len(numbers) > 1 else ''} {span} (two whole books held out for test in each)"


def peers_rows(step: Step) -> list[Row]:
    output = step.output
    rows = []
    folds = {name: entry for name, entry in output.get("corpora", {}).items() if name.startswith("classics-fold")}
    for corpus, entry in output.get("corpora", {}).items():
        if corpus in folds:
            continue
        textgen, peers, nanogpt = systems(entry.get("rows", {}))
        best = min((row for row in peers if bpb(row) is not None), key=bpb, default=peers[0] if peers else None)
        title = "TinyStories" if corpus == "tinystories" else "the classics (eight books; Alice valid, Oz test)" \
            if corpus == "classics" else corpus
        mine = scored(bpb(textgen), textgen) + (f" ({number(cached(textgen))} with its cache)" if cached(textgen) else "")
        rows.append(Row(f"{title}, {budget(step.name)}: test bits per byte, textgen's default command / "
                        f"word_language_model's best configuration / nanoGPT's CPU recipe",
                        f"**{mine}** / {scored(bpb(best), best)} / {scored(bpb(nanogpt), nanogpt)}", brief=False))
        tinystories = corpus == "tinystories"
        ratios = [(peer, entry[key], bound) for key, peer, bound in (
            ("ratio_to_best_peer", "word_language_model", 0.85 if tinystories else 0.90),
            ("ratio_to_nanogpt", "nanoGPT", 0.75 if tinystories else None)) if key in entry]
        if ratios:
            parts = [at_most(value, bound) for _, value, bound in ratios if bound]
            rows.append(Row(f"{title}, {budget(step.name)}: textgen ÷ " + " / ÷ ".join(peer for peer, _, _ in ratios),
                            " / ".join(f"**{value:.3f} ×**" for _, value, _ in ratios), judged(parts) if parts else ""))
    if folds:
        ratios = {}
        for name, entry in folds.items():
            textgen, peers, nanogpt = systems(entry.get("rows", {}))
            scores = [bpb(row) for row in [*peers, nanogpt] if bpb(row) is not None]
            if bpb(textgen) is not None and scores:
                ratios[name] = bpb(textgen) / min(scores)
        if not ratios:
            mine = [systems(entry.get("rows", {}))[0] for entry in folds.values()]
            scores = [scored(bpb(row), row) for row in mine]
            rows.append(Row(f"{fold_words(folds)}, {budget(step.name)}: textgen's test "
                            f"bits per byte", " / ".join(scores) + " (no peer left a model to compare with)",
                            "mean ≤ 0.90, none above 0.95", None))
        else:
            mean, largest = sum(ratios.values()) / len(ratios), max(ratios.values())
            left = [name.removeprefix("classics-") for name in folds if name not in ratios]
            every = " / ".join(f"{value:.3f}" for value in ratios.values())
            whole = len(folds) >= FOLDS  # a mean over some of the folds is reported, not judged
            one = len(folds) == 1  # a run of one fold (--corpora classics-fold1): its ratio alone
            rows.append(Row(f"{fold_words(folds)}, {budget(step.name)}: textgen ÷ "
                            f"the best peer{'' if one else ' of each fold'}",
                            (f"**{mean:.3f} ×**" if one else f"mean **{mean:.3f} ×**, largest {largest:.3f} ({every})")
                            + (f"; no peer scored on {', '.join(left)}" if left else ""),
                            "mean ≤ 0.90, none above 0.95" + ("" if whole else f" (judged on all {FOLDS} folds)"),
                            (len(ratios) == len(folds) and mean <= 0.90 and largest <= 0.95) if whole else None))
        for key, peer in (("ratio_to_best_peer", "word_language_model"), ("ratio_to_nanogpt", "nanoGPT")):
            summary = output.get("classics_folds", {}).get(key)
            missing = [name.removeprefix("classics-") for name in folds if key not in folds[name]]
            ran = any("skipped" not in row for entry in folds.values() for row in entry.get("rows", {}).values()
                      if row.get("system") == peer)
            if summary:
                rows.append(Row(f"the same folds: textgen ÷ {peer}", f"mean {summary['mean']:.3f} ×, largest "
                                f"{summary['largest']:.3f}" + (f" ({peer} left no model on {', '.join(missing)})" if missing else ""),
                                brief=False))
            elif ran:
                rows.append(Row(f"the same folds: textgen ÷ {peer}", f"no score: {peer} left no model on any fold", brief=False))
    throughput = output.get("throughput_bytes_per_second")
    if isinstance(throughput, dict) and "ratio_textgen_to_peer" in throughput:
        rows.append(Row(f"training throughput at the peer's shape ({throughput.get('shape', '2 x 200')})",
                        f"**{throughput['ratio_textgen_to_peer']:.1f} ×** the peer"))
    return rows


def first_story_rows(step: Step) -> list[Row]:
    output = step.output
    parts = [at_most_seconds(output["median_seconds"], output.get("target_seconds", 3.0))]
    result = f"**{output['median_seconds']:.2f} s**"
    if "default_over_fastest" in output:
        fastest = min(output.get("median_by_quantize", {}).items(), key=lambda item: item[1], default=("", 0))
        result += f"; {output['default_over_fastest']:.3f} × the fastest `--quantize` choice" + (
            f" ({fastest[0]}: {fastest[1]:.2f} s)" if fastest[0] else "")
        parts.append(at_most(output["default_over_fastest"], output.get("target_over_fastest", 1.1)))
    rows = [Row(f"the first story ({output.get('tokens', 200)} tokens, whole process, default flags), median", result, judged(parts))]
    if "import_torch_median_seconds" in output:
        rows.append(Row("`import torch` alone, for comparison", f"{output['import_torch_median_seconds']:.2f} s"
                        + ("" if output.get("default_imports_torch", True) else " (the default story never imports it)"), brief=False))
    return rows


def at_most_seconds(value: float, bound: float) -> tuple[str, bool]:
    return f"< {bound:g} s", value < bound


def median(value: object) -> float | None:
    if isinstance(value, dict):
        value = value.get("median")
    return value if isinstance(value, (int, float)) else None


def generation_rows(step: Step) -> list[Row]:
    rows = []
    model = str(step.output.get("model", "")).split(",")[0]
    for result in step.output.get("results", []):
        if result.get("mode") != "none":
            continue
        command = median(result.get("share_of_bytes_read_bound_batch1_default_command_paired"))
        rules = median(result.get("share_of_bytes_read_bound_batch1_default_rules_paired"))
        if command is not None:
            rows.append(Row(f"`textgen generate` at batch 1 with the default rules, the shipped model ({model})",
                            f"**{command:.0%}** of the memory bound over the bytes a step reads"
                            + (f"; {result['default_command_threads']}" if result.get("default_command_threads") else "")
                            + (f" (the same rules in a torch process: {rules:.0%})" if rules is not None else ""),
                            *at_least(command, 0.50)))
        elif rules is not None and step.name.startswith("generation-speed-default-command"):
            rows.append(Row(f"`textgen generate` at batch 1 with the default rules, the shipped model ({model}), in a torch "
                            "process (before generation left torch)", f"**{rules:.0%}** of the memory bound over the bytes a "
                            "step reads", *at_least(rules, 0.50)))
        else:
            share = median(result.get("share_of_bytes_read_bound_batch1_paired")) or median(result.get("share_of_bound_batch1"))
            rows.append(Row(f"generation, float32, batch 1 ({model})", f"**{result['tokens_per_s_batch1']:,.0f}** tokens/s"
                            + (f", {share:.0%} of the memory bound" if share is not None else ""),
                            *(at_least(share, 0.50) if share is not None else ("", None)), brief=False))
    return rows


def at_least(value: float, bound: float) -> tuple[str, bool]:
    return f"≥ {bound:.0%}", value >= bound


def story_quality_rows(step: Step) -> list[Row]:
    model, human = step.output["model_metrics"], step.output["human_metrics"]
    targets = step.output.get("targets", {})
    rows = [Row("the shipped model's stories: invented words per 1,000 / doubled words per 1,000 (the human test stories)",
                f"**{model['invented_per_1000_words']:.2f} / {model['immediate-repeat_per_1000_words']:.2f}** "
                f"({human['invented_per_1000_words']:.2f} / {human['immediate-repeat_per_1000_words']:.2f})",
                "≤ 2 / ≤ human", all(targets[key]["met"] for key in targets if key.startswith(("invented", "immediate")))),
            Row("names per story, both definitions (human)", f"**{model['names_per_story']:.2f} / "
                f"{model['speech_aware_names_per_story']:.2f}** ({human['names_per_story']:.2f} / "
                f"{human['speech_aware_names_per_story']:.2f})", "≤ 1.2 × human",
                all(targets[key]["met"] for key in targets if "names" in key)),
            Row("distinct-2 of its stories (human)", f"**{model['distinct_2']:.3f}** ({human['distinct_2']:.3f})",
                "≥ 0.9 × human", all(targets[key]["met"] for key in targets if key.startswith("distinct")), brief=False)]
    if "test_bits_per_byte" in step.output:
        rows.append(Row("the shipped model on the TinyStories test set, bits per byte (as textgen evaluate counts)",
                        f"**{step.output['test_bits_per_byte']:.3f}**", brief=False))
    return rows


def cast_rows(step: Step) -> list[Row]:
    human = step.output["human"]["names_per_story"]
    default = next((row for name, row in step.output["rows"].items() if name.startswith("default")), None)
    if default is None:
        return []
    return [Row("names per story, a 30-minute TinyStories model at the default settings (human)",
                f"**{default['names_per_story']:.2f}** ({human:.2f})", "≤ 1.2 × human", default["names_per_story"] <= 1.2 * human,
                brief=False)]


def library_defaults_rows(step: Step) -> list[Row]:
    best = step.output["best"]
    return [Row(f"library sampling defaults over {len(step.output['models'])} models, chosen by measurement",
                f"temperature **{best['temperature']:g}**, min-p {best['min_p']:g}, cast size {best['cast_size']}"
                + ("" if step.output.get("library_defaults_are_best") else " (the library's defaults when it ran: "
                   + ", ".join(f"{key} {value:g}" for key, value in step.output["library_defaults"].items()) + ")"), brief=False)]


def max_time_rows(step: Step) -> list[Row]:
    rows = step.output["rows"]
    budgets = sorted({row["budget_seconds"] for row in rows})
    return [Row(f"`textgen train --max-time {' / '.join(f'{value:g}s' for value in budgets)}`: the whole command's wall time, "
                + " / ".join("a busy machine" if row["busy"] else "an idle machine" for row in rows),
                " / ".join(f"**{row['wall_seconds']:.1f} s**" for row in rows) + " ("
                + " / ".join(f"{row['ratio']:.3f}" for row in rows) + " × the budget)",
                "within 5%", all(bool(row.get("within_5_percent")) for row in rows))]


def classify_rows(step: Step) -> list[Row]:
    tests = {row["name"]: row["test"] for row in step.output["rows"]}
    lstm = step.output.get("targets", {}).get("lstm", "lstm-lm")
    if lstm not in tests or "tfidf-lr" not in tests:
        return []
    ratio = tests[lstm]["macro_f1"] / tests["tfidf-lr"]["macro_f1"]
    return [Row(f"review → rating, {tests[lstm]['examples']} test reviews, macro-F1: the LSTM / TF-IDF + logistic regression",
                f"**{tests[lstm]['macro_f1']:.3f}** / {tests['tfidf-lr']['macro_f1']:.3f} ({ratio:.3f} ×)", "≥ 1 × TF-IDF", ratio >= 1),
            Row("the same, mean absolute error in stars", f"**{tests[lstm]['mae']:.3f}** / {tests['tfidf-lr']['mae']:.3f}", brief=False)]


def explorer_rows(step: Step) -> list[Row]:
    output = step.output
    return [Row(f"explorer, {output['clients']} clients for {output['seconds']:g} s on `/api/next`",
                f"**{output['requests_per_s']:g}** requests/s, p50 {output['latency_ms']['p50'] / 1000:.2f} s, "
                f"{output['errors']} errors", "no error", output["errors"] == 0, brief=False)]


def scaling_rows(step: Step) -> list[Row]:
    diagnose = step.output.get("diagnose", [])
    if not diagnose:
        return []
    sizes = " / ".join(f"{row['megabytes']:g}" for row in diagnose)
    per_mb = [row["seconds_per_mb"] for row in diagnose]
    return [Row(f"`diagnose --text` on {sizes} MB", " / ".join(f"{row['seconds']:.1f}" for row in diagnose) + " s, peak "
                + " / ".join(f"{row['peak_rss_mib']:.0f}" for row in diagnose) + " MiB", "linear in the size",
                max(per_mb[1:] or per_mb) <= 1.25 * min(per_mb), brief=False)]


def long_inputs_rows(step: Step) -> list[Row]:
    rows = step.output if isinstance(step.output, list) else []
    if not rows:
        return []
    longest = max(row["tokens"] for row in rows)
    cases = [row for row in rows if row["tokens"] == longest]
    failed = [row["case"] for row in cases if row.get("failed") or row.get("timed_out")]
    return [Row(f"the longest inputs ({longest:,} tokens): " + " / ".join(row["case"] for row in cases),
                " / ".join("failed" if row in failed else f"{row['seconds']:.1f} s" for row in cases)
                + f", peak {max(row.get('peak_rss_mb', 0) for row in cases):.0f} MB", "every case finishes", not failed, brief=False)]


def detectors_rows(step: Step) -> list[Row]:
    sets = step.output["sets"]
    scores = [score for entry in sets for score in entry["scores"].values()]
    low = min(min(score["precision"], score["recall"]) for score in scores)
    return [Row(f"the repetition detectors on the {len(sets)} labelled case sets: the lowest precision or recall",
                f"**{low:.2f}**", "1.00", low >= 1.0, brief=False)]


BUILDERS = {"peers": peers_rows, "first-story": first_story_rows, "generation-speed": generation_rows,
            "generation-speed-default-command": generation_rows, "story-quality": story_quality_rows, "cast": cast_rows,
            "library-defaults": library_defaults_rows, "max-time": max_time_rows, "classify": classify_rows,
            "explorer-load": explorer_rows, "scaling": scaling_rows, "long-inputs": long_inputs_rows, "detectors": detectors_rows}


def builder(name: str):
    """The rows of a step by its name: peers-tinystories-300s, first-story, first-story-xeon (a manifest may add a
    machine's name to tell two runs of one step apart)."""
    for key in sorted(BUILDERS, key=len, reverse=True):
        if name == key or name.startswith(key + "-"):
            return BUILDERS[key]
    return None


def rank(step: Step) -> tuple:
    kind = next((index for index, prefix in enumerate(ORDER) if step.name == prefix or step.name.startswith(prefix + "-")), len(ORDER))
    seconds = re.search(BUDGET, step.name)
    return kind, int(seconds.group(1)) if seconds else 0, step.name


# --- the table --------------------------------------------------------------------------------------------------


def short_command(command: str) -> str:
    """The command with the run's own paths replaced by the names the docs use (PEER, NANOGPT, SHARED)."""
    for flag, placeholder in (("--peer", "PEER"), ("--nanogpt", "NANOGPT"), ("--shared", "SHARED")):
        command = re.sub(rf"{flag} \S+", f"{flag} {placeholder}", command)
    command = re.sub(r"\S*/\.venv/bin/python\S*|\S*/bin/python3?(\.\d+)?\b", ".venv/bin/python", command)
    return command.replace("|", "\\|")


def duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


def verdict(row: Row) -> str:
    if not row.target:
        return ""
    return row.target + ("" if row.met is None else ": met" if row.met else ": **not met**")


def render(steps: list[Step], full: bool) -> str:
    steps = sorted(steps, key=rank)
    unknown = [step.name for step in steps if builder(step.name) is None]
    if unknown:
        raise ReportError(f"no table rows are known for step {unknown[0]!r}: name it as make bench does "
                          f"(e.g. peers-tinystories-300s, first-story)")
    lines = ["| what | result | target | " + ("machine | date | step time | command |" if full else "machine, date |"),
             "|---|---|---|---|" + ("---|---:|---|" if full else "")]
    failed, table = [], []
    for step in steps:
        try:
            rows = builder(step.name)(step)
        except (KeyError, TypeError, ValueError, AttributeError, ZeroDivisionError) as error:
            failed.append(f"{step.name} ({type(error).__name__}: {error})")
            continue
        for row in rows:
            if step.only and not row.what.startswith(step.only) or not (full or row.brief):
                continue
            cells = [row.what, row.result, row.target, step.machine, step.date,
                     duration(step.seconds) if step.seconds else "", f"`{short_command(step.command)}`" if step.command else ""]
            last = next((entry for entry in table if entry[0][0] == row.what and entry[0][2:4] == cells[2:4]), None)
            if last:
                # the same measurement again (another run of one step): one row, every run's result
                last[0][1] += f"; {row.result}"
                last[0][4] = last[0][4] if last[0][4] == step.date else f"{last[0][4]}, {step.date}"
                last[1].append(row.met)
            else:
                table.append((cells, [row.met]))
    if failed:
        raise ReportError(f"step {failed[0]} has output this report cannot read: run the step again with this checkout")
    for cells, met in table:
        cells[2] = verdict(Row("", "", cells[2], None if None in met else all(met)))
        if not full:
            cells = [*cells[:3], f"{cells[3]}, {cells[4]}" if cells[4] else cells[3]]
        lines.append("| " + " | ".join(cell.replace("\n", " ") for cell in cells) + " |")
    timed = [step.seconds for step in steps if step.seconds]
    machines = sorted({step.machine for step in steps})
    dates = sorted({step.date for step in steps if step.date})
    when = dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}" if dates else "undated runs"
    about = (f"Written by `benchmarks/report.py` from {len(steps)} benchmark steps ({when}; "
             f"{' and '.join(machines)})" + (f"; the steps took {duration(sum(timed))} in all" if len(timed) == len(steps) else
                                              f"; {len(timed)} of them timed, {duration(sum(timed))} together" if timed else "")
             + ". A row's target is the issue's; \"not met\" is said where it is not.")
    return "\n".join([about, "", *lines])


def replace_block(path: Path, table: str) -> None:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ReportError(f"cannot read {path}: {error.strerror}") from None
    if text.count(START) != 1 or text.count(END) != 1 or text.index(START) > text.index(END):
        raise ReportError(f"{path} needs one {START} line and one {END} line after it, where the table goes")
    before, rest = text.split(START)
    after = rest.split(END)[1]
    write_text(path, f"{before}{START}\n{table}\n{END}{after}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="e.g. report.py table benchmarks/results/current.json --write README.md --write BENCHMARKS.md")
    commands = parser.add_subparsers(dest="what", required=True)
    run = commands.add_parser("run", help="run one benchmark and keep its record")
    run.add_argument("--out", type=Path, required=True, help="the run's folder of records (make bench: .bench/results)")
    run.add_argument("--name", required=True, help="the step's name, e.g. peers-tinystories-300s")
    run.add_argument("command", nargs=argparse.REMAINDER, help="-- the benchmark's command")
    table = commands.add_parser("table", help="the results table from a run's records or a manifest")
    table.add_argument("source", type=Path, help="a folder of records (.bench/results) or a manifest (.json)")
    table.add_argument("--write", type=Path, action="append", default=[],
                       help="replace the table between the bench-table lines of this file (README.md: the short form)")
    table.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent,
                       help="where a manifest's paths start [default: this checkout]")
    args = parser.parse_args(argv)
    try:
        if args.what == "run":
            command = args.command[1:] if args.command[:1] == ["--"] else args.command
            return run_step(args.out, args.name, command)
        steps = load_steps(args.source, args.root)
        if not args.write:
            print(render(steps, full=True))
        for path in args.write:
            replace_block(path, render(steps, full=path.name != "README.md"))
            print(f"wrote the table of {len(steps)} steps into {path}", file=sys.stderr)
        return 0
    except (ReportError, TextgenError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
