"""Benchmark helpers: warm-up + median of repeats, peak RSS (this process, or a CLI run in a child on a
folder of large photos), device description, JSON output."""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image


def interleaved_seconds(fns: dict[str, Callable[[], Any]], repeats: int = 5, warmup: int = 2) -> dict[str, float]:
    """Median seconds per function, timing them in turn each round so that noise is shared fairly."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for key, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def inference_call(model: Any, inputs: Any) -> Callable[[], None]:
    """A no-argument callable for the timers: ``model(inputs)`` in eval mode under inference_mode."""
    model.eval()

    def call() -> None:
        with torch.inference_mode():
            model(inputs)

    return call


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB.

    Linux's ``VmHWM`` first: ``ru_maxrss`` survives ``execve``, so a child started from a large
    parent would report the parent's peak instead of its own.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# Runs ``python -m shared <args>`` in this child and reports the child's own peak (VmHWM) on stderr.
_PEAK_CHILD = """import runpy, sys
from shared.bench import peak_rss_mb
sys.argv = ["shared", *sys.argv[1:]]
try:
    runpy.run_module("shared", run_name="__main__", alter_sys=True)
finally:
    print(f"peak_rss_mb={peak_rss_mb():.1f}", file=sys.stderr)
"""


def write_large_photos(folder: str | Path, count: int, size: tuple[int, int] = (6000, 4000),
                       quality: int = 90) -> list[Path]:
    """``count`` camera-sized JPEGs (``size`` = width, height; 6000x4000 = 24 MP, ~70 MB decoded): one
    synthetic product photo (a noisy gradient and a dark disk), written once and linked ``count`` times."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    w, h = size
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 24, (h, w, 3), dtype=np.uint8)
    photo += (np.arange(w, dtype=np.uint16) * 200 // max(w - 1, 1)).astype(np.uint8)[None, :, None]
    yy, xx = np.ogrid[:h, :w]
    photo[(yy - h // 2) ** 2 + (xx - w // 2) ** 2 <= (min(h, w) // 3) ** 2] //= 4
    first = folder / "photo_0000.jpg"
    Image.fromarray(photo).save(first, quality=quality)
    del photo
    paths = [first]
    for i in range(1, count):
        path = folder / f"photo_{i:04d}.jpg"
        try:
            os.link(first, path)
        except OSError:
            shutil.copyfile(first, path)
        paths.append(path)
    return paths


def child_peak_rss_mb(args: Sequence[str], timeout: float | None = None) -> float:
    """Peak resident memory (MB) of ``python -m shared <args>`` run in a child process.

    The child reads its own ``VmHWM`` just before it exits: the parent's ``ru_maxrss`` of the child
    would carry this (larger) process's peak across fork + exec."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).resolve().parent.parent),
                                                                      os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", _PEAK_CHILD, *args], capture_output=True, text=True, env=env,
                          timeout=timeout)
    lines = [line for line in done.stderr.splitlines() if line.startswith("peak_rss_mb=")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"python -m shared {' '.join(args)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return float(lines[-1].split("=", 1)[1])


def save_fresh_checkpoint(module: Any, path: str | Path) -> Path:
    """A Lightning checkpoint (weights + hyperparameters, as training writes them) of an untrained
    module, for timing or measuring a predict CLI: its memory and speed do not depend on the weights."""
    import pytorch_lightning as pl

    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False)
    trainer.strategy.connect(module)
    trainer.save_checkpoint(path, weights_only=True)
    return Path(path)


def predict_peak_rss_mb(cli_args: Callable[[Path, Path], Sequence[str]], counts: Sequence[int] = (1, 100),
                        size: Sequence[int] = (6000, 4000), prefix: str = "predict") -> dict[str, float]:
    """Peak RSS (MB) of a folder predict / audit on ``n`` large photos, for each ``n`` in ``counts``:
    ``{"<prefix>_peak_rss_mb_1_photo": ..., "<prefix>_peak_rss_mb_100_photos": ...}``.

    ``cli_args(folder, out)`` gives the ``python -m shared`` arguments that process ``folder`` and write
    into ``out``. Streaming shows as the same peak for 1 and 100 photos (a whole-folder decode added
    ~70 MB per 24-MP photo)."""
    peaks = {}
    with tempfile.TemporaryDirectory(prefix="peak-rss-") as tmp:
        for n in counts:
            folder = Path(tmp) / f"photos_{n}"
            write_large_photos(folder, n, (int(size[0]), int(size[1])))
            peak = child_peak_rss_mb(list(cli_args(folder, Path(tmp) / f"out_{n}")))
            peaks[f"{prefix}_peak_rss_mb_{n}_photo{'' if n == 1 else 's'}"] = round(peak, 1)
            shutil.rmtree(folder)
    return peaks


def device_name() -> str:
    if torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name(0)}"
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"cpu: {cpu}, {torch.get_num_threads()} threads"


def write_results(path: str | Path, results: dict[str, Any]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    results = {"device": device_name(), "torch": torch.__version__,
               "measured_at": time.strftime("%Y-%m-%d %H:%M:%S"), **results}
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return path
