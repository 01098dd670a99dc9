"""Which batching and which optimizer train better? Equal steps, same model and data; prints JSON.

Variants: stream batching (TBPTT, state carried) vs random windows (fresh state), both with
AdamW + warm-up + cosine; and NT-ASGD (SGD, then averaging, as AWD-LSTM) with stream batching.
The validation loss after the same number of steps decides the defaults.

    .venv/bin/python benchmarks/training_choices.py                 # about 6 minutes on 2 cores
    .venv/bin/python benchmarks/training_choices.py --steps 100     # a quick look
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from textgen.training.run import TokenizerSpec, train

VARIANTS = {
    "stream+adamw": {"batching": "stream", "optimizer": "adamw"},
    "windows+adamw": {"batching": "windows", "optimizer": "adamw"},
    "stream+ntasgd": {"batching": "stream", "optimizer": "ntasgd", "lr": 10.0, "grad_clip": 0.25, "weight_decay": 1.2e-6,
                      "warmup_steps": 0},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="corpora/little-stories.txt")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--hidden-size", type=int, default=256)
    parser.add_argument("--embed-dim", type=int, default=128)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for name in args.variants.split(","):
            started = time.perf_counter()
            training = {"max_steps": args.steps, "val_every": max(1, args.steps // 6), "batch_size": 32, "seq_len": 64,
                        "seed": 0, **VARIANTS[name]}
            result = train(args.corpus, str(Path(folder) / name), TokenizerSpec(None, "sentencepiece", 800, "bpe"),
                           {"hidden_size": args.hidden_size, "embed_dim": args.embed_dim, "num_layers": 1},
                           training, cache_dir=str(Path(folder) / "cache"))
            results.append({"variant": name, "valid_loss": round(result.metrics["loss"], 4),
                            "valid_perplexity": round(result.metrics["perplexity"], 3),
                            "bits_per_byte": round(result.metrics["bits_per_byte"], 4),
                            "seconds": round(time.perf_counter() - started, 1), "settings": training})
            print(json.dumps(results[-1]), flush=True, file=__import__("sys").stderr)
    print(json.dumps({"benchmark": "training_choices", "corpus": args.corpus, "steps": args.steps,
                      "model": {"hidden_size": args.hidden_size, "embed_dim": args.embed_dim, "num_layers": 1},
                      "results": results}, indent=2))


if __name__ == "__main__":
    main()
