"""One training run from corpus to model directory: output checks, tokenizer, token caches,
resume checks, fit, export. The CLI's `textgen train` calls `train()`.

Everything that must happen once (training the tokenizer, building the token cache) happens
here before fit(); processes that Lightning or torchrun start for distributed training only
load what the first process wrote.
"""

from __future__ import annotations

import contextlib
import datetime
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from textgen.modeldir.atomic import prepare_output, write_bytes
from textgen.modeldir.store import save_model_dir
from textgen.modeldir.layout import ModelDirectory, description
from textgen.modeldir.names import LANGUAGE_MODEL, LIGHTNING_DIR, META_FILE, RUN_FILES, task_of, tokenizer_file
from textgen.model.config import ModelConfig, TrainConfig, default_hidden_size, describe_size_rule
from textgen.data.corpus import assign_splits, fingerprint, iter_stories
from textgen.data.token_arrays import BatchPlan, cached_splits, cached_tokens, check_batch_plan
from textgen.errors import TextgenError
from textgen.modeldir.safe_read import kind_of
from textgen.tokenizer import Tokenizer, load_tokenizer, train_tokenizer
from textgen.training.resume import check_checkpoint, check_model, check_resumable
from textgen.modeldir.run_folder import (LOCK_FILE, RunLock, RunPaths, check_temporary_folder, holds_run, read_run_description,
                                     recover, run_entries)
from textgen.training.budget import Budget
from textgen.training.schedule import time_bounded
from textgen.training.precision import choose_precision, language_model_probe
from textgen.training.regularisation import DROPOUTS, planned_epochs, regularise
from textgen.training.threads import choose_threads

SHAPE_FIELDS = ("cell", "vocab_size", "embed_dim", "hidden_size", "num_layers", "tie_weights", "output_projection")
MAX_TRAINING_MEMORY_SHARE = 0.8  # a model whose weights, gradients and optimizer state would not fit in this share of RAM is refused


@dataclass
class TokenizerSpec:
    """Where the tokenizer comes from: an existing file, or a kind and size to train."""

    path: str | None = None
    kind: str | None = "sentencepiece"  # None on --resume when not given: the run's own
    vocab_size: int | None = None
    model_type: str = "unigram"


@dataclass
class RunResult:
    out_dir: Path
    model_config: ModelConfig
    train_config: TrainConfig
    signal: int | None = None
    steps: int = 0  # the run's step counter at the end (earlier invocations included)
    seconds: float = 0.0  # this invocation's training time
    metrics: dict = field(default_factory=dict)
    new_steps: int = 0  # steps this invocation trained
    parameters: int | None = None  # of the network trained (None: the language model of model_config)
    wall_seconds: float | None = None  # the whole command, from `started` to the end (start-up and the cache search included)
    budget_seconds: float | None = None  # a time-bounded invocation's share of --max-time (None: not time-bounded)
    precision: str | None = None  # the number format the run trained in (textgen.training.precision)


RANK_VARIABLES = ("LOCAL_RANK", "NODE_RANK", "RANK")
LAUNCHER_VARIABLES = ("WORLD_SIZE", "SLURM_NTASKS", "TORCHELASTIC_RUN_ID")


def check_settings(model: dict, training: dict) -> None:
    """Every setting of a new run, checked before any work (a resumed run's come from its textgen.json)."""
    TrainConfig(**training)
    ModelConfig(vocab_size=1, **model)


def resumed_limits(training: dict, given: set[str], resume: bool) -> dict:
    """A resumed run keeps its own --max-steps unless one is given (`given`: the settings given
    again); every other limit given replaces the recorded one. Changes and returns `training`."""
    if resume and "max_steps" not in given:
        training.pop("max_steps", None)
    return training


def primary_process() -> bool:
    """True in the first process of a run (or the only one): it prints, prepares the data and saves."""
    import os

    return all(int(os.environ.get(name, "0") or 0) == 0 for name in RANK_VARIABLES)


def check_launcher(num_nodes: int) -> None:
    """More than one node needs a launcher (torchrun, srun) that starts a process on each."""
    import os

    if num_nodes > 1 and not any(name in os.environ for name in LAUNCHER_VARIABLES):
        raise TextgenError(f"--num-nodes {num_nodes} needs a launcher that starts every node: run under torchrun "
                           "or srun (see the README's scale-out commands), or use --num-nodes 1")


