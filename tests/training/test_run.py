"""textgen train end to end on tiny configs (textgen/training/run.py): the model directory, resume, refusals."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from tests.conftest import ONE_THREAD, REPO, one_line_error, textgen_process

import textgen
from textgen.cli import cli
from textgen.errors import TextgenError

TINY = ["--tokenizer-kind", "word", "--embed-dim", "8", "--hidden-size", "16", "--num-layers", "1", "--batch-size", "4",
        "--seq-len", "8", "--val-every", "10", "--log-every", "5"]


def train(corpus, out, *extra, check=True):
    result = CliRunner().invoke(cli, ["train", str(corpus), "--out", str(out), *TINY, "--cache-dir", str(out.parent / "cache"),
                                      *map(str, extra)])
    if check:
        assert result.exit_code == 0, result.output + str(result.exception)
    return result


def test_train_writes_a_loadable_model_directory(trained):
    for name in ("textgen.json", "model.safetensors", "tokenizer.json", "metrics.csv", "loss.png",
                 "lightning/last.ckpt", "lightning/best.ckpt"):
        assert (trained / name).is_file(), name
    meta = json.loads((trained / "textgen.json").read_text())
    assert meta["format_version"] == 1 and meta["tokenizer"]["kind"] == "word"
    assert meta["corpus"]["fingerprint"]
    assert meta["command"][:2] == ["textgen", "train"]  # the command as typed, also when run through CliRunner
    assert meta["command"][3:5] == ["--out", str(trained)]
    assert {"loss", "perplexity", "bits_per_byte"} <= meta["metrics"].keys()
    assert (trained / "loss.png").read_bytes()[:4] == b"\x89PNG"
    assert "val_perplexity" in (trained / "metrics.csv").read_text().splitlines()[0]


def test_save_then_load_gives_identical_logits(trained):
    first, second = textgen.load(trained), textgen.load(trained)
    tokens = torch.randint(0, first.config.vocab_size, (2, 12))
    assert torch.equal(first.model(tokens)[0], second.model(tokens)[0])
    # the directory holds the best validation's weight average (--average's default), which best.ckpt
    # keeps beside the raw weights, in the order of the parameters
    checkpoint = torch.load(trained / "lightning" / "best.ckpt", map_location="cpu", weights_only=True)
    reference = textgen.load(trained).model
    with torch.no_grad():
        for parameter, average in zip(reference.parameters(), checkpoint["textgen"]["average"], strict=True):
            parameter.copy_(average)
    assert torch.equal(reference(tokens)[0], first.model(tokens)[0])


def test_json_summary_when_the_last_step_is_not_a_validation_step(tmp_path, corpus):
    result = train(corpus, tmp_path / "run", "--max-steps", 13, "--json")
    summary = json.loads(result.stdout)
    assert summary["steps"] == 13 and summary["valid_perplexity"] > 1 and not summary["interrupted"]
    assert textgen.load(tmp_path / "run").metadata["metrics"]["step"] == 13


def test_max_time_stops_training(tmp_path, corpus):
    result = train(corpus, tmp_path / "run", "--max-steps", 100000, "--max-time", "2s", "--json")
    assert 0 < json.loads(result.stdout)["steps"] < 100000


def test_resume_continues_exactly(tmp_path, corpus):
    """A run cut at step N and resumed to 2N ends where an uninterrupted 2N-step run ends."""
    common = ["--schedule", "constant", "--warmup-steps", "0", "--deterministic", "--json"]
    whole = json.loads(train(corpus, tmp_path / "whole", "--max-steps", 20, *common).stdout)
    train(corpus, tmp_path / "cut", "--max-steps", 10, *common)
    resumed = json.loads(train(corpus, tmp_path / "cut", "--resume", "--max-steps", 20, "--json").stdout)
    assert resumed["steps"] == 20
    assert abs(resumed["valid_loss"] - whole["valid_loss"]) < 1e-4
    rows = (tmp_path / "cut" / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("step") and sum(row.startswith("20,") for row in rows) >= 1  # curves span both parts


def test_a_weight_average_is_exported_and_resumes_exactly(tmp_path, corpus):
    """--average: the model directory holds the moving average (not the last raw weights), and a run
    cut and resumed ends where the uninterrupted one ends (the average is in the checkpoint)."""
    common = ["--average", "0.9", "--schedule", "constant", "--warmup-steps", "0", "--deterministic", "--json"]
    whole = json.loads(train(corpus, tmp_path / "whole", "--max-steps", 20, *common).stdout)
    train(corpus, tmp_path / "cut", "--max-steps", 10, *common)
    resumed = json.loads(train(corpus, tmp_path / "cut", "--resume", "--max-steps", 20, "--json").stdout)
    assert abs(resumed["valid_loss"] - whole["valid_loss"]) < 1e-4
    checkpoint = torch.load(tmp_path / "whole" / "lightning" / "last.ckpt", map_location="cpu", weights_only=True)
    raw = checkpoint["state_dict"]["model.decoder.bias"]
    exported = textgen.load(tmp_path / "whole").model.decoder.bias.detach()
    assert checkpoint["textgen"]["average_updates"] == 20
    assert not torch.allclose(exported, raw) and torch.allclose(exported, checkpoint["textgen"]["average"][-1])


def test_windows_batching_and_ntasgd_train(tmp_path, corpus):
    windows = json.loads(train(corpus, tmp_path / "windows", "--max-steps", 10, "--batching", "windows", "--json").stdout)
    assert windows["steps"] == windows["new_steps"] == 10 and not windows["interrupted"]
    meta = json.loads((tmp_path / "windows" / "textgen.json").read_text())
    assert meta["training"]["batching"] == "windows" and meta["status"] == "trained"
    assert meta["metrics"]["loss"] == pytest.approx(windows["valid_loss"])
    assert textgen.load(tmp_path / "windows").model.config.hidden_size == 16
    asgd = train(corpus, tmp_path / "asgd", "--max-steps", 30, "--optimizer", "ntasgd", "--lr", "5", "--val-every", "5")
    assert "limit: 30 steps" in asgd.stderr and asgd.stdout.startswith("trained 30 steps in ")
    meta = json.loads((tmp_path / "asgd" / "textgen.json").read_text())
    assert (meta["training"]["optimizer"], meta["training"]["lr"], meta["training"]["average"]) == ("ntasgd", 5.0, 0.0)
    rows = (tmp_path / "asgd" / "metrics.csv").read_text().splitlines()
    validated = [row.split(",")[0] for row in rows[1:] if row.split(",")[5]]  # val_loss is the sixth column
    assert rows[0].split(",")[5] == "val_loss" and validated == ["5", "10", "15", "20", "25", "30"]  # --val-every 5
    assert all(row.split(",")[3] == "5.0" for row in rows[1:] if row.split(",")[3])  # SGD at the given rate throughout
    assert textgen.load(tmp_path / "asgd").model.config.vocab_size == meta["model"]["vocab_size"]


@pytest.mark.parametrize(
    ("case", "fragment"),
    [("exists", "holds another run"), ("no-checkpoint", "found no checkpoint"), ("shape", "changed model shape: hidden_size"),
     ("tokenizer", "changed tokenizer"), ("both", "contradict")],
)
def test_resume_and_output_refusals(tmp_path, corpus, trained, case, fragment):
    if case == "exists":
        result = train(corpus, trained, "--max-steps", 5, check=False)
    elif case == "no-checkpoint":
        result = train(corpus, tmp_path / "fresh", "--resume", check=False)
    elif case == "shape":
        result = train(corpus, trained, "--resume", "--hidden-size", 32, check=False)
    elif case == "tokenizer":
        result = train(corpus, trained, "--resume", "--tokenizer-kind", "char", check=False)
    else:
        result = train(corpus, trained, "--resume", "--overwrite", check=False)
    one_line_error(result, fragment)


def test_overwrite_replaces_a_run(tmp_path, corpus):
    out = tmp_path / "run"
    train(corpus, out, "--max-steps", 10)
    train(corpus, out, "--max-steps", 10, "--overwrite", "--hidden-size", 12)
    assert textgen.load(out).config.hidden_size == 12


def test_corpus_shorter_than_one_batch(tmp_path):
    small = tmp_path / "small.txt"
    small.write_text("Doug saw Jane.\n\nJane saw Spot.\n\nSpot saw Doug.\n")
    result = CliRunner().invoke(cli, ["train", str(small), "--out", str(tmp_path / "run"), *TINY, "--batch-size", "32",
                                      "--valid-fraction", "0", "--cache-dir", str(tmp_path / "cache")])
    one_line_error(result, "fewer than one batch needs (32 x 9 = 288)")


def test_nan_loss_stops_with_one_line(tmp_path, corpus):
    result = train(corpus, tmp_path / "run", "--max-steps", 30, "--lr", "1e30", "--warmup-steps", "0", check=False)
    one_line_error(result, "try a lower learning rate")
    assert "at step" in result.stderr


def test_bad_training_settings_fail_before_work(tmp_path, corpus):
    one_line_error(train(corpus, tmp_path / "a", "--embed-dropout", "1.5", check=False), "embed_dropout")
    one_line_error(train(corpus, tmp_path / "b", "--precision", "8", check=False), "precision")
    assert not (tmp_path / "a").exists()


# --- the model directory -----------------------------------------------------------------

@pytest.fixture
def copy_of(tmp_path, trained):
    import shutil

    def make() -> Path:
        target = tmp_path / "copy"
        shutil.copytree(trained, target)
        return target

    return make


def test_truncated_and_tampered_files_are_refused(copy_of):
    model = copy_of()
    data = (model / "model.safetensors").read_bytes()
    (model / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(TextgenError, match="does not match the hash"):
        textgen.load(model)
    (model / "model.safetensors").write_bytes(data)
    (model / "tokenizer.json").write_text((model / "tokenizer.json").read_text().replace("Lily", "Lila"))
    with pytest.raises(TextgenError, match="tokenizer.json does not match the hash"):
        textgen.load(model)


def test_missing_files_are_listed_together(copy_of):
    model = copy_of()
    (model / "model.safetensors").unlink()
    (model / "tokenizer.json").unlink()
    with pytest.raises(TextgenError, match="missing model.safetensors, tokenizer.json"):
        textgen.load(model)


def test_newer_format_version_is_refused(copy_of):
    model = copy_of()
    meta = json.loads((model / "textgen.json").read_text())
    meta["format_version"] = 99
    (model / "textgen.json").write_text(json.dumps(meta))
    with pytest.raises(TextgenError, match="newer than this textgen reads"):
        textgen.load(model)


class Planted:
    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


MARKER = Path("/tmp/textgen-planted-pickle-ran")


def test_a_planted_pickle_never_runs(copy_of, corpus):
    MARKER.unlink(missing_ok=True)
    model = copy_of()
    payload = pickle.dumps({"state": Planted()})
    (model / "model.safetensors").write_bytes(payload)
    meta = json.loads((model / "textgen.json").read_text())
    import hashlib

    meta["files"]["model.safetensors"] = hashlib.sha256(payload).hexdigest()  # a forger can fix the hash too
    (model / "textgen.json").write_text(json.dumps(meta))
    with pytest.raises(TextgenError, match="not a valid safetensors file"):
        textgen.load(model)
    torch.save({"state_dict": {}, "evil": Planted()}, model / "lightning" / "last.ckpt")
    result = train(corpus, model, "--resume", "--max-steps", 30, check=False)
    one_line_error(result, "not a plain weights checkpoint")
    assert not MARKER.exists()


@pytest.mark.parametrize("suffix", [".toml", ".yaml"])
def test_config_file_with_flags_overriding(tmp_path, corpus, suffix):
    config = tmp_path / f"run{suffix}"
    config.write_text('max-steps = 10\nhidden_size = 12\n' if suffix == ".toml" else "max-steps: 10\nhidden_size: 12\n")
    out = tmp_path / "run"
    train(corpus, out, "--config", config, "--hidden-size", 14)
    meta = json.loads((out / "textgen.json").read_text())
    assert meta["model"]["hidden_size"] == 14 and meta["training"]["max_steps"] == 10
    bad = tmp_path / f"bad{suffix}"
    bad.write_text("hidden_sise = 3\n" if suffix == ".toml" else "hidden_sise: 3\n")
    one_line_error(train(corpus, tmp_path / "x", "--config", bad, check=False), "unknown settings hidden_sise")


# --- real processes ------------------------------------------------------------------------


SIGNAL_ARGS = [*TINY, "--max-steps", "200", "--val-every", "25", "--deterministic", "--json"]


def run_process(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(textgen_process(*args), cwd=REPO, capture_output=True, text=True, timeout=300, env=ONE_THREAD)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, corpus) -> dict:
    folder = tmp_path_factory.mktemp("whole")
    whole = run_process("train", str(corpus), "--out", str(folder / "run"), *SIGNAL_ARGS, "--cache-dir", str(folder / "cache"))
    assert whole.returncode == 0, whole.stderr
    return json.loads(whole.stdout)


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_saves_and_a_resume_matches_an_uninterrupted_run(tmp_path, corpus, uninterrupted, signum):
    """Ctrl-C/SIGTERM at an arbitrary step saves a resumable checkpoint (exit 130/143); resuming
    to the same step limit ends with the uninterrupted run's validation loss."""
    out = tmp_path / "cut"
    args = [str(corpus), "--out", str(out), *SIGNAL_ARGS, "--cache-dir", str(tmp_path / "cache")]
    process = subprocess.Popen(textgen_process("train", *args), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=ONE_THREAD)
    deadline = time.monotonic() + 120
    while not (out / "lightning" / "last.ckpt").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == {signal.SIGINT: 130, signal.SIGTERM: 143}[signum], stderr
    summary = json.loads(stdout)
    assert summary["interrupted"] is True and summary["steps"] < 200
    assert textgen.load(out).metadata["metrics"]  # the model directory was exported at the cut
    resumed = run_process("train", *args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert abs(json.loads(resumed.stdout)["valid_loss"] - uninterrupted["valid_loss"]) < 1e-4


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_matches_one_process(tmp_path, corpus):
    args = [str(corpus), *TINY, "--max-steps", "40", "--accelerator", "cpu", "--json", "--cache-dir", str(tmp_path / "cache")]
    single = subprocess.run(textgen_process("train", "--out", str(tmp_path / "one"), *args), cwd=REPO,
                            capture_output=True, text=True, timeout=600, env=ONE_THREAD)
    assert single.returncode == 0, single.stderr
    script = REPO / ".venv" / "bin" / "textgen"
    command = [str(script)] if script.exists() else textgen_process()
    double = subprocess.run([*command, "train", "--out", str(tmp_path / "two"), *args, "--devices", "2", "--strategy", "ddp"],
                            cwd=REPO, capture_output=True, text=True, timeout=600, env=ONE_THREAD)
    assert double.returncode == 0, double.stderr
    one, two = json.loads(single.stdout)["valid_loss"], json.loads(double.stdout)["valid_loss"]
    assert abs(one - two) / one < 0.02, (one, two)
    assert textgen.load(tmp_path / "two").metadata["training"]["devices"] == 2


# --- regressions from a new-user review --------------------------------------------------

def test_a_failed_run_leaves_no_folder_and_a_failed_overwrite_keeps_the_old_run(tmp_path, corpus, trained):
    short = tmp_path / "short.txt"
    short.write_text("Doug saw Jane.\n<|endoftext|>\nJane saw Spot.\n<|endoftext|>\nSpot saw Doug.\n")
    result = train(short, tmp_path / "new", "--batch-size", 32, check=False)
    one_line_error(result, "fewer than one batch")
    assert not (tmp_path / "new").exists()
    import shutil

    copy = tmp_path / "old"
    shutil.copytree(trained, copy)
    one_line_error(train(short, copy, "--overwrite", "--batch-size", 32, check=False), "fewer than one batch")
    assert textgen.load(copy).config.hidden_size == 16 and (copy / "lightning" / "last.ckpt").exists()


@pytest.mark.parametrize(("args", "fragment"), [(["--devices", "abc"], "Lightning refused"),
                                                (["--strategy", "fsdpx"], "Lightning refused"),
                                                (["--max-time", ""], "duration"), (["--max-time", "inf"], "at most a year"),
                                                (["--num-nodes", "2"], "needs a launcher")])
def test_hardware_and_time_mistakes_are_one_line(tmp_path, corpus, args, fragment):
    one_line_error(train(corpus, tmp_path / "run", "--max-steps", 5, *args, check=False), fragment)
    assert not (tmp_path / "run").exists()


def test_a_runs_textgen_json_works_as_a_config(tmp_path, corpus, trained):
    out = tmp_path / "again"
    train(corpus, out, "--config", trained / "textgen.json", "--max-steps", 5)
    old, new = (json.loads((folder / "textgen.json").read_text()) for folder in (trained, out))
    assert new["model"] == old["model"]  # the recorded model block: every size and dropout
    changed = {key for key in old["training"] if old["training"][key] != new["training"][key]}
    assert changed == {"max_steps"}  # the flag given here wins over the file
    assert new["training"]["max_steps"] == 5


def test_config_keys_may_be_the_config_field_names(tmp_path, corpus):
    config = tmp_path / "run.json"
    config.write_text(json.dumps({"activation_reg": 0.5, "temporal_activation_reg": 0.25, "tie_weights": False,
                                  "max_steps": 4, "hidden_size": 12, "embed_dim": 12}))
    out = tmp_path / "run"
    train(corpus, out, "--config", config)
    meta = json.loads((out / "textgen.json").read_text())
    assert (meta["model"]["activation_reg"], meta["model"]["temporal_activation_reg"]) == (0.5, 0.25)
    assert meta["model"]["tie_weights"] is False
    assert meta["training"]["max_steps"] == 4


def test_train_options_come_from_the_config_fields():
    """A default and its help text live once, in the dataclasses: the train command shows them, and
    `classify train` offers every field of its head."""
    from dataclasses import fields

    from textgen.cli.options import CONFIG_FIELDS
    from textgen.model.config import ClassifierConfig, ModelConfig, TrainConfig

    offered = {(block, name) for block, name in CONFIG_FIELDS.values()}
    assert {item for item in offered if item[0] != "classifier"} == \
        {("model", f.name) for f in fields(ModelConfig) if f.name != "vocab_size"} | {("training", f.name) for f in fields(TrainConfig)}
    assert {name for block, name in offered if block == "classifier"} == \
        {f.name for f in fields(ClassifierConfig)} - {"num_classes", "ordinal"}  # --ordinal/--nominal decide the latter
    command = {param.name: param for param in cli.commands["train"].params}
    for param, (block, name) in CONFIG_FIELDS.items():
        if block == "classifier":
            continue
        spec = next(f for f in fields(ModelConfig if block == "model" else TrainConfig) if f.name == name)
        expected = spec.metadata.get("cli_default", spec.default)
        assert command[param].default == expected, param
        assert command[param].help == spec.metadata.get("help"), param


@pytest.mark.parametrize("line", ["hidden_size = [1, 2]", "hidden_size = true", "hidden_size = 32.7", "deterministic = 3"])
def test_config_values_of_the_wrong_type(tmp_path, corpus, line):
    config = tmp_path / "bad.toml"
    config.write_text(line + "\n")
    one_line_error(train(corpus, tmp_path / "run", "--config", config, check=False), "not a valid value for --")


@pytest.mark.parametrize(("name", "text", "said"), [
    ("bad.yaml", "hidden_size: 2024-01-01", "hidden_size = 2024-01-01 is a date, not a valid value for --hidden-size: it "
                                           "takes a whole number"),
    ("bad.yaml", "hidden_size: 2024-01-01 10:00:00", "is a date and time, not a valid value for --hidden-size"),
    ("bad.yaml", "lr: !!set {a, b}", "is a set, not a valid value for --lr: it takes a number"),
    ("bad.yaml", "lr: !!binary aGVsbG8=", "lr = b'hello' is binary data"),
    ("bad.yaml", "hidden_size: [[1, 2]]", "is a list, not a valid value for --hidden-size"),
    ("bad.yaml", "cell: {kind: lstm}", "is a table, not a valid value for --cell: it takes one of lstm"),
    ("bad.yaml", "out: 2024-01-01", "out = 2024-01-01 is a date, not a valid value for --out: it takes text (write it in "
                                   "quotes)"),
    ("bad.toml", "max_time = 10:00:00", "is a time of day, not a valid value for --max-time: it takes a duration"),
    ("bad.toml", "seed = 1979-05-27T07:32:00Z", "seed = 1979-05-27T07:32:00+00:00 is a date and time")])
def test_config_values_that_are_no_single_setting_are_named_with_their_type(tmp_path, corpus, name, text, said):
    """YAML and TOML read dates, times, sets, binary data, lists and tables: one line naming the
    field, what it is and what the option takes (a date where a number belongs was a TypeError
    traceback from click)."""
    config = tmp_path / name
    config.write_text(text + "\n")
    one_line_error(train(corpus, tmp_path / "run", "--config", config, check=False), said)
    assert not (tmp_path / "run").exists()


def test_resume_applies_a_new_learning_rate_and_its_own_time_budget(tmp_path, corpus):
    out = tmp_path / "run"
    train(corpus, out, "--max-steps", 10, "--schedule", "constant", "--warmup-steps", 0, "--lr", "0.003")
    train(corpus, out, "--resume", "--max-steps", 20, "--lr", "0.0005")
    rows = [line.split(",") for line in (out / "metrics.csv").read_text().splitlines()[1:]]
    lrs = {int(row[0]): float(row[3]) for row in rows if row[3]}
    assert lrs[20] == pytest.approx(0.0005)
    timed = tmp_path / "timed"
    first = json.loads(train(corpus, timed, "--max-steps", 100000, "--max-time", "1s", "--json").stdout)
    again = json.loads(train(corpus, timed, "--resume", "--max-time", "1s", "--json").stdout)
    assert again["steps"] > first["steps"]


def test_resume_without_the_tokenizer_kind_uses_the_runs_own(tmp_path, corpus, trained):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)
    result = CliRunner().invoke(cli, ["train", str(corpus), "--out", str(copy), "--resume", "--max-steps", "25",
                                      "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 0, result.output


def test_resume_with_another_corpus_is_refused(tmp_path, trained, little_stories):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)
    other = tmp_path / "other.txt"
    other.write_text("".join(f"{s}\n<|endoftext|>\n" for s in little_stories[120:200]))
    one_line_error(train(other, copy, "--resume", "--max-steps", 30, check=False), "different corpus")


def test_weights_that_blow_up_are_never_exported(tmp_path, corpus):
    out = tmp_path / "run"
    train(corpus, out, "--max-steps", 10, "--val-every", "5")
    saved = (out / "model.safetensors").read_bytes()
    # a learning rate of 1e30 without clipping makes the weights overflow on the next steps
    result = train(corpus, out, "--resume", "--max-steps", 30, "--lr", "1e30", "--grad-clip", "0", "--val-every", "5",
                   check=False)
    one_line_error(result, "the loss became nan")
    assert (out / "model.safetensors").read_bytes() == saved  # the last good model stays
    loaded = textgen.load(out)
    assert all(torch.isfinite(p).all() for p in loaded.model.parameters())


def test_a_file_or_a_misshapen_tensor_is_named(trained, tmp_path):
    with pytest.raises(TextgenError, match="is a file"):
        textgen.load(trained / "model.safetensors")
    import hashlib
    import shutil

    from safetensors.torch import load, save

    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)
    state = load((copy / "model.safetensors").read_bytes())
    state["embedding.weight"] = torch.zeros(5, 3)
    data = save(state)
    (copy / "model.safetensors").write_bytes(data)
    meta = json.loads((copy / "textgen.json").read_text())
    meta["files"]["model.safetensors"] = hashlib.sha256(data).hexdigest()
    (copy / "textgen.json").write_text(json.dumps(meta))
    with pytest.raises(TextgenError, match="does not fit the model"):
        textgen.load(copy)


