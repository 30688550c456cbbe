"""Create classifiers by name: our MSFF-EComNet variants from the registry, anything else from timm.

``pretrained`` (a local file or ``hf-hub:<repo>``) is handled here and only here, through
:func:`shared.weights.load_pretrained`; nothing is ever downloaded.
"""

from __future__ import annotations

from functools import partial

import timm
from torch import nn

from projects.classification.models.msff_ecomnet import MSFFEComNet
from shared.errors import ConfigError
from shared.registry import Registry
from shared.weights import load_pretrained

MODELS: Registry = Registry("classification model")
MODELS.register("msff_ecomnet")(partial(MSFFEComNet, use_msp=True, use_iasm=True))
MODELS.register("msff_base")(partial(MSFFEComNet, use_msp=False, use_iasm=False))
MODELS.register("msff_msp")(partial(MSFFEComNet, use_msp=True, use_iasm=False))
MODELS.register("msff_iasm")(partial(MSFFEComNet, use_msp=False, use_iasm=True))


def create_model(name: str, num_classes: int, pretrained: str | None = None, pretrained_partial: bool = False,
                 **kwargs) -> nn.Module:
    if name in MODELS:
        model = MODELS.get(name)(num_classes=num_classes, **kwargs)
    elif timm.is_model(name):
        model = timm.create_model(name, pretrained=False, num_classes=num_classes, **kwargs)
    else:
        raise ConfigError(f"unknown model {name!r}: not one of ours ({', '.join(MODELS.names())}) "
                          f"and not a timm model name")
    if pretrained:  # the classifier is new (this task's classes)
        head = getattr(model, "pretrained_cfg", {}).get("classifier") or "head"
        load_pretrained(model, pretrained, what=name, replace=(head,), allow_partial=pretrained_partial)
    return model
