"""A run folder has one owner, an --overwrite run replaces the old one only after it has saved,
and after any kill or a full disk the folder says what it holds and nothing is lost."""

from __future__ import annotations

import csv
import errno
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
from tests.conftest import REPO, killed_at_rename, textgen_process

from textgen.cli import cli
from textgen.modeldir.run_folder import RunLock, recover, swap_in

TINY = ["--tokenizer-kind", "word", "--embed-dim", "8", "--hidden-size", "16", "--num-layers", "1", "--batch-size", "4",
        "--seq-len", "8", "--log-every", "1"]


def train(corpus, out, *extra):
    return CliRunner().invoke(cli, ["train", str(corpus), "--out", str(out), *TINY, "--cache-dir", str(out.parent / "cache"),
                                    *map(str, extra)])


def launch(corpus, out, *extra) -> subprocess.Popen:
    command = [sys.executable, "-m", "textgen.cli", "train", str(corpus), "--out", str(out), *TINY,
               "--cache-dir", str(out.parent / "cache"), *map(str, extra)]
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def wait_for_line(process: subprocess.Popen, fragment: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if fragment in line:
            return
        if not line and process.poll() is not None:
            break
    raise AssertionError(f"never saw {fragment!r}")


def metric_steps(out) -> list[int]:
    with open(out / "metrics.csv", newline="") as file:
        return [int(row["step"]) for row in csv.DictReader(file) if row["loss"]]


def test_a_failed_overwrite_leaves_the_old_run_whole_and_user_files_stay(tmp_path, corpus):
    out = tmp_path / "run"
    assert train(corpus, out, "--max-steps", 4).exit_code == 0
    (out / "lightning" / "notes.txt").write_text("mine")
    (out / "README.txt").write_text("mine too")
    kept = ("model.safetensors", "textgen.json", "metrics.csv", "loss.png", "tokenizer.json", "lightning/last.ckpt",
            "lightning/best.ckpt")
    before = {name: (out / name).read_bytes() for name in kept}
    failed = train(corpus, out, "--overwrite", "--max-steps", 4, "--lr", "1e30")  # the loss blows up before any save
    assert failed.exit_code == 2, failed.output
    assert {name: (out / name).read_bytes() for name in before} == before
    huge = train(corpus, out, "--overwrite", "--max-steps", 4, "--hidden-size", 100_000_000)  # refused before any work
    assert huge.exit_code == 2, huge.output
    assert "parameters" in huge.stderr
    assert {name: (out / name).read_bytes() for name in before} == before
    assert not (out / ".textgen-next").exists()
    replaced = train(corpus, out, "--overwrite", "--max-steps", 6)
    assert replaced.exit_code == 0, replaced.output
    assert json.loads((out / "textgen.json").read_text())["metrics"]["step"] == 6
    assert (out / "lightning" / "notes.txt").read_text() == "mine" and (out / "README.txt").read_text() == "mine too"
    assert not (out / ".textgen-next").exists() and not (out / ".next").exists() and not (out / ".old").exists()


@pytest.mark.slow
def test_a_killed_overwrite_before_its_first_save_keeps_the_old_run(tmp_path, corpus):
    out = tmp_path / "run"
    assert train(corpus, out, "--max-steps", 4).exit_code == 0
    weights = (out / "model.safetensors").read_bytes()
    process = launch(corpus, out, "--overwrite", "--max-steps", 100000, "--val-every", 100000)
    wait_for_line(process, "limit:")
    time.sleep(1.0)
    process.kill()
    process.wait()
    assert (out / "model.safetensors").read_bytes() == weights and (out / ".textgen-next").exists()
    assert train(corpus, out, "--resume", "--max-steps", 6).exit_code == 0  # the leftover is cleaned up first
    assert not (out / ".textgen-next").exists()


@pytest.mark.slow
def test_two_runs_on_one_folder_the_second_is_refused(tmp_path, corpus):
    out = tmp_path / "run"
    process = launch(corpus, out, "--max-steps", 100000, "--val-every", 100000)
    try:
        wait_for_line(process, "limit:")
        second = train(corpus, out, "--overwrite", "--max-steps", 3)
        assert second.exit_code == 2 and "in use by another textgen process" in second.stderr
    finally:
        process.kill()
        process.wait()


@pytest.mark.slow
def test_after_sigkill_the_status_is_honest_and_resume_keeps_the_whole_curve(tmp_path, corpus):
    out = tmp_path / "run"
    process = launch(corpus, out, "--max-steps", 100000, "--val-every", 5)
    wait_for_line(process, "step 10:")
    process.send_signal(signal.SIGKILL)
    process.wait()
    meta = json.loads((out / "textgen.json").read_text())
    assert meta["status"] == "training"  # not "trained": it was killed
    saved = meta["metrics"]["step"]
    assert metric_steps(out) == list(range(1, saved + 1))  # the curve on disk stops at the saved step
    result = train(corpus, out, "--resume", "--max-steps", saved + 7)
    assert result.exit_code == 0, result.output
    assert metric_steps(out) == list(range(1, saved + 8))  # no hole before the checkpoint
    assert json.loads((out / "textgen.json").read_text())["status"] == "trained"
    assert "7 more steps" in result.stdout


def full_disk_on(monkeypatch, target: str, step: int) -> None:
    """torch.save fails as on a full disk (part of the file written, then ENOSPC) when it writes `target`
    (last.ckpt or best.ckpt) for step `step`; every other write goes through."""
    import torch

    real = torch.save

    def save(obj, file, *args, **kwargs):
        name = Path(getattr(file, "name", str(file))).name
        if isinstance(obj, dict) and obj.get("global_step") == step and name.startswith(f".{target}."):
            file.write(b"\0" * 4096)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(obj, file, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)


@pytest.mark.parametrize(("target", "model_step", "curve_step", "note"), [
    ("best.ckpt", 4, 4, "; free space"),  # the first write of step 8 fails: nothing of step 8 is kept
    ("last.ckpt", 8, 8, "; the model directory already holds step 8's weights; free space"),  # the last write fails
])
def test_a_full_disk_keeps_the_last_good_checkpoint_and_says_what_is_kept(tmp_path, corpus, monkeypatch, target, model_step,
                                                                           curve_step, note):
    out = tmp_path / "run"
    full_disk_on(monkeypatch, target, 8)
    import textgen.analysis.plots

    real_plot, plotted = textgen.analysis.plots.plot_training_curves, []

    def plot(metrics_csv, path):
        plotted.append(max(metric_steps(out)))
        real_plot(metrics_csv, path)

    monkeypatch.setattr(textgen.analysis.plots, "plot_training_curves", plot)
    result = train(corpus, out, "--max-steps", 12, "--val-every", 4)
    assert result.exit_code == 2 and result.stderr.count("error:") == 1, result.output
    assert "No space left on device" in result.stderr, result.stderr
    assert f"lightning/last.ckpt keeps step 4{note}, then continue with --resume" in result.stderr, result.stderr
    assert not [path for path in out.rglob("*") if path.name.endswith(".tmp")]  # the failed write left no partial file
    assert max(metric_steps(out)) == curve_step  # nothing written for a step beyond what the model directory holds
    assert json.loads((out / "textgen.json").read_text())["metrics"]["step"] == model_step
    assert plotted and max(plotted) == curve_step
    assert (out / "loss.png").read_bytes()[:4] == b"\x89PNG"
    monkeypatch.undo()  # space freed: the run continues from step 4 as the message said
    resumed = train(corpus, out, "--resume", "--max-steps", 12)
    assert resumed.exit_code == 0, resumed.output
    assert metric_steps(out) == list(range(1, 13))
    assert json.loads((out / "textgen.json").read_text())["status"] == "trained"


def test_resume_needs_steps_beyond_the_run_and_counts_the_new_ones(tmp_path, corpus):
    out = tmp_path / "run"
    assert train(corpus, out, "--max-steps", 8).exit_code == 0
    behind = train(corpus, out, "--resume", "--max-steps", 5)
    assert behind.exit_code == 2 and "not beyond the run's step 8" in behind.stderr
    more = train(corpus, out, "--resume", "--max-steps", 11, "--json")
    summary = json.loads(more.stdout)
    assert summary["steps"] == 11 and summary["new_steps"] == 3


def test_an_unwritable_cache_folder_is_named_before_any_work_and_failed_runs_leave_no_cache(tmp_path, corpus):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    result = CliRunner().invoke(cli, ["train", str(corpus), "--out", str(tmp_path / "run"), *TINY, "--max-steps", "2",
                                      "--cache-dir", str(blocked / "cache")])
    assert result.exit_code == 2 and "--cache-dir" in result.stderr and "tokenizer:" not in result.stderr
    assert not (tmp_path / "run").exists()
    failed = CliRunner().invoke(cli, ["train", str(corpus), "--out", str(tmp_path / "bad"), *TINY, "--max-steps", "2",
                                      "--lr", "1e30", "--cache-dir", str(tmp_path / "fresh-cache")])
    assert failed.exit_code == 2
    assert not (tmp_path / "fresh-cache").exists() and not (tmp_path / "bad").exists()


def test_a_huge_model_is_refused_before_anything_is_written(tmp_path, corpus):
    result = train(corpus, tmp_path / "run", "--hidden-size", 100_000_000, "--max-steps", 2)
    assert result.exit_code == 2 and result.stderr.count("error:") == 1 and "parameters" in result.stderr
    assert not (tmp_path / "run").exists()


def test_validating_on_the_training_corpus_is_noted(tmp_path, corpus):
    result = train(corpus, tmp_path / "run", "--valid", corpus, "--max-steps", 2)
    assert result.exit_code == 0 and "--valid is the training corpus itself" in result.stderr


def test_the_lock_is_exclusive_and_recovery_finishes_or_rolls_back_a_swap(tmp_path):
    folder = tmp_path / "run"
    with RunLock(folder):
        with pytest.raises(Exception, match="another textgen process"):
            RunLock(folder).__enter__()
    assert not (folder / ".textgen.lock").exists()
    # killed inside a swap: the new run had saved, so recovery finishes the swap
    (folder / "textgen.json").write_text("old")
    staging = folder / ".next"
    staging.mkdir()
    (staging / "textgen.json").write_text("new")
    (folder / ".old").mkdir()
    assert "finished" in recover(folder)
    assert (folder / "textgen.json").read_text() == "new" and not staging.exists() and not (folder / ".old").exists()
    # a new run killed before its first save: its staging goes, the run in place stays
    staging.mkdir()
    (staging / "textgen.json").write_text("newer")
    assert "unfinished" in recover(folder)
    assert (folder / "textgen.json").read_text() == "new"
    # swap_in moves textgen's files only
    (folder / "mine.txt").write_text("mine")
    staging.mkdir()
    (staging / "model.safetensors").write_text("weights")
    swap_in(folder, staging)
    assert (folder / "mine.txt").read_text() == "mine" and not (folder / "textgen.json").exists()
    assert (folder / "model.safetensors").read_text() == "weights"



@pytest.mark.parametrize("staging_name", [".textgen-next", ".next"])  # textgen's staging now, and an older textgen's
@pytest.mark.parametrize("at", range(1, 10))
def test_a_swap_killed_at_any_rename_is_finished_by_recovery_with_every_new_file(tmp_path, monkeypatch, at, staging_name):
    folder, staging = tmp_path / "run", tmp_path / "run" / staging_name
    old = {"textgen.json": "old", "model.safetensors": "old", "metrics.csv": "old", "lightning/last.ckpt": "old",
           "lightning/best.ckpt": "old"}
    new = {"textgen.json": "new", "model.safetensors": "new", "tokenizer.json": "new", "lightning/last.ckpt": "new"}
    for root, files in ((folder, old), (staging, new)):
        for name, text in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
    (folder / "mine.txt").write_text("mine")
    killed_at_rename(monkeypatch, at, lambda: swap_in(folder, staging))
    recover(folder)
    files = {str(path.relative_to(folder)): path.read_text() for path in folder.rglob("*") if path.is_file()}
    assert files in ({**old, "mine.txt": "mine"}, {**new, "mine.txt": "mine"})  # never a mix, never a file short
    assert not staging.exists()


DAMAGED_DESCRIPTIONS = {
    "a list": "[1, 2]",
    "deep": "[" * 100_000 + "]" * 100_000,
    "a huge number": '{"format": "textgen-model", "format_version": ' + "1" * 5000 + "}",
    "no model": '{"format": "textgen-model", "format_version": 1}',
}


@pytest.fixture(scope="module")
def saved_runs(tmp_path_factory, corpus):
    """A language model's run and a classifier's, each with a checkpoint to resume."""
    folder = tmp_path_factory.mktemp("saved")
    reviews = folder / "reviews.jsonl"
    reviews.write_text("".join(json.dumps({"text": f"a {word} day", "rating": str(index % 2 + 1)}) + "\n"
                               for index, word in enumerate(["good", "bad", "fine", "poor"] * 5)))
    assert train(corpus, folder / "lm", "--max-steps", 2).exit_code == 0
    result = CliRunner().invoke(cli, ["classify", "train", str(reviews), "--out", str(folder / "cls"), "--tokenizer-kind", "word",
                                      "--embed-dim", "8", "--hidden-size", "16", "--num-layers", "1", "--batch-size", "4",
                                      "--max-steps", "2"])
    assert result.exit_code == 0, result.output
    return {"train": (corpus, folder / "lm"), "classify train": (reviews, folder / "cls")}


def resume(command: str, data, out, *extra):
    if command == "train":
        return train(data, out, "--resume", "--max-steps", 3, *extra)
    return CliRunner().invoke(cli, ["classify", "train", str(data), "--out", str(out), "--resume", "--max-steps", "3",
                                    *map(str, extra)])


@pytest.mark.parametrize("damage", sorted(DAMAGED_DESCRIPTIONS))
@pytest.mark.parametrize("command", ["train", "classify train"])
def test_resume_reads_a_damaged_description_as_one_line_not_a_traceback(saved_runs, command, damage):
    """--resume parsed textgen.json with plain json.loads: [1, 2] gave AttributeError, deep nesting
    RecursionError, a huge number ValueError."""
    data, out = saved_runs[command]
    meta = out / "textgen.json"
    good = meta.read_text()
    try:
        meta.write_text(DAMAGED_DESCRIPTIONS[damage])
        result = resume(command, data, out)
        assert result.exit_code == 2, result.output
        lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(lines) == 1 and "textgen.json" in lines[0], result.stderr
    finally:
        meta.write_text(good)


def test_a_classifiers_description_without_its_labels_is_one_line_on_resume(saved_runs):
    data, out = saved_runs["classify train"]
    meta = out / "textgen.json"
    good = meta.read_text()
    try:
        meta.write_text(json.dumps({key: value for key, value in json.loads(good).items() if key != "labels"}))
        result = resume("classify train", data, out)
        assert result.exit_code == 2 and "labels must be an object" in result.stderr, result.output
    finally:
        meta.write_text(good)


@pytest.mark.parametrize("name", ["lightning/last.ckpt", "textgen.json", "metrics.csv"])
def test_a_pipe_in_place_of_a_runs_file_is_named_as_a_pipe_on_resume(saved_runs, tmp_path, name):
    """A FIFO as last.ckpt was "found no checkpoint"; as textgen.json, "output path ... choose a file
    name"; as metrics.csv, the resume waited on it forever."""
    data, source = saved_runs["train"]
    out = tmp_path / "run"
    shutil.copytree(source, out)
    (out / name).unlink()
    os.mkfifo(out / name)
    done = subprocess.run(textgen_process("train", str(data), "--out", str(out), "--resume", "--max-steps", "3", *TINY,
                                          "--cache-dir", str(out.parent / "cache")),
                          cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=120)
    result = done  # a pipe read by mistake would wait forever: the timeout says so
    assert done.returncode == 2, done.stderr[-3000:]
    assert f"{name.split('/')[-1]} is a pipe" in result.stderr and "found no checkpoint" not in result.stderr
    assert "choose a file name" not in result.stderr


def test_a_checkpoint_write_never_follows_a_link_at_its_temporary_name(tmp_path):
    """lightning/.last.ckpt.PID.tmp is a predictable name: a link planted there was opened and
    truncated; now it is removed and a new file made in its place."""
    from textgen.training.checkpoint_file import write_checkpoint

    lightning = tmp_path / "run" / "lightning"
    lightning.mkdir(parents=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (lightning / f".last.ckpt.{os.getpid()}.tmp").symlink_to(victim)
    write_checkpoint({"step": 3}, lightning / "last.ckpt")
    assert victim.read_text() == "precious" and (lightning / "last.ckpt").is_file()
    assert sorted(path.name for path in lightning.iterdir()) == ["last.ckpt"]


@pytest.mark.parametrize("manifest", ["deep", "link", "huge number"])
def test_a_manifest_that_is_no_manifest_commits_nothing(tmp_path, manifest):
    """A staging folder whose .swap.json is deeply nested, a link or holds a huge number was a
    RecursionError or ValueError, or was read through the link: it is an uncommitted write."""
    folder = tmp_path / "run"
    staging = folder / ".textgen-next"
    staging.mkdir(parents=True)
    (folder / "textgen.json").write_text("old")
    (staging / "textgen.json").write_text("new")
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps({"write": ["textgen.json"], "remove": []}))
    if manifest == "link":
        (staging / ".swap.json").symlink_to(elsewhere)
    else:
        (staging / ".swap.json").write_text("[" * 100_000 + "]" * 100_000 if manifest == "deep" else
                                            '{"write": [' + "1" * 5000 + '], "remove": []}')
    assert "unfinished" in recover(folder)
    assert (folder / "textgen.json").read_text() == "old" and not staging.exists() and elsewhere.is_file()
