"""One classifier training run, from labelled files to a classifier's model directory: the data
and label checks, the encoder (a trained language model, ULMFiT-style) or a new tokenizer, the
run folder (lock, --resume, --overwrite), fit, export. `textgen classify train` calls
`train_classifier()`; the run shares its folder handling, checkpoints, signals and progress bar
with `textgen train`.
"""

from __future__ import annotations

import datetime
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from textgen.classify.data import LabelledData, Labels, check_known, class_weights, encode_examples, labels_of, read_labelled
from textgen.model.config import CLASSIFIER_AVERAGE, ClassifierConfig, ModelConfig, TrainConfig
from textgen.data.corpus import fingerprint
from textgen.errors import TextgenError
from textgen.modeldir.safe_read import shorten
from textgen.modeldir.layout import ModelDirectory
from textgen.modeldir.names import CLASSIFIER, META_FILE, task_of
from textgen.tokenizer import UNK_ID, Tokenizer, load_tokenizer, train_tokenizer
from textgen.training.resume import check_checkpoint, check_model, check_resumable
from textgen.training.precision import choose_precision, classifier_probe
from textgen.training.threads import choose_threads
from textgen.training.run import (RunResult, TokenizerSpec, _version, check_memory, check_out_dir, check_same_data,
                                  describe_limit, resolve_model_config, run_folder, trainer_check, SHAPE_FIELDS)
from textgen.modeldir.run_folder import RunPaths, check_temporary_folder, read_run_description

MAX_UNKNOWN_SHARE = 0.01  # an encoder's tokenizer that leaves more of the data unknown does not fit it
DEFAULT_CLASSIFIER_SIZE = {"hidden_size": 256, "embed_dim": 128}  # from scratch, when not given
# with --encoder: every layer learns from the first step at one rate. ULMFiT's frozen start and
# discriminative rates (--unfreeze 0.1 --lr-decay 2.6) learnt more slowly within the benchmark's budgets:
# valid macro-F1 0.449 against 0.466 and 0.473 (two seeds) after 800 steps (BENCHMARKS.md, review ratings)
ENCODER_SCHEDULE = {"unfreeze": 0.0, "lr_decay": 1.0}


@dataclass
class ClassifierData:
    """Where the examples come from and how to read them."""

    path: str
    valid: str | None = None
    text_field: str = "text"
    label_field: str = "rating"
    ordinal: bool | None = None  # None: whole-number labels are ordinal


def read_data(data: ClassifierData, seed: int, valid_fraction: float) -> tuple[LabelledData, LabelledData | None, Labels]:
    """Training and validation examples and the classes, every check done (the validation labels
    must be training classes). Without --valid, a seeded share of the training examples validates."""
    train = read_labelled(data.path, data.text_field, data.label_field)
    labels = labels_of(train, data.ordinal)
    if data.valid:
        valid = read_labelled(data.valid, data.text_field, data.label_field)
        check_known(valid, labels)
        return train, valid, labels
    if valid_fraction <= 0:
        return train, None, labels
    rng = np.random.default_rng(seed)
    held = set(rng.permutation(len(train.examples))[: max(1, round(valid_fraction * len(train.examples)))].tolist())
    kept = tuple(example for index, example in enumerate(train.examples) if index not in held)
    valid = tuple(example for index, example in enumerate(train.examples) if index in held)
    return (LabelledData(train.path, train.format, train.text_field, train.label_field, kept),
            LabelledData(train.path, train.format, train.text_field, train.label_field, valid), labels)


def encoder_settings(encoder: str | None, model: dict, explicit: set[str], tokenizer_option: str | None,
                     unfreeze: float | None, lr_decay: float | None) -> tuple[dict, dict]:
    """The model settings and the encoder's schedule (unfreeze, lr_decay) of a classifier run. With
    an `encoder` the model's shape and its tokenizer are the language model's: of `model` only the
    `explicit` (given) settings stay, and a given shape setting or tokenizer option
    (`tokenizer_option`: the first one given, e.g. "--vocab-size") is refused; without one the
    schedule's options are refused."""
    if encoder:
        model = {key: value for key, value in model.items() if key in explicit}  # the encoder's, unless given
        shaped = sorted(name for name in model if name in SHAPE_FIELDS)
        if shaped:
            raise TextgenError(f"--{shaped[0].replace('_', '-')} comes from --encoder {encoder} (the language model's "
                               "shape): leave it out")
        if tokenizer_option:
            raise TextgenError(f"{tokenizer_option} comes from --encoder {encoder} (its tokenizer): leave it out")
    elif unfreeze is not None or lr_decay is not None:
        raise TextgenError("--unfreeze and --lr-decay apply to a run that starts from --encoder: give one or leave them out")
    return model, {key: value for key, value in (("unfreeze", unfreeze), ("lr_decay", lr_decay)) if value is not None}


