"""What our timm entry points share: timm's ``create_model`` passes its own keywords to every entry point;
ours have no published weights, so ``pretrained=True`` is refused (a local file goes through the factory)."""

from __future__ import annotations

from typing import Any

from shared.errors import ConfigError

TIMM_ONLY = ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir")


def model_kwargs(name: str, pretrained: bool, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` without the keywords only timm reads; one line if ``pretrained`` asks for weights."""
    if pretrained:
        raise ConfigError(f"{name} has no published weights: leave pretrained off, or give a local file as "
                          f"model.pretrained=<path> (make train PROJECT=classification)")
    return {k: v for k, v in kwargs.items() if k not in TIMM_ONLY}
