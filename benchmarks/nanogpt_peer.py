"""karpathy/nanoGPT as a peer of benchmarks/peers.py: its README's CPU recipe, at character level,
trained for the same wall-clock budget on the benchmark's own files and scored on the same test file.

Nothing of nanoGPT is copied into this repository: the user gives a checkout (`--nanogpt DIR`), and
the benchmark runs DIR/train.py with DIR/config/train_shakespeare_char.py and the README's command-line
overrides ("I only have a macbook": --device=cpu --compile=False --eval_iters=20 --log_interval=1
--block_size=64 --batch_size=12 --n_layer=4 --n_head=4 --n_embd=128 --dropout=0.0), and imports
DIR/model.py at run time to score the checkpoint train.py saved. Only what the README sets to 2000 is
changed: --max_iters and --lr_decay_iters are sized to the budget, and --eval_interval so that the last
iteration is an evaluation (with --always_save_checkpoint=True the model saved there is the one scored).

Data, as nanoGPT's data/shakespeare_char/prepare.py makes it (train.bin and val.bin of uint16 character
ids, meta.pkl with vocab_size, stoi and itos), but written here into the benchmark's work folder and
passed to train.py as an absolute --dataset (train.py reads os.path.join('data', dataset), which is then
that path). The vocabulary is every character of train, valid and test, sorted, as prepare.py builds
it from its whole text and as word_language_model builds its word list from all three files: no test
character is unknown, and one that never occurs in training keeps whatever (small) probability
training left it; the row counts such characters.

Budget: a timing run of train.py itself gives the seconds of one iteration and of one evaluation with
its checkpoint: it trains with an evaluation every TIMING_EVAL iterations until its iterations have
taken TIMING_SHARE of the budget (at least TIMING_LEAST, at most TIMING_MOST seconds) and at least
one evaluation with its save was made, and is then stopped. max_iters is then what fills `seconds`
with an evaluation about every EVAL_EVERY iterations (the recipe's 250). A fixed 30 iterations (about 2 s)
had measured 68 to 97 ms an iteration on an idle 2-core AMD EPYC where the sized runs took 78 to 88,
so they trained for 0.77 to 1.21 x their budget, 1,454 s of a 1,200 s one (benchmarks/notes/nanogpt-peer.md).
Startup (importing torch, reading the data) is not counted, as for the other systems. The row reports
the iterations, the measured seconds per iteration and the actual training wall time (the sum of the
per-iteration times train.py prints, which include its evaluations and checkpoint saves).

Test score: every character of the test file exactly once. Windows of BLOCK (64) characters slide by
SCORED (32); a window scores only its last 32 predictions, so every character has at least 33
characters of context, except in the first window, which scores all its predictions (characters 2 to
65 with 1 to 64 characters of context), and the last, which starts BLOCK before the end and scores only
what is left. The file's first character has no context at all and is charged ln(vocabulary size),
uniform. The total nats then go through the benchmark's scores (bits per byte over the file's UTF-8
bytes).
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import os
import pickle
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

RECIPE = ["config/train_shakespeare_char.py", "--device=cpu", "--compile=False", "--eval_iters=20", "--log_interval=1",
          "--block_size=64", "--batch_size=12", "--n_layer=4", "--n_head=4", "--n_embd=128", "--dropout=0.0"]
BLOCK = 64  # the recipe's --block_size
SCORED = 32  # predictions scored per window: every character has at least half a block of context
EVAL_EVERY = 250  # config/train_shakespeare_char.py's eval_interval
TIMING_SHARE = 0.02  # of the budget, spent timing (outside the budget, as startup is)
TIMING_LEAST, TIMING_MOST = 10.0, 60.0  # seconds of timed iterations
TIMING_EVAL = 40  # the timing run evaluates and saves every TIMING_EVAL iterations
TIMING_LIMIT = 300.0  # a timing run that has not made its evaluation by then fails
WARM_UP = 5  # the first iterations are slower (nanoGPT's own MFU estimate skips 5 too)
ITER_LINE = re.compile(r"^iter (\d+): loss (\S+), time ([0-9.]+)ms", re.M)
VAL_LINE = re.compile(r"^step (\d+): train loss (\S+), val loss (\S+)", re.M)


def checkout_problem(path: Path) -> str | None:
    """Why `path` is not a nanoGPT checkout this benchmark can run, or None when it is."""
    needed = ["train.py", "model.py", "configurator.py", RECIPE[0]]
    missing = [name for name in needed if not (path / name).is_file()]
    if missing:
        return f"no {', '.join(missing)}"
    if "class GPT(" not in (path / "model.py").read_text(errors="replace"):
        return "its model.py has no class GPT"
    if "configurator.py" not in (path / "train.py").read_text(errors="replace"):
        return "its train.py does not read configurator.py (command-line overrides)"
    return None


def encode(text: str, characters: np.ndarray) -> np.ndarray:
    """Character ids as prepare.py's stoi gives them: the index in the sorted vocabulary (Python sorts
    one-character strings by code point, so a binary search over the code points is the same map)."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    return np.searchsorted(characters, codes).astype(np.uint16)


