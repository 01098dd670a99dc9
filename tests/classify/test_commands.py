"""textgen classify train / predict / evaluate / explain end to end on small labelled data made
here: a run directory that says it is a classifier, that learns a cue word, resumes exactly, starts
from a language model (ULMFiT) with the model's tokenizer and weights, and refuses bad input with
one line and nothing written."""

from __future__ import annotations

import json
import random

import pytest
import torch
from click.testing import CliRunner

from tests.conftest import write_repeated
from textgen.cli import cli

CUES = {"1": ["awful", "stale", "bad"], "2": ["fine", "okay", "plain"], "3": ["great", "lovely", "tasty"]}
FILLER = ["the", "taffy", "was", "and", "my", "kids", "said", "it", "box", "came", "today", "a", "little", "very"]


def review(rng: random.Random, label: str) -> str:
    words = [rng.choice(FILLER) for _ in range(rng.randint(4, 9))]
    words.insert(rng.randint(0, len(words)), rng.choice(CUES[label]))
    return " ".join(words).capitalize() + "."


def write_reviews(path, count: int, seed: int, labels=("1", "2", "3"), weights=(1, 1, 2)):
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        label = rng.choices(labels, weights[: len(labels)])[0]
        rows.append({"text": review(rng, label), "rating": int(label)})
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture(scope="session")
def reviews(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reviews")
    return write_reviews(folder / "train.jsonl", 160, 1), write_reviews(folder / "valid.jsonl", 40, 2)


TINY = ["--tokenizer-kind", "word", "--embed-dim", "16", "--hidden-size", "24", "--batch-size", "16", "--lr", "2e-2",
        "--warmup-steps", "5", "--log-every", "5"]


def run(*args, **kwargs):
    return CliRunner().invoke(cli, [str(arg) for arg in args], **kwargs)


def assert_one_line_error(result, *fragments: str):
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="session")
def classifier(tmp_path_factory, reviews):
    out = tmp_path_factory.mktemp("classifiers") / "stars"
    train, valid = reviews
    result = run("classify", "train", train, "--valid", valid, "--out", out, *TINY, "--max-steps", "80", "--val-every", "40",
                 "--seed", "3", "--decision-offsets", "--json")
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)


def test_train_writes_a_classifier_directory_that_learnt_the_cues(classifier, reviews):
    out, summary = classifier
    meta = json.loads((out / "textgen.json").read_text())
    assert meta["task"] == "classifier" and meta["status"] == "trained"
    assert meta["labels"]["names"] == ["1", "2", "3"] and meta["labels"]["ordinal"] is True
    assert meta["labels"]["text_field"] == "text" and meta["labels"]["label_field"] == "rating"
    assert meta["classifier"]["num_classes"] == 3 and meta["corpus"]["examples"] == 160
    decision = meta["decision"]  # --decision-offsets: tuned on the validation set, never lowering its macro-F1
    assert len(decision["bias"]) == 3 and decision["after"]["macro_f1"] >= decision["before"]["macro_f1"]
    assert {"model.safetensors", "tokenizer.json", "metrics.csv", "loss.png"} <= {path.name for path in out.iterdir()}
    header = (out / "metrics.csv").read_text().splitlines()[0].split(",")
    assert header[-4:] == ["val_loss", "val_accuracy", "val_macro_f1", "val_mae"]
    assert summary["steps"] == 80 and summary["parameters"] > 0
    # a cue word decides each label: the classifier must beat always answering "3" (about half) clearly
    assert summary["valid_accuracy"] >= 0.8 and summary["valid_macro_f1"] >= 0.75, summary


