"""Every writer of a model directory loses nothing: export, a training run's export of its best
weights and tune-cast stage their files beside the old ones and swap them in, so a signal, a kill
or a full disk at any point leaves a directory that loads (the old model or the new one, never a
mix); export touches only files it writes; the shipped model is read-only to every command."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.conftest import ONE_THREAD, REPO, killed_at_rename, one_line_error, textgen_process

import textgen
from textgen.modeldir.store import export_model
from textgen.cli import cli
from textgen.errors import TextgenError



def run(*args, **kwargs):
    return CliRunner().invoke(cli, [str(arg) for arg in args], **kwargs)


def dtype_of(folder) -> str:
    """Which model a directory holds ("float32" or "bfloat16" export), or "broken" if it does not load."""
    try:
        return textgen.load(folder).metadata["weights_dtype"]
    except TextgenError as error:
        return f"broken: {error}"


def folder_hash(folder: Path) -> dict[str, str]:
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.name.startswith("."))


# D1: a kill, a signal or a full disk during export ------------------------------------------------------

@pytest.mark.parametrize("at", range(1, 9))
def test_export_killed_at_any_rename_leaves_a_model_that_loads_and_the_next_writer_finishes(trained, tmp_path,
                                                                                             monkeypatch, at):
    out = tmp_path / "out"
    export_model(trained, out, "float32")
    killed_at_rename(monkeypatch, at, lambda: export_model(trained, out, "bfloat16", overwrite=True))
    # the first rename is the commit (the swap manifest): killed there, the old model stays whole; killed at any
    # of the 5 renames after it (or, from 7 on, not killed: an export makes 6), the new one is there, whole
    assert dtype_of(out) == ("float32" if at == 1 else "bfloat16")
    export_model(trained, out, "float32", overwrite=True)  # the next writer finishes or clears what was left
    assert dtype_of(out) == "float32" and leftovers(out) == []


SIGNAL_AT_RENAME = r"""
import json, os, signal, sys
import torch
torch.set_num_threads(1)
import textgen
from textgen.cli import cli
from textgen.errors import TextgenError

source, out = sys.argv[1], sys.argv[2]
results = []
for signum in (signal.SIGTERM, signal.SIGINT):
    for at in range(1, 8):
        before = textgen.load(out).metadata["weights_dtype"]
        after = "bfloat16" if before == "float32" else "float32"
        pid = os.fork()
        if pid == 0:
            real, count = os.replace, [0]
            def replace(a, b):
                count[0] += 1
                if count[0] == at:
                    os.kill(os.getpid(), signum)
                real(a, b)
            os.replace = replace
            code = 0
            try:
                cli(["export", source, out, "--overwrite", "--dtype", after])
            except SystemExit as exit:
                code = exit.code if isinstance(exit.code, int) else 1
            except BaseException:
                code = 99
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        try:
            now = textgen.load(out).metadata["weights_dtype"]
        except TextgenError as error:
            now = f"broken: {error}"
        results.append({"signal": int(signum), "at": at, "before": before, "after": after, "now": now,
                        "status": status})
print(json.dumps(results))
"""


@pytest.mark.slow
def test_sigterm_or_sigint_at_any_rename_of_an_export_leaves_a_whole_model(trained, tmp_path):
    out = tmp_path / "out"
    export_model(trained, out, "float32")
    done = subprocess.run([sys.executable, "-c", SIGNAL_AT_RENAME, str(trained), str(out)], cwd=REPO, env=ONE_THREAD,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout.splitlines()[-1])  # the lines before it: the exports' own
    assert len(results) == 14
    assert [row for row in results if row["now"] not in (row["before"], row["after"])] == []
    assert "Traceback" not in done.stderr
    assert dtype_of(out) in ("float32", "bfloat16")


SLOW_DISK_EXPORT = r"""
import os, sys, time
real = os.fsync
def fsync(descriptor):  # a slow disk: the writing takes seconds, so signals land inside it
    time.sleep(0.2)
    real(descriptor)
