"""Review -> rating on the food reviews (issue 15), in one run: the majority class, TF-IDF +
logistic regression (scikit-learn), the LSTM classifier from scratch, and the LSTM classifier
started from a language model pretrained on the reviews' training text (ULMFiT-style). The two
LSTM classifiers get the same training budget; the pretraining is reported as its own cost.
Then `classify predict`'s whole-process time, and how faithful each explanation method is
(ERASER comprehensiveness and sufficiency: the fall of the explained value when the top-k words
are removed, and when only they are kept).

    .venv/bin/python benchmarks/classify.py                       # about 50 minutes
    .venv/bin/python benchmarks/classify.py --seconds 120 --lm-seconds 300 --check
    .venv/bin/python benchmarks/classify.py --seconds 300 --adversarial 0   # the defaults before adversarial training

JSON on stdout, progress on stderr. Needs scikit-learn (`pip install -e '.[bench]'`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SHA256 = {"train.jsonl": "9572a055c2be7496ba9de0e7cad3501d98bca77f2f222c8d4058c3971ab7b27f",
          "valid.jsonl": "cd4243a2d8126a6fe95033752fcd07d365bad07c91c0cce65d311b150c31de39",
          "test.jsonl": "e3b2f2beeff961c5a4844a08d4a9128e924bb514c449111b17820a2917f058b8"}
KEEP = ("examples", "accuracy", "macro_f1", "mae", "loss")


def say(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


def textgen(*arguments: str) -> subprocess.CompletedProcess:
    command = [str(ROOT / ".venv" / "bin" / "textgen"), *map(str, arguments)]
    say("textgen " + " ".join(map(str, arguments)))
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"error: textgen {' '.join(map(str, arguments))} failed: {(done.stderr.strip().splitlines() or [''])[-1]}")
    return done


def short(metrics: dict) -> dict:
    out = {key: round(metrics[key], 4) if isinstance(metrics[key], float) else metrics[key] for key in KEEP if key in metrics}
    out["per_class_f1"] = {item["label"]: round(item["f1"], 3) for item in metrics.get("per_class", [])}
    return out


def sklearn_rows(folder: Path) -> tuple[dict, dict, dict]:
    """The majority class and TF-IDF + logistic regression (C and class weights chosen on valid),
    and the test set's true classes and TF-IDF's predictions (for the paired bootstrap)."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    from textgen.classify.data import labels_of, read_labelled
    from textgen.classify.metrics import classification_metrics

    train, valid, test = (read_labelled(folder / f"{split}.jsonl") for split in ("train", "valid", "test"))
    labels = labels_of(train)
    targets = {name: np.array([labels.index(e.label) for e in data.examples]) for name, data in
               (("train", train), ("valid", valid), ("test", test))}
    counts = np.bincount(targets["train"], minlength=len(labels.names))
    one_hot = np.zeros((len(targets["test"]), len(labels.names)))
    one_hot[:, counts.argmax()] = 1
    majority = {"name": "majority", "settings": {"label": labels.names[counts.argmax()]},
                "test": short(classification_metrics(targets["test"], one_hot, labels))}
    started = time.perf_counter()
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)
    x = {name: (vectorizer.fit_transform if name == "train" else vectorizer.transform)([e.text for e in data.examples])
         for name, data in (("train", train), ("valid", valid), ("test", test))}
    best = None
    for c in (0.25, 1.0, 4.0, 16.0):
        for weight in (None, "balanced"):
            model = LogisticRegression(C=c, class_weight=weight, max_iter=2000).fit(x["train"], targets["train"])
            score = classification_metrics(targets["valid"], model.predict_proba(x["valid"]), labels)["macro_f1"]
            say(f"tf-idf + LR, C {c:g}, class_weight {weight}: valid macro-F1 {score:.4f}")
            if best is None or score > best[0]:
                best = (score, c, weight, model)
    _, c, weight, model = best
    probabilities = model.predict_proba(x["test"])
    metrics = classification_metrics(targets["test"], probabilities, labels)
    check = f1_score(targets["test"], probabilities.argmax(axis=1), average="macro")
    assert abs(check - metrics["macro_f1"]) < 1e-9, (check, metrics["macro_f1"])  # textgen's macro-F1 is scikit-learn's
    tfidf = {"name": "tfidf-lr", "settings": {"C": c, "class_weight": weight, "ngrams": "1-2", "sublinear_tf": True, "min_df": 2},
             "valid_macro_f1": round(best[0], 4), "test": short(metrics), "seconds": round(time.perf_counter() - started, 1)}
    return majority, tfidf, {"targets": targets["test"], "tfidf-lr": probabilities.argmax(axis=1)}


