"""README blocks: each table lives between its own pair of markers, and only that text is replaced, so
a table without runs (or without markers) leaves the README as it is."""

from __future__ import annotations

from pathlib import Path

from shared.files import write_atomic


def markers(name: str) -> tuple[str, str]:
    return f"<!-- report:{name}:start -->", f"<!-- report:{name}:end -->"


def write_block(readme: Path, name: str, block: str) -> bool:
    """Replace the text between table ``name``'s markers by ``block``; False (nothing written) when the
    file or one of its markers is missing."""
    start, end = markers(name)
    if not readme.is_file():
        return False
    text = readme.read_text()
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        return False
    head, rest = text.split(start, 1)
    new = head + start + "\n" + block.strip("\n") + "\n" + end + rest.split(end, 1)[1]
    if new != text:
        write_atomic(readme, lambda f: f.write(new))
    return True