os.fsync = fsync
from textgen.cli import main
sys.argv = ["textgen", "export", *sys.argv[1:]]
main()
"""


@pytest.mark.slow
def test_signals_and_kills_part_way_through_a_real_export_keep_a_model_that_loads(trained, tmp_path):
    out = tmp_path / "out"
    export_model(trained, out, "float32")
    # seconds after the export starts writing (each fsync takes 0.2 s): staging, staging, the commit, the renames
    # (SIGINT and SIGTERM at each rename: test_sigterm_or_sigint_at_any_rename_of_an_export_leaves_a_whole_model)
    for signum, delay in ((signal.SIGINT, 0.1), (signal.SIGKILL, 0.7), (signal.SIGTERM, 1.2), (signal.SIGKILL, 1.5)):
        before = dtype_of(out)
        after = "bfloat16" if before == "float32" else "float32"
        left = leftovers(out)  # what a killed run left (a lock file, a staging folder): the new run changes it
        process = subprocess.Popen([sys.executable, "-c", SLOW_DISK_EXPORT, str(trained), str(out), "--overwrite", "--dtype",
                                    after], cwd=REPO, env=ONE_THREAD, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None and leftovers(out) == left:
            time.sleep(0.005)
        time.sleep(delay)
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=60)
        assert "Traceback" not in stderr
        assert dtype_of(out) in (before, after), (delay, stderr)
        # finished first (0), or stopped: by the signal itself, or 130/143 after removing what it had staged
        assert process.returncode in (0, -signum, 128 + signum), (delay, process.returncode, stderr)
    export_model(trained, out, "float32", overwrite=True)
    assert dtype_of(out) == "float32" and leftovers(out) == []


@pytest.mark.parametrize("failing", [1, 2, 3, 4])
def test_a_full_disk_during_export_keeps_the_old_model_and_says_so_truly(trained, tmp_path, monkeypatch, failing):
    out = tmp_path / "out"
    export_model(trained, out, "float32")
    before = folder_hash(out)
    real, calls = os.fsync, []

    def fsync(descriptor):
        calls.append(descriptor)
        if len(calls) == failing:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(descriptor)

    monkeypatch.setattr(os, "fsync", fsync)
    result = run("export", trained, out, "--overwrite", "--dtype", "bfloat16")
    monkeypatch.undo()
    one_line_error(result, "No space left on device")
    assert "unchanged" in result.stderr
    assert folder_hash(out) == before and dtype_of(out) == "float32" and leftovers(out) == []


def test_a_full_disk_when_exporting_to_a_new_folder_leaves_no_folder(trained, tmp_path, monkeypatch):
    out = tmp_path / "new" / "out"

    def fsync(descriptor):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", fsync)
    result = run("export", trained, out)
    monkeypatch.undo()
    one_line_error(result, "No space left on device")
    assert not out.exists()


FSIZE_EXPORT = r"""
import resource, sys
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[3]), int(sys.argv[3])))
from textgen.cli import main
sys.argv = ["textgen", "export", sys.argv[1], sys.argv[2], "--dtype", "float32"]
main()
"""


def test_a_file_size_limit_during_export_is_one_line_and_leaves_no_half_written_folder(trained, tmp_path):
    out = tmp_path / "out"
    limit = (trained / "model.safetensors").stat().st_size // 2
    done = subprocess.run([sys.executable, "-c", FSIZE_EXPORT, str(trained), str(out), str(limit)], cwd=REPO,
                          env=ONE_THREAD, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert [line for line in done.stderr.splitlines() if line.startswith("error:")] == [done.stderr.strip()]
    assert "File too large" in done.stderr and not out.exists()


# D2, D3: export touches only what it writes -------------------------------------------------------------

def test_export_into_a_folder_of_other_files_refuses_to_replace_them_without_overwrite(trained, tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    (out / "metrics.csv").write_text("my,own\n1,2\n")
    (out / "loss.png").write_bytes(b"my picture")
    (out / "notes.txt").write_text("mine")
    before = folder_hash(out)
    result = run("export", trained, out)
    one_line_error(result, "--overwrite")
    assert "metrics.csv" in result.stderr
    assert folder_hash(out) == before
    free = tmp_path / "other"
    free.mkdir()
    (free / "notes.txt").write_text("mine")
    assert run("export", trained, free).exit_code == 0  # files export does not write are no obstacle
    assert (free / "notes.txt").read_text() == "mine" and dtype_of(free) == "bfloat16"


def test_export_over_a_training_run_removes_its_resume_state_and_resume_then_says_so(trained, corpus, tmp_path):
    out = tmp_path / "run"
    tiny = ["--tokenizer-kind", "word", "--embed-dim", "8", "--hidden-size", "12", "--num-layers", "1",
            "--batch-size", "4", "--seq-len", "8", "--cache-dir", tmp_path / "cache"]
    assert run("train", corpus, "--out", out, *tiny, "--max-steps", "3").exit_code == 0
    assert (out / "lightning" / "last.ckpt").exists()
    refused = run("export", trained, out)
    one_line_error(refused, "--overwrite")
    (out / "lightning" / "mine.txt").write_text("mine")
    replaced = run("export", trained, out, "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    assert not (out / "lightning" / "last.ckpt").exists() and not (out / "lightning" / "best.ckpt").exists()
    assert (out / "lightning" / "mine.txt").read_text() == "mine"
    assert "lightning" in replaced.stderr  # said what went
    assert dtype_of(out) == "bfloat16"
    resumed = run("train", corpus, "--out", out, *tiny, "--max-steps", "6", "--resume")
    one_line_error(resumed, "no checkpoint")


def lock_holder(folder: Path) -> subprocess.Popen:
    """Another textgen process holding `folder`'s lock (as a training run does) until killed."""
    script = ("import sys, time\nfrom pathlib import Path\nfrom textgen.modeldir.run_folder import RunLock\n"
              "with RunLock(Path(sys.argv[1])):\n    print('held', flush=True)\n    time.sleep(60)")
    return subprocess.Popen([sys.executable, "-c", script, str(folder)], cwd=REPO, env=ONE_THREAD, stdout=subprocess.PIPE,
                            text=True)


