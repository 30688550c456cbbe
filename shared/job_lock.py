"""One process per sweep job: a second ``make sweep`` of the same sweep (or a second worker) skips a job that
another process is training, instead of training it into the same folder (two test rows in one
metrics.csv, the last writer's metrics.json).

An advisory ``flock`` on ``<run dir>/.train.lock``: the kernel releases it when the holder exits, however it
exits (kill -9 included), so a crashed job never leaves a stale lock behind."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_NAME = ".train.lock"


@contextmanager
def job_lock(run_dir: Path) -> Iterator[bool]:
    """Yields True while this process holds the job's lock, False when another process holds it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