def test_predict_gives_a_distribution_over_the_labels(classifier, tmp_path):
    out, _ = classifier
    result = run("classify", "predict", out, "The taffy was awful and stale.", "--json")
    assert result.exit_code == 0, result.output
    prediction = json.loads(result.stdout)
    assert set(prediction["probabilities"]) == {"1", "2", "3"}
    assert sum(prediction["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert prediction["label"] == max(prediction["probabilities"], key=prediction["probabilities"].get)
    expected = sum(int(k) * p for k, p in prediction["probabilities"].items())
    assert prediction["expected"] == pytest.approx(expected, abs=1e-5)
    text = run("classify", "predict", out, "The taffy was lovely.")
    assert text.exit_code == 0 and text.stdout.startswith(json.loads(run("classify", "predict", out, "The taffy was lovely.",
                                                                         "--json").stdout)["label"])
    lines = tmp_path / "texts.txt"
    lines.write_text("The box was great.\n\nThe box was bad.\n")
    rows = run("classify", "predict", out, "--file", lines, "--json")
    assert rows.exit_code == 0, rows.output
    assert [json.loads(line)["text"] for line in rows.stdout.splitlines()] == ["The box was great.", "The box was bad."]


def test_predict_file_streams_in_batches_from_files_pipes_and_standard_input(classifier, tmp_path):
    """600 texts (more than a batch) from a file, a named pipe and standard input give the same
    ratings as one at a time; a bad line anywhere in a file prints nothing."""
    import os
    import threading

    from textgen.classify.predict import PREDICT_BATCH

    out, _ = classifier
    texts = [f"The taffy was {'lovely' if i % 3 else 'stale'} number {i}." for i in range(600)]
    assert len(texts) > 2 * PREDICT_BATCH
    path = tmp_path / "many.txt"
    path.write_text("\n".join(texts) + "\n")
    from_file = run("classify", "predict", out, "--file", path, "--json")
    assert from_file.exit_code == 0, from_file.output
    rows = [json.loads(line) for line in from_file.stdout.splitlines()]
    assert [row["text"] for row in rows] == texts
    for index in (0, 255, 256, 599):
        alone = json.loads(run("classify", "predict", out, texts[index], "--json").stdout)
        assert alone["label"] == rows[index]["label"]
        assert all(abs(alone["probabilities"][k] - rows[index]["probabilities"][k]) < 1e-5 for k in alone["probabilities"])
    assert run("classify", "predict", out, "--file", "-", "--json", input=path.read_text()).stdout == from_file.stdout
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_text(path.read_text()))
    writer.start()
    piped = run("classify", "predict", out, "--file", fifo, "--json")
    writer.join()
    assert piped.exit_code == 0 and piped.stdout == from_file.stdout
    bad = tmp_path / "bad.txt"
    bad.write_bytes("\n".join(texts).encode() + b"\nLatin-1 caf\xe9\n")
    result = run("classify", "predict", out, "--file", bad)
    assert_one_line_error(result, "bad.txt is not UTF-8: invalid byte 0xe9")
    assert result.stdout == ""


def test_predict_file_refuses_devices_and_endless_lines_in_one_line(classifier, tmp_path):
    out, _ = classifier
    assert_one_line_error(run("classify", "predict", out, "--file", "/dev/zero"),
                          "/dev/zero is a device or socket, not a regular file: give a text file, or - for standard input")
    assert_one_line_error(run("classify", "predict", out, "--file", "-", input="fine\n" + "x" * 2_000_000),
                          "line 2 of standard input is longer than 1,000,000 bytes")
    assert_one_line_error(run("classify", "predict", out, "--file", "-", input=b"\0" * 10_000),
                          "standard input looks like a binary file")
    assert_one_line_error(run("classify", "predict", out, "--file", "-", input="\n \n"), "standard input has no text")


def test_a_classifier_with_more_labels_than_a_classifier_has_is_refused(classifier, tmp_path):
    """A textgen.json claiming 10,000 labels (and as many classes) is refused when it loads, so
    evaluate --json never writes a 10,000 x 10,000 confusion matrix."""
    import shutil

    out = tmp_path / "forged"
    shutil.copytree(classifier[0], out)
    meta = json.loads((out / "textgen.json").read_text())
    meta["labels"]["names"] = [str(i) for i in range(10_000)]
    meta["classifier"]["num_classes"] = 10_000
    (out / "textgen.json").write_text(json.dumps(meta))
    for command in (("evaluate", out, classifier[0].parent / "x.jsonl", "--json"), ("predict", out, "Great taffy.")):
        result = run("classify", *command)
        assert_one_line_error(result, "the classifier's description is broken (a classifier has 2 to 100 labels, not "
                                      "10,000)")
        assert result.stdout == ""


def test_predict_file_reads_the_text_field_of_jsonl(classifier, reviews):
    out, _ = classifier
    result = run("classify", "predict", out, "--file", reviews[1])
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 40


def test_evaluate_agrees_with_predict_and_draws_the_confusion_matrix(classifier, reviews, tmp_path):
    out, _ = classifier
    plot = tmp_path / "confusion.png"
    result = run("classify", "evaluate", out, reviews[1], "--json", "--plot", plot)
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics["examples"] == 40 and plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = [json.loads(line) for line in reviews[1].read_text().splitlines()]
    predicted = [json.loads(line)["label"] for line in run("classify", "predict", out, "--file", reviews[1], "--json").stdout.splitlines()]
    hits = sum(str(row["rating"]) == label for row, label in zip(rows, predicted))
    assert metrics["accuracy"] == pytest.approx(hits / 40)
    assert sum(map(sum, metrics["confusion"])) == 40
    assert metrics["majority"]["label"] == "3" and metrics["majority"]["accuracy"] < metrics["accuracy"]
    assert set(metrics) >= {"macro_f1", "mae", "loss", "per_class"}
    text = run("classify", "evaluate", out, reviews[1])
    assert "macro-F1" in text.stdout and "majority" in text.stdout and "precision" in text.stdout


def test_explain_scores_each_word_and_shows_the_gates(classifier, tmp_path):
    from textgen.classify.explain import explain
    from textgen.classify.predict import load_classifier
    from textgen.analysis.gates import gate_report

    out, _ = classifier
    text = "The taffy was awful today."
    plot = tmp_path / "why.png"
    result = run("classify", "explain", out, text, "--json", "--plot", plot)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [word["word"] for word in data["words"]] == ["The", "taffy", "was", "awful", "today", "."]
    loaded = load_classifier(out)
    assert data["gates"] == json.loads(json.dumps(gate_report(loaded.model, loaded.tokenizer, text, allow_unknown=True).to_dict()))
    assert plot.read_bytes()[:4] == b"\x89PNG"
    # occlusion: a word's score is the expected rating minus the rating of the text without it
    without = json.loads(run("classify", "predict", out, "The taffy was today.", "--json").stdout)["expected"]
    awful = next(word for word in data["words"] if word["word"] == "awful")
    assert awful["score"] == pytest.approx(data["value"] - without, abs=1e-4)
    assert awful["score"] == min(word["score"] for word in data["words"])  # the cue of a 1 lowers the stars most
    # integrated gradients: the scores add up to the change from the empty text
    gradients = explain(loaded, text, "integrated-gradients", steps=128)
    assert abs(gradients.gap) < 0.05 * max(1e-3, abs(sum(word.score for word in gradients.words)))


def test_explain_colours_words_only_on_a_terminal(classifier):
    out, _ = classifier
    plain = run("classify", "explain", out, "The taffy was great.")
    assert plain.exit_code == 0 and "\x1b[" not in plain.stdout and "great(+" in plain.stdout
    coloured = run("classify", "explain", out, "The taffy was great.", color=True)
    assert coloured.exit_code == 0 and "\x1b[" in coloured.stdout
    assert "forget" in plain.stdout and "(input)" in plain.stdout  # the gates in both vocabularies


def test_resume_continues_exactly(reviews, tmp_path):
    """With the weight average on (--average): the resumed run carries it and ends where a straight
    run ends. Without --decision-offsets the directory has no offsets."""
    train, valid = reviews
    common = [train, "--valid", valid, *TINY, "--val-every", "6", "--deterministic", "--average", "0.9", "--json"]
    straight = run("classify", "train", *common, "--out", tmp_path / "a", "--max-steps", "12")
    first = run("classify", "train", *common, "--out", tmp_path / "b", "--max-steps", "6")
    resumed = run("classify", "train", train, "--valid", valid, "--out", tmp_path / "b", "--resume", "--max-steps", "12", "--json")
    for result in (straight, first, resumed):
        assert result.exit_code == 0, result.output
    a, b = json.loads(straight.stdout), json.loads(resumed.stdout)
    assert b["steps"] == 12 and b["new_steps"] == 6
    assert b["valid_loss"] == pytest.approx(a["valid_loss"], abs=1e-5)
    meta = json.loads((tmp_path / "b" / "textgen.json").read_text())
    assert meta["training"]["average"] == 0.9 and "decision" not in meta


def test_encoder_start_keeps_the_language_models_tokenizer_and_weights(trained, corpus, tmp_path):
    from safetensors.torch import load_file

    stories = [line for line in corpus.read_text().splitlines() if line and line != "<|endoftext|>"]
    data = tmp_path / "stories.jsonl"
    data.write_text("".join(json.dumps({"text": story, "rating": 1 + index % 2}) + "\n" for index, story in enumerate(stories)))
    out = tmp_path / "from-lm"
    result = run("classify", "train", data, "--out", out, "--encoder", trained, "--unfreeze", "1", "--max-steps", "4",
                 "--batch-size", "8", "--json")
    assert result.exit_code == 0, result.output
    assert (out / "tokenizer.json").read_bytes() == (trained / "tokenizer.json").read_bytes()
    language_model, classifier = load_file(trained / "model.safetensors"), load_file(out / "model.safetensors")
    shared = [key for key in classifier if key.startswith(("embedding.", "layers."))]
    assert shared and all(torch.equal(classifier[key], language_model[key]) for key in shared)  # frozen all run long
    meta = json.loads((out / "textgen.json").read_text())
    assert meta["encoder"]["path"] == str(trained) and meta["model"]["hidden_size"] == 16
    assert meta["encoder_schedule"] == {"unfreeze": 1.0, "lr_decay": 1.0}  # one rate for every layer by default
    unfrozen = run("classify", "train", data, "--out", tmp_path / "unfrozen", "--encoder", trained,  # the default: no frozen start
                   "--max-steps", "4", "--batch-size", "8", "--lr", "1e-2")
    assert unfrozen.exit_code == 0, unfrozen.output
    moved = load_file(tmp_path / "unfrozen" / "model.safetensors")
    schedule = json.loads((tmp_path / "unfrozen" / "textgen.json").read_text())["encoder_schedule"]
    assert schedule == {"unfreeze": 0.0, "lr_decay": 1.0}
    assert not torch.equal(moved["embedding.weight"], language_model["embedding.weight"])


def test_a_next_token_loss_trains_beside_the_classifier_and_is_not_exported(trained, corpus, tmp_path):
    """--lm-weight: the run records it, its checkpoint carries the decoder so --resume goes on, and
    the exported classifier has the same tensors as one trained without it."""
    from safetensors.torch import load_file

    stories = [line for line in corpus.read_text().splitlines() if line and line != "<|endoftext|>"]
    data = tmp_path / "stories.jsonl"
    data.write_text("".join(json.dumps({"text": story, "rating": 1 + index % 2}) + "\n" for index, story in enumerate(stories)))
    common = [data, "--encoder", trained, "--batch-size", "8", "--json"]
    with_lm = run("classify", "train", *common, "--out", tmp_path / "lm", "--lm-weight", "1", "--max-steps", "3")
    plain = run("classify", "train", *common, "--out", tmp_path / "plain", "--max-steps", "3")
    assert with_lm.exit_code == 0 and plain.exit_code == 0, with_lm.output + plain.output
    meta = json.loads((tmp_path / "lm" / "textgen.json").read_text())
    assert meta["classifier"]["lm_weight"] == 1.0
    assert json.loads((tmp_path / "plain" / "textgen.json").read_text())["classifier"]["lm_weight"] == 0.0
    exported, reference = load_file(tmp_path / "lm" / "model.safetensors"), load_file(tmp_path / "plain" / "model.safetensors")
    assert sorted(exported) == sorted(reference)
    assert not torch.equal(exported["embedding.weight"], reference["embedding.weight"])  # the extra loss moved the encoder
    resumed = run("classify", "train", data, "--out", tmp_path / "lm", "--resume", "--max-steps", "5", "--json")
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout)["steps"] == 5
    predicted = run("classify", "predict", tmp_path / "lm", "Spot ran home.", "--json")
    assert predicted.exit_code == 0, predicted.output


