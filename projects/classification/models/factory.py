"""Create classifiers by name through timm: ours (MSFF-EComNet and the ``msff_stage*`` variants) are timm
entry points (``models/msff_ecomnet.py``, ``models/msff_stage.py``), so one ``timm.create_model`` builds any.

``pretrained`` (a local file, ``hf-hub:<repo>`` or ``packaged:<name>``) is handled here and only here,
through :func:`shared.weights.load_pretrained`: a timm classifier gets a new head, a model with a
``backbone`` (``msff_stage*``) gets the weights in its backbone; the input normalisation the weights
expect goes in front (:func:`shared.weights.with_input_of`). Nothing is ever downloaded.
``freeze_backbone``: only the classifier trains (a linear probe); the module keeps the rest in eval mode.
"""

from __future__ import annotations

import timm
from torch import nn

from projects.classification.models import msff_ecomnet, msff_stage  # noqa: F401  (registers our timm entry points)
from shared.errors import ConfigError
from shared.weights import load_pretrained, with_input_of

OURS = "msff_*"   # the names our modules register with timm


def create_model(name: str, num_classes: int, pretrained: str | None = None, pretrained_partial: bool = False,
                 freeze_backbone: bool = False, **kwargs) -> nn.Module:
    if not timm.is_model(name):
        raise ConfigError(f"unknown model {name!r}: not one of ours ({', '.join(timm.list_models(OURS))}) "
                          f"and not a timm model name")
    model = timm.create_model(name, pretrained=False, num_classes=num_classes, **kwargs)
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
