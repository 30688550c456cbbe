"""Model registry: ``create_model(name, num_classes, pretrained=None)`` for ours and any timm model."""

from projects.classification.models.factory import MODELS, create_model

__all__ = ["MODELS", "create_model"]