def test_adversarial_training_is_the_default_and_an_older_run_resumes_without_it(trained, corpus, tmp_path):
    """Adversarial training (0.03) is on unless --adversarial 0: the run records the share, trains
    from an encoder, resumes with it and predicts; a run whose textgen.json predates the setting
    resumes as it began, without it."""
    stories = [line for line in corpus.read_text().splitlines() if line and line != "<|endoftext|>"]
    data = tmp_path / "stories.jsonl"
    data.write_text("".join(json.dumps({"text": story, "rating": 1 + index % 2}) + "\n" for index, story in enumerate(stories)))
    meta = tmp_path / "adv" / "textgen.json"
    result = run("classify", "train", data, "--encoder", trained, "--batch-size", "8", "--json", "--out", tmp_path / "adv",
                 "--max-steps", "3")
    assert result.exit_code == 0, result.output
    assert json.loads(meta.read_text())["classifier"]["adversarial"] == 0.03
    resumed = run("classify", "train", data, "--out", tmp_path / "adv", "--resume", "--max-steps", "5", "--json")
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout)["steps"] == 5
    assert json.loads(meta.read_text())["classifier"]["adversarial"] == 0.03
    older = json.loads(meta.read_text())
    del older["classifier"]["adversarial"]
    meta.write_text(json.dumps(older))
    resumed = run("classify", "train", data, "--out", tmp_path / "adv", "--resume", "--max-steps", "7", "--json")
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout)["steps"] == 7
    assert json.loads(meta.read_text())["classifier"]["adversarial"] == 0.0
    predicted = run("classify", "predict", tmp_path / "adv", "Spot ran home.", "--json")
    assert predicted.exit_code == 0, predicted.output
    off = run("classify", "train", data, "--encoder", trained, "--batch-size", "8", "--json", "--out", tmp_path / "off",
              "--adversarial", "0", "--max-steps", "2")
    assert off.exit_code == 0, off.output
    assert json.loads((tmp_path / "off" / "textgen.json").read_text())["classifier"]["adversarial"] == 0.0


