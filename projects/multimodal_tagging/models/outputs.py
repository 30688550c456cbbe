"""The tagger as prediction, the Python API and the ONNX export run it (one forward for all three)."""

from __future__ import annotations

import torch
from torch import nn


class TaggerOutputs(nn.Module):
    """``net`` -> per-tag probabilities. The title token states are rounded to float16 first, as the
    training and eval features are (the cache stores them in float16), so every path sees the same input."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor, text_tokens: torch.Tensor, text_mask: torch.Tensor,
                industry: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(image, text_tokens.half().float(), text_mask, industry))