def lstm_row(name: str, folder: Path, out: Path, seconds: int, extra: list[str]) -> dict:
    started = time.perf_counter()
    summary = json.loads(textgen("classify", "train", folder / "train.jsonl", "--valid", folder / "valid.jsonl", "--out", out,
                                 "--overwrite", "--max-time", f"{seconds}s", "--json", *extra).stdout)
    took = time.perf_counter() - started
    metrics = json.loads(textgen("classify", "evaluate", out, folder / "test.jsonl", "--json").stdout)
    return {"name": name, "options": extra, "parameters": summary["parameters"], "steps": summary["steps"],
            "train_seconds": round(took, 1), "valid": kept_validation(out),
            "valid_last": {key.removeprefix("valid_"): round(value, 4) for key, value in summary.items()
                           if key.startswith("valid_") and isinstance(value, float)},
            "test": short(metrics)}


def test_predictions(model: Path, folder: Path):
    """A classifier directory's predicted class for each test review, as `classify evaluate` decides."""
    from textgen.classify.data import read_labelled
    from textgen.classify.predict import class_probabilities, load_classifier

    loaded = load_classifier(model)
    texts = [example.text for example in read_labelled(folder / "test.jsonl").examples]
    return class_probabilities(loaded, texts).numpy().argmax(axis=1)


def kept_validation(out: Path) -> dict:
    """The validation of the weights the directory kept (the best macro-F1), not the run's last one."""
    from textgen.modeldir.layout import ModelDirectory

    kept = ModelDirectory(out).read_metadata()["metrics"]
    return {key: round(kept[key], 4) for key in ("step", "accuracy", "macro_f1", "loss", "mae") if key in kept}


def predict_seconds(model: Path, text: str, runs: int = 7) -> dict:
    command = [str(ROOT / ".venv" / "bin" / "textgen"), "classify", "predict", str(model), text]
    subprocess.run(command, capture_output=True, check=True)  # warm the file cache
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return {"p50": round(statistics.median(times), 3), "max": round(max(times), 3), "runs": runs}


