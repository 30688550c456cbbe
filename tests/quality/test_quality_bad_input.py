"""Bad input to the quality tasks gives one clear message naming the file or key."""

import pytest

from projects.quality.api import Predictor
from shared.datasets.registry import create_dataset
from shared.errors import CheckpointError, ConfigError, DataError, WeightsNotFoundError

TINY = ["data.options.image_size=32", "data.image_size=32", "data.options.sources={train: 6, val: 3, test: 4}"]


def test_audit_without_input_or_model(run_project, tmp_path):
    with pytest.raises(ConfigError, match="audit needs a folder of images: pass INPUT="):
        run_project("quality", TINY, task="audit")
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.txt").write_text("x")
    with pytest.raises(CheckpointError, match="the default quality model is not in .*no_model .*or pass CKPT="):
        Predictor.default(tmp_path / "no_model")  # what an audit without CKPT uses
    with pytest.raises(ConfigError, match="checkpoint not found: /nope.ckpt"):
        run_project("quality", [*TINY, f"input={tmp_path / 'photos'}", "ckpt_path=/nope.ckpt"], task="audit")
    with pytest.raises(ConfigError, match="classical calibration file not found: /nope.json"):
        run_project("quality", [*TINY, f"input={tmp_path / 'photos'}", "ckpt_path=/nope.json"], task="audit")


def test_audit_of_a_missing_or_empty_folder(run_project, tmp_path):
    with pytest.raises(DataError, match=f"input folder not found: {tmp_path / 'nowhere'}"):
        run_project("quality", ["model=classical", f"input={tmp_path / 'nowhere'}"], task="audit")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="input folder is empty"):
        run_project("quality", ["model=classical", f"input={tmp_path / 'empty'}"], task="audit")


def test_eval_of_a_learned_model_needs_a_checkpoint(run_project):
    with pytest.raises(ConfigError, match="eval needs a checkpoint"):
        run_project("quality", ["model=seed_cnn", *TINY], task="eval")


def test_missing_pretrained_backbone_file_fails_naming_it(run_project, tmp_path):
    with pytest.raises(WeightsNotFoundError, match=f"{tmp_path / 'resnet10t.pth'} does not exist"):
        run_project("quality", ["model=timm_iqa", f"model.pretrained={tmp_path / 'resnet10t.pth'}", *TINY])


def test_bad_dataset_options():
    with pytest.raises(ConfigError, match="sources for split 'val' must be positive"):
        create_dataset("quality_synthetic", "val", sources={"train": 2, "val": 0, "test": 1})
