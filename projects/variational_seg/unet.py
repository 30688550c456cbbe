"""U-Net baseline that receives the same marker information as the variational models: input =
RGB + the normalised geodesic distance D_G from the clicks (4 channels) at a fixed square size.

Trained (``make train PROJECT=variational_seg model=unet``, AdamW from the common ``optim`` group) on
synthetic products + CCP subject masks (``mask > 0``) with 1..k_max simulated clicks each, never on
GrabCut, then tested on ``data`` like the solver; ``make eval ... model=unet
CKPT=<run>/checkpoints/last.ckpt`` evaluates a trained one. Its "iterations" column is 1 (one forward pass).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn as nn
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader, TensorDataset

from projects.variational_seg.geodesic import geodesic_distance
from projects.variational_seg.markers import points_to_mask, scale_points, simulate_markers
from projects.variational_seg.pipeline import image_tensor, set_threads, upsample
from projects.variational_seg.protocol import format_points, score
from shared.checkpoints import load_module, stamp
from shared.config import plain_dict
from shared.datasets.registry import create_dataset
from shared.errors import ConfigError
from shared.files import write_atomic
from shared.lightning_utils import save_module_spec
from shared.optim import configure
from shared.tasks import build_trainer, finished_results


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class UNet(nn.Module):
    """Three-level U-Net: 4 -> c -> 2c -> 4c -> 8c (bottleneck) and back, one logit channel."""

    def __init__(self, in_channels: int = 4, base: int = 16) -> None:
        super().__init__()
        c = base
        self.enc = nn.ModuleList([_block(in_channels, c), _block(c, 2 * c), _block(2 * c, 4 * c)])
        self.mid = _block(4 * c, 8 * c)
        self.up = nn.ModuleList([nn.ConvTranspose2d(8 * c, 4 * c, 2, 2), nn.ConvTranspose2d(4 * c, 2 * c, 2, 2),
                                 nn.ConvTranspose2d(2 * c, c, 2, 2)])
        self.dec = nn.ModuleList([_block(8 * c, 4 * c), _block(4 * c, 2 * c), _block(2 * c, c)])
        self.head = nn.Conv2d(c, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for enc in self.enc:
            x = enc(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.mid(x)
        for up, dec, skip in zip(self.up, self.dec, reversed(skips)):
            x = dec(torch.cat([up(x), skip], 1))
        return self.head(x)[:, 0]


def unet_input(image: np.ndarray, points: np.ndarray, size: int) -> torch.Tensor:
    """(4, size, size): the image squashed to size x size and D_G from the scaled points."""
    x = F.interpolate(image_tensor(image), size=(size, size), mode="area")
    pts = scale_points(points, image.shape[:2], (size, size))
    seeds = torch.from_numpy(points_to_mask(pts, (size, size)))[None]
    return torch.cat([x[0], geodesic_distance(x, seeds, "mcp")], 0)


class UNetModule(pl.LightningModule):
    """The from-scratch :class:`UNet`, or with ``encoder`` (arch, pretrained, decoder) the U-Net on a
    pretrained encoder (``unet_pretrained.py``, ``model=unet_lite0``); same input, loss and protocol."""

    def __init__(self, base_channels: int = 16, image_size: int = 128, optim: Mapping[str, Any] | None = None,
                 encoder: Mapping[str, Any] | None = None, inference: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.save_hyperparameters()
        if inference is None:
            self.hparams["inference"] = unet_inference(image_size)
        if encoder:
            from projects.variational_seg.unet_pretrained import PretrainedUNet

            self.net: nn.Module = PretrainedUNet(**dict(encoder))
        else:
            self.net = UNet(4, base_channels)
        self.rows: list[dict[str, Any]] = []
        self.skipped: list[str] = []

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        stamp(self, checkpoint)  # which project wrote it
        model = {"base_channels": self.hparams.base_channels, "encoder": self.hparams.encoder}
        save_module_spec(self, checkpoint, list(UNET_OUTPUT), {
            "input": "RGB in [0, 1] stretched to size x size (area) + the normalised geodesic distance from the "
                     "clicks as a 4th channel (unet_input)",
            "output": "one logit per pixel (N, size, size): sigmoid > 0.5 = foreground"})
        checkpoint["inference"]["model"] = model

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        logits = self.net(x)
        prob = torch.sigmoid(logits)
        dice = 1 - (2 * (prob * y).sum((1, 2)) + 1) / (prob.sum((1, 2)) + y.sum((1, 2)) + 1)
        loss = F.binary_cross_entropy_with_logits(logits, y) + dice.mean()
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def on_test_start(self) -> None:
        self.rows, self.skipped = [], []

    def test_step(self, batch: list[dict[str, Any]], batch_idx: int) -> None:
        size = int(self.hparams.image_size)
        for sample in batch:
            if "skip" in sample:
                self.skipped.append(str(sample["id"]))
                continue
            start = time.perf_counter()
            x = unet_input(sample["image"], sample["points"], size)[None].to(self.device)
            prob = upsample(torch.sigmoid(self.net(x))[0], sample["image"].shape[:2])
            seconds = time.perf_counter() - start
            self.rows.append({"id": sample["id"], **score(prob, sample), "iterations": 1, "seconds": seconds,
                              "markers": format_points(sample["points"]), "marker_px_working": len(sample["points"]),
                              "undecided": float(((prob > 0.1) & (prob < 0.9)).mean())})
            self.log("test/dice", self.rows[-1]["dice"], batch_size=1, on_epoch=True, on_step=False)

    def configure_optimizers(self) -> Any:
        """The common ``optim`` config (shared/optim.py: AdamW, optim.lr, optim.weight_decay)."""
        if not self.hparams.optim:
            raise ConfigError("UNetModule needs optim settings to train (configs/common/optim, `optim.lr=...`)")
        return configure(self.parameters(), self.hparams.optim, self.trainer.estimated_stepping_batches)


UNET_OUTPUT = ("background", "foreground")
UNET_TRAINED_ON = "synthetic+ccp"   # _training_arrays: whatever data it is tested on


def unet_inference(image_size: int) -> dict[str, Any]:
    """The U-Net's input contract (shared/inference.py): RGB in [0, 1] (no mean / std: the pretrained
    encoder's own normalisation is inside the network), stretched to ``image_size``."""
    return {"size": int(image_size), "resize": "stretch", "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0],
            "data": UNET_TRAINED_ON}


