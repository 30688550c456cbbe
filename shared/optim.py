"""The optimiser and learning-rate schedule of every project, read from the common ``optim`` group
(configs/common/optim/adamw.yaml; a project's config.yaml sets its values, model and experiment
configs override them): AdamW, then ``schedule`` per optimizer step, all from ``torch.optim.lr_scheduler``:

* ``constant``: the configured lr (after the warm-up, if any);
* ``cosine``: ``CosineAnnealingLR`` from lr to 0 over the steps after the warm-up;
* ``poly``: ``PolynomialLR``, lr x (1 - t / T) ** ``poly_power`` (UniMatch V2, per step);

with ``warmup_steps`` > 0 first a ``LinearLR`` warm-up, factor (t + 1) / warmup_steps at step t,
chained with ``SequentialLR``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch.optim.lr_scheduler import (
    CosineAnnealingLR,
    LinearLR,
    LRScheduler,
    PolynomialLR,
    SequentialLR,
)

from shared.errors import ConfigError

OPTIMIZERS = ("adamw",)
SCHEDULES = ("constant", "cosine", "poly")


def build_optimizer(params: Iterable[Any], cfg: Mapping[str, Any], lr: float | None = None) -> torch.optim.Optimizer:
    """AdamW over ``params`` (tensors or param-group dicts) with ``cfg``'s lr (or ``lr``), weight decay, betas."""
    name = cfg.get("name", "adamw")
    if name not in OPTIMIZERS:
        raise ConfigError(f"optim.name must be one of {', '.join(OPTIMIZERS)}, got {name!r}")
    return torch.optim.AdamW(params, lr=float(cfg["lr"] if lr is None else lr),
                             betas=tuple(float(b) for b in cfg.get("betas", (0.9, 0.999))),
                             weight_decay=float(cfg["weight_decay"]))


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: Mapping[str, Any],
                    total_steps: int | float) -> LRScheduler | None:
    """The per-step schedule of ``cfg.schedule`` over ``total_steps``; None for a constant lr without warm-up."""
    schedule = cfg.get("schedule", "constant")
    if schedule not in SCHEDULES:
        raise ConfigError(f"optim.schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
    total = max(1, int(total_steps))
    warmup = min(int(cfg.get("warmup_steps", 0) or 0), total - 1)
    rest = total - warmup
    main: LRScheduler | None = None
    if schedule == "cosine":
        main = CosineAnnealingLR(optimizer, T_max=rest, eta_min=0.0)
    elif schedule == "poly":
        main = PolynomialLR(optimizer, total_iters=rest, power=float(cfg.get("poly_power", 0.9)))
    if warmup == 0:
        return main
    ramp = LinearLR(optimizer, start_factor=1.0 / warmup, end_factor=1.0, total_iters=max(1, warmup - 1))
    if main is None:
        return ramp  # stays at the end factor 1 after the warm-up
    return SequentialLR(optimizer, [ramp, main], milestones=[warmup])


def optimizers_config(optimizer: torch.optim.Optimizer, scheduler: LRScheduler | None) -> Any:
    """What ``configure_optimizers`` returns: the optimizer, with its scheduler stepped every step if any."""
    if scheduler is None:
        return optimizer
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def configure(params: Iterable[Any], cfg: Mapping[str, Any], total_steps: int | float) -> Any:
    """``build_optimizer`` + ``build_scheduler`` in ``configure_optimizers``'s return format."""
    optimizer = build_optimizer(params, cfg)
    return optimizers_config(optimizer, build_scheduler(optimizer, cfg, total_steps))
