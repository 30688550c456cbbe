"""Helpers for ``make predict``: load a folder of images robustly and write results atomically."""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from shared.data.io import list_images, read_image
from shared.errors import ConfigError, DataError


def require_input_folder(cfg) -> list[Path]:
    if not cfg.get("input"):
        raise ConfigError("predict needs a folder of images: pass INPUT=folder/ (or input=...)")
    return list_images(cfg.input)


def require_checkpoint(cfg) -> Path:
    ckpt = cfg.get("ckpt_path")
    if not ckpt:
        raise ConfigError("predict needs a trained checkpoint: pass CKPT=path/to/file.ckpt (or ckpt_path=...)")
    if not Path(ckpt).is_file():
        raise ConfigError(f"checkpoint not found: {ckpt}")
    return Path(ckpt)


def load_images(paths: Iterable[Path]) -> tuple[list[tuple[Path, np.ndarray]], list[tuple[Path, str]]]:
    """Readable images and, separately, the files that failed with their reason (never raises)."""
    ok, failed = [], []
    for path in paths:
        try:
            ok.append((path, read_image(path)))
        except DataError as exc:
            failed.append((path, str(exc)))
    return ok, failed


def write_csv_atomic(path: str | Path, header: list[str], rows: Iterable[list]) -> Path:
    """Write to a temporary file in the same folder, then rename: a crash leaves no half CSV."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    os.replace(tmp, path)
    return path
