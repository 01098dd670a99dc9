"""What the processes of a run decide together (textgen/training/coordination.py): one process
agrees with itself; a signal is noted and a second one stops at once, even while the main thread is
blocked in a collective call; and end to end with two CPU processes (gloo), a --max-time run ends
within its budget, Ctrl-C saves once and stops both, and a full disk or a NaN loss stops both with
one line, never a hang."""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess
import sys
import textwrap
import threading
import time
from types import SimpleNamespace

import pytest
import torch
from click.testing import CliRunner
from tests.conftest import ONE_THREAD, REPO, textgen_process

import textgen
from textgen.cli import cli
from textgen.training.coordination import SignalWatch, agree


SMALL = ["--tokenizer-kind", "word", "--embed-dim", "8", "--hidden-size", "16", "--num-layers", "1", "--batch-size", "4",
         "--seq-len", "8", "--log-every", "5"]


def test_one_process_agrees_with_itself_without_a_collective():
    trainer = SimpleNamespace(is_global_zero=True, world_size=1, strategy=None)  # no strategy: nothing is called on it
    decision = agree(trainer, 12.5, True, False, signal.SIGTERM, False)
    assert (decision.seconds, decision.time_up, decision.save_due, decision.signal, decision.loss_failed) == \
        (12.5, True, False, signal.SIGTERM, False)
    assert agree(trainer, 1.0, False, True, None, True).signal is None


def test_a_signal_is_noted_and_a_second_stops_at_once():
    lines, stopped = [], threading.Event()
    calls = []

    def stop_now(signum: int) -> None:
        calls.append(signum)
        stopped.set()

    before = signal.getsignal(signal.SIGINT)
    watch = SignalWatch(lines.append, stop_now)
    watch.install()
    watch.training()
    try:
        os.kill(os.getpid(), signal.SIGINT)
        deadline = time.monotonic() + 5
        while watch.received is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert watch.received == signal.SIGINT and calls == []
        assert lines == ["received SIGINT: saving a resumable checkpoint after this step (a second signal stops at once)"]
        os.kill(os.getpid(), signal.SIGINT)
        assert stopped.wait(5)
        assert calls == [signal.SIGINT]
    finally:
        watch.uninstall()
    assert signal.getsignal(signal.SIGINT) is before
    watch.uninstall()  # a second time is harmless


@pytest.mark.parametrize("extra", [["--max-steps", "4"], ["--max-steps", "30", "--lr", "1e30", "--warmup-steps", "0"]],
                         ids=["trained", "failed"])
def test_a_run_gives_the_signals_back_as_it_found_them(tmp_path, corpus, extra):
    """After training, whether it ended or failed, SIGINT and SIGTERM are as before: not textgen's
    handlers, and not Lightning's SIGTERM handler (which would swallow a SIGTERM sent afterwards)."""
    before = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    CliRunner().invoke(cli, ["train", str(corpus), "--out", str(tmp_path / "run"), *SMALL, *extra,
                             "--cache-dir", str(tmp_path / "cache")])
    assert {signum: signal.getsignal(signum) for signum in before} == before
    assert signal.set_wakeup_fd(-1) == -1  # no wake-up pipe left behind
    assert not [thread for thread in threading.enumerate() if thread.name == "textgen-signal-watch"]


STUCK = textwrap.dedent("""
    import os, sys, time
    import torch, torch.distributed as dist
    from textgen.training.coordination import SignalWatch
    rank, store = int(sys.argv[1]), sys.argv[2]
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    if rank == 1:
        time.sleep(300)  # never joins the all-reduce below
    watch = SignalWatch(lambda line: None, lambda signum: os._exit(100 + signum))
    watch.install()
    watch.training()
    print("waiting", flush=True)
    dist.all_reduce(torch.zeros(1))  # blocks for good: the main thread runs no Python signal handler
""")


def test_a_second_signal_stops_a_process_blocked_in_a_collective(tmp_path):
    store = tmp_path / "store"
    processes = [subprocess.Popen([sys.executable, "-c", STUCK, str(rank), str(store)], cwd=REPO, env=ONE_THREAD,
                                  stdout=subprocess.PIPE, text=True) for rank in (0, 1)]
    try:
        assert processes[0].stdout.readline().strip() == "waiting"
        time.sleep(0.5)  # inside the all-reduce by now
        processes[0].send_signal(signal.SIGTERM)
        time.sleep(0.2)
        processes[0].send_signal(signal.SIGTERM)
        assert processes[0].wait(timeout=20) == 100 + signal.SIGTERM
    finally:
        for process in processes:
            process.kill()
            process.wait()


# --- two processes end to end ------------------------------------------------------------------

TINY = [*SMALL, "--accelerator", "cpu", "--devices", "2", "--strategy", "ddp"]
BUDGET = 20  # seconds of training
BOUND = 45  # seconds a two-process run may take beyond its budget: two interpreters and Lightning starting, the
            # process group, a validation at each sixth of the budget, the last save, the cache tuning


