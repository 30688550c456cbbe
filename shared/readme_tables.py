"""Results tables live in project READMEs between two markers; aggregators rewrite only that block."""

from __future__ import annotations

from pathlib import Path

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