def bad_inputs(tmp_path, trained, reviews):
    train, valid = reviews
    missing = tmp_path / "missing.jsonl"
    missing.write_text('{"text": "good", "rating": 5}\n{"text": "bad", "score": 1}\n')
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"text": "good", "rating": 5}\n{"text": "  ", "rating": 1}\n')
    unseen = tmp_path / "unseen.jsonl"
    unseen.write_text('{"text": "good", "rating": 3}\n{"text": "odd", "rating": 9}\n')
    single = tmp_path / "single.jsonl"
    single.write_text('{"text": "good", "rating": 5}\n{"text": "fine", "rating": 5}\n')
    headless = tmp_path / "headless.csv"
    headless.write_text('"Great taffy",5\n"Stale",1\n')
    odd_words = tmp_path / "odd.jsonl"
    odd_words.write_text("".join(json.dumps({"text": f"zorblax quuxing frobnicated {i}", "rating": 1 + i % 2}) + "\n"
                                 for i in range(10)))
    ids = tmp_path / "ids.jsonl"
    ids.write_text("".join(json.dumps({"text": f"review {i}", "rating": 5, "id": f"r{i}"}) + "\n" for i in range(10_000)))
    singles = tmp_path / "singles.jsonl"
    singles.write_text("".join(json.dumps({"text": f"review {i}", "rating": f"c{i}"}) + "\n" for i in range(100)))
    huge = write_repeated(tmp_path / "huge.jsonl", b"word ", 5_000_000, head=b'{"text": "fine", "rating": 1}\n{"text": "')
    zeros = write_repeated(tmp_path / "zeros.jsonl.gz", b"\0", 16 << 20, compress=True)
    device = tmp_path / "device.jsonl"
    device.symlink_to("/dev/zero")
    return {
        "10,000 labels": ([ids, "--label-field", "id"], 'has 10,000 different labels in "id", more than the 100 classes a '
                                                         "classifier takes: is --label-field the right column?"),
        "100 classes of one": ([singles], '100 of the 100 labels in "rating" have one example each'),
        "one enormous line": ([huge], "line 2 of " + str(huge) + " is longer than 1,000,000 bytes: is it a text file?"),
        "a gzip of zeros": ([zeros], "zeros.jsonl.gz looks like a binary file (NUL byte at byte offset 0 of the decompressed"),
        "a device": ([device], "device.jsonl is a device or socket, not a regular file"),
        "a device to validate on": ([train, "--valid", device], "device.jsonl is a device or socket"),
        "missing field": ([missing], "missing.jsonl:2 has no \"rating\" field"),
        "empty text": ([empty], "empty.jsonl:2: \"text\" is empty"),
        "unseen label": ([train, "--valid", unseen], "unseen.jsonl:2 has label \"9\""),
        "single class": ([single], "one class only"),
        "csv without header": ([headless], "no header row"),
        "encoder is a classifier": ([train, "--encoder", "CLASSIFIER"], "not a language model"),
        "encoder's tokenizer does not fit": ([odd_words, "--encoder", trained], "unknown"),
        "shape with encoder": ([train, "--encoder", trained, "--hidden-size", "32"], "--hidden-size comes from --encoder"),
        "schedule without encoder": ([train, "--unfreeze", "0.2"], "--unfreeze and --lr-decay apply"),
        "not a data file": ([tmp_path / "missing.txt"], ".jsonl or .csv"),
        "negative lm weight": ([train, "--lm-weight", "-1"], "lm_weight must be a number >= 0"),
        "adversarial share of 1": ([train, "--adversarial", "1"], "adversarial must be a share in [0, 1)"),
    }


