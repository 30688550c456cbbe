"""``make bench PROJECT=semiseg``: training-step cost of supervised / UniMatch V2 / MvpMatch, and loading.

Same model (the run's ``model`` config), batch and crop for every method, one process. Each method
trains in a real ``pl.Trainer`` with the callbacks its method config names (``shared.callbacks``:
the EMA teacher, for MvpMatch the historical queue, filled with ``bench.queue_models`` snapshots
before timing), so a *step* is exactly what training runs: Lightning's automatic optimisation
(``training_step`` with its teacher and history forwards, backward, AdamW and poly-LR steps, the
module's logging) plus the callbacks' batch hooks (the EMA update), on one real batch from the
datamodule, repeated. A :class:`StepClock` callback, last in the list, times each step from
``on_train_batch_start`` to ``on_train_batch_end``; loading the batch is not in it.

The methods are timed interleaved so machine noise hits them alike: each round runs every method
for two steps (a fresh ``fit`` of the same module and callbacks: the first step re-creates the
optimizer state and is not timed), ``bench.warmup`` rounds untimed, then the median of
``bench.repeats`` rounds. MvpMatch is timed twice: K drawn as in training (uniform in 1..Kmax) and
the worst case K = Kmax. Every step is timed on the wall clock (``step_s_*``) and on this process's
CPU clock (``step_cpu_s_*``): on a shared machine the CPU-clock ratios are the ones to trust (run
with one torch thread).

Peak RSS per method comes from a child process per method (``ru_maxrss`` only grows, so one process
cannot tell the methods apart): ``python -m projects.semiseg.bench --rss <method> <overrides>``.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch.utils.data import DataLoader, Dataset

from shared.bench import device_name, peak_rss_mb, write_results
from shared.callbacks import HistoricalCheckpointQueue
from shared.config import compose

METHODS = ("supervised", "unimatch_v2", "mvpmatch")
METHOD_CALLBACKS = ("ema_teacher", "historical_queue")
STEPS_PER_ROUND = 2          # the first step of each fit is not timed (optimizer state, first-call costs)


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


class SameBatch(Dataset):
    """``length`` times the same (already collated) batch: the timed steps load nothing."""

    def __init__(self, batch: dict[str, Any], length: int) -> None:
        self.batch, self.length = batch, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.batch


class StepClock(pl.Callback):
    """Wall and CPU seconds of every training step, batch start to batch end. Placed after the method's
    callbacks, so their ``on_train_batch_end`` (the EMA update) is inside the measured span."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self._start = (0.0, 0.0)

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        self._start = (time.perf_counter(), time.process_time())

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        self.cpu.append(time.process_time() - self._start[1])
        self.wall.append(time.perf_counter() - self._start[0])


class MethodTrainer:
    """One method's module and its configured callbacks, trained a few steps at a time on one batch."""

    def __init__(self, cfg: DictConfig, batch: dict[str, Any], kmax_only: bool = False) -> None:
        torch.manual_seed(cfg.seed)
        self.cfg, self.batch = cfg, batch
        self.module = instantiate(cfg.module, _recursive_=False)
        self.callbacks = [instantiate(cfg.callbacks[name]) for name in method_callbacks(cfg)]
        for queue in self.callbacks:
            if isinstance(queue, HistoricalCheckpointQueue):
                queue.random_count = queue.random_count and not kmax_only
                for _ in range(int(cfg.bench.queue_models)):   # a full queue: what a long run draws from
                    queue.push(self.module.net)
        self.clock = StepClock()

    def run(self, steps: int) -> None:
        """``steps`` training steps in a fresh Trainer (no validation, no logger, no checkpoints)."""
        with quiet_lightning():
            trainer = pl.Trainer(accelerator=self.cfg.trainer.accelerator, devices=1,
                                 precision=self.cfg.trainer.precision, max_steps=steps, logger=False,
                                 callbacks=[*self.callbacks, self.clock], enable_checkpointing=False,
                                 enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                                 num_sanity_val_steps=0)
            trainer.fit(self.module, train_dataloaders=DataLoader(SameBatch(self.batch, steps), batch_size=None))

    def timed(self) -> dict[str, list[float]]:
        """The last step of each round (see STEPS_PER_ROUND)."""
        return {"wall": self.clock.wall[STEPS_PER_ROUND - 1::STEPS_PER_ROUND],
                "cpu": self.clock.cpu[STEPS_PER_ROUND - 1::STEPS_PER_ROUND]}


