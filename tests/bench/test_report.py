"""benchmarks/report.py: the records `make bench` keeps of each step, and the results table written from them into
README.md and BENCHMARKS.md."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import report  # noqa: E402


def peers_output(textgen: float | None, peer: float | None, nanogpt: float | None, corpus: str = "tinystories") -> dict:
    rows = {"textgen (default command)": {"system": "textgen", "bits_per_byte": textgen, "cache": {"bits_per_byte": 0.9}},
            "word_language_model 2x200": ({"system": "word_language_model", "bits_per_byte": peer} if peer is not None
                                          else {"system": "word_language_model", "error": "no epoch finished"}),
            "nanoGPT": ({"system": "nanoGPT", "bits_per_byte": nanogpt} if nanogpt is not None
                        else {"system": "nanoGPT", "skipped": "--nanogpt not given"})}
    entry = {"rows": rows}
    if peer is not None:
        entry["ratio_to_best_peer"] = round(textgen / peer, 3)
    if nanogpt is not None:
        entry["ratio_to_nanogpt"] = round(textgen / nanogpt, 3)
    return {"benchmark": "peers", "corpora": {corpus: entry}}


def record(folder: Path, name: str, output: object, seconds: float = 60.0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps({
        "step": name, "command": "/home/u/.venv/bin/python benchmarks/x.py --peer /home/u/peer --shared /data/c",
        "seconds": seconds, "finished": "2026-12-07T21:00:00Z", "machine": {"cpu": "AMD EPYC 7B13 Processor", "cores": 2},
        "exit_code": 0, "output": output}))


def test_run_keeps_the_output_command_time_and_machine_and_prints_the_json(tmp_path, capsys):
    code = report.main(["run", "--out", str(tmp_path), "--name", "first-story", "--", sys.executable, "-c",
                        "import json; print(json.dumps({'median_seconds': 1.5}))"])
    assert code == 0
    assert json.loads(capsys.readouterr().out) == {"median_seconds": 1.5}
    kept = json.loads((tmp_path / "first-story.json").read_text())
    assert kept["output"] == {"median_seconds": 1.5}
    assert kept["step"] == "first-story" and kept["exit_code"] == 0
    assert kept["command"].endswith("-c 'import json; print(json.dumps({'\"'\"'median_seconds'\"'\"': 1.5}))'")
    assert isinstance(kept["seconds"], float) and 0 <= kept["seconds"] < 60  # a quick child rounds to 0.0
    assert kept["machine"]["cores"] >= 1 and kept["machine"]["cpu"]
    assert [path.name for path in tmp_path.iterdir()] == ["first-story.json"]  # no temporary file left


def test_run_keeps_json_lines_as_a_list_and_the_commands_exit_code(tmp_path):
    code = report.main(["run", "--out", str(tmp_path), "--name", "long-inputs", "--", sys.executable, "-c",
                        "print('{\"case\": 1}'); print('{\"case\": 2}'); raise SystemExit(3)"])
    assert code == 3
    assert json.loads((tmp_path / "long-inputs.json").read_text())["output"] == [{"case": 1}, {"case": 2}]


def test_run_writes_no_record_when_the_step_prints_no_json(tmp_path, capsys):
    code = report.main(["run", "--out", str(tmp_path), "--name", "cast", "--", sys.executable, "-c", "print('not json')"])
    assert code == 2
    assert "step cast printed no JSON" in capsys.readouterr().err
    assert not (tmp_path / "cast.json").exists()


@pytest.mark.parametrize("argv, message", [
    (["run", "--out", "OUT", "--name", "Bad Name", "--", "true"], "--name 'Bad Name': use lower-case letters"),
    (["run", "--out", "OUT", "--name", "cast", "--"], "no command after --"),
    (["run", "--out", "OUT", "--name", "cast", "--", "/no/such/program"], "cannot run '/no/such/program'"),
    (["table", "MISSING"], "does not exist: give the folder `make bench` wrote"),
])
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, capsys, argv, message):
    argv = [str(tmp_path / part) if part in ("OUT", "MISSING") else part for part in argv]
    assert report.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_table_judges_each_target_and_names_machine_date_time_and_a_portable_command(tmp_path):
    runs = tmp_path / "run"
    record(runs, "peers-tinystories-300s", peers_output(1.0, 1.25, 1.5), seconds=1000)  # 0.80 and 0.667: both met
    record(runs, "peers-tinystories-1200s", peers_output(1.0, 1.1, 1.2), seconds=3600)  # 0.909 and 0.833: neither
    table = report.render(report.load_steps(runs, ROOT), full=True)
    lines = table.splitlines()
    assert lines[0].startswith("Written by `benchmarks/report.py` from 2 benchmark steps (2026-12-07; 2-core AMD EPYC 7B13)")
    assert "the steps took 1 h 17 min in all" in lines[0]
    rows = [line for line in lines if line.startswith("| TinyStories")]
    assert [row.split(" | ")[2] for row in rows] == ["", "≤ 0.85 / ≤ 0.75: met / met", "",
                                                      "≤ 0.85 / ≤ 0.75: **not met** / **not met**"]
    assert rows[0].split(" | ")[1] == "**1.000 (0.900 with its cache)** / 1.250 / 1.500"
    assert rows[0].split(" | ")[4:6] == ["2026-12-07", "17 min"]
    assert rows[0].endswith("`.venv/bin/python benchmarks/x.py --peer PEER --shared SHARED` |")
    short = report.render(report.load_steps(runs, ROOT), full=False).splitlines()
    # README's form: the judged rows only (the bits per byte stay in BENCHMARKS.md's), machine and date in one cell
    assert short[2:] == ["| what | result | target | machine, date |", "|---|---|---|---|",
                         "| TinyStories, 300 s: textgen ÷ word_language_model / ÷ nanoGPT | **0.800 ×** / **0.667 ×** | "
                         "≤ 0.85 / ≤ 0.75: met / met | 2-core AMD EPYC 7B13, 2026-12-07 |",
                         "| TinyStories, 1,200 s: textgen ÷ word_language_model / ÷ nanoGPT | **0.909 ×** / **0.833 ×** | "
                         "≤ 0.85 / ≤ 0.75: **not met** / **not met** | 2-core AMD EPYC 7B13, 2026-12-07 |"]


def test_a_peer_that_did_not_run_leaves_its_part_of_the_row_out(tmp_path):
    record(tmp_path, "peers-tinystories-300s", peers_output(1.0, 1.25, None))
    short = report.render(report.load_steps(tmp_path, ROOT), full=False).splitlines()
    assert short[4:] == ["| TinyStories, 300 s: textgen ÷ word_language_model | **0.800 ×** | ≤ 0.85: met | "
                         "2-core AMD EPYC 7B13, 2026-12-07 |"]
    full = report.render(report.load_steps(tmp_path, ROOT), full=True)
    assert "| **1.000 (0.900 with its cache)** / 1.250 / skipped |" in full


def test_folds_are_judged_against_the_best_peer_of_each_fold_on_mean_and_largest(tmp_path):
    output = {"benchmark": "peers", "corpora": {}, "classics_folds": {"ratio_to_nanogpt": {"mean": 0.8, "largest": 0.9}}}
    for fold, (textgen, peer, nanogpt) in enumerate([(1.8, None, 2.0), (1.8, 2.0, 2.4), (1.92, 2.0, 2.1), (1.68, 2.0, 2.1)],
                                                    start=1):
        output["corpora"][f"classics-fold{fold}"] = peers_output(textgen, peer, nanogpt, f"classics-fold{fold}")["corpora"][f"classics-fold{fold}"]
    record(tmp_path, "peers-classics-folds-300s", output)
    table = report.render(report.load_steps(tmp_path, ROOT), full=True)
    folds = next(line for line in table.splitlines() if line.startswith("| classics folds 1-4 (two whole books"))
    # fold 1: only nanoGPT scored (0.9); fold 2: word_language_model is the better peer (0.9); fold 3: 1.92 / 2.0;
    # the mean is within its bound, fold 3 is not
    assert "mean **0.900 ×**, largest 0.960 (0.900 / 0.900 / 0.960 / 0.840)" in folds
    assert "mean ≤ 0.90, none above 0.95: **not met**" in folds
    assert "| the same folds: textgen ÷ nanoGPT | mean 0.800 ×, largest 0.900 |" in table
    assert "| the same folds: textgen ÷ word_language_model | no score: word_language_model left no model on any fold |" in table


def test_a_run_of_some_folds_reports_their_mean_without_judging_it(tmp_path):
    output = {"benchmark": "peers", "corpora": {"classics-fold1": peers_output(1.7, 2.0, 2.1, "classics-fold1")["corpora"]["classics-fold1"]}}
    record(tmp_path, "peers-classics-folds-1200s", output)
    short = report.render(report.load_steps(tmp_path, ROOT), full=False).splitlines()
    # 0.85 would meet both bounds, but one fold of four says nothing of the mean over the folds
    assert short[4:] == ["| classics fold 1 (two whole books held out for test in each), 1,200 s: textgen ÷ the best peer "
                         "| **0.850 ×** | mean ≤ 0.90, none above 0.95 (judged on all 4 folds) | 2-core AMD EPYC 7B13, 2026-12-07 |"]


def test_runs_of_one_measurement_share_a_row(tmp_path):
    classify = {"rows": [{"name": "tfidf-lr", "test": {"macro_f1": 0.5, "mae": 0.5, "examples": 753}},
                         {"name": "lstm-lm", "test": {"macro_f1": 0.55, "mae": 0.4, "examples": 753}}],
                "targets": {"lstm": "lstm-lm"}}
    record(tmp_path, "classify-1", classify)
    record(tmp_path, "classify-2", {**classify, "rows": [classify["rows"][0], {"name": "lstm-lm", "test": {
        "macro_f1": 0.45, "mae": 0.6, "examples": 753}}]})
    lines = report.render(report.load_steps(tmp_path, ROOT), full=False).splitlines()
    rating = [line for line in lines if line.startswith("| review")]
    assert rating == ["| review → rating, 753 test reviews, macro-F1: the LSTM / TF-IDF + logistic regression | "
                      "**0.550** / 0.500 (1.100 ×); **0.450** / 0.500 (0.900 ×) | ≥ 1 × TF-IDF: **not met** | "
                      "2-core AMD EPYC 7B13, 2026-12-07 |"]


def test_a_step_nobody_knows_or_cannot_read_is_an_error_not_a_missing_row(tmp_path):
    record(tmp_path / "a", "mystery", {})
    with pytest.raises(report.ReportError, match="no table rows are known for step 'mystery'"):
        report.render(report.load_steps(tmp_path / "a", ROOT), full=False)
    record(tmp_path / "b", "first-story", {"tokens": 200})
    with pytest.raises(report.ReportError, match="step first-story .KeyError"):
        report.render(report.load_steps(tmp_path / "b", ROOT), full=False)


def test_write_replaces_only_the_block_between_the_markers(tmp_path, capsys):
    record(tmp_path / "run", "peers-tinystories-300s", peers_output(1.0, 1.25, 1.5))
    page = tmp_path / "README.md"
    page.write_text(f"# Title\n\nbefore\n{report.START}\nold table\n{report.END}\nafter\n")
    assert report.main(["table", str(tmp_path / "run"), "--write", str(page)]) == 0
    text = page.read_text()
    assert text.startswith(f"# Title\n\nbefore\n{report.START}\nWritten by")
    assert text.endswith(f" |\n{report.END}\nafter\n")
    assert "old table" not in text and "| machine, date |" in text
    page.write_text("no markers here\n")
    assert report.main(["table", str(tmp_path / "run"), "--write", str(page)]) == 2
    assert "needs one <!-- bench-table:start --> line" in capsys.readouterr().err
    assert page.read_text() == "no markers here\n"


def test_a_manifest_picks_documents_of_a_whole_make_bench_output_and_rows(tmp_path):
    (tmp_path / "bench.out").write_text("make step one\n{\n  \"tokens\": 1\n}\nmake step two\n" + "{\n" + json.dumps(
        peers_output(1.0, 1.25, None))[1:-1] + "\n}\n")
    (tmp_path / "current.json").write_text(json.dumps({"steps": {"peers-tinystories-300s": {
        "file": "bench.out", "document": 1, "machine": "2-core test CPU", "date": "2026-12-01",
        "only": ["TinyStories, 300 s: textgen ÷"]}}}))
    table = report.render(report.load_steps(tmp_path / "current.json", tmp_path), full=False)
    assert table.splitlines()[4:] == ["| TinyStories, 300 s: textgen ÷ word_language_model | **0.800 ×** | ≤ 0.85: met | "
                                      "2-core test CPU, 2026-12-01 |"]  # its bits-per-byte row is in BENCHMARKS.md only
    (tmp_path / "current.json").write_text(json.dumps({"steps": {"x": {"file": "bench.out", "document": 2}}}))
    with pytest.raises(report.ReportError, match="holds 2 JSON documents"):
        report.load_steps(tmp_path / "current.json", tmp_path)


@pytest.mark.parametrize("page, full", [("README.md", False), ("BENCHMARKS.md", True)])
def test_the_committed_tables_are_the_ones_the_manifest_writes(page, full):
    """README.md's and BENCHMARKS.md's tables are written by `make bench-table`, never by hand."""
    text = (ROOT / page).read_text(encoding="utf-8")
    block = text.split(report.START + "\n")[1].split("\n" + report.END)[0]
    assert block == report.render(report.load_steps(ROOT / "benchmarks" / "results" / "current.json", ROOT), full=full)


def test_folds_without_a_peer_still_show_textgens_scores_and_judge_nothing(tmp_path):
    output = {"benchmark": "peers", "corpora": {f"classics-fold{fold}": peers_output(2.0 - fold / 10, None, None)["corpora"]["tinystories"]
                                                for fold in (1, 2)}}
    record(tmp_path, "peers-classics-folds-1200s", output)
    table = report.render(report.load_steps(tmp_path, ROOT), full=False)
    assert ("| classics folds 1-2 (two whole books held out for test in each), 1,200 s: textgen's test bits per byte | "
            "1.900 / 1.800 (no peer left a model to compare with) | mean ≤ 0.90, none above 0.95 |") in table
