"""How `textgen diagnose` prints a DiagnosisReport or a SettingsComparison (text or JSON)."""

from __future__ import annotations

import click

from textgen.cli.common import percent, print_json, shown_word
from textgen.analysis.detectors import KINDS

SHORT_METRICS = (("seq_rep_1", "rep-1"), ("seq_rep_2", "rep-2"), ("seq_rep_3", "rep-3"), ("seq_rep_4", "rep-4"),
                 ("distinct_1", "dist-1"), ("distinct_2", "dist-2"), ("distinct_3", "dist-3"), ("rep_16", "r16"),
                 ("rep_32", "r32"), ("rep_128", "r128"), ("self-object_per_1000_words", "self"),
                 ("immediate-repeat_per_1000_words", "imm"), ("phrase-loop_per_1000_words", "loop"),
                 ("repeated-sentence_per_1000_words", "sent"), ("names_per_story", "names"), ("late_names_per_story", "late"),
                 ("speech_aware_names_per_story", "names2"), ("invented_per_1000_words", "inv"))


def baseline_line(baseline: dict, path: str) -> str:
    counted = f"{baseline['stories']:,} stor{'y' if baseline['stories'] == 1 else 'ies'}"
    return f"baseline: {counted} drawn from the first {baseline['drawn_from']:,} of {path}"


def show_report(report, show_stories: bool, limit: int, as_json: bool) -> None:
    """The findings with their attribution, who made the errors, and the metrics beside the baseline."""
    if as_json:
        print_json(report.to_dict())
        return
    if show_stories and report.generated:
        for index, story in enumerate(report.stories):
            click.echo(f"--- story {index + 1}\n{story}\n")
    counts, metrics, baseline = report.counts, report.metrics, report.baseline
    count, findings = metrics["stories"], report.findings
    plural = "story" if count == 1 else "stories"
    source = f"{count:,} generated {plural}" if report.generated else f"{count:,} {plural}"
    click.echo(f"{source}, {metrics['words']:,} words: " + ", ".join(f"{counts[kind]} {kind}" for kind in KINDS))
    for finding in findings[:limit]:
        where = "" if finding["text"] == finding["sentence"] else f" in “{shown_word(finding['sentence'])}”"
        click.echo(f"  story {finding['story'] + 1}, {finding['kind']}: “{shown_word(finding['text'])}”{where}\n"
                   f"      {finding['explanation']}")
        attribution = finding.get("attribution")
        if attribution:
            rank = f"rank {attribution['rank']}" if attribution["rank"] else f"below its top {attribution['ranked_words']}"
            others = ", ".join(f"“{shown_word(a['word'])}” {percent(a['probability'])}" for a in attribution["alternatives"])
            click.echo(f"      model: “{shown_word(attribution['word'])}” {percent(attribution['probability'])} ({rank}); "
                       f"instead: {others or 'nothing else'}\n      → {attribution['blame']}")
    if len(findings) > limit:
        click.echo(f"  ... {len(findings) - limit} more (--limit, or --json for all)")
    attributed = [f["attribution"] for f in findings if f.get("attribution")]
    if attributed:
        from textgen.analysis.attribution import ADVICE

        blames = {blame: sum(a["blame"] == blame for a in attributed) for blame in ADVICE}
        click.echo("\nwho made the errors: " + ", ".join(f"{count} {blame}" for blame, count in blames.items())
                   + ("" if report.generated else " (the advice is for when such text is sampled from this model)"))
        for blame, count in blames.items():
            if count:
                click.echo(f"  {blame}: {ADVICE[blame]}")
    header = f"\n{'metric':<34}{'text' if not report.generated else 'samples':>10}"
    if baseline:
        header += f"{'baseline':>12}"
    click.echo(header)
    for key, value in metrics.items():
        if key in ("stories", "words"):
            continue
        shown = baseline.get(key) if baseline else None
        click.echo(f"{key:<34}{value:>10.4f}" + (f"{shown:>12.4f}" if isinstance(shown, float) else ""))
    if baseline:
        click.echo(baseline_line(baseline, report.baseline_path))
    if report.invented_words is not None:
        click.echo(invented_line(report.invented_words))


def invented_line(invented: dict) -> str:
    """What invented words were checked against, and the commonest of them."""
    against = " and ".join(invented["checked_against"])
    alone = "" if invented["training_text"] else " (the model's training text is not at hand: the word list alone)"
    examples = ", ".join(f"“{shown_word(e['word'])}” {e['count']}" for e in invented["examples"])
    return f"invented words: {invented['count']:,} of {invented['words']:,}, checked against {against}{alone}" + (
        f"; commonest: {examples}" if examples else "")


def show_comparison(comparison, as_json: bool) -> None:
    """One row per sampling setting, and the human baseline under them."""
    if as_json:
        print_json(comparison.to_dict())
        return
    baseline = comparison.baseline
    click.echo(f"{comparison.samples} stories per setting (seed {comparison.seed}); seq-rep, distinct and rep-l are shares, findings are per 1,000 words")
    # each cell is formatted first, then every column is as wide as its widest cell plus one space, so values
    # of any size (200.000 findings per 1,000 words, a long setting name) never run into their neighbours
    headers = ["setting", *(short for _, short in SHORT_METRICS), "ppl"]
    cells = [[row.name, *(f"{row.metrics[key]:.3f}" for key, _ in SHORT_METRICS), f"{row.perplexity:.2f}"]
             for row in comparison.rows]
    if baseline:
        shown = [baseline.get(key) for key, _ in SHORT_METRICS]
        cells.append(["human baseline", *(f"{value:.3f}" if isinstance(value, (int, float)) else "" for value in shown), ""])
    widths = [max(len(line[column]) for line in [headers, *cells]) for column in range(len(headers))]
    widths = [max(32, widths[0]), *(max(6, width) for width in widths[1:-1]), max(7, widths[-1])]  # the usual table's widths

    def line(values: list[str]) -> str:
        return f"{values[0]:<{widths[0]}}" + "".join(f" {value:>{width}}" for value, width in zip(values[1:], widths[1:]))

    click.echo(line(headers).rstrip())
    for values in cells[:len(comparison.rows)]:
        click.echo(line(values))
    if baseline:
        click.echo(line(cells[-1]).rstrip())
        click.echo(baseline_line(baseline, comparison.baseline_path))
    click.echo("columns: rep-n = seq-rep-n, dist-n = distinct-n, rN = rep-l over the last N words; self, imm, loop, sent = "
               "self-object, immediate-repeat, phrase-loop, repeated-sentence findings per 1,000 words; names, late, "
               "names2 = names per story, those first met after its first third, names counted after opening quotes too; "
               "inv = invented words per 1,000 words; ppl = perplexity per token of the samples under the model (before sampling changed it)")