@pytest.mark.parametrize("case", ["10,000 labels", "100 classes of one", "one enormous line", "a gzip of zeros", "a device",
                                  "a device to validate on",
                                  "missing field", "empty text", "unseen label", "single class", "csv without header",
                                  "encoder is a classifier", "encoder's tokenizer does not fit", "shape with encoder",
                                  "schedule without encoder", "not a data file", "negative lm weight",
                                  "adversarial share of 1"])
def test_bad_input_is_one_line_and_writes_nothing(case, tmp_path, trained, reviews, classifier):
    arguments, fragment = bad_inputs(tmp_path, trained, reviews)[case]
    arguments = [str(classifier[0]) if argument == "CLASSIFIER" else argument for argument in arguments]
    out = tmp_path / "out"
    result = run("classify", "train", *arguments, "--out", out, "--max-steps", "2")
    assert_one_line_error(result, fragment)
    assert not out.exists()


def test_each_kind_of_model_is_refused_by_the_others_commands(classifier, trained):
    out, _ = classifier
    assert_one_line_error(run("generate", out, "--prompt", "The"), "classifier, not a language model")
    assert_one_line_error(run("next", out, "The taffy"), "classifier, not a language model")
    assert_one_line_error(run("classify", "predict", trained, "Great taffy."), "language model, not a classifier")
    assert_one_line_error(run("classify", "explain", trained, "Great taffy."), "language model, not a classifier")
    assert_one_line_error(run("classify", "predict", out), "give TEXT or --file")


