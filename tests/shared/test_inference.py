"""shared/inference.py: the spec a checkpoint carries, and how eval / predict apply it to the config."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from shared.errors import CheckpointError, ConfigError
from shared.inference import (
    KEY,
    InferenceSpec,
    apply_spec,
    save_spec,
    settle_class_count,
    spec_from_hparams,
    spec_of,
)


def spec() -> InferenceSpec:
    return spec_from_hparams("classification", ["cat", "dog", "hat"],
                             {"size": 96, "resize": "stretch", "mean": [0.5] * 3, "std": [0.25] * 3, "data": "shop"},
                             model={"name": "efficientnet_lite0"}, extra={"threshold": 0.5})


def test_round_trip_through_a_checkpoint_dict():
    checkpoint: dict = {}
    save_spec(checkpoint, spec())
    assert all(not isinstance(v, tuple) for v in checkpoint[KEY].values())  # plain values for weights-only reads
    assert spec_of(checkpoint) == spec()


def test_missing_or_other_version_is_one_line():
    with pytest.raises(CheckpointError, match="carries no inference spec"):
        spec_of({"state_dict": {}}, "old.ckpt")
    checkpoint: dict = {}
    save_spec(checkpoint, spec())
    checkpoint[KEY]["version"] = 99
    with pytest.raises(CheckpointError, match="version 99"):
        spec_of(checkpoint, "new.ckpt")


def test_bad_values_are_refused():
    with pytest.raises(ConfigError, match="resize"):
        InferenceSpec(project="p", names=("a",), size=8, resize="crop")
    with pytest.raises(ConfigError, match="std"):
        InferenceSpec(project="p", names=("a",), size=8, std=(0.1, 0.0, 0.1))


def config():
    return OmegaConf.create({"data": {"name": "other", "image_size": 64, "num_classes": None},
                             "checkpoint_keys": {"data.image_size": "size", "data.num_classes": "num_classes",
                                                 "data.classes": "names", "data.eval_size": "size"}})


def test_apply_spec_takes_the_checkpoint_values():
    cfg = config()
    apply_spec(cfg, spec(), "m.ckpt", overrides=["data=other"])
    assert cfg.data.image_size == 96 and cfg.data.num_classes == 3
    assert "classes" not in cfg.data and "eval_size" not in cfg.data  # keys this data config lacks are skipped


def test_apply_spec_refuses_a_contradicting_command_line_value():
    cfg = config()
    with pytest.raises(ConfigError, match=r"data.image_size=64 contradicts the checkpoint m.ckpt.*image_size=96"):
        apply_spec(cfg, spec(), "m.ckpt", overrides=["data.image_size=64"])
    cfg = config()
    cfg.data.image_size = 96
    apply_spec(cfg, spec(), "m.ckpt", overrides=["data.image_size=96"])  # agreeing is fine


def test_class_count_comes_from_the_data():
    cfg = config()
    settle_class_count(cfg, ["a", "b", "c"])
    assert cfg.data.num_classes == 3
    cfg.data.num_classes = 10
    with pytest.raises(ConfigError, match=r"data.num_classes=10 but other has 3 classes \(\['a', 'b', 'c'\]\)"):
        settle_class_count(cfg, ["a", "b", "c"])


def test_eval_takes_the_checkpoints_model_unless_the_command_line_names_one(monkeypatch):
    from hydra.core.hydra_config import HydraConfig

    import shared.tasks as tasks

    monkeypatch.setattr(HydraConfig, "initialized", staticmethod(lambda: True))
    trained = spec_from_hparams("classification", ["a"], {"size": 8}, model={"name": "resnet50", "arch": "resnet50"})
    for overrides, expected in (([], "resnet50"), (["model=msff_ecomnet"], "msff_ecomnet"),
                                (["model.arch=x"], "msff_ecomnet")):
        monkeypatch.setattr(tasks, "command_line_overrides", lambda o=overrides: o)
        cfg = OmegaConf.create({"model": {"name": "msff_ecomnet"}})
        tasks.take_model_of(cfg, trained)
        assert cfg.model.name == expected
