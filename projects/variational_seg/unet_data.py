"""The U-Net's training data (``model=unet`` / ``unet_lite0``, ``model.datamodule``): synthetic products and
CCP train photos with their subject masks (``mask > 0``), each with 1..``k_max`` simulated clicks (seeded,
``random`` mode), as the U-Net's input (RGB + geodesic distance, :func:`unet.unet_input`) and its target
mask at ``image_size``. Never GrabCut: that is what the U-Net is tested on (the project's MarkerDataModule)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, TensorDataset

from projects.variational_seg.markers import simulate_markers
from projects.variational_seg.unet import unet_input
from shared.datasets.registry import create_dataset
from shared.errors import DataError


class ClickTrainingData(pl.LightningDataModule):
    """``synthetic`` generated products and the first ``ccp`` CCP train images (0: none), built once (the
    geodesic channel is the costly part) and kept as tensors; shuffled batches of ``batch_size``."""

    def __init__(self, synthetic: int, ccp: int, k_max: int, image_size: int, batch_size: int, seed: int = 0,
                 root: str | None = None) -> None:
        super().__init__()
        self.synthetic, self.ccp, self.k_max = int(synthetic), int(ccp), int(k_max)
        self.image_size, self.batch_size, self.seed, self.root = int(image_size), int(batch_size), int(seed), root
        self.dataset: TensorDataset | None = None

    def prepare_data(self) -> None:
        self.setup("fit")

    def setup(self, stage: str | None = None) -> None:
        if self.dataset is None:
            start = time.perf_counter()
            self.dataset = TensorDataset(*self.build())
            print(f"U-Net training set: {len(self.dataset)} images ({time.perf_counter() - start:.0f} s to build)")

    def sources(self) -> list[tuple[Dataset, int]]:
        found: list[tuple[Dataset, int]] = [(create_dataset("synthetic", "train", sizes={"train": self.synthetic},
                                                            image_size=self.image_size), self.synthetic)]
        if self.ccp > 0:
            ccp = create_dataset("ccp", "train", root=self.root)
            found.append((ccp, min(self.ccp, len(ccp))))  # type: ignore[arg-type]
        return found

    def build(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs (N, 4, S, S) and targets (N, S, S); an image whose mask is empty has no clicks and is left out."""
        size, rng = self.image_size, np.random.default_rng(self.seed)
        xs, ys = [], []
        for dataset, n in self.sources():
            for i in range(n):
                sample = dataset[i]
                gt = np.asarray(sample["mask"]) > 0
                points = simulate_markers(gt, int(rng.integers(1, self.k_max + 1)), "random", self.seed, i)
                if len(points) == 0:
                    continue
                xs.append(unet_input(sample["image"], points, size))
                y = F.interpolate(torch.from_numpy(gt.astype(np.float32))[None, None], size=(size, size), mode="area")
                ys.append((y[0, 0] > 0.5).float())
        if not xs:
            raise DataError("the U-Net has no training image with a foreground mask: raise model.train.synthetic "
                            "or model.train.ccp")
        return torch.stack(xs), torch.stack(ys)

    def train_dataloader(self) -> DataLoader[Any]:
        self.setup("fit")
        return DataLoader(self.dataset, batch_size=self.batch_size, shuffle=True)  # type: ignore[arg-type]