def check_out_dir(out_dir: Path, resume: bool, overwrite: bool) -> None:
    """An output folder from another run needs --resume or --overwrite; --resume needs a checkpoint."""
    if out_dir.exists() and not out_dir.is_dir():
        raise TextgenError(f"output path {out_dir} is a file: give a folder for the model directory")
    used = holds_run(out_dir)
    last = ModelDirectory(out_dir).last_checkpoint
    if resume and overwrite:
        raise TextgenError("--resume and --overwrite contradict each other: choose one")
    for path in (*(out_dir / name for name in RUN_FILES), last, ModelDirectory(out_dir).best_checkpoint):
        if path.exists() and not path.is_file():  # a pipe or a device would hang or never end: said as what it is
            raise TextgenError(f"{path} is {kind_of(path.stat().st_mode)}, where textgen keeps a regular file of the run; "
                               "remove it, or give another --out")
    if resume and not last.is_file():
        raise TextgenError(f"--resume found no checkpoint at {last}: train without --resume first")
    if used and not resume and not overwrite:
        raise TextgenError(f"{out_dir} holds another run: add --resume to continue it or --overwrite to replace it")
    prepare_output(out_dir / META_FILE)


def check_same_data(saved: dict, corpus_fingerprint: str, valid_file: str | None) -> None:
    """--resume must read the same corpus and validation text: the data position and best.ckpt depend on them."""
    before = saved.get("corpus", {})
    if before.get("fingerprint") and before["fingerprint"] != corpus_fingerprint:
        raise TextgenError(f"--resume with a different corpus: its contents differ from {before.get('path')} the run "
                           "trained on; train a new run for a new corpus")
    if (before.get("valid") or None) != (valid_file or None):
        raise TextgenError(f"--resume with a different validation set: the run used --valid {before.get('valid') or '(none)'}, "
                           f"now {valid_file or '(none)'}; give the same one")


def trainer_check(config: TrainConfig) -> None:
    """Build (and drop) a Trainer so Lightning's checks of devices, accelerator and strategy run first."""
    import lightning as L

    from textgen.training.fit import quiet_lightning, trainer_arguments

    try:
        with quiet_lightning():
            L.Trainer(**trainer_arguments(config), enable_progress_bar=False)
    except Exception as error:  # MisconfigurationException, ValueError, TypeError from Lightning's connectors
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise TextgenError(f"Lightning refused the hardware settings (--accelerator {config.accelerator}, --devices "
                           f"{config.devices}, --strategy {config.strategy}): {message}") from None


def check_run_kind(out: Path) -> None:
    """--resume of a classifier's run with textgen train is refused (its textgen.json says which it is)."""
    if not (out / META_FILE).exists():
        return  # a missing textgen.json is reported where it is read
    task = task_of(read_run_description(out))  # a damaged one: one line
    if task != LANGUAGE_MODEL:
        raise TextgenError(f"{out} holds a {task}'s run, not a language model's: continue it with textgen classify train "
                           f"DATA --out {out} --resume, or give textgen train another --out")


def training_stories(corpus: str, valid_file: str | None, valid_fraction: float, seed: int):
    """The stories a tokenizer is trained on: the training split only."""
    if valid_file or valid_fraction == 0:
        return iter_stories(corpus)
    names = assign_splits(sum(1 for _ in iter_stories(corpus)), valid_fraction, 0.0, seed)
    return (story for story, name in zip(iter_stories(corpus), names) if name == "train")


