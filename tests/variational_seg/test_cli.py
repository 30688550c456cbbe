"""The entry-point tasks on tiny synthetic data: train/eval (CSV + summary), select, bad input."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shared.errors import ConfigError, DataError
from tests.metric_names import assert_conventional
from tests.variational_seg.helpers import scene

TINY = ["data.options.sizes.test=3", "data.options.image_size=48", "data.batch_size=3", "+data.solver.max_iter=150"]


def test_train_on_a_parameter_free_model_says_so_and_evaluates(run_project, capsys):
    """The embedded default (`make train PROJECT=variational_seg`, model wbh) works: one note line
    pointing to `make eval`, then the evaluation's CSV and summary."""
    cfg, summary = run_project("variational_seg", TINY)
    note = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note:")]
    assert note == ["note: model=wbh has no trainable parameters (only model=unet trains): evaluating it, as "
                    "`make eval PROJECT=variational_seg model=wbh` does"]
    out = Path(cfg.paths.output_dir)
    rows = list(csv.DictReader((out / "per_image.csv").open()))
    assert len(rows) == 3 and {"dice", "hd", "hd95", "iterations", "seconds", "markers"} <= set(rows[0])
    assert summary["n"] == 3 and 0.0 <= summary["dice"] <= 1.0
    assert summary["dice"] == pytest.approx(np.mean([float(r["dice"]) for r in rows]), abs=1e-4)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test/n"] == 3 and metrics["test/dice"] == summary["dice"]
    assert_conventional([*metrics, *next(csv.reader((out / "csv" / "metrics.csv").open()))])


def test_eval_with_a_baseline_and_scribble_source_errors(run_project):
    _, summary = run_project("variational_seg", [*TINY, "model=tv"], task="eval")
    assert summary["model"] == "tv" and summary["n"] == 3
    with pytest.raises(ConfigError, match="scribbles_set1"):
        run_project("variational_seg", [*TINY, "markers.source=scribbles_set1"], task="eval")


def _photo(tmp_path: Path) -> Path:
    image, _, _ = scene(48, seed=9)
    path = tmp_path / "photo.png"
    Image.fromarray((np.clip(image, 0, 1) * 255).astype(np.uint8)).convert("RGB").save(path)
    return path


def test_select_writes_mask_and_cutout(run_project, tmp_path):
    photo, out = _photo(tmp_path), tmp_path / "mask.png"
    run_project("variational_seg", [f"image={photo}", "points='17,20;20,18'", f"output={out}"], task="select")
    mask = np.asarray(Image.open(out))
    cut = np.asarray(Image.open(tmp_path / "mask_cutout.png"))
    assert mask.shape == (48, 48) and mask[20, 17] == 255 and mask[2, 2] == 0
    assert cut.shape == (48, 48, 4) and np.array_equal(cut[..., 3], mask)


def test_select_bad_input_messages(run_project, tmp_path):
    photo = _photo(tmp_path)
    with pytest.raises(ConfigError, match="no POINTS given"):
        run_project("variational_seg", [f"image={photo}"], task="select")
    with pytest.raises(ConfigError, match="off the photo"):
        run_project("variational_seg", [f"image={photo}", "points='60,3'"], task="select")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    with pytest.raises(DataError, match="cannot read image"):
        run_project("variational_seg", [f"image={broken}", "points='1,1'"], task="select")


def test_stopping_study_measures_iterations_and_agreement_with_the_converged_mask(run_project):
    cfg, rows = run_project("variational_seg", ["data.options.sizes.val=2", "data.options.image_size=40",
                                                "stopping.relax=[1.0,1.5]", "stopping.tol=[1e-4,1e-2]",
                                                "stopping.converged_max_iter=800"], task="stopping")
    assert len(rows) == 4 and (Path(cfg.paths.output_dir) / "stopping.json").exists()
    by = {(r["relax"], r["tol"]): r for r in rows}
    assert by[(1.0, 1e-2)]["iterations"] < by[(1.0, 1e-4)]["iterations"]  # looser tol stops sooner
    assert all(0.0 <= r["agreement_min"] <= r["agreement"] <= 1.0 for r in rows)
    assert by[(1.0, 1e-4)]["agreement"] > 0.95


UNET_TINY = [*TINY, "model=unet", "model.train.synthetic=4", "model.train.ccp=0", "model.image_size=32",
             "model.base_channels=4", "model.train.epochs=1", "model.train.batch_size=4"]


