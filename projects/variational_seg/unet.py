"""U-Net baseline that receives the same marker information as the variational models: input =
RGB + the normalised geodesic distance D_G from the clicks (4 channels) at a fixed square size.

Trained (``make train PROJECT=variational_seg model=unet``, AdamW from the common ``optim`` group) by the
shared trainer (unet_fit.py) on synthetic products + CCP subject masks (``mask > 0``) with 1..k_max simulated
clicks each (unet_data.py), never on GrabCut, then tested on ``data`` like the solver; ``make eval ...
model=unet CKPT=<run>/checkpoints/last.ckpt`` evaluates a trained one. Its "iterations" column is 1 (one
forward pass).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn as nn
import torch.nn.functional as F
from omegaconf import DictConfig

from projects.variational_seg.geodesic import geodesic_distance
from projects.variational_seg.markers import points_to_mask, scale_points
from projects.variational_seg.pipeline import image_tensor, set_threads, upsample
from projects.variational_seg.protocol import format_points, score
from shared.checkpoints import load_module, stamp
from shared.config import plain_dict
from shared.errors import ConfigError
from shared.inference import read_spec
from shared.lightning_utils import save_module_spec
from shared.optim import configure


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
        encoder = plain_dict(encoder) or None   # plain values: a checkpoint holds no config objects
        self.save_hyperparameters({"base_channels": int(base_channels), "image_size": int(image_size),
                                   "optim": plain_dict(optim) or None, "encoder": encoder,
                                   "inference": plain_dict(inference) or unet_inference(image_size)})
        if encoder:
            from projects.variational_seg.unet_pretrained import PretrainedUNet

            self.net: nn.Module = PretrainedUNet(**encoder)
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
UNET_TRAINED_ON = "synthetic+ccp"   # unet_data.ClickTrainingData, whatever data it is tested on


def unet_inference(image_size: int) -> dict[str, Any]:
    """The U-Net's input contract (shared/inference.py): RGB in [0, 1] (no mean / std: the pretrained
    encoder's own normalisation is inside the network), stretched to ``image_size``."""
    return {"size": int(image_size), "resize": "stretch", "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0],
            "data": UNET_TRAINED_ON}


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


def load_unet(path: str | Path) -> UNetModule:
    """A trained U-Net from its checkpoint (shared reader: project stamp, weights only; one line for a
    checkpoint without the inference spec)."""
    read_spec(path)
    return load_module(UNetModule, path)


def load_unet_module(cfg: DictConfig) -> UNetModule:
    """``make eval ... model=unet CKPT=...``: the checkpoint ``ckpt_path``, on ``working.threads``."""
    ckpt = cfg.get("ckpt_path")
    if not ckpt or not Path(ckpt).is_file():
        raise ConfigError(f"model=unet needs a trained checkpoint: CKPT=<run>/checkpoints/last.ckpt (got {ckpt}); "
                          "train one with `make train PROJECT=variational_seg model=unet`")
    set_threads(cfg.working)
    return load_unet(ckpt)
