"""DINOv2 models accept any image size: inputs are resized to the nearest multiple of the patch size
and the logits come back at the input size (CCP's 160 px evaluation, the paper's 384 px inference)."""

import pytest
import torch

from projects.semiseg.model import build_model, patch_aligned

TINY_VIT_MODEL = {"arch": "vit_small_patch14_dinov2", "features": 8, "out_channels": [8, 8, 8, 8],
                  "encoder_kwargs": {"layers": [0, 1, 2, 3], "img_size": 56, "depth": 4, "embed_dim": 24,
                                     "num_heads": 2}}


@pytest.mark.parametrize(("size", "aligned"), [((160, 107), (154, 112)), ((384, 384), (378, 378)),
                                               ((518, 392), (518, 392)), ((5, 19), (14, 14))])
def test_patch_aligned_picks_the_nearest_multiple_of_14(size, aligned):
    assert tuple(patch_aligned(torch.zeros(1, 3, *size), 14).shape[-2:]) == aligned


def test_cnn_inputs_pass_unchanged():
    x = torch.rand(1, 3, 37, 41)
    assert patch_aligned(x, 1) is x


@pytest.mark.parametrize("size", [(160, 107), (384, 384)])
def test_dinov2_segmenter_runs_at_sizes_that_are_not_multiples_of_14(size):
    model = build_model(TINY_VIT_MODEL, num_classes=3).eval()
    with torch.no_grad():
        logits = model(torch.rand(2, 3, *size))
    assert logits.shape == (2, 3, *size)
    assert torch.isfinite(logits).all()
