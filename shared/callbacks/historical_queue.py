"""A FIFO of frozen best checkpoints, ensembled with random weights (PrevMatch's "previous guidance").

When the monitored validation metric improves (strictly; only after ``warmup_epochs``), a snapshot
of one submodule (``source``: ``teacher`` for the EMA teacher, ``net`` for the student) is pushed;
the oldest is dropped beyond ``length``. Snapshots live on the CPU as state dicts (``bf16`` or
``fp32``); at most ``resident`` of them are loaded into pre-built frozen models on the compute
device at a time (an LRU of slots), so a long queue costs CPU memory, not accelerator memory.

Per training step :meth:`draw` picks ``k`` snapshots without replacement (``k`` uniform in
``1..max_models`` when ``random_count``, else ``max_models``; capped by the queue length) and
Dirichlet(``alpha``) weights; :meth:`ensemble` returns ``sum_j w_j * model_j(x)`` on logits (or on
probabilities with ``combine: probs``), under inference mode, optionally in bf16 autocast.

The draws come from one seeded ``torch.Generator``; the queue, its scores and the generator state
are saved in the checkpoint, so a resumed run draws exactly what an uninterrupted run would. Under
DDP all ranks use the same seed and the same (all-reduced) validation metric, so their queues and
draws agree without communication.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn

DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}


@dataclass
class Draw:
    indices: list[int]          # positions in the queue (0 = oldest)
    weights: torch.Tensor       # (k,) convex weights


class HistoricalCheckpointQueue(pl.Callback):
    def __init__(self, source: str = "teacher", attach_as: str = "history", monitor: str = "val/teacher/miou",
                 mode: str = "max", length: int = 8, max_models: int = 3, random_count: bool = True,
                 alpha: float = 1.0, combine: str = "logits", warmup_epochs: int = 0,
                 snapshot_dtype: str = "fp32", resident: int | None = None, autocast_bf16: bool = False,
                 seed: int = 0) -> None:
        if length < 1:
            raise ValueError(f"HistoricalCheckpointQueue.length must be >= 1, got {length}")
        if not 1 <= max_models <= length:
            raise ValueError(f"HistoricalCheckpointQueue.max_models must be in [1, length={length}], got {max_models}")
        if combine not in ("logits", "probs"):
            raise ValueError(f"HistoricalCheckpointQueue.combine must be 'logits' or 'probs', got {combine!r}")
        if mode not in ("max", "min"):
            raise ValueError(f"HistoricalCheckpointQueue.mode must be 'max' or 'min', got {mode!r}")
        if snapshot_dtype not in DTYPES:
            raise ValueError(f"HistoricalCheckpointQueue.snapshot_dtype must be one of {list(DTYPES)}")
        if alpha <= 0:
            raise ValueError(f"HistoricalCheckpointQueue.alpha must be > 0, got {alpha}")
        self.source, self.attach_as, self.monitor, self.mode = source, attach_as, monitor, mode
        self.length, self.max_models, self.random_count = length, max_models, random_count
        self.alpha, self.combine, self.warmup_epochs = alpha, combine, warmup_epochs
        self.snapshot_dtype, self.autocast_bf16 = snapshot_dtype, autocast_bf16
        self.resident = max(max_models, resident or max_models)
        self.seed = seed
        self.snapshots: list[dict[str, torch.Tensor]] = []
        self.snapshot_ids: list[int] = []
        self.scores: list[float] = []
        self.best: float | None = None
        self.pushes = 0
        self.generator = torch.Generator().manual_seed(seed)
        self._template: nn.Module | None = None
        self._slots: OrderedDict[int, nn.Module] = OrderedDict()   # snapshot id -> resident model
        self._device = torch.device("cpu")
        self._module: Any = None

    @property
    def state_key(self) -> str:
        return f"HistoricalCheckpointQueue[source={self.source},attach_as={self.attach_as}]"

    def __len__(self) -> int:
        return len(self.snapshots)

    # -- life cycle ---------------------------------------------------------------------------------
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._module = pl_module
        object.__setattr__(pl_module, self.attach_as, self)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._device = pl_module.device

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit":
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            raise KeyError(f"HistoricalCheckpointQueue: metric {self.monitor!r} was not logged; logged: "
                           f"{sorted(trainer.callback_metrics)}")
        score = float(value)
        improved = self.best is None or (score > self.best if self.mode == "max" else score < self.best)
        if improved:
            self.best = score
            if trainer.current_epoch >= self.warmup_epochs:
                self.push(self._source(pl_module), score)

    def _source(self, pl_module: Any) -> nn.Module:
        module = getattr(pl_module, self.source, None)
        if not isinstance(module, nn.Module):
            raise AttributeError(f"HistoricalCheckpointQueue: the LightningModule has no model {self.source!r} "
                                 f"(for source=teacher add the EMATeacher callback first)")
        return module

    # -- queue ----------------------------------------------------------------------------------------
    def push(self, model: nn.Module, score: float = float("nan")) -> None:
        """Snapshot ``model`` (CPU, ``snapshot_dtype``); drop the oldest beyond ``length``."""
        dtype = DTYPES[self.snapshot_dtype]
        state = {k: (v.detach().to("cpu", dtype) if v.dtype.is_floating_point else v.detach().cpu()).clone()
                 for k, v in model.state_dict().items()}
        self._make_template(model)
        self.snapshots.append(state)
        self.snapshot_ids.append(self.pushes)
        self.scores.append(score)
        self.pushes += 1
        while len(self.snapshots) > self.length:
            self.snapshots.pop(0)
            self._slots.pop(self.snapshot_ids.pop(0), None)
            self.scores.pop(0)

    def draw(self) -> Draw:
        """k distinct queue positions and Dirichlet(alpha) weights from the saved generator."""
        if not self.snapshots:
            raise RuntimeError("HistoricalCheckpointQueue.draw() on an empty queue")
        kmax = min(self.max_models, len(self.snapshots))
        k = int(torch.randint(1, kmax + 1, (1,), generator=self.generator)) if self.random_count else kmax
        indices = torch.randperm(len(self.snapshots), generator=self.generator)[:k].tolist()
        gammas = torch._standard_gamma(torch.full((k,), float(self.alpha)), generator=self.generator)
        return Draw(indices=indices, weights=gammas / gammas.sum())  # Dirichlet(alpha) via normalised gammas

    def model(self, index: int) -> nn.Module:
        """The frozen model of queue position ``index`` on the compute device (loaded on a miss)."""
        sid = self.snapshot_ids[index]
        if sid in self._slots:
            self._slots.move_to_end(sid)
            return self._slots[sid]
        if len(self._slots) >= self.resident:
            _, slot = self._slots.popitem(last=False)
        else:
            if self._template is None:
                self._make_template(self._source(self._module))
            slot = copy.deepcopy(self._template).to(self._device)  # type: ignore[arg-type]
        slot.load_state_dict(self.snapshots[index])
        self._slots[sid] = slot
        return slot

    @torch.no_grad()
    def ensemble(self, x: torch.Tensor, draw: Draw | None = None) -> torch.Tensor:
        """Weighted sum of the drawn models' logits (or probabilities), fp32, no autograd graph."""
        draw = draw or self.draw()
        self._device = x.device
        out: torch.Tensor | None = None
        use_bf16 = self.autocast_bf16 and x.device.type in ("cuda", "cpu")
        for index, w in zip(draw.indices, draw.weights.tolist()):
            with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=use_bf16):
                y = self.model(index)(x)
            y = y.float().softmax(1) if self.combine == "probs" else y.float()
            out = y * w if out is None else out + y * w
        return out  # type: ignore[return-value]

    # -- checkpointing ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"snapshots": self.snapshots, "snapshot_ids": self.snapshot_ids, "scores": self.scores,
                "best": self.best, "pushes": self.pushes, "generator": self.generator.get_state()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.snapshots = list(state_dict["snapshots"])
        self.snapshot_ids = list(state_dict["snapshot_ids"])
        self.scores = list(state_dict["scores"])
        self.best, self.pushes = state_dict["best"], int(state_dict["pushes"])
        self.generator.set_state(state_dict["generator"])
        self._slots.clear()

    def _make_template(self, model: nn.Module) -> None:
        if self._template is None:
            self._template = _frozen(copy.deepcopy(model)).to("cpu")


def _frozen(model: nn.Module) -> nn.Module:
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model