def check_settings(model: dict, head: dict, training: dict) -> None:
    """Every setting of a new classifier run, checked before any work (a resumed run's come from its textgen.json)."""
    TrainConfig(**training)
    ModelConfig(vocab_size=1, **{key: value for key, value in model.items() if value is not None})
    ClassifierConfig(num_classes=2, **head)


def load_encoder_model(encoder: str, data: LabelledData):
    """The language model to start from, refusing a classifier and a tokenizer that does not cover the data."""
    from textgen.modeldir.store import load

    try:
        loaded = load(encoder)  # refuses a classifier in one line
    except TextgenError as error:
        raise TextgenError(f"--encoder: {error}") from None
    ids = [loaded.tokenizer.encode(example.text) for example in data.examples[:2000]]
    total = sum(len(row) for row in ids)
    unknown = sum(row.count(UNK_ID) for row in ids)
    if total and unknown / total > MAX_UNKNOWN_SHARE:
        raise TextgenError(f"--encoder {encoder}'s {loaded.tokenizer.kind} tokenizer leaves {100 * unknown / total:.1f}% of "
                           f"{data.path}'s tokens unknown (over {100 * MAX_UNKNOWN_SHARE:g}%): pretrain a language model on "
                           "this text, or train without --encoder")
    return loaded


def train_classifier(data: ClassifierData, out_dir: str, tokenizer_spec: TokenizerSpec, model_overrides: dict,
                     head_overrides: dict, train_overrides: dict, encoder: str | None = None,
                     encoder_schedule: dict | None = None, resume: bool = False, overwrite: bool = False,
                     progress_bar: bool = False, command: list[str] | None = None,
                     report: Callable[[str], None] = lambda line: None) -> RunResult:
    """Train (or resume) a classifier on labelled examples into the model directory `out_dir`.
    Every input problem is a TextgenError before anything is written."""
    check_temporary_folder()  # before Lightning's import needs it
    out = Path(out_dir)
    saved = read_run_description(out) if resume and os.path.lexists(out / META_FILE) else None  # a damaged one: one line
    if saved is not None and task_of(saved) != CLASSIFIER:
        raise TextgenError(f"{out} holds a language model's run, not a classifier's: give another --out")
    base = TrainConfig.from_dict(saved["training"]) if saved and "training" in saved else TrainConfig()
    # a new run takes the classifier's own weight average unless given one (TrainConfig's default is the language
    # model's); a resume keeps the run's
    defaults = {} if saved is not None else {"average": CLASSIFIER_AVERAGE}
    train_config = base.replace(**{**defaults, **train_overrides})
    if saved is not None:  # the run's own fields and label kind
        fields = saved.get("labels", {})
        data = ClassifierData(data.path, data.valid, fields.get("text_field", data.text_field),
                              fields.get("label_field", data.label_field), bool(fields.get("ordinal", False)))
    train, valid, labels = read_data(data, train_config.seed, train_config.valid_fraction)
    if saved is not None and Labels.from_dict(saved["labels"]) != labels:
        before = shorten(", ".join(map(str, saved["labels"]["names"])), 200)
        raise TextgenError(f"--resume with other labels: the run has classes {before}, {data.path} has "
                           f"{shorten(', '.join(labels.names), 200)}; train a new run")
    loaded = load_encoder_model(encoder, train) if encoder and saved is None else None
    trainer_check(train_config)
    with run_folder(out_dir, True, report) as out:
        resumed: dict = {}
        check_out_dir(out, resume, overwrite)
        if resume:
            resumed = check_checkpoint(ModelDirectory(out).last_checkpoint, CLASSIFIER)
            if saved is not None and isinstance(saved.get("model"), dict):
                check_model(ModelDirectory(out).last_checkpoint, resumed, saved["model"])
            check_same_data(saved or {}, fingerprint(data.path), data.valid)
        paths = RunPaths(out, staged=overwrite)
        try:
            return _fit_classifier(data, train, valid, labels, out, paths, tokenizer_spec, model_overrides, head_overrides,
                                   train_config, loaded, encoder, encoder_schedule, saved, resumed, progress_bar, command,
                                   report)
        except BaseException:
            if paths.staging is not None and paths.current == paths.staging:
                shutil.rmtree(paths.staging, ignore_errors=True)  # an --overwrite run that saved nothing: the old run stays
            raise