def test_the_model_directory_keeps_the_best_validated_weights(tmp_path, corpus, monkeypatch):
    """When validation gets worse (a model that overfits), the directory keeps the best step's weights;
    textgen.json says which step that was and what the last validation gave."""
    from textgen.training.task import LanguageModelTask

    real, losses = LanguageModelTask.validate, iter([3.0, 2.0, 2.5, 2.7])  # steps 5, 10, 15, 20

    def validate(self):
        metrics = real(self)
        return {**metrics, "loss": next(losses)} if metrics else metrics

    monkeypatch.setattr(LanguageModelTask, "validate", validate)
    out = tmp_path / "run"
    result = train(corpus, out, "--max-steps", 20, "--val-every", 5, "--average", 0)  # raw weights: comparable to best.ckpt
    assert "validation did not improve on step 10" in result.stderr
    meta = json.loads((out / "textgen.json").read_text())
    assert meta["metrics"]["step"] == 10 and meta["metrics"]["loss"] == 2.0
    assert meta["last_validation"]["step"] == 20 and meta["last_validation"]["loss"] == 2.7
    assert meta["status"] == "trained"
    best = torch.load(out / "lightning" / "best.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    exported = textgen.load(out).model.state_dict()
    for name, tensor in exported.items():
        assert torch.equal(tensor, best[f"model.{name}"]), name


def test_a_model_too_large_to_train_is_one_readable_line():
    """A settings file's 40-digit --hidden-size was refused with a 150-digit parameter count."""
    from textgen.model.config import ModelConfig
    from textgen.errors import TextgenError
    from textgen.training.run import check_memory

    with pytest.raises(TextgenError) as refused:
        check_memory(ModelConfig(vocab_size=512, hidden_size=10**40))
    message = str(refused.value)
    assert message.startswith("a model of about 4.0e+80 parameters needs about 6.0e+72 GiB to train"), message
    assert len(message) < 220 and "choose a smaller --hidden-size" in message


def test_train_records_the_corpus_words_last_in_textgen_json(trained):
    from textgen.analysis.words import words_of
    from textgen.data.corpus import iter_stories

    meta = json.loads((trained / "textgen.json").read_text())
    assert list(meta)[-1] == "words"  # one long line, after everything a person reads
    listed = meta["words"]["list"].split()
    assert listed == sorted(listed)
    assert meta["words"]["count"] == len(listed)
    corpus_words = {word for story in iter_stories(meta["corpus"]["path"]) for word in words_of(story)}
    assert set(listed) == corpus_words
    assert textgen.load(trained).words == frozenset(listed)


def test_export_records_the_words_a_model_trained_before_them_lacks(tmp_path, trained):
    from textgen.modeldir.layout import ModelDirectory

    old = tmp_path / "old"
    assert CliRunner().invoke(cli, ["export", str(trained), str(old)]).exit_code == 0
    meta = ModelDirectory(old).read_metadata()
    words = meta.pop("words")
    ModelDirectory(old).write_metadata(meta)  # as a model from before textgen recorded words
    assert textgen.load(old).words is None
    copy = tmp_path / "copy"
    result = CliRunner().invoke(cli, ["export", str(old), str(copy)])
    assert result.exit_code == 0, result.output
    assert ModelDirectory(copy).read_metadata()["words"] == words  # from its training corpus, still there
    meta["corpus"] = {**meta["corpus"], "path": "moved.txt", "absolute_path": "/nowhere/moved.txt"}
    ModelDirectory(old).write_metadata(meta)
    result = CliRunner().invoke(cli, ["export", str(old), str(tmp_path / "blind")])
    assert result.exit_code == 0, result.output
    assert "writes without the rules that need them" in result.output
    assert "words" not in ModelDirectory(tmp_path / "blind").read_metadata()


def test_export_adds_the_capitals_a_words_record_from_before_them_lacks(tmp_path, trained):
    from textgen.modeldir.layout import ModelDirectory

    old = tmp_path / "old"
    assert CliRunner().invoke(cli, ["export", str(trained), str(old)]).exit_code == 0
    meta = ModelDirectory(old).read_metadata()
    record = meta["words"]
    assert record["capitals"]  # the little stories name their characters inside sentences
    meta["words"] = {"count": record["count"], "list": record["list"]}
    ModelDirectory(old).write_metadata(meta)  # as a model whose words were recorded before their capitals
    assert textgen.load(old).words.capitals is None
    copy = tmp_path / "copy"
    result = CliRunner().invoke(cli, ["export", str(old), str(copy)])
    assert result.exit_code == 0, result.output
    assert ModelDirectory(copy).read_metadata()["words"] == record
    assert textgen.load(copy).words.capitals == frozenset(record["capitals"].split())
