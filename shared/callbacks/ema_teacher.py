"""EMA teacher as a Lightning callback (UniMatch V2 / mean-teacher style).

The teacher is a frozen deep copy of one submodule of the LightningModule (``source``, e.g. ``net``).
It is attached to the module as a plain attribute (``attach_as``, default ``teacher``) that is *not*
a registered submodule, so it never enters ``module.parameters()`` (hence never the optimizer) nor
the module's own ``state_dict``; the callback saves it in the checkpoint instead.

After every *real* optimizer step (Lightning's ``global_step`` advanced; a step that AMP's
GradScaler skipped because of inf/nan gradients does not count, and neither do gradient
accumulation micro-steps) it applies, to every parameter and floating buffer::

    m_t = min(1 - 1 / (t + 1), max_momentum)        # t = number of earlier updates (0-based)
    teacher <- m_t * teacher + (1 - m_t) * student

so the first update copies the student, then the teacher is a running mean of the student until
the momentum reaches ``max_momentum`` (0.996 at t = 249). Under DDP every rank holds the same
student *parameters* after the gradient all-reduce, so the teachers' parameters stay identical without
communication; BatchNorm running statistics, however, are updated from each rank's own batch (unless
SyncBN), so after each update the teacher's buffers are broadcast from rank 0 (a no-op for ViTs,
which have none).
Note: with ``accumulate_grad_batches > 1`` ``t`` counts optimizer steps, not batches.
Our own, not Lightning's ``WeightAveraging``/``EMAWeightAveraging``: its averaged copy is private and only
swapped into the module for validation and at the end, so no teacher predicts pseudo-labels during training steps.

Users: only semiseg (its UniMatch V2 / MvpMatch teachers) today. It stays in ``shared/`` because it is
project-free Lightning code (any module with a ``source`` submodule can take a teacher, e.g. EMA
weights for a classifier as in timm's recipes), and tests/shared/test_layout.py counts it as core.
"""

from __future__ import annotations

import copy
from typing import Any

import pytorch_lightning as pl
import torch
import torch.distributed as dist
from torch import nn


def ema_momentum(step: int, max_momentum: float = 0.996) -> float:
    """``min(1 - 1/(t+1), max_momentum)`` for the 0-based update index ``t``."""
    if step < 0:
        raise ValueError(f"EMA step must be >= 0, got {step}")
    return min(1.0 - 1.0 / (step + 1), max_momentum)


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, momentum: float) -> None:
    """teacher <- m * teacher + (1 - m) * student on parameters and floating buffers (others copied)."""
    for t, s in zip(teacher.parameters(), student.parameters()):
        t.mul_(momentum).add_(s.detach().to(t.dtype), alpha=1.0 - momentum)
    for t, s in zip(teacher.buffers(), student.buffers()):
        if t.dtype.is_floating_point:
            t.mul_(momentum).add_(s.detach().to(t.dtype), alpha=1.0 - momentum)
        else:
            t.copy_(s)


@torch.no_grad()
def broadcast_buffers(module: nn.Module, src: int = 0) -> None:
    """Make every rank's buffers equal to rank ``src``'s (no-op outside a process group)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return
    for buffer in module.buffers():
        dist.broadcast(buffer, src)


def frozen_copy(module: nn.Module) -> nn.Module:
    teacher = copy.deepcopy(module).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


class EMATeacher(pl.Callback):
    def __init__(self, source: str = "net", attach_as: str = "teacher", max_momentum: float = 0.996) -> None:
        if not 0.0 <= max_momentum < 1.0:
            raise ValueError(f"EMATeacher.max_momentum must be in [0, 1), got {max_momentum}")
        self.source, self.attach_as, self.max_momentum = source, attach_as, max_momentum
        self.teacher: nn.Module | None = None
        self.updates = 0
        self._last_global_step: int | None = None
        self._scale_before: float | None = None
        self._pending: dict[str, Any] | None = None

    @property
    def state_key(self) -> str:
        return f"EMATeacher[source={self.source},attach_as={self.attach_as}]"

    def _student(self, pl_module: pl.LightningModule) -> nn.Module:
        student = getattr(pl_module, self.source, None)
        if not isinstance(student, nn.Module):
            raise AttributeError(f"EMATeacher: the LightningModule has no submodule {self.source!r}")
        return student

    # -- life cycle ---------------------------------------------------------------------------------
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.teacher is None:
            self.teacher = frozen_copy(self._student(pl_module))
        object.__setattr__(pl_module, self.attach_as, self.teacher)  # plain attribute: not a submodule
        if self._pending is not None:
            self._apply(self._pending)
            self._pending = None

    def _to_device(self, pl_module: pl.LightningModule) -> None:
        if self.teacher is not None:
            self.teacher.to(pl_module.device).eval()

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._to_device(pl_module)
        self._last_global_step = trainer.global_step

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._to_device(pl_module)

    def on_test_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._to_device(pl_module)

    def on_predict_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._to_device(pl_module)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.teacher is not None:
            self.teacher.eval()  # Lightning puts the whole module in train mode; the teacher stays in eval

    # -- the update ---------------------------------------------------------------------------------
    def on_before_optimizer_step(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                                 optimizer: torch.optim.Optimizer) -> None:
        scaler = _grad_scaler(trainer)
        self._scale_before = float(scaler.get_scale()) if scaler is not None and scaler.is_enabled() else None

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any,
                           batch: Any, batch_idx: int) -> None:
        stepped = self._last_global_step is None or trainer.global_step > self._last_global_step
        self._last_global_step = trainer.global_step
        if not stepped or self.teacher is None or self._amp_skipped(trainer):
            return
        ema_update(self.teacher, self._student(pl_module), ema_momentum(self.updates, self.max_momentum))
        broadcast_buffers(self.teacher)
        self.updates += 1

    def _amp_skipped(self, trainer: pl.Trainer) -> bool:
        scaler = _grad_scaler(trainer)
        if scaler is None or self._scale_before is None or not scaler.is_enabled():
            return False
        return float(scaler.get_scale()) < self._scale_before  # GradScaler backs off only on a skipped step

    # -- checkpointing ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        teacher = {k: v.detach().cpu().clone() for k, v in self.teacher.state_dict().items()} if self.teacher else {}
        return {"teacher": teacher, "updates": self.updates}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if self.teacher is None:
            self._pending = state_dict
        else:
            self._apply(state_dict)

    def _apply(self, state: dict[str, Any]) -> None:
        self.updates = int(state.get("updates", 0))
        if state.get("teacher") and self.teacher is not None:
            self.teacher.load_state_dict(state["teacher"])


def _grad_scaler(trainer: pl.Trainer) -> Any:
    return getattr(getattr(trainer.strategy, "precision_plugin", None), "scaler", None)
