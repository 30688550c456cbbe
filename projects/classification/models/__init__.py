"""Classifiers by name: ``create_model(name, num_classes, pretrained=None)`` for ours and any timm model
(ours are timm entry points too: ``timm.create_model("msff_ecomnet")`` after importing this package)."""

from projects.classification.models.factory import create_model

__all__ = ["create_model"]
