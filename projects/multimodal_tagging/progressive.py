"""Progressive training (the paper's three stages) as a Lightning callback driven by config.

Each stage names the parameter groups that train from its first epoch on (see ``PARAM_GROUPS``) and
a learning-rate scale. The paper's schedule (30 epochs):

1. epochs 1-5   base: attention frozen, the head (and, here, what feeds it) trains;
2. epochs 6-15  fusion: the cross-attention is unfrozen;
3. epochs 16-30 finetune: everything trains at a lower learning rate.

At a stage change the groups' ``requires_grad`` flags are set, parameters that the optimizer has
never seen are added to it as a new param group (matched by identity: Lightning's
``unfreeze_and_add_param_group`` matches by *value* and would skip e.g. a fresh LayerNorm whose
ones equal another's), and every param group's learning rate becomes ``base_lr * lr_scale``.

With ``frozen_eval`` the frozen groups also run in eval mode, set before every training batch: a frozen
pretrained encoder then keeps its ImageNet BatchNorm statistics and a frozen block drops no units, so
the head trains on the same features validation sees (Lightning restores each submodule's mode after
validation without calling ``train()``, hence per batch, not once per stage).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig, ListConfig, OmegaConf
from pytorch_lightning.callbacks import BaseFinetuning
from torch.optim import Optimizer

from projects.multimodal_tagging.models import PARAM_GROUPS
from shared.errors import ConfigError
from shared.lightning_utils import count_parameters


def parse_stages(stages: Sequence[Any]) -> list[dict[str, Any]]:
    raw = OmegaConf.to_container(stages, resolve=True) if isinstance(stages, ListConfig | DictConfig) else stages
    out = []
    for s in raw:  # type: ignore[union-attr]
        groups = list(PARAM_GROUPS) if s["trainable"] in ("all", ["all"]) else list(s["trainable"])
        bad = sorted(set(groups) - set(PARAM_GROUPS))
        if bad:
            raise ConfigError(f"progressive stage {s.get('name')!r}: unknown group(s) {bad}; groups: {PARAM_GROUPS}")
        out.append({"name": str(s["name"]), "start_epoch": int(s["start_epoch"]), "trainable": groups,
                    "lr_scale": float(s.get("lr_scale", 1.0))})
    out.sort(key=lambda s: s["start_epoch"])
    if not out or out[0]["start_epoch"] != 0:
        raise ConfigError("progressive.stages must start with a stage at start_epoch 0")
    return out


class ProgressiveTraining(BaseFinetuning):
    def __init__(self, stages: Sequence[Any], base_lr: float, enabled: bool = True, frozen_eval: bool = True) -> None:
        super().__init__()
        self.stages = parse_stages(stages)
        self.base_lr, self.enabled, self.frozen_eval = float(base_lr), enabled, frozen_eval
        self._applied = False

    def stage_at(self, epoch: int) -> int:
        if not self.enabled:
            return len(self.stages) - 1
        return max(i for i, s in enumerate(self.stages) if s["start_epoch"] <= epoch)

    def _apply_flags(self, pl_module: pl.LightningModule, stage: dict[str, Any]) -> None:
        groups = pl_module.net.groups()
        if not self.enabled:
            self.make_trainable([m for mods in groups.values() for m in mods])
            return
        for name, modules in groups.items():
            if name in stage["trainable"]:
                self.make_trainable(modules)
            elif modules:
                self.freeze(modules, train_bn=False)

    def freeze_before_training(self, pl_module: pl.LightningModule) -> None:
        self._apply_flags(pl_module, self.stages[0] if self.enabled else self.stages[-1])

    def finetune_function(self, pl_module: pl.LightningModule, epoch: int, optimizer: Optimizer) -> None:
        index = self.stage_at(epoch)
        stage = self.stages[index]
        if epoch == stage["start_epoch"] or not self._applied:  # a stage starts, or training (re)starts
            self._apply_flags(pl_module, stage)
            self._add_new_params(pl_module, optimizer)
            self._applied = True
        for group in optimizer.param_groups:
            group["lr"] = self.base_lr * (stage["lr_scale"] if self.enabled else 1.0)
        pl_module.current_stage = index + 1

    @staticmethod
    def _add_new_params(pl_module: pl.LightningModule, optimizer: Optimizer) -> None:
        seen = {id(p) for g in optimizer.param_groups for p in g["params"]}
        new = [p for p in pl_module.parameters() if p.requires_grad and id(p) not in seen]
        if new:
            optimizer.add_param_group({"params": new, "lr": optimizer.param_groups[0]["lr"]})

    def frozen_modules(self, pl_module: pl.LightningModule, epoch: int) -> list:
        """The modules of the groups that the stage at ``epoch`` keeps frozen."""
        if not self.enabled:
            return []
        trainable = self.stages[self.stage_at(epoch)]["trainable"]
        return [m for name, mods in pl_module.net.groups().items() if name not in trainable for m in mods]

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        if self.frozen_eval:
            for module in self.frozen_modules(pl_module, trainer.current_epoch):
                module.eval()

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_start(trainer, pl_module)
        stage = self.stages[self.stage_at(trainer.current_epoch)]
        pl_module.log("train/stage", float(self.stage_at(trainer.current_epoch) + 1), on_step=False, on_epoch=True)
        if trainer.is_global_zero and (trainer.current_epoch == stage["start_epoch"] or trainer.current_epoch == 0):
            trainable = count_parameters(pl_module, trainable_only=True)
            print(f"[progressive] epoch {trainer.current_epoch}: stage {stage['name']} "
                  f"(trainable groups: {', '.join(stage['trainable'])}; lr x{stage['lr_scale']}; "
                  f"{trainable / 1e6:.2f} M trainable parameters)")