def prepare_data(folder: Path, data: Path) -> dict:
    """train.bin, val.bin and meta.pkl in `data` from folder's train.txt and valid.txt, as prepare.py
    writes them, the vocabulary taken from all three files; returns the test ids and counts."""
    texts = {split: (folder / f"{split}.txt").read_text(encoding="utf-8") for split in ("train", "valid", "test")}
    chars = sorted(set().union(*texts.values()))
    if len(chars) > 65535:
        raise ValueError(f"{len(chars)} distinct characters do not fit nanoGPT's uint16 ids")
    points = np.array([ord(char) for char in chars], dtype=np.uint32)
    data.mkdir(parents=True, exist_ok=True)
    encode(texts["train"], points).tofile(data / "train.bin")
    encode(texts["valid"], points).tofile(data / "val.bin")
    with open(data / "meta.pkl", "wb") as file:
        pickle.dump({"vocab_size": len(chars), "itos": dict(enumerate(chars)),
                     "stoi": {char: index for index, char in enumerate(chars)}}, file)
    seen = set(texts["train"])
    return {"test_ids": encode(texts["test"], points), "vocab_size": len(chars),
            "test_characters": len(texts["test"]),
            "test_characters_not_in_train": sum(1 for char in texts["test"] if char not in seen)}


def train_command(checkout: Path, data: Path, out: Path, max_iters: int, eval_interval: int) -> list[str]:
    """train.py with the README's CPU recipe; paths absolute, as train.py runs in the checkout."""
    for path in (data, out):
        if "=" in str(path):  # configurator.py splits each override at '='
            raise ValueError(f"nanoGPT cannot be given a path with '=': {path}")
    return [sys.executable, "-u", "train.py", *RECIPE, f"--max_iters={max_iters}", f"--lr_decay_iters={max_iters}",
            f"--eval_interval={eval_interval}", "--always_save_checkpoint=True", f"--dataset={data.resolve()}",
            f"--out_dir={out.resolve()}"]


