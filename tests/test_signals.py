"""What a signal does to a textgen command (textgen/signals.py, the CLI's TextgenGroup): Ctrl-C,
SIGTERM and SIGHUP raise an exception for the whole command, so its cleanup runs, then one line and
130, 143 or 129; an ignored SIGHUP stays ignored; a signal a library swallows is raised again; and a
command started with standard output or error closed says so or carries on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import click
import pytest
from click.testing import CliRunner
from tests.conftest import ONE_THREAD, REPO, textgen_process

from textgen import signals
from textgen.cli.process import TextgenGroup


def test_a_signal_a_library_swallowed_is_raised_again_at_the_next_import(tmp_path, monkeypatch):
    """torch's import of numpy catches every exception from it: a Ctrl-C landing there was lost."""
    (tmp_path / "fresh_module_after_the_swallow.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt), signals.command_signals():
        try:
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):  # the handler raises here
                pass
        except KeyboardInterrupt:  # what the library does
            pass
        import fresh_module_after_the_swallow  # noqa: F401 - the next import raises it again
    assert signal.getsignal(signal.SIGINT) is before


def test_nothing_is_raised_again_while_the_signal_is_on_its_way(tmp_path, monkeypatch):
    """Cleanup that imports a module (in an except, a finally or an __exit__) is not cut short."""
    for name in ("cleanup_in_except", "cleanup_in_finally"):
        (tmp_path / f"{name}.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    done = []
    with pytest.raises(KeyboardInterrupt), signals.command_signals():
        try:
            try:
                os.kill(os.getpid(), signal.SIGINT)
                for _ in range(1000):
                    pass
            except KeyboardInterrupt:
                import cleanup_in_except  # noqa: F401
                done.append("except")
                raise
        finally:
            import cleanup_in_finally  # noqa: F401
            done.append("finally")
    assert done == ["except", "finally"]


@click.group(cls=TextgenGroup)
def toy() -> None:
    """A group with one command that swallows a Ctrl-C, as a library might."""


@toy.command("swallow")
def swallow() -> None:
    try:
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):
            pass
    except KeyboardInterrupt:
        pass
    click.echo("finished anyway")


def test_a_command_that_swallowed_a_ctrl_c_still_ends_with_130():
    before = {signum: signal.getsignal(signum) for signum in signals.STOPPING}
    result = CliRunner().invoke(toy, ["swallow"])
    assert (result.exit_code, result.stderr) == (130, "interrupted\n"), result.output
    assert {signum: signal.getsignal(signum) for signum in signals.STOPPING} == before


STOP_SPLIT = textwrap.dedent("""
    import os, signal, sys
    import textgen.data.corpus
    real, written, sent = textgen.data.corpus.format_stories, [], getattr(signal, sys.argv[1])

    def format_stories(stories):
        written.append(1)
        if len(written) == 40:  # mid-way through the write: the temporary files hold part of each split
            os.kill(os.getpid(), sent)
        return real(stories)

    textgen.data.corpus.format_stories = format_stories
    sys.argv[1:] = sys.argv[2:]
    from textgen.cli import main
    main()
""")


@pytest.mark.parametrize(("sent", "code", "said"), [("SIGTERM", 143, "terminated\n"), ("SIGHUP", 129, "hung up (SIGHUP)\n"),
                                                    ("SIGINT", 130, "interrupted\n")])
def test_sigterm_and_sighup_stop_a_command_with_its_cleanup(tmp_path, sent, code, said):
    """`corpus split` stopped by SIGTERM or SIGHUP left `.train.txt.*.tmp` files (100 MB in the
    review) and no line: now every atomic write removes its temporary file, as for Ctrl-C."""
    out = tmp_path / "split"
    done = subprocess.run([sys.executable, "-c", STOP_SPLIT, sent, "corpus", "split",
                           str(REPO / "corpora" / "little-stories.txt"), "--out", str(out)],
                          cwd=REPO, env=ONE_THREAD, capture_output=True, text=True, timeout=120, preexec_fn=default_signals)
    assert (done.returncode, done.stderr) == (code, said)
    assert list(out.iterdir()) == []  # no split written, no temporary file left


def default_signals() -> None:
    """As at a terminal: a test run started in the background or under nohup passes its children SIGINT
    or SIGHUP ignored, and Python then leaves them ignored."""
    for signum in (signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


def test_a_sighup_ignored_when_the_command_started_stays_ignored(tmp_path):
    """nohup: closing the terminal does not stop the command."""
    out = tmp_path / "split"
    done = subprocess.run([sys.executable, "-c", STOP_SPLIT, "SIGHUP", "corpus", "split",
                           str(REPO / "corpora" / "little-stories.txt"), "--out", str(out)],
                          cwd=REPO, env=ONE_THREAD, capture_output=True, text=True, timeout=120,
                          preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    assert done.returncode == 0, done.stderr
    assert sorted(path.name for path in out.iterdir()) == ["test.txt", "train.txt", "valid.txt"]


# --- closed standard streams -------------------------------------------------------------------

def closed(*numbers: int):
    def close() -> None:
        for number in numbers:
            os.close(number)
    return close


@pytest.mark.parametrize("args", [["next", "{model}", "Once"], ["generate", "{model}", "--max-tokens", "5"],
                                  ["corpus", "stats", str(REPO / "corpora" / "doug-jane-spot.txt")]],
                         ids=["next", "generate", "corpus-stats"])
def test_a_closed_standard_output_is_one_line_and_exit_2(trained, args):
    """`next M Once >&-` printed nothing and exited 0: output nobody can read is a failure, as on a full device."""
    done = subprocess.run(textgen_process(*(arg.format(model=trained) for arg in args)), cwd=REPO, env=ONE_THREAD,
                          stderr=subprocess.PIPE, text=True, timeout=120, preexec_fn=closed(1))
    assert (done.returncode, done.stderr) == (2, "error: cannot write output (standard output is closed)\n")


def test_training_with_standard_error_closed_trains(tmp_path, corpus):
    """`train ... 2>&-` failed with AttributeError 'NoneType' ... isatty and exit 1; and a closed file 2
    could be taken by a file the command opened, so that a library's messages went into it."""
    out = tmp_path / "run"
    done = subprocess.run(textgen_process("train", str(corpus), "--out", str(out), "--tokenizer-kind", "word", "--embed-dim",
                                          "8", "--hidden-size", "16", "--num-layers", "1", "--batch-size", "4", "--seq-len",
                                          "8", "--max-steps", "4", "--val-every", "2", "--cache-dir", str(tmp_path / "cache")),
                          cwd=REPO, env=ONE_THREAD, stdout=subprocess.PIPE, text=True, timeout=120, preexec_fn=closed(2))
    assert done.returncode == 0 and f"model -> {out}" in done.stdout
    import json

    meta = json.loads((out / "textgen.json").read_text())
    assert meta["status"] == "trained"


def test_both_standard_streams_closed_is_exit_2(trained):
    done = subprocess.run(textgen_process("generate", str(trained), "--max-tokens", "5"), cwd=REPO, env=ONE_THREAD,
                          timeout=120, preexec_fn=closed(1, 2))
    assert done.returncode == 2
