"""A pretrained file that fits only part of the model is an error naming the counts unless asked for
(issue 17); the head a caller replaces and the layers a backbone variant leaves out are not partial loads."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from hydra.errors import ConfigCompositionException
from PIL import Image
from torch import nn

from shared.config import compose
from shared.errors import WeightsMismatchError
from shared.tasks import dispatch
from shared.weights import load_pretrained

CLASSIFICATION = ["debug=smoke", "data.options.image_size=32", "data.image_size=32", "data.batch_size=4",
                  "data.num_workers=0", "logger=csv", "test_after_fit=false"]


def _fifty() -> nn.Sequential:
    """25 linear layers: 50 tensors."""
    return nn.Sequential(*[nn.Linear(3, 3) for _ in range(25)])


def _save(tmp_path, state: dict, name: str = "w.pth"):
    path = tmp_path / name
    torch.save(state, path)
    return path


def test_file_with_20_of_50_tensors_is_an_error_naming_the_counts(tmp_path):
    source = _fifty()
    path = _save(tmp_path, dict(list(source.state_dict().items())[:20]))
    target = _fifty()
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(WeightsMismatchError, match=rf"{path} fits only part of model: 20 of the model's 50 tensors "
                                                   r"match; 30 missing from the file \(10.weight, 10.bias, 11.weight, "
                                                   r"\.\.\. \(27 more\)\); pass model.pretrained_partial=true"):
        load_pretrained(target, path)
    assert all(torch.equal(v, before[k]) for k, v in target.state_dict().items()), "nothing loaded on error"


def test_partial_load_when_asked_loads_exactly_the_matching_tensors(tmp_path):
    source = _fifty()
    path = _save(tmp_path, dict(list(source.state_dict().items())[:20]))
    target = _fifty()
    before = {k: v.clone() for k, v in target.state_dict().items()}
    report = load_pretrained(target, path, allow_partial=True)
    assert len(report["matched"]) == 20 and len(report["missing"]) == 30
    for i, layer in enumerate(target):
        expected = source[i] if i < 10 else None
        if expected is not None:
            assert torch.equal(layer.weight, expected.weight)
        else:
            assert torch.equal(layer.weight, before[f"{i}.weight"])


def test_unexpected_and_reshaped_tensors_are_counted(tmp_path):
    state = dict(_fifty().state_dict())
    state["99.weight"] = torch.zeros(3, 3)                       # not in the model
    state["0.weight"] = torch.zeros(4, 3)                        # another shape
    path = _save(tmp_path, state)
    counts = ("49 of the model's 50 tensors match; 1 not in the model (99.weight); "
              "1 of another shape (0.weight (4, 3) vs (3, 3))")
    with pytest.raises(WeightsMismatchError, match=re.escape(counts)):
        load_pretrained(_fifty(), path)


def test_nothing_matching_fails_even_when_partial_is_allowed(tmp_path):
    path = _save(tmp_path, {"other.weight": torch.zeros(2)})
    with pytest.raises(WeightsMismatchError, match="none of its 1 tensors match"):
        load_pretrained(_fifty(), path, allow_partial=True)


def test_classifier_of_another_class_count_is_replaced_on_purpose(tmp_path):
    full = timm.create_model("resnet18", num_classes=1000)
    path = _save(tmp_path, full.state_dict())
    with pytest.raises(WeightsMismatchError, match=re.escape("2 of another shape (fc.weight (1000, 512) vs (7, 512)")):
        load_pretrained(timm.create_model("resnet18", num_classes=7), path)
    model = timm.create_model("resnet18", num_classes=7)
    fresh_fc = model.fc.weight.clone()
    report = load_pretrained(model, path, replace=("fc",))
    assert report["skipped"] == ["fc.weight", "fc.bias"] and not report["missing"]
    assert torch.equal(model.conv1.weight, full.conv1.weight) and torch.equal(model.fc.weight, fresh_fc)


def test_backbone_variants_take_the_full_file_but_not_another_architecture(tmp_path):
    """num_classes=0 and features_only leave out the classifier (and top layers): not a partial load.
    A resnet34 file into resnet18 fits every resnet18 tensor, yet its extra blocks say it is another net."""
    from projects.semiseg.encoders import build_encoder

    full = timm.create_model("resnet18")
    path = _save(tmp_path, full.state_dict())
    backbone = timm.create_model("resnet18", num_classes=0)
    load_pretrained(backbone, path)
    assert torch.equal(backbone.layer4[1].conv2.weight, full.layer4[1].conv2.weight)
    encoder = build_encoder("resnet18", pretrained=str(path))
    assert torch.equal(encoder.net.layer1[0].conv1.weight, full.layer1[0].conv1.weight)
    r34 = _save(tmp_path, timm.create_model("resnet34").state_dict(), "r34.pth")   # every resnet18 tensor, and more
    extra = "r34.pth is not a weights file of model: 100 of the model's 100 tensors match; 96 not in the model (layer1"
    with pytest.raises(WeightsMismatchError, match=re.escape(extra)):
        load_pretrained(timm.create_model("resnet18", num_classes=0), r34)


@pytest.mark.slow   # builds two timm networks and loads a weights file into each
def test_config_key_asks_for_a_partial_load_and_a_typo_is_caught(tmp_path):
    model = timm.create_model("resnet50", num_classes=15)
    keys = [k for k in model.state_dict() if not k.endswith("num_batches_tracked")]
    path = _save(tmp_path, {k: model.state_dict()[k] for k in keys[:100]})
    overrides = [*CLASSIFICATION, "model=resnet50", f"model.pretrained={path}"]
    cfg = compose("classification", [f"paths.output_dir={tmp_path / 'a'}", f"paths.log_dir={tmp_path}", *overrides])
    partial = rf"{path} fits only part of resnet50: 100 of the model's 267 tensors match; 165 missing from the file "
    with pytest.raises(WeightsMismatchError, match=partial + ".*pretrained_partial=true"):
        dispatch(cfg)
    cfg = compose("classification", [f"paths.output_dir={tmp_path / 'b'}", f"paths.log_dir={tmp_path}", *overrides,
                                     "model.pretrained_partial=true", "trainer.max_epochs=1"])
    dispatch(cfg)                                                # asked for: trains
    assert (tmp_path / "b" / "metrics.json").is_file()
    with pytest.raises(ConfigCompositionException):
        compose("classification", [*overrides, "model.pretrained_partail=true"])


@pytest.mark.parametrize("project, key", [("classification", "model.pretrained_partial"),
                                          ("quality", "model.pretrained_partial"),
                                          ("semiseg", "model.pretrained_partial"),
                                          ("multimodal_tagging", "model.image.pretrained_partial")])
def test_every_project_declares_the_partial_key_off(project, key):
    model = {"quality": ["model=timm_iqa"]}.get(project, [])
    from omegaconf import OmegaConf

    assert OmegaConf.select(compose(project, model), key) is False


def test_predict_does_not_reread_the_pretrained_file(tmp_path):
    """A checkpoint holds every tensor: predict works after the pretrained file it started from is gone."""
    from projects.classification.models import create_model

    path = _save(tmp_path, create_model("msff_base", 4).state_dict(), "start.pth")
    tiny = [*CLASSIFICATION, "model=msff_base", "trainer.max_epochs=1", f"model.pretrained={path}"]
    dispatch(compose("classification", [f"paths.output_dir={tmp_path / 'run'}", f"paths.log_dir={tmp_path}", *tiny]))
    path.unlink()
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(np.full((40, 40, 3), 128, np.uint8)).save(photos / "a.png")
    out = dispatch(compose("classification", [f"paths.output_dir={tmp_path / 'p'}", f"paths.log_dir={tmp_path}",
                                              *tiny, f"ckpt_path={tmp_path / 'run' / 'checkpoints' / 'last.ckpt'}",
                                              f"input={photos}"], task="predict"))
    assert "a.png" in Path(out).read_text()
