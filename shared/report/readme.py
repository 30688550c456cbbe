"""README blocks: each table lives between its own pair of markers, and only that text is replaced, so
a table without runs (or without markers) leaves the README as it is."""

from __future__ import annotations

from pathlib import Path

from shared.files import write_atomic


def markers(name: str) -> tuple[str, str]:
    return f"<!-- report:{name}:start -->", f"<!-- report:{name}:end -->"


def _split(readme: Path, name: str) -> tuple[str, str, str] | None:
    """(text before the start marker, the block, text after the end marker); None when the file or one
    of table ``name``'s markers is missing, doubled or out of order."""
    start, end = markers(name)
    if not Path(readme).is_file():
        return None
    text = Path(readme).read_text()
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        return None
    head, rest = text.split(start, 1)
    block, tail = rest.split(end, 1)
    return head, block, tail


def read_block(readme: Path, name: str) -> str | None:
    """The text between table ``name``'s markers (None: no such block)."""
    parts = _split(readme, name)
    return None if parts is None else parts[1]


def write_block(readme: Path, name: str, block: str) -> bool:
    """Replace the text between table ``name``'s markers by ``block``; False (nothing written) when the
    file or one of its markers is missing."""
    parts = _split(readme, name)
    if parts is None:
        return False
    start, end = markers(name)
    head, current, tail = parts
    new = head + start + "\n" + block.strip("\n") + "\n" + end + tail
    if new != head + start + current + end + tail:
        write_atomic(readme, lambda f: f.write(new))
    return True