def test_export_refuses_a_folder_another_process_is_writing(trained, tmp_path):
    out = tmp_path / "busy"
    holder = lock_holder(out)
    try:
        assert holder.stdout.readline().strip() == "held"
        result = run("export", trained, out)
        one_line_error(result, "another textgen process")
        assert not (out / "textgen.json").exists()
    finally:
        holder.kill()
        holder.wait()


# T1: symbolic link loops -----------------------------------------------------------------------------

@pytest.mark.parametrize("shape", ["self", "pair", "below"])
def test_a_symlink_loop_as_an_output_is_one_line(trained, corpus, tmp_path, shape):
    (tmp_path / "a").symlink_to(tmp_path / "a" if shape == "self" else tmp_path / "b")
    if shape != "self":
        (tmp_path / "b").symlink_to(tmp_path / "a")
    target = tmp_path / "a" / "out" if shape == "below" else tmp_path / "a"
    one_line_error(run("export", trained, target), "symbolic link")
    one_line_error(run("tokenizer", "train", corpus, "--kind", "word", "--out", target), "symbolic link")
    one_line_error(run("next", trained, "Once", "--plot", target), "symbolic link")


def test_a_symlink_loop_as_a_model_is_one_line(tmp_path):
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    one_line_error(run("generate", tmp_path / "loop"), "symbolic link")


# T4: output to a full device or a closed pipe ------------------------------------------------------------

@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="/dev/full is Linux's")
def test_output_to_a_full_device_is_one_line(trained):
    for args in (["next", str(trained), "Once"], ["generate", str(trained), "-n", "3", "--max-tokens", "5"],
                 ["corpus", "stats", str(REPO / "corpora" / "doug-jane-spot.txt"), "--json"]):
        with open("/dev/full", "w") as full:
            done = subprocess.run(textgen_process(*args), cwd=REPO, env=ONE_THREAD, stdout=full, stderr=subprocess.PIPE,
                                  text=True, timeout=120)
        assert done.returncode == 2, done.stderr
        assert done.stderr == "error: cannot write output (No space left on device)\n", done.stderr