def test_train_unet_fits_with_the_common_optimiser_keeps_last_ckpt_and_tests(run_project, capsys):
    """model=unet trains through the shared trainer (AdamW from the common optim group: optim.lr /
    optim.weight_decay) on its own training data, saves checkpoints/last.ckpt (what resume needs) and no
    other checkpoint, then tests that checkpoint on `data`."""
    cfg, result = run_project("variational_seg", [*UNET_TINY, "model.train.synthetic=8",
                                                  "optim.lr=1e-3", "optim.weight_decay=0.5"])
    assert "U-Net training set: 8 images" in capsys.readouterr().out
    out = Path(cfg.paths.output_dir)
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["last.ckpt"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["checkpoint"] == str(out / "checkpoints" / "last.ckpt") and "fit/train/loss" in metrics
    assert metrics["test/n"] == 3 and result["model"] == "unet"
    import torch
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    group = ckpt["optimizer_states"][0]["param_groups"][0]
    assert (group["lr"], group["weight_decay"]) == (1e-3, 0.5)
    assert ckpt["hyper_parameters"]["optim"]["lr"] == 1e-3 and ckpt["epoch"] == 0   # model.train.epochs=1


def test_train_unet_lite0_fits_the_pretrained_unet_and_its_checkpoint_loads(run_project):
    from projects.variational_seg.unet import UNetModule
    from projects.variational_seg.unet_pretrained import PretrainedUNet
    from shared.checkpoints import load_module

    cfg, result = run_project("variational_seg", [*TINY, "model=unet_lite0", "model.train.synthetic=4",
                                                  "model.train.ccp=0", "model.image_size=32", "model.encoder.decoder=8",
                                                  "model.train.epochs=1", "model.train.batch_size=4"])
    out = Path(cfg.paths.output_dir)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test/n"] == 3 and result["model"] == "unet_lite0"
    loaded = load_module(UNetModule, out / "checkpoints" / "last.ckpt")
    assert isinstance(loaded.net, PretrainedUNet) and loaded.hparams.encoder["arch"] == "tf_efficientnet_lite0"


def test_table_rows_test_one_unet_training_and_other_settings_train_anew(run_project, tmp_path, capsys):
    """With unet_training_root (the table sweeps, which also set skip_finished) every marker row of a table
    tests the one training of its settings: the second row finds it done (the shared skip) and tests the
    same checkpoint; another learning rate is another training; a finished row is skipped."""
    trainings = tmp_path / "trainings"
    rows = [*UNET_TINY, f"unet_training_root={trainings}", "skip_finished=true", "resume_from_last=true"]
    run_project("variational_seg", [*rows, f"paths.output_dir={tmp_path / 'k3'}"])
    run_project("variational_seg", [*rows, "markers.k=1", f"paths.output_dir={tmp_path / 'k1'}"])
    k3, k1 = (json.loads((tmp_path / row / "metrics.json").read_text()) for row in ("k3", "k1"))
    (fitted,) = trainings.iterdir()
    assert k3["checkpoint"] == k1["checkpoint"] == str(fitted / "checkpoints" / "last.ckpt")
    assert fitted.name.startswith("unet-s0-") and f"skip {fitted} (done)" in capsys.readouterr().out
    assert k1["fit/train/loss"] == k3["fit/train/loss"] and not (tmp_path / "k1" / "checkpoints").exists()
    run_project("variational_seg", [*rows, "optim.lr=1e-4", f"paths.output_dir={tmp_path / 'lr'}"])
    assert len(list(trainings.iterdir())) == 2
    run_project("variational_seg", [*rows, f"paths.output_dir={tmp_path / 'k3'}"])
    assert f"skip {tmp_path / 'k3'} (done)" in capsys.readouterr().out


def test_a_unet_training_another_process_holds_is_one_line(run_project, tmp_path):
    """A second sweep reaching a training that the first one is fitting (the shared job lock) stops with one
    line naming the training folder, instead of testing a half-trained checkpoint."""
    from projects.variational_seg.unet_fit import training_dir
    from shared.config import compose
    from shared.errors import CheckpointError
    from shared.job_lock import job_lock

    rows = [*UNET_TINY, f"unet_training_root={tmp_path / 'trainings'}", "skip_finished=true"]
    folder = training_dir(compose("variational_seg", ["debug=smoke", f"paths.log_dir={tmp_path}",
                                                      f"paths.output_dir={tmp_path / 'row'}", *rows]))
    with job_lock(folder) as mine, pytest.raises(CheckpointError, match="has not finished"):
        assert mine
        run_project("variational_seg", rows)
