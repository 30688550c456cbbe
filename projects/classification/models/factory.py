"""Create classifiers by name: our MSFF-EComNet variants from the registry, anything else from timm.

``pretrained`` (a local file, ``hf-hub:<repo>`` or ``packaged:<name>``) is handled here and only here,
through :func:`shared.weights.load_pretrained`: a timm classifier gets a new head, a model with a
``backbone`` (``msff_stage*``) gets the weights in its backbone; the input normalisation the weights
expect goes in front (:func:`shared.weights.with_input_of`). Nothing is ever downloaded.
``freeze_backbone``: only the classifier trains (a linear probe); the module keeps the rest in eval mode.
"""

from __future__ import annotations

from functools import partial

import timm
from torch import nn

from projects.classification.models.msff_ecomnet import MSFFEComNet
from projects.classification.models.msff_stage import PretrainedMSFF
from shared.errors import ConfigError
from shared.registry import Registry
from shared.weights import load_pretrained, with_input_of

MODELS: Registry = Registry("classification model")
MODELS.register("msff_ecomnet")(partial(MSFFEComNet, use_msp=True, use_iasm=True))
MODELS.register("msff_base")(partial(MSFFEComNet, use_msp=False, use_iasm=False))
MODELS.register("msff_msp")(partial(MSFFEComNet, use_msp=True, use_iasm=False))
MODELS.register("msff_iasm")(partial(MSFFEComNet, use_msp=False, use_iasm=True))
MODELS.register("msff_stage")(partial(PretrainedMSFF, use_msp=True, use_iasm=True))
MODELS.register("msff_stage_plain")(partial(PretrainedMSFF, use_msp=False, use_iasm=False))
MODELS.register("msff_stage_msp")(partial(PretrainedMSFF, use_msp=True, use_iasm=False))
MODELS.register("msff_stage_iasm")(partial(PretrainedMSFF, use_msp=False, use_iasm=True))


def create_model(name: str, num_classes: int, pretrained: str | None = None, pretrained_partial: bool = False,
                 freeze_backbone: bool = False, **kwargs) -> nn.Module:
    if name in MODELS:
        model = MODELS.get(name)(num_classes=num_classes, **kwargs)
    elif timm.is_model(name):
        model = timm.create_model(name, pretrained=False, num_classes=num_classes, **kwargs)
    else:
        raise ConfigError(f"unknown model {name!r}: not one of ours ({', '.join(MODELS.names())}) "
                          f"and not a timm model name")
    if pretrained:
        backbone = getattr(model, "backbone", None)
        if isinstance(backbone, nn.Module):
            load_pretrained(backbone, pretrained, what=f"{name}'s backbone", allow_partial=pretrained_partial)
        else:  # the classifier is new (this task's classes)
            head = getattr(model, "pretrained_cfg", {}).get("classifier") or "head"
            load_pretrained(model, pretrained, what=name, replace=(head,), allow_partial=pretrained_partial)
        model = with_input_of(model, pretrained)
    if freeze_backbone:
        model.requires_grad_(False)
        head = classifier(model)
        head.requires_grad_(True)
        _small_init(head)
    return model


def _small_init(head: nn.Module) -> None:
    """A linear probe's classifier starts near zero (weights N(0, 0.01), bias 0), as linear probes usually
    do: timm's fan-out init (uniform, bound 1/sqrt(classes)) gives large logits on 1,280 non-negative
    features, which a few hundred Adam steps on the head alone do not undo (`make sweep
    PROJECT=classification SWEEP=lr_probe`, lr 1e-3, 6 epochs: final val accuracy 61.4 % with timm's init,
    87.4 % with this one)."""
    for layer in head.modules():
        if isinstance(layer, nn.Linear):
            nn.init.normal_(layer.weight, std=0.01)
            nn.init.zeros_(layer.bias)


def classifier(model: nn.Module) -> nn.Module:
    """The layer a linear probe trains: timm's ``get_classifier()`` (ours and wrappers expose it too)."""
    if not hasattr(model, "get_classifier"):
        raise ConfigError(f"{type(model).__name__} has no get_classifier(): it cannot be trained as a linear probe "
                          f"(model.freeze_backbone=true needs a timm model or msff_stage*)")
    return model.get_classifier()
