"""MSFF-EComNet structure: parameter budget, MSP-Conv branches, the IASM residual join."""

import pytest
import torch

from projects.classification.models import create_model
from projects.classification.models.blocks import IASM, MSPConv
from shared.errors import ConfigError
from shared.lightning_utils import count_parameters


def test_fifteen_class_model_has_the_papers_parameter_count():
    model = create_model("msff_ecomnet", 15)
    assert count_parameters(model) == pytest.approx(11.79e6, rel=0.01)
    assert create_model("msff_ecomnet", 15)(torch.randn(2, 3, 64, 64)).shape == (2, 15)


def test_msp_conv_concatenates_three_receptive_fields():
    block = MSPConv(8, 16)
    x = torch.randn(1, 8, 10, 10)
    out = block(x)
    assert out.shape == (1, 16, 10, 10)
    torch.testing.assert_close(out[:, :4], block.branch1x1(x))
    torch.testing.assert_close(out[:, 4:12], block.branch3x3(x))
    torch.testing.assert_close(out[:, 12:], block.branch5x5(x))
    assert block.branch5x5[0][0].kernel_size == (3, 3) and block.branch5x5[1][0].kernel_size == (3, 3)


def test_iasm_is_residual_with_joint_attention():
    iasm = IASM(16)
    torch.nn.init.zeros_(iasm.channel.mlp[2].weight)
    torch.nn.init.zeros_(iasm.channel.mlp[2].bias)  # channel weights sigmoid(0) = 0.5
    torch.nn.init.zeros_(iasm.spatial.conv.weight)
    torch.nn.init.zeros_(iasm.spatial.conv.bias)  # spatial map sigmoid(0) = 0.5
    x = torch.randn(2, 16, 5, 5)
    torch.testing.assert_close(iasm(x), x + 0.25 * x)


def test_ablation_variants_differ_only_in_their_modules():
    names = {n: create_model(n, 15) for n in ("msff_base", "msff_msp", "msff_iasm", "msff_ecomnet")}
    has = {n: ({type(m).__name__ for m in model.modules()}) for n, model in names.items()}
    assert "MSPConv" not in has["msff_base"] and "IASM" not in has["msff_base"]
    assert "MSPConv" in has["msff_msp"] and "IASM" not in has["msff_msp"]
    assert "MSPConv" not in has["msff_iasm"] and "IASM" in has["msff_iasm"]
    assert {"MSPConv", "IASM"} <= has["msff_ecomnet"]


def test_timm_baselines_by_name_and_unknown_name():
    assert create_model("mobilenetv3_large_100", 15)(torch.randn(1, 3, 64, 64)).shape == (1, 15)
    with pytest.raises(ConfigError, match="unknown model 'resnet5'"):
        create_model("resnet5", 15)


def test_pretrained_from_a_checkpoint_the_test_saves(tmp_path):
    src = create_model("msff_base", 10)
    torch.save(src.state_dict(), tmp_path / "msff.pth")
    dst = create_model("msff_base", 15, pretrained=str(tmp_path / "msff.pth"))
    torch.testing.assert_close(dst.stem[0][0].weight, src.stem[0][0].weight)
