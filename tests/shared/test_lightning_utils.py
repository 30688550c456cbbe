"""The shared warm-up + cosine schedule against hand-computed factors."""

import math

import pytest
import torch

from shared.lightning_utils import warmup_cosine


def test_warmup_then_cosine_factors():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = warmup_cosine(opt, total_steps=6, warmup_steps=2)
    factors = []
    for _ in range(6):
        factors.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    # warm-up (step+1)/2 for steps 0, 1; then 0.5 (1 + cos(pi (s-2)/4)) for s = 2..5
    expected = [0.5, 1.0, 1.0, 0.5 * (1 + math.cos(math.pi / 4)), 0.5, 0.5 * (1 + math.cos(3 * math.pi / 4))]
    assert factors == pytest.approx(expected)
