"""Small pieces several LightningModules share: class-name bookkeeping, parameter counts (the lr schedules:
shared/optim.py)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

MEMORY_FORMATS = ("channels_last", "contiguous")


def channels_last(model: nn.Module, memory_format: str) -> bool:
    """Put ``model``'s 4-D weights in channels-last (NHWC) layout when ``memory_format`` says so; returns
    whether it did, so the caller converts its inputs too. On CPU (oneDNN) depthwise-separable CNNs run
    1.3-1.5x faster in NHWC (benchmarks/results/classification.json); loading a checkpoint into the
    model keeps the layout, since ``load_state_dict`` copies into the existing tensors."""
    if memory_format not in MEMORY_FORMATS:
        from shared.errors import ConfigError

        raise ConfigError(f"memory_format must be one of {', '.join(MEMORY_FORMATS)}, got {memory_format!r}")
    if memory_format == "contiguous":
        return False
    model.to(memory_format=torch.channels_last)
    return True


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Parameters of ``model`` (only those with ``requires_grad`` when ``trainable_only``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


class ClassNamesMixin:
    """Keeps ``self.class_names`` in step with the datamodule's ``classes`` and stores it in checkpoints,
    so that eval/predict from a checkpoint name the classes without the training data."""

    class_names: list[str]
    trainer: Any

    def on_fit_start(self) -> None:
        self.sync_class_names()

    def on_test_start(self) -> None:
        self.sync_class_names()

    def sync_class_names(self) -> None:
        classes = getattr(self.trainer.datamodule, "classes", None)
        if classes:
            self.class_names = list(classes)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        from shared.checkpoints import stamp

        checkpoint["class_names"] = self.class_names
        stamp(self, checkpoint)  # which project wrote it
        save_module_spec(self, checkpoint, self.class_names, self.inference_extra())

    def inference_extra(self) -> dict[str, Any]:
        """Project-specific entries of the checkpoint's inference spec (thresholds, output meaning)."""
        return {}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.class_names = checkpoint.get("class_names", self.class_names)


def save_module_spec(module: Any, checkpoint: dict[str, Any], names: list[str],
                     extra: dict[str, Any] | None = None) -> None:
    """Write the module's :class:`shared.inference.InferenceSpec` into ``checkpoint`` (every project's
    ``on_save_checkpoint``): names, its ``inference`` hyper-parameter (size, resize, mean, std, data) and
    its ``model`` config."""
    from shared.checkpoints import class_path, project_of
    from shared.inference import save_spec, spec_from_hparams

    hparams = dict(module.hparams)
    spec = spec_from_hparams(project_of(class_path(type(module))), names, hparams.get("inference"),
                             hparams.get("model"), extra)
    save_spec(checkpoint, spec)
