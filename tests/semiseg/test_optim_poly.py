"""SemiSegModule's optimiser from the common optim group: AdamW over backbone (lr) and head
(lr x lr_multi) groups, PolynomialLR per step equal to UniMatch V2's lr x (1 - i / total) ** 0.9."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from projects.semiseg.module import SemiSegModule
from shared.config import compose

MODEL = {"arch": "resnet18", "features": 16, "out_channels": [8, 8, 16, 16]}
SUPERVISED = {"name": "supervised", "semi": False, "thresholds": [0.95], "weights": [1.0], "mu": 0.0}


class _Trainer(SimpleNamespace):
    pass


def test_two_groups_follow_the_old_poly_lambda_per_step() -> None:
    optim = dict(compose("semiseg", ["model=dinov2_small"]).optim)  # lr 5e-6, lr_multi 40, poly 0.9
    module = SemiSegModule(MODEL, num_classes=4, method=SUPERVISED, optim=optim)
    total = 37
    module.trainer = _Trainer(estimated_stepping_batches=total, world_size=1, accumulate_grad_batches=1,
                              datamodule=None)
    out = module.configure_optimizers()
    opt, sched = out["optimizer"], out["lr_scheduler"]["scheduler"]
    assert isinstance(opt, torch.optim.AdamW) and isinstance(sched, torch.optim.lr_scheduler.PolynomialLR)
    assert out["lr_scheduler"]["interval"] == "step" and opt.defaults["betas"] == (0.9, 0.999)
    for i in range(total + 2):
        factor = max(0.0, 1 - i / total) ** 0.9
        backbone, head = (g["lr"] for g in opt.param_groups)
        assert abs(backbone - 5e-6 * factor) < 1e-9 * 5e-6 and abs(head - 2e-4 * factor) < 1e-9 * 2e-4
        opt.step()
        sched.step()
