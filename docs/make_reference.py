"""Write docs/commands.md from the CLI's own --help texts, so the reference cannot drift from the code.

    python docs/make_reference.py            # rewrite docs/commands.md
    python docs/make_reference.py --check    # exit 1 when docs/commands.md differs from the CLI

tests/cli/test_reference.py regenerates it in memory and compares."""

from __future__ import annotations

import sys
from pathlib import Path

from click.testing import CliRunner

from textgen.cli import cli

REFERENCE = Path(__file__).resolve().parent / "commands.md"
WIDTH = 100


def commands(group=cli, prefix=()):
    """Every command path, the group itself first, in sorted order: (), ("classify",), ("classify", "evaluate"), ..."""
    yield prefix
    for name, command in sorted(getattr(group, "commands", {}).items()):
        yield from commands(command, prefix + (name,))


def reference() -> str:
    parts = ["# Command reference",
             "",
             "Every command's `--help`, as the CLI prints it at a terminal 100 columns wide. This page is "
             "written by `python docs/make_reference.py`; do not edit it by hand. What the commands do, "
             "with examples that run, is in the [task pages](README.md).",
             ""]
    paths = list(commands())
    parts += [f"- [`{' '.join(('textgen',) + path)}`](#{'-'.join(('textgen',) + path)})" for path in paths]
    for path in paths:
        result = CliRunner().invoke(cli, [*path, "--help"], prog_name="textgen", terminal_width=WIDTH)
        if result.exit_code != 0:
            raise SystemExit(f"textgen {' '.join(path)} --help exited with {result.exit_code}:\n{result.output}")
        parts += ["", f"## {' '.join(('textgen',) + path)}", "",
                  "```text", result.output.rstrip("\n"), "```"]
    return "\n".join(parts) + "\n"


def main(argv: list[str]) -> int:
    text = reference()
    if argv == ["--check"]:
        current = REFERENCE.read_text(encoding="utf-8") if REFERENCE.is_file() else ""
        if current != text:
            print(f"{REFERENCE} is out of date: run python docs/make_reference.py", file=sys.stderr)
            return 1
        return 0
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    REFERENCE.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
