"""``make bench PROJECT=semiseg``: training-step cost of supervised / UniMatch V2 / MvpMatch, and loading.

Same model (the run's ``model`` config), batch and crop for every method, one process: each
method's module gets its EMA teacher and, for MvpMatch, a queue filled with ``bench.queue_models``
snapshots. One *step* = ``training_step`` (teacher and history forwards included) + backward +
AdamW step + EMA update, on one real batch from the datamodule. The methods are timed interleaved
(warm-up, then the median of ``repeats`` rounds) so machine noise hits them alike. MvpMatch is timed
twice: K drawn as in training (uniform in 1..Kmax) and the worst case K = Kmax. Every step is
timed on the wall clock (``step_s_*``) and on this process's CPU clock (``step_cpu_s_*``): on a
shared machine the CPU-clock ratios are the ones to trust (run with one torch thread).

Peak RSS per method comes from a child process per method (``ru_maxrss`` only grows, so one process
cannot tell the methods apart): ``python -m projects.semiseg.bench --rss <method> <overrides>``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from shared.bench import device_name, interleaved_wall_and_cpu, peak_rss_mb, write_results
from shared.callbacks.ema_teacher import ema_momentum, ema_update, frozen_copy
from shared.config import compose

METHODS = ("supervised", "unimatch_v2", "mvpmatch")


def bench_overrides(cfg: DictConfig) -> list[str]:
    """The run's model plus the bench's batch/crop, as overrides for composing each method."""
    b = cfg.bench
    widths = ",".join(map(str, cfg.model.out_channels))
    head = [f"model.features={cfg.model.features}", f"model.out_channels=[{widths}]"]
    return [f"model={cfg.model.name}", *head, f"data.crop_size={b.crop_size}", f"data.base_size={b.crop_size}",
            f"data.batch_size={b.batch_size}", f"data.num_classes={cfg.data.num_classes}",
            f"data.num_workers={cfg.data.num_workers}", "logger=none", f"trainer.precision={cfg.trainer.precision}"]


def method_config(method: str, overrides: list[str]) -> DictConfig:
    return compose("semiseg", [f"method={method}", *overrides])


def first_batch(cfg: DictConfig) -> dict[str, Any]:
    datamodule = instantiate(cfg.datamodule, _recursive_=False)
    datamodule.setup("fit")
    batch, *_ = next(iter(datamodule.train_dataloader()))
    return batch


def build_step(cfg: DictConfig, batch: dict[str, Any], kmax_only: bool = False) -> Callable[[], None]:
    """A closure running one full training step of ``cfg``'s method."""
    torch.manual_seed(cfg.seed)
    module = instantiate(cfg.module, _recursive_=False)
    callbacks = cfg.get("callbacks") or {}
    if callbacks.get("ema_teacher"):
        object.__setattr__(module, "teacher", frozen_copy(module.net))
    if callbacks.get("historical_queue"):
        queue = instantiate(callbacks.historical_queue)
        queue.random_count = queue.random_count and not kmax_only
        queue.setup(None, module, "fit")  # type: ignore[arg-type]
        for _ in range(cfg.bench.queue_models):
            queue.push(module.net)
    optimizer = torch.optim.AdamW(module.net.parameters(), lr=1e-4)
    module.train()
    updates = [0]

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss = module.training_step(batch, 0)
        loss.backward()
        optimizer.step()
        if module.teacher is not None:
            ema_update(module.teacher, module.net, ema_momentum(updates[0]))
            updates[0] += 1

    return step


def images_per_step(batch: dict[str, Any]) -> int:
    """Images the loader must deliver per step: labelled + unlabelled (weak/strong views are one image)."""
    return sum(len(part["image"] if "image" in part else part["weak"]) for part in batch.values())