def faithfulness(model: Path, folder: Path, count: int) -> dict:
    """ERASER scores per method (higher comprehensiveness and lower sufficiency are better)."""
    import torch

    from textgen.classify.data import read_labelled
    from textgen.classify.explain import explain, explained_value, text_ids
    from textgen.classify.predict import load_classifier
    from textgen.analysis.gates import group_words
    from textgen.tokenizer import BOS_ID, EOS_ID

    loaded = load_classifier(model)
    texts = [example.text for example in read_labelled(folder / "test.jsonl").examples[:count]]

    def value_of(ids: list[int], target: int) -> float:
        with torch.no_grad():
            logits = loaded.model(torch.tensor([ids]), torch.tensor([len(ids)]))
        return float(explained_value(loaded, logits, target)[0])

    results = {}
    for method, steps in (("occlusion", 0), ("integrated-gradients", 32)):
        scores = {k: {"comprehensiveness": [], "sufficiency": []} for k in (1, 3, 5)}
        started = time.perf_counter()
        for text in texts:
            explanation = explain(loaded, text, method, steps or 32)
            ids = text_ids(loaded, text)
            inner = [i for i, token in enumerate(ids) if token not in (BOS_ID, EOS_ID)]
            groups = [[inner[i] for i in group] for group in group_words(loaded.tokenizer, [ids[i] for i in inner])]
            target = loaded.labels.names.index(explanation.label)
            # for ordinal labels the score's sign says raise or lower: rank by how much a word pushed the
            # value towards the predicted class's side, i.e. by |score|
            order = sorted(range(len(groups)), key=lambda i: -abs(explanation.words[i].score))
            for k in scores:
                top = {index for group in (groups[i] for i in order[:k]) for index in group}
                removed = [t for i, t in enumerate(ids) if i not in top]
                kept = [t for i, t in enumerate(ids) if i in top or t in (BOS_ID, EOS_ID)]
                scores[k]["comprehensiveness"].append(abs(explanation.value - value_of(removed, target)))
                scores[k]["sufficiency"].append(abs(explanation.value - value_of(kept, target)))
        results[method] = {f"k{k}": {name: round(statistics.mean(values), 4) for name, values in item.items()}
                           for k, item in scores.items()}
        results[method]["ms_per_text"] = round(1000 * (time.perf_counter() - started) / len(texts), 1)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=str(ROOT.parent / "shared" / "corpora"))
    # 900 s: adversarial training (the default) takes 2.7x the time a step; the 300 s budget of plain training
    # became 900 s when it became the default (BENCHMARKS.md, review ratings)
    parser.add_argument("--seconds", type=int, default=900, help="training budget of each LSTM classifier")
    parser.add_argument("--lm-seconds", type=int, default=600, help="pretraining budget of the language model")
    parser.add_argument("--adversarial", type=float, default=None,
                        help="`classify train --adversarial` for both LSTM classifiers (default: its default, 0.03; 0: off)")
    parser.add_argument("--out", default=str(ROOT / ".bench" / "classify"))
    parser.add_argument("--explain-texts", type=int, default=100)
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    folder, out = Path(args.shared) / "reviews", Path(args.out)
    if not (folder / "train.jsonl").is_file():
        print(f"error: {folder}/train.jsonl is missing: give --shared, the folder holding reviews/", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    sha_ok = all(hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest for name, digest in SHA256.items())
    import torch

    result: dict = {"data": {"folder": str(folder), "sha256_ok": sha_ok}, "seconds": args.seconds, "lm_seconds": args.lm_seconds,
                    "machine": {"cpus": os.cpu_count(), "torch": torch.__version__, "threads": torch.get_num_threads()}}
    majority, tfidf, predictions = sklearn_rows(folder)
    rows = [majority, tfidf]
    options = [] if args.adversarial is None else ["--adversarial", f"{args.adversarial:g}"]
    rows.append(lstm_row("lstm-scratch", folder, out / "scratch", args.seconds, options))
    started = time.perf_counter()
    lm = json.loads(textgen("train", folder / "train.jsonl", "--valid", folder / "valid.jsonl", "--out", out / "lm",
                            "--overwrite", "--max-time", f"{args.lm_seconds}s", "--json").stdout)
    pretrain = {"seconds": round(time.perf_counter() - started, 1), "steps": lm["steps"],
                "valid_bits_per_byte": round(lm["valid_bits_per_byte"], 4)}
    row = lstm_row("lstm-lm", folder, out / "from-lm", args.seconds, ["--encoder", str(out / "lm"), *options])
    rows.append({**row, "pretraining": pretrain})
    result["rows"] = rows
    predictions["lstm-scratch"], predictions["lstm-lm"] = (test_predictions(out / name, folder) for name in ("scratch", "from-lm"))
    # the targets are the pretrained classifier's: the ULMFiT pipeline the issue names and the README trains, with
    # scratch as its comparison. Until the twelfth session the benchmark chose between the two on their kept
    # validation macro-F1, but that is a maximum over six noisy validations each: scratch's exceeded its test
    # score by 0.05-0.06 in both 900 s runs, the pretrained one's fell below it (BENCHMARKS.md, review ratings).
    # Which of the two valid would pick is still reported.
    model = out / "from-lm"
    result["predict_seconds"] = predict_seconds(model, "The taffy was stale and hard; I threw the bag away.")
    result["explain"] = faithfulness(model, folder, args.explain_texts)
    result["targets"] = targets_of(result, "lstm-lm", predictions)
    result["targets"]["valid_choice"] = max(rows[2:], key=lambda item: item["valid"].get("macro_f1", 0))["name"]
    print(json.dumps(result, indent=2))
    return 1 if args.check and not result["targets"]["met"] else 0


def targets_of(result: dict, lstm: str, predictions: dict) -> dict:
    """The issue's targets for the pretrained LSTM (`lstm`), and each LSTM row's own standing
    against TF-IDF and the majority class, with a paired bootstrap of its macro-F1 minus TF-IDF's
    over the test reviews (how sure the comparison is: a few dozen reviews of each rare class
    decide it)."""
    from textgen.classify.metrics import paired_bootstrap

    test = {item["name"]: item["test"] for item in result["rows"]}
    classes = len(test["tfidf-lr"]["per_class_f1"])

    def standing(name: str) -> dict:
        bootstrap = paired_bootstrap(predictions["targets"], predictions[name], predictions["tfidf-lr"], classes)
        assert abs(bootstrap["difference"] - (test[name]["macro_f1"] - test["tfidf-lr"]["macro_f1"])) < 1e-3, name  # same predictions
        return {"macro_f1_over_tfidf": round(test[name]["macro_f1"] / test["tfidf-lr"]["macro_f1"], 3),
                "macro_f1_minus_tfidf": {"difference": round(bootstrap["difference"], 4),
                                         "ci95": [round(value, 4) for value in bootstrap["ci95"]],
                                         "share_ahead": round(bootstrap["share_ahead"], 3), "resamples": bootstrap["resamples"]},
                "accuracy_over_majority": test[name]["accuracy"] > test["majority"]["accuracy"],
                "mae_below_tfidf": test[name]["mae"] < test["tfidf-lr"]["mae"]}

    targets = {"lstm": lstm, **standing(lstm),
               "pretraining_gain_macro_f1": round(test["lstm-lm"]["macro_f1"] - test["lstm-scratch"]["macro_f1"], 4),
               "predict_under_2s": result["predict_seconds"]["p50"] < 2.0,
               "each_lstm": {name: standing(name) for name in ("lstm-scratch", "lstm-lm")}}
    targets["met"] = targets["macro_f1_over_tfidf"] > 1.0 and targets["accuracy_over_majority"] and \
        targets["mae_below_tfidf"] and targets["predict_under_2s"]
    return targets


if __name__ == "__main__":
    sys.exit(main())
