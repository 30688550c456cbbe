"""A user's own folder end to end (data=folder): train one short epoch, eval, predict; the masks predict
writes score exactly the mIoU eval reports."""

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from shared.config import compose
from shared.errors import CheckpointError, ConfigError, DataError
from shared.metrics import segmentation_metrics
from shared.tasks import dispatch
from tests.shared.mask_folder_data import CLASSES, make_mask_folder

# The photos are 32 x 24 and the model sees them at a 32 px long side: the frame eval scores is the photo itself,
# so predict's full-size masks must give eval's numbers exactly.
SMALL = [
    "debug=smoke", "data=folder", "method=supervised", "data.crop_size=32", "data.base_size=32", "data.eval_size=32",
    "data.batch_size=2", "data.eval_batch_size=4", "data.num_workers=0", "data.epoch_samples=4",
    "model.features=16", "model.out_channels=[8,8,16,16]", "logger=csv",
]


def _run(out: Path, root: Path, overrides: list[str], task: str = "train"):
    cfg = compose("semiseg", [*SMALL, f"data.root={root}", f"paths.output_dir={out}", f"paths.log_dir={out.parent}",
                              *overrides], task=task)
    return cfg, dispatch(cfg)


def _miou(pred_dir: Path, root: Path, images: list[str]) -> float:
    metric = segmentation_metrics(len(CLASSES), 255)
    for image in images:
        pred = np.asarray(Image.open(pred_dir / "masks" / f"{image}.png"))
        truth = np.asarray(Image.open(root / "masks" / Path(image).with_suffix(".png")))
        metric.update(torch.from_numpy(pred.astype(np.int64))[None], torch.from_numpy(truth.astype(np.int64))[None])
    return float(metric.compute()["miou"])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("own")
    root = make_mask_folder(tmp / "my_shoes", n=12)
    cfg, results = _run(tmp / "train", root, ["test_after_fit=false"])
    return tmp, root, cfg, Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"


def test_train_names_run_after_the_folder_and_writes_its_split_there(trained):
    tmp, root, cfg, ckpt = trained
    assert cfg.data.name == "my_shoes" and cfg.data.num_classes == len(CLASSES)
    rows = list(csv.DictReader((Path(cfg.paths.output_dir) / "split.csv").open()))
    assert {r["split"] for r in rows} == {"train", "val", "test"} and len(rows) == 12
    assert float(cfg.label_ratio) == 1.0
    spec = torch.load(ckpt, weights_only=True, map_location="cpu")["inference"]
    assert spec["names"] == CLASSES and spec["resize"] == "long_side_pad" and spec["data"] == "my_shoes"
    assert spec["extra"]["colours"] == [None, [220, 40, 40], [40, 60, 220]]   # classes.txt: the overlay colours
    from projects.semiseg.predict import palette

    assert palette(3, spec["extra"]["colours"])[1:].tolist() == [[220, 40, 40], [40, 60, 220]]


def test_predict_masks_give_the_miou_eval_reports(trained):
    tmp, root, cfg, ckpt = trained
    _, results = _run(tmp / "eval", root, [f"ckpt_path={ckpt}", "trainer.limit_test_batches=1.0"], task="eval")
    assert not (tmp / "eval" / "checkpoints").exists()
    test = [r["image"] for r in csv.DictReader((tmp / "eval" / "split.csv").open()) if r["split"] == "test"]
    photos = tmp / "test_photos"
    photos.mkdir()
    for image in test:
        shutil.copy(root / "images" / image, photos / image)
    _run(tmp / "predict", root, [f"ckpt_path={ckpt}", f"input={photos}", f"output={tmp / 'pred'}"], task="predict")
    assert _miou(tmp / "pred", root, test) == pytest.approx(results["test/miou"], abs=1e-6)


def test_eval_builds_only_the_test_split(trained, tmp_path):
    """A folder of new labelled photos, scored whole (eval_all): no train/val split, no unlabelled folder."""
    tmp, _, _, ckpt = trained
    new = make_mask_folder(tmp_path / "new_photos", n=2, unlabelled=0, seed=3)
    shutil.rmtree(new / "unlabelled")
    _, results = _run(tmp_path / "eval", new, [f"ckpt_path={ckpt}", "data.options.eval_all=true"], task="eval")
    assert 0.0 <= results["test/miou"] <= 1.0
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["test/miou"] == results["test/miou"]


def test_all_labels_and_a_fraction_are_nested(trained, tmp_path):
    tmp, root, _, _ = trained
    from shared.datasets.mask_folder import MaskFolder

    quarter = MaskFolder("train", root, part="labeled", ratio=0.25)
    half = MaskFolder("train", root, part="labeled", ratio="1/2")
    everything = MaskFolder("train", root, part="labeled", ratio=1)
    assert set(quarter.items) < set(half.items) < set(everything.items) == set(MaskFolder("train", root).items)


def test_class_list_that_contradicts_the_checkpoint_is_refused(trained, tmp_path):
    tmp, root, _, ckpt = trained
    other = make_mask_folder(tmp_path / "other", n=4)
    (other / "classes.txt").write_text("background\nshoe\nbag\n")
    with pytest.raises(ConfigError, match="class list must be the one"):
        _run(tmp_path / "eval", other, [f"ckpt_path={ckpt}"], task="eval")


def test_mask_with_a_label_outside_the_classes_is_one_line(tmp_path):
    root = make_mask_folder(tmp_path / "bad", n=6)
    Image.fromarray(np.full((24, 32), 7, dtype=np.uint8), mode="L").save(root / "masks" / "p03.png")
    with pytest.raises(DataError, match=r"label\(s\) \[7\].*classes.txt lists 3 classes"):
        _run(tmp_path / "train", root, [])


def test_model_rebuilt_without_its_input_adapter_fails_loudly(trained):
    """The Lite0 weights' input adapter (mean = std = 0.5) is part of the state dict: a model rebuilt
    without it cannot load the checkpoint (predict once did that silently and wrote wrong masks)."""
    from projects.semiseg.module import SemiSegModule
    from shared.checkpoints import load_module

    ckpt = trained[3]
    model = torch.load(ckpt, weights_only=True, map_location="cpu")["hyper_parameters"]["model"]
    with pytest.raises(CheckpointError, match="unexpected key: net.encoder.adapter"):
        load_module(SemiSegModule, ckpt, model={**model, "pretrained": None})
    adapter = load_module(SemiSegModule, ckpt).net.encoder.adapter.adapter
    assert torch.allclose(adapter.scale.flatten(), torch.tensor([0.229, 0.224, 0.225]) / 0.5)


def test_folder_data_without_its_root_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="data=folder needs your folder: add data.root="):
        dispatch(compose("semiseg", [*SMALL, f"paths.output_dir={tmp_path / 'r'}"]))