def prepare_tokenizer(spec: TokenizerSpec, corpus: str, out_dir: Path, saved: dict | None, train: TrainConfig,
                      valid_file: str | None, report: Callable[[str], None]) -> Tokenizer:
    if saved is not None:  # resume: the run's own tokenizer, which a given one must equal
        tokenizer = load_tokenizer(out_dir / saved["tokenizer"]["file"])
        if spec.path and load_tokenizer(spec.path).to_bytes() != tokenizer.to_bytes():
            raise TextgenError(f"--resume with a changed tokenizer: {spec.path} differs from the run's {saved['tokenizer']['file']}")
        if spec.kind is not None and spec.kind != tokenizer.kind and not spec.path:
            raise TextgenError(f"--resume with a changed tokenizer: kind {spec.kind} differs from the run's {tokenizer.kind}")
        if spec.vocab_size and spec.vocab_size != tokenizer.vocab_size:
            raise TextgenError(f"--resume with a changed tokenizer: vocabulary size {spec.vocab_size} differs from the "
                               f"run's {tokenizer.vocab_size}")
        return tokenizer
    if spec.path:
        tokenizer = load_tokenizer(spec.path)
        report(f"tokenizer: {tokenizer.describe()} from {spec.path}")
    else:
        started = time.perf_counter()
        tokenizer = train_tokenizer(training_stories(corpus, valid_file, train.valid_fraction, train.seed), kind=spec.kind or "sentencepiece",
                                    vocab_size=spec.vocab_size, model_type=spec.model_type, seed=train.seed,
                                    on_note=lambda text: report(f"note: {text}"))
        report(f"tokenizer: trained {tokenizer.describe()} in {time.perf_counter() - started:.1f}s")
    return tokenizer


def resolve_model_config(vocab_size: int, overrides: dict, saved: dict | None, train_config: TrainConfig | None = None,
                         report: Callable[[str], None] = lambda line: None) -> ModelConfig:
    """A new run's config from the given settings (a size the user left out comes from the time
    budget, see config.default_hidden_size), or on resume the run's own, refusing shape changes."""
    if saved is None:
        overrides = dict(overrides)
        if "hidden_size" not in overrides:
            budget = train_config.max_time if train_config is not None and time_bounded(train_config) else None
            overrides["hidden_size"] = default_hidden_size(budget)
            report(f"model size: {describe_size_rule(budget)}")
        overrides.setdefault("embed_dim", min(256, overrides["hidden_size"]))
        return ModelConfig(vocab_size=vocab_size, **overrides)
    previous = ModelConfig.from_dict(saved["model"])
    changed = [f"{name} {overrides[name]} (checkpoint: {getattr(previous, name)})" for name in SHAPE_FIELDS
               if name in overrides and overrides[name] != getattr(previous, name)]
    if previous.vocab_size != vocab_size:
        changed.append(f"vocab_size {vocab_size} (checkpoint: {previous.vocab_size})")
    if changed:
        raise TextgenError(f"--resume with a changed model shape: {', '.join(changed)}; train a new run instead")
    return previous.replace(**{k: v for k, v in overrides.items() if k not in SHAPE_FIELDS})


def train(corpus: str, out_dir: str, tokenizer_spec: TokenizerSpec, model_overrides: dict, train_overrides: dict,
          valid_file: str | None = None, cache_dir: str | None = None, resume: bool = False, overwrite: bool = False,
          progress_bar: bool = False, command: list[str] | None = None, primary: bool = True,
          report: Callable[[str], None] = lambda line: None, started: float | None = None) -> RunResult:
    """Train (or resume) a model on `corpus` into the model directory `out_dir`.

    `primary` is False in the extra processes of a distributed run: they wait for and load
    what the first process prepared. Raises TextgenError for every input problem before training.
    `started` (a time.perf_counter() reading; default: now) is when the command began: a time-bounded
    run's --max-time counts from it (textgen.training.budget). `model_overrides` holds the model
    settings given: a new --max-time run plans the dropouts when it holds none of them
    (textgen.training.regularisation).
    """
    started = time.perf_counter() if started is None else started
    with run_folder(out_dir, primary, report) as out:
        return _train(corpus, out, tokenizer_spec, model_overrides, train_overrides, valid_file, cache_dir, resume,
                      overwrite, progress_bar, command, primary, report, started)


