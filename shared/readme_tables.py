"""Results tables live in project READMEs between two markers; aggregators rewrite only that block."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from shared.paths import REPO_ROOT

START, END = "<!-- tables:start -->", "<!-- tables:end -->"


def write_between_markers(readme: Path, block: str) -> bool:
    """Replace the text between START and END in ``readme`` by ``block``; False (nothing written) when
    the file or the markers are missing."""
    if not readme.is_file():
        return False
    text = readme.read_text()
    if START not in text or END not in text:
        return False
    head, rest = text.split(START, 1)
    readme.write_text(head + START + "\n" + block + END + rest.split(END, 1)[1])
    return True


def tables_cli(description: str, project: str, render: Callable[[Path], str]) -> None:
    """``python -m projects.<project>.tables [--runs DIR] [--readme FILE]``: render the run folders,
    rewrite the README block, print the tables."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--runs", type=Path, default=REPO_ROOT / "runs" / project / "tables")
    parser.add_argument("--readme", type=Path, default=REPO_ROOT / "projects" / project / "README.md")
    args = parser.parse_args()
    table = render(args.runs)
    write_between_markers(args.readme, table)
    print(table)