def test_a_closed_pipe_ends_quietly(trained):
    # far more than a pipe's 64 KiB buffer holds, so the writer meets the closed pipe
    process = subprocess.Popen(textgen_process("generate", str(trained), "-n", "2000", "--max-tokens", "100"), cwd=REPO,
                               env=ONE_THREAD, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.readline()
    process.stdout.close()  # `| head -1`
    stderr = process.stderr.read().decode()
    process.wait(timeout=120)
    assert stderr == "" and process.returncode == 141, stderr


# T5: no read reserves more memory than the file holds -----------------------------------------------------

ADDRESS_LIMIT = 3 << 30  # torch and the shipped model take about 0.6 GB of address space with one thread


def test_the_shipped_model_loads_under_an_address_space_limit_far_below_the_largest_model_file():
    script = ("import resource, sys\nresource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[1]), int(sys.argv[1])))\n"
              "import textgen\nloaded = textgen.load('tinystories')\nprint(loaded.config.hidden_size)")
    done = subprocess.run([sys.executable, "-c", script, str(ADDRESS_LIMIT)], cwd=REPO, env=ONE_THREAD,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "768", done.stderr[-2000:]


def test_read_bytes_reserves_only_what_the_file_holds(tmp_path):
    from textgen.modeldir.safe_read import read_bytes

    path = tmp_path / "small"
    path.write_bytes(b"x" * 1000)
    script = ("import resource, sys\nresource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
              "from textgen.modeldir.safe_read import read_bytes\nprint(len(read_bytes(sys.argv[1], 'file', 64 << 30)))")
    done = subprocess.run([sys.executable, "-c", script, str(path)], cwd=REPO, env=ONE_THREAD, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "1000", done.stderr[-2000:]
    assert read_bytes(path, "file", 1000) == b"x" * 1000
    with pytest.raises(TextgenError, match="more than the 999"):
        read_bytes(path, "file", 999)


# U3: a FIFO as a model ----------------------------------------------------------------------------------

def test_a_fifo_as_a_model_path_is_not_called_missing(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    result = run("generate", tmp_path / "pipe")
    one_line_error(result, "is a pipe, not a model directory")
    assert "does not exist" not in result.stderr


# P2: the shipped model is read-only ------------------------------------------------------------------------

@pytest.fixture
def shipped(tmp_path, monkeypatch):
    """A copy of the shipped model standing in for it (so a failing test cannot change the real one)."""
    import textgen.modeldir.shipped

    folder = tmp_path / "installed" / "checkpoints"
    shutil.copytree(textgen.modeldir.shipped.SHIPPED_DIR / "tinystories-lstm", folder / "tinystories-lstm")
    monkeypatch.setattr(textgen.modeldir.shipped, "SHIPPED_DIR", folder)
    return folder / "tinystories-lstm"


def test_no_command_changes_the_shipped_model(shipped, trained, corpus, tmp_path):
    before = folder_hash(shipped)
    valid = tmp_path / "valid.txt"
    valid.write_text("Lily saw Tom. Tom saw Lily.\n<|endoftext|>\nBen and Mia played.\n<|endoftext|>\n")
    reviews = tmp_path / "reviews.jsonl"
    reviews.write_text("".join(json.dumps({"text": f"a {word} day", "rating": str(index % 2 + 1)}) + "\n"
                               for index, word in enumerate(["good", "bad", "fine", "poor"] * 5)))
    tune = ["--valid", valid, "--samples", "1", "--sizes", "0", "--max-tokens", "3"]
    for name in ("tinystories", shipped):
        one_line_error(run("tune-cast", name, *tune), "textgen export tinystories")
    assert run("tune-cast", "tinystories", *tune, "--dry-run").exit_code == 0  # reading is fine
    tiny = ["--tokenizer-kind", "word", "--embed-dim", "8", "--hidden-size", "12", "--num-layers", "1", "--batch-size", "4",
            "--max-steps", "2"]
    attempts = [
        ("export", trained, shipped, "--overwrite"),
        ("export", trained, shipped / "sub"),
        ("train", corpus, "--out", shipped, "--overwrite", *tiny, "--seq-len", "8", "--cache-dir", tmp_path / "cache"),
        ("classify", "train", reviews, "--out", shipped, "--overwrite", *tiny),
        ("next", "tinystories", "Once", "--plot", shipped / "loss.png"),
        ("tokenizer", "train", corpus, "--kind", "word", "--out", shipped / "tokenizer.model"),
        ("corpus", "split", corpus, "--out", shipped),
    ]
    for args in attempts:
        result = run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert "shipped model" in result.stderr, (args, result.stderr)
    assert folder_hash(shipped) == before
    assert run("export", "tinystories", tmp_path / "mine", "--dtype", "bfloat16").exit_code == 0  # a user copy is free


# the training run's export of its best weights, and readers meanwhile --------------------------------------

@pytest.mark.parametrize("at", range(1, 6))
def test_a_training_runs_export_killed_at_any_rename_keeps_a_model_and_the_run_files(trained, tmp_path, monkeypatch, at):
    from textgen.modeldir.store import save_model_dir

    run_folder = tmp_path / "run"
    shutil.copytree(trained, run_folder)
    kept = {name: (run_folder / name).read_bytes() for name in ("metrics.csv", "loss.png", "lightning/last.ckpt")}
    loaded = textgen.load(run_folder)
    metadata = {**loaded.metadata, "status": "saved again"}
    killed_at_rename(monkeypatch, at, lambda: save_model_dir(run_folder, loaded.model, loaded.tokenizer, metadata, "bfloat16"))
    assert dtype_of(run_folder) == ("float32" if at == 1 else "bfloat16")  # killed at the commit, or after it
    assert {name: (run_folder / name).read_bytes() for name in kept} == kept  # a model write leaves the run's files
    save_model_dir(run_folder, loaded.model, loaded.tokenizer, {**loaded.metadata, "status": "saved"})
    assert textgen.load(run_folder).metadata["status"] == "saved" and leftovers(run_folder) == []


def test_a_model_replaced_while_it_is_read_is_said_so(trained, tmp_path):
    from textgen.modeldir.schema import read_checked_files, read_metadata

    out = tmp_path / "out"
    export_model(trained, out, "float32")
    meta = read_metadata(out)
    export_model(trained, out, "bfloat16", overwrite=True)  # between reading textgen.json and the weights
    with pytest.raises(TextgenError, match="replaced while it was read"):
        read_checked_files(out, meta, meta["tokenizer"]["vocab_size"], 1)


def test_tune_cast_refuses_a_folder_another_process_is_writing(trained, tmp_path):
    from textgen.analysis.tune_cast import CastTuning, record_cast

    out = tmp_path / "busy"
    export_model(trained, out, "float32")
    holder = lock_holder(out)
    tuning = CastTuning("valid.txt", 2, 1.0, 1, 0, 3, chosen=2)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(TextgenError, match="another textgen process"):
            record_cast(out, tuning)
    finally:
        holder.kill()
        holder.wait()
    assert "sampling" not in json.loads((out / "textgen.json").read_text())
    assert record_cast(out, tuning)["settings"]["cast_size"] == 2
    assert textgen.load(out).sampling["cast_size"] == 2


def test_a_planted_manifest_moves_and_removes_nothing_but_textgens_files(trained, tmp_path):
    out = tmp_path / "out"
    export_model(trained, out, "float32")
    (out / "notes.txt").write_text("mine")
    staging = out / ".textgen-next"
    staging.mkdir()
    (staging / "notes.txt").write_text("planted")
    (staging / ".swap.json").write_text(json.dumps({"write": ["notes.txt"], "remove": ["../outside.txt", "textgen.json"]}))
    (tmp_path / "outside.txt").write_text("mine too")
    assert dtype_of(out) == "float32"
    export_model(trained, out, "bfloat16", overwrite=True)  # the next writer clears the leftover, obeying none of it
    assert (out / "notes.txt").read_text() == "mine" and (tmp_path / "outside.txt").read_text() == "mine too"
    assert dtype_of(out) == "bfloat16" and leftovers(out) == []


def test_the_installed_shipped_model_is_refused_as_an_output_and_stays_as_it_is(trained, corpus, tmp_path):
    from textgen.modeldir.shipped import SHIPPED_DIR

    folder = SHIPPED_DIR / "tinystories-lstm"
    before = folder_hash(folder)
    for args in (("tune-cast", "tinystories", "--samples", "1"), ("export", trained, folder, "--overwrite"),
                 ("train", corpus, "--out", folder, "--overwrite", "--max-steps", "1", "--cache-dir", tmp_path / "cache"),
                 ("next", trained, "Once", "--plot", folder / "loss.png")):
        result = run(*args)
        one_line_error(result, "shipped model tinystories")
    assert folder_hash(folder) == before and leftovers(folder) == []


# the lock: never someone else's file ------------------------------------------------------------------------

def review_rows(path: Path) -> Path:
    path.write_text("".join(json.dumps({"text": f"a {word} day", "rating": str(index % 2 + 1)}) + "\n"
                            for index, word in enumerate(["good", "bad", "fine", "poor"] * 5)))
    return path


TINY_TRAIN = ["--tokenizer-kind", "word", "--embed-dim", "8", "--hidden-size", "12", "--num-layers", "1", "--batch-size", "4",
              "--max-steps", "1"]


def writers(trained, corpus, out: Path, tmp_path: Path) -> dict[str, tuple]:
    """Every command that writes a model directory, aimed at `out` (which holds a model)."""
    valid = tmp_path / "valid.txt"
    valid.write_text("Lily saw Tom. Tom saw Lily.\n<|endoftext|>\nBen and Mia played.\n<|endoftext|>\n")
    return {
        "export": ("export", trained, out, "--overwrite"),
        "tune-cast": ("tune-cast", out, "--valid", valid, "--samples", "1", "--sizes", "0", "--max-tokens", "3"),
        "train": ("train", corpus, "--out", out, "--overwrite", *TINY_TRAIN, "--seq-len", "8", "--cache-dir", tmp_path / "c"),
        "classify train": ("classify", "train", review_rows(tmp_path / "reviews.jsonl"), "--out", out, "--overwrite",
                           *TINY_TRAIN),
    }


@pytest.mark.parametrize("command", ["export", "tune-cast", "train", "classify train"])
@pytest.mark.parametrize("planted", ["link", "foreign file"])
def test_a_lock_that_is_a_link_or_another_file_is_refused_and_never_written(trained, corpus, tmp_path, command, planted):
    """A `.textgen.lock` link (shipped in an archive, say) made every writer truncate its target
    and write `pid N` into it."""
    out = tmp_path / "model"
    export_model(trained, out, "float32")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    lock = out / ".textgen.lock"
    if planted == "link":
        lock.symlink_to(victim)
    else:
        lock.write_text("precious")
    before = folder_hash(out)
    result = run(*writers(trained, corpus, out, tmp_path)[command])
    one_line_error(result, "not textgen's lock")
    assert victim.read_text() == "precious" and folder_hash(out) == before
    assert lock.is_symlink() if planted == "link" else lock.read_text() == "precious"


def test_a_lock_a_killed_textgen_left_is_taken_over_and_removed(trained, tmp_path):
    out = tmp_path / "model"
    out.mkdir()
    (out / ".textgen.lock").write_text("pid 12345\n")
    export_model(trained, out, "float32")
    assert dtype_of(out) == "float32" and leftovers(out) == []


def test_a_full_disk_when_taking_the_lock_is_one_line_and_leaves_nothing(trained, tmp_path, monkeypatch):
    """0 bytes free: even the lock's `pid N` cannot be written (this was a traceback from flush)."""
    out = tmp_path / "new" / "out"

    def pwrite(descriptor, data, offset):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "pwrite", pwrite)
    result = run("export", trained, out)
    monkeypatch.undo()
    one_line_error(result, "No space left on device")
    assert "free some space" in result.stderr and not (tmp_path / "new").exists()


FSIZE_ZERO = r"""
import resource, sys
resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
from textgen.cli import main
sys.argv = ["textgen", *sys.argv[1:]]
main()
"""


@pytest.mark.parametrize("command", ["export", "train"])
def test_no_file_can_be_written_at_all_is_one_line_and_leaves_nothing(trained, corpus, tmp_path, command):
    """`ulimit -f 0`: export's lock cannot hold its pid, and train's Lightning import found no
    usable temporary folder (a traceback inside torchmetrics)."""
    out = tmp_path / "out"
    args = {"export": ["export", str(trained), str(out)],
            "train": ["train", str(corpus), "--out", str(out), *TINY_TRAIN, "--cache-dir", str(tmp_path / "c")]}[command]
    done = subprocess.run([sys.executable, "-c", FSIZE_ZERO, *args], cwd=REPO, env=ONE_THREAD, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2, done.stderr[-3000:]
    assert [line for line in done.stderr.splitlines() if line.startswith("error:")] == [done.stderr.strip()]
    assert ("File too large" if command == "export" else "no usable temporary folder") in done.stderr
    assert not out.exists() and not (tmp_path / "c").exists()


# a user's .next/ and .old/ are theirs --------------------------------------------------------------------

def plant_user_folders(folder: Path, trained: Path) -> dict[str, str]:
    """A web project's .next/ and a user's .old/ holding notes and a copy of some weights."""
    (folder / ".next" / "pages").mkdir(parents=True)
    (folder / ".next" / "pages" / "index.js").write_text("export default 1")
    (folder / ".old").mkdir()
    (folder / ".old" / "notes.txt").write_text("notes")
    shutil.copy(trained / "model.safetensors", folder / ".old" / "model.safetensors")
    return folder_hash(folder)


@pytest.mark.parametrize("command", ["export", "tune-cast", "train"])
def test_a_users_next_and_old_folders_are_left_alone_by_every_writer(trained, corpus, tmp_path, command):
    """Older textgen staged in .next/ and .old/: a folder of those names that holds anything but
    textgen's own files is the user's, and no writer moves or deletes a file of it."""
    out = tmp_path / "site"
    out.mkdir()
    if command == "tune-cast":
        export_model(trained, out, "float32")
    before = plant_user_folders(out, trained)
    args = writers(trained, corpus, out, tmp_path)[command]
    result = run(*[arg for arg in args if arg != "--overwrite"] if command != "tune-cast" else args)
    assert result.exit_code == 0, result.output
    after = folder_hash(out)
    assert {name: digest for name, digest in after.items() if name.startswith((".next", ".old"))} == \
        {name: digest for name, digest in before.items() if name.startswith((".next", ".old"))}
    assert "removed an unfinished write" not in result.stderr and "finished replacing" not in result.stderr
    assert (out / "textgen.json").is_file()


def test_an_older_textgens_staging_is_still_recovered_and_the_new_name_too(trained, tmp_path):
    """.next/ holding only textgen's files (an older textgen's --overwrite killed before its commit)
    and .textgen-next/ (this one's) are cleared by the next writer; the model in place stays."""
    out = tmp_path / "out"
    export_model(trained, out, "float32")
    for name in (".next", ".textgen-next"):
        (out / name / "lightning").mkdir(parents=True)
        (out / name / "textgen.json").write_text("half")
        (out / name / ".textgen.json.k2j3.tmp").write_text("half")
        (out / name / "lightning" / "last.ckpt").write_text("half")
    assert dtype_of(out) == "float32"
    export_model(trained, out, "bfloat16", overwrite=True)
    assert dtype_of(out) == "bfloat16" and leftovers(out) == []


def test_something_else_where_textgen_stages_is_refused_not_followed(trained, tmp_path):
    out = tmp_path / "out"
    export_model(trained, out, "float32")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "textgen.json").write_text("mine")
    (out / ".textgen-next").symlink_to(elsewhere)
    result = run("export", trained, out, "--overwrite")
    one_line_error(result, "in the way of textgen's staging folder")
    assert (elsewhere / "textgen.json").read_text() == "mine" and dtype_of(out) == "float32"


# tune-cast: the choice lands on the model it was made for ------------------------------------------------

def test_tune_cast_refuses_to_record_into_a_model_replaced_during_its_search(trained, tmp_path):
    from textgen.analysis.tune_cast import CastTuning, record_cast

    out = tmp_path / "model"
    export_model(trained, out, "float32")
    searched = textgen.load(out).metadata["files"]
    export_model(trained, out, "bfloat16", overwrite=True)  # another command, while the search ran
    before = (out / "textgen.json").read_bytes()
    tuning = CastTuning("valid.txt", 2, 1.0, 1, 0, 3, chosen=2)
    changed = r"changed while tune-cast ran \(another textgen command wrote a model there\): run tune-cast again"
    with pytest.raises(TextgenError, match=changed) as raised:
        record_cast(out, tuning, searched)
    assert "\n" not in str(raised.value) and (out / "textgen.json").read_bytes() == before
    assert record_cast(out, tuning, textgen.load(out).metadata["files"])["settings"]["cast_size"] == 2


def test_tune_cast_on_a_folder_of_links_to_the_shipped_model_writes_its_own_description(shipped, tmp_path):
    """Links in a model directory are its own entries: the choice replaces the textgen.json link
    with a file of the folder's own, and the shipped model stays as it is."""
    before = folder_hash(shipped)
    mine = tmp_path / "mine"
    mine.mkdir()
    for path in shipped.iterdir():
        (mine / path.name).symlink_to(path)
    valid = tmp_path / "valid.txt"
    valid.write_text("Lily saw Tom. Tom saw Lily.\n<|endoftext|>\nBen and Mia played.\n<|endoftext|>\n")
    result = run("tune-cast", mine, "--valid", valid, "--samples", "1", "--sizes", "0", "--max-tokens", "3")
    assert result.exit_code == 0, result.output
    assert folder_hash(shipped) == before
    assert not (mine / "textgen.json").is_symlink() and (mine / "model.safetensors").is_symlink()
    assert textgen.load(mine).sampling["cast_size"] == 0


# a model file larger than its description allows ---------------------------------------------------------

def test_a_weights_file_larger_than_the_model_can_fill_is_refused_unread(trained, tmp_path):
    """An 8 GB (sparse) model.safetensors beside a description of a tiny model: refused by its size,
    before a byte is read or reserved (read_bytes once reserved it and failed with MemoryError)."""
    out = tmp_path / "model"
    shutil.copytree(trained, out)
    with open(out / "model.safetensors", "r+b") as file:
        file.truncate(8 << 30)  # sparse: no disk used
    with pytest.raises(TextgenError, match=r"more than a model of [\d,]+ parameters can fill"):
        textgen.load(out)


# names that are not UTF-8 ----------------------------------------------------------------------------------

def test_paths_that_are_not_utf8_are_written_into_textgen_json_and_read_back(trained, corpus, tmp_path):
    """A name of bytes that are not UTF-8 (Python holds them as lone surrogates) crashed the write of
    textgen.json: it is stored as JSON's \\udcXX escapes, valid UTF-8 that reads back as the same path."""
    source = Path(os.fsdecode(os.fsencode(str(tmp_path)) + b"/src\xffm"))
    export_model(trained, source, "float32")
    copy = tmp_path / "copy"
    export_model(source, copy, "float32")
    assert textgen.load(copy).metadata["exported_from"] == str(source)
    json.loads((copy / "textgen.json").read_bytes().decode("utf-8"))  # valid UTF-8 JSON
    run_out = os.fsencode(str(tmp_path)) + b"/tr\xffx"
    done = subprocess.run([*textgen_process("train", str(corpus), "--out", os.fsdecode(run_out), *TINY_TRAIN, "--seq-len",
                                            "8", "--cache-dir", str(tmp_path / "c"))],
                          cwd=REPO, env={**ONE_THREAD, "LC_ALL": "C.UTF-8"}, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert textgen.load(os.fsdecode(run_out)).metadata["status"] == "trained"


# the shipped model reached another way -----------------------------------------------------------------------

def test_a_hard_link_to_a_shipped_file_counts_as_the_shipped_model(shipped, tmp_path):
    from textgen.modeldir.shipped import shipped_model_at

    linked = tmp_path / "elsewhere" / "textgen.json"
    linked.parent.mkdir()
    os.link(shipped / "textgen.json", linked)
    assert shipped_model_at(linked) == "tinystories" and shipped_model_at(tmp_path / "elsewhere" / "other") is None


def can_bind_mount() -> bool:
    import shutil as tools

    return sys.platform.startswith("linux") and tools.which("unshare") is not None and \
        subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode == 0


BIND_MOUNTED = r"""
import subprocess, sys
from pathlib import Path
import textgen.modeldir.shipped
from textgen.cli import main
shipped, mount, trained = sys.argv[1:4]
textgen.modeldir.shipped.SHIPPED_DIR = Path(shipped).parent
subprocess.run(["mount", "--bind", shipped, mount], check=True)
sys.argv = ["textgen", "export", trained, mount, "--overwrite"]
main()
"""


@pytest.mark.skipif(not can_bind_mount(), reason="needs unshare -rm (a private mount namespace) to bind-mount")
def test_a_bind_mount_of_the_shipped_model_is_refused(shipped, trained, tmp_path):
    """The real path of a bind mount is the mount point, not the shipped folder: compared by device
    and inode, it is the shipped model. The mount lives in a private namespace of the child alone."""
    before = folder_hash(shipped)
    mount = tmp_path / "mount"
    mount.mkdir()
    done = subprocess.run(["unshare", "-rm", sys.executable, "-c", BIND_MOUNTED, str(shipped), str(mount), str(trained)],
                          cwd=REPO, env=ONE_THREAD, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "shipped model tinystories" in done.stderr, done.stderr[-3000:]
    assert folder_hash(shipped) == before


# messages -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["export", "train"])
def test_a_link_to_nowhere_as_the_output_folder_says_so(trained, corpus, tmp_path, command):
    out = tmp_path / "dangling"
    out.symlink_to(tmp_path / "missing" / "dir")
    args = {"export": ("export", trained, out),
            "train": ("train", corpus, "--out", out, *TINY_TRAIN, "--cache-dir", tmp_path / "c")}[command]
    one_line_error(run(*args), "is a symbolic link to")
    assert out.is_symlink() and not (tmp_path / "missing").exists()