def launch(tmp_path, *args: str, preexec_fn=None) -> subprocess.Popen:
    return subprocess.Popen(textgen_process("train", *args, "--cache-dir", str(tmp_path / "cache")), cwd=REPO, env=ONE_THREAD,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=preexec_fn)


def finish(process: subprocess.Popen, seconds: float) -> tuple[str, str]:
    """The process's output, or a failed test (not a hang) when it runs past `seconds`."""
    try:
        return process.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        pytest.fail(f"the run did not end within {seconds:.0f}s (hung?):\n{stderr[-3000:]}")


@pytest.mark.slow
def test_two_processes_bounded_by_max_time_end_within_the_budget(tmp_path, corpus):
    out = tmp_path / "run"
    started = time.monotonic()
    process = launch(tmp_path, str(corpus), "--out", str(out), *TINY, "--max-time", f"{BUDGET}s", "--json")
    stdout, stderr = finish(process, BUDGET + BOUND)
    took = time.monotonic() - started
    assert process.returncode == 0, stderr
    summary = json.loads(stdout)
    assert summary["interrupted"] is False and summary["steps"] > 10
    meta = textgen.load(out).metadata
    assert meta["status"] == "trained" and meta["training"]["devices"] == 2
    assert took < BUDGET + BOUND


@pytest.mark.slow
def test_ctrl_c_stops_both_processes_after_one_save_and_resume_continues(tmp_path, corpus):
    out = tmp_path / "run"
    args = [str(corpus), "--out", str(out), *TINY, "--val-every", "25", "--json"]
    process = launch(tmp_path, *args, "--max-steps", "3000")
    deadline = time.monotonic() + 120
    while not (out / "lightning" / "last.ckpt").exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)  # mid-way between checkpoints
    process.send_signal(signal.SIGINT)  # to the launching process only: the other learns of it in the next step
    stdout, stderr = finish(process, 60)
    assert process.returncode == 130, stderr
    assert stderr.count("received SIGINT") == 1 and "interrupted by SIGINT" in stderr
    after = stderr.split("received SIGINT")[1].splitlines()
    assert len([line for line in after if line.startswith("step ")]) == 1, stderr  # saved once
    summary = json.loads(stdout)
    assert summary["interrupted"] is True and 25 <= summary["steps"] < 3000
    assert torch.load(out / "lightning" / "last.ckpt", weights_only=True)["global_step"] == summary["steps"]
    meta = textgen.load(out).metadata
    assert meta["status"] == "interrupted" and meta["metrics"]["step"] <= summary["steps"]
    assert not [path for path in out.rglob("*") if path.name.endswith(".tmp")]
    cut = summary["steps"]
    resumed = launch(tmp_path, *args, "--max-steps", str(cut + 10), "--resume")
    stdout, stderr = finish(resumed, 120)
    assert resumed.returncode == 0, stderr
    assert json.loads(stdout)["new_steps"] == 10 and json.loads(stdout)["steps"] == cut + 10


@pytest.mark.slow
def test_a_full_disk_stops_both_processes_with_one_line(tmp_path, corpus):
    out = tmp_path / "run"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))  # the checkpoint is about 100 KB
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    process = launch(tmp_path, str(corpus), "--out", str(out), *TINY, "--max-steps", "40", "--val-every", "10",
                     preexec_fn=limit)
    stdout, stderr = finish(process, 120)
    assert process.returncode == 2, stderr
    assert [line for line in stderr.splitlines() if line.startswith("error:")] == [
        f"error: could not save step 10 in {out} (File too large): nothing was saved, so there is nothing to resume; "
        "raise the file-size limit (ulimit -f), then train again"], stderr
    assert "Traceback" not in stderr and not out.exists()


@pytest.mark.slow
def test_a_nan_loss_stops_both_processes_before_the_update(tmp_path, corpus):
    out = tmp_path / "run"
    process = launch(tmp_path, str(corpus), "--out", str(out), *TINY, "--max-steps", "200", "--val-every", "50", "--lr", "1e30",
                     "--warmup-steps", "0", "--grad-clip", "0")
    stdout, stderr = finish(process, 120)
    assert process.returncode == 2, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr
    assert "the loss became nan at step" in errors[0] and "before the bad update" in errors[0], stderr
    assert "Traceback" not in stderr and not out.exists()


# --- the processes textgen starts: signals while they start, one that dies ---------------------------------------

def children(pid: int) -> list[int]:
    try:
        return [int(child) for child in open(f"/proc/{pid}/task/{pid}/children").read().split()]
    except OSError:
        return []