def loader_images_per_second(cfg: DictConfig, batches: int) -> float:
    datamodule = instantiate(cfg.datamodule, _recursive_=False)
    datamodule.setup("fit")
    loader = iter(datamodule.train_dataloader())
    next(loader)  # worker start-up is not throughput
    start, images = time.perf_counter(), 0
    for _ in range(batches):
        try:
            batch, *_ = next(loader)
        except StopIteration:
            break
        images += images_per_step(batch)
    return images / (time.perf_counter() - start)


def child_peak_rss(method: str, overrides: list[str]) -> float:
    """Peak RSS (MB) of a fresh process that runs a few steps of ``method``."""
    cmd = [sys.executable, "-m", "projects.semiseg.bench", "--rss", method, *overrides]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()
    return float(json.loads(out[-1])["peak_rss_mb"])


def run(cfg: DictConfig) -> Path:
    b = cfg.bench
    torch.manual_seed(0)
    overrides = bench_overrides(cfg)
    configs = {m: method_config(m, overrides) for m in METHODS}
    batch = first_batch(configs["mvpmatch"])
    steps = {m: build_step(c, batch) for m, c in configs.items()}
    steps["mvpmatch_kmax"] = build_step(configs["mvpmatch"], batch, kmax_only=True)
    clocks = interleaved_wall_and_cpu(steps, int(b.repeats), int(b.warmup))
    times = {k: v["wall"] for k, v in clocks.items()}
    cpu = {k: v["cpu"] for k, v in clocks.items()}
    n = images_per_step(batch)
    results: dict[str, Any] = {
        "model": cfg.model.name, "batch_size": int(b.batch_size), "crop_size": int(b.crop_size),
        "queue_models": int(b.queue_models), "repeats": int(b.repeats), "precision": str(cfg.trainer.precision),
        "torch_threads": torch.get_num_threads(), "load_avg_1min_at_start": round(os.getloadavg()[0], 2),
        **{f"step_s_{k}": round(v, 4) for k, v in times.items()},
        "ratio_mvpmatch_over_unimatch_v2": round(times["mvpmatch"] / times["unimatch_v2"], 3),
        "ratio_mvpmatch_kmax_over_unimatch_v2": round(times["mvpmatch_kmax"] / times["unimatch_v2"], 3),
        **{f"step_cpu_s_{k}": round(v, 4) for k, v in cpu.items()},
        "cpu_ratio_mvpmatch_over_unimatch_v2": round(cpu["mvpmatch"] / cpu["unimatch_v2"], 3),
        "cpu_ratio_mvpmatch_kmax_over_unimatch_v2": round(cpu["mvpmatch_kmax"] / cpu["unimatch_v2"], 3),
        "images_per_step": n,
        "imgs_per_s_unimatch_v2": round(n / times["unimatch_v2"], 2),
        "imgs_per_s_mvpmatch": round(n / times["mvpmatch"], 2),
    }
    loader = loader_images_per_second(configs["mvpmatch"], int(b.loader_batches))
    results["loader_imgs_per_s"] = round(loader, 2)
    results["loader_over_mvpmatch_consumption"] = round(loader / (n / times["mvpmatch"]), 2)
    results["peak_rss_mb"] = {m: round(child_peak_rss(m, overrides), 1) for m in METHODS}
    results["peak_rss_mb_bench_process"] = round(peak_rss_mb(), 1)
    results["targets"] = {"ratio_mvpmatch_over_unimatch_v2_max": 1.3, "stretch": 1.2,
                          "loader_over_mvpmatch_consumption_min": 2.0}
    return write_results(b.output, results)


def _rss_main(method: str, overrides: list[str]) -> None:
    cfg = method_config(method, overrides)
    step = build_step(cfg, first_batch(cfg))
    for _ in range(3):
        step()
    print(json.dumps({"method": method, "peak_rss_mb": peak_rss_mb(), "device": device_name()}))


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--rss":
        _rss_main(sys.argv[2], sys.argv[3:])
    else:
        print("usage: python -m projects.semiseg.bench --rss <method> [overrides]  (make bench PROJECT=semiseg)")
        sys.exit(2)