def run_train(checkout: Path, command: list[str], log: Path, limit: float,
              enough: Callable[[str], bool] | None = None) -> tuple[int | None, str, float]:
    """Run train.py in the checkout (no bytecode written there); (exit status or None when killed after
    `limit` seconds or once `enough` says so of its output so far, read every half second; its output,
    wall seconds)."""
    environment = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    started = time.perf_counter()
    with open(log, "w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, cwd=str(checkout), env=environment)
        status: int | None = None
        try:
            if enough is None:
                status = process.wait(timeout=limit)
            while process.poll() is None and time.perf_counter() - started < limit:
                time.sleep(0.5)
                if enough(log.read_text(errors="replace")):
                    break
            status = process.poll()
        except subprocess.TimeoutExpired:
            pass
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
                status = None
    return status, log.read_text(errors="replace"), time.perf_counter() - started


def iteration_times(text: str) -> dict[int, float]:
    """Seconds of each iteration train.py printed (its dt includes an evaluation and a save made at it)."""
    return {int(found.group(1)): float(found.group(3)) / 1000 for found in ITER_LINE.finditer(text)}


def run_iteration(times: dict[int, float], every: int) -> float:
    """The mean plain iteration of the sized run, beside what the timing run measured (0 when none)."""
    plain, _ = steady_times(times, every)
    return sum(plain) / len(plain) if plain else 0.0


def last_line(text: str) -> str:
    return (text.strip().splitlines() or ["no output"])[-1][:200]


def timing_seconds(seconds: float) -> float:
    """Seconds of iterations the timing run makes for a budget of `seconds`."""
    return min(TIMING_MOST, max(TIMING_LEAST, TIMING_SHARE * seconds))


def steady_times(times: dict[int, float], every: int) -> tuple[list[float], list[float]]:
    """(the seconds of the plain iterations after the warm-up, those of the iterations that evaluated and
    saved) among `times`, with an evaluation at every multiple of `every` (iteration 0's is not saved)."""
    plain = [value for index, value in sorted(times.items()) if index >= WARM_UP and index % every]
    evaluated = [value for index, value in sorted(times.items()) if index > 0 and index % every == 0]
    return plain, evaluated


def measure(times: dict[int, float], every: int) -> dict:
    """Seconds per iteration (the mean plain iteration after the warm-up) and per evaluation with its
    checkpoint (the mean evaluating iteration less a plain one) from train.py's printed iterations."""
    plain, evaluated = steady_times(times, every)
    if not plain or not evaluated:
        raise RuntimeError("the timing run of train.py printed no evaluated iteration")
    per_iteration = sum(plain) / len(plain)
    return {"seconds_per_iteration": per_iteration, "iterations_timed": len(plain),
            "seconds_per_eval": max(0.0, sum(evaluated) / len(evaluated) - per_iteration)}


def timing(checkout: Path, data: Path, work: Path, seconds: float) -> dict:
    """Seconds per iteration and per evaluation with its checkpoint, from a run of train.py stopped once
    its steady iterations have taken timing_seconds(seconds) and it has evaluated and saved once."""
    target = timing_seconds(seconds)

    def enough(text: str) -> bool:
        plain, evaluated = steady_times(iteration_times(text), TIMING_EVAL)
        return bool(evaluated) and sum(plain) >= target

    command = train_command(checkout, data, work / "nanogpt-timing", 10**6, TIMING_EVAL)
    _, text, wall = run_train(checkout, command, work / "nanogpt-timing.log", TIMING_LIMIT, enough)
    try:
        measured = measure(iteration_times(text), TIMING_EVAL)
    except RuntimeError:
        raise RuntimeError(f"the timing run of train.py failed: {last_line(text)}") from None
    return {**measured, "timing_run_seconds": wall}


def size_iterations(seconds: float, per_iteration: float, per_eval: float) -> tuple[int, int]:
    """(max_iters, eval_interval) filling `seconds`: train.py makes max_iters + 1 steps and evaluates (and
    saves) at every multiple of eval_interval up to max_iters, which is made one, about every EVAL_EVERY:
    with k intervals that is (max_iters + 1) iterations and k + 1 evaluations."""
    rough = (seconds - per_iteration - per_eval) / (per_iteration + per_eval / EVAL_EVERY)
    intervals = max(1, round(rough / EVAL_EVERY))
    iterations = max(1, int((seconds - per_iteration - (intervals + 1) * per_eval) / per_iteration))
    intervals = min(intervals, iterations)
    interval = iterations // intervals
    return interval * intervals, interval


def load_model(checkout: Path, checkpoint: Path):
    """The GPT of the checkout's model.py with the checkpoint's weights, in eval mode on the CPU."""
    import torch

    spec = importlib.util.spec_from_file_location("nanogpt_model", checkout / "model.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["nanogpt_model"] = module  # dataclasses looks the module up while making GPTConfig
    writing, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # leave the checkout as it was
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = writing
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    with contextlib.redirect_stdout(sys.stderr):  # GPT() prints its size; stdout is the benchmark's JSON
        model = module.GPT(module.GPTConfig(**saved["model_args"]))
    state = {key.removeprefix("_orig_mod."): value for key, value in saved["model"].items()}
    model.load_state_dict(state)
    return model.eval(), saved


def windows(length: int, block: int = BLOCK, scored: int = SCORED) -> list[tuple[int, int]]:
    """(start, first scored position) of each window over ids[0:length], covering the predictions of
    ids[1:] exactly once; a window's position j predicts ids[start + j + 1] from ids[start:start + j + 1]."""
    size = min(block, length - 1)
    if size < 1:
        return []
    found = [(0, 0)] + [(start, size - scored) for start in range(scored, length - size, scored)]
    covered = found[-1][0] + size  # the last id predicted so far
    if covered < length - 1:
        start = length - 1 - size
        found.append((start, covered - start))
    return found


def test_nats(model, ids: np.ndarray, vocab_size: int, batch: int = 256) -> float:
    """Total nats of the test ids, each character once (see windows); the first one charged ln(vocab)."""
    import torch
    import torch.nn.functional as F

    data = torch.from_numpy(ids.astype(np.int64))
    total = math.log(vocab_size) if len(ids) else 0.0
    spans = windows(len(ids), min(BLOCK, model.config.block_size))
    size = min(BLOCK, model.config.block_size, len(ids) - 1)
    positions = torch.arange(size)
    with torch.no_grad():
        for first in range(0, len(spans), batch):
            group = spans[first:first + batch]
            inputs = torch.stack([data[start:start + size] for start, _ in group])
            targets = torch.stack([data[start + 1:start + size + 1] for start, _ in group])
            logits, _ = model(inputs, targets)  # with targets, nanoGPT returns the logits of every position
            nats = -F.log_softmax(logits.float(), dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
            keep = positions.unsqueeze(0) >= torch.tensor([skip for _, skip in group]).unsqueeze(1)
            total += float(nats[keep].double().sum())
    return total


def run_nanogpt(checkout: Path, folder: Path, seconds: float, work: Path, label: str) -> dict:
    """Prepare the character data, time train.py, train it for `seconds`, score its checkpoint on test.
    The row has the test's total nats in `test_nats` (peers.py turns them into bits per byte)."""
    data, out = work / "nanogpt-data" / label, work / "nanogpt-out" / label
    row: dict = {"system": "nanoGPT"}
    try:
        prepared = prepare_data(folder, data)
        measured = timing(checkout, data, work, seconds)
        max_iters, interval = size_iterations(seconds, measured["seconds_per_iteration"], measured["seconds_per_eval"])
        command = train_command(checkout, data, out, max_iters, interval)
    except (RuntimeError, ValueError) as error:
        return {**row, "error": str(error)}
    row["command"] = f"cd {shlex.quote(str(checkout))} && python " + shlex.join(command[2:])
    print(f"[{label}] nanoGPT: {measured['seconds_per_iteration'] * 1000:.1f} ms per iteration, "
          f"{measured['seconds_per_eval']:.2f} s per evaluation: {max_iters} iterations, evaluated every {interval}",
          file=sys.stderr, flush=True)
    limit = max(2 * seconds, seconds + 120.0) + 60.0  # startup, and a timing the training did not keep to
    status, text, wall = run_train(checkout, command, work / f"nanogpt-{label}.log", limit)
    times = iteration_times(text)
    validation = VAL_LINE.findall(text)
    row.update({"max_iters": max_iters, "eval_interval": interval,
                "seconds_per_iteration_measured": round(measured["seconds_per_iteration"], 4),
                "seconds_per_eval_measured": round(measured["seconds_per_eval"], 3),
                "train_seconds_planned": round((max_iters + 1) * measured["seconds_per_iteration"]
                                               + (max_iters // interval + 1) * measured["seconds_per_eval"], 1),
                "timing_run_seconds": round(measured["timing_run_seconds"], 1),
                "iterations_timed": measured["iterations_timed"],
                "seconds_per_iteration_run": round(run_iteration(times, interval), 4),
                "iterations_run": len(times), "train_seconds": round(sum(times.values()), 1),
                "process_seconds": round(wall, 1),
                "last_val_loss": float(validation[-1][2]) if validation else None})
    if status is None:
        row["killed"] = f"still training after {wall:.0f} s: the last checkpoint is scored"
    elif status != 0:
        return {**row, "error": f"train.py failed: {last_line(text)}"}
    if not (out / "ckpt.pt").is_file():
        return {**row, "error": "train.py saved no checkpoint"}
    try:
        model, saved = load_model(checkout, out / "ckpt.pt")
        nats = test_nats(model, prepared["test_ids"], prepared["vocab_size"])
    except Exception as error:  # another version of the checkout's model.py: this row fails, not the benchmark
        return {**row, "error": f"scoring the checkpoint failed: {type(error).__name__}: {error}"[:300]}
    row.update({"iterations": int(saved["iter_num"]), "parameters": sum(p.numel() for p in model.parameters()),
                "vocab_size": prepared["vocab_size"], "test_characters": prepared["test_characters"],
                "test_characters_not_in_train": prepared["test_characters_not_in_train"], "test_nats": nats})
    return row