def test_resume_with_other_labels_is_refused(classifier, reviews, tmp_path):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(classifier[0], out)
    two = write_reviews(tmp_path / "two.jsonl", 30, 5, labels=("1", "3"), weights=(1, 1))
    assert_one_line_error(run("classify", "train", two, "--out", out, "--resume", "--max-steps", "90"), "--resume with other labels")


@pytest.mark.slow
def test_ctrl_c_saves_a_resumable_classifier(reviews, tmp_path):
    """SIGINT mid-run: exit 130 with a checkpoint and an exported directory; --resume finishes the run."""
    import signal
    import subprocess
    import time

    from tests.conftest import ONE_THREAD, REPO, textgen_process

    train, valid = reviews
    out = tmp_path / "cut"
    args = ["classify", "train", str(train), "--valid", str(valid), "--out", str(out), *TINY, "--max-steps", "3000",
            "--val-every", "5", "--json"]
    process = subprocess.Popen(textgen_process(*args), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=ONE_THREAD)
    deadline = time.monotonic() + 120
    while not (out / "lightning" / "last.ckpt").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    summary = json.loads(stdout)
    assert summary["interrupted"] is True and summary["steps"] < 3000
    assert "continue with: textgen classify train" in stderr
    assert json.loads((out / "textgen.json").read_text())["status"] == "interrupted"
    resumed = run("classify", "train", train, "--valid", valid, "--out", out, "--resume", "--max-steps", str(summary["steps"] + 10),
                  "--json")
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout)["steps"] == summary["steps"] + 10


