"""DINOv2 position-embedding resampling against a hand-written bicubic reference (NumPy, PyTorch's
coordinate convention: src = (dst + 0.5) / scale - 0.5, cubic convolution a = -0.75, clamped borders)."""

import numpy as np
import pytest
import torch

from projects.semiseg.encoders import ViTEncoder
from projects.semiseg.pos_embed import resample_official, resample_timm


def cubic_weights(t: float, a: float = -0.75) -> np.ndarray:
    def k(x: float) -> float:
        x = abs(x)
        if x <= 1:
            return (a + 2) * x**3 - (a + 3) * x**2 + 1
        return a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a if x < 2 else 0.0
    return np.array([k(t + 1), k(t), k(1 - t), k(2 - t)])


def bicubic_1d(values: np.ndarray, out_len: int, scale: float) -> np.ndarray:
    """Resample axis 0 of ``values`` (n, ...) to ``out_len`` rows."""
    n, out = values.shape[0], []
    for dst in range(out_len):
        src = (dst + 0.5) / scale - 0.5
        base = int(np.floor(src))
        w = cubic_weights(src - base)
        rows = [values[min(max(base + o, 0), n - 1)] for o in (-1, 0, 1, 2)]
        out.append(sum(wi * r for wi, r in zip(w, rows)))
    return np.stack(out)


def official_reference(pos_embed: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    side = int(np.sqrt(pos_embed.shape[0] - 1))
    square = pos_embed[1:].reshape(side, side, -1)
    rows = bicubic_1d(square, grid[0], (grid[0] + 0.1) / side)
    both = bicubic_1d(rows.transpose(1, 0, 2), grid[1], (grid[1] + 0.1) / side).transpose(1, 0, 2)
    return np.concatenate([pos_embed[:1], both.reshape(-1, pos_embed.shape[1])])


@pytest.mark.parametrize("grid", [(7, 7), (16, 16), (27, 27), (11, 8), (40, 40)])
def test_official_resampling_matches_the_hand_written_bicubic(grid):
    torch.manual_seed(0)
    pos = torch.randn(1, 1 + 37 * 37, 6)
    ours = resample_official(pos, grid)[0].numpy()
    assert ours.shape == (1 + grid[0] * grid[1], 6)
    np.testing.assert_allclose(ours, official_reference(pos[0].numpy(), grid), atol=5e-5)  # float32 vs float64


def test_timm_default_differs_from_the_official_resampling_when_downsampling():
    torch.manual_seed(0)
    pos = torch.randn(1, 1 + 37 * 37, 6)
    official, timm = resample_official(pos, (7, 7)), resample_timm(pos, (7, 7))
    assert (official - timm).norm() / official.norm() > 0.05


def test_the_encoder_adds_the_official_embedding_and_can_keep_timms():
    torch.manual_seed(0)
    kwargs = {"depth": 4, "embed_dim": 32, "num_heads": 2, "layers": [0, 1, 2, 3], "img_size": 518}
    official = ViTEncoder("vit_small_patch14_dinov2", **kwargs).eval()
    timm = ViTEncoder("vit_small_patch14_dinov2", pos_embed_resample="timm", **kwargs).eval()
    timm.load_state_dict(official.state_dict())
    x = torch.rand(1, 3, 98, 98)
    patches = official.vit.patch_embed(x)  # (1, 7, 7, C) with dynamic image size
    tokens = official.vit._pos_embed(patches)
    expected = torch.cat([official.vit.cls_token, patches.reshape(1, 49, -1)], 1) + resample_official(
        official.vit.pos_embed, (7, 7))
    torch.testing.assert_close(tokens, expected)
    with torch.no_grad():
        assert not torch.allclose(official(x)[0], timm(x)[0])
    with pytest.raises(ValueError, match="pos_embed_resample"):
        ViTEncoder("vit_small_patch14_dinov2", pos_embed_resample="nearest", **kwargs)


@pytest.mark.parametrize("name", ["dinov2_small", "dinov2_base"])
def test_dinov2_configs_follow_the_official_code_layerscale_one_and_official_resampling(name):
    from projects.semiseg.model import build_model
    from shared.config import compose

    cfg = compose("semiseg", [f"model={name}", "++model.encoder_kwargs.depth=1",
                              "model.encoder_kwargs.layers=[0,0,0,0]"])
    assert cfg.model.encoder_kwargs.pos_embed_resample == "official"
    vit = build_model(dict(cfg.model), 3).encoder.vit
    assert torch.all(vit.blocks[0].ls1.gamma == 1.0) and torch.all(vit.blocks[0].ls2.gamma == 1.0)
    assert vit._pos_embed.__func__.__qualname__.startswith("use_official_resampling")
