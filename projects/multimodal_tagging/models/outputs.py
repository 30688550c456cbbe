"""The tagger as prediction, the Python API and the ONNX export run it (one forward for all three)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

INPUTS = ("image", "text_tokens", "text_mask", "industry")


class TaggerOutputs(nn.Module):
    """``net`` -> per-tag probabilities, taking only the inputs the net uses (``input_names``, in that order;
    an ONNX graph drops an input it never reads, so an ablation without images has no ``image`` input).
    The title token states are rounded to float16 first, as the training and eval features are (the cache
    stores them in float16), so every path sees the same input."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        used = {"image": net.use_image, "text_tokens": net.use_text, "text_mask": net.use_text,
                "industry": net.use_industry}
        self.input_names = [name for name in INPUTS if used[name]]

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        given: dict[str, Any] = dict.fromkeys(INPUTS)
        given.update(zip(self.input_names, inputs))
        if given["text_tokens"] is not None:
            given["text_tokens"] = given["text_tokens"].half().float()
        return torch.sigmoid(self.net(*(given[name] for name in INPUTS)))


def inference_model(net: nn.Module, spec: Any) -> tuple[nn.Module, list[str]]:
    """The tagger with the spec's normalisation in front of its image input (when it reads images), and the
    names of its inputs in order."""
    from shared.export import with_preprocessing

    outputs = TaggerOutputs(net)
    model = with_preprocessing(outputs, spec) if net.use_image else outputs.eval()
    return model, outputs.input_names
