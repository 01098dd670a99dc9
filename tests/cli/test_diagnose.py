"""textgen diagnose --text from the command line: JSON and text output, an empty file, standard input."""

from __future__ import annotations


def test_diagnose_text_cli(tmp_path):
    import json

    from click.testing import CliRunner

    from textgen.cli import cli

    path = tmp_path / "samples.txt"
    path.write_text("Doug saw Jane. Jane saw Jane.\n\nTom was happy. He ran. Tom was happy.\n")
    result = CliRunner().invoke(cli, ["diagnose", "--text", str(path), "--json", "--baseline", str(path)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    kinds = [f["kind"] for f in data["findings"]]
    assert kinds == ["self-object", "repeated-sentence"]
    assert {"kind", "start", "end", "text", "sentence", "explanation", "story"} <= data["findings"][0].keys()
    assert data["metrics"] == {k: v for k, v in data["baseline"].items() if k != "drawn_from"} and data["metrics"]["words"] == 14
    text = CliRunner().invoke(cli, ["diagnose", "--text", str(path)])
    assert "1 self-object" in text.stdout and "seq_rep_1" in text.stdout
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    assert CliRunner().invoke(cli, ["diagnose", "--text", str(empty)]).exit_code == 2


def test_diagnose_reads_standard_input():
    from click.testing import CliRunner

    from textgen.cli import cli

    result = CliRunner().invoke(cli, ["diagnose", "--text", "-"], input="Doug saw Doug.\n\nThe the end.\n")
    assert result.exit_code == 0 and "1 self-object, 1 immediate-repeat" in result.stdout
    empty = CliRunner().invoke(cli, ["diagnose", "--text", "-"], input="")
    assert empty.exit_code == 2 and "standard input" in empty.output and "textgen-stdin" not in empty.output