@contextlib.contextmanager
def run_folder(out_dir: str, primary: bool = True, report: Callable[[str], None] = lambda line: None):
    """The run's folder, checked, locked against a second run and recovered from an interrupted
    swap or write; when the run fails before its first checkpoint, a folder this run made is removed
    again, and so are the files a new run wrote into a folder that held other things."""
    check_temporary_folder()  # before Lightning's import needs it
    from textgen.training.fit import remove_partial_files

    out = Path(out_dir)
    if str(out_dir).strip() in ("", "."):
        raise TextgenError("--out must name a folder for the model directory, e.g. checkpoints/little")
    if out.exists() and not out.is_dir():
        raise TextgenError(f"output path {out} is a file: give a folder for the model directory")
    fresh = not out.exists() or {path.name for path in out.iterdir()} <= {LOCK_FILE}
    had_run = True  # until known: nothing is removed for a run that may have been there
    try:
        with RunLock(out) if primary else contextlib.nullcontext():
            if primary and (done := recover(out)):
                report(f"note: {out}: {done}")
            if primary:
                had_run = holds_run(out)
                if removed := remove_partial_files(out):  # a killed write's temporary files
                    report(f"note: {out}: removed {len(removed)} unfinished temporary file{'s' if len(removed) > 1 else ''} "
                           "of an interrupted save")
            yield out
    except BaseException:
        if primary and out.is_dir() and not ModelDirectory(out).last_checkpoint.exists():
            if fresh:
                shutil.rmtree(out, ignore_errors=True)  # nothing worth keeping: leave no half-made run behind
            elif not had_run:
                remove_run_files(out)  # the folder held other things: only what this run wrote goes
        raise


def remove_run_files(out: Path) -> None:
    """Delete textgen's own run files in `out` (and its lightning/ folder if that is left empty)."""
    for entry in run_entries(out):
        with contextlib.suppress(OSError):
            entry.unlink()
    with contextlib.suppress(OSError):
        (out / LIGHTNING_DIR).rmdir()


def _train(corpus: str, out: Path, tokenizer_spec: TokenizerSpec, model_overrides: dict, train_overrides: dict,
           valid_file: str | None, cache_dir: str | None, resume: bool, overwrite: bool, progress_bar: bool,
           command: list[str] | None, primary: bool, report: Callable[[str], None], started: float) -> RunResult:
    """train() with the run folder locked (in the first process)."""
    resumed: dict = {}
    if primary:
        check_out_dir(out, resume, overwrite)
        if resume:
            check_run_kind(out)
            resumed = check_checkpoint(ModelDirectory(out).last_checkpoint)
    paths = RunPaths(out, staged=overwrite)  # --overwrite trains beside the old run until its first checkpoint
    if not primary:
        wait_for(paths.current / META_FILE)
    meta_path = (out if resume else paths.current) / META_FILE
    saved = read_run_description(meta_path.parent) if (resume or not primary) and meta_path.exists() else None
    if resume and primary and saved and isinstance(saved.get("model"), dict):
        check_model(ModelDirectory(out).last_checkpoint, resumed, saved["model"])
    base = TrainConfig.from_dict(saved["training"]) if resume and saved and "training" in saved else TrainConfig()
    train_config = base.replace(**train_overrides)
    # the budget earlier invocations spent: their whole commands (textgen.json's "time_spent"), or at least their training
    recorded = saved.get("time_spent") if resume and saved else None
    spent = max(float(resumed.get("train_seconds", 0.0) or 0.0),
                float(recorded) if isinstance(recorded, (int, float)) and not isinstance(recorded, bool) else 0.0)
    if resume and time_bounded(train_config) and spent >= train_config.max_time:
        raise TextgenError(f"the run has already spent {spent:.0f}s, its whole --max-time budget of "
                           f"{train_config.max_time:g}s: give a larger --max-time to train on (the total of the run)")
    cache = Path(cache_dir) if cache_dir else out.parent / ".cache"
    cache_existed = cache.exists()
    try:
        prepare_output(cache / "probe")
    except TextgenError as error:
        raise TextgenError(f"the token cache folder {cache} cannot be used ({error}): give a writable one with --cache-dir") from None
    corpus_fingerprint = fingerprint(corpus)
    if resume and saved:
        check_same_data(saved, corpus_fingerprint, valid_file)
    if valid_file and primary and fingerprint(valid_file) == corpus_fingerprint:
        report("note: --valid is the training corpus itself: validation then measures how well the model remembers "
               "its training text, not how well it writes new stories")
    trainer_check(train_config)  # Lightning's own checks of devices, strategy, accelerator, before any work
    try:
        return _train_with_data(corpus, out, paths, tokenizer_spec, model_overrides, train_config, valid_file, cache, resume,
                                resumed, saved, spent, corpus_fingerprint, progress_bar, command, primary, report, started)
    except BaseException:
        if primary and paths.staging is not None and paths.current == paths.staging:
            shutil.rmtree(paths.staging, ignore_errors=True)  # an --overwrite run that saved nothing: the old run stays
        if primary and not cache_existed and not ModelDirectory(paths.current).last_checkpoint.exists():
            shutil.rmtree(cache, ignore_errors=True)  # a cache made for a run that saved nothing is litter
        raise


