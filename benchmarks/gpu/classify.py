"""classification / quality on the GPU: inference images/s at 224 px, batch 64, bf16, for
MSFF-EComNet, ResNet-50 and the ImageNet EfficientNet-Lite0 (classifier and the quality model's
backbone), channels_last (the layout cuDNN runs fastest for CNNs)."""

from __future__ import annotations

from typing import Any

from torch import nn

from benchmarks.gpu.inference import inference_fields
from benchmarks.gpu.scale import Scale
from projects.classification.models.factory import create_model
from projects.quality.models.timm_iqa import TimmIQA
from shared.errors import EcomvisionError

LITE0 = ("tf_efficientnet_lite0", "packaged:efficientnet_lite0")
QUALITY_DEFECTS = 4  # head width only; the backbone is what costs


def with_weights(build: Any, pretrained: str) -> tuple[nn.Module, str]:
    """The model with its ImageNet weights, or (if the weights package is absent) random ones, said so."""
    try:
        return build(pretrained), pretrained
    except (EcomvisionError, ValueError, KeyError) as exc:
        print(f"warning: {pretrained} not loaded ({exc}); timing random weights (same speed)")
        return build(None), "none"


def classify_fields(scale: Scale, peak: float | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    models: dict[str, tuple[nn.Module, str]] = {
        "msff_ecomnet": (create_model("msff_ecomnet", num_classes=15), "none (from scratch: no weights exist)"),
        "resnet50": (create_model("resnet50", num_classes=15), "none"),
        "efficientnet_lite0": with_weights(lambda p: create_model(LITE0[0], num_classes=15, pretrained=p), LITE0[1]),
    }
    quality, quality_weights = with_weights(lambda p: TimmIQA(LITE0[0], QUALITY_DEFECTS, pretrained=p), LITE0[1])
    for name, (net, weights) in models.items():
        out.update(inference_fields(f"classification_infer_{name}", net, scale.cls_size, scale.cls_batch,
                                    scale.infer_batches, peak, channels_last=True))
        out[f"classification_infer_{name}_weights"] = weights
    out.update(inference_fields("quality_infer_timm_iqa_efficientnet_lite0", quality, scale.cls_size,
                                scale.cls_batch, scale.infer_batches, peak, channels_last=True))
    out["quality_infer_timm_iqa_efficientnet_lite0_weights"] = quality_weights
    return out
