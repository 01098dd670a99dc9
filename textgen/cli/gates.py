"""textgen gates."""

from __future__ import annotations

import click

from textgen.cli.common import check_plot, print_json


@click.command("gates")
@click.argument("model_dir", metavar="MODEL")
@click.argument("text")
@click.option("--layer", type=int, default=1, show_default=True, help="Which layer to show (1 = the one that reads the words).")
@click.option("--units", "top_units", type=click.IntRange(1, 100), default=3, show_default=True,
              help="How many most-changed memory units to list per word.")
@click.option("--plot", "plot_path", default=None, metavar="FILE.png", help="Draw heatmaps (words x units) of the memory and each gate as a PNG.")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"words": [{"word", "gates", "memory_change", "top_units"}], "saturation", "gate_names", ...}.')
def gates_command(model_dir: str, text: str, layer: int, top_units: int, plot_path: str | None, as_json: bool) -> None:
    """Show what each gate did while MODEL read TEXT, word by word.

    Per word: the mean forget gate, ignore factor (input gate) and use gate (output gate)
    over the layer's units, and the units whose long-term memory (LTM, cell state) changed
    most. A saturation summary gives each gate's share of values under 0.1 (shut) and over
    0.9 (open). GRU models show their update and reset gates and their STM (hidden state).
    TEXT may have up to 5,000 tokens (a few thousand words); a --plot shows its first 60 words.

    Example: textgen gates checkpoints/little "Doug saw Jane. Jane saw" --plot gates.png
    """
    import textgen
    from textgen.analysis.gates import gate_report
    from textgen.tokenizer.base import check_text

    check_text(text, "TEXT")
    check_plot(plot_path)
    loaded = textgen.load(model_dir)
    report = gate_report(loaded.model, loaded.tokenizer, text, layer, top_units)
    if plot_path:
        from textgen.analysis.plots import plot_gates

        plot_gates(report, plot_path)
    if as_json:
        print_json({"model": model_dir, **report.to_dict(), **({"plot": plot_path} if plot_path else {})})
        return
    print_gate_report(report)
    if plot_path:
        click.echo(f"plot -> {plot_path}")


def print_gate_report(report) -> None:
    """The gates' table of a gates.GateReport: per word the mean of each gate (both vocabularies)
    and the memory units that changed most, then each gate's saturation."""
    from textgen.analysis.gates import gate_title

    names = list(report.gate_names)
    memory = "LTM" if report.memory == "ltm" else "STM"
    averaged = "gates are means over the word's tokens and all units" if names else "a plain RNN has no gates"
    click.echo(f"{report.cell} layer {report.layer} of {report.layers}, {report.units} units; {averaged}; {memory} = {'long' if memory == 'LTM' else 'short'}-term memory "
               f"({'cell' if memory == 'LTM' else 'hidden'} state)")
    width = max([4, *(len(w.word) for w in report.words)]) + 2
    width = min(width, 24)
    header = "".join(f"{name:>9}" for name in names)
    standard = "".join(f"{'(' + report.gate_names[name] + ')':>9}" for name in names)
    click.echo(f"{'word':<{width}}{header}   {memory} units that changed most (before -> after)")
    if any(report.gate_names[name] != name for name in names):
        click.echo(f"{'':<{width}}{standard}")
    for word in report.words:
        label = word.word if len(word.word) < width - 1 else word.word[: width - 2] + "…"
        changes = ", ".join(f"u{u.unit} {u.before:+.2f}->{u.after:+.2f}" for u in word.top_units)
        click.echo(f"{label:<{width}}" + "".join(f"{word.gates[name]:>9.3f}" for name in names) + f"   {changes}")
    if names:
        click.echo(f"\nsaturation over {report.tokens} tokens x {report.units} units "
                   "(share of values < 0.1 | > 0.9; Karpathy et al. 2015):")
        for name in names:
            share = report.saturation[name]
            click.echo(f"  {gate_title(name, report.gate_names[name]):<30}{100 * share['below_0.1']:6.1f}% | "
                       f"{100 * share['above_0.9']:5.1f}%")
    else:
        click.echo("\na plain RNN has no gates: only its STM (hidden state) is shown")
