"""Shared augmentation pipelines keep masks aligned; metric collections give hand-checked values."""

import numpy as np
import pytest
import torch

from shared.augment import build_transforms
from shared.errors import ConfigError
from shared.metrics import classification_metrics, segmentation_metrics


@pytest.mark.parametrize("kind", ["eval", "weak", "strong"])
def test_pipelines_keep_mask_aligned_with_image(kind):
    image = np.zeros((40, 50, 3), np.uint8)
    image[:, 25:] = 255
    mask = np.zeros((40, 50), np.uint8)
    mask[:, 25:] = 3
    out = build_transforms(kind, 32, normalize=False, seed=0)(image=image, mask=mask)
    img, m = out["image"], out["mask"]
    assert img.shape == (3, 32, 32) and m.shape == (32, 32)
    assert set(torch.unique(m).tolist()) <= {0, 3}
    if kind != "strong":  # photometric ops change intensities, not geometry
        assert torch.equal((img[0] > 127), (m == 3))


def test_unknown_kind():
    with pytest.raises(ConfigError, match="unknown augmentation kind 'medium'"):
        build_transforms("medium", 32)


def test_classification_metrics_hand_computed():
    m = classification_metrics(3)
    preds = torch.tensor([0, 0, 1, 2, 2, 2])
    target = torch.tensor([0, 1, 1, 2, 2, 0])
    out = m(torch.nn.functional.one_hot(preds, 3).float(), target)
    assert out["acc"].item() == pytest.approx(4 / 6)
    # precision per class: 1/2, 1/1, 2/3 ; recall: 1/2, 1/2, 2/2
    assert out["precision_macro"].item() == pytest.approx((1 / 2 + 1 + 2 / 3) / 3)
    assert out["recall_macro"].item() == pytest.approx((1 / 2 + 1 / 2 + 1) / 3)


def test_segmentation_metrics_hand_computed():
    m = segmentation_metrics(2, ignore_index=255)
    target = torch.tensor([[[0, 0], [1, 255]]])
    preds = torch.tensor([[[0, 1], [1, 1]]])
    out = m(preds, target)
    # class 0: inter 1, union 2 -> 0.5 ; class 1: inter 1, union 2 -> 0.5 (the ignored pixel is dropped)
    assert out["miou"].item() == pytest.approx(0.5)
    assert out["iou_per_class"].tolist() == pytest.approx([0.5, 0.5])
