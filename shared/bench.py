"""Benchmark helpers: warm-up + median of repeats, peak RSS, device description, JSON output."""

from __future__ import annotations

import json
import platform
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


def median_seconds(fn: Callable[[], Any], repeats: int = 5, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


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


def interleaved_wall_and_cpu(fns: dict[str, Callable[[], Any]], repeats: int = 5,
                             warmup: int = 2) -> dict[str, dict[str, float]]:
    """Like :func:`interleaved_seconds`, but each call is timed on two clocks at once: wall time
    (``perf_counter``) and this process's CPU time (``process_time``, all threads). On a shared,
    oversubscribed machine the wall medians carry the other jobs' load; the CPU medians do not
    (with one torch thread, CPU time equals the wall time the call would take on a free core)."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, dict[str, list[float]]] = {k: {"wall": [], "cpu": []} for k in fns}
    for _ in range(repeats):
        for key, fn in fns.items():
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            times[key]["cpu"].append(time.process_time() - cpu)
            times[key]["wall"].append(time.perf_counter() - wall)
    return {k: {c: statistics.median(v) for c, v in clocks.items()} for k, clocks in times.items()}


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