def test_export_copies_a_classifier_with_its_head_labels_and_offsets(classifier, tmp_path):
    out, _ = classifier
    shared = tmp_path / "shared"
    result = run("export", out, shared)
    assert result.exit_code == 0, result.output
    meta, original = json.loads((shared / "textgen.json").read_text()), json.loads((out / "textgen.json").read_text())
    assert meta["task"] == "classifier" and meta["weights_dtype"] == "bfloat16" and not (shared / "lightning").exists()
    assert meta["labels"] == original["labels"] and meta["decision"] == original["decision"]
    ours = json.loads(run("classify", "predict", out, "The taffy was awful.", "--json").stdout)["probabilities"]
    theirs = json.loads(run("classify", "predict", shared, "The taffy was awful.", "--json").stdout)["probabilities"]
    assert all(abs(ours[k] - theirs[k]) < 0.02 for k in ours)  # bfloat16 weights: close, not equal


def test_half_star_ratings_train_as_ordered_ratings_and_say_so(tmp_path):
    """Labels 1.0, 2.5 and 4.0 (as a spreadsheet writes them): one note says they are read as ordered
    ratings; the classifier's classes are 1, 2.5, 4 in that order, and predict gives an expected rating."""
    rng = random.Random(4)
    rows = [{"text": review(rng, label), "rating": {"1": 1.0, "2": 2.5, "3": 4.0}[label]}
            for label in rng.choices(["1", "2", "3"], k=60)]
    data = tmp_path / "half.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = tmp_path / "half"
    result = run("classify", "train", data, "--out", out, *TINY, "--max-steps", "2", "--json")
    assert result.exit_code == 0, result.output
    notes = [line for line in result.stderr.splitlines() if "read as ordered ratings" in line]
    assert len(notes) == 1 and "are numbers (1, 2.5, 4)" in notes[0] and "--nominal makes them plain classes" in notes[0]
    labels = json.loads((out / "textgen.json").read_text())["labels"]
    assert labels["names"] == ["1", "2.5", "4"] and labels["ordinal"] is True
    prediction = json.loads(run("classify", "predict", out, "The taffy was lovely.", "--json").stdout)
    assert 1.0 <= prediction["expected"] <= 4.0 and set(prediction["probabilities"]) == {"1", "2.5", "4"}