def _fit_classifier(data, train, valid, labels, out, paths, tokenizer_spec, model_overrides, head_overrides, train_config,
                    loaded, encoder, encoder_schedule, saved, resumed, progress_bar, command, report) -> RunResult:
    import lightning as L

    from textgen.classify.predict import save_classifier_dir
    from textgen.training.classifier_task import ClassificationDataModule, ClassifierTask
    from textgen.training.fit import TRAIN_COLUMNS, RunLog, fit

    if saved is not None:
        tokenizer = load_tokenizer(out / saved["tokenizer"]["file"])
        # a run begun before adversarial training was the default resumes as it began: without it
        head_config = ClassifierConfig.from_dict({"adversarial": 0.0, **saved["classifier"]}).replace(**head_overrides)
        model_config = resolve_model_config(tokenizer.vocab_size, model_overrides, saved)
        schedule = saved.get("encoder_schedule") or {}
    else:
        if loaded is not None:
            tokenizer = loaded.tokenizer
            report(f"encoder: {encoder} ({loaded.model.config.summary()}), its tokenizer {tokenizer.describe()}")
            shaped = sorted(name for name in model_overrides if name in SHAPE_FIELDS)
            if shaped:
                raise TextgenError(f"--{shaped[0].replace('_', '-')} comes from --encoder {encoder} (the language model's "
                                   "shape): leave it out")
            model_config = loaded.model.config.replace(**model_overrides)
            schedule = {**ENCODER_SCHEDULE, **(encoder_schedule or {})}
        else:
            tokenizer = new_tokenizer(tokenizer_spec, train, train_config.seed, report)
            model_config = ModelConfig(vocab_size=tokenizer.vocab_size, **{**DEFAULT_CLASSIFIER_SIZE, **model_overrides})
            schedule = {"unfreeze": 0.0, "lr_decay": 1.0, **(encoder_schedule or {})}
        head_config = ClassifierConfig(num_classes=len(labels.names), ordinal=labels.ordinal, **head_overrides)
    check_memory(model_config)
    started = time.perf_counter()
    encoded = encode_examples(train, labels, tokenizer, head_config.max_tokens)
    encoded_valid = encode_examples(valid, labels, tokenizer, head_config.max_tokens) if valid is not None else None
    report(f"data: {len(encoded.ids):,} training examples ({encoded.tokens:,} tokens"
           + (f", {encoded.truncated:,} cut at {head_config.max_tokens} tokens" if encoded.truncated else "") + ")"
           + (f", {len(encoded_valid.ids):,} validation examples" if encoded_valid else ", no validation")
           + f"; classes {', '.join(f'{name} ({count:,})' for name, count in zip(labels.names, _counts(train, labels)))}"
           + f"; read in {time.perf_counter() - started:.1f}s")
    if encoded.tokens and encoded.unknown / encoded.tokens > 0.2:
        report(f"note: {100 * encoded.unknown / encoded.tokens:.0f}% of the training tokens are <unk>")
    weights = class_weights(train, labels, head_config.class_weights)
    reached = resumed.get("global_step", 0)
    if saved is not None and train_config.max_steps is not None and train_config.max_steps <= reached:
        raise TextgenError(f"--max-steps {train_config.max_steps} is not beyond the run's step {reached:,}: give a larger "
                           "--max-steps to train on")
    from textgen.model.classifier import Classifier

    parameters = Classifier(model_config, head_config).parameter_count()
    report(f"model: {model_config.cell} classifier: {model_config.num_layers} x {model_config.hidden_size} units, embed "
           f"{model_config.embed_dim}, vocab {model_config.vocab_size}, {head_config.pooling} pooling -> "
           f"{head_config.num_classes} classes, {parameters:,} parameters"
           + (f"; encoder frozen for the first {schedule['unfreeze']:.0%} of the run, its layers at --lr / "
              f"{schedule['lr_decay']:g} per layer down" if schedule.get("lr_decay", 1.0) != 1.0 or schedule.get("unfreeze") else ""))
    report(f"limit: {describe_limit(train_config, float(resumed.get('train_seconds', 0.0) or 0.0))}")
    metadata = {
        "training": train_config.to_dict(),
        "corpus": {"path": str(data.path), "absolute_path": str(Path(data.path).resolve()),
                   "fingerprint": fingerprint(data.path), "valid": data.valid, "format": train.format,
                   "examples": len(encoded.ids), "valid_examples": len(encoded_valid.ids) if encoded_valid else 0,
                   "train_tokens": encoded.tokens, "truncated": encoded.truncated},
        "labels": {**labels.to_dict(), "text_field": train.text_field, "label_field": train.label_field,
                   "train_counts": _counts(train, labels)},
        "encoder": saved.get("encoder") if saved is not None else (
            {"path": str(encoder), "files": loaded.metadata.get("files", {})} if loaded is not None else None),
        "encoder_schedule": schedule,
        "command": command or [],
        "textgen_version": _version(),
    }
    threads, why = choose_threads()  # every input is checked by now: a refusal stays one line
    report(f"threads: {threads} ({why}; OMP_NUM_THREADS sets them)")
    L.seed_everything(train_config.seed, workers=True, verbose=False)
    task = ClassifierTask(model_config.to_dict(), head_config.to_dict(), train_config.to_dict(), labels.to_dict(), weights,
                          schedule, encoded_valid)
    length = int(np.median([len(ids) for ids in encoded.ids])) if len(encoded.ids) else 1
    precision, why, _ = choose_precision(train_config, classifier_probe(task.model, train_config.batch_size, length,
                                                                     len(labels.names)))
    report(f"precision: {precision} ({why}; --precision sets it)")
    task.train_config = train_config.replace(precision=precision)  # what Lightning runs; textgen.json keeps the setting
    metadata["precision"] = precision
    if saved is not None:
        check_resumable(ModelDirectory(out).last_checkpoint, resumed, task)  # another model's last.ckpt: one line
    if saved is None:  # a resume takes its weights from the checkpoint
        if loaded is not None:
            task.model.load_encoder(loaded.model)
            if task.lm_head is not None:
                task.lm_head.load_decoder(loaded.model)
        save_classifier_dir(paths.current, task.model, tokenizer, labels, {**metadata, "status": "training"})

    def export(trained, metrics: dict, status: str) -> None:
        with trained.averaged_weights():
            save_classifier_dir(paths.current, trained.model, tokenizer, labels,
                                {**metadata, "status": status, "metrics": metrics,
                                 "saved": datetime.datetime.now().astimezone().isoformat(timespec="seconds")})

    log = RunLog(columns=TRAIN_COLUMNS + list(ClassifierTask.log_columns))
    began = time.perf_counter()
    received = fit(task, ClassificationDataModule(encoded, train_config), paths, export, saved is not None, progress_bar,
                   report, log)
    if received is None and valid is not None and head_config.decision_offsets and (paths.current / META_FILE).exists():
        record_decision_bias(paths.current, valid, report)
    steps = task.global_step if task._trainer else 0
    return RunResult(out, model_config, train_config, received, steps, time.perf_counter() - began,
                     dict(task.last_metrics), steps - reached, task.model.parameter_count(), precision=precision)


