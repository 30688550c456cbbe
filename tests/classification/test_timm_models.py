"""Our models are timm entry points, and IASM's channel attention is CBAM's (timm's ChannelAttn)."""

import pytest
import timm
import torch
from timm.layers.cbam import ChannelAttn

import projects.classification.models  # noqa: F401  (registers the entry points)
from projects.classification.models.blocks import ChannelAttention
from shared.errors import ConfigError


def test_timm_create_model_builds_ours_and_refuses_published_weights():
    model = timm.create_model("msff_base", num_classes=3, widths=(8, 16, 16, 16), stem_width=8)
    assert model.eval()(torch.rand(1, 3, 32, 32)).shape == (1, 3)
    assert set(timm.list_models("msff_*")) >= {"msff_ecomnet", "msff_base", "msff_msp", "msff_iasm", "msff_stage"}
    with pytest.raises(ConfigError, match="msff_ecomnet has no published weights"):
        timm.create_model("msff_ecomnet", pretrained=True)


def test_channel_attention_equals_timm_channel_attn_with_the_same_weights():
    torch.manual_seed(0)
    ours = ChannelAttention(32)
    theirs = ChannelAttn(32, rd_channels=8, mlp_bias=True)
    theirs.fc1.load_state_dict(ours.mlp[0].state_dict())
    theirs.fc2.load_state_dict(ours.mlp[2].state_dict())
    x = torch.randn(2, 32, 5, 5)
    torch.testing.assert_close(theirs(x), x * ours(x))
