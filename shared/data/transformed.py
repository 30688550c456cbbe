"""Apply an albumentations pipeline to a registry dataset and return tensors."""

from __future__ import annotations

from typing import Any

import albumentations as A
import numpy as np
import torch
from torch.utils.data import Dataset


class TransformedDataset(Dataset):
    """``image`` -> float CxHxW tensor, ``mask`` -> long HxW, ``label`` -> long, ``tags`` -> float."""

    def __init__(self, dataset: Dataset, transform: A.Compose, keys: tuple[str, ...] | None = None) -> None:
        self.dataset, self.transform, self.keys = dataset, transform, keys

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = self.dataset[index]
        if "mask" in sample:
            out = self.transform(image=sample["image"], mask=sample["mask"])
            mask = out["mask"]
            sample["mask"] = torch.as_tensor(np.asarray(mask) if not isinstance(mask, torch.Tensor) else mask).long()
        else:
            out = self.transform(image=sample["image"])
        sample["image"] = out["image"]
        if "label" in sample:
            sample["label"] = torch.tensor(sample["label"], dtype=torch.long)
        if "tags" in sample:
            sample["tags"] = torch.as_tensor(sample["tags"], dtype=torch.float32)
        if self.keys is not None:
            sample = {k: v for k, v in sample.items() if k in self.keys}
        return sample