def _training_arrays(cfg: DictConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs (N, 4, S, S) and targets (N, S, S) from synthetic + CCP train images, clicks simulated."""
    t = cfg.model.train
    size = int(cfg.model.image_size)
    rng = np.random.default_rng(cfg.seed)
    sources: list[tuple[Any, int]] = [(create_dataset("synthetic", "train", sizes={"train": int(t.synthetic)},
                                                      image_size=size), int(t.synthetic))]
    if int(t.ccp) > 0:
        ccp = create_dataset("ccp", "train", root=cfg.data.get("root"))
        sources.append((ccp, min(int(t.ccp), len(ccp))))  # type: ignore[arg-type]
    xs, ys = [], []
    for dataset, n in sources:
        for i in range(n):
            s = dataset[i]
            gt = np.asarray(s["mask"]) > 0
            pts = simulate_markers(gt, int(rng.integers(1, int(t.k_max) + 1)), "random", cfg.seed, i)
            if len(pts) == 0:
                continue
            xs.append(unet_input(s["image"], pts, size))
            y = F.interpolate(torch.from_numpy(gt.astype(np.float32))[None, None], size=(size, size), mode="area")
            ys.append((y[0, 0] > 0.5).float())
    return torch.stack(xs), torch.stack(ys)


def resume_point(cfg: DictConfig, run_dir: Path) -> str | None:
    """``ckpt_path`` when given (checked), else with ``resume_from_last`` the run folder's last.ckpt."""
    resume = cfg.get("ckpt_path")
    if resume and not Path(resume).is_file():
        raise ConfigError(f"checkpoint not found: ckpt_path={resume}")
    last = run_dir / "checkpoints" / "last.ckpt"
    if not resume and cfg.get("resume_from_last", False) and last.is_file():
        print(f"resume {run_dir} from {last}")
        return str(last)
    return resume


def trained_cache(cfg: DictConfig) -> Path:
    """Where the weights of this exact training live once fitted: a key over everything the fit reads
    (model and its training settings, optimiser, seed, CCP root, precision). A marker row does not enter:
    training clicks are simulated from the training masks, so every row of a table trains the same net."""
    model = {k: v for k, v in plain_dict(cfg.model).items() if k != "name"}
    model["train"] = {k: v for k, v in model["train"].items() if k != "reuse"}
    what = {"model": model, "optim": plain_dict(cfg.optim),
            "seed": int(cfg.seed), "ccp_root": str(cfg.data.get("root")), "precision": str(cfg.trainer.precision)}
    key = hashlib.sha1(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return Path(cfg.paths.log_dir) / "cache" / "variational_seg" / f"unet-{key}.ckpt"


def train_unet(cfg: DictConfig) -> dict[str, Any]:
    """Fit the U-Net (``ckpt_path=<run>/checkpoints/last.ckpt`` resumes an interrupted training exactly),
    then, with ``test_after_fit``, test it on ``data`` as ``eval`` does (per_image.csv, summary.json);
    metrics.json (written last) holds both. With ``model.train.reuse`` a training that was already done
    with the same settings (:func:`trained_cache`) is not repeated: its weights are tested."""
    from projects.variational_seg.evaluate import evaluate_module

    run_dir = Path(cfg.paths.output_dir)
    done = finished_results(cfg, run_dir)
    if done is not None:
        print(f"skip {run_dir} (done)")
        return done
    resume = resume_point(cfg, run_dir)
    set_threads(cfg.working)
    pl.seed_everything(cfg.seed, workers=True)
    t, cache = cfg.model.train, trained_cache(cfg)
    if t.reuse and resume is None and cache.is_file():
        print(f"U-Net: the same training was done before, testing its weights {cache}")
        module = load_module(UNetModule, cache)
        (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        ckpt = run_dir / "checkpoints" / "last.ckpt"
        shutil.copyfile(cache, ckpt)
        return evaluate_module(cfg, module if cfg.get("test_after_fit", True) else None,
                               extra={"trained_in": str(cache), "checkpoint": str(ckpt)})
    start = time.perf_counter()
    x, y = _training_arrays(cfg)
    print(f"U-Net training set: {len(x)} images ({time.perf_counter() - start:.0f} s to build)")
    module = UNetModule(int(cfg.model.base_channels), int(cfg.model.image_size), plain_dict(cfg.optim),
                        encoder=plain_dict(cfg.model.encoder) if cfg.model.get("encoder") else None)
    loader = DataLoader(TensorDataset(x, y), batch_size=int(t.batch_size), shuffle=True)
    trainer = build_trainer(OmegaConf.merge(cfg, {"trainer": {"max_epochs": int(t.epochs)}}), run_dir)
    trainer.fit(module, train_dataloaders=loader, ckpt_path=resume)
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    if not ckpt.is_file():   # callbacks.last_checkpoint (after every epoch) switched off
        trainer.save_checkpoint(ckpt)
    if trainer.current_epoch >= int(t.epochs) and not trainer.interrupted:   # a whole training only
        write_atomic(cache, lambda f: f.write(ckpt.read_bytes()), binary=True)
    results = {"train/loss": float(trainer.callback_metrics.get("train/loss", float("nan"))),
               "train_images": len(x), "train_seconds": round(time.perf_counter() - start, 1), "checkpoint": str(ckpt)}
    print(f"U-Net checkpoint -> {ckpt}")
    return evaluate_module(cfg, module if cfg.get("test_after_fit", True) else None, trainer, extra=results)


def unet_segmenter(module: UNetModule):
    """A trained U-Net as a ``methods.Segmenter`` (``f(images, points, background) -> [Segmentation]``,
    background points unused: the U-Net takes none), timed per image like the other methods."""
    from projects.variational_seg.pipeline import Segmentation

    module.eval()
    size = int(module.hparams.image_size)

    def run(images, points, background=None):
        out = []
        for image, pts in zip(images, points):
            start = time.perf_counter()
            with torch.inference_mode():
                x = unet_input(image, pts, size)[None].to(module.device)
                prob = upsample(torch.sigmoid(module.net(x))[0], image.shape[:2])
            out.append(Segmentation(prob, 1, time.perf_counter() - start, len(pts),
                                    float(((prob > 0.1) & (prob < 0.9)).mean())))
        return out
    return run


def load_unet_module(cfg: DictConfig) -> UNetModule:
    ckpt = cfg.get("ckpt_path")
    if not ckpt or not Path(ckpt).is_file():
        raise ConfigError(f"model=unet needs a trained checkpoint: CKPT=<run>/checkpoints/last.ckpt (got {ckpt}); "
                          "train one with `make train PROJECT=variational_seg model=unet`")
    set_threads(cfg.working)
    return load_module(UNetModule, ckpt)
