"""data=folder: the click tool measured on a user's own photos + masks (shared/datasets/mask_folder.py)."""

import csv
import json
from pathlib import Path

import pytest
import torch

from shared.errors import ConfigError
from tests.shared.mask_folder_data import make_mask_folder

FAST = ["data.batch_size=3", "data.num_workers=0", "+data.solver.max_iter=150"]


def test_eval_on_a_folder_scores_every_photo_with_grabcut_parameters(run_project, tmp_path):
    root = make_mask_folder(tmp_path / "my_bags", n=3, unlabelled=0, width=48, height=36)
    (root / "classes.txt").unlink()   # the click tool needs none: foreground = any label but 0 and 255
    cfg, summary = run_project("variational_seg", ["data=folder", f"data.root={root}", *FAST], task="eval")
    assert cfg.data.name == "my_bags" and cfg.module.data.name == "grabcut"   # tuned.grabcut values
    assert summary["n"] == 3 and summary["data"] == "my_bags" and 0.5 < summary["dice"] <= 1.0
    rows = list(csv.DictReader((Path(cfg.paths.output_dir) / "per_image.csv").open()))
    assert sorted(r["id"] for r in rows) == sorted(p.name for p in (root / "images").iterdir())
    split = list(csv.DictReader((Path(cfg.paths.output_dir) / "split.csv").open()))
    assert {r["split"] for r in split} == {"test"} and len(split) == 3


def test_unet_checkpoint_carries_its_inference_spec_and_scores_a_folder(run_project, tmp_path):
    cfg, _ = run_project("variational_seg", ["model=unet", "model.train.synthetic=4", "model.train.ccp=0",
                                             "model.image_size=32", "model.base_channels=4", "model.train.epochs=1",
                                             "model.train.batch_size=4", "test_after_fit=false"])
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    spec = torch.load(ckpt, map_location="cpu", weights_only=True)["inference"]
    assert spec["names"] == ["background", "foreground"] and (spec["size"], spec["resize"]) == (32, "stretch")
    assert spec["mean"] == [0.0] * 3 and spec["std"] == [1.0] * 3 and spec["model"]["base_channels"] == 4
    root = make_mask_folder(tmp_path / "photos", n=3, unlabelled=0, width=48, height=36)
    out = tmp_path / "eval"
    _, summary = run_project("variational_seg", ["model=unet", "model.image_size=32", "data=folder",
                                                 f"data.root={root}", f"ckpt_path={ckpt}",
                                                 f"paths.output_dir={out}", *FAST], task="eval")
    assert summary["n"] == 3 and json.loads((out / "metrics.json").read_text())["test/n"] == 3


def test_the_click_protocol_runs_the_shipped_model_on_a_folder(run_project, tmp_path):
    """experiment=noc on data=folder: every photo under `all`, the split's test part under `test`; a subset a
    folder has not is one ConfigError naming the key."""
    root = make_mask_folder(tmp_path / "my_bags", n=5, unlabelled=0, width=48, height=36)
    (root / "classes.txt").unlink()
    cfg, _ = run_project("variational_seg", ["data=folder", f"data.root={root}", "experiment=noc",
                                             "model=wbh_colour_extent", "noc.max_clicks=2"], task="eval")
    metrics = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert metrics["all/n"] == 5 and 1 <= metrics["test/n"] < 5 and 0.0 < metrics["all/iou_at_1"] <= 1.0
    with pytest.raises(ConfigError, match="data.options.subset: 'val'"):
        run_project("variational_seg", ["data=folder", f"data.root={root}", "experiment=noc",
                                        "data.options.subset=val", "noc.max_clicks=1"], task="eval")


def test_the_click_protocol_fits_a_unet_once_under_the_training_root_and_clicks_it(run_project, tmp_path):
    """SWEEP=noc_unet: with unet_training_root and no ckpt_path the NoC run fits the U-Net there (the anchors
    table's trainings), then clicks it; a second run (another seed folder, same settings) finds that fit."""
    root = make_mask_folder(tmp_path / "my_bags", n=3, unlabelled=0, width=48, height=36)
    (root / "classes.txt").unlink()
    trainings = tmp_path / "trainings"
    tiny = ["data=folder", f"data.root={root}", "experiment=noc", "noc.max_clicks=2", "model=unet",
            "model.train.synthetic=4", "model.train.ccp=0", "model.image_size=32", "model.base_channels=4",
            "model.train.epochs=1", "model.train.batch_size=4", f"unet_training_root={trainings}",
            "skip_finished=true"]
    runs = []
    for name in ("a", "b"):
        cfg, _ = run_project("variational_seg", [*tiny, f"paths.output_dir={tmp_path / name}"])
        runs.append(json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text()))
    (fitted,) = trainings.iterdir()
    assert fitted.name.startswith("unet-s0-") and (fitted / "checkpoints" / "last.ckpt").is_file()
    assert runs[0]["all/n"] == 3 and 0.0 <= runs[0]["all/iou_at_1"] <= 1.0
    assert runs[0]["all/iou_at_2"] == runs[1]["all/iou_at_2"]     # the same net clicked twice


def test_a_mask_saved_as_0_and_255_is_named_with_the_folder_formats_rule(run_project, tmp_path, capsys):
    """255 is the folder format's ignore label: a 0 / 255 binary mask marks no foreground. The click protocol leaves
    such a photo out with a note naming it and the rule; with no photo left it is one ConfigError saying the same."""
    import numpy as np
    from PIL import Image

    root = make_mask_folder(tmp_path / "my_bags", n=4, unlabelled=0, width=48, height=36)
    (root / "classes.txt").unlink()
    masks = sorted((root / "masks").glob("*.png"))
    for path in masks[:1]:
        mask = np.array(Image.open(path))
        Image.fromarray(np.where(mask > 0, 255, 0).astype(np.uint8)).save(path)
    args = ["data=folder", f"data.root={root}", "experiment=noc", "model=wbh_colour", "noc.max_clicks=1"]
    cfg, _ = run_project("variational_seg", args, task="eval")
    note = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note: 1 object(s) left out")]
    assert len(note) == 1 and masks[0].stem in note[0] and "mask // 255" in note[0]
    assert json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())["all/n"] == 3
    for path in masks[1:]:
        mask = np.array(Image.open(path))
        Image.fromarray(np.where(mask > 0, 255, 0).astype(np.uint8)).save(path)
    with pytest.raises(ConfigError, match=r"no objects were evaluated .*0 / 255 mask has none"):
        run_project("variational_seg", args, task="eval")
