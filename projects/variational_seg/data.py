"""DataModule for the marker-based protocol: test/predict batches are lists of raw samples (images of
different sizes) with their marker points attached; the solver module batches them by size."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader, Dataset

from projects.variational_seg.protocol import background_points, marker_points
from shared.datasets.registry import dataset_from_config
from shared.errors import ConfigError, DataError


class WithMarkers(Dataset):
    """Adds ``points`` (row, col at image resolution) to every sample of ``base``."""

    def __init__(self, base: Dataset, source: str, k: int, mode: str, seed: int, background: bool = False) -> None:
        self.base, self.source, self.k, self.mode, self.seed = base, source, k, mode, seed
        self.background = background  # also ``background`` points: the scribble set's background strokes

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = dict(self.base[index])
        sample["index"] = index
        sample["points"] = marker_points(sample, self.source, self.k, self.mode, self.seed, index)
        if self.background:
            sample["background"] = background_points(sample, self.source)
        if len(sample["points"]) == 0:
            sample["skip"] = "empty ground truth"
        return sample


def collate_list(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return batch


def build_dataset(data: DictConfig | dict, markers: DictConfig | dict, seed: int = 0,
                  split: str | None = None) -> WithMarkers:
    if OmegaConf.is_missing(data, "root"):
        raise ConfigError("data=folder needs your folder: add data.root=/path/to/folder (make: ARGS=\"data.root=...\")")
    split = split or str(data["split"])
    base = dataset_from_config(data, split)
    if len(base) == 0:  # type: ignore[arg-type]
        raise DataError(f"dataset {data['name']!r} split {split!r} is empty")
    return WithMarkers(base, markers["source"], int(markers["k"]), markers["mode"], seed,
                       bool(markers.get("background", False)))


class MarkerDataModule(pl.LightningDataModule):
    def __init__(self, data: DictConfig, markers: DictConfig, seed: int = 0) -> None:
        super().__init__()
        self.data_cfg, self.markers, self.seed = data, markers, seed
        self.dataset: WithMarkers | None = None

    def test_only(self) -> None:
        """It builds its one split (``data.split``) alone already: nothing to leave out."""

    def prepare_data(self) -> None:
        self.setup("test")

    def setup(self, stage: str | None = None) -> None:
        if self.dataset is None:
            self.dataset = build_dataset(self.data_cfg, self.markers, self.seed)

    def test_dataloader(self) -> DataLoader:
        self.setup("test")
        return DataLoader(self.dataset, batch_size=int(self.data_cfg.batch_size), shuffle=False,
                          num_workers=int(self.data_cfg.num_workers), collate_fn=collate_list)

    predict_dataloader = test_dataloader
