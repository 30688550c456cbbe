"""Helpers for ``make predict`` and ``make audit``: the input folder, the images streamed one at a time,
output names that cannot collide (their files are written with :mod:`shared.files`, atomically).

Streaming: :func:`stream_images` decodes one file, hands the full-size array to ``prepare`` (which
resizes it to the model's input, or does the whole per-image work) and drops it before the next file
is read, so memory stays flat for any folder size (a 24-MP photo is ~70 MB decoded).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Generic, TypeVar

import numpy as np

from shared.checkpoints import folder_message
from shared.datasets.io import list_inputs, read_image
from shared.errors import ConfigError, DataError
from shared.run_folder import drop_empty_run

T = TypeVar("T")


@dataclass
class Item(Generic[T]):
    """One input file: what ``prepare`` made of its decoded image, or why it could not be read."""

    path: Path
    value: T | None = None
    error: str = ""


MAX_LISTED = 20  # files named one per line; the rest are counted


def require_input_folder(cfg) -> list[Path]:
    """The image files of INPUT; every other file in it is printed with the reason it is not read."""
    if not cfg.get("input"):
        raise ConfigError("predict needs a folder of images: pass INPUT=folder/ (or input=...)")
    images, others = list_inputs(cfg.input)
    report_not_read(others)
    return images


def report_not_read(others: list[tuple[Path, str]]) -> None:
    if not others:
        return
    print(f"{len(others)} file(s) in INPUT are not read:")
    for path, reason in others[:MAX_LISTED]:
        print(f"  not read: {path}: {reason}")
    if len(others) > MAX_LISTED:
        print(f"  ... and {len(others) - MAX_LISTED} more")


def require_checkpoint(cfg) -> Path:
    ckpt = cfg.get("ckpt_path")
    if not ckpt:
        raise ConfigError("predict needs a trained checkpoint: pass CKPT=path/to/file.ckpt (or ckpt_path=...)")
    if Path(ckpt).is_dir():
        raise ConfigError(folder_message(Path(ckpt)))
    if not Path(ckpt).is_file():
        raise ConfigError(f"checkpoint not found: {ckpt}")
    return Path(ckpt)


def output_file(cfg, name: str) -> Path:
    """Where a one-file result goes: ``OUT=`` itself, or ``name`` inside it when OUT is a folder (one
    that exists, or written with a trailing slash); without OUT, ``name`` in the run folder."""
    out = cfg.get("output")
    if not out:
        return Path(cfg.paths.output_dir) / name
    return Path(out) / name if Path(out).is_dir() or str(out).endswith(("/", os.sep)) else Path(out)


def output_folder(cfg, default: str | None = None) -> Path:
    """The folder for a many-file result: ``OUT=`` (ConfigError if it is a file), else the run folder
    (or its ``default`` subfolder)."""
    if cfg.get("output"):
        out = Path(cfg.output)
        if out.exists() and not out.is_dir():
            raise ConfigError(f"OUT={out} is a file; this task writes several files: pass a folder")
        return out
    run_dir = Path(cfg.paths.output_dir)
    return run_dir / default if default else run_dir


def stream_images(paths: Iterable[Path], prepare: Callable[[Path, np.ndarray], T]) -> Iterator[Item[T]]:
    """``Item(path, prepare(path, image))`` per readable file, ``Item(path, error=reason)`` per
    unreadable one (never raises for a bad file). Only one full-size image is alive at a time: keep
    what ``prepare`` returns small (model-size tensors, a row of results)."""
    for path in paths:
        try:
            image = read_image(path)
        except DataError as exc:
            yield Item(path, error=str(exc))
            continue
        value = prepare(path, image)
        del image  # before the consumer asks for the next file
        yield Item(path, value)


def batches(items: Iterable[Item[T]], size: int) -> Iterator[list[Item[T]]]:
    """Consecutive lists of ``size`` items (the last one shorter), readable and unreadable alike."""
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def output_name(path: Path, root: Path, suffix: str) -> Path:
    """``root/sub/a.jpg`` -> ``sub/a.jpg<suffix>``: the relative path with the source's name and
    extension kept, so that ``a.jpg``, ``a.png`` and ``sub/a.jpg`` never write the same output file."""
    rel = Path(path).relative_to(root)
    return rel.with_name(rel.name + suffix)


def drop_unused_run_folder(cfg) -> None:
    """A predict / audit / select that wrote its results elsewhere (``OUT=``) leaves no run folder that
    holds only Hydra's bookkeeping (one more empty folder per call otherwise)."""
    drop_empty_run(Path(cfg.paths.output_dir), Path(cfg.paths.log_dir))
