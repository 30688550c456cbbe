"""Reproducible and exact, in every project that trains (CPU, tiny synthetic data, 2 epochs):

* two runs with the same seed end with identical weights and an identical metrics.json;
* a run stopped after epoch 1 and resumed from its last.ckpt (into a new run folder, as the CLI does)
  ends with the weights and metrics of the uninterrupted run;
* the shared datamodule draws the same batches and augmentations with a DataLoader worker as without;
* a real ``python -m shared train classification`` killed with SIGKILL and resumed from last.ckpt
  ends where the uninterrupted process ends.

Wall-clock values (``*_s``, ``*seconds``) are left out of the comparison; checkpoint paths are
compared by file name (the folders differ by construction).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from shared.config import compose
from shared.tasks import dispatch

REPO = Path(__file__).resolve().parents[2]
EPOCHS = ["trainer.max_epochs=2"]
STOP_AFTER_ONE_EPOCH = ["+callbacks.kill._target_=tests.semiseg.tiny.StopAfterEpochs", "+callbacks.kill.epochs=1"]
IMAGE_32 = ["data.options.image_size=32", "data.image_size=32"]
QUALITY = [*IMAGE_32, "data.batch_size=8", "data.options.sources={train: 6, val: 3, test: 4}"]
# case -> (project, overrides): each the smallest run that still trains, validates and tests
CASES: dict[str, tuple[str, list[str]]] = {
    "classification": ("classification", [*IMAGE_32, "data.batch_size=4", "data.num_workers=0",
                                          "data.options.sizes={train:16,val:8,test:8}", "model=msff_base"]),
    "quality_seed_cnn": ("quality", ["model=seed_cnn", *QUALITY]),
    "quality_timm_iqa": ("quality", ["model=timm_iqa", *QUALITY]),
    "multimodal_tagging": ("multimodal_tagging", [
        "data.options.sizes={train:24,val:8,test:8}", *IMAGE_32, "data.batch_size=8", "data.num_workers=0",
        "model.dim=32", "model.heads=2", "model.text.max_length=12", "model.image.arch=resnet10t",
        "model.image.pretrained=null"]),
    "semiseg": ("semiseg", [
        "data.options.sizes={train:16,val:4,test:4}", "data.options.image_size=32", "data.crop_size=32",
        "data.base_size=32", "data.eval_size=32", "data.batch_size=2", "data.eval_batch_size=4",
        "data.num_workers=0", "data.labeled_ratio=1/4", "data.epoch_samples=4", "model.features=16",
        "model.out_channels=[8,8,16,16]", "method=mvpmatch"]),
    "variational_seg_unet": ("variational_seg", [   # the U-Net baseline: max_epochs = model.train.epochs
        "model=unet", "model.train.synthetic=12", "model.train.ccp=0", "model.image_size=32",
        "model.base_channels=4", "model.train.epochs=2", "model.train.batch_size=4"]),
}

SLOW_CASES = {"semiseg", "classification", "multimodal_tagging"}   # the longest runs (semiseg ~40 s on 2 cores)
PARAMS = [pytest.param(c, marks=pytest.mark.slow) if c in SLOW_CASES else c for c in CASES]


def train(out: Path, case: str, extra: list[str] = ()) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Compose + dispatch in-process (the conftest ``run_project`` style); (last.ckpt weights, metrics.json)."""
    project, overrides = CASES[case]
    cfg = compose(project, ["debug=smoke", "logger=csv", *EPOCHS, *overrides, f"paths.output_dir={out}",
                            f"paths.log_dir={out.parent}", *extra])
    dispatch(cfg)
    return weights(out), json.loads((out / "metrics.json").read_text())


def weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]


def comparable(metrics: dict[str, Any]) -> dict[str, Any]:
    """metrics.json without wall-clock values; checkpoint paths by file name (the run folders differ)."""
    out = {}
    for key, value in metrics.items():
        if key.endswith("_s") or "seconds" in key:
            continue
        out[key] = Path(value).name if key.endswith("checkpoint") else value
    return out


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], atol: float = 0.0) -> None:
    assert a.keys() == b.keys()
    for name, value in a.items():
        if atol == 0.0:
            assert torch.equal(value, b[name]), name
        else:
            assert torch.allclose(value.double(), b[name].double(), rtol=0.0, atol=atol), name


@pytest.mark.parametrize("case", PARAMS)
def test_two_seeded_runs_are_identical(tmp_path, case):
    w1, m1 = train(tmp_path / "a", case)
    w2, m2 = train(tmp_path / "b", case)
    assert_same_weights(w1, w2)
    assert comparable(m1) == comparable(m2)
    assert len(comparable(m1)) >= 3   # the comparison covers real metrics, not an empty file