def _train_with_data(corpus, out, paths, tokenizer_spec, model_overrides, train_config, valid_file, cache, resume, resumed,
                     saved, spent, corpus_fingerprint, progress_bar, command, primary, report, started) -> RunResult:
    """The rest of a run once its folder and settings are checked: tokenizer, token caches, model, fit."""
    import lightning as L

    from textgen.training.fit import CorpusDataModule, RunLog, fit
    from textgen.training.task import LanguageModelTask

    tokenizer = prepare_tokenizer(tokenizer_spec, corpus, out, saved if (resume or not primary) else None, train_config,
                                  valid_file, report)
    caching = time.perf_counter()
    try:
        if valid_file:
            train_array = cached_tokens(corpus, tokenizer, cache, corpus_fingerprint)
            valid_array = cached_tokens(valid_file, tokenizer, cache)
        elif train_config.valid_fraction > 0:
            train_array, valid_array = cached_splits(corpus, tokenizer, cache, train_config.valid_fraction, train_config.seed,
                                                     corpus_fingerprint)
        else:
            train_array, valid_array = cached_tokens(corpus, tokenizer, cache, corpus_fingerprint), None
    except OSError as error:
        raise TextgenError(f"could not write the token cache in {cache} ({error.strerror}): free space or give another "
                           "folder with --cache-dir") from None
    report(f"data: {train_array.tokens:,} training tokens ({train_array.stories:,} stor{'y' if train_array.stories == 1 else 'ies'})"
           + (f", {valid_array.tokens:,} validation tokens" if valid_array else ", no validation")
           + f", cached in {time.perf_counter() - caching:.1f}s")
    unknown = train_array.unknown_share()
    if unknown > 0.01:
        report(f"note: {100 * unknown:.1f}% of the training tokens are <unk>: the tokenizer does not cover this corpus; "
               "its losses will look better than they are (train a tokenizer on this corpus instead)")
    world = train_config.num_nodes * (train_config.devices if isinstance(train_config.devices, int) else 1)
    check_batch_plan(BatchPlan(train_config.batching, train_config.batch_size, train_config.seq_len, world_size=world),
                     train_array.tokens)
    model_config = resolve_model_config(tokenizer.vocab_size, model_overrides, saved if resume else None, train_config,
                                        report if primary else lambda line: None)
    check_memory(model_config)
    threads, why = choose_threads()  # every input is checked by now: a refusal stays one line
    report(f"threads: {threads} ({why}; OMP_NUM_THREADS sets them)")
    precision, why, step_seconds = choose_precision(train_config, language_model_probe(
        model_config, train_config.batch_size, train_config.seq_len))
    report(f"precision: {precision} ({why}; --precision sets it)")
    if step_seconds and not resume and time_bounded(train_config) and not set(DROPOUTS) & set(model_overrides):
        budget = train_config.max_time - spent - (time.perf_counter() - started)
        epochs = planned_epochs(budget, step_seconds, train_config.batch_size * train_config.seq_len, train_array.tokens)
        model_config, line = regularise(model_config, epochs)
        report(line)
    reached = resumed.get("global_step", 0)
    if resume and train_config.max_steps is not None and train_config.max_steps <= reached:
        raise TextgenError(f"--max-steps {train_config.max_steps} is not beyond the run's step {reached:,}: give a larger "
                           "--max-steps to train on")
    report(f"model: {model_config.summary()}")
    report(f"limit: {describe_limit(train_config, spent)}")
    valid = None
    if valid_array is not None:
        valid = {"path": str(valid_array.path), "tokens": valid_array.tokens, "words": valid_array.words,
                 "bytes": valid_array.bytes, "stories": valid_array.stories, "dtype": valid_array.dtype}
    metadata = {
        "training": train_config.to_dict(),
        "corpus": {"path": str(corpus), "absolute_path": str(Path(corpus).resolve()), "fingerprint": corpus_fingerprint,
                   "valid": valid_file,
                   "train_tokens": train_array.tokens, "valid_tokens": valid_array.tokens if valid_array else 0},
        "command": command or [],
        "textgen_version": _version(),
    }
    if time_bounded(train_config):
        metadata["time_spent"] = round(spent, 1)  # earlier invocations' share of --max-time; this one's is added at its end
    if primary and not resume:  # the words the real-words rule keeps to (textgen.sampling.real_words)
        from textgen.analysis.words import words_record
        from textgen.data.corpus import iter_stories

        metadata["words"] = words_record(iter_stories(corpus))
    # every check passed: only now is a run folder written (beside the old run, with --overwrite)
    if primary and not resume:
        write_bytes(paths.current / tokenizer_file(tokenizer.kind), tokenizer.to_bytes())
        ModelDirectory(paths.current).write_metadata(description(
            {**metadata, "status": "training"}, model_config.to_dict(), tokenizer.kind, tokenizer.vocab_size, {}))
    L.seed_everything(train_config.seed, workers=True, verbose=False)
    task = LanguageModelTask(model_config.to_dict(), train_config.to_dict(), valid)
    task.train_config = train_config.replace(precision=precision)  # what Lightning runs; textgen.json keeps the setting
    metadata["precision"] = precision
    if time_bounded(train_config):  # --max-time bounds the whole command: start-up, training, the last save, the cache
        task.budget = Budget.plan(train_config.max_time - spent, started, cache_search=primary and valid_array is not None,
                                  spent_before=spent)
    if resume and primary:
        check_resumable(ModelDirectory(out).last_checkpoint, resumed, task)  # another model's last.ckpt: one line

    def export(trained: LanguageModelTask, metrics: dict, status: str) -> None:
        with trained.averaged_weights():
            save_model_dir(paths.current, trained.model, tokenizer,
                           {**metadata, "status": status, "metrics": metrics,
                            "saved": datetime.datetime.now().astimezone().isoformat(timespec="seconds")})

    began = time.perf_counter()
    log = RunLog()
    if resume and ModelDirectory(out).metrics_path.exists():
        log.seed(ModelDirectory(out).metrics_path, resumed.get("global_step", 0))  # a checkpoint from before the rows were kept in it
    received = fit(task, CorpusDataModule(train_array, train_config), paths, export, resume, progress_bar, report, log)
    if primary and valid_array is not None and (paths.current / META_FILE).exists():
        received = tune_cache_unless_stopped(paths.current, task, valid_array, received, report,
                                             task.budget.left() if task.budget else None)
    if primary and task.budget is not None and (paths.current / META_FILE).exists():
        # an invocation that ran to its end spent its whole share; one a signal stopped, the time it ran
        used = task.budget.seconds if received is None else time.perf_counter() - started
        ModelDirectory(paths.current).update_metadata(time_spent=round(spent + used, 1))
    steps = task.global_step if task._trainer else 0
    return RunResult(out, model_config, train_config, received, steps, time.perf_counter() - began,
                     dict(task.last_metrics), steps - resumed.get("global_step", 0),
                     wall_seconds=time.perf_counter() - started, budget_seconds=task.budget.seconds if task.budget else None,
                     precision=precision)