def new_tokenizer(spec: TokenizerSpec, data: LabelledData, seed: int, report: Callable[[str], None]) -> Tokenizer:
    """A given tokenizer file, or one trained on the training texts."""
    if spec.path:
        tokenizer = load_tokenizer(spec.path)
        report(f"tokenizer: {tokenizer.describe()} from {spec.path}")
        return tokenizer
    started = time.perf_counter()
    tokenizer = train_tokenizer((example.text for example in data.examples), kind=spec.kind or "sentencepiece",
                                vocab_size=spec.vocab_size, model_type=spec.model_type, seed=seed,
                                on_note=lambda text: report(f"note: {text}"))
    report(f"tokenizer: trained {tokenizer.describe()} in {time.perf_counter() - started:.1f}s")
    return tokenizer


def _counts(data: LabelledData, labels: Labels) -> list[int]:
    counts = data.counts()
    return [counts.get(name, 0) for name in labels.names]



def record_decision_bias(out: Path, valid: LabelledData, report: Callable[[str], None]) -> None:
    """Tune per-class decision offsets on the validation examples with the directory's (best)
    weights and record them in textgen.json (weights and hashes unchanged): rare classes get
    predicted as often as macro-F1 wants, at most one point of validation accuracy given up."""
    import torch

    from textgen.classify.metrics import tune_decision_bias
    from textgen.classify.predict import class_probabilities, load_classifier

    loaded = load_classifier(out)
    probabilities = class_probabilities(loaded, [example.text for example in valid.examples])
    targets = np.array([loaded.labels.index(example.label) for example in valid.examples])
    majority = np.bincount(targets, minlength=len(loaded.labels.names)).max() / len(targets)
    before = float((probabilities.argmax(dim=1).numpy() == targets).mean())
    bias, record = tune_decision_bias(torch.log(probabilities.clamp_min(1e-12)).numpy(), targets, loaded.labels,
                                      min_accuracy=max(before - 0.01, majority + 0.01))
    ModelDirectory(out).update_metadata(decision={"bias": [round(float(value), 3) for value in bias],
                                                  "tuned_on": valid.path, **record})
    report(f"decision offsets tuned on the validation set: macro-F1 {record['before']['macro_f1']:.3f} -> "
           f"{record['after']['macro_f1']:.3f}, accuracy {record['before']['accuracy']:.3f} -> {record['after']['accuracy']:.3f}")
