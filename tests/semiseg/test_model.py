"""Encoders and DPT head: DINOv2 intermediate features vs timm's own forward, offline weights, shapes."""

import pytest
import torch

from projects.semiseg.encoders import ViTEncoder, build_encoder
from projects.semiseg.model import build_model
from shared.errors import WeightsMismatchError, WeightsNotFoundError

TINY_VIT = {"depth": 4, "embed_dim": 32, "num_heads": 2, "layers": [0, 1, 2, 3], "img_size": 28}


def _tiny_vit(seed: int = 0) -> ViTEncoder:
    torch.manual_seed(seed)
    return ViTEncoder("vit_small_patch14_dinov2", **TINY_VIT).eval()


def test_dinov2_intermediates_match_timms_own_blocks():
    enc = _tiny_vit()
    x = torch.randn(2, 3, 28, 42)
    with torch.no_grad():
        ours = enc(x)
        vit = enc.vit                                             # reference: timm's modules applied by hand
        tokens = vit.norm_pre(vit._pos_embed(vit.patch_embed(x)))
        reference = []
        for block in vit.blocks:
            tokens = block(tokens)
            reference.append(vit.norm(tokens)[:, vit.num_prefix_tokens:])
        last = vit.forward_features(x)[:, vit.num_prefix_tokens:]   # timm's own forward, final block
    assert len(ours) == 4 and ours[0].shape == (2, 32, 2, 3)
    for f, r in zip(ours, reference):
        assert torch.allclose(f.flatten(2).transpose(1, 2), r, atol=1e-5)
    assert torch.allclose(ours[-1].flatten(2).transpose(1, 2), last, atol=1e-5)


def test_missing_weights_fail_naming_the_file(tmp_path):
    missing = tmp_path / "dinov2_vits14_pretrain.pth"
    with pytest.raises(WeightsNotFoundError, match="dinov2_vits14_pretrain.pth"):
        build_encoder("vit_small_patch14_dinov2", pretrained=str(missing), **TINY_VIT)


def test_saved_meta_style_checkpoint_loads_exactly(tmp_path):
    source = _tiny_vit(seed=1)
    state = dict(source.vit.state_dict())
    state["mask_token"] = torch.zeros(1, 32)                     # present in Meta's files, dropped on load
    path = tmp_path / "dinov2_tiny.pth"
    torch.save(state, path)
    loaded = build_encoder("vit_small_patch14_dinov2", pretrained=str(path), **TINY_VIT).eval()
    x = torch.randn(1, 3, 28, 28)
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(source(x), loaded(x)))
    wrong = tmp_path / "wrong.pth"
    torch.save({"head.weight": torch.zeros(2, 2)}, wrong)
    with pytest.raises(WeightsMismatchError, match="missing"):
        build_encoder("vit_small_patch14_dinov2", pretrained=str(wrong), **TINY_VIT)


@pytest.mark.parametrize("cfg, size", [
    ({"arch": "resnet18", "features": 16, "out_channels": [8, 8, 16, 16]}, (32, 48)),
    ({"arch": "vit_small_patch14_dinov2", "features": 16, "out_channels": [8, 8, 16, 16],
      "encoder_kwargs": TINY_VIT}, (28, 56)),
])
def test_segmentation_model_output_matches_input_size(cfg, size):
    model = build_model(cfg, num_classes=5)
    x = torch.randn(2, 3, *size)
    assert model(x).shape == (2, 5, *size)
    assert model(torch.randn(4, 3, *size), comp_drop=True, generator=torch.Generator().manual_seed(0)).shape == (
        4, 5, *size)
