"""Every bad input gives one clear message naming the file or key."""

import numpy as np
import pytest
import torch
from PIL import Image

from projects.classification.datasets import ImageLabelTable
from shared.datasets.io import check_same_size, read_image, read_mask, require_dir
from shared.errors import DataError, WeightsNotFoundError
from shared.weights import load_pretrained, resolve_weights


def test_missing_and_empty_data_folder(tmp_path):
    with pytest.raises(DataError, match=f"folder not found: {tmp_path / 'nope'}"):
        require_dir(tmp_path / "nope", "dataset")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="folder is empty"):
        require_dir(tmp_path / "empty", "dataset")


def test_corrupt_and_missing_image(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(DataError, match="cannot read image .*broken.jpg"):
        read_image(bad)
    with pytest.raises(DataError, match="image file not found: .*ghost.png"):
        read_image(tmp_path / "ghost.png")


def test_mask_of_other_size(tmp_path):
    Image.fromarray(np.zeros((10, 12, 3), np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.zeros((8, 12), np.uint8)).save(tmp_path / "a_mask.png")
    image, mask = read_image(tmp_path / "a.png"), read_mask(tmp_path / "a_mask.png")
    with pytest.raises(DataError, match="a_mask.png is 12x8 but its image .*a.png is 12x10"):
        check_same_size(image, mask, tmp_path / "a.png", tmp_path / "a_mask.png")


def test_mask_label_outside_class_range(tmp_path):
    values = np.array([[0, 1], [7, 255]], np.uint8)
    Image.fromarray(values).save(tmp_path / "m.png")
    with pytest.raises(DataError, match=r"m.png: label value\(s\) \[7\] outside the class range \[0, 5\)"):
        read_mask(tmp_path / "m.png", num_classes=5)
    assert read_mask(tmp_path / "m.png", num_classes=8).max() == 255  # 255 = ignore


def test_split_file_label_outside_class_range(tmp_path):
    (tmp_path / "data").mkdir()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "data" / "x.png")
    split = tmp_path / "s.csv"
    split.write_text("path,label,split\nx.png,3,train\n")
    with pytest.raises(DataError, match=r"label 3 of x.png outside the class range \[0, 2\)"):
        ImageLabelTable(tmp_path / "data", split, "train", ["a", "b"], "")


def test_missing_weights_file_fails_fast_naming_it(tmp_path):
    with pytest.raises(WeightsNotFoundError, match=f"{tmp_path / 'dino.pth'} does not exist"):
        resolve_weights(tmp_path / "dino.pth", what="dinov2")
    with pytest.raises(WeightsNotFoundError, match="local Hugging Face cache: timm/not-a-model"):
        resolve_weights("hf-hub:timm/not-a-model")


def test_weights_round_trip_from_a_checkpoint_the_test_saves(tmp_path):
    src = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    torch.save({"state_dict": {f"model.{k}": v for k, v in src.state_dict().items()}}, tmp_path / "w.ckpt")
    dst = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 5))
    report = load_pretrained(dst, tmp_path / "w.ckpt", replace=("2.",))
    assert torch.equal(dst[0].weight, src[0].weight)
    assert report["skipped"] == ["2.weight", "2.bias"]  # classifier with another class count


@pytest.mark.slow   # a `python -m shared` child process
def test_cli_reports_missing_data_root_in_one_line(tmp_path):
    import subprocess
    import sys

    from shared.paths import REPO_ROOT

    proc = subprocess.run([sys.executable, "-m", "shared", "train", "classification", "data=fashion_top15",
                           f"paths.data_root={tmp_path / 'nowhere'}", f"hydra.run.dir={tmp_path / 'run'}",
                           "logger=csv"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert f"error: dataset folder not found: {tmp_path / 'nowhere' / 'fashion_products'}" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "run").exists(), "a failed run leaves no half-written folder"
