"""The names every part of a model directory agrees on: its files and folders, textgen.json's
format, its tasks and the size limits of its small files. Nothing here imports anything, so the
writers (atomic, swap), the readers (schema, store) and the tokenizer all stand on it without a
cycle; the description's reading and writing is textgen.modeldir.layout's."""

from __future__ import annotations

FORMAT = "textgen-model"
FORMAT_VERSION = 1
META_FILE = "textgen.json"
MODEL_FILE = "model.safetensors"
METRICS_FILE = "metrics.csv"
CURVES_FILE = "loss.png"
LIGHTNING_DIR = "lightning"  # Lightning's resume state: never shipped (textgen export leaves it out)
LAST_CHECKPOINT, BEST_CHECKPOINT = "last.ckpt", "best.ckpt"
TOKENIZER_FILES = {"sentencepiece": "tokenizer.model", "word": "tokenizer.json", "char": "tokenizer.json"}
RUN_FILES = (META_FILE, MODEL_FILE, *sorted(set(TOKENIZER_FILES.values())), METRICS_FILE, CURVES_FILE)
SHARED_FILES = (METRICS_FILE, CURVES_FILE)  # what textgen export copies beside the weights
MODEL_DIR_FILES = (META_FILE, MODEL_FILE, *sorted(set(TOKENIZER_FILES.values())))  # what a model directory's write replaces
MAX_META_BYTES = 4 << 20  # textgen.json is a few KiB
MAX_TOKENIZER_BYTES = 256 << 20

LANGUAGE_MODEL = "language model"  # textgen.json's "task"; absent means a language model (directories before classifiers)
CLASSIFIER = "classifier"
TASKS = (LANGUAGE_MODEL, CLASSIFIER)


def tokenizer_file(kind: str) -> str:
    return TOKENIZER_FILES.get(kind, "tokenizer.json")


def task_of(meta: dict) -> str:
    """A model description's task (a directory written before classifiers has none: a language model)."""
    return meta.get("task", LANGUAGE_MODEL)
