"""Every figure textgen draws. matplotlib renders off-screen (Agg) and files are written atomically."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

from textgen.modeldir.atomic import prepare_output, write_bytes
from textgen.errors import TextgenError


def _figure():
    import logging
    import warnings

    # with a HOME that cannot be written, matplotlib warns that it made a temporary config and
    # font cache; it then works, and the warning would only bury textgen's own lines
    logger = logging.getLogger("matplotlib")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*(writable|cache directory|Matplotlib is building).*")
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
    finally:
        logger.setLevel(level)
    return plt


PLOT_FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".pdf": "pdf", ".svg": "svg"}


def plot_format(path: str | os.PathLike) -> str:
    """The image format a file name asks for (PNG when it has no extension)."""
    suffix = Path(path).suffix.lower()
    if not suffix:
        return "png"
    if suffix not in PLOT_FORMATS:
        raise TextgenError(f"{path}: {suffix} is not an image format textgen draws; end the name in .png, .jpg, .pdf or .svg")
    return PLOT_FORMATS[suffix]


def check_plot_path(path: str | os.PathLike) -> None:
    """Refuse a plot path before any work: an unknown image format, or a place that cannot be written."""
    plot_format(path)
    prepare_output(path)


def save_figure(figure, path: str | os.PathLike) -> None:
    """Render a figure in the format its name asks for, then write the bytes atomically."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format=plot_format(path), dpi=120, bbox_inches="tight")
    write_bytes(path, buffer.getvalue())


def plot_memory_span(results: Sequence, symbols: int, path: str | os.PathLike) -> None:
    """Recall accuracy against span k, one line per cell, with the chance level."""
    prepare_output(path)
    plt = _figure()
    figure, axes = plt.subplots(figsize=(7, 4.2))
    for cell in dict.fromkeys(r.cell for r in results):
        points = sorted((r.k, r.accuracy) for r in results if r.cell == cell)
        base, _, variant = cell.partition("+")
        label = {"rnn": "plain RNN", "gru": "GRU", "lstm": "LSTM", "peephole": "peephole LSTM"}.get(base, base)
        if variant == "chrono":
            label += ", chrono init (Tallec & Ollivier 2018)"
        axes.plot([k for k, _ in points], [100 * a for _, a in points], marker="o", label=label)
    axes.axhline(100 / symbols, color="grey", linestyle="--", label=f"chance ({100 / symbols:.1f}%)")
    axes.set_xscale("log", base=2)
    spans = sorted({r.k for r in results})
    axes.set_xticks(spans, [str(k) for k in spans])
    axes.set_xlabel("span k: steps between the key and the question")
    axes.set_ylabel("recall accuracy (%)")
    axes.set_ylim(0, 102)
    axes.set_title("Memory span at an equal parameter budget and equal training steps")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower left")
    save_figure(figure, path)
    plt.close(figure)


def plot_training_curves(metrics_csv: str | os.PathLike, path: str | os.PathLike) -> None:
    """Training loss per step and validation loss per check, from metrics.csv; a classifier's run
    also shows its validation macro-F1 on a second axis."""
    import csv

    with open(metrics_csv, newline="") as file:
        rows = list(csv.DictReader(file))
    train = [(int(r["step"]), float(r["loss"])) for r in rows if r.get("loss")]
    valid = [(int(r["step"]), float(r["val_loss"])) for r in rows if r.get("val_loss")]
    plt = _figure()
    figure, axes = plt.subplots(figsize=(7, 4.2))
    if train:
        axes.plot(*zip(*train), label="training loss", alpha=0.7)
    if valid:
        axes.plot(*zip(*valid), marker="o", label="validation loss")
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("loss (nats per token)")
    axes.set_title("Training curves")
    axes.grid(alpha=0.3)
    handles, names = axes.get_legend_handles_labels()
    f1 = [(int(r["step"]), float(r["val_macro_f1"])) for r in rows if r.get("val_macro_f1")]
    if f1:
        right = axes.twinx()
        right.plot(*zip(*f1), marker="s", color="#2ca02c", label="validation macro-F1")
        right.set_ylabel("macro-F1")
        right.set_ylim(0, 1)
        more_handles, more_names = right.get_legend_handles_labels()
        handles, names = handles + more_handles, names + more_names
    if handles:
        axes.legend(handles, names)
    save_figure(figure, path)
    plt.close(figure)


