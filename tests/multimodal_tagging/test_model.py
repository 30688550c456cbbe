"""Attention shapes, padding masks, and the model's input validation."""

import pytest
import torch

from projects.multimodal_tagging.models import MultimodalTagger
from projects.multimodal_tagging.models.encoders import ImageEncoder
from projects.multimodal_tagging.models.fusion import DualChannelCrossAttention
from shared.errors import ConfigError


def test_dual_attention_shapes_and_padding_is_ignored():
    torch.manual_seed(0)
    attn = DualChannelCrossAttention(dim=16, heads=2, dropout=0.0).eval()
    image, text = torch.randn(3, 4, 16), torch.randn(3, 7, 16)
    mask = torch.ones(3, 7, dtype=torch.bool)
    mask[:, 5:] = False
    img_vec, txt_vec = attn(image, text, mask)
    assert img_vec.shape == (3, 16) and txt_vec.shape == (3, 16)
    _, weights = attn.image_to_text(image, text, mask)
    assert weights.shape == (3, 4, 7) and torch.all(weights[..., 5:] == 0)
    _, weights = attn.text_to_image(text, image)
    assert weights.shape == (3, 7, 4)
    text2 = text.clone()
    text2[:, 5:] = 100.0  # padded positions must not change anything
    a, b = attn(image, text2, mask)
    assert torch.allclose(a, img_vec, atol=1e-5) and torch.allclose(b, txt_vec, atol=1e-5)


def test_image_encoder_gives_spatial_tokens():
    enc = ImageEncoder("resnet10t")
    assert enc(torch.randn(2, 3, 64, 64)).shape == (2, 4, enc.dim)


def test_tagger_outputs_and_embedding():
    net = MultimodalTagger(num_tags=5, industry_dim=7, text_dim=8, image_arch="resnet10t", dim=16, heads=2)
    x = (torch.randn(2, 3, 32, 32), torch.randn(2, 6, 8), torch.ones(2, 6, dtype=torch.bool), torch.zeros(2, 7))
    assert net(*x).shape == (2, 5) and net.embed(*x).shape == (2, 16)


def test_inconsistent_model_flags_are_clear_errors():
    with pytest.raises(ConfigError, match="fusion=dual needs both"):
        MultimodalTagger(5, 7, use_text=False)
    with pytest.raises(ConfigError, match="'dual' or 'concat'"):
        MultimodalTagger(5, 7, fusion="sum")
    with pytest.raises(ConfigError, match="not a timm model"):
        ImageEncoder("resnet_does_not_exist")


def test_channels_last_is_the_default_and_changes_no_tag_probability():
    from projects.multimodal_tagging.module import TaggingModule
    from shared.config import compose
    from tests.multimodal_tagging.tiny import TINY

    cfg = compose("multimodal_tagging", TINY)
    assert cfg.module.memory_format == "channels_last"
    fast = TaggingModule(cfg.model, cfg.optim, dataset="synthetic").eval()
    plain = TaggingModule(cfg.model, cfg.optim, dataset="synthetic", memory_format="contiguous").eval()
    plain.load_state_dict(fast.state_dict())
    conv = next(m for m in fast.net.image_encoder.modules() if isinstance(m, torch.nn.Conv2d))
    assert fast.channels_last and conv.weight.is_contiguous(memory_format=torch.channels_last)
    batch = {"image": torch.randn(2, 3, 32, 32), "text_tokens": torch.randn(2, 5, int(cfg.model.text.dim)),
             "text_mask": torch.ones(2, 5, dtype=torch.bool), "industry": torch.zeros(2, fast.schema.industry_dim)}
    torch.testing.assert_close(fast(batch), plain(batch), atol=1e-5, rtol=1e-4)
