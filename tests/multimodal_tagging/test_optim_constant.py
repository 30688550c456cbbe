"""The tagging lr follows the progressive stages, so a schedule from the common optim group is refused."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate

from shared.config import compose
from shared.errors import ConfigError


def _module(overrides: list[str]):
    cfg = compose("multimodal_tagging", overrides)
    return instantiate(cfg.module, _recursive_=False)


def test_default_is_adamw_at_the_configured_lr_without_a_scheduler() -> None:
    out = _module([]).configure_optimizers()
    assert isinstance(out, torch.optim.AdamW)
    assert (out.defaults["lr"], out.defaults["weight_decay"]) == (1e-3, 0.05)


@pytest.mark.parametrize("override", ["optim.schedule=cosine", "optim.warmup_steps=10"])
def test_a_schedule_or_warmup_is_a_clear_error(override: str) -> None:
    with pytest.raises(ConfigError, match="optim.schedule must be constant"):
        _module([override]).configure_optimizers()