def check_memory(config: ModelConfig) -> None:
    """Refuse a model whose weights, gradients and two Adam moments (16 bytes a parameter) would not
    fit in most of this machine's memory, before anything is allocated."""
    import os

    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return
    count = config.parameter_count()
    need = 16 * count
    if need > MAX_TRAINING_MEMORY_SHARE * total:
        size = f"{count:,}" if count < 10**15 else f"about {float(count):.1e}"  # a settings file's 40-digit number
        raise TextgenError(f"a model of {size} parameters needs about {readable_gib(need)} GiB to train, "
                           f"more than this machine's {total / 2**30:,.1f} GiB allow: choose a smaller --hidden-size, "
                           "--embed-dim or --vocab-size")


def readable_gib(size: int) -> str:
    gib = size / 2**30
    return f"{gib:,.1f}" if gib < 10**12 else f"{gib:.1e}"


def tune_cache_unless_stopped(out: Path, task, valid_array, received: int | None,
                              report: Callable[[str], None], seconds: float | None = None) -> int | None:
    """record_cache after training, unless a signal came (returned): one that stopped the run mid-way
    leaves the tuning to the run's end; one that came as it ended skips it, one during it stops it,
    with a note (the model is saved either way, its cache off). `seconds`: what the time budget has left."""
    import signal

    from textgen.signals import Terminated, signal_of

    what = "stopped the choice of the neural cache's settings"
    if received is None:
        try:
            with task.averaged_weights():
                record_cache(out, task.model, valid_array, report, seconds)
            return None
        except (KeyboardInterrupt, Terminated) as stop:
            received = signal_of(stop)
    else:
        try:
            ended = ModelDirectory(out).read_metadata().get("status") == "trained"
        except (OSError, ValueError, TextgenError):
            ended = False
        if not ended:
            return received
        what = "came as training ended: the neural cache's settings were not chosen"
    report(f"note: {signal.Signals(received).name} {what}, so this model's cache is off unless asked for (--cache); the "
           "model itself is saved")
    return received