def plot_next_words(result, path: str | os.PathLike) -> None:
    """Horizontal bars of next-word probabilities, most likely at the top."""
    prepare_output(path)
    plt = _figure()
    words = list(reversed(result.words))
    figure, axes = plt.subplots(figsize=(7, 0.35 * len(words) + 1.4))
    axes.barh([w.word.replace("\n", "↵") for w in words], [100 * w.probability for w in words], color="#4c72b0")
    for index, w in enumerate(words):
        axes.text(100 * w.probability, index, f" {100 * w.probability:.1f}%", va="center", fontsize=8)
    axes.set_xlabel("probability of coming next (%)")
    context = result.context if len(result.context) < 60 else "…" + result.context[-58:]
    axes.set_title(f"After “{context}” ({100 * result.coverage:.1f}% of the mass listed)", fontsize=10)
    axes.set_xlim(0, min(100, 100 * max((w.probability for w in words), default=1) * 1.2 + 1))
    save_figure(figure, path)
    plt.close(figure)


def plot_gates(report, path: str | os.PathLike, max_words: int = 60, max_units: int = 48) -> None:
    """Heatmaps, words down and units across: the memory after each word and each gate's mean over the word.
    Wide layers show the units whose memory varies most over the text (labelled by unit number)."""
    import numpy as np

    from textgen.analysis.gates import gate_title, memory_title

    prepare_output(path)
    plt = _figure()
    maps = report.heatmaps(max_units, max_words)
    words = [word.replace("\n", "↵") for word in maps["words"]]
    units = maps["units"]
    memory = np.array(maps["memory"], dtype=float).reshape(len(words), len(units))
    panels = [(memory_title(report.memory), memory, "RdBu_r", (-1, 1))]
    panels += [(gate_title(name, standard), np.array(maps["gates"][name], dtype=float).reshape(len(words), len(units)),
                "viridis", (0, 1)) for name, standard in report.gate_names.items()]
    figure, axes = plt.subplots(1, len(panels), figsize=(min(30, 2.2 + 0.16 * len(units)) * len(panels) / 2 + 2,
                                                           0.28 * len(words) + 2.2), squeeze=False)
    limit = float(max(1e-6, np.abs(memory).max())) if memory.size else 1.0
    for axis, (title, data, colours, (low, high)) in zip(axes[0], panels):
        if colours == "RdBu_r":
            low, high = -limit, limit
        image = axis.imshow(data, aspect="auto", cmap=colours, vmin=low, vmax=high, interpolation="nearest")
        axis.set_title(title, fontsize=10)
        axis.set_yticks(range(len(words)), words, fontsize=8)
        step = max(1, len(units) // 12)
        axis.set_xticks(range(0, len(units), step), [str(u) for u in units[::step]], fontsize=7)
        axis.set_xlabel("unit")
        figure.colorbar(image, ax=axis, fraction=0.046, pad=0.02)
    shown = f"{len(units)} of {report.units} units (most varied)" if len(units) < report.units else f"{report.units} units"
    more = f", first {max_words} of {len(report.words)} words" if len(report.words) > max_words else ""
    figure.suptitle(f"{report.cell} layer {report.layer} of {report.layers}: {shown}{more}", fontsize=11, y=1.0)
    figure.tight_layout(rect=(0, 0, 1, 0.96))
    save_figure(figure, path)
    plt.close(figure)


def plot_doug(result, path: str | os.PathLike) -> None:
    """The Doug experiment (a DougResult): self-object rates with the 1/3 line, the chosen LTM units across <s>, subject, verb, and their forget gates."""
    prepare_output(path)
    plt = _figure()
    names, verb, units = result.settings.names, result.settings.verb, result.trace["units"]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    figure, (rates, memory, gates) = plt.subplots(1, 3, figsize=(15, 4.4), gridspec_kw={"width_ratios": [2, 4, 3]})
    models = [result.memoryless, result.lstm]
    rates.bar([f"memoryless\n{100 * m.self_object_rate:.1f}%" if m is result.memoryless else f"LSTM\n{100 * m.self_object_rate:.1f}%"
               for m in models], [100 * m.self_object_rate for m in models], color=["tab:grey", "tab:blue"])
    rates.axhline(100 / len(names), color="tab:red", linestyle="--", label=f"1/{len(names)}: a blind guess")
    rates.set_ylabel(f"self-object sentences (% of {result.settings.sentences})")
    rates.set_ylim(0, max(50, 100 * max(m.self_object_rate for m in models) + 8))
    rates.set_title('"Doug saw Doug." and the like')
    rates.legend(loc="upper right")
    # one group of three steps per unit, side by side; colour = subject
    for unit_index, unit in enumerate(units):
        steps = [4 * unit_index + step for step in range(3)]
        for name_index, name in enumerate(names):
            values = [unit["ltm_at_start"], unit["ltm_after_subject"][name], unit["ltm_after_verb"][name]]
            memory.plot(steps, values, color=colors[name_index % len(colors)], marker="o",
                        label=f"<s> {name} {verb}" if unit_index == 0 else None)
        memory.text(steps[1], 1.02, f"unit {unit['unit']}", ha="center", transform=memory.get_xaxis_transform())
    memory.set_xticks([4 * u + step for u in range(len(units)) for step in range(3)], ["<s>", "subject", verb] * len(units),
                      fontsize=8)
    memory.axhline(0, color="grey", linewidth=0.6)
    memory.set_ylabel("LTM (cell state) after each step")
    memory.set_title("LSTM memory units that tell the subjects apart", pad=18)
    memory.legend(fontsize=8)
    memory.grid(alpha=0.3)
    width = 0.8 / len(names)
    for name_index, name in enumerate(names):
        gates.bar([index + name_index * width for index in range(len(units))], [unit["forget_at_verb"][name] for unit in units],
                  width=width, color=colors[name_index % len(colors)], label=f"after {name}")
    gates.set_xticks([index + width * (len(names) - 1) / 2 for index in range(len(units))], [f"unit {u['unit']}" for u in units])
    gates.set_ylim(0, 1.05)
    gates.set_ylabel(f'forget gate at "{verb}" (1 = keep the LTM)')
    gates.set_title(f'Forget gate at "{verb}" on these units')
    gates.legend(fontsize=8, loc="lower right")
    save_figure(figure, path)
    plt.close(figure)


def plot_confusion(metrics: dict, labels: Sequence[str], path: str | os.PathLike, title: str = "") -> None:
    """The confusion matrix (rows: true class, columns: predicted), each row's share shaded and each
    cell's count written, with the per-class recall on the right."""
    import numpy as np

    plt = _figure()
    matrix = np.asarray(metrics["confusion"], dtype=float)
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = 1.6 + 0.6 * len(labels)
    figure, axes = plt.subplots(figsize=(size + 1.2, size))
    image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for row in range(len(labels)):
        for column in range(len(labels)):
            axes.text(column, row, f"{int(matrix[row, column])}", ha="center", va="center", fontsize=9,
                      color="white" if shares[row, column] > 0.5 else "black")
    axes.set_xticks(range(len(labels)), labels)
    axes.set_yticks(range(len(labels)), [f"{name}  (recall {100 * item['recall']:.0f}%)"
                                         for name, item in zip(labels, metrics["per_class"])])
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    summary = f"accuracy {100 * metrics['accuracy']:.1f}%, macro-F1 {metrics['macro_f1']:.3f}"
    if "mae" in metrics:
        summary += f", MAE {metrics['mae']:.3f}"
    axes.set_title(f"{title}\n{summary}" if title else summary, fontsize=10)
    figure.colorbar(image, ax=axes, fraction=0.046, label="share of the true class")
    save_figure(figure, path)
    plt.close(figure)


def plot_explanation(explanation, path: str | os.PathLike, per_line: int = 12) -> None:
    """The text's words on boxes coloured by how much each moved the prediction (green raised it,
    red lowered it), in lines of `per_line` words."""
    from matplotlib import colors

    plt = _figure()
    words = explanation.words
    limit = max([abs(word.score) for word in words] + [1e-9])
    norm = colors.TwoSlopeNorm(vmin=-limit, vcenter=0.0, vmax=limit)
    cmap = plt.get_cmap("RdYlGn")
    lines = max(1, -(-len(words) // per_line))
    figure, axes = plt.subplots(figsize=(11, 0.45 * lines + 1.3))
    axes.set_xlim(0, per_line)
    axes.set_ylim(lines, -0.6)
    axes.axis("off")
    for index, word in enumerate(words):
        row, column = divmod(index, per_line)
        axes.text(column + 0.5, row, word.word, ha="center", va="center", fontsize=9,
                  bbox={"boxstyle": "round,pad=0.25", "facecolor": cmap(norm(word.score)), "edgecolor": "none"})
    probability = explanation.probabilities[explanation.label]
    axes.set_title(f"predicted {explanation.label} ({100 * probability:.0f}%); colour: each word's effect on the "
                   f"{explanation.explained} ({explanation.method})", fontsize=10)
    figure.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=axes, orientation="horizontal", fraction=0.08,
                    pad=0.02, label="lowers  <-  effect  ->  raises")
    save_figure(figure, path)
    plt.close(figure)