def alive(pid: int) -> bool:
    """A process that exists and is not a zombie waiting to be reaped."""
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def second_process(process: subprocess.Popen, seconds: float = 120) -> int:
    """The process the launching process started, once it runs."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        found = [pid for pid in children(process.pid) if b"textgen.cli" in open(f"/proc/{pid}/cmdline", "rb").read()]
        if found:
            return found[0]
        time.sleep(0.05)
    pytest.fail("the second process never started")


def launch_alone(tmp_path, *args: str) -> subprocess.Popen:
    """A run in a session of its own, as from a terminal: a signal to its process group reaches every process of it."""
    def session() -> None:
        os.setsid()
        for signum in (signal.SIGINT, signal.SIGHUP):  # a test run in the background passes them ignored
            signal.signal(signum, signal.SIG_DFL)

    return subprocess.Popen(textgen_process("train", *args, "--cache-dir", str(tmp_path / "cache")), cwd=REPO,
                            env=ONE_THREAD, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=session)


@pytest.mark.slow
@pytest.mark.parametrize(("sent", "to", "code", "said"), [("SIGTERM", "launcher", 143, "terminated"),
                                                          ("SIGINT", "group", 130, "interrupted"),
                                                          ("SIGINT", "launcher", 130, "interrupted"),
                                                          ("SIGHUP", "group", 129, "hung up (SIGHUP)")])
def test_a_signal_while_two_processes_start_stops_both_and_leaves_no_folder(tmp_path, corpus, sent, to, code, said):
    """A signal just after the launching process started the second: SIGTERM killed the launcher at
    once and left the other waiting 30 minutes for it; Ctrl-C to both got the launcher SIGKILLed by
    Lightning's watcher (137), leaving a folder a plain train refused; Ctrl-C to the launcher alone
    was exit 1 and no line. Now both stop, with one line and the signal's code, and no folder stays."""
    out = tmp_path / "run"
    process = launch_alone(tmp_path, str(corpus), "--out", str(out), *TINY, "--max-steps", "300")
    other = second_process(process)
    time.sleep(0.3)  # it is importing torch: long before training
    started = time.monotonic()
    if to == "group":
        os.killpg(process.pid, getattr(signal, sent))
    else:
        process.send_signal(getattr(signal, sent))
    stdout, stderr = finish(process, 60)
    assert (process.returncode, stderr.splitlines()[-1]) == (code, said), stderr
    assert "Traceback" not in stderr and stdout == ""
    assert time.monotonic() - started < 30
    assert not alive(other) and not out.exists()


@pytest.mark.slow
def test_a_killed_second_process_stops_the_run_in_one_line_and_resume_continues(tmp_path, corpus):
    """kill -9 of the second process used to end the launcher with a hundred-line gloo traceback."""
    out = tmp_path / "run"
    args = [str(corpus), "--out", str(out), *TINY, "--val-every", "25", "--json"]
    process = launch(tmp_path, *args, "--max-steps", "3000")
    other = second_process(process)
    deadline = time.monotonic() + 120
    while not (out / "lightning" / "last.ckpt").exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    os.kill(other, signal.SIGKILL)
    stdout, stderr = finish(process, 60)
    assert process.returncode == 2, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in stderr, stderr
    found = re.fullmatch(r"error: another training process \(rank 1\) was killed by SIGKILL at step ([\d,]+): "
                         r"lightning/last\.ckpt keeps step ([\d,]+); continue with --resume", errors[0])
    assert found, errors[0]
    kept = int(found.group(2).replace(",", ""))
    assert kept % 25 == 0 and kept <= int(found.group(1).replace(",", ""))
    assert torch.load(out / "lightning" / "last.ckpt", weights_only=True)["global_step"] == kept
    resumed = launch(tmp_path, *args, "--max-steps", str(kept + 5), "--resume")
    stdout, stderr = finish(resumed, 120)
    assert resumed.returncode == 0, stderr
    assert json.loads(stdout)["steps"] == kept + 5


@pytest.mark.slow
@pytest.mark.parametrize("when", ["starting", "training"])
def test_the_second_process_ends_when_the_launcher_is_killed(tmp_path, corpus, when):
    """A launcher killed with SIGKILL (nothing of it runs) left the other process waiting for it."""
    out = tmp_path / "run"
    process = launch_alone(tmp_path, str(corpus), "--out", str(out), *TINY, "--max-steps", "3000", "--val-every", "25")
    other = second_process(process)
    if when == "training":
        deadline = time.monotonic() + 120
        while not (out / "lightning" / "last.ckpt").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    else:
        time.sleep(0.3)
    process.kill()
    process.communicate()
    deadline = time.monotonic() + 15
    while alive(other) and time.monotonic() < deadline:
        time.sleep(0.1)
    outlived = alive(other)
    if outlived:  # not left behind by the test
        os.kill(other, signal.SIGKILL)
    assert not outlived, f"the second process outlived its launcher by 15 s ({when})"
