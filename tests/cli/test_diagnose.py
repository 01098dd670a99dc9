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


def test_diagnose_shows_the_story_metrics_beside_the_human_value(tmp_path):
    import json

    from click.testing import CliRunner

    from textgen.cli import cli

    samples, human = tmp_path / "samples.txt", tmp_path / "human.txt"
    samples.write_text('"Come," said Tom. "Look at the gvem!" Tom ran to Sue. The the dog sat.\n')
    human.write_text("Lily saw a dog. The dog ran to Lily and Max.\n")
    result = CliRunner().invoke(cli, ["diagnose", "--text", str(samples), "--baseline", str(human), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    new = ("invented_per_1000_words", "names_per_story", "speech_aware_names_per_story", "seq_rep_4", "distinct_2",
           "distinct_3", "immediate-repeat_per_1000_words")
    # samples: 15 words, 1 invented (gvem); names Tom (twice inside), Sue; the speech-aware one too (Look opens speech)
    assert [data["metrics"][key] for key in new] == [1000 / 15, 2.0, 2.0, 0.0, 1.0, 1.0, 1000 / 15]
    # the human story: 11 words, none invented; Lily (inside once, and opening), Max
    assert [data["baseline"][key] for key in new] == [0.0, 2.0, 2.0, 0.0, 1.0, 1.0, 0.0]
    assert data["invented_words"] == {"checked_against": ["pyspellchecker's English word list"], "training_text": False,
                                      "count": 1, "words": 15, "examples": [{"word": "gvem", "count": 1}]}
    text = CliRunner().invoke(cli, ["diagnose", "--text", str(samples), "--baseline", str(human)]).stdout
    lines = {line.split()[0]: line.split()[1:] for line in text.splitlines() if line.strip()}
    assert lines["invented_per_1000_words"] == ["66.6667", "0.0000"]
    assert lines["speech_aware_names_per_story"] == ["2.0000", "2.0000"]
    assert "invented words: 1 of 15, checked against pyspellchecker's English word list (the model's training text " \
           "is not at hand: the word list alone); commonest: “gvem” 1" in text
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
