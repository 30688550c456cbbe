"""The seed article's small binary CNN (``../shared/papers/003_8923d7de8aeefc62.txt``, section 5.2):
three conv3x3 (valid) + ReLU + max-pool 2 blocks with 32/64/128 filters, flatten, dense 128 + ReLU,
dropout 0.5, one output. Here the output is the logit of "reject"; the article's sigmoid output
"good" is ``1 - sigmoid(logit)``. Trained with early stopping on validation loss (patience 2)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class SeedCNN(nn.Module):
    def __init__(self, image_size: int | Sequence[int], widths: Sequence[int] = (32, 64, 128), hidden: int = 128,
                 dropout: float = 0.5, in_chans: int = 3) -> None:
        super().__init__()
        h, w = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        layers: list[nn.Module] = []
        cin = in_chans
        for width in widths:
            layers += [nn.Conv2d(cin, width, 3), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            cin = width
        self.features = nn.Sequential(*layers)
        with torch.no_grad():  # the flatten size follows from the input size, as in Keras
            flat = self.features(torch.zeros(1, in_chans, h, w)).numel()
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(flat, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
                                  nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"reject": self.head(self.features(x)).squeeze(1)}
