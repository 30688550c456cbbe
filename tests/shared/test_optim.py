"""shared/optim.py: the torch schedules give the lr per step of the hand-written ones they replaced
(LambdaLR warm-up + cosine, LambdaLR poly), and the config keys are checked."""

from __future__ import annotations

import math

import pytest
import torch

from shared.errors import ConfigError
from shared.optim import build_optimizer, build_scheduler, configure


def _lrs(cfg: dict, total: int, steps: int | None = None, groups: int = 1) -> list[list[float]]:
    params = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 2e-3 * (1 + 39 * g)} for g in range(groups)]
    opt = build_optimizer(params, {"lr": 2e-3, "weight_decay": 0.0, **cfg})
    sched = build_scheduler(opt, cfg, total)
    out = []
    for _ in range(steps or total):
        out.append([g["lr"] for g in opt.param_groups])
        opt.step()
        if sched is not None:
            sched.step()
    return out


def _old_warmup_cosine(total: int, warmup_steps: int):
    """The LambdaLR factor of shared/lightning_utils.warmup_cosine before shared/optim.py."""
    total = max(1, total)
    warmup = min(warmup_steps, total - 1)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))
    return factor


@pytest.mark.parametrize("total", [1, 2, 6, 50, 397])
@pytest.mark.parametrize("warmup", [0, 1, 2, 40])
def test_warmup_cosine_matches_the_old_lambda_per_step(total: int, warmup: int) -> None:
    factor = _old_warmup_cosine(total, warmup)
    new = _lrs({"schedule": "cosine", "warmup_steps": warmup}, total)
    assert all(abs(lr[0] - 2e-3 * factor(i)) < 1e-9 * 2e-3 for i, lr in enumerate(new))


def test_warmup_cosine_by_hand() -> None:
    lrs = [lr[0] / 2e-3 for lr in _lrs({"schedule": "cosine", "warmup_steps": 2}, 6)]
    # warm-up (step+1)/2 for steps 0, 1; then 0.5 (1 + cos(pi (s-2)/4)) for s = 2..5
    expected = [0.5, 1.0, 1.0, 0.5 * (1 + math.cos(math.pi / 4)), 0.5, 0.5 * (1 + math.cos(3 * math.pi / 4))]
    assert lrs == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("total", [1, 7, 280, 2000])
@pytest.mark.parametrize("power", [0.9, 1.0, 2.0])
def test_poly_matches_semiseg_lambda_per_step_for_both_groups(total: int, power: float) -> None:
    """semiseg's old LambdaLR: lr x max(0, 1 - i / total) ** power, on the backbone and the x40 head group."""
    new = _lrs({"schedule": "poly", "poly_power": power}, total, steps=total + 3, groups=2)
    for i, (backbone, head) in enumerate(new):
        factor = max(0.0, 1 - min(i, total) / total) ** power
        assert abs(backbone - 2e-3 * factor) < 1e-9 * 2e-3 and abs(head - 80e-3 * factor) < 1e-9 * 80e-3


def test_constant_has_no_scheduler_and_warmup_ramps_then_stays() -> None:
    opt = build_optimizer([torch.nn.Parameter(torch.zeros(1))], {"lr": 1e-3, "weight_decay": 0.0})
    assert build_scheduler(opt, {"schedule": "constant"}, 10) is None
    assert configure([torch.nn.Parameter(torch.zeros(1))], {"lr": 1e-3, "weight_decay": 0.0}, 10).__class__ is \
        torch.optim.AdamW
    lrs = [lr[0] / 2e-3 for lr in _lrs({"schedule": "constant", "warmup_steps": 4}, 10)]
    assert lrs == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0], abs=1e-12)


def test_optimizer_reads_lr_weight_decay_and_betas() -> None:
    opt = build_optimizer([torch.nn.Parameter(torch.zeros(1))],
                          {"name": "adamw", "lr": 3e-4, "weight_decay": 0.05, "betas": [0.8, 0.99]})
    group = opt.param_groups[0]
    assert isinstance(opt, torch.optim.AdamW)
    assert (group["lr"], group["weight_decay"], group["betas"]) == (3e-4, 0.05, (0.8, 0.99))


@pytest.mark.parametrize(("cfg", "key"), [({"name": "sgd"}, "optim.name"), ({"schedule": "step"}, "optim.schedule")])
def test_unknown_optimizer_or_schedule_names_the_key(cfg: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        configure([torch.nn.Parameter(torch.zeros(1))], {"lr": 1e-3, "weight_decay": 0.0, **cfg}, 10)
