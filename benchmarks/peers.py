"""textgen against pytorch/examples `word_language_model` and karpathy/nanoGPT at equal wall-clock time, in one run.

Each system trains for the same number of seconds on the same files, one after the other
(never at once), and is scored on the same test file:
- bits per byte: total nats over the test file / ln 2 / the test file's UTF-8 bytes;
- word perplexity: exp(total nats / (whitespace words + lines of the test file)), the
  peer's own token count (it reads words and one end-of-line per line).
The peer's total nats are its printed test perplexity's log times that count; textgen's are
`textgen evaluate`'s loss times its tokens (the state carried over the whole file).

Corpora: `tinystories` (train/valid/test as shipped) and `classics` (eight books train, whole
books held out: Alice in Wonderland for validation, The Wonderful Wizard of Oz for test);
`classics-folds` runs four other splits of the classics (CLASSICS_FOLDS: two whole books test, one
or two valid, the rest train; the four test pairs disjoint) and reports every fold's ratios, their
mean and largest, and fold 4's apart: it was never used to choose a default.
Peer configurations: 2 x 200 tied, dropout 0.2 and 2 x 650 tied, dropout 0.5, both with the
peer's SGD lr 20, clip 0.25, batch 20, bptt 35, its learning rate divided by 4 whenever
validation does not improve, stopped by Ctrl-C (SIGINT) when the time is up, as its README
says to (it then tests the best model it saved). Without --peer the peer rows are skipped.
`ratio_to_best_peer` is textgen's bits per byte over the best word_language_model row's.
`test_words_outside_training`: the share of the test file's words found in neither train.txt nor
valid.txt. The peer's data.py puts the test file's words in its dictionary too, so to it each such
word is one choice among its vocabulary, where textgen (and nanoGPT) spell it out: 2.7% of
TinyStories' test words, 7-13% of the classics folds'.

nanoGPT (--nanogpt DIR, a karpathy/nanoGPT checkout; none of its code is in this repository): its
README's CPU recipe ("I only have a macbook": shakespeare_char config, 4 layers x 4 heads x 128,
block 64, batch 12, dropout 0) at character level on the same train/valid/test files, run as DIR/train.py
with command-line overrides; its iterations sized to --seconds by a short timing run, its checkpoint
scored with DIR/model.py over the test file in windows of 64 characters sliding by 32 (each character
once, with at least 32 characters of context after the first window). `ratio_to_nanogpt` is textgen's
bits per byte over nanoGPT's. Details in benchmarks/nanogpt_peer.py. Without --nanogpt its row is skipped.

Also: training throughput at the same shape (2 x 200, tied), alternating textgen and the
peer, in bytes of training text per second.

    .venv/bin/python benchmarks/peers.py --peer /path/to/examples/word_language_model   # about 40 minutes
    .venv/bin/python benchmarks/peers.py --peer /path/to/word_language_model --nanogpt /path/to/nanoGPT   # about 50 minutes
    .venv/bin/python benchmarks/peers.py --seconds 60 --corpora tinystories              # textgen rows only

Prints JSON on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nanogpt_peer

ROOT = Path(__file__).resolve().parent.parent
CLASSICS_VALID = ("alices_adventures_in_wonderland.txt",)
CLASSICS_TEST = ("wonderful_wizard_of_oz.txt",)
# folds of the classics for defaults that hold on splits nobody tuned on (issue 35): each holds out two whole books for
# test (the four test pairs are disjoint) and one or two for validation, the other books train. Fold 4 was never used
# to choose a default: it is the one reported at the end.
CLASSICS_FOLDS = {
    "classics-fold1": {"test": ("peter_pan.txt", "the_jungle_book.txt"), "valid": ("alices_adventures_in_wonderland.txt",)},
    "classics-fold2": {"test": ("andersens_fairy_tales.txt", "aesops_fables.txt"),
                       "valid": ("adventures_of_buster_bear.txt", "tale_of_peter_rabbit.txt")},
    "classics-fold3": {"test": ("stories_to_tell_to_children.txt", "wonderful_wizard_of_oz.txt"),
                       "valid": ("aesops_fables.txt",)},
    "classics-fold4": {"test": ("grimms_fairy_tales.txt", "adventures_of_buster_bear.txt"),
                       "valid": ("tale_of_peter_rabbit.txt", "stories_to_tell_to_children.txt")},
}
HELD_OUT_FOLD = "classics-fold4"
PEER_CONFIGS = {
    "word_language_model 2x200 tied dropout 0.2": ["--emsize", "200", "--nhid", "200", "--dropout", "0.2", "--tied"],
    "word_language_model 2x650 tied dropout 0.5": ["--emsize", "650", "--nhid", "650", "--dropout", "0.5", "--tied"],
}
PEER_SHAPE = {"emsize": 200, "nhid": 200}  # the throughput comparison's shape
NANOGPT_ROW = "nanoGPT 4 x 4 x 128, block 64, character level (README CPU recipe)"
TEST_LINE = re.compile(r"End of training \| test loss\s+([0-9.naninf]+) \| test ppl\s+([0-9.naninf]+)")
BATCH_LINE = re.compile(r"ms/batch\s+([0-9.]+)")


class BenchmarkError(Exception):
    """Bad input to the benchmark: one line, exit 2."""


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def textgen_command() -> list[str]:
    """The textgen console script beside this Python (the project's venv)."""
    script = Path(sys.executable).parent / "textgen"
    if not script.exists():
        raise BenchmarkError(f"no textgen script beside {sys.executable}: run `make venv` and use .venv/bin/python")
    return [str(script)]


def peer_dir(path: str | None) -> Path | None:
    """The word_language_model folder: the path itself or its word_language_model/ subfolder."""
    if path is None:
        return None
    given = Path(path)
    for folder in (given, given / "word_language_model"):
        main = folder / "main.py"
        if main.is_file() and (folder / "data.py").is_file() and (folder / "model.py").is_file() \
                and "RNNModel" in (folder / "model.py").read_text(errors="replace") \
                and "--tied" in main.read_text(errors="replace"):
            return folder
    raise BenchmarkError(f"--peer {path} is not a word_language_model checkout (no main.py, data.py and model.py with "
                         "RNNModel): fetch pytorch/examples and give its word_language_model folder")


def nanogpt_dir(path: str | None) -> Path | None:
    """The nanoGPT checkout: train.py, configurator.py, config/train_shakespeare_char.py and a model.py with GPT."""
    if path is None:
        return None
    problem = nanogpt_peer.checkout_problem(Path(path))
    if problem:
        raise BenchmarkError(f"--nanogpt {path} is not a nanoGPT checkout ({problem}): "
                             "fetch karpathy/nanoGPT and give its folder")
    return Path(path).resolve()


def run_nanogpt(checkout: Path, folder: Path, seconds: float, work: Path, label: str) -> dict:
    """nanoGPT's row (nanogpt_peer.run_nanogpt) with its test nats turned into this benchmark's scores."""
    row = nanogpt_peer.run_nanogpt(checkout, folder, seconds, work, label)
    if "test_nats" in row:
        row.update(scores(row["test_nats"], file_counts(folder / "test.txt")))
        row["test_nats"] = round(row["test_nats"], 1)
        say(f"[{label}] nanoGPT {row['bits_per_byte']} bits per byte after {row['iterations']} iterations "
            f"in {row['train_seconds']} s")
    elif "error" in row:
        say(f"[{label}] nanoGPT: {row['error']}")
    return row


def prepare_corpus(name: str, shared: Path, work: Path) -> Path:
    """A folder with train.txt, valid.txt and test.txt that both systems read."""
    folder = work / name
    folder.mkdir(parents=True, exist_ok=True)
    if name == "tinystories":
        source = shared / "tinystories"
        for split in ("train", "valid", "test"):
            if not (source / f"{split}.txt").is_file():
                raise BenchmarkError(f"{source / f'{split}.txt'} is missing: give --shared, the folder holding tinystories/")
            shutil.copyfile(source / f"{split}.txt", folder / f"{split}.txt")
    elif name == "tinystories-plus-v2":  # more training text (TinyStories V2); the same valid and test files
        source = shared / "tinystories"
        extra = shared / "tinystories-more" / "v2_train.txt"
        if not extra.is_file():
            raise BenchmarkError(f"{extra} is missing: give --shared, the folder holding tinystories-more/")
        for split in ("valid", "test"):
            shutil.copyfile(source / f"{split}.txt", folder / f"{split}.txt")
        with open(folder / "train.txt", "w", encoding="utf-8") as file:
            file.write((source / "train.txt").read_text(encoding="utf-8"))
            file.write(extra.read_text(encoding="utf-8"))
    elif name == "classics" or name in CLASSICS_FOLDS:
        source = shared / "classics"
        books = sorted(path.name for path in source.glob("*.txt")) if source.is_dir() else []
        valid, test = (CLASSICS_VALID, CLASSICS_TEST) if name == "classics" else (CLASSICS_FOLDS[name]["valid"],
                                                                                  CLASSICS_FOLDS[name]["test"])
        missing = [book for book in valid + test if book not in books]
        if missing:
            raise BenchmarkError(f"{source} lacks {', '.join(missing)}: give --shared, the folder holding classics/")
        groups = {"valid": valid, "test": test, "train": tuple(book for book in books if book not in valid + test)}
        for split, names in groups.items():
            text = "\n\n".join((source / book).read_text(encoding="utf-8").strip("\n") for book in names) + "\n"
            (folder / f"{split}.txt").write_text(text, encoding="utf-8")
    else:
        raise BenchmarkError(f"corpus {name!r} is unknown: use tinystories, tinystories-plus-v2, classics, classics-folds "
                             f"or one of {', '.join(CLASSICS_FOLDS)}")
    return folder


def file_counts(path: Path) -> dict:
    """UTF-8 bytes, and the peer's token count: whitespace words plus one end-of-line per line."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    return {"bytes": len(text.encode("utf-8")), "words_and_lines": sum(len(line.split()) + 1 for line in lines)}


def unseen_test_words(folder: Path) -> dict:
    """The test file's whitespace words that neither train.txt nor valid.txt holds. word_language_model's
    data.py builds its dictionary from all three files, so each of them is one choice of its softmax;
    textgen's open vocabulary has to spell them out from pieces."""
    seen = set()
    for split in ("train", "valid"):
        seen.update((folder / f"{split}.txt").read_text(encoding="utf-8").split())
    words = (folder / "test.txt").read_text(encoding="utf-8").split()
    unseen = [word for word in words if word not in seen]
    return {"share": round(len(unseen) / max(1, len(words)), 4), "words": len(unseen), "kinds": len(set(unseen))}


def scores(total_nats: float, counts: dict) -> dict:
    return {"bits_per_byte": round(total_nats / math.log(2) / counts["bytes"], 4),
            "word_perplexity": round(math.exp(min(700.0, total_nats / counts["words_and_lines"])), 2)}


CACHE_SETTINGS = ("theta", "weight", "size", "per_story")


def evaluate_scores(model: Path | str, test: Path, extra: list[str] | None = None) -> tuple[dict, dict, dict | None]:
    """`textgen evaluate MODEL TEST --json`, and its bits per byte and word perplexity counted as for the
    peer: (evaluate's JSON, the plain scores, the scores with the neural cache or None when it is off)."""
    arguments = ["evaluate", str(model), str(test), *(extra or []), "--json"]
    done = subprocess.run(textgen_command() + arguments, capture_output=True, text=True)
    if done.returncode != 0:
        raise BenchmarkError(f"textgen {shlex.join(arguments)} failed: {(done.stderr.strip().splitlines() or ['no output'])[-1]}")
    evaluated = json.loads(done.stdout)
    counts = file_counts(test)
    cache = evaluated.get("cache")  # evaluate reports the plain and the cached numbers apart
    return (evaluated, scores(evaluated["loss"] * evaluated["tokens"], counts),
            None if not cache else scores(cache["loss"] * evaluated["tokens"], counts))


def run_textgen(folder: Path, seconds: float, work: Path, extra: list[str], label: str) -> dict:
    """Train textgen for `seconds` with the default command (plus `extra`), then evaluate on test."""
    out = work / f"textgen-{label}"
    shutil.rmtree(out, ignore_errors=True)
    command = textgen_command() + ["train", str(folder / "train.txt"), "--valid", str(folder / "valid.txt"), "--out", str(out),
                                   "--max-time", f"{seconds:g}s", "--cache-dir", str(work / "cache"), "--json", *extra]
    say(f"[{label}] {shlex.join(command[1:])}")
    started = time.perf_counter()
    trained = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if trained.returncode != 0:
        return {"error": (trained.stderr.strip().splitlines() or ["no output"])[-1], "command": shlex.join(command[1:])}
    summary = json.loads(trained.stdout)
    row = {"system": "textgen", "command": "textgen " + shlex.join(command[1:]), "steps": summary["steps"],
           "train_seconds": summary["seconds"], "process_seconds": round(wall, 1), "parameters": summary["parameters"],
           "limit": next((line[len("limit: "):] for line in trained.stderr.splitlines() if line.startswith("limit: ")), None),
           "model": next((line[len("model: "):] for line in trained.stderr.splitlines() if line.startswith("model: ")), None)}
    try:
        metrics, plain, cached = evaluate_scores(out, folder / "test.txt", ["--cache-dir", str(work / "cache")])
    except BenchmarkError as error:
        row["error"] = str(error).split(" failed: ", 1)[1]  # the last line textgen wrote
        return row
    row.update(plain)
    if cached:
        row["cache"] = {**cached, **{key: metrics["cache"][key] for key in CACHE_SETTINGS if key in metrics["cache"]}}
    say(f"[{label}] {row.get('bits_per_byte')} bits per byte after {row['steps']} steps")
    return row


def peer_startup(peer: Path, folder: Path) -> float:
    """Seconds the peer needs to read and tokenize the corpus (given on top of the budget, as
    textgen's tokenizer and token cache are made before its clock starts)."""
    code = ("import sys, time; sys.path.insert(0, sys.argv[1]); import data; t = time.perf_counter(); "
            "data.Corpus(sys.argv[2]); print(time.perf_counter() - t)")
    done = subprocess.run([sys.executable, "-c", code, str(peer), str(folder)], capture_output=True, text=True)
    return float(done.stdout.strip() or 0.0) if done.returncode == 0 else 0.0


def run_peer(peer: Path, folder: Path, seconds: float, work: Path, arguments: list[str], label: str) -> dict:
    """Train the peer for `seconds` after its startup, stop it with SIGINT, read its test loss."""
    save = work / f"peer-{label}.pt"
    save.unlink(missing_ok=True)
    command = [sys.executable, "-u", str(peer / "main.py"), "--data", str(folder), "--model", "LSTM", "--nlayers", "2",
               "--epochs", "100000", "--save", str(save), *arguments]
    startup = peer_startup(peer, folder)
    say(f"[{label}] {shlex.join(command[1:])} (stopped {seconds:g}s after it has read the data, {startup:.1f}s)")
    log = work / f"peer-{label}.log"
    with open(log, "w") as output:
        # SIGINT back to its default in the child: a benchmark started in the background (nohup, &) inherits it
        # ignored, and the peer would then never see the Ctrl-C that ends its training
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, cwd=str(work),
                                   preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = None
        while process.poll() is None:
            if deadline is None and "Using device" in log.read_text(errors="replace"):
                deadline = time.perf_counter() + seconds + startup  # the clock starts once torch is imported
            if deadline is not None and time.perf_counter() >= deadline:
                process.send_signal(signal.SIGINT)
                break
            time.sleep(0.2)
        try:
            process.wait(timeout=max(120.0, seconds))  # it tests its best model after the interrupt
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            return {"system": "word_language_model", "command": shlex.join(command[1:]),
                    "error": "it did not stop after SIGINT: killed"}
    text = log.read_text(errors="replace")
    found = TEST_LINE.search(text)
    epochs = len(re.findall(r"end of epoch", text))
    if not found:
        return {"system": "word_language_model", "command": shlex.join(command[1:]), "epochs": epochs,
                "error": "no test result (no epoch finished within the budget?): " + (text.strip().splitlines() or [""])[-1][:200]}
    counts = file_counts(folder / "test.txt")
    total_nats = math.log(float(found.group(2))) * counts["words_and_lines"]
    row = {"system": "word_language_model", "command": shlex.join(command[1:]), "epochs_finished": epochs,
           "stopped_after_seconds": seconds, "startup_allowance_seconds": round(startup, 1), **scores(total_nats, counts)}
    say(f"[{label}] {row['bits_per_byte']} bits per byte after {epochs} epochs")
    return row


def throughput(peer: Path | None, folder: Path, seconds: float, rounds: int, work: Path) -> dict:
    """Bytes of training text per second at the same shape (2 x 200 tied LSTM), alternating."""
    train_bytes = (folder / "train.txt").stat().st_size
    peer_tokens = file_counts(folder / "train.txt")["words_and_lines"]
    result: dict = {"shape": "2 x 200 LSTM, tied, embedding 200", "seconds_each": seconds, "textgen": [], "peer": []}
    for index in range(rounds):
        out = work / f"throughput-{index}"
        shutil.rmtree(out, ignore_errors=True)
        command = textgen_command() + ["train", str(folder / "train.txt"), "--valid", str(folder / "valid.txt"), "--out",
                                       str(out), "--max-time", f"{seconds:g}s", "--hidden-size", "200", "--embed-dim", "200",
                                       "--num-layers", "2", "--val-every", "100000", "--cache-dir", str(work / "cache"),
                                       "--json"]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode == 0:
            meta = json.loads((out / "textgen.json").read_text())
            tokens_per_byte = meta["corpus"]["train_tokens"] / train_bytes
            rates = [float(line.split(",")[4]) for line in (out / "metrics.csv").read_text().splitlines()[1:]
                     if line.split(",")[4]]
            rates = sorted(rates)[len(rates) // 10:]  # the first steps (warm-up of the allocator) are slower
            result["textgen"].append(round(sum(rates) / max(1, len(rates)) / tokens_per_byte))
        if peer is not None:
            log = work / f"throughput-peer-{index}.log"
            with open(log, "w") as output:
                process = subprocess.Popen([sys.executable, "-u", str(peer / "main.py"), "--data", str(folder), "--model", "LSTM",
                                            "--emsize", "200", "--nhid", "200", "--nlayers", "2", "--tied", "--epochs", "1",
                                            "--log-interval", "50", "--save", str(work / "throughput.pt")],
                                           stdout=output, stderr=subprocess.STDOUT, cwd=str(work))
                time.sleep(seconds)
                process.kill()
                process.wait()
            batches = [float(value) for value in BATCH_LINE.findall(log.read_text(errors="replace"))][1:]
            if batches:
                tokens_per_s = 20 * 35 / (sum(batches) / len(batches) / 1000)
                result["peer"].append(round(tokens_per_s * train_bytes / peer_tokens))
    if result["textgen"] and result["peer"]:
        result["ratio_textgen_to_peer"] = round(sorted(result["textgen"])[len(result["textgen"]) // 2]
                                                / sorted(result["peer"])[len(result["peer"]) // 2], 3)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", default=None, help="word_language_model folder of a pytorch/examples checkout")
    parser.add_argument("--seconds", type=float, default=300.0, help="training time of each system")
    parser.add_argument("--corpora", default="tinystories,classics")
    parser.add_argument("--shared", default=str(ROOT.parent / "shared" / "corpora"), help="folder with tinystories/ and classics/")
    parser.add_argument("--textgen-args", default="", help="extra textgen train options (default: none, the default command)")
    parser.add_argument("--throughput-seconds", type=float, default=40.0, help="0 skips the throughput comparison")
    parser.add_argument("--throughput-rounds", type=int, default=2)
    parser.add_argument("--peer-configs", default=",".join(PEER_CONFIGS), help="comma-separated names of peer configurations")
    parser.add_argument("--no-textgen", action="store_true", help="train the peers only (e.g. for an hour, for a model card)")
    parser.add_argument("--nanogpt", default=None, help="a karpathy/nanoGPT checkout (its train.py and model.py are run)")
    args = parser.parse_args()
    try:
        if not args.seconds > 0 or not math.isfinite(args.seconds):
            raise BenchmarkError(f"--seconds must be a positive number, got {args.seconds:g}")
        peer = peer_dir(args.peer)
        nanogpt = nanogpt_dir(args.nanogpt)
        configs = [name.strip() for name in args.peer_configs.split(",") if name.strip()]
        unknown = [name for name in configs if name not in PEER_CONFIGS]
        if unknown:
            raise BenchmarkError(f"unknown peer configuration {unknown[0]!r}: use {', '.join(PEER_CONFIGS)}")
        shared = Path(args.shared)
        report: dict = {"benchmark": "peers", "seconds": args.seconds, "machine": machine(), "corpora": {}}
        with tempfile.TemporaryDirectory(prefix="textgen-peers-") as temporary:
            work = Path(temporary)
            names = [name.strip() for name in args.corpora.split(",") if name.strip()]
            names = [fold for name in names for fold in (CLASSICS_FOLDS if name == "classics-folds" else [name])]
            folders = {name: prepare_corpus(name, shared, work) for name in names}
            for name, folder in folders.items():
                rows = {"textgen (default command)": {"skipped": "--no-textgen"} if args.no_textgen
                        else run_textgen(folder, args.seconds, work, shlex.split(args.textgen_args), name)}
                for config in configs:
                    rows[config] = (run_peer(peer, folder, args.seconds, work, PEER_CONFIGS[config], f"{name} {config}")
                                    if peer else {"skipped": "--peer not given"})
                rows[NANOGPT_ROW] = (run_nanogpt(nanogpt, folder, args.seconds, work, name) if nanogpt
                                     else {"skipped": "--nanogpt not given"})
                best = min((rows[config]["bits_per_byte"] for config in configs if "bits_per_byte" in rows[config]),
                           default=None)
                entry = {"split": describe_split(name), "test_words_outside_training": unseen_test_words(folder),
                         "rows": rows}
                entry.update(ratios(rows["textgen (default command)"], best, "best_peer"))
                entry.update(ratios(rows["textgen (default command)"], rows[NANOGPT_ROW].get("bits_per_byte"), "nanogpt"))
                report["corpora"][name] = entry
            folds = fold_summary(report["corpora"])
            if folds:
                report["classics_folds"] = folds
            if args.throughput_seconds > 0 and "tinystories" in folders:
                say("throughput at the same shape ...")
                report["throughput_bytes_per_second"] = throughput(peer, folders["tinystories"], args.throughput_seconds,
                                                                   args.throughput_rounds, work)
        print(json.dumps(report, indent=2))
        return 0
    except BenchmarkError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def fold_summary(corpora: dict) -> dict:
    """Every classics fold's ratios to the best peer and to nanoGPT, their mean and largest, and the held-out
    fold's apart (the one never used to choose a default)."""
    summary = {}
    for key in ("ratio_to_best_peer", "ratio_to_nanogpt"):
        found = {name: entry[key] for name, entry in corpora.items() if name in CLASSICS_FOLDS and key in entry}
        if found:
            summary[key] = {"folds": found, "mean": round(sum(found.values()) / len(found), 3),
                            "largest": max(found.values()), "held_out_fold": found.get(HELD_OUT_FOLD)}
    return summary


def ratios(ours: dict, theirs: float | None, name: str) -> dict:
    """textgen's bits per byte over a peer's (`ratio_to_NAME`), and with textgen's cache; none without both."""
    if not theirs or "bits_per_byte" not in ours:
        return {}
    found = {f"ratio_to_{name}": round(ours["bits_per_byte"] / theirs, 3)}
    if "cache" in ours:
        found[f"ratio_to_{name}_with_cache"] = round(ours["cache"]["bits_per_byte"] / theirs, 3)
    return found


def describe_split(name: str) -> str:
    if name in CLASSICS_FOLDS:
        fold = CLASSICS_FOLDS[name]
        return (f"{name}: {', '.join(fold['test'])} test; {', '.join(fold['valid'])} valid; the other books train (whole "
                f"books held out{'; never used to choose a default' if name == HELD_OUT_FOLD else ''})")
    if name == "classics":
        return (f"eight books train; {', '.join(CLASSICS_VALID)} valid; {', '.join(CLASSICS_TEST)} test "
                "(whole books held out)")
    return "tinystories train/valid/test as shipped"


def machine() -> dict:
    import torch

    from report import cpu_name

    return {"cpu": cpu_name(), "cores": os.cpu_count(), "torch": torch.__version__, "threads": torch.get_num_threads()}


if __name__ == "__main__":
    sys.exit(main())