def method_callbacks(cfg: DictConfig) -> list[str]:
    """The method's own callbacks that its config sets (configs/semiseg/method/callbacks: the EMA teacher,
    the historical queue); the run's checkpoint / progress / logging callbacks are not part of a step."""
    return [name for name in METHOD_CALLBACKS if (cfg.get("callbacks") or {}).get(name) is not None]


def interleaved_steps(trainers: dict[str, MethodTrainer], repeats: int, warmup: int) -> dict[str, dict[str, float]]:
    """Median wall / CPU seconds per step of each method, the methods taking turns round by round."""
    for _ in range(warmup + repeats):
        for trainer in trainers.values():
            trainer.run(STEPS_PER_ROUND)
    out = {}
    for name, trainer in trainers.items():
        timed = trainer.timed()
        out[name] = {clock: statistics.median(values[warmup:]) for clock, values in timed.items()}
    return out


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
    trainers = {m: MethodTrainer(c, batch) for m, c in configs.items()}
    trainers["mvpmatch_kmax"] = MethodTrainer(configs["mvpmatch"], batch, kmax_only=True)
    clocks = interleaved_steps(trainers, int(b.repeats), int(b.warmup))
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
    results.update(ort_throughput(trainers["mvpmatch"].module, cfg, b))
    results["peak_rss_mb_bench_process"] = round(peak_rss_mb(), 1)
    results["targets"] = {"ratio_mvpmatch_over_unimatch_v2_max": 1.3, "stretch": 1.2,
                          "loader_over_mvpmatch_consumption_min": 2.0}
    return write_results(b.output, results)


def ort_throughput(module: pl.LightningModule, cfg: DictConfig, b: DictConfig) -> dict[str, float]:
    """``ort_images_per_s_segmenter_b1|b<n>`` beside ``eager_images_per_s_segmenter_b1|b<n>``: the segmenter
    as ``make export`` writes it (normalisation inside, ``data.eval_size`` square input) in ONNX Runtime and
    in PyTorch eager (shared/onnx_bench.py)."""
    from shared.export import with_preprocessing
    from shared.inference import InferenceSpec
    from shared.onnx_bench import throughput

    size = int(b.get("ort_size") or cfg.data.eval_size)
    spec = InferenceSpec(project="semiseg", names=tuple(str(i) for i in range(int(cfg.data.num_classes))),
                         size=size, resize="long_side_pad")
    model = with_preprocessing(copy.deepcopy(module.net).eval(), spec)
    return throughput({"segmenter": (model, ["logits"])}, (size, size), int(b.repeats), int(b.warmup),
                      batches=tuple(int(n) for n in b.ort_batches))


@contextmanager
def quiet_lightning() -> Iterator[None]:
    """Lightning's per-fit info lines (devices, ...) and its no-val-loader warning off: the bench fits
    dozens of times, without validation on purpose."""
    loggers = [logging.getLogger(n) for n in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="You defined a `validation_step` but have no")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _rss_main(method: str, overrides: list[str]) -> None:
    cfg = method_config(method, overrides)
    MethodTrainer(cfg, first_batch(cfg)).run(3)
    print(json.dumps({"method": method, "peak_rss_mb": peak_rss_mb(), "device": device_name()}))


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--rss":
        _rss_main(sys.argv[2], sys.argv[3:])
    else:
        print("usage: python -m projects.semiseg.bench --rss <method> [overrides]  (make bench PROJECT=semiseg)")
        sys.exit(2)