def record_cache(out: Path, model, valid_array, report: Callable[[str], None], seconds: float | None = None) -> None:
    """Choose the neural cache's settings on the validation text and record them in textgen.json
    (the weights and their hashes are unchanged); inference commands use them by default. `seconds`:
    the time the search may take (a time-bounded run's rest: it searches fewer tokens, or none)."""
    from textgen.model.neural_cache import tune_cache

    started = time.perf_counter()
    settings, record = tune_cache(model, valid_array.load(), streams=min(16, max(1, valid_array.tokens // 512)),
                                  seconds=seconds)
    ModelDirectory(out).update_metadata(cache={"settings": settings.to_dict() if settings else None, "search": record})
    took = time.perf_counter() - started
    if "skipped" in record:
        report(f"note: the neural cache's settings were not chosen: only {record['skipped']}, so its cache is off unless "
               "asked for (--cache); give a larger --max-time to have them chosen")
        return
    limited = (f"; on the first {record['tokens']:,} validation tokens, what the --max-time budget left time for"
               if record.get("limited_by_time") else "")
    if settings is None:
        report(f"cache: the best setting lowers the validation loss by only {100 * record['relative_gain']:.2f}%; "
               f"it stays off ({took:.1f}s{limited})")
    else:
        report(f"{settings.describe()} lowers the validation loss {record['plain_loss']:.4f} -> "
               f"{record['cached_loss']:.4f} ({100 * record['relative_gain']:.1f}%); on by default ({took:.1f}s{limited})")


def describe_limit(config: TrainConfig, spent: float = 0.0) -> str:
    """One line on what ends the run and what the schedule follows."""
    if time_bounded(config):
        left = f", {config.max_time - spent:.0f}s left after earlier invocations" if spent else ""
        return (f"{config.max_time:g}s in all{left}, the whole command (start-up, training, the last save and the "
                f"cache's settings); the learning rate warms up over the first {config.warmup_fraction:.0%} of that time "
                f"and decays to {config.min_lr_ratio:g} x --lr as it runs out")
    limits = [f"{config.max_steps} steps" if config.max_steps else "", f"{config.max_epochs} epochs" if config.max_epochs else "",
              f"{config.max_time:g}s in this invocation" if config.max_time else ""]
    return "whichever comes first of " + ", ".join(limit for limit in limits if limit) if sum(map(bool, limits)) > 1 \
        else next(limit for limit in limits if limit)


def wait_for(path: Path, seconds: float = 600.0) -> None:
    """Extra processes of a distributed run wait until the first one has prepared the run."""
    deadline = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > deadline:
            raise TextgenError(f"waited {seconds:.0f}s for the first process to prepare {path.parent}: is the folder shared?")
        time.sleep(0.5)


def _version() -> str:
    from textgen import __version__

    return __version__