@pytest.mark.parametrize("case", PARAMS)
def test_one_epoch_plus_resume_equals_two_epochs(tmp_path, case):
    full_w, full_m = train(tmp_path / "full", case)
    train(tmp_path / "first", case, STOP_AFTER_ONE_EPOCH)
    first = torch.load(tmp_path / "first" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert first["epoch"] == 0 and first["global_step"] > 0           # really stopped after epoch 1
    resumed_w, resumed_m = train(tmp_path / "resumed", case,
                                 [f"ckpt_path={tmp_path / 'first' / 'checkpoints' / 'last.ckpt'}"])
    assert_same_weights(full_w, resumed_w, atol=1e-6)
    assert comparable(full_m) == comparable(resumed_m)


@pytest.mark.slow
def test_resume_keeps_the_best_checkpoint_of_the_first_part(tmp_path):
    """The monitored metric is made to peak at epoch 1 (epoch001.ckpt; val/loss under mode=max): the resumed
    run, in a new folder, must still test epoch 1's checkpoint as "best", not take its own first epoch for it."""
    monitor = ["monitor.metric=val/loss", "monitor.mode=max"]
    _, full = train(tmp_path / "full", "classification", monitor)
    train(tmp_path / "first", "classification", [*monitor, *STOP_AFTER_ONE_EPOCH])
    _, resumed = train(tmp_path / "resumed", "classification",
                       [*monitor, f"ckpt_path={tmp_path / 'first' / 'checkpoints' / 'last.ckpt'}"])
    assert Path(full["best_checkpoint"]).name == "epoch001.ckpt"      # the case this test is about
    assert resumed["best_checkpoint"] == str(tmp_path / "first" / "checkpoints" / "epoch001.ckpt")
    assert comparable(full) == comparable(resumed)


@pytest.mark.slow
def test_a_dataloader_worker_draws_what_the_main_process_draws(tmp_path):
    """Per-sample augmentation seeds from the sampler: num_workers=1 gives the num_workers=0 run, and a
    num_workers=1 run resumed after epoch 1 (fresh workers) ends like the uninterrupted one."""
    w0, m0 = train(tmp_path / "w0", "classification")
    worker = ["data.num_workers=1"]
    w1, m1 = train(tmp_path / "w1", "classification", worker)
    assert_same_weights(w0, w1)
    assert comparable(m0) == comparable(m1)
    train(tmp_path / "first", "classification", [*worker, *STOP_AFTER_ONE_EPOCH])
    resumed_w, resumed_m = train(tmp_path / "resumed", "classification",
                                 [*worker, f"ckpt_path={tmp_path / 'first' / 'checkpoints' / 'last.ckpt'}"])
    assert_same_weights(w1, resumed_w, atol=1e-6)
    assert comparable(m1) == comparable(resumed_m)


# -- a real process, killed with SIGKILL ---------------------------------------------------------------
def _cli(run: Path, extra: list[str]) -> list[str]:
    _, overrides = CASES["classification"]
    return [sys.executable, "-m", "shared", "train", "classification", "debug=smoke", "logger=csv", *EPOCHS,
            *overrides, f"paths.log_dir={run.parent}", f"hydra.run.dir={run}", *extra]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "WANDB_MODE": "offline", "HF_HUB_OFFLINE": "1", "NO_ALBUMENTATIONS_UPDATE": "1"}


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (rc {proc.returncode}) before {path.name} appeared:\n"
                                 f"{proc.stderr.read()[-3000:] if proc.stderr else ''}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"{path} did not appear within {timeout:.0f} s")
        time.sleep(0.1)


@pytest.mark.slow
def test_cli_run_killed_with_sigkill_resumes_to_the_uninterrupted_result(tmp_path):
    full = subprocess.run(_cli(tmp_path / "full", []), cwd=REPO, env=_env(), capture_output=True, text=True,
                          timeout=300)
    assert full.returncode == 0, full.stderr[-3000:]
    marker = tmp_path / "epoch2_started"
    pause = ["+callbacks.pause._target_=tests.robustness.repro_callbacks.PauseAtEpoch", "+callbacks.pause.epoch=1",
             f"+callbacks.pause.marker={marker}"]
    killed = subprocess.Popen(_cli(tmp_path / "killed", pause), cwd=REPO, env=_env(), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(marker, killed)                    # epoch 2 has started: epoch 1's last.ckpt is on disk
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
    finally:
        if killed.poll() is None:
            killed.kill()
    assert killed.returncode == -signal.SIGKILL
    last = tmp_path / "killed" / "checkpoints" / "last.ckpt"
    assert torch.load(last, map_location="cpu", weights_only=False)["epoch"] == 0
    assert not (tmp_path / "killed" / "metrics.json").exists()   # it really died mid-run
    resumed = subprocess.run(_cli(tmp_path / "resumed", [f"ckpt_path={last}"]), cwd=REPO, env=_env(),
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_same_weights(weights(tmp_path / "full"), weights(tmp_path / "resumed"), atol=1e-6)
    full_m, resumed_m = (json.loads((tmp_path / r / "metrics.json").read_text()) for r in ("full", "resumed"))
    assert comparable(full_m) == comparable(resumed_m)


def test_classical_quality_model_calibrates_on_every_pristine_train_image_and_repeats(tmp_path):
    """28 train images (7 pristine) in batches of 8: the calibration reads all 7, not the 24 images of the
    shuffled, batch-dropping train loader (5 of the 7 pristine ones there), and two fits agree (``train``
    calibrates the classical model; ``eval`` only loads a calibration)."""
    overrides = ["debug=smoke", "model=classical", *IMAGE_32, "data.batch_size=8",
                 "data.options.sources={train: 7, val: 3, test: 4}"]
    results = []
    for run in ("a", "b"):
        cfg = compose("quality", [*overrides, f"paths.output_dir={tmp_path / run}", f"paths.log_dir={tmp_path}"],
                      task="train")
        results.append({k: v for k, v in dispatch(cfg).items() if "/test/" in k})
        calibration = json.loads((tmp_path / run / "classical_calibration.json").read_text())["calibration"]
        assert {m["n"] for m in calibration.values()} == {7}
    assert results[0] == results[1] and "final/test/auroc" in results[0]
