"""Files written atomically (a temporary file in the same folder, then a rename) and readable like any
other file: a crash or a kill leaves the old file or the new one, never half of one, and two processes
writing the same file at once leave one whole copy (last writer wins). ``read_json``: a committed JSON read back,
its absence or damage one DataError naming the file."""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from shared.errors import DataError


def readable_by_others(path: str | Path) -> None:
    """Give a file made by ``tempfile.mkstemp`` (always 0600) the mode of any new file (0666 - umask)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def write_atomic(path: str | Path, write: Callable[[Any], None], newline: str | None = None,
                 binary: bool = False) -> Path:
    """``write(f)`` into a temporary file beside ``path``, then rename it to ``path`` (parents created).

    ``binary=True`` opens the file in ``"wb"`` mode (``torch.save``, ``np.savez``); otherwise text, UTF-8."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with (os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", newline=newline, encoding="utf-8")) as f:
            write(f)
        readable_by_others(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_csv_atomic(path: str | Path, header: list[str], rows: Iterable[list],
                     lineterminator: str = "\r\n") -> Path:
    """A CSV (``header`` then ``rows``) written atomically; ``lineterminator`` as in :mod:`csv`."""

    def write(f) -> None:
        writer = csv.writer(f, lineterminator=lineterminator)
        writer.writerow(header)
        writer.writerows(rows)

    return write_atomic(path, write, newline="")


def read_json(path: str | Path, missing: str, fix: str) -> Any:
    """The JSON in ``path``; a DataError naming the file when it is absent (``missing``, then ``fix``) or damaged."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise DataError(f"{path}: {missing}; {fix}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: damaged ({type(exc).__name__}); {fix}") from None
